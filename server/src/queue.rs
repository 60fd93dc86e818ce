//! The run queue: at most `max_running` agents of one repository run at once; the others wait
//! as `queued`, first come first served, shown with their position.
//!
//! It lives in the state folder and in the kernel, not in any process that could die:
//!
//! - `queue/slots/<k>.lock`, k < `max_running`: a supervisor runs its agent (and verify) only
//!   while it holds an exclusive `flock` on one of them. The kernel drops it when the
//!   supervisor ends, however it ends (kill -9 too), so a slot is never leaked and the cap
//!   can never be exceeded, whatever the number of CLIs, editors and supervisors.
//! - `queue/waiting/<ticket>`: one file per waiting supervisor, named so that names sort in
//!   arrival order, holding the attempt's folder. A ticket whose supervisor is gone (its
//!   attempt lock is free) counts for nothing and is removed by whoever sees it.
//!
//! Waiting supervisors look again every [`POLL`]: those at the head of the line (as many as
//! there are slots) try the slots. Cancelling a queued attempt is its cancel marker: the
//! supervisor leaves the line and ends the attempt as cancelled, having run nothing.

use crate::error::{IoContext, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often a waiting supervisor looks at the line again.
const POLL: Duration = Duration::from_millis(100);

/// The default cap: the number of cores, at least 2.
pub fn default_max_running() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// A slot held: the agent may run while this lives.
///
/// The lock's file descriptor is inherited by everything the supervisor starts (setup, the
/// agent, verify, and what they start): a flock lasts while any process holding its open
/// file lives, so a supervisor killed with -9 leaves its slot taken until its agent, now an
/// orphan, has ended too. The cap counts processes alive, not supervisors.
pub struct Slot {
    _lock: std::fs::File,
    pub index: usize,
}

fn waiting_dir(state_root: &Path) -> PathBuf {
    state_root.join("queue").join("waiting")
}

fn slots_dir(state_root: &Path) -> PathBuf {
    state_root.join("queue").join("slots")
}

/// One waiting attempt, as its ticket says.
#[derive(Debug, Clone)]
struct Ticket {
    file: PathBuf,
    attempt_dir: PathBuf,
}

/// The live tickets, in arrival order; tickets of supervisors that are gone are removed.
fn line(state_root: &Path) -> Vec<Ticket> {
    let dir = waiting_dir(state_root);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<(String, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            (!name.starts_with('.')).then(|| (name, e.path()))
        })
        .collect();
    names.sort();
    let mut out = Vec::new();
    for (_, file) in names {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let attempt_dir = PathBuf::from(text.trim());
        if crate::state::supervisor_alive(&attempt_dir) {
            out.push(Ticket { file, attempt_dir });
        } else {
            let _ = std::fs::remove_file(&file);
        }
    }
    out
}

/// The waiting attempts' folders, first in line first: positions for the status.
pub fn waiting(state_root: &Path) -> Vec<PathBuf> {
    line(state_root)
        .into_iter()
        .map(|t| t.attempt_dir)
        .collect()
}

/// Whether the attempt in `attempt_dir` holds a slot now.
fn try_slots(state_root: &Path, max: usize) -> Result<Option<Slot>> {
    let dir = slots_dir(state_root);
    std::fs::create_dir_all(&dir).at(&dir)?;
    for index in 0..max {
        if let Some(lock) = crate::state::try_lock_exclusive(&dir.join(format!("{index}.lock")))? {
            use std::os::fd::AsRawFd;
            // SAFETY: clears FD_CLOEXEC on a descriptor this function owns.
            unsafe { libc::fcntl(lock.as_raw_fd(), libc::F_SETFD, 0) };
            return Ok(Some(Slot { _lock: lock, index }));
        }
    }
    Ok(None)
}

/// Wait in line for a slot, for the attempt in `attempt_dir` (whose lock the caller holds).
/// Returns None when `cancelled` says so first; the ticket is gone either way.
pub fn wait_for_slot(
    state_root: &Path,
    attempt_dir: &Path,
    max: usize,
    cancelled: impl Fn() -> bool,
) -> Result<Option<Slot>> {
    let max = max.max(1);
    // Fast path: nobody waits and a slot is free.
    if line(state_root).is_empty() {
        if let Some(slot) = try_slots(state_root, max)? {
            return Ok(Some(slot));
        }
    }
    let dir = waiting_dir(state_root);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let name = format!("{nanos:024}-{}", std::process::id());
    let file = dir.join(&name);
    crate::state::write_atomic(&file, attempt_dir.to_string_lossy().as_bytes())?;
    let leave = |slot: Option<Slot>| {
        let _ = std::fs::remove_file(&file);
        Ok(slot)
    };
    loop {
        if cancelled() {
            return leave(None);
        }
        let ahead = line(state_root)
            .iter()
            .position(|t| t.file == file)
            .unwrap_or(0);
        if ahead < max {
            if let Some(slot) = try_slots(state_root, max)? {
                return leave(Some(slot));
            }
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_holders_and_free_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = try_slots(dir.path(), 2).unwrap().unwrap();
        let b = try_slots(dir.path(), 2).unwrap().unwrap();
        assert_ne!(a.index, b.index);
        assert!(try_slots(dir.path(), 2).unwrap().is_none());
        drop(a);
        assert!(try_slots(dir.path(), 2).unwrap().is_some());
    }

    #[test]
    fn a_ticket_of_a_gone_supervisor_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let attempt = dir.path().join("attempt");
        std::fs::create_dir_all(&attempt).unwrap();
        std::fs::create_dir_all(waiting_dir(dir.path())).unwrap();
        let ticket = waiting_dir(dir.path()).join("1-1");
        std::fs::write(&ticket, attempt.to_string_lossy().as_bytes()).unwrap();
        assert!(waiting(dir.path()).is_empty());
        assert!(!ticket.exists());
    }
}
