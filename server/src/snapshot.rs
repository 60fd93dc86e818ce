//! Snapshots: the working state as the user sees it, as git objects, touching nothing of theirs.
//!
//! HEAD plus staged, unstaged and untracked-but-not-ignored files, plus any unsaved editor
//! buffers ("overlays"), written as a tree (and a commit) in the object database. The user's
//! index is copied to a temp file and only the copy is updated, so their index, HEAD, branches,
//! stash and files stay byte-for-byte the same.

use crate::error::{IoContext, Result};
use git2::{Index, IndexAddOption, Oid, Repository};
use std::path::Path;

/// Unsaved contents of a file, by path relative to the working tree ('/' separators).
#[derive(Debug, Clone)]
pub struct Overlay {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Write the working state of the repository at `workdir` (plus overlays) as a tree.
pub fn snapshot_tree(workdir: &Path, overlays: &[Overlay]) -> Result<Oid> {
    // A repository object of our own: set_index below replaces its in-memory index.
    let repo = Repository::open(workdir)?;
    let (mut index, _tmp) = scratch_index(&repo)?;
    repo.set_index(&mut index)?;
    // Add everything new or changed and drop entries whose files are gone, in one comparison
    // of the index with the working tree; ignore rules apply to untracked files only, exactly
    // as `git add -A` does. (libgit2's `add_all` removes the entries of deleted files itself:
    // each change of its diff is added, or removed when the file is gone, as `update_all`
    // does; running `update_all` first compared everything twice.)
    index.add_all(["*"], IndexAddOption::DEFAULT, None)?;
    for overlay in overlays {
        if !belongs(&repo, &index, &overlay.path) {
            continue;
        }
        let mode = index
            .get_path(Path::new(&overlay.path), 0)
            .map(|e| e.mode)
            .filter(|m| *m == 0o100644 || *m == 0o100755)
            .unwrap_or(0o100644);
        let mut entry = blank_entry(&overlay.path, mode);
        entry.id = overlay_blob(&repo, &overlay.path, &overlay.bytes)?;
        entry.file_size = overlay.bytes.len() as u32;
        index.add(&entry)?;
    }
    Ok(index.write_tree()?)
}

/// The blob of a buffer's bytes, written once: the same buffer snapshotted again (a language
/// server's every diff, lens or accept of an unchanged buffer) reuses its id instead of
/// hashing and writing it again. The last bytes of each (repository, path) are kept, as
/// long as the buffers themselves; a blob that has gone from the database since (`git gc`)
/// is written again.
fn overlay_blob(repo: &Repository, path: &str, bytes: &[u8]) -> Result<Oid> {
    type Key = (std::path::PathBuf, String);
    type Kept = std::collections::HashMap<Key, (Vec<u8>, Oid)>;
    static KEPT: std::sync::OnceLock<std::sync::Mutex<Kept>> = std::sync::OnceLock::new();
    let kept = || {
        KEPT.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let key = (repo.commondir().to_path_buf(), path.to_string());
    let known = kept()
        .get(&key)
        .filter(|(b, _)| b.as_slice() == bytes)
        .map(|(_, id)| *id);
    if let Some(id) = known {
        if repo.odb()?.exists(id) {
            return Ok(id);
        }
    }
    let id = repo.blob(bytes)?;
    let mut kept = kept();
    // Buffers of closed documents are forgotten when they add up to more than 64 MB.
    if kept.values().map(|(b, _)| b.len()).sum::<usize>() > 64 << 20 {
        kept.clear();
    }
    kept.insert(key, (bytes.to_vec(), id));
    Ok(id)
}

/// Whether an unsaved buffer at `path` may enter a snapshot: only where the file would be
/// snapshotted from disk. Tracked files, and new files that are not ignored: an ignored `.env`
/// open in the editor must never end up on a branch. Nothing under `.git`, nothing inside a
/// submodule.
fn belongs(repo: &Repository, index: &Index, path: &str) -> bool {
    let p = Path::new(path);
    if path.is_empty()
        || p.components()
            .any(|c| c.as_os_str() == ".git" || c.as_os_str() == "..")
    {
        return false;
    }
    let inside_submodule = p
        .ancestors()
        .skip(1)
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| index.get_path(a, 0).is_some_and(|e| e.mode == 0o160000));
    if inside_submodule {
        return false;
    }
    if index.get_path(p, 0).is_some() {
        return true;
    }
    !repo.is_path_ignored(p).unwrap_or(true)
}

/// Snapshot as a commit whose parent is HEAD (none in a repository without commits yet).
/// No reference is created or moved.
pub fn snapshot_commit(workdir: &Path, overlays: &[Overlay], message: &str) -> Result<Oid> {
    let tree_id = snapshot_tree(workdir, overlays)?;
    let repo = Repository::open(workdir)?;
    let tree = repo.find_tree(tree_id)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let sig = signature(&repo);
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    Ok(repo.commit(None, &sig, &sig, message, &tree, &parents)?)
}

/// The user's identity if configured, else fanout's: a snapshot must never fail for want of
/// `user.name`.
pub fn signature(repo: &Repository) -> git2::Signature<'static> {
    repo.signature()
        .map(|s| s.to_owned())
        .or_else(|_| git2::Signature::now("fanout", "fanout@localhost"))
        .expect("a constant signature is valid")
}

/// A private copy of the repository's index (its stat data lets add_all skip hashing
/// unchanged files), or an empty in-memory index when there is none yet. The copy is never
/// written; the guard deletes its file.
fn scratch_index(repo: &Repository) -> Result<(Index, Option<TempFile>)> {
    let index_path = repo.path().join("index");
    if !index_path.exists() {
        return Ok((Index::new()?, None));
    }
    let tmp_dir = repo.commondir().join("fanout").join("tmp");
    std::fs::create_dir_all(&tmp_dir).at(&tmp_dir)?;
    let tmp = TempFile(tmp_dir.join(format!(
        "index.{}.{}",
        std::process::id(),
        crate::ids::new_fanout_id()
    )));
    std::fs::copy(&index_path, &tmp.0).at(&index_path)?;
    Ok((Index::open(&tmp.0)?, Some(tmp)))
}

/// A file removed when dropped.
pub struct TempFile(pub std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub fn blank_entry(path: &str, mode: u32) -> git2::IndexEntry {
    git2::IndexEntry {
        ctime: git2::IndexTime::new(0, 0),
        mtime: git2::IndexTime::new(0, 0),
        dev: 0,
        ino: 0,
        mode,
        uid: 0,
        gid: 0,
        file_size: 0,
        id: Oid::zero(),
        flags: 0,
        flags_extended: 0,
        path: path.as_bytes().to_vec(),
    }
}
