//! Git operations on fanout's own refs and admin folders, one at a time per repository, with
//! stale lock files of killed fanout processes recognized and removed.
//!
//! git (and libgit2) protect a ref or an index with a `<file>.lock` file created exclusively and
//! renamed over the file when done. A process killed in between leaves the `.lock` behind, and
//! every later update of that ref fails with "locked" until someone removes it — git itself
//! never does. fanout's branch creations, result commits and branch deletions therefore run
//! under [`GitOps`]: an `flock` on `<state dir>/git.lock` (the kernel drops it when the holder
//! dies) plus a record, `git-op.json`, of the lock files the holder may create. A holder that
//! finishes removes its record; one that finds a record when it gets the lock knows its writer
//! died mid-operation, and removes the stale lock files it lists.

use crate::error::{IoContext, Result};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

pub struct GitOps {
    _lock: std::fs::File,
    record: PathBuf,
}

/// A lock file of the shared `packed-refs` is removed only when it is this old: git holds it
/// for milliseconds, and the user's own git may hold it right now.
const PACKED_REFS_STALE_SECS: u64 = 10;

impl GitOps {
    /// Wait for the repository's git-ops lock; clear what a dead holder left; record that this
    /// process may create lock files for `refs` (full names, `refs/heads/...`) and for the
    /// index of the admin folders `admins`.
    pub fn begin(common_dir: &Path, refs: &[String], admins: &[PathBuf]) -> Result<GitOps> {
        let state = common_dir.join("fanout");
        std::fs::create_dir_all(&state).at(&state)?;
        let path = state.join("git.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).at(path);
        }
        let record = state.join("git-op.json");
        if let Ok(bytes) = std::fs::read(&record) {
            let stale: Vec<PathBuf> = serde_json::from_slice(&bytes).unwrap_or_default();
            for lock in stale {
                remove_stale_lock(common_dir, &lock);
            }
        }
        let mut locks: Vec<PathBuf> = refs
            .iter()
            .map(|r| common_dir.join(format!("{r}.lock")))
            .collect();
        locks.push(common_dir.join("packed-refs.lock"));
        for a in admins {
            locks.push(a.join("index.lock"));
            locks.push(a.join("HEAD.lock"));
        }
        let bytes = serde_json::to_vec(&locks).unwrap_or_default();
        crate::state::write_atomic(&record, &bytes)?;
        Ok(GitOps {
            _lock: file,
            record,
        })
    }
}

impl Drop for GitOps {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.record);
    }
}

/// Remove a lock file a dead fanout process left, if it is one fanout may own.
fn remove_stale_lock(common_dir: &Path, lock: &Path) {
    if !lock.starts_with(common_dir) || lock.extension().is_none_or(|e| e != "lock") {
        return; // never outside the repository's git folder, never anything but a .lock
    }
    let Ok(meta) = std::fs::symlink_metadata(lock) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    if lock.file_name().is_some_and(|n| n == "packed-refs.lock") {
        let age = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if age < PACKED_REFS_STALE_SECS {
            return;
        }
    }
    if std::fs::remove_file(lock).is_ok() {
        tracing::info!(
            "removed a stale lock file left by a killed fanout process: {}",
            lock.display()
        );
    }
}
