//! Stopping and removing attempts: cancel, discard, gc.
//!
//! Removal never loses work the user has not seen: a worktree that holds changes its branch
//! does not (an interrupted attempt, a hand edit after the attempt finished) is committed to
//! the branch and the discard refused, naming the files, unless forced. Every step is safe to
//! be killed at: a discard marks the attempt first and removes its record last, so a discard
//! that died shows in `fanout status` and finishes with the next `discard` or `gc`; and `gc`
//! sweeps whatever a killed `try` left (branches, admin folders, worktree folders no record
//! owns).

use crate::attempt_repo::AttemptRepo;
use crate::checkout::remove_worktree;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::now_secs;
use crate::process::{stop_group, wait_until};
use crate::repo::RepoPaths;
use crate::state::{supervisor_alive, AttemptRecord, AttemptState, StateDir};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a cancel did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled {
    /// Whether anything was running.
    pub was_running: bool,
    /// Processes the attempt's supervisor stopped besides the agent (daemons, leftovers).
    pub stopped_processes: usize,
}

/// Stop the attempt's agent (its whole process group; its supervisor then stops every other
/// process it left) and wait for its supervisor to record the end. The worktree and branch stay.
pub fn cancel(states: &StateDir, a: &AttemptRecord) -> Result<Cancelled> {
    if a.state.is_finished() && a.state != AttemptState::Interrupted {
        return Ok(Cancelled::default());
    }
    let dir = states.attempt_dir_of(a);
    crate::state::write_atomic_in(&dir.join("cancel"), b"")?;
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
    let mut stopped = 0;
    // An interrupted attempt has no supervisor to record the end: do it here.
    if let Ok(mut now) = states.read_attempt_at(&dir) {
        stopped = now.stopped_processes.saturating_sub(a.stopped_processes);
        if !now.state.is_finished() || now.state == AttemptState::Interrupted {
            now.state = AttemptState::Cancelled;
            now.finished_at.get_or_insert(now_secs());
            states.write_attempt(&now)?;
        }
    }
    Ok(Cancelled {
        was_running: true,
        stopped_processes: stopped,
    })
}

/// What a discard did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discarded {
    /// What the worktree took on disk, when it was deleted (not when it went to the pool).
    pub bytes_freed: u64,
    pub stopped_processes: usize,
    /// Whether the worktree was kept in the pool for the next fork.
    pub pooled: bool,
}

/// Stop the attempt if it runs, then remove its worktree, its branch and its record.
/// Without `force`, a worktree holding changes its branch does not have is not removed: the
/// changes are committed to the branch (so `fanout diff` shows them) and the discard refused
/// with [`Error::UncollectedWork`] naming them.
pub fn discard(
    paths: &RepoPaths,
    states: &StateDir,
    a: &AttemptRecord,
    force: bool,
) -> Result<Discarded> {
    let cancelled = cancel(states, a)?;
    let dir = states.attempt_dir_of(a);
    // The marker, held with an flock while this discard works: from now on the attempt's
    // supervisor (if one is somehow still alive) writes nothing, and a discard killed from
    // here on shows as interrupted.
    let marker = match crate::state::try_lock_exclusive(&dir.join(crate::state::DISCARDING)) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Err(Error::Invalid(format!(
                "{} is being discarded by another fanout command",
                a.id
            )))
        }
        // Its folder is gone: only git's side may be left.
        Err(_) => {
            remove_git_side(paths, a)?;
            return Ok(Discarded::default());
        }
    };
    crate::fault::point("discard.marked");
    let a = states.read_attempt_at(&dir).unwrap_or_else(|_| a.clone());
    if !force && a.worktree_present && a.worktree.exists() {
        if let Some((files, collected)) = uncollected_work(paths, &a)? {
            let _ = std::fs::remove_file(dir.join(crate::state::DISCARDING));
            drop(marker);
            states.write_attempt(&collected)?;
            return Err(Error::UncollectedWork { id: a.id, files });
        }
    }
    // Nothing in the worktree is anyone's now (collected above, or thrown away by force):
    // it goes into the pool, or into the trash, by a rename either way.
    let retired = if std::fs::symlink_metadata(&a.worktree).is_ok_and(|m| m.is_dir()) {
        Some(crate::pool::retire(
            &paths.common_dir,
            &crate::pool::Limits::of_user(),
            &a,
        )?)
    } else {
        remove_git_side(paths, &a)?;
        None
    };
    crate::fault::point("discard.worktree-removed");
    let bytes = match retired {
        Some(crate::pool::Retired::Trashed) => a.disk_bytes.unwrap_or(0),
        _ => 0,
    };
    let _ = std::fs::remove_file(states.log_path(&a.id));
    // The record goes last: until here, `fanout status` still shows the attempt.
    drop(marker);
    states.remove_dir(&dir);
    crate::fault::point("discard.record-removed");
    // The fanout goes with its last attempt, and its review with it.
    let fanout_dir = states.fanout_dir(&a.fanout);
    let attempts_left = states.load_attempts(&a.fanout).map(|l| !l.is_empty());
    if attempts_left.is_ok_and(|left| !left) {
        if let Some(review) = states.load_review(&a.fanout) {
            discard(paths, states, &review, true)?;
        }
    }
    let any_left = std::fs::read_dir(&fanout_dir)
        .map(|it| it.flatten().any(|e| e.path().is_dir()))
        .unwrap_or(false);
    if !any_left {
        states.remove_dir(&fanout_dir);
    }
    if retired == Some(crate::pool::Retired::Trashed) {
        if let Some(trash) = crate::trash::dir_for(&a.worktree) {
            crate::trash::empty_later(&trash);
        }
    }
    Ok(Discarded {
        bytes_freed: bytes,
        stopped_processes: cancelled.stopped_processes,
        pooled: retired == Some(crate::pool::Retired::Pooled),
    })
}

/// The worktree's folder, its admin folder and its branch.
fn remove_git_side(paths: &RepoPaths, a: &AttemptRecord) -> Result<()> {
    let repo = git2::Repository::open_bare(&paths.common_dir)?;
    let admin = paths.common_dir.join("worktrees").join(&a.worktree_name);
    let _ops = crate::gitlock::GitOps::begin(
        &paths.common_dir,
        &[format!("refs/heads/{}", a.branch)],
        &[admin],
    )?;
    remove_worktree(&repo, &a.worktree_name, &a.worktree, Some(&a.branch))
}

/// If the worktree holds changes that its branch does not: commit them to the branch (so
/// nothing is lost and `fanout diff` shows them), and name the files, with the record updated
/// to the new result.
fn uncollected_work(
    paths: &RepoPaths,
    a: &AttemptRecord,
) -> Result<Option<(String, AttemptRecord)>> {
    let ar = AttemptRepo::open(&paths.common_dir, a)?;
    if ar.link_problem().is_some() {
        ar.repair_link()?;
    }
    let base = ar
        .repo
        .find_commit(git2::Oid::from_str(&a.base_commit)?)?
        .tree()?;
    let wt = ar.worktree_tree(&base, &a.setup_outputs, &a.own_files)?;
    let tip = ar.branch_tip()?;
    let tip_tree = ar.repo.find_commit(tip)?.tree()?;
    if wt.tree == tip_tree.id() {
        return Ok(None);
    }
    let now = ar.repo.find_tree(wt.tree)?;
    let diff = ar
        .repo
        .diff_tree_to_tree(Some(&tip_tree), Some(&now), None)?;
    let mut files: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or(d.old_file().path())
                .map(Path::to_path_buf)
        })
        .map(|p| crate::text::quote_path(p.as_os_str().as_encoded_bytes()).into_owned())
        .collect();
    files.sort();
    files.dedup();
    let shown = match files.len() {
        0..=5 => files.join(", "),
        n => format!("{} and {} more", files[..5].join(", "), n - 5),
    };
    let commit = {
        let _ops = crate::gitlock::GitOps::begin(
            &paths.common_dir,
            std::slice::from_ref(&ar.branch_ref),
            std::slice::from_ref(&ar.admin),
        )?;
        let id = ar.commit_on_branch(
            wt.tree,
            &format!(
                "fanout attempt {}: changes found in its worktree when it was discarded",
                a.id
            ),
        )?;
        ar.point_head_at_branch()?;
        ar.write_index(&wt)?;
        id
    };
    let mut rec = a.clone();
    let stat = ar
        .repo
        .diff_tree_to_tree(Some(&base), Some(&now), None)?
        .stats()?;
    rec.commit = Some(commit.to_string());
    rec.result_tree = Some(wt.tree.to_string());
    rec.diffstat = Some(crate::state::DiffStat {
        files: stat.files_changed(),
        additions: stat.insertions(),
        deletions: stat.deletions(),
    });
    Ok(Some((shown, rec)))
}

/// One attempt gc or a discard of many could not remove, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failure {
    pub attempt: String,
    pub error: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct GcReport {
    pub removed: Vec<String>,
    /// Attempts kept because removing them would lose work, or that failed to go.
    pub failed: Vec<Failure>,
    pub pruned_worktrees: Vec<String>,
    /// Things no record owned (left by a killed `try`): branches, admin and worktree folders.
    pub swept: Vec<String>,
    pub bytes_freed: u64,
    /// Attempts whose worktree went into the pool rather than away.
    pub pooled: usize,
    /// What trimming the pool did.
    pub pool: crate::pool::TrimReport,
}

/// Remove finished attempts older than `max_age_secs` (and attempts whose discard was
/// interrupted, whatever their age), everything a killed `try` left, and git's records of
/// fanout worktrees whose folders are gone. Goes on past one attempt's error and reports each.
pub fn gc(paths: &RepoPaths, user: &Config, max_age_secs: u64) -> Result<GcReport> {
    let states = StateDir::new(paths.state_dir.clone());
    let mut report = GcReport::default();
    let now = now_secs();
    // Stale lock files a killed fanout process left are cleared on the way.
    drop(crate::gitlock::GitOps::begin(&paths.common_dir, &[], &[])?);
    for (_, attempts) in states.load_all()? {
        for a in attempts {
            let ended = a.finished_at.unwrap_or(a.created_at);
            let finished = a.state.is_finished();
            let interrupted_discard = a.discard == Some(crate::state::DiscardState::Interrupted);
            let old = now.saturating_sub(ended) >= max_age_secs;
            if !(interrupted_discard || (finished && old)) {
                continue;
            }
            match discard(paths, &states, &a, interrupted_discard) {
                Ok(d) => {
                    report.bytes_freed += d.bytes_freed;
                    report.pooled += usize::from(d.pooled);
                    report.removed.push(a.id);
                }
                Err(e) => report.failed.push(Failure {
                    attempt: a.id,
                    error: e.to_string(),
                }),
            }
        }
    }
    sweep(paths, user, &states, &mut report)?;
    crate::run_record::sweep(&states);
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
    sweep_tmp(&paths.state_dir.join("tmp"));
    report.pool = crate::pool::trim(
        &paths.common_dir,
        &user.worktree_root().join(paths.short_name()),
        &crate::pool::Limits::of(user),
        max_age_secs,
    )?;
    report.bytes_freed += report.pool.bytes_freed;
    Ok(report)
}

/// The fanout id in fanout's names: `fanout/<slug>-<id>/<n>` (branches), `fanout-<id>-<n>`
/// (admin folders), `<id>-<n>` (worktree folders).
fn id_of_branch(branch: &str) -> Option<&str> {
    let rest = branch.strip_prefix("fanout/")?;
    let (head, n) = rest.rsplit_once('/')?;
    n.parse::<usize>().ok()?;
    let id = head.rsplit_once('-').map(|(_, id)| id).unwrap_or(head);
    is_id(id).then_some(id)
}

fn id_of_attempt_name(name: &str) -> Option<&str> {
    let (id, n) = name.rsplit_once('-')?;
    n.parse::<usize>().ok()?;
    is_id(id).then_some(id)
}

fn is_id(s: &str) -> bool {
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Remove what no live record owns: the leftovers of `try`s that died (their intents), then
/// fanout branches, admin folders and worktree folders whose fanout has no folder at all.
/// Candidates are listed before the live fanouts are read: a `try` creates its fanout's folder
/// before anything else, so one that starts during the sweep is never mistaken for a leftover.
fn sweep(paths: &RepoPaths, user: &Config, states: &StateDir, report: &mut GcReport) -> Result<()> {
    let repo = git2::Repository::open_bare(&paths.common_dir)?;
    let mut branches = Vec::new();
    for b in repo.branches(Some(git2::BranchType::Local))?.flatten() {
        if let Ok(Some(name)) = b.0.name() {
            if let Some(id) = id_of_branch(name) {
                branches.push((name.to_string(), id.to_string()));
            }
        }
    }
    let admin_root = paths.common_dir.join("worktrees");
    let admins: Vec<(PathBuf, String)> = list_dir(&admin_root)
        .into_iter()
        .filter_map(|(p, name)| {
            let id = id_of_attempt_name(name.strip_prefix("fanout-")?)?.to_string();
            Some((p, id))
        })
        .collect();
    let wt_root = user.worktree_root().join(paths.short_name());
    let folders: Vec<(PathBuf, String)> = list_dir(&wt_root)
        .into_iter()
        .filter_map(|(p, name)| Some((p, id_of_attempt_name(&name)?.to_string())))
        .collect();

    // Tries that died: remove what their intent lists, then their folder.
    let mut dead: HashSet<String> = HashSet::new();
    for (id, intent) in states.abandoned(0) {
        if let Some(intent) = intent {
            let specs: Vec<crate::checkout::WorktreeSpec> = intent
                .worktrees
                .iter()
                .map(|w| crate::checkout::WorktreeSpec {
                    name: w.name.clone(),
                    path: w.path.clone(),
                    branch: w.branch.clone(),
                })
                .collect();
            let git_repo = paths.open()?;
            crate::checkout::remove_worktrees(&git_repo, &specs);
        }
        states.remove_dir(&states.fanout_dir(&id));
        report
            .swept
            .push(format!("fanout {id} (its `fanout try` was killed)"));
        dead.insert(id);
    }
    let live: HashSet<String> = list_dir(&states.fanouts_dir())
        .into_iter()
        .map(|(_, name)| name)
        .filter(|id| !dead.contains(id))
        .collect();
    let orphan_refs: Vec<String> = branches
        .iter()
        .filter(|(_, id)| !live.contains(id))
        .map(|(b, _)| format!("refs/heads/{b}"))
        .collect();
    if !orphan_refs.is_empty() {
        let _ops = crate::gitlock::GitOps::begin(&paths.common_dir, &orphan_refs, &[])?;
        for r in &orphan_refs {
            if let Ok(mut reference) = repo.find_reference(r) {
                if reference.delete().is_ok() {
                    report
                        .swept
                        .push(format!("branch {}", &r["refs/heads/".len()..]));
                }
            }
        }
    }
    for (path, id) in admins {
        if !live.contains(&id) && path.is_dir() && std::fs::remove_dir_all(&path).is_ok() {
            report
                .swept
                .push(format!("admin folder {}", path.display()));
        }
    }
    for (path, id) in folders {
        if !live.contains(&id)
            && std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir())
            && crate::trash::put(&path).is_ok()
        {
            report
                .swept
                .push(format!("worktree folder {}", path.display()));
        }
    }
    for (path, _) in list_dir(&states.fanouts_dir()) {
        // A fanout whose attempts are all gone (a discard died before removing its folder).
        let has_attempts = list_dir(&path).iter().any(|(p, _)| p.is_dir());
        if path.join("fanout.json").exists() && !has_attempts {
            states.remove_dir(&path);
            continue;
        }
        // Intents of fanouts that were completed after all (their try died after the last record).
        if path.join("fanout.json").exists() && path.join("intent.json").exists() {
            if let Ok(Some(_free)) = crate::state::try_lock_exclusive(&path.join("try.lock")) {
                let _ = std::fs::remove_file(path.join("intent.json"));
                let _ = std::fs::remove_file(path.join("try.lock"));
            }
        }
    }
    Ok(())
}

fn list_dir(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| Some((e.path(), e.file_name().to_str()?.to_string())))
        .collect()
}

/// Scratch files (`<what>.<pid>.<id>`) of processes that are gone, and the folders a killed
/// removal left half-deleted (`gone.<pid>.<id>`, see `StateDir::remove_dir`).
fn sweep_tmp(tmp: &Path) {
    for (path, name) in list_dir(tmp) {
        let pid = name.split('.').nth(1).and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_some_and(crate::process::pid_alive);
        if !alive {
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {
                    let _ = std::fs::remove_dir_all(&path);
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
    }
}
