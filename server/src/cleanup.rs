//! Stopping and removing attempts: cancel, discard, gc.

use crate::checkout::{disk_usage, remove_worktree};
use crate::error::Result;
use crate::ids::now_secs;
use crate::process::{stop_group, wait_until};
use crate::repo::RepoPaths;
use crate::state::{supervisor_alive, AttemptRecord, AttemptState, StateDir};
use std::time::Duration;

/// Stop the attempt's agent (its whole process group) and wait for its supervisor to record
/// the end. The worktree and branch stay. Returns whether anything was running.
pub fn cancel(states: &StateDir, a: &AttemptRecord) -> Result<bool> {
    if a.state.is_finished() && a.state != AttemptState::Interrupted {
        return Ok(false);
    }
    let dir = states.attempt_dir_of(a);
    crate::state::write_atomic(&dir.join("cancel"), b"")?;
    if let Some(pgid) = a.agent_pgid {
        stop_group(pgid, Duration::from_secs(5));
    }
    // The supervisor may be between its cancel check and starting the agent: keep killing
    // whatever group it records until it is gone.
    wait_until(Duration::from_secs(15), || {
        if let Ok(now) = states.read_attempt_at(&dir) {
            if let Some(pgid) = now.agent_pgid {
                stop_group(pgid, Duration::from_secs(5));
            }
        }
        !supervisor_alive(&dir)
    });
    // An interrupted attempt has no supervisor to record the end: do it here.
    if let Ok(mut now) = states.read_attempt_at(&dir) {
        if !now.state.is_finished() || now.state == AttemptState::Interrupted {
            now.state = AttemptState::Cancelled;
            now.finished_at.get_or_insert(now_secs());
            states.write_attempt(&now)?;
        }
    }
    Ok(true)
}

/// Stop the attempt if it runs, then remove its worktree, its branch and its record.
/// Returns the bytes freed.
pub fn discard(paths: &RepoPaths, states: &StateDir, a: &AttemptRecord) -> Result<u64> {
    cancel(states, a)?;
    let repo = paths.open()?;
    let bytes = if a.worktree.exists() {
        disk_usage(&a.worktree)
    } else {
        0
    };
    remove_worktree(&repo, &a.worktree_name, &a.worktree, Some(&a.branch))?;
    let dir = states.attempt_dir_of(a);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(states.log_path(&a.id));
    // The fanout goes with its last attempt.
    let fanout_dir = states.fanout_dir(&a.fanout);
    let any_left = std::fs::read_dir(&fanout_dir)
        .map(|it| it.flatten().any(|e| e.path().is_dir()))
        .unwrap_or(false);
    if !any_left {
        let _ = std::fs::remove_dir_all(&fanout_dir);
    }
    Ok(bytes)
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub removed: Vec<String>,
    pub pruned_worktrees: Vec<String>,
    pub bytes_freed: u64,
}

/// Remove finished attempts older than `max_age_secs` and prune git's records of fanout
/// worktrees whose folders are gone.
pub fn gc(paths: &RepoPaths, max_age_secs: u64) -> Result<GcReport> {
    let states = StateDir::new(paths.state_dir.clone());
    let mut report = GcReport::default();
    let now = now_secs();
    for (_, attempts) in states.load_all()? {
        for a in attempts {
            let ended = a.finished_at.unwrap_or(a.created_at);
            let finished = a.state.is_finished() && a.state != AttemptState::Interrupted;
            let dead = a.state == AttemptState::Interrupted;
            if (finished || dead) && now.saturating_sub(ended) >= max_age_secs {
                report.bytes_freed += discard(paths, &states, &a)?;
                report.removed.push(a.id);
            }
        }
    }
    let repo = paths.open()?;
    for name in repo.worktrees()?.iter().flatten() {
        if !name.starts_with("fanout-") {
            continue; // the user's own worktrees are theirs to prune
        }
        let wt = repo.find_worktree(name)?;
        if wt.validate().is_err() {
            let mut opts = git2::WorktreePruneOptions::new();
            opts.valid(false).working_tree(false);
            if wt.prune(Some(&mut opts)).is_ok() {
                report.pruned_worktrees.push(name.to_string());
            }
        }
    }
    let tmp = paths.state_dir.join("tmp");
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(report)
}
