//! An attempt's change cut into hunks that can be accepted one by one, or combined with
//! hunks of the fanout's other attempts.
//!
//! A hunk is what `git diff` shows between two `@@` lines (3 lines of context): the attempt's
//! change against the fork's snapshot, not against the user's current files, which move. So
//! a hunk stays the same whatever the user does meanwhile, and its id (a hash of its path,
//! position and lines) is the same every time it is listed; the same change made by two
//! attempts is the same hunk. A change that is not lines of one text file kept (an added or
//! deleted file, a binary file, a symlink, a new mode) is one hunk, the whole file.
//!
//! Accepting hunks is accepting a tree made for the purpose: the snapshot with those hunks
//! applied ([`select`]). That tree goes through the same 3-way merge as a whole attempt
//! (`merge`), against the user's current files and buffers, so the same conflict rules
//! hold. Two chosen hunks that change the same lines differently are refused before
//! anything is written.

use crate::diff::{as_text, split_lines, LineDiff, Marks, CONTEXT};
use crate::error::{Error, Result};
use crate::merge::{FileChange, MODE_EXEC, MODE_FILE};
use git2::{Oid, Repository};
use serde::Serialize;
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;
use std::ops::Range;

/// How many hex digits a hunk id has.
const ID_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HunkKind {
    /// Some lines of a text file that exists on both sides.
    Lines,
    /// A whole file: added, deleted, binary, a symlink, or its mode changed.
    File,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// Hex digits, stable: the same hunk has the same id every time it is listed.
    pub id: String,
    /// The path, '/'-separated bytes as git has it.
    pub path: Vec<u8>,
    pub kind: HunkKind,
    /// The lines it covers in the fork's snapshot: 1-based start and count, as the
    /// `@@ -start,count` of a diff (start is the line before when count is 0).
    pub old_start: usize,
    pub old_lines: usize,
    /// The same in the attempt's file.
    pub new_start: usize,
    pub new_lines: usize,
    pub additions: usize,
    pub deletions: usize,
    /// The hunk as a diff shows it: its `@@` line and lines. For a file that is not text, one
    /// line saying what happens to it.
    pub text: String,
    /// Its changed lines (`+line`, `-line`), to find it again in another diff.
    sig: Vec<String>,
    change: Change,
}

impl Hunk {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// The snapshot lines (0-based indices) its changes replace, context left out; empty
    /// where it only inserts. A whole-file hunk covers the whole file.
    pub fn changed_lines(&self) -> Range<usize> {
        match &self.change {
            Change::Lines(edits) => match (edits.first(), edits.last()) {
                (Some(a), Some(b)) => a.old.start..b.old.end,
                _ => 0..0,
            },
            Change::File(_) => 0..self.old_lines.max(1),
        }
    }

    /// Whether its changes and `other`'s touch the same snapshot lines (or insert at the
    /// same place), so that taking both would clash.
    pub fn overlaps(&self, other: &Hunk) -> bool {
        let (a, b) = (self.changed_lines(), other.changed_lines());
        self.path == other.path && ((a.start < b.end && b.start < a.end) || a.start == b.start)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// Lines of the snapshot's file replaced.
    Lines(Vec<Edit>),
    /// The file as the attempt has it (content, mode), or None: deleted.
    File(Option<(Vec<u8>, u32)>),
}

/// Snapshot lines `old` (0-based indices) replaced by `new` (whole lines, endings included).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    old: Range<usize>,
    new: String,
}

/// Every hunk of the change from tree `base` to tree `theirs`, by path, in order.
///
/// Kept for the next call of the process (the last [`KEPT`] pairs): the trees are named by
/// their content, so their hunks never change, and a language server asks for the same
/// attempt's hunks with every diff it shows.
pub fn of_trees(repo: &Repository, base: Oid, theirs: Oid) -> Result<Vec<Hunk>> {
    type Kept = std::collections::VecDeque<((Oid, Oid), Vec<Hunk>)>;
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Kept>> = std::sync::OnceLock::new();
    let cache = || {
        CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let known = cache()
        .iter()
        .find(|(k, _)| *k == (base, theirs))
        .map(|(_, h)| h.clone());
    if let Some(hunks) = known {
        return Ok(hunks);
    }
    // The merge of `theirs` onto `base` itself is `theirs`: the plan lists every changed file
    // with both contents, modes normalized and submodules left out as accept does.
    let plan = crate::merge::plan(repo, base, base, theirs, false)?;
    let hunks = of_plan(&plan);
    let mut kept = cache();
    kept.push_back(((base, theirs), hunks.clone()));
    while kept.len() > KEPT {
        kept.pop_front();
    }
    Ok(hunks)
}

/// How many attempts' hunks [`of_trees`] keeps.
const KEPT: usize = 16;

/// The hunks of a plan made from the snapshot onto itself (old: the snapshot's files).
pub fn of_plan(plan: &crate::merge::MergePlan) -> Vec<Hunk> {
    plan.changes.iter().flat_map(file_hunks).collect()
}

fn regular(mode: u32) -> bool {
    mode == MODE_FILE || mode == MODE_EXEC
}

fn file_hunks(c: &FileChange) -> Vec<Hunk> {
    if let (Some(o), Some(n), Some(om), Some(nm)) = (&c.old, &c.new, c.old_mode, c.new_mode) {
        if om == nm && regular(om) {
            if let (Some(o), Some(n)) = (as_text(o), as_text(n)) {
                return line_hunks(&c.path, o, n);
            }
        }
    }
    vec![file_hunk(c)]
}

fn hash_id(parts: &[&[u8]]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex[..ID_LEN].to_string()
}

/// The `@@` numbers of a range: 1-based start (the line before when empty) and count.
fn at(r: &Range<usize>) -> (usize, usize) {
    (if r.is_empty() { r.start } else { r.start + 1 }, r.len())
}

fn line_hunks(path: &[u8], old: &str, new: &str) -> Vec<Hunk> {
    let ld = LineDiff::new(old, new);
    ld.groups(CONTEXT)
        .iter()
        .map(|g| {
            let (old_start, old_lines) = at(&g.old);
            let (new_start, new_lines) = at(&g.new);
            let edits: Vec<Edit> = ld.changes[g.changes.clone()]
                .iter()
                .map(|c| Edit {
                    old: c.old.clone(),
                    new: ld.new[c.new.clone()].concat(),
                })
                .collect();
            let (additions, deletions) = ld.counts(g);
            let mut text = ld.header(g);
            text.push('\n');
            ld.write_lines(&mut text, g);
            Hunk {
                id: hash_id(&[path, text.as_bytes()]),
                path: path.to_vec(),
                kind: HunkKind::Lines,
                old_start,
                old_lines,
                new_start,
                new_lines,
                additions,
                deletions,
                text,
                sig: ld.changed(g),
                change: Change::Lines(edits),
            }
        })
        .collect()
}

/// `(line count, changed lines)` of content as the side of a whole-file hunk, if it is text.
fn whole_lines(content: Option<&[u8]>, tag: char) -> Option<(usize, Vec<String>)> {
    let text = as_text(content?)?;
    let lines: Vec<String> = split_lines(text)
        .iter()
        .map(|l| format!("{tag}{l}"))
        .collect();
    Some((lines.len(), lines))
}

fn file_hunk(c: &FileChange) -> Hunk {
    let what = describe(c);
    let old = whole_lines(c.old.as_deref(), '-');
    let new = whole_lines(c.new.as_deref(), '+');
    let (old_lines, mut sig) = old.unwrap_or_default();
    let (new_lines, added) = new.unwrap_or_default();
    sig.extend(added);
    let mode = |m: Option<u32>| m.map(|m| format!("{m:o}")).unwrap_or_default();
    let id = hash_id(&[
        &c.path,
        c.old.as_deref().unwrap_or(b"\0none"),
        mode(c.old_mode).as_bytes(),
        c.new.as_deref().unwrap_or(b"\0none"),
        mode(c.new_mode).as_bytes(),
    ]);
    Hunk {
        id,
        path: c.path.clone(),
        kind: HunkKind::File,
        old_start: usize::from(old_lines > 0),
        old_lines,
        new_start: usize::from(new_lines > 0),
        new_lines,
        additions: new_lines,
        deletions: old_lines,
        text: format!("{what}\n"),
        sig,
        change: Change::File(c.new.clone().zip(c.new_mode)),
    }
}

/// What a whole-file hunk does, in a few words.
fn describe(c: &FileChange) -> String {
    let kind = |content: &Option<Vec<u8>>, mode: Option<u32>| match mode {
        Some(crate::merge::MODE_LINK) => format!(
            "symlink to {}",
            crate::text::quote_path(content.as_deref().unwrap_or_default())
        ),
        _ if content.as_deref().is_some_and(|b| as_text(b).is_none()) => "binary file".into(),
        Some(MODE_EXEC) => "executable file".into(),
        _ => "file".into(),
    };
    match (c.old_mode, c.new_mode) {
        (None, _) => format!("new {}", kind(&c.new, c.new_mode)),
        (_, None) => format!("deleted {}", kind(&c.old, c.old_mode)),
        (Some(o), Some(n)) if o != n && c.old == c.new => format!("mode {o:06o} → {n:06o}"),
        (Some(o), Some(n)) if o != n => format!(
            "{} becomes {}",
            kind(&c.old, c.old_mode),
            kind(&c.new, c.new_mode)
        ),
        _ => format!("{} changed", kind(&c.new, c.new_mode)),
    }
}

/// The `@@` marks of a diff: each hunk's id, found by its changed lines (see `diff`).
pub fn marks(hunks: &[Hunk]) -> Marks {
    let mut m = Marks::default();
    for h in hunks {
        m.add(&h.path, &h.id, &h.sig);
    }
    m
}

/// The hunks chosen from one attempt: its label (id, for messages), its tree and the ids.
pub struct Pick<'a> {
    pub label: &'a str,
    pub theirs: Oid,
    pub ids: &'a [String],
}

/// The snapshot `base` with the chosen hunks applied, as a tree. An id an attempt does not
/// have, or two chosen hunks that change the same lines differently, is an error: nothing
/// is built.
pub fn select(repo: &Repository, base: Oid, picks: &[Pick]) -> Result<Oid> {
    // path → (the hunk's attempt, the hunk), in the order chosen
    let mut chosen: BTreeMap<Vec<u8>, Vec<(&str, Hunk)>> = BTreeMap::new();
    for p in picks {
        let hunks = of_trees(repo, base, p.theirs)?;
        for id in p.ids {
            let h = find(&hunks, id).ok_or_else(|| {
                Error::Invalid(format!(
                    "{} has no hunk {id} (`fanout hunks {}` lists them)",
                    p.label, p.label
                ))
            })?;
            let list = chosen.entry(h.path.clone()).or_default();
            if !list.iter().any(|(_, o)| o.id == h.id) {
                list.push((p.label, h.clone()));
            }
        }
    }
    let base_tree = repo.find_tree(base)?;
    let mut index = git2::Index::new()?;
    index.read_tree(&base_tree)?;
    for (path, list) in &chosen {
        match combine(repo, &base_tree, path, list)? {
            Some((content, mode)) => {
                let mut entry = crate::snapshot::blank_entry("", mode);
                entry.path = path.clone();
                entry.id = repo.blob(&content)?;
                entry.file_size = content.len() as u32;
                index.add(&entry)?;
            }
            None => {
                use std::os::unix::ffi::OsStrExt;
                index.remove(std::path::Path::new(std::ffi::OsStr::from_bytes(path)), 0)?;
            }
        }
    }
    Ok(index.write_tree_to(repo)?)
}

/// A hunk by its id, or by a unique prefix of it (at least 4 digits).
pub fn find<'h>(hunks: &'h [Hunk], id: &str) -> Option<&'h Hunk> {
    let id = id.trim().to_ascii_lowercase();
    if let Some(h) = hunks.iter().find(|h| h.id == id) {
        return Some(h);
    }
    let mut matching = hunks
        .iter()
        .filter(|h| id.len() >= 4 && h.id.starts_with(&id));
    match (matching.next(), matching.next()) {
        (Some(h), None) => Some(h),
        _ => None,
    }
}

/// One file with the chosen hunks applied: its content and mode, or None (deleted).
fn combine(
    repo: &Repository,
    base_tree: &git2::Tree,
    path: &[u8],
    list: &[(&str, Hunk)],
) -> Result<Option<(Vec<u8>, u32)>> {
    let clash = |a: &(&str, Hunk), b: &(&str, Hunk)| {
        Error::Invalid(format!(
            "hunk {} of {} and hunk {} of {} both change {}; choose one of them (nothing was written)",
            a.1.id,
            a.0,
            b.1.id,
            b.0,
            crate::text::quote_path(path)
        ))
    };
    if let Some(whole) = list.iter().find(|(_, h)| h.kind == HunkKind::File) {
        if let Some(other) = list.iter().find(|(_, h)| h.change != whole.1.change) {
            return Err(clash(whole, other));
        }
        let Change::File(file) = &whole.1.change else {
            unreachable!("a file hunk holds a file")
        };
        return Ok(file.clone());
    }
    use std::os::unix::ffi::OsStrExt;
    let entry = base_tree.get_path(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))?;
    let blob = repo.find_blob(entry.id())?;
    let mode = entry.filemode() as u32;
    let text = as_text(blob.content())
        .ok_or_else(|| Error::Invalid(format!("{}: not text", crate::text::quote_path(path))))?;
    let mut edits: Vec<(&(&str, Hunk), &Edit)> = Vec::new();
    for item in list {
        if let Change::Lines(es) = &item.1.change {
            for e in es {
                if !edits.iter().any(|(_, o)| *o == e) {
                    edits.push((item, e));
                }
            }
        }
    }
    edits.sort_by_key(|(_, e)| (e.old.start, e.old.end));
    for pair in edits.windows(2) {
        let ((ha, a), (hb, b)) = (pair[0], pair[1]);
        // Overlapping lines, or two insertions at one place (which goes first?), clash.
        if b.old.start < a.old.end || b.old.start == a.old.start {
            return Err(clash(ha, hb));
        }
    }
    let lines = split_lines(text);
    let mut out = String::with_capacity(text.len());
    let mut next = 0;
    for (_, e) in &edits {
        out.push_str(&lines[next..e.old.start].concat());
        out.push_str(&e.new);
        next = e.old.end;
    }
    out.push_str(&lines[next..].concat());
    Ok(Some((out.into_bytes(), crate::merge::normalize_mode(mode))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: &str, new: &str) -> FileChange {
        FileChange {
            path: b"f.txt".to_vec(),
            kind: crate::merge::ChangeKind::Modified,
            old: Some(old.into()),
            new: Some(new.into()),
            old_mode: Some(MODE_FILE),
            new_mode: Some(MODE_FILE),
        }
    }

    #[test]
    fn far_apart_changes_are_separate_hunks_with_stable_ids_and_ranges() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 18\n", "line 18\nline 18.5\n");
        let hunks = file_hunks(&change(&old, &new));
        assert_eq!(hunks.len(), 2, "{hunks:#?}");
        assert_eq!(
            (hunks[0].old_start, hunks[0].old_lines, hunks[0].deletions),
            (1, 5, 1)
        );
        assert_eq!((hunks[1].additions, hunks[1].deletions), (1, 0));
        assert!(
            hunks[0].text.starts_with("@@ -1,5 +1,5 @@\n"),
            "{}",
            hunks[0].text
        );
        assert_eq!(hunks, file_hunks(&change(&old, &new)), "listing again");
        assert_ne!(hunks[0].id, hunks[1].id);
        assert_eq!(hunks[0].id.len(), ID_LEN);
    }
}
