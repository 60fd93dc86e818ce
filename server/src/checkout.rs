//! Creating N git worktrees of one commit, fast.
//!
//! All N worktrees hold the same tree, so each blob is read from the object database once and
//! written N times, by a pool of threads (file creation is latency-bound on most disks, so
//! many writes in flight overlap well even on 2 cores). Each worktree is still a normal git
//! worktree: the admin folder under `<common dir>/worktrees/<name>`, the `.git` file, HEAD on
//! its own branch, and an index written with the stat data of the files just written, so
//! `git status` in it is clean and fast at once.
//!
//! Repositories whose checkout needs filters (`.gitattributes` with eol/text/filter/ident,
//! `core.autocrlf`) go through libgit2's checkout instead, which applies them.

use crate::error::{Error, IoContext, Result};
use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};
use rayon::prelude::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One worktree to create.
#[derive(Debug, Clone)]
pub struct WorktreeSpec {
    /// Admin folder name under `<common dir>/worktrees/`.
    pub name: String,
    pub path: PathBuf,
    /// Branch name without `refs/heads/`.
    pub branch: String,
}

struct Entry {
    path: Vec<u8>,
    mode: u32,
    id: Oid,
}

/// Create every worktree in `specs` on its own new branch at `commit`. On any failure,
/// everything created so far (folders, admin folders, branches) is removed again.
pub fn create_worktrees(repo: &Repository, commit: Oid, specs: &[WorktreeSpec]) -> Result<()> {
    if specs.is_empty() {
        // Nothing to write, and the write loop would still read every blob (a fork served
        // whole from the pool paid 190 ms for it with 10,000 files).
        return Ok(());
    }
    let mut created = Created::default();
    let result = create_all(repo, commit, specs, &mut created);
    if result.is_err() {
        created.roll_back(repo);
    }
    result
}

#[derive(Default)]
struct Created {
    branches: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Created {
    fn roll_back(&self, repo: &Repository) {
        for dir in &self.dirs {
            let _ = fs::remove_dir_all(dir);
        }
        let refs: Vec<String> = self
            .branches
            .iter()
            .map(|b| format!("refs/heads/{b}"))
            .collect();
        let _ops = crate::gitlock::GitOps::begin(repo.commondir(), &refs, &[]);
        for b in &self.branches {
            if let Ok(mut br) = repo.find_branch(b, git2::BranchType::Local) {
                let _ = br.delete();
            }
        }
    }
}

/// Remove the worktrees of `specs` (files, admin folders, branches), ignoring what is gone.
pub fn remove_worktrees(repo: &Repository, specs: &[WorktreeSpec]) {
    let refs: Vec<String> = specs
        .iter()
        .map(|s| format!("refs/heads/{}", s.branch))
        .collect();
    let admins: Vec<PathBuf> = specs
        .iter()
        .map(|s| repo.commondir().join("worktrees").join(&s.name))
        .collect();
    let _ops = crate::gitlock::GitOps::begin(repo.commondir(), &refs, &admins);
    for spec in specs {
        let _ = remove_worktree(repo, &spec.name, &spec.path, Some(&spec.branch));
    }
}

fn create_all(
    repo: &Repository,
    commit_id: Oid,
    specs: &[WorktreeSpec],
    created: &mut Created,
) -> Result<()> {
    let commit = repo.find_commit(commit_id)?;
    let admin_root = repo.commondir().join("worktrees");
    for spec in specs {
        if spec.path.exists() {
            return Err(Error::Invalid(format!(
                "worktree path {} already exists",
                spec.path.display()
            )));
        }
        if repo
            .find_branch(&spec.branch, git2::BranchType::Local)
            .is_ok()
        {
            return Err(Error::Invalid(format!(
                "branch {} already exists",
                spec.branch
            )));
        }
    }
    create_branches(repo, &commit, specs, created, || {
        crate::fault::point("checkout.branch-created")
    })?;
    for spec in specs {
        let admin = admin_root.join(&spec.name);
        fs::create_dir_all(&admin).at(&admin)?;
        created.dirs.push(admin.clone());
        create_dir_in_place(&spec.path)?;
        created.dirs.push(spec.path.clone());
        link(
            &admin,
            &spec.path,
            &format!("ref: refs/heads/{}", spec.branch),
        )?;
        crate::fault::point("checkout.worktree-linked");
    }

    let tree = commit.tree()?;
    let (entries, dirs, has_attributes) = collect(&tree)?;
    if needs_filters(repo, &tree, has_attributes) {
        for spec in specs {
            let wt = Repository::open(&spec.path)?;
            let mut opts = git2::build::CheckoutBuilder::new();
            opts.force();
            wt.checkout_tree(commit.as_object(), Some(&mut opts))?;
        }
        return Ok(());
    }

    for spec in specs {
        for dir in &dirs {
            let d = spec.path.join(bytes_path(dir));
            fs::create_dir_all(&d).at(&d)?;
        }
    }
    let roots: Vec<&Path> = specs.iter().map(|s| s.path.as_path()).collect();
    let repo_path = repo.path().to_path_buf();
    // Threads well beyond the core count: most of a file write's time is spent waiting on
    // the file system, and the waits overlap.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(16)
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let stats: Vec<Vec<Stat>> = pool.install(|| {
        entries
            .par_iter()
            .map(|entry| with_thread_repo(&repo_path, |repo| write_entry(repo, entry, &roots)))
            .collect::<Result<Vec<_>>>()
    })?;
    crate::fault::point("checkout.files-written");
    for (i, spec) in specs.iter().enumerate() {
        let index = encode_index(&entries, |e| stats[e][i]);
        let admin = admin_root.join(&spec.name);
        write_file(&admin.join("index"), &index)?;
    }
    Ok(())
}

thread_local! {
    /// Each pool thread's own handle on the repository (a Repository is not Sync, and opening
    /// one per work item costs more than the item).
    static THREAD_REPO: std::cell::RefCell<Option<(PathBuf, Repository)>> = const { std::cell::RefCell::new(None) };
}

fn with_thread_repo<T>(path: &Path, f: impl FnOnce(&Repository) -> Result<T>) -> Result<T> {
    THREAD_REPO.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.as_ref().is_none_or(|(p, _)| p != path) {
            let repo = Repository::open(path)
                .map_err(|e| Error::Invalid(format!("git: {}", e.message())))?;
            *slot = Some((path.to_path_buf(), repo));
        }
        f(&slot.as_ref().expect("just opened").1)
    })
}

/// Stat fields git keeps per index entry, truncated to 32 bits as git does.
#[derive(Clone, Copy, Default)]
struct Stat {
    ctime: (u32, u32),
    mtime: (u32, u32),
    dev: u32,
    ino: u32,
    uid: u32,
    gid: u32,
    size: u32,
}

fn stat_of(meta: &fs::Metadata) -> Stat {
    Stat {
        ctime: (meta.ctime() as u32, meta.ctime_nsec() as u32),
        mtime: (meta.mtime() as u32, meta.mtime_nsec() as u32),
        dev: meta.dev() as u32,
        ino: meta.ino() as u32,
        uid: meta.uid(),
        gid: meta.gid(),
        size: meta.size() as u32,
    }
}

/// Read one blob and write it into every worktree; returns each copy's stat data.
fn write_entry(repo: &Repository, entry: &Entry, roots: &[&Path]) -> Result<Vec<Stat>> {
    let rel = bytes_path(&entry.path);
    if entry.mode == 0o160000 {
        // A submodule: git checks out an empty folder and leaves the stat data empty.
        for root in roots {
            let d = root.join(&rel);
            fs::create_dir_all(&d).at(&d)?;
        }
        return Ok(vec![Stat::default(); roots.len()]);
    }
    let blob = repo.find_blob(entry.id)?;
    let content = blob.content();
    let mut out = Vec::with_capacity(roots.len());
    for root in roots {
        let path = root.join(&rel);
        if entry.mode == 0o120000 {
            let target = bytes_path(content);
            std::os::unix::fs::symlink(&target, &path).at(&path)?;
        } else {
            // create_new: never through a symlink or over a file that is already there.
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .at(&path)?;
            f.write_all(content).at(&path)?;
            if entry.mode == 0o100755 {
                f.set_permissions(fs::Permissions::from_mode(0o755))
                    .at(&path)?;
            }
            // fstat on the open file: no second path lookup.
            out.push(stat_of(&f.metadata().at(&path)?));
            continue;
        }
        out.push(stat_of(&fs::symlink_metadata(&path).at(&path)?));
    }
    Ok(out)
}

/// Every blob (sorted as the index sorts: by path bytes), every folder, and whether any
/// `.gitattributes` file is in the tree.
fn collect(tree: &git2::Tree) -> Result<(Vec<Entry>, Vec<Vec<u8>>, bool)> {
    let mut entries = Vec::new();
    let mut dirs = Vec::new();
    let mut attributes = false;
    tree.walk(TreeWalkMode::PreOrder, |root, e| {
        let mut path = root.as_bytes().to_vec();
        path.extend_from_slice(e.name_bytes());
        match e.kind() {
            Some(ObjectType::Tree) => dirs.push(path),
            Some(ObjectType::Blob) | Some(ObjectType::Commit) => {
                if e.name_bytes() == b".gitattributes" {
                    attributes = true;
                }
                entries.push(Entry {
                    path,
                    mode: e.filemode() as u32,
                    id: e.id(),
                });
            }
            _ => {}
        }
        TreeWalkResult::Ok
    })?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((entries, dirs, attributes))
}

/// Whether worktrees of `commit` can be written by this module (reused or created) rather
/// than by libgit2's checkout, which applies content filters.
pub fn writes_plainly(repo: &Repository, commit: Oid) -> bool {
    repo.find_commit(commit)
        .and_then(|c| c.tree())
        .is_ok_and(|tree| !needs_filters(repo, &tree, true))
}

/// Whether checking out this tree needs git's content filters (line endings, smudge filters).
fn needs_filters(repo: &Repository, tree: &git2::Tree, has_attributes: bool) -> bool {
    let autocrlf = repo
        .config()
        .and_then(|c| c.get_string("core.autocrlf"))
        .map(|v| v != "false")
        .unwrap_or(false);
    if autocrlf {
        return true;
    }
    let info_attributes = repo.commondir().join("info").join("attributes");
    if fs::metadata(&info_attributes)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        return true;
    }
    has_attributes && attributes_use_filters(repo, tree)
}

fn attributes_use_filters(repo: &Repository, tree: &git2::Tree) -> bool {
    let mut found = false;
    let _ = tree.walk(TreeWalkMode::PreOrder, |_, e| {
        if e.name_bytes() == b".gitattributes" {
            if let Ok(blob) = repo.find_blob(e.id()) {
                let text = String::from_utf8_lossy(blob.content());
                found |= [
                    "text",
                    "eol",
                    "crlf",
                    "filter",
                    "ident",
                    "working-tree-encoding",
                ]
                .iter()
                .any(|k| text.contains(k));
            }
        }
        if found {
            TreeWalkResult::Abort
        } else {
            TreeWalkResult::Ok
        }
    });
    found
}

/// Encode an index file, version 2 (the format of `git-index(5)`), with a SHA-1 trailer.
fn encode_index(entries: &[Entry], stat: impl Fn(usize) -> Stat) -> Vec<u8> {
    use sha1::{Digest, Sha1};
    let mut out = Vec::with_capacity(64 + entries.len() * 96);
    out.extend_from_slice(b"DIRC");
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
    for (i, e) in entries.iter().enumerate() {
        let s = stat(i);
        let start = out.len();
        for v in [
            s.ctime.0, s.ctime.1, s.mtime.0, s.mtime.1, s.dev, s.ino, e.mode, s.uid, s.gid, s.size,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(e.id.as_bytes());
        let flags = e.path.len().min(0xFFF) as u16;
        out.extend_from_slice(&flags.to_be_bytes());
        out.extend_from_slice(&e.path);
        // 1 to 8 NULs, so the entry's length is a multiple of 8.
        let len = out.len() - start;
        let pad = 8 - (len % 8);
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    let digest = Sha1::digest(&out);
    out.extend_from_slice(&digest);
    out
}

/// Write a worktree's link to its admin folder, as `git worktree add` makes it: the admin's
/// `HEAD` (`head`: `ref: refs/heads/...` or a commit id), `commondir` and `gitdir`, and the
/// worktree's `.git` file. Whatever was at `.git` (a file an agent rewrote, a symlink, a
/// repository of its own) is replaced, never read.
/// The attempts' branches at `commit`, under the git-ops lock of their refs; each one made is
/// recorded in `created` (for a roll-back), and `after_each` runs after it.
fn create_branches(
    repo: &Repository,
    commit: &git2::Commit,
    specs: &[WorktreeSpec],
    created: &mut Created,
    after_each: impl Fn(),
) -> Result<()> {
    let refs: Vec<String> = specs
        .iter()
        .map(|s| format!("refs/heads/{}", s.branch))
        .collect();
    let _ops = crate::gitlock::GitOps::begin(repo.commondir(), &refs, &[])?;
    for spec in specs {
        repo.branch(&spec.branch, commit, false).map_err(|e| {
            Error::Invalid(format!(
                "cannot create branch {}: {}",
                spec.branch,
                e.message()
            ))
        })?;
        created.branches.push(spec.branch.clone());
        after_each();
    }
    Ok(())
}

pub(crate) fn link(admin: &Path, worktree: &Path, head: &str) -> Result<()> {
    write_file(&admin.join("HEAD"), format!("{head}\n").as_bytes())?;
    write_file(&admin.join("commondir"), b"../..\n")?;
    let dot_git = worktree.join(".git");
    write_file(
        &admin.join("gitdir"),
        format!("{}\n", dot_git.display()).as_bytes(),
    )?;
    remove_any(&dot_git)?;
    write_file(
        &dot_git,
        format!("gitdir: {}\n", admin.display()).as_bytes(),
    )
}

/// Remove whatever is at `path` (a file, a symlink, not its target, or a whole folder).
fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).at(path),
        Ok(_) => fs::remove_file(path).at(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).at(path),
    }
}

/// Which ignored files and folders a reused worktree keeps.
pub enum KeepIgnored {
    All,
    None,
    /// Those whose path (from the worktree's root) matches.
    Matching(globset::GlobSet),
}

impl KeepIgnored {
    fn keeps(&self, rel: &Path) -> bool {
        match self {
            KeepIgnored::All => true,
            KeepIgnored::None => false,
            KeepIgnored::Matching(set) => set.is_match(rel),
        }
    }
}

/// What a reuse did to one worktree.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reused {
    /// Files written because they differ from the new snapshot (or could not be trusted).
    pub written: usize,
    /// Files kept as they were.
    pub kept: usize,
    /// Files and folders removed: tracked before and not now, untracked, ignored not kept.
    pub removed: usize,
}

/// Bring existing worktrees (pooled ones, already moved to `specs`' paths and admin folders)
/// to `commit`, each on its own new branch: only the files that differ from what the
/// worktree's old index says it holds are written (a file is trusted only when its stat data
/// matches that index, and hashed when that is racy); tracked files the commit lacks and
/// untracked ones go; ignored files stay as `keep` says. The walk never follows a symlink,
/// and anything in the way of a folder of the commit (a file, a symlink) is replaced by a
/// real folder. At the end the index is written with the stat data of every file, as
/// `create_worktrees` does, so `git status` is clean at once. Branches created here are
/// removed again on failure; the worktrees themselves are the caller's to roll back.
pub fn reuse_worktrees(
    repo: &Repository,
    commit_id: Oid,
    specs: &[WorktreeSpec],
    keep: &KeepIgnored,
) -> Result<Vec<Reused>> {
    let commit = repo.find_commit(commit_id)?;
    let mut created = Created::default();
    let result = (|| {
        create_branches(repo, &commit, specs, &mut created, || {})?;
        let tree = commit.tree()?;
        let (entries, dirs, _) = collect(&tree)?;
        let admin_root = repo.commondir().join("worktrees");
        let mut out = Vec::new();
        for spec in specs {
            let admin = admin_root.join(&spec.name);
            link(
                &admin,
                &spec.path,
                &format!("ref: refs/heads/{}", spec.branch),
            )?;
            crate::fault::point("reuse.linked");
            let (stats, reused) = refresh(repo, &admin, &spec.path, &entries, &dirs, keep)?;
            crate::fault::point("reuse.files-written");
            let index = encode_index(&entries, |e| stats[e]);
            crate::state::write_atomic(&admin.join("index"), &index)?;
            out.push(reused);
        }
        Ok(out)
    })();
    if result.is_err() {
        created.roll_back(repo);
    }
    result
}

/// What the old index says a path holds.
struct Known {
    id: Oid,
    mode: u32,
    stat: Stat,
}

fn old_index(admin: &Path) -> (std::collections::HashMap<Vec<u8>, Known>, (u32, u32)) {
    let path = admin.join("index");
    let mut known = std::collections::HashMap::new();
    let written = fs::metadata(&path)
        .map(|m| (m.mtime() as u32, m.mtime_nsec() as u32))
        .unwrap_or((u32::MAX, 0));
    if let Ok(index) = git2::Index::open(&path) {
        for e in index.iter() {
            known.insert(
                e.path.clone(),
                Known {
                    id: e.id,
                    mode: e.mode,
                    stat: Stat {
                        ctime: (e.ctime.seconds() as u32, e.ctime.nanoseconds()),
                        mtime: (e.mtime.seconds() as u32, e.mtime.nanoseconds()),
                        dev: e.dev,
                        ino: e.ino,
                        uid: e.uid,
                        gid: e.gid,
                        size: e.file_size,
                    },
                },
            );
        }
    }
    (known, written)
}

/// Whether the file's stat data is the one the index recorded (nanoseconds only when the
/// index has them).
fn same_stat(index: &Stat, now: &Stat) -> bool {
    let time = |a: (u32, u32), b: (u32, u32)| a.0 == b.0 && (a.1 == 0 || a.1 == b.1);
    time(index.mtime, now.mtime)
        && time(index.ctime, now.ctime)
        && index.size == now.size
        && index.ino == now.ino
        && index.dev == now.dev
}

fn refresh(
    repo: &Repository,
    admin: &Path,
    root: &Path,
    entries: &[Entry],
    dirs: &[Vec<u8>],
    keep: &KeepIgnored,
) -> Result<(Vec<Stat>, Reused)> {
    let (known, index_written) = old_index(admin);
    // The commit's folders, parents first (the tree walk is pre-order): each one a real
    // folder, whatever stood there.
    for dir in dirs {
        let d = root.join(bytes_path(dir));
        match fs::symlink_metadata(&d) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                fs::remove_file(&d).at(&d)?;
                fs::create_dir(&d).at(&d)?;
            }
            Err(_) => fs::create_dir(&d).at(&d)?,
        }
    }
    let repo_path = repo.path().to_path_buf();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(16)
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let results: Vec<(Stat, bool)> = pool.install(|| {
        entries
            .par_iter()
            .map(|entry| {
                let path = root.join(bytes_path(&entry.path));
                if let Some(stat) = unchanged(&known, index_written, entry, &path) {
                    return Ok((stat, false));
                }
                remove_any(&path)?;
                let stat = with_thread_repo(&repo_path, |repo| write_entry(repo, entry, &[root]))?;
                Ok((stat[0], true))
            })
            .collect::<Result<Vec<_>>>()
    })?;
    let written = results.iter().filter(|r| r.1).count();
    let mut reused = Reused {
        written,
        kept: results.len() - written,
        removed: 0,
    };
    let stats = results.into_iter().map(|r| r.0).collect();
    reused.removed = remove_leftovers(repo, root, entries, dirs, keep)?;
    Ok((stats, reused))
}

/// The file's stat data if it holds what `entry` says, by the old index: same blob and mode
/// there, same stat data now, and, when the file changed in the index's last instant (git's
/// "racily clean"), the same content hashed.
fn unchanged(
    known: &std::collections::HashMap<Vec<u8>, Known>,
    index_written: (u32, u32),
    entry: &Entry,
    path: &Path,
) -> Option<Stat> {
    let k = known.get(&entry.path)?;
    if k.id != entry.id || k.mode != entry.mode {
        return None;
    }
    let meta = fs::symlink_metadata(path).ok()?;
    let right_kind = match entry.mode {
        0o120000 => meta.file_type().is_symlink(),
        0o160000 => meta.is_dir(),
        _ => meta.is_file() && (meta.mode() & 0o100 != 0) == (entry.mode == 0o100755),
    };
    if !right_kind {
        return None;
    }
    let now = stat_of(&meta);
    if entry.mode == 0o160000 {
        return Some(Stat::default());
    }
    if !same_stat(&k.stat, &now) {
        return None;
    }
    if now.mtime >= index_written && entry.mode != 0o120000 {
        let id = Oid::hash_file(ObjectType::Blob, path).ok()?;
        if id != entry.id {
            return None;
        }
    }
    Some(now)
}

/// Remove what the commit does not hold: tracked files of before, untracked files and
/// folders, and ignored ones `keep` does not keep. Ignored is judged by the commit's own
/// ignore files (written by now), `info/exclude` and the user's excludes, as git does.
fn remove_leftovers(
    repo: &Repository,
    root: &Path,
    entries: &[Entry],
    dirs: &[Vec<u8>],
    keep: &KeepIgnored,
) -> Result<usize> {
    use std::os::unix::ffi::OsStrExt;
    let files: std::collections::HashSet<&[u8]> =
        entries.iter().map(|e| e.path.as_slice()).collect();
    let folders: std::collections::HashSet<&[u8]> = dirs.iter().map(Vec::as_slice).collect();
    let judge = Repository::open_bare(repo.commondir())?;
    judge.set_workdir(root, false)?;
    let mut removed = 0;
    let mut emptied: Vec<PathBuf> = Vec::new();
    let mut walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .into_iter();
    while let Some(item) = walk.next() {
        let Ok(item) = item else { continue };
        let rel = item.path().strip_prefix(root).unwrap_or(item.path());
        let rel_bytes = rel.as_os_str().as_bytes();
        if rel_bytes == b".git" {
            if item.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        let is_dir = item.file_type().is_dir();
        if is_dir && folders.contains(rel_bytes) {
            continue;
        }
        if !is_dir && files.contains(rel_bytes) {
            continue;
        }
        let ignored = {
            let mut probe = rel.to_path_buf();
            if is_dir {
                probe.push("");
            }
            judge.is_path_ignored(&probe).unwrap_or(false)
        };
        if ignored && keep.keeps(rel) {
            if is_dir {
                walk.skip_current_dir();
            }
            continue;
        }
        if is_dir && !ignored {
            // Look inside: it may hold ignored files to keep; it goes at the end if empty.
            emptied.push(item.path().to_path_buf());
            continue;
        }
        if is_dir {
            walk.skip_current_dir();
        }
        remove_any(item.path())?;
        removed += 1;
    }
    for dir in emptied.iter().rev() {
        if fs::remove_dir(dir).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

fn bytes_path(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).at(path)
}

/// Remove a worktree made by `create_worktrees` (or by git): its files, its admin folder and,
/// if given, its branch. Missing parts are fine: removal is idempotent.
pub fn remove_worktree(
    repo: &Repository,
    name: &str,
    path: &Path,
    branch: Option<&str>,
) -> Result<()> {
    crate::trash::remove(path)?;
    let admin = repo.commondir().join("worktrees").join(name);
    if admin.exists() {
        fs::remove_dir_all(&admin).at(&admin)?;
    }
    if let Some(branch) = branch {
        if let Ok(mut b) = repo.find_branch(branch, git2::BranchType::Local) {
            b.delete()?;
        }
    }
    Ok(())
}

/// Bytes a folder takes on disk (allocated blocks), not following symlinks.
pub fn disk_usage(path: &Path) -> u64 {
    walkdir::WalkDir::new(path)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

/// Create the folder `path` (its parents as needed). The per-repository folder above it may
/// vanish between the two steps: the trash's emptier removes it once empty (`trash`), so a
/// parent that went missing is made again.
fn create_dir_in_place(path: &Path) -> Result<()> {
    let mut tries = 0;
    loop {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        match fs::create_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => tries += 1,
            Err(e) => return Err(e).at(path),
        }
    }
}
