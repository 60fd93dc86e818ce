//! Carrying out a merge plan on the user's working tree: only inside it, only what the diff
//! showed, all or nothing, and recoverable after a `kill -9` at any instant.
//!
//! - **Checked against the disk first** ([`check`]): every path is resolved component by
//!   component from one directory fd of the working tree, never through a symlink. A planned
//!   path whose parent is a symlink (tracked or ignored), a file, or anything but a folder,
//!   an added path where the user has an untracked or ignored file, a folder that must make
//!   room for a file but still holds the user's files, and a file whose content is no longer
//!   the plan's `old` are all refusals, with reasons; one refusal and nothing is written.
//! - **Carried out under a journal** ([`begin`], [`Transaction`]): new contents are staged
//!   in a private folder of the state dir (`O_EXCL | O_NOFOLLOW`, unpredictable names; a
//!   hidden name in the target's own folder when that folder is on another filesystem), the
//!   journal listing every step is written and fsynced, then originals are *moved* to backups,
//!   folders removed and created in dependency order, and new contents renamed into place with
//!   `RENAME_NOREPLACE`. Only then is the journal marked committed and the backups removed.
//!   Parents are opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so even a
//!   symlink planted between the check and the write is never followed.
//! - **Recovered** ([`recover`]): a journal left by a killed process is rolled back (or, once
//!   committed, its cleanup finished) by the next fanout command; every undo step is decided
//!   from what is on disk (a staged file's inode identifies it once installed), so a recovery
//!   killed half-way is simply run again.
//! - **Serialized** ([`lock`]): one `flock` per repository, held from planning to the end of
//!   applying, so concurrent accepts never lose each other's updates.

// The `stat` fields' types differ between Unixes (u16 modes, i32 devices): casts stay.
#![allow(clippy::unnecessary_cast)]

use crate::error::{Error, IoContext, Result};
use crate::fault::point;
use crate::merge::{FileChange, MergePlan, MODE_EXEC, MODE_FILE, MODE_LINK};
use crate::repo::RepoPaths;
use crate::text::quote_path;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Why one path of a plan cannot be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub path: Vec<u8>,
    /// In the user's words: "would overwrite your untracked file build.log",
    /// "cache is a symlink". Paths in it are quoted the git way.
    pub reason: String,
}

impl Refusal {
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// `path: reason`, safe to print on one line.
    pub fn line(&self) -> String {
        format!("{}: {}", quote_path(&self.path), self.reason)
    }
}

impl Serialize for Refusal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("path", &self.path_lossy())?;
        m.serialize_entry("reason", &self.reason)?;
        m.end()
    }
}

/// What an accept did.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub plan: MergePlan,
    /// Paths refused against the disk; when any, nothing was written.
    pub refused: Vec<Refusal>,
    /// Whether the plan was written.
    pub applied: bool,
    /// What recovering an interrupted accept did first, if anything.
    pub recovered: Option<String>,
}

// ---------------------------------------------------------------------------------------
// The repository lock

/// The repository's accept lock (an exclusive `flock`), released when dropped.
pub struct RepoLock {
    _file: std::fs::File,
    paths: RepoPaths,
}

fn accept_dir(paths: &RepoPaths) -> PathBuf {
    paths.state_dir.join("accept")
}

/// Take the repository's accept lock, waiting for another accept to finish.
pub fn lock(paths: &RepoPaths) -> Result<RepoLock> {
    let file = open_lock(paths)?;
    loop {
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e).at(accept_dir(paths).join("lock"));
        }
    }
    Ok(RepoLock {
        _file: file,
        paths: paths.clone(),
    })
}

/// The lock if nobody holds it now.
fn try_lock(paths: &RepoPaths) -> Result<Option<RepoLock>> {
    let file = open_lock(paths)?;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        return Err(e).at(accept_dir(paths).join("lock"));
    }
    Ok(Some(RepoLock {
        _file: file,
        paths: paths.clone(),
    }))
}

fn open_lock(paths: &RepoPaths) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = accept_dir(paths);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let path = dir.join("lock");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .at(path)
}

impl RepoLock {
    pub fn paths(&self) -> &RepoPaths {
        &self.paths
    }

    /// Roll back (or finish) an accept that was interrupted, and remove anything it left.
    /// Returns a note of what was done, None if there was nothing to do.
    pub fn recover(&self) -> Result<Option<String>> {
        let dir = accept_dir(&self.paths);
        let adir = sys::open_dir(&dir).at(&dir)?;
        let journal_path = dir.join(JOURNAL);
        let mut note = None;
        match std::fs::read(&journal_path) {
            Ok(bytes) => {
                let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Invalid(format!(
                        "{}: the journal of an interrupted accept cannot be read ({e}); \
                         check your files, then remove it",
                        journal_path.display()
                    ))
                })?;
                let root = sys::open_dir(&self.paths.workdir).at(&self.paths.workdir)?;
                let stage = stage_dir(&self.paths, &journal.txid);
                let stage_fd = sys::open_dir(&stage).ok();
                note = Some(match journal.phase {
                    Phase::Committed => {
                        finish(&root, stage_fd.as_ref(), &journal)?;
                        "finished cleaning up after an accept that had completed".to_string()
                    }
                    Phase::Staging => {
                        remove_temps(&root, &journal)?;
                        "removed the leftovers of an interrupted accept (it had not changed any file yet)"
                            .to_string()
                    }
                    Phase::Applying => {
                        undo(&root, stage_fd.as_ref(), &journal)?;
                        "rolled back an interrupted accept: your files are as they were before it"
                            .to_string()
                    }
                });
                drop(stage_fd);
                remove_tree(&stage)?;
                sys::unlink(&adir, JOURNAL.as_bytes(), false).at(&journal_path)?;
                let _ = sys::fsync(&adir);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).at(journal_path),
        }
        // Staging folders and journal temp files no journal speaks of: a process killed
        // before its journal was written. Nobody else is accepting (we hold the lock).
        let mut stray = 0;
        let staging = dir.join("staging");
        if let Ok(entries) = std::fs::read_dir(&staging) {
            for e in entries.flatten() {
                remove_tree(&e.path())?;
                stray += 1;
            }
        }
        for name in sys::list(&adir).at(&dir)? {
            if name.starts_with(b".journal-") {
                let _ = sys::unlink(&adir, &name, false);
                stray += 1;
            }
        }
        if note.is_none() && stray > 0 {
            note = Some("removed the leftovers of an interrupted accept".to_string());
        }
        Ok(note)
    }
}

/// If an accept was interrupted (killed, power lost) in this repository, roll it back and
/// clean up; a note says what was done. Does nothing (None) when there is nothing to
/// recover, or when another accept holds the lock right now (it is alive, not interrupted).
pub fn recover(paths: &RepoPaths) -> Result<Option<String>> {
    let dir = accept_dir(paths);
    if !leftovers(&dir) {
        return Ok(None);
    }
    match try_lock(paths)? {
        Some(lock) => lock.recover(),
        None => Ok(None),
    }
}

/// Whether an accept left anything behind (cheap: no lock, nothing created).
fn leftovers(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.as_encoded_bytes();
        name == JOURNAL.as_bytes()
            || name.starts_with(b".journal-")
            || (name == b"staging"
                && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_some()))
    })
}

fn stage_dir(paths: &RepoPaths, txid: &str) -> PathBuf {
    accept_dir(paths).join("staging").join(txid)
}

fn remove_tree(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Checking a plan against the disk

/// What is at a path, looked at without following a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Missing,
    Dir { mode: u32, dev: u64 },
    File { mode: u32, dev: u64 },
    Link { dev: u64 },
    Other,
}

impl Node {
    fn of(st: &libc::stat) -> Node {
        let mode = st.st_mode as u32;
        let dev = st.st_dev as u64;
        match mode & libc::S_IFMT as u32 {
            m if m == libc::S_IFDIR as u32 => Node::Dir {
                mode: mode & 0o7777,
                dev,
            },
            m if m == libc::S_IFREG as u32 => Node::File {
                mode: mode & 0o7777,
                dev,
            },
            m if m == libc::S_IFLNK as u32 => Node::Link { dev },
            _ => Node::Other,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Node::Missing => "gone",
            Node::Dir { .. } => "a folder",
            Node::File { .. } => "a file",
            Node::Link { .. } => "a symlink",
            Node::Other => "not a regular file or folder",
        }
    }
}

/// Paths relative to the working tree.
type Paths = Vec<Vec<u8>>;

/// The working tree, seen from one directory fd opened once.
struct Disk {
    root: OwnedFd,
    nodes: HashMap<Vec<u8>, Node>,
}

impl Disk {
    fn open(workdir: &Path) -> Result<Disk> {
        Ok(Disk {
            root: sys::open_dir(workdir).at(workdir)?,
            nodes: HashMap::new(),
        })
    }

    /// What is at `path`; its parents must be real folders (the caller walked them).
    fn node(&mut self, path: &[u8]) -> Result<Node> {
        if let Some(n) = self.nodes.get(path) {
            return Ok(*n);
        }
        let (parent, name) = split(path);
        let n = match sys::open_beneath(&self.root, parent) {
            Ok(dir) => match sys::lstat_at(&dir, name) {
                Ok(st) => Node::of(&st),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Node::Missing,
                Err(e) => return Err(tree_io(path, e)),
            },
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Node::Missing,
            Err(e) => return Err(tree_io(parent, e)),
        };
        self.nodes.insert(path.to_vec(), n);
        Ok(n)
    }

    fn content(&self, path: &[u8], link: bool) -> Result<Vec<u8>> {
        let (parent, name) = split(path);
        let dir = sys::open_beneath(&self.root, parent).map_err(|e| tree_io(parent, e))?;
        if link {
            sys::readlink_at(&dir, name)
        } else {
            sys::read_at(&dir, name)
        }
        .map_err(|e| tree_io(path, e))
    }

    /// Everything below the folder `path` (not following symlinks): (files, folders).
    fn below(&mut self, path: &[u8]) -> Result<(Paths, Paths)> {
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        let mut todo = vec![path.to_vec()];
        while let Some(d) = todo.pop() {
            let fd = sys::open_beneath(&self.root, &d).map_err(|e| tree_io(&d, e))?;
            for name in sys::list(&fd).map_err(|e| tree_io(&d, e))? {
                let child = join(&d, &name);
                match self.node(&child)? {
                    Node::Dir { .. } => {
                        dirs.push(child.clone());
                        todo.push(child);
                    }
                    Node::Missing => {}
                    _ => files.push(child),
                }
            }
        }
        Ok((files, dirs))
    }
}

/// An I/O error on a path of the working tree, naming it quoted.
fn tree_io(rel: &[u8], e: io::Error) -> Error {
    let shown = if rel.is_empty() {
        ".".to_string()
    } else {
        quote_path(rel).into_owned()
    };
    Error::Io {
        path: PathBuf::from(shown),
        source: e,
    }
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if !p.is_empty() {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The proper ancestors of a path, outermost first: `a/b/c` gives `a`, `a/b`.
fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(move |(i, _)| &path[..i])
}

fn depth(path: &[u8]) -> usize {
    path.iter().filter(|b| **b == b'/').count()
}

fn is_under(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// Why a path from a plan can never be written, if it cannot.
fn bad_path(p: &[u8]) -> Option<&'static str> {
    if p.is_empty() || p[0] == b'/' || p.contains(&0) {
        return Some("is not a path inside the working tree");
    }
    for comp in p.split(|b| *b == b'/') {
        if comp.is_empty() || comp == b"." || comp == b".." {
            return Some("is not a path inside the working tree");
        }
        if comp.eq_ignore_ascii_case(b".git") {
            return Some("is inside a .git folder, which accept never writes");
        }
    }
    None
}

/// Paths quoted and listed, at most five.
fn list_paths(paths: &[Vec<u8>]) -> String {
    let mut shown: Vec<String> = paths
        .iter()
        .take(5)
        .map(|p| quote_path(p).into_owned())
        .collect();
    if paths.len() > 5 {
        shown.push(format!("and {} more", paths.len() - 5));
    }
    shown.join(", ")
}

/// One file to put in place.
#[derive(Debug)]
struct Install {
    /// Index of its change.
    change: usize,
    /// The nearest folder above it that exists now and stays (where a temp file on the
    /// target's own filesystem can go), and that folder's device.
    anchor: Vec<u8>,
    anchor_dev: u64,
    /// Permission bits to set (a regular file replacing a regular file keeps the user's
    /// bits, the executable bit adjusted); None: created 0o666 / 0o777 under the umask.
    perm: Option<u32>,
}

/// The steps a checked plan takes, in order: originals out, folders out, folders in, new
/// contents in.
#[derive(Debug, Default)]
struct Program {
    /// (path, device) of each file or symlink moved away.
    backups: Vec<(Vec<u8>, u64)>,
    /// (folder, mode), deepest first.
    rmdirs: Vec<(Vec<u8>, u32)>,
    /// Folders to create, outermost first.
    mkdirs: Vec<Vec<u8>>,
    installs: Vec<Install>,
}

impl Program {
    fn is_empty(&self) -> bool {
        self.backups.is_empty()
            && self.rmdirs.is_empty()
            && self.mkdirs.is_empty()
            && self.installs.is_empty()
    }
}

/// Check `changes` against the working tree: the refusals, with reasons. `open` tells the
/// paths whose current content is an editor's buffer (the language server's open documents):
/// their disk content is not compared with the plan's `old`.
pub fn check(
    paths: &RepoPaths,
    changes: &[FileChange],
    open: &dyn Fn(&[u8]) -> bool,
) -> Result<Vec<Refusal>> {
    let mut disk = Disk::open(&paths.workdir)?;
    Ok(prepare(&mut disk, changes, open, &[])?.0)
}

fn prepare(
    disk: &mut Disk,
    changes: &[FileChange],
    open: &dyn Fn(&[u8]) -> bool,
    beside: &[Vec<u8>],
) -> Result<(Vec<Refusal>, Program)> {
    let removed: HashSet<&[u8]> = changes
        .iter()
        .filter(|c| c.old.is_some())
        .map(|c| c.path.as_slice())
        .collect();
    let installed: HashSet<&[u8]> = changes
        .iter()
        .filter(|c| c.new.is_some())
        .map(|c| c.path.as_slice())
        .collect();
    let mut refused = Vec::new();
    let mut prog = Program::default();
    let mut mkdirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut rmdirs: BTreeSet<Vec<u8>> = BTreeSet::new();
    let root_dev = match sys::fstat(&disk.root) {
        Ok(st) => st.st_dev as u64,
        Err(e) => return Err(tree_io(b"", e)),
    };

    for (i, c) in changes.iter().enumerate() {
        let mut refuse = |reason: String| {
            refused.push(Refusal {
                path: c.path.clone(),
                reason,
            })
        };
        if let Some(why) = bad_path(&c.path) {
            refuse(why.to_string());
            continue;
        }
        if let Some(m) = c
            .new_mode
            .filter(|m| ![MODE_FILE, MODE_EXEC, MODE_LINK].contains(m))
        {
            refuse(format!("has a file mode accept does not write ({m:o})"));
            continue;
        }
        if c.new_mode == Some(MODE_LINK)
            && c.new
                .as_deref()
                .is_some_and(|t| t.is_empty() || t.contains(&0))
        {
            refuse("is a symlink with an invalid target".into());
            continue;
        }

        // Every parent must be a real folder inside the tree, or something the plan removes
        // (then it and everything below it are created afresh).
        let mut blocked = None;
        let mut fresh = false;
        let mut anchor: (&[u8], u64) = (&[], root_dev);
        let mut new_dirs = Vec::new();
        for a in ancestors(&c.path) {
            if c.new.is_some() && installed.contains(a) {
                blocked = Some(format!(
                    "{} is both a file and a folder in the attempt",
                    quote_path(a)
                ));
                break;
            }
            if fresh {
                new_dirs.push(a.to_vec());
                continue;
            }
            match disk.node(a)? {
                Node::Dir { dev, .. } => anchor = (a, dev),
                Node::Missing => {
                    fresh = true;
                    new_dirs.push(a.to_vec());
                }
                Node::Link { .. } | Node::File { .. } if removed.contains(a) => {
                    fresh = true;
                    new_dirs.push(a.to_vec());
                }
                Node::Link { .. } => {
                    blocked = Some(format!("{} is a symlink", quote_path(a)));
                    break;
                }
                Node::File { .. } => {
                    blocked = Some(format!("{} is a file, not a folder", quote_path(a)));
                    break;
                }
                n => {
                    blocked = Some(format!("{} is {}", quote_path(a), n.describe()));
                    break;
                }
            }
        }
        if let Some(why) = blocked {
            refuse(why);
            continue;
        }

        let node = if fresh {
            Node::Missing
        } else {
            disk.node(&c.path)?
        };
        let expect_link = c.old_mode == Some(MODE_LINK);
        let mut perm = None;
        let ok = match (&c.old, node) {
            // The editor holds this file's current content: on disk it may only be a plain
            // file (or not there yet), never something an edit would write through.
            (Some(_), n) if open(&c.path) => match n {
                Node::Missing | Node::File { .. } => true,
                n => {
                    refuse(format!("{} is {}", quote_path(&c.path), n.describe()));
                    false
                }
            },
            (Some(old), Node::File { mode, .. }) if !expect_link => {
                if disk.content(&c.path, false)? != *old {
                    refuse("changed on disk since the diff was made".into());
                    false
                } else {
                    if c.new.is_some() && c.new_mode != Some(MODE_LINK) {
                        let base = mode & 0o777;
                        perm = Some(if c.new_mode == Some(MODE_EXEC) {
                            base | ((base & 0o444) >> 2) | 0o100
                        } else {
                            base & !0o111
                        });
                    }
                    true
                }
            }
            (Some(old), Node::Link { .. }) if expect_link => {
                if disk.content(&c.path, true)? != *old {
                    refuse("changed on disk since the diff was made".into());
                    false
                } else {
                    true
                }
            }
            (Some(_), Node::Missing) => {
                refuse("is gone from your working tree since the diff was made".into());
                false
            }
            (Some(_), n) => {
                refuse(format!(
                    "changed on disk since the diff was made (it is now {})",
                    n.describe()
                ));
                false
            }
            (None, Node::Missing) => true,
            (None, Node::Dir { .. }) => {
                // A folder must go for a file to take its place: only if everything in it
                // goes too.
                let (files, dirs) = disk.below(&c.path)?;
                let kept: Vec<Vec<u8>> = files
                    .into_iter()
                    .filter(|f| !removed.contains(f.as_slice()))
                    .collect();
                if kept.is_empty() {
                    rmdirs.insert(c.path.clone());
                    rmdirs.extend(dirs);
                    true
                } else {
                    refuse(format!(
                        "{} is a folder that still holds your files {}",
                        quote_path(&c.path),
                        list_paths(&kept)
                    ));
                    false
                }
            }
            (None, _) => {
                refuse(format!(
                    "would overwrite your untracked file {}",
                    quote_path(&c.path)
                ));
                false
            }
        };
        if !ok {
            continue;
        }
        match node {
            Node::File { dev, .. } | Node::Link { dev } if c.old.is_some() => {
                prog.backups.push((c.path.clone(), dev));
            }
            _ => {}
        }
        if c.new.is_some() {
            mkdirs.extend(new_dirs);
            prog.installs.push(Install {
                change: i,
                anchor: anchor.0.to_vec(),
                anchor_dev: anchor.1,
                perm,
            });
        }
    }
    if !refused.is_empty() {
        return Ok((refused, Program::default()));
    }

    // Folders emptied by deletions go too, as git removes them; never the top, never one
    // that something is installed in.
    let gone: HashSet<Vec<u8>> = prog.backups.iter().map(|(p, _)| p.clone()).collect();
    let mut candidates: Vec<Vec<u8>> = prog
        .backups
        .iter()
        .flat_map(|(p, _)| ancestors(p).map(<[u8]>::to_vec).collect::<Vec<_>>())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    candidates.sort_by_key(|d| std::cmp::Reverse(depth(d)));
    for d in candidates {
        if rmdirs.contains(&d)
            || installed.iter().any(|p| is_under(p, &d) || *p == d)
            || beside.iter().any(|p| is_under(p, &d))
        {
            continue;
        }
        if !matches!(disk.node(&d)?, Node::Dir { .. }) {
            continue;
        }
        let fd = sys::open_beneath(&disk.root, &d).map_err(|e| tree_io(&d, e))?;
        let names = sys::list(&fd).map_err(|e| tree_io(&d, e))?;
        if names.iter().all(|n| {
            let child = join(&d, n);
            gone.contains(&child) || rmdirs.contains(&child)
        }) {
            rmdirs.insert(d);
        }
    }
    for d in rmdirs {
        let mode = match disk.node(&d)? {
            Node::Dir { mode, .. } => mode,
            _ => 0o755,
        };
        prog.rmdirs.push((d, mode));
    }
    prog.rmdirs
        .sort_by_key(|(d, _)| std::cmp::Reverse(depth(d)));
    prog.mkdirs = mkdirs.into_iter().collect();
    prog.mkdirs.sort_by_key(|d| depth(d));
    Ok((refused, prog))
}

// ---------------------------------------------------------------------------------------
// The journal

const JOURNAL: &str = "journal.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    /// Temp files are being created in the tree (another filesystem); nothing else changed.
    Staging,
    /// The tree is being changed: roll back.
    Applying,
    /// Every change is in place: only backups and temp files remain to remove.
    Committed,
}

/// Where a staged new content or a backup of an original is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Loc {
    /// In the accept's private staging folder under the state dir.
    Staging { name: String },
    /// A hidden name in a folder of the tree (that folder is on another filesystem).
    InTree { dir: Vec<u8>, name: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    /// The original at `target` was moved to `to`.
    Backup { target: Vec<u8>, to: Loc },
    /// The (empty) folder was removed; it had `mode`.
    RemoveDir { dir: Vec<u8>, mode: u32 },
    /// The folder was created.
    MakeDir { dir: Vec<u8> },
    /// The staged file (device and inode, which a rename keeps) was renamed to `target`.
    Install {
        target: Vec<u8>,
        from: Loc,
        dev: u64,
        ino: u64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Journal {
    version: u32,
    txid: String,
    workdir: PathBuf,
    phase: Phase,
    steps: Vec<Step>,
}

fn write_journal(adir: &OwnedFd, adir_path: &Path, j: &Journal) -> Result<()> {
    let bytes = serde_json::to_vec(j).map_err(|e| Error::Invalid(e.to_string()))?;
    let tmp = format!(".journal-{}.tmp", sys::random_hex());
    let result = (|| -> io::Result<()> {
        let mut f = sys::create_excl(adir, tmp.as_bytes(), 0o600)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        sys::rename(adir, tmp.as_bytes(), adir, JOURNAL.as_bytes(), false)?;
        sys::fsync(adir)
    })();
    if result.is_err() {
        let _ = sys::unlink(adir, tmp.as_bytes(), false);
    }
    result.at(adir_path.join(JOURNAL))
}

// ---------------------------------------------------------------------------------------
// Carrying a plan out

/// A plan carried out on the tree but not committed yet: [`Transaction::commit`] keeps it,
/// [`Transaction::rollback`] (or dropping it, or a crash and the next [`recover`]) puts every
/// file back. Holds the repository lock throughout.
pub struct Transaction {
    /// Held until the transaction ends (commit, rollback or drop).
    _lock: RepoLock,
    work: Option<Work>,
}

struct Work {
    root: OwnedFd,
    adir: OwnedFd,
    adir_path: PathBuf,
    stage: OwnedFd,
    stage_path: PathBuf,
    journal: Journal,
}

/// Check `changes` again (nothing but them, against the disk as it is now) and carry them
/// out, uncommitted. Any refusal or failure (a full disk included) leaves the tree as it was
/// and nothing behind. `beside` names paths someone else (the editor) changes at the same
/// time: a folder holding one of them is never removed as emptied.
pub fn begin(lock: RepoLock, changes: &[FileChange], beside: &[Vec<u8>]) -> Result<Transaction> {
    let paths = lock.paths.clone();
    let mut disk = Disk::open(&paths.workdir)?;
    let (refused, prog) = prepare(&mut disk, changes, &|_| false, beside)?;
    if !refused.is_empty() {
        return Err(Error::Invalid(format!(
            "nothing was written: {}",
            refused
                .iter()
                .map(Refusal::line)
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    if prog.is_empty() {
        return Ok(Transaction {
            _lock: lock,
            work: None,
        });
    }
    let adir_path = accept_dir(&paths);
    let adir = sys::open_dir(&adir_path).at(&adir_path)?;
    let staging = adir_path.join("staging");
    std::fs::create_dir_all(&staging).at(&staging)?;
    let txid = sys::random_hex();
    let stage_path = staging.join(&txid);
    {
        let sfd = sys::open_dir(&staging).at(&staging)?;
        sys::mkdir(&sfd, txid.as_bytes(), 0o700).at(&stage_path)?;
    }
    let stage = sys::open_dir(&stage_path).at(&stage_path)?;
    let mut work = Work {
        root: disk.root,
        adir,
        adir_path: adir_path.clone(),
        stage,
        stage_path,
        journal: Journal {
            version: 1,
            txid,
            workdir: paths.workdir.clone(),
            phase: Phase::Applying,
            steps: Vec::new(),
        },
    };
    match work.run(&prog, changes) {
        Ok(()) => Ok(Transaction {
            _lock: lock,
            work: Some(work),
        }),
        Err(e) => {
            // Put everything back; if even that fails, the journal stays for the next
            // command to finish the job.
            if let Err(undo_error) = work.rollback() {
                return Err(Error::Invalid(format!(
                    "{e}; and putting your files back failed too ({undo_error}): the next fanout command will retry"
                )));
            }
            Err(e)
        }
    }
}

/// Carry `changes` out and commit: [`begin`] then [`Transaction::commit`].
pub fn apply(lock: RepoLock, changes: &[FileChange]) -> Result<()> {
    begin(lock, changes, &[])?.commit()
}

impl Transaction {
    /// Keep the changes: the journal is marked committed, then backups and temp files go.
    pub fn commit(mut self) -> Result<()> {
        let Some(mut w) = self.work.take() else {
            return Ok(());
        };
        w.journal.phase = Phase::Committed;
        if let Err(e) = write_journal(&w.adir, &w.adir_path, &w.journal) {
            w.journal.phase = Phase::Applying;
            w.rollback()?;
            return Err(e);
        }
        point("accept.committed");
        finish(&w.root, Some(&w.stage), &w.journal)?;
        point("accept.cleaned");
        w.close()?;
        point("accept.done");
        Ok(())
    }

    /// Put every file back as it was.
    pub fn rollback(mut self) -> Result<()> {
        match self.work.take() {
            Some(w) => w.rollback(),
            None => Ok(()),
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if let Some(w) = self.work.take() {
            if let Err(e) = w.rollback() {
                tracing::warn!("rolling back an accept: {e}");
            }
        }
    }
}

impl Work {
    fn run(&mut self, prog: &Program, changes: &[FileChange]) -> Result<()> {
        let stage_dev = sys::fstat(&self.stage).at(&self.stage_path)?.st_dev as u64;
        // 1. New contents, staged in the private folder (nothing in the tree yet). Each is
        //    identified by its inode from now on.
        let mut installs: Vec<(Vec<u8>, Loc, u64, u64)> = Vec::new();
        let mut in_tree: Vec<usize> = Vec::new();
        for ins in &prog.installs {
            let c = &changes[ins.change];
            if ins.anchor_dev == stage_dev {
                let name = format!("{}.new", sys::random_hex());
                let (dev, ino) = stage_file(&self.stage, name.as_bytes(), c, ins.perm)
                    .map_err(|e| tree_io(&c.path, e))?;
                installs.push((c.path.clone(), Loc::Staging { name }, dev, ino));
                point("accept.staged");
            } else {
                let name = format!(".fanout-{}.tmp", sys::random_hex());
                in_tree.push(installs.len());
                installs.push((
                    c.path.clone(),
                    Loc::InTree {
                        dir: ins.anchor.clone(),
                        name,
                    },
                    0,
                    0,
                ));
            }
        }
        sys::fsync(&self.stage).at(&self.stage_path)?;

        // 2. The journal: every step, before the first change to the tree.
        let mut steps = Vec::new();
        for (path, dev) in &prog.backups {
            let to = if *dev == stage_dev {
                Loc::Staging {
                    name: format!("{}.old", sys::random_hex()),
                }
            } else {
                Loc::InTree {
                    dir: split(path).0.to_vec(),
                    name: format!(".fanout-{}.old", sys::random_hex()),
                }
            };
            steps.push(Step::Backup {
                target: path.clone(),
                to,
            });
        }
        for (dir, mode) in &prog.rmdirs {
            steps.push(Step::RemoveDir {
                dir: dir.clone(),
                mode: *mode,
            });
        }
        for dir in &prog.mkdirs {
            steps.push(Step::MakeDir { dir: dir.clone() });
        }
        let first_install = steps.len();
        for (target, from, dev, ino) in &installs {
            steps.push(Step::Install {
                target: target.clone(),
                from: from.clone(),
                dev: *dev,
                ino: *ino,
            });
        }
        self.journal.steps = steps;
        if !in_tree.is_empty() {
            // Temp files on the target's own filesystem: listed before they exist.
            self.journal.phase = Phase::Staging;
            write_journal(&self.adir, &self.adir_path, &self.journal)?;
            point("accept.journaled");
            for &k in &in_tree {
                let ins = prog.installs.get(k).expect("one install per staged file");
                let c = &changes[ins.change];
                let Step::Install {
                    from: Loc::InTree { dir, name },
                    dev,
                    ino,
                    ..
                } = &mut self.journal.steps[first_install + k]
                else {
                    unreachable!("in-tree installs are in-tree");
                };
                let dfd = sys::open_beneath(&self.root, dir).map_err(|e| tree_io(dir, e))?;
                let (d, i) = stage_file(&dfd, name.as_bytes(), c, ins.perm)
                    .map_err(|e| tree_io(&c.path, e))?;
                (*dev, *ino) = (d, i);
                point("accept.temp");
            }
        }
        self.journal.phase = Phase::Applying;
        write_journal(&self.adir, &self.adir_path, &self.journal)?;
        point("accept.journaled");

        // 3. The tree: originals out, folders out, folders in, new contents in.
        let by_path: HashMap<&[u8], &FileChange> =
            changes.iter().map(|c| (c.path.as_slice(), c)).collect();
        let mut touched: BTreeSet<Vec<u8>> = BTreeSet::new();
        for k in 0..self.journal.steps.len() {
            let step = self.journal.steps[k].clone();
            match &step {
                Step::Backup { target, to } => {
                    let (parent, name) = split(target);
                    let pfd =
                        sys::open_beneath(&self.root, parent).map_err(|e| tree_io(parent, e))?;
                    let (tfd, tname) = self.loc(to)?;
                    sys::rename(&pfd, name, &tfd, tname.as_bytes(), true)
                        .map_err(|e| tree_io(target, e))?;
                    touched.insert(parent.to_vec());
                    point("accept.backup");
                    // The original, now safe in its backup, must still be what the diff
                    // showed: the user may have saved over it a moment ago.
                    if let Some(c) = by_path.get(target.as_slice()) {
                        let link = c.old_mode == Some(MODE_LINK);
                        let now = if link {
                            sys::readlink_at(&tfd, tname.as_bytes())
                        } else {
                            sys::read_at(&tfd, tname.as_bytes())
                        };
                        if now.ok().as_ref() != c.old.as_ref() {
                            return Err(Error::Invalid(format!(
                                "{} changed while accepting; nothing was written",
                                quote_path(target)
                            )));
                        }
                    }
                }
                Step::RemoveDir { dir, .. } => {
                    let (parent, name) = split(dir);
                    let pfd =
                        sys::open_beneath(&self.root, parent).map_err(|e| tree_io(parent, e))?;
                    sys::unlink(&pfd, name, true).map_err(|e| {
                        if e.raw_os_error() == Some(libc::ENOTEMPTY) {
                            Error::Invalid(format!(
                                "{} got new files while accepting; nothing was written",
                                quote_path(dir)
                            ))
                        } else {
                            tree_io(dir, e)
                        }
                    })?;
                    touched.insert(parent.to_vec());
                    point("accept.rmdir");
                }
                Step::MakeDir { dir } => {
                    let (parent, name) = split(dir);
                    let pfd =
                        sys::open_beneath(&self.root, parent).map_err(|e| tree_io(parent, e))?;
                    // 0o777 under the umask, as any new folder.
                    sys::mkdir(&pfd, name, 0o777).map_err(|e| tree_io(dir, e))?;
                    touched.insert(parent.to_vec());
                    point("accept.mkdir");
                }
                Step::Install { target, from, .. } => {
                    let (parent, name) = split(target);
                    let pfd =
                        sys::open_beneath(&self.root, parent).map_err(|e| tree_io(parent, e))?;
                    let (ffd, fname) = self.loc(from)?;
                    sys::rename(&ffd, fname.as_bytes(), &pfd, name, true).map_err(|e| {
                        if e.raw_os_error() == Some(libc::EEXIST) {
                            Error::Invalid(format!(
                                "{} appeared while accepting; nothing was written",
                                quote_path(target)
                            ))
                        } else {
                            tree_io(target, e)
                        }
                    })?;
                    touched.insert(parent.to_vec());
                    point("accept.install");
                }
            }
        }
        // Durable before the journal says so.
        for dir in &touched {
            if let Ok(fd) = sys::open_beneath(&self.root, dir) {
                let _ = sys::fsync(&fd);
            }
        }
        point("accept.synced");
        Ok(())
    }

    /// The folder fd and name of a location.
    fn loc(&self, loc: &Loc) -> Result<(OwnedFd, String)> {
        loc_fd(&self.root, Some(&self.stage), loc)
    }

    fn rollback(self) -> Result<()> {
        undo(&self.root, Some(&self.stage), &self.journal)?;
        self.close()
    }

    /// Remove the staging folder and the journal.
    fn close(self) -> Result<()> {
        drop(self.stage);
        remove_tree(&self.stage_path)?;
        match sys::unlink(&self.adir, JOURNAL.as_bytes(), false) {
            Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                return Err(e).at(self.adir_path.join(JOURNAL))
            }
            _ => {}
        }
        let _ = sys::fsync(&self.adir);
        Ok(())
    }
}

fn loc_fd(root: &OwnedFd, stage: Option<&OwnedFd>, loc: &Loc) -> Result<(OwnedFd, String)> {
    match loc {
        Loc::Staging { name } => {
            let stage = stage.ok_or_else(|| {
                Error::Invalid("the staging folder of an interrupted accept is gone".into())
            })?;
            Ok((sys::dup(stage).map_err(|e| tree_io(b"", e))?, name.clone()))
        }
        Loc::InTree { dir, name } => Ok((
            sys::open_beneath(root, dir).map_err(|e| tree_io(dir, e))?,
            name.clone(),
        )),
    }
}

/// Write one new content as `name` in `dir`, created exclusively, never through a symlink:
/// a regular file (0o666 or 0o777 under the umask, or exactly `perm`), fsynced, or a symlink.
/// Returns its (device, inode). On failure nothing is left.
fn stage_file(
    dir: &OwnedFd,
    name: &[u8],
    c: &FileChange,
    perm: Option<u32>,
) -> io::Result<(u64, u64)> {
    let bytes = c.new.as_deref().unwrap_or_default();
    let result = (|| -> io::Result<(u64, u64)> {
        if c.new_mode == Some(MODE_LINK) {
            sys::symlink(bytes, dir, name)?;
        } else {
            let create = if c.new_mode == Some(MODE_EXEC) {
                0o777
            } else {
                0o666
            };
            let mut f = sys::create_excl(dir, name, create)?;
            f.write_all(bytes)?;
            if let Some(p) = perm {
                use std::os::unix::fs::PermissionsExt;
                f.set_permissions(std::fs::Permissions::from_mode(p))?;
            }
            f.sync_all()?;
        }
        let st = sys::lstat_at(dir, name)?;
        Ok((st.st_dev as u64, st.st_ino as u64))
    })();
    if result.is_err() {
        let _ = sys::unlink(dir, name, false);
    }
    result
}

/// Undo the steps of `journal`, last first; each undo decides from the disk whether its step
/// happened, so running it twice (a recovery killed half-way) is harmless.
fn undo(root: &OwnedFd, stage: Option<&OwnedFd>, journal: &Journal) -> Result<()> {
    if journal.phase == Phase::Committed {
        return finish(root, stage, journal);
    }
    if journal.phase == Phase::Applying {
        for step in journal.steps.iter().rev() {
            match step {
                Step::Install {
                    target, dev, ino, ..
                } => {
                    let (parent, name) = split(target);
                    let Ok(pfd) = sys::open_beneath(root, parent) else {
                        continue; // its folder is not there: neither is the file
                    };
                    if let Ok(st) = sys::lstat_at(&pfd, name) {
                        if *ino != 0 && (st.st_dev as u64, st.st_ino as u64) == (*dev, *ino) {
                            sys::unlink(&pfd, name, false).map_err(|e| tree_io(target, e))?;
                        }
                    }
                }
                Step::MakeDir { dir } => {
                    let (parent, name) = split(dir);
                    if let Ok(pfd) = sys::open_beneath(root, parent) {
                        match sys::unlink(&pfd, name, true) {
                            Err(e)
                                if !matches!(
                                    e.raw_os_error(),
                                    Some(libc::ENOENT | libc::ENOTEMPTY | libc::ENOTDIR)
                                ) =>
                            {
                                return Err(tree_io(dir, e))
                            }
                            _ => {}
                        }
                    }
                }
                Step::RemoveDir { dir, mode } => {
                    let (parent, name) = split(dir);
                    let pfd = sys::open_beneath(root, parent).map_err(|e| tree_io(parent, e))?;
                    match sys::mkdir(&pfd, name, 0o700) {
                        Err(e) if e.raw_os_error() != Some(libc::EEXIST) => {
                            return Err(tree_io(dir, e))
                        }
                        _ => {}
                    }
                    let dfd = sys::open_beneath(root, dir).map_err(|e| tree_io(dir, e))?;
                    sys::fchmod(&dfd, *mode).map_err(|e| tree_io(dir, e))?;
                }
                Step::Backup { target, to } => {
                    let Ok((tfd, tname)) = loc_fd(root, stage, to) else {
                        continue; // the backup's folder is gone: it was never made
                    };
                    if sys::lstat_at(&tfd, tname.as_bytes()).is_err() {
                        continue; // not moved yet, or already back
                    }
                    let (parent, name) = split(target);
                    let pfd = sys::open_beneath(root, parent).map_err(|e| tree_io(parent, e))?;
                    sys::rename(&tfd, tname.as_bytes(), &pfd, name, true).map_err(|e| {
                        Error::Invalid(format!(
                            "cannot put {} back ({e}); your original is at {}",
                            quote_path(target),
                            match to {
                                Loc::Staging { name } => name.clone(),
                                Loc::InTree { dir, name } => {
                                    quote_path(&join(dir, name.as_bytes())).into_owned()
                                }
                            }
                        ))
                    })?;
                }
            }
            point("accept.undo");
        }
    }
    remove_temps(root, journal)
}

/// A committed journal: remove the backups and any temp file left.
fn finish(root: &OwnedFd, stage: Option<&OwnedFd>, journal: &Journal) -> Result<()> {
    for step in &journal.steps {
        if let Step::Backup { to, .. } = step {
            if let Ok((fd, name)) = loc_fd(root, stage, to) {
                let _ = sys::unlink(&fd, name.as_bytes(), false);
            }
        }
    }
    remove_temps(root, journal)
}

/// Remove the temp files a journal names in the tree (the staging folder goes whole).
fn remove_temps(root: &OwnedFd, journal: &Journal) -> Result<()> {
    for step in &journal.steps {
        let (Step::Install {
            from: Loc::InTree { dir, name },
            ..
        }
        | Step::Backup {
            to: Loc::InTree { dir, name },
            ..
        }) = step
        else {
            continue;
        };
        if let Ok(fd) = sys::open_beneath(root, dir) {
            match sys::unlink(&fd, name.as_bytes(), false) {
                Err(e) if e.raw_os_error() != Some(libc::ENOENT) => {
                    return Err(tree_io(&join(dir, name.as_bytes()), e))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// System calls, relative to directory fds, never following a symlink

mod sys {
    use std::ffi::{CStr, CString};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::path::Path;

    fn cstr(b: &[u8]) -> io::Result<CString> {
        CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    }

    /// A folder by absolute path (the working tree's top, the state dir), itself not a symlink.
    pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
        use std::os::unix::ffi::OsStrExt;
        let c = cstr(path.as_os_str().as_bytes())?;
        let fd = check(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        })?;
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn dup(fd: &OwnedFd) -> io::Result<OwnedFd> {
        let fd = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) })?;
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The folder `rel` below `root`, resolved without following any symlink and without
    /// leaving `root`: `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, or where the kernel
    /// lacks it, `openat(O_NOFOLLOW | O_DIRECTORY)` one component at a time. A symlink
    /// anywhere on the way fails (ELOOP, EXDEV or ENOTDIR).
    pub fn open_beneath(root: &OwnedFd, rel: &[u8]) -> io::Result<OwnedFd> {
        if rel.is_empty() {
            return dup(root);
        }
        if rel[0] == b'/'
            || rel
                .split(|b| *b == b'/')
                .any(|c| c.is_empty() || c == b"." || c == b"..")
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let c = cstr(rel)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        #[cfg(target_os = "linux")]
        {
            let mut how: libc::open_how = unsafe { std::mem::zeroed() };
            how.flags = flags as u64;
            how.resolve =
                libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
            let mut tries = 0;
            loop {
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_openat2,
                        root.as_raw_fd(),
                        c.as_ptr(),
                        &how as *const libc::open_how,
                        std::mem::size_of::<libc::open_how>(),
                    )
                };
                if rc >= 0 {
                    return Ok(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) });
                }
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    // The lookup raced with a rename somewhere: the kernel asks to retry.
                    Some(libc::EAGAIN) if tries < 16 => tries += 1,
                    // No openat2 here (old kernel, a seccomp filter): component by component.
                    Some(libc::ENOSYS | libc::EPERM) => break,
                    _ => return Err(e),
                }
            }
        }
        let _ = c;
        let mut cur = dup(root)?;
        for comp in rel.split(|b| *b == b'/') {
            let name = cstr(comp)?;
            let fd = check(unsafe { libc::openat(cur.as_raw_fd(), name.as_ptr(), flags) })?;
            cur = unsafe { OwnedFd::from_raw_fd(fd) };
        }
        Ok(cur)
    }

    pub fn lstat_at(dir: &OwnedFd, name: &[u8]) -> io::Result<libc::stat> {
        let c = cstr(name)?;
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe {
            libc::fstatat(
                dir.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        Ok(st)
    }

    pub fn fstat(fd: &OwnedFd) -> io::Result<libc::stat> {
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        Ok(st)
    }

    /// A regular file's bytes (a symlink, a FIFO or a device is refused, never opened through).
    pub fn read_at(dir: &OwnedFd, name: &[u8]) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let c = cstr(name)?;
        let fd = check(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        })?;
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let st = fstat(&fd)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut out = Vec::with_capacity(st.st_size as usize);
        std::fs::File::from(fd).read_to_end(&mut out)?;
        Ok(out)
    }

    pub fn readlink_at(dir: &OwnedFd, name: &[u8]) -> io::Result<Vec<u8>> {
        let c = cstr(name)?;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = unsafe {
                libc::readlinkat(
                    dir.as_raw_fd(),
                    c.as_ptr(),
                    buf.as_mut_ptr() as *mut libc::c_char,
                    buf.len(),
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            if (n as usize) < buf.len() {
                buf.truncate(n as usize);
                return Ok(buf);
            }
            buf.resize(buf.len() * 2, 0);
        }
    }

    /// The names in a folder, without `.` and `..`.
    pub fn list(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
        let fd = dup(dir)?;
        let raw = fd.as_raw_fd();
        let d = unsafe { libc::fdopendir(raw) };
        if d.is_null() {
            return Err(io::Error::last_os_error());
        }
        std::mem::forget(fd); // closedir closes it
        unsafe { libc::rewinddir(d) };
        let mut names = Vec::new();
        loop {
            let e = unsafe { libc::readdir(d) };
            if e.is_null() {
                break;
            }
            let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) }.to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        unsafe { libc::closedir(d) };
        Ok(names)
    }

    /// Rename within or across folders; with `noreplace`, never over an existing name.
    pub fn rename(
        from_dir: &OwnedFd,
        from: &[u8],
        to_dir: &OwnedFd,
        to: &[u8],
        noreplace: bool,
    ) -> io::Result<()> {
        let (a, b) = (cstr(from)?, cstr(to)?);
        if noreplace {
            #[cfg(target_os = "linux")]
            {
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        from_dir.as_raw_fd(),
                        a.as_ptr(),
                        to_dir.as_raw_fd(),
                        b.as_ptr(),
                        libc::RENAME_NOREPLACE,
                    )
                };
                if rc == 0 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
                    return Err(e);
                }
            }
            // No RENAME_NOREPLACE here: look first (we hold the lock; only the user races).
            match lstat_at(to_dir, to) {
                Ok(_) => return Err(io::Error::from_raw_os_error(libc::EEXIST)),
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        check(unsafe {
            libc::renameat(
                from_dir.as_raw_fd(),
                a.as_ptr(),
                to_dir.as_raw_fd(),
                b.as_ptr(),
            )
        })
        .map(|_| ())
    }

    /// unlinkat: a file or symlink itself, or (with `dir`) an empty folder.
    pub fn unlink(dir: &OwnedFd, name: &[u8], is_dir: bool) -> io::Result<()> {
        let c = cstr(name)?;
        let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
        check(unsafe { libc::unlinkat(dir.as_raw_fd(), c.as_ptr(), flags) }).map(|_| ())
    }

    pub fn mkdir(dir: &OwnedFd, name: &[u8], mode: u32) -> io::Result<()> {
        let c = cstr(name)?;
        check(unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode as libc::mode_t) })
            .map(|_| ())
    }

    pub fn fchmod(fd: &OwnedFd, mode: u32) -> io::Result<()> {
        check(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) }).map(|_| ())
    }

    /// A new regular file, created exclusively (never an existing name, never a symlink).
    pub fn create_excl(dir: &OwnedFd, name: &[u8], mode: u32) -> io::Result<std::fs::File> {
        let c = cstr(name)?;
        let fd = check(unsafe {
            libc::openat(
                dir.as_raw_fd(),
                c.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn symlink(target: &[u8], dir: &OwnedFd, name: &[u8]) -> io::Result<()> {
        let (t, n) = (cstr(target)?, cstr(name)?);
        check(unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) }).map(|_| ())
    }

    pub fn fsync(fd: &OwnedFd) -> io::Result<()> {
        check(unsafe { libc::fsync(fd.as_raw_fd()) }).map(|_| ())
    }

    /// 128 random bits as hex: names nobody can guess.
    pub fn random_hex() -> String {
        let mut buf = [0u8; 16];
        let mut filled = 0;
        while filled < buf.len() {
            let n = unsafe {
                libc::getrandom(
                    buf[filled..].as_mut_ptr() as *mut libc::c_void,
                    buf.len() - filled,
                    0,
                )
            };
            if n <= 0 {
                // No getrandom: fall back on the time, pid and a counter, mixed.
                let id = crate::ids::new_fanout_id();
                return format!(
                    "{id}{:x}{}",
                    std::process::id(),
                    crate::ids::new_fanout_id()
                );
            }
            filled += n as usize;
        }
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_tree_or_enter_git_are_refused() {
        for p in [
            &b""[..],
            b"/etc/passwd",
            b"a/../../x",
            b"./x",
            b"a//b",
            b".git/config",
            b"sub/.GIT/hooks/pre-commit",
            b"a\0b",
        ] {
            assert!(bad_path(p).is_some(), "{p:?}");
        }
        for p in [
            &b"a"[..],
            b"a/b.c",
            b"..a/b",
            b"\xff/\x1b[31m",
            b".gitignore",
        ] {
            assert!(bad_path(p).is_none(), "{p:?}");
        }
        assert_eq!(ancestors(b"a/b/c").collect::<Vec<_>>(), [&b"a"[..], b"a/b"]);
        assert_eq!(split(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split(b"c"), (&b""[..], &b"c"[..]));
    }
}
