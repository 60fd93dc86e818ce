//! Accepting an attempt: a 3-way merge of trees, planned in memory before anything is written.
//!
//! base = the fork's snapshot, theirs = the attempt, ours = the user's current working state
//! (buffers included). The plan lists, per file, the current content and mode and the merged
//! ones; front ends render it as a diff, or carry it out (`apply` on disk, the language server
//! partly as one WorkspaceEdit), so "what accepting would do" and what accept does are the same
//! computation. Paths are bytes, exactly as git has them: a file name that is not UTF-8 stays
//! the same file.

use crate::error::Result;
use git2::{Oid, Repository};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// A regular file's mode in a git tree.
pub const MODE_FILE: u32 = 0o100644;
/// An executable file's mode.
pub const MODE_EXEC: u32 = 0o100755;
/// A symbolic link's mode: the blob is the link's target.
pub const MODE_LINK: u32 = 0o120000;
/// A submodule (gitlink): never a file fanout writes.
pub const MODE_GITLINK: u32 = 0o160000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Conflicted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path relative to the working tree, '/'-separated bytes as git stores it.
    pub path: Vec<u8>,
    pub kind: ChangeKind,
    /// The current content (None: the file does not exist now). For a symlink, its target.
    pub old: Option<Vec<u8>>,
    /// The content after accepting (None: accepting deletes it). For a conflicted file
    /// planned with markers, the text with conflict markers. For a symlink, its target.
    pub new: Option<Vec<u8>>,
    /// The current mode ([`MODE_FILE`], [`MODE_EXEC`], [`MODE_LINK`]); None when absent.
    pub old_mode: Option<u32>,
    /// The mode after accepting; None when accepting deletes it.
    pub new_mode: Option<u32>,
}

impl FileChange {
    /// The path as git quotes it, safe to print on one line.
    pub fn display_path(&self) -> Cow<'_, str> {
        crate::text::quote_path(&self.path)
    }

    /// The path as text for JSON (invalid UTF-8 replaced): for showing, never for writing.
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// Whether only the mode changes (the executable bit), not the content.
    pub fn mode_only(&self) -> bool {
        self.old.is_some() && self.old == self.new && self.old_mode != self.new_mode
    }
}

/// Whether a mode is a symbolic link's.
pub fn is_link(mode: u32) -> bool {
    mode == MODE_LINK
}

#[derive(Debug, Clone, Default)]
pub struct MergePlan {
    pub changes: Vec<FileChange>,
    /// Paths that changed on both sides in ways that do not merge.
    pub conflicts: Vec<Vec<u8>>,
}

impl MergePlan {
    /// The conflicted paths as text, for JSON.
    pub fn conflicts_lossy(&self) -> Vec<String> {
        self.conflicts
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}

type TreeMap = HashMap<Vec<u8>, (Oid, u32)>;

/// A tree entry's mode as fanout writes it: regular files are 100644 or 100755 (the old
/// group-writable 100664 is a regular file); links and submodules keep theirs. Anything else
/// (a hostile tree may hold any number) stays as it is, and applying refuses it.
pub fn normalize_mode(mode: u32) -> u32 {
    match mode {
        MODE_LINK | MODE_GITLINK => mode,
        m if m & 0o170000 == 0o100000 && m & 0o100 != 0 => MODE_EXEC,
        m if m & 0o170000 == 0o100000 => MODE_FILE,
        m => m,
    }
}

/// Plan the merge of `theirs` onto `ours` from `base` (all tree ids). With `markers`,
/// conflicted files get content with conflict markers instead of being left out.
///
/// Most merges are simple: each file the attempt changed is unchanged in ours (the result is
/// the attempt's), or changed the same way, or a regular file both sides edited in place.
/// Those are planned from a walk of the three trees that skips every folder the attempt left
/// alone, with only the files both sides edited merged (in memory, nothing written). Any
/// other shape (a file deleted or added on both sides, which rename detection could pair up;
/// a folder against a file; symlinks, submodules or a `merge` attribute on a file both
/// changed) goes to libgit2's whole-tree merge, as every merge did before.
pub fn plan(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
    markers: bool,
) -> Result<MergePlan> {
    match simple_plan(repo, base, ours, theirs, markers)? {
        Some(plan) => Ok(plan),
        None => tree_merge_plan(repo, base, ours, theirs, markers),
    }
}

/// A tree entry: its id, raw mode, and whether it is a folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: Oid,
    mode: u32,
    tree: bool,
}

/// What one path becomes: (path, ours, theirs): the result is theirs (`None`: absent).
type Taken = (Vec<u8>, Option<Entry>, Option<Entry>);
/// A regular file both sides edited: (path, base, ours, theirs).
type Both = (Vec<u8>, Entry, Entry, Entry);

/// The entries of a folder by name (none for an absent folder or a file).
fn entries(repo: &Repository, e: Option<Entry>) -> Result<Vec<(Vec<u8>, Entry)>> {
    let Some(e) = e.filter(|e| e.tree) else {
        return Ok(Vec::new());
    };
    let tree = repo.find_tree(e.id)?;
    let out = tree
        .iter()
        .map(|t| {
            let kind = t.kind();
            (
                t.name_bytes().to_vec(),
                Entry {
                    id: t.id(),
                    mode: t.filemode_raw() as u32,
                    tree: kind == Some(git2::ObjectType::Tree),
                },
            )
        })
        .collect();
    Ok(out)
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = prefix.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The entries of up to three folders side by side, by name.
type Side = [Option<Entry>; 3];
fn side_by_side(repo: &Repository, dirs: [Option<Entry>; 3]) -> Result<Vec<(Vec<u8>, Side)>> {
    let mut by_name: std::collections::BTreeMap<Vec<u8>, Side> = Default::default();
    for (k, d) in dirs.iter().enumerate() {
        for (name, e) in entries(repo, *d)? {
            by_name.entry(name).or_default()[k] = Some(e);
        }
    }
    Ok(by_name.into_iter().collect())
}

/// Every file that differs between `a` (ours, where it equals the base) and `b` (theirs) at
/// `path`, as (path, a's file, b's file).
fn one_sided(
    repo: &Repository,
    path: Vec<u8>,
    a: Option<Entry>,
    b: Option<Entry>,
    out: &mut Vec<Taken>,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let file = |e: Option<Entry>| e.filter(|e| !e.tree);
    if a.is_some_and(|e| e.tree) || b.is_some_and(|e| e.tree) {
        for (name, [x, y, _]) in side_by_side(repo, [a, b, None])? {
            one_sided(repo, join(&path, &name), x, y, out)?;
        }
        // A file on one side where the other has a folder.
        if file(a).is_some() || file(b).is_some() {
            out.push((path, file(a), file(b)));
        }
        return Ok(());
    }
    out.push((path, a, b));
    Ok(())
}

/// The three-way walk: Some(taken, both) when every path the attempt changed is simple (see
/// [`plan`]); None otherwise.
fn walk(
    repo: &Repository,
    path: &[u8],
    dirs: [Option<Entry>; 3],
    taken: &mut Vec<Taken>,
    both: &mut Vec<Both>,
) -> Result<bool> {
    for (name, [b, o, t]) in side_by_side(repo, dirs)? {
        if t == b {
            continue; // the attempt left it alone: ours stays
        }
        let p = join(path, &name);
        if o == t {
            if b.is_some() && o.is_none() {
                return Ok(false); // deleted on both sides: renames may pair up
            }
            continue; // the same change on both sides
        }
        if o == b {
            one_sided(repo, p, o, t, taken)?;
            continue;
        }
        match (b, o, t) {
            (Some(b), Some(o), Some(t)) if b.tree && o.tree && t.tree => {
                if !walk(repo, &p, [Some(b), Some(o), Some(t)], taken, both)? {
                    return Ok(false);
                }
            }
            (Some(b), Some(o), Some(t)) if [b, o, t].iter().all(|e| plain_file(e.mode)) => {
                both.push((p, b, o, t));
            }
            _ => return Ok(false),
        }
    }
    Ok(true)
}

/// A regular file's raw mode, exactly as fanout and git write it.
fn plain_file(mode: u32) -> bool {
    mode == MODE_FILE || mode == MODE_EXEC
}

/// A file merge's outcome: clean or not, the mode, the content (with markers when not).
struct Merged {
    clean: bool,
    mode: u32,
    content: Vec<u8>,
}

/// What plans read, kept for the next plan of the process (a language server diffs the same
/// attempt against the same files again and again): blob contents by id and file merges by
/// the ids and modes merged. Both are named by content, so an entry is never stale, in any
/// repository. Bounded: blobs up to [`BLOB_CACHE_BYTES`] in all (none over a quarter of
/// it), the last [`MERGE_CACHE_LEN`] merges; the oldest go first.
#[derive(Default)]
struct Cache {
    blobs: HashMap<Oid, Arc<Vec<u8>>>,
    blob_order: VecDeque<Oid>,
    blob_bytes: usize,
    merges: HashMap<[(Oid, u32); 3], Arc<Merged>>,
    merge_order: VecDeque<[(Oid, u32); 3]>,
}

const BLOB_CACHE_BYTES: usize = 32 << 20;
const MERGE_CACHE_LEN: usize = 16;

impl Cache {
    fn remember_blob(&mut self, id: Oid, content: Arc<Vec<u8>>) {
        if content.len() > BLOB_CACHE_BYTES / 4 || self.blobs.contains_key(&id) {
            return;
        }
        self.blob_bytes += content.len();
        self.blobs.insert(id, content);
        self.blob_order.push_back(id);
        while self.blob_bytes > BLOB_CACHE_BYTES {
            let Some(old) = self.blob_order.pop_front() else {
                break;
            };
            if let Some(c) = self.blobs.remove(&old) {
                self.blob_bytes -= c.len();
            }
        }
    }

    fn remember_merge(&mut self, key: [(Oid, u32); 3], m: Arc<Merged>) {
        if self.merges.insert(key, m).is_none() {
            self.merge_order.push_back(key);
        }
        while self.merge_order.len() > MERGE_CACHE_LEN {
            if let Some(old) = self.merge_order.pop_front() {
                self.merges.remove(&old);
            }
        }
    }
}

fn cache() -> std::sync::MutexGuard<'static, Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// A blob's content, from the cache or the object database.
fn cached_blob(repo: &Repository, id: Oid) -> Result<Arc<Vec<u8>>> {
    let known = cache().blobs.get(&id).cloned();
    if let Some(c) = known {
        return Ok(c);
    }
    let content = Arc::new(repo.find_blob(id)?.content().to_vec());
    cache().remember_blob(id, Arc::clone(&content));
    Ok(content)
}

fn simple_plan(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
    markers: bool,
) -> Result<Option<MergePlan>> {
    let root = |id: Oid| {
        Some(Entry {
            id,
            mode: 0o040000,
            tree: true,
        })
    };
    let (mut taken, mut both) = (Vec::new(), Vec::new());
    if !walk(
        repo,
        b"",
        [root(base), root(ours), root(theirs)],
        &mut taken,
        &mut both,
    )? {
        return Ok(None);
    }
    // A file both edited merges as libgit2's merge would merge it only with the default
    // driver: a `merge` attribute (binary, union, a custom driver) goes the whole way.
    for (path, ..) in &both {
        use std::os::unix::ffi::OsStrExt;
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        // Unreadable attributes: let libgit2's merge decide.
        let Ok(attr) = repo.get_attr_bytes(p, "merge", git2::AttrCheckFlags::FILE_THEN_INDEX)
        else {
            return Ok(None);
        };
        if !matches!(
            git2::AttrValue::from_bytes(attr),
            git2::AttrValue::Unspecified | git2::AttrValue::True
        ) {
            return Ok(None);
        }
    }
    let blob = |id: Oid| -> Result<Vec<u8>> { Ok(cached_blob(repo, id)?.to_vec()) };
    let mut out = MergePlan::default();
    for (path, now, then) in taken {
        let now_n = now.map(|e| (e.id, normalize_mode(e.mode)));
        match then {
            Some(t) => {
                let mode = normalize_mode(t.mode);
                if now_n == Some((t.id, mode)) {
                    continue;
                }
                if mode == MODE_GITLINK || now_n.is_some_and(|(_, m)| m == MODE_GITLINK) {
                    continue; // submodule pointers are the user's business
                }
                out.changes.push(FileChange {
                    kind: if now.is_some() {
                        ChangeKind::Modified
                    } else {
                        ChangeKind::Added
                    },
                    old: now.map(|e| blob(e.id)).transpose()?,
                    new: Some(blob(t.id)?),
                    old_mode: now_n.map(|(_, m)| m),
                    new_mode: Some(mode),
                    path,
                });
            }
            None => {
                let Some((id, mode)) = now_n else { continue };
                if mode != MODE_GITLINK {
                    out.changes.push(FileChange {
                        path,
                        kind: ChangeKind::Deleted,
                        old: Some(blob(id)?),
                        new: None,
                        old_mode: Some(mode),
                        new_mode: None,
                    });
                }
            }
        }
    }
    for (path, b, o, t) in both {
        let entry = |e: Entry| {
            let mut x = crate::snapshot::blank_entry("", e.mode);
            x.path = path.clone();
            x.id = e.id;
            x
        };
        let key = [(b.id, b.mode), (o.id, o.mode), (t.id, t.mode)];
        let known = cache().merges.get(&key).cloned();
        let merged = match known {
            Some(m) => m,
            None => {
                let mut opts = git2::MergeFileOptions::new();
                opts.our_label("current")
                    .their_label("attempt")
                    .ancestor_label("fork");
                let r =
                    repo.merge_file_from_index(&entry(b), &entry(o), &entry(t), Some(&mut opts))?;
                let m = Arc::new(Merged {
                    clean: r.is_automergeable(),
                    mode: r.mode(),
                    content: r.content().to_vec(),
                });
                cache().remember_merge(key, Arc::clone(&m));
                m
            }
        };
        let old = blob(o.id)?;
        let old_mode = normalize_mode(o.mode);
        let (kind, new_mode) = if merged.clean {
            (ChangeKind::Modified, normalize_mode(merged.mode))
        } else {
            out.conflicts.push(path.clone());
            if !markers {
                continue;
            }
            (ChangeKind::Conflicted, old_mode)
        };
        if merged.content == old && new_mode == old_mode {
            continue;
        }
        out.changes.push(FileChange {
            new: Some(merged.content.clone()),
            path,
            kind,
            old: Some(old),
            old_mode: Some(old_mode),
            new_mode: Some(new_mode),
        });
    }
    out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.conflicts.sort();
    Ok(Some(out))
}

/// [`plan`] by libgit2's merge of the whole trees (with rename detection), the merged blobs
/// written to the object database.
fn tree_merge_plan(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
    markers: bool,
) -> Result<MergePlan> {
    let base_t = repo.find_tree(base)?;
    let ours_t = repo.find_tree(ours)?;
    let theirs_t = repo.find_tree(theirs)?;
    let merged = repo.merge_trees(&base_t, &ours_t, &theirs_t, None)?;
    let ours_map = tree_map(repo, &ours_t)?;
    let blob = |id: Oid| -> Result<Vec<u8>> { Ok(repo.find_blob(id)?.content().to_vec()) };
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut out = MergePlan::default();
    let current = |path: &[u8]| -> Result<(Option<Vec<u8>>, Option<u32>)> {
        match ours_map.get(path) {
            Some((id, mode)) => Ok((Some(blob(*id)?), Some(*mode))),
            None => Ok((None, None)),
        }
    };

    if merged.has_conflicts() {
        for c in merged.conflicts()? {
            let c = c?;
            let Some(any) = c.our.as_ref().or(c.their.as_ref()).or(c.ancestor.as_ref()) else {
                continue;
            };
            let path = any.path.clone();
            seen.insert(path.clone());
            out.conflicts.push(path.clone());
            if !markers {
                continue;
            }
            let mode_of = |e: &git2::IndexEntry| normalize_mode(e.mode);
            let (new, new_mode) = match (&c.our, &c.their) {
                // Markers make sense in text only: a conflict that involves a symlink or a
                // submodule is left as the user has it, for them to resolve.
                (Some(o), Some(t))
                    if [mode_of(o), mode_of(t)]
                        .iter()
                        .any(|m| *m == MODE_LINK || *m == MODE_GITLINK) =>
                {
                    continue
                }
                (Some(o), Some(t)) => {
                    let mut opts = git2::MergeFileOptions::new();
                    opts.our_label("current")
                        .their_label("attempt")
                        .ancestor_label("fork");
                    let r = repo.merge_file_from_index(
                        c.ancestor.as_ref().unwrap_or(o),
                        o,
                        t,
                        Some(&mut opts),
                    )?;
                    (r.content().to_vec(), mode_of(o))
                }
                // Changed on one side, deleted on the other: keep the changed file.
                (Some(o), None) => (blob(o.id)?, mode_of(o)),
                (None, Some(t)) => (blob(t.id)?, mode_of(t)),
                (None, None) => continue,
            };
            if new_mode == MODE_GITLINK {
                continue;
            }
            let (old, old_mode) = current(&path)?;
            if old_mode == Some(MODE_GITLINK)
                || (old.as_ref() == Some(&new) && old_mode == Some(new_mode))
            {
                continue;
            }
            out.changes.push(FileChange {
                path,
                kind: ChangeKind::Conflicted,
                old,
                new: Some(new),
                old_mode,
                new_mode: Some(new_mode),
            });
        }
    }

    for entry in merged.iter() {
        if (entry.flags >> 12) & 3 != 0 || seen.contains(&entry.path) {
            continue;
        }
        seen.insert(entry.path.clone());
        let mode = normalize_mode(entry.mode);
        let now = ours_map.get(&entry.path);
        if now == Some(&(entry.id, mode)) {
            continue;
        }
        if mode == MODE_GITLINK || now.is_some_and(|(_, m)| *m == MODE_GITLINK) {
            continue; // submodule pointers are the user's business, not a file to write
        }
        let (old, old_mode) = current(&entry.path)?;
        out.changes.push(FileChange {
            path: entry.path.clone(),
            kind: if now.is_some() {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
            old,
            new: Some(blob(entry.id)?),
            old_mode,
            new_mode: Some(mode),
        });
    }
    for (path, (id, mode)) in &ours_map {
        if !seen.contains(path) && *mode != MODE_GITLINK {
            out.changes.push(FileChange {
                path: path.clone(),
                kind: ChangeKind::Deleted,
                old: Some(blob(*id)?),
                new: None,
                old_mode: Some(*mode),
                new_mode: None,
            });
        }
    }
    out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.conflicts.sort();
    Ok(out)
}

/// Every non-tree entry of `tree` by its full path. An explicit walk, not `Tree::walk`:
/// that one hands paths over as `&str` and stops at the first folder whose name is not UTF-8.
fn tree_map(repo: &Repository, tree: &git2::Tree) -> Result<TreeMap> {
    let mut map = HashMap::new();
    let mut stack: Vec<(Vec<u8>, Oid)> = vec![(Vec::new(), tree.id())];
    while let Some((prefix, id)) = stack.pop() {
        let tree = repo.find_tree(id)?;
        for e in tree.iter() {
            let mut p = prefix.clone();
            p.extend_from_slice(e.name_bytes());
            if e.kind() == Some(git2::ObjectType::Tree) {
                p.push(b'/');
                stack.push((p, e.id()));
            } else {
                map.insert(p, (e.id(), normalize_mode(e.filemode_raw() as u32)));
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Rng;

    type Files = std::collections::BTreeMap<String, (Vec<u8>, u32)>;

    fn tree(repo: &Repository, files: &Files) -> Oid {
        let mut index = git2::Index::new().unwrap();
        for (path, (content, mode)) in files {
            let mut e = crate::snapshot::blank_entry(path, *mode);
            e.id = if *mode == MODE_GITLINK {
                Oid::from_str("1234567890123456789012345678901234567890").unwrap()
            } else {
                repo.blob(content).unwrap()
            };
            index.add(&e).unwrap();
        }
        index.write_tree_to(repo).unwrap()
    }

    fn lines(rng: &mut Rng, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| format!("line {i} {}\n", rng.below(3)))
            .collect::<String>()
            .into_bytes()
    }

    /// `files` changed at random: lines edited, files added, deleted, made executable,
    /// turned into symlinks or folders.
    fn edit(rng: &mut Rng, files: &Files, tag: &str) -> Files {
        let mut out = files.clone();
        for (path, (content, mode)) in files {
            match rng.below(12) {
                0 => {
                    out.remove(path);
                }
                1 => {
                    let mut text = String::from_utf8(content.clone()).unwrap_or_default();
                    let at = text.len() / 2;
                    let at = text[..at].rfind('\n').map_or(0, |i| i + 1);
                    text.insert_str(at, &format!("{tag} was here\n"));
                    out.insert(path.clone(), (text.into_bytes(), *mode));
                }
                2 => {
                    let mut c = content.clone();
                    c.extend_from_slice(format!("{tag} at the end\n").as_bytes());
                    out.insert(path.clone(), (c, *mode));
                }
                3 => {
                    out.insert(path.clone(), (content.clone(), MODE_EXEC));
                }
                4 => {
                    out.insert(path.clone(), (b"target".to_vec(), MODE_LINK));
                }
                5 => {
                    out.remove(path);
                    out.insert(format!("{path}/inner"), (lines(rng, 3), MODE_FILE));
                }
                6 => {
                    // the same change both sides may make
                    out.insert(path.clone(), (b"same\n".to_vec(), *mode));
                }
                _ => {}
            }
        }
        if rng.below(3) == 0 {
            out.insert(format!("new/{tag}.txt"), (lines(rng, 4), MODE_FILE));
        }
        if rng.below(4) == 0 {
            out.insert(
                "both-added.txt".into(),
                (format!("{tag}\n").into_bytes(), MODE_FILE),
            );
        }
        out
    }

    #[test]
    fn the_simple_plan_is_the_tree_merge_plan() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let mut rng = Rng(3);
        let (mut simple, mut whole) = (0, 0);
        for round in 0..300 {
            let mut base = Files::new();
            for i in 0..rng.below(8) + 1 {
                let dir = ["", "src/", "src/deep/", "docs/"][rng.below(4) as usize];
                let n = rng.below(30) as usize;
                base.insert(format!("{dir}f{i}.txt"), (lines(&mut rng, n), MODE_FILE));
            }
            if round % 7 == 0 {
                base.insert("sub".into(), (Vec::new(), MODE_GITLINK));
            }
            let ours = if rng.below(3) == 0 {
                base.clone()
            } else {
                edit(&mut rng, &base, "ours")
            };
            let theirs = edit(&mut rng, &base, "theirs");
            let (b, o, t) = (tree(&repo, &base), tree(&repo, &ours), tree(&repo, &theirs));
            for markers in [false, true] {
                let expected = tree_merge_plan(&repo, b, o, t, markers).unwrap();
                match simple_plan(&repo, b, o, t, markers).unwrap() {
                    Some(got) => {
                        simple += 1;
                        assert_eq!(got.changes, expected.changes, "round {round}");
                        assert_eq!(got.conflicts, expected.conflicts, "round {round}");
                    }
                    None => whole += 1,
                }
            }
        }
        // Both ways were taken often enough to mean something.
        assert!(
            simple > 150 && whole > 50,
            "simple {simple}, whole-tree {whole}"
        );
    }
}
