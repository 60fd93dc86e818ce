//! Instant removal: a folder to delete is renamed into a trash folder beside it (the same
//! file system, so the rename is one metadata operation), and a detached process
//! (`fanout __empty-trash`, in its own session, at low priority) deletes it. A trash left
//! behind by a crash or a failed start is emptied by the next `fanout gc`.
//!
//! The trash of `<root>/<repo>/<attempt>` and of `<root>/<repo>/.pool/<slot>` is
//! `<root>/<repo>/.trash/`. One emptier at a time per trash holds `.trash/.lock`.

use crate::error::{IoContext, Result};
use std::path::{Path, PathBuf};

pub const TRASH: &str = ".trash";
/// The pool's folder beside the worktrees (`pool.rs`); its slots share the trash.
pub const POOL: &str = ".pool";
const LOCK: &str = ".lock";

/// The trash folder for `path` (a worktree or a pooled worktree).
pub fn dir_for(path: &Path) -> Option<PathBuf> {
    let parent = path.parent()?;
    let base = if parent.file_name().is_some_and(|n| n == POOL) {
        parent.parent()?
    } else {
        parent
    };
    Some(base.join(TRASH))
}

/// Move `path` into its trash; false when there was nothing to move. The caller starts the
/// emptier ([`empty_later`]) once it has moved everything.
pub fn put(path: &Path) -> Result<bool> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(false);
    }
    let Some(trash) = dir_for(path) else {
        std::fs::remove_dir_all(path).at(path)?;
        return Ok(true);
    };
    std::fs::create_dir_all(&trash).at(&trash)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let to = trash.join(format!("{name}.{}", crate::ids::new_fanout_id()));
    match std::fs::rename(path, &to) {
        Ok(()) => Ok(true),
        // Another file system (a worktree root moved by hand): delete it here.
        Err(_) => std::fs::remove_dir_all(path).at(path).map(|_| true),
    }
}

/// Move `path` into its trash and start emptying it.
pub fn remove(path: &Path) -> Result<()> {
    if put(path)? {
        if let Some(trash) = dir_for(path) {
            empty_later(&trash);
        }
    }
    Ok(())
}

/// Start a detached process that empties `trash`. Only the fanout binary can be asked to;
/// from any other program (a test, the benchmark) the trash waits for `gc` or [`empty_now`].
pub fn empty_later(trash: &Path) {
    let Ok(exe) = crate::process::own_binary() else {
        return;
    };
    let ours = exe.file_name().is_some_and(|n| n == "fanout")
        || std::fs::read_link("/proc/self/exe")
            .ok()
            .and_then(|p| p.file_name().map(|n| n == "fanout"))
            .unwrap_or(false);
    if !ours {
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("__empty-trash")
        .arg(trash)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for v in crate::fault::VARIABLES {
        cmd.env_remove(v);
    }
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            // Deleting must not slow down the writes of the fork that follows.
            libc::nice(10);
            Ok(())
        });
    }
    if let Ok(mut child) = cmd.spawn() {
        // Reaped when it ends, so a long-lived parent (the language server) keeps no zombies.
        std::thread::spawn(move || child.wait());
    }
}

/// Delete everything in `trash`, unless another emptier is at it. Returns how many folders
/// and files it deleted.
pub fn empty_now(trash: &Path) -> usize {
    let mut freed = 0;
    let mut stuck = 0;
    if trash.file_name().is_none_or(|n| n != TRASH) {
        return 0; // only ever a trash folder of fanout's own
    }
    loop {
        let lock = match crate::state::try_lock_exclusive(&trash.join(LOCK)) {
            Ok(Some(lock)) => lock,
            _ => return freed,
        };
        let listed = entries(trash);
        for path in &listed {
            freed += 1;
            let _ = match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
                _ => std::fs::remove_file(path),
            };
        }
        drop(lock);
        // Something put in while the lock was held, after the listing, is still there.
        let left = entries(trash);
        if !left.is_empty() && left.iter().all(|p| listed.contains(p)) {
            // Only what could not be deleted is left: a process still writing in it (try
            // again shortly), or for good (a read-only folder, say: the next gc tries again
            // rather than this spinning).
            stuck += 1;
            if stuck >= 5 {
                return freed;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            continue;
        }
        stuck = 0;
        if left.is_empty() {
            // Tidy up: the trash, and the per-repository folder once nothing is left in it
            // (both fail, as they should, when something was put in meanwhile).
            let _ = std::fs::remove_file(trash.join(LOCK));
            let _ = std::fs::remove_dir(trash);
            if let Some(parent) = trash.parent() {
                let _ = std::fs::remove_dir(parent);
            }
            return freed;
        }
    }
}

/// What waits in the trash.
pub fn entries(trash: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(trash)
        .map(|it| {
            it.flatten()
                .filter(|e| e.file_name() != LOCK)
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}
