//! Fanout and attempt records on disk, in `<common git dir>/fanout/`.
//!
//! Layout: `fanouts/<fanout>/fanout.json` (written once by `try`), and per attempt
//! `fanouts/<fanout>/<n>/{state.json, prompt.txt, lock, cancel}`, and its output in
//! `logs/<attempt>.log`. Every file has one
//! writer at a time (the attempt's supervisor owns its `state.json` while it lives), and every
//! write is a temp file renamed into place, so readers (any number of CLIs and language
//! servers) never see half a file and concurrent `try`s never touch the same file.
//!
//! A supervisor holds an exclusive `flock` on its attempt's `lock` file for as long as it
//! lives; the kernel drops it when the process dies however it dies, so an unfinished attempt
//! whose lock is free was interrupted (kill -9, reboot), never "running forever".

use crate::error::{Error, IoContext, Result};
use crate::task::Task;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AttemptState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
    Empty,
}

impl AttemptState {
    pub fn is_finished(self) -> bool {
        !matches!(self, AttemptState::Queued | AttemptState::Running)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Queued => "queued",
            AttemptState::Running => "running",
            AttemptState::Succeeded => "succeeded",
            AttemptState::Failed => "failed",
            AttemptState::Cancelled => "cancelled",
            AttemptState::Interrupted => "interrupted",
            AttemptState::Empty => "empty",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiffStat {
    pub files: usize,
    pub additions: usize,
    pub deletions: usize,
}

/// One fanout: a task forked into attempts from one snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutRecord {
    pub id: String,
    pub created_at: u64,
    pub task: Task,
    pub prompt: String,
    /// The snapshot commit every attempt starts from (the 3-way merge base of accept).
    pub snapshot: String,
    pub attempt_count: usize,
}

/// One attempt: an agent run in its own worktree on its own branch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub id: String,
    pub fanout: String,
    pub n: usize,
    pub agent: String,
    pub state: AttemptState,
    pub branch: String,
    pub worktree: PathBuf,
    /// Name of the worktree's admin folder under `<common dir>/worktrees/`.
    pub worktree_name: String,
    pub argv: Vec<String>,
    /// Environment added for the agent (FANOUT_* and the profile's own variables).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// The fork's snapshot commit: the attempt's starting point.
    pub base_commit: String,
    /// How long the supervisor waits before starting the agent (staggered starts).
    #[serde(default)]
    pub start_delay_ms: u64,
    pub created_at: u64,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub exit_code: Option<i32>,
    pub diffstat: Option<DiffStat>,
    /// The commit holding the agent's change, once the supervisor has committed it.
    pub commit: Option<String>,
    pub disk_bytes: Option<u64>,
    pub error: Option<String>,
    pub supervisor_pid: Option<u32>,
    /// The agent's process group (its pid): cancel signals the whole group.
    pub agent_pgid: Option<i32>,
    /// Whether the worktree still exists (false after discard, empty, or gc).
    #[serde(default = "yes")]
    pub worktree_present: bool,
    /// Commands from a trusted `.fanout.toml`, run in the worktree before the agent.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// The command run after the agent succeeds.
    #[serde(default)]
    pub verify_command: Option<Vec<String>>,
    /// Globs of files copied from the main checkout before setup.
    #[serde(default)]
    pub copy: Vec<String>,
    /// The repository's env, before `{attempt}` and `{port}` expand.
    #[serde(default)]
    pub env_templates: std::collections::BTreeMap<String, String>,
    /// Ports this attempt asked for, and the first one it got.
    #[serde(default)]
    pub port_count: u16,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub setup_done: bool,
    /// Files the setup commands created or changed (path → blob after setup; None: deleted).
    /// They are not part of the attempt's change unless the agent changed them further.
    #[serde(default)]
    pub setup_outputs: std::collections::BTreeMap<String, Option<String>>,
    /// What the supervisor is doing: setup, agent or verify.
    #[serde(default)]
    pub phase: Option<Phase>,
    #[serde(default)]
    pub verify: Option<VerifyResult>,
    /// What the agent is doing now, from its output.
    #[serde(default)]
    pub activity: Option<crate::activity::Activity>,
    /// The tree of the attempt's result, to spot identical attempts.
    #[serde(default)]
    pub result_tree: Option<String>,
    /// How many times the agent has run (1, plus one per `continue`).
    #[serde(default = "one")]
    pub runs: usize,
    /// The user's own git folder (HEAD and index), watched for changes during each run.
    #[serde(default)]
    pub user_git_dir: Option<PathBuf>,
    /// What changed outside the attempt while it ran (the user's HEAD, index, branches, stash).
    #[serde(default)]
    pub outside_changes: Vec<crate::outside::OutsideChange>,
    /// Processes left behind by the attempt's commands (daemons, `setsid` children) that the
    /// supervisor had to stop.
    #[serde(default)]
    pub stopped_processes: usize,
    /// Things the user should know about the attempt's result (e.g. a nested repository left out).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The model the agent runs with, when the profile or `--agent NAME:MODEL` names one.
    #[serde(default)]
    pub model: Option<String>,
    /// The permission level its built-in CLI runs with (docs/agents.md).
    #[serde(default)]
    pub permissions: Option<crate::agents::Permissions>,
    /// Seconds without output after which the attempt shows as stalled.
    #[serde(default = "default_stall_secs")]
    pub stall_secs: u64,
    /// Each agent run is stopped after this many seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// While the agent has been silent for `stall_secs` or more: when its last output came.
    #[serde(default)]
    pub stalled_since: Option<u64>,
    /// Files the agent CLI writes for itself, left out of the attempt's change.
    #[serde(default)]
    pub own_files: Vec<String>,
    /// Where the agent writes its usage figures for this run (Copilot), read when it ends.
    #[serde(default)]
    pub usage_file: Option<PathBuf>,
    /// The attempt whose agent must have printed its first line before this one starts
    /// (at most `start_delay_ms` later).
    #[serde(default)]
    pub start_after: Option<usize>,
    /// What the run is for: an attempt (the default), a fanout's judge, or a synthesis.
    #[serde(default)]
    pub role: Role,
    /// The repository's cap on agents running at once (`max_running`): the supervisor waits
    /// in the run queue (`queue`) for a slot before it starts anything. None: no cap.
    #[serde(default)]
    pub max_running: Option<usize>,
    /// Set when reading: a discard of this attempt is under way, or was interrupted.
    #[serde(skip)]
    pub discard: Option<DiscardState>,
    /// Set when reading: when its change was accepted into the user's files (the
    /// [`ACCEPTED`] mark), unless a follow-up has run since.
    #[serde(skip)]
    pub accepted_at: Option<u64>,
}

/// What an agent run of a fanout is for.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Role {
    /// One attempt at the task.
    #[default]
    Attempt,
    /// The fanout's review: a judge ranking the attempts (by number) it was shown. It lives
    /// in the fanout's folder `0`; its worktree is thrown away when it ends.
    Judge { candidates: Vec<usize> },
    /// An attempt that combines the best of the attempts (by number) it was shown.
    Synthesis { from: Vec<usize> },
    /// The integration of a task list run (`batch`): no agent, built by `fanout integrate`.
    Integration { batch: String },
}

fn default_stall_secs() -> u64 {
    crate::agents::DEFAULT_STALL_SECS
}

/// The marker a supervisor leaves in its attempt's folder once its agent has printed its
/// first line (or ended): attempts started after it wait for it.
pub const FIRST_OUTPUT: &str = "first-output";

/// A discard seen from outside: still running, or its process died mid-way.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DiscardState {
    InProgress,
    Interrupted,
}

fn one() -> usize {
    1
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Setup,
    Agent,
    Verify,
}

/// The outcome of the repository's `verify` command in an attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerifyResult {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// The last lines of its output.
    pub tail: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Where one repository's state lives.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> StateDir {
        StateDir { root }
    }
    pub fn fanouts_dir(&self) -> PathBuf {
        self.root.join("fanouts")
    }
    pub fn fanout_dir(&self, fanout: &str) -> PathBuf {
        self.fanouts_dir().join(fanout)
    }
    pub fn attempt_dir(&self, fanout: &str, n: usize) -> PathBuf {
        self.fanout_dir(fanout).join(n.to_string())
    }
    pub fn attempt_dir_of(&self, a: &AttemptRecord) -> PathBuf {
        self.attempt_dir(&a.fanout, a.n)
    }
    /// The agent's output. Logs live outside `fanouts/`, which editors watch: an agent can
    /// write megabytes a second, and none of it changes any state.
    pub fn log_path(&self, attempt_id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{attempt_id}.log"))
    }

    /// Removes a fanout's or an attempt's folder so that a kill at any instant leaves it whole
    /// or gone, never half: it is renamed into `tmp/` (one atomic step), then deleted there. A
    /// kill during the deletion leaves `tmp/gone.<pid>.<id>`, which the next gc sweeps.
    pub fn remove_dir(&self, path: &Path) {
        let tmp = self.root.join("tmp");
        let _ = std::fs::create_dir_all(&tmp);
        let gone = tmp.join(format!(
            "gone.{}.{}",
            std::process::id(),
            crate::ids::new_fanout_id()
        ));
        match std::fs::rename(path, &gone) {
            Ok(()) => {
                let _ = std::fs::remove_dir_all(&gone);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => {
                let _ = std::fs::remove_dir_all(path);
            }
        }
    }

    pub fn write_fanout(&self, f: &FanoutRecord) -> Result<()> {
        write_json_atomic(&self.fanout_dir(&f.id).join("fanout.json"), f)
    }
    /// Write an attempt's record. The attempt's folder must exist (`try` makes it): a folder
    /// that is gone, or marked for discard, means the attempt was discarded, and its record is
    /// never written again (a late supervisor must not bring it back).
    pub fn write_attempt(&self, a: &AttemptRecord) -> Result<()> {
        let dir = self.attempt_dir_of(a);
        if dir.join(DISCARDING).exists() || !dir.is_dir() {
            return Err(Error::Discarded(a.id.clone()));
        }
        write_json_atomic_in(&dir.join("state.json"), a)
    }
    pub fn read_attempt_at(&self, dir: &Path) -> Result<AttemptRecord> {
        read_json(&dir.join("state.json"))
    }

    /// Every fanout with its attempts, oldest first; attempts' liveness is checked, so an
    /// unfinished attempt whose supervisor is gone reads as `interrupted`.
    pub fn load_all(&self) -> Result<Vec<(FanoutRecord, Vec<AttemptRecord>)>> {
        let mut out = Vec::new();
        let entries = match std::fs::read_dir(self.fanouts_dir()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).at(self.fanouts_dir()),
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let Ok(fanout) = read_json::<FanoutRecord>(&dir.join("fanout.json")) else {
                continue; // being created right now, or removed: not a fanout yet.
            };
            let attempts = self.load_attempts(&fanout.id)?;
            if attempts.is_empty() {
                continue;
            }
            out.push((fanout, attempts));
        }
        out.sort_by(|a, b| (a.0.created_at, &a.0.id).cmp(&(b.0.created_at, &b.0.id)));
        Ok(out)
    }

    /// A fanout's attempts, by number. The review's run (`Role::Judge`) is not one of them.
    pub fn load_attempts(&self, fanout: &str) -> Result<Vec<AttemptRecord>> {
        let mut all = self.load_runs(fanout)?;
        all.retain(|a| !matches!(a.role, Role::Judge { .. }));
        Ok(all)
    }

    /// The fanout's review run (its judge), if it has one.
    pub fn load_review(&self, fanout: &str) -> Option<AttemptRecord> {
        self.load_runs(fanout)
            .ok()?
            .into_iter()
            .find(|a| matches!(a.role, Role::Judge { .. }))
    }

    /// Every run recorded under a fanout: its attempts and its review.
    fn load_runs(&self, fanout: &str) -> Result<Vec<AttemptRecord>> {
        let mut attempts = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.fanout_dir(fanout)) else {
            return Ok(attempts);
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            if let Ok(mut a) = self.read_attempt_at(&dir) {
                if !a.state.is_finished() {
                    let dead = match a.supervisor_pid {
                        Some(_) => !supervisor_alive(&dir),
                        // `try` writes the record, then starts the supervisor: one that never
                        // started (try was killed in between) is interrupted after a grace time.
                        None => {
                            crate::ids::now_secs().saturating_sub(a.created_at)
                                > UNSTARTED_GRACE_SECS
                                && !supervisor_alive(&dir)
                        }
                    };
                    if dead {
                        // The supervisor writes its last record before it lets the lock go: one
                        // that finished between the read above and the lock check is read
                        // again, not taken for dead.
                        match self.read_attempt_at(&dir) {
                            Ok(again) if again.state.is_finished() => a = again,
                            _ => a.state = AttemptState::Interrupted,
                        }
                    }
                }
                a.discard = discard_state(&dir);
                a.accepted_at = accepted_at(&dir);
                attempts.push(a);
            }
        }
        attempts.sort_by_key(|a| a.n);
        Ok(attempts)
    }

    pub fn load_fanout(&self, fanout: &str) -> Result<FanoutRecord> {
        read_json(&self.fanout_dir(fanout).join("fanout.json"))
    }
}

/// The mark accept leaves in an attempt's folder once its change is in the user's files:
/// `{"at": <seconds>}`. Accept writes it (the attempt is finished, so its supervisor is gone);
/// a follow-up removes it, its new result not being accepted yet.
pub const ACCEPTED: &str = "accepted";

#[derive(Debug, Serialize, Deserialize)]
struct AcceptedMark {
    at: u64,
}

fn accepted_at(dir: &Path) -> Option<u64> {
    read_json::<AcceptedMark>(&dir.join(ACCEPTED))
        .ok()
        .map(|m| m.at)
}

impl StateDir {
    /// Record that `a`'s change was accepted into the user's files at `at`. A discarded
    /// attempt gets no mark.
    pub fn mark_accepted(&self, a: &AttemptRecord, at: u64) -> Result<()> {
        let dir = self.attempt_dir_of(a);
        if dir.join(DISCARDING).exists() || !dir.is_dir() {
            return Err(Error::Discarded(a.id.clone()));
        }
        write_json_atomic_in(&dir.join(ACCEPTED), &AcceptedMark { at })
    }

    /// Forget that `a` was accepted (a follow-up makes a new result).
    pub fn clear_accepted(&self, a: &AttemptRecord) -> Result<()> {
        let path = self.attempt_dir_of(a).join(ACCEPTED);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).at(path),
            _ => Ok(()),
        }
    }
}

/// A queued attempt whose supervisor has not started after this long never will.
pub const UNSTARTED_GRACE_SECS: u64 = 30;

/// The marker a discard leaves in an attempt's folder while it works (it holds an flock on
/// it, so a marker whose lock is free was left by a discard that died).
pub const DISCARDING: &str = "discarding";

fn discard_state(dir: &Path) -> Option<DiscardState> {
    let file = std::fs::File::open(dir.join(DISCARDING)).ok()?;
    Some(if try_lock_shared(&file) {
        DiscardState::Interrupted
    } else {
        DiscardState::InProgress
    })
}

/// Whether a shared, non-blocking flock on `file` succeeds (nobody holds it exclusively).
pub fn try_lock_shared(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) == 0 }
}

/// Take an exclusive flock on `path` (created if needed) without waiting; None if another
/// process holds it.
pub fn try_lock_exclusive(path: &Path) -> Result<Option<std::fs::File>> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at(path)?;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(None);
    }
    Ok(Some(file))
}

/// Whether the supervisor of the attempt in `dir` is alive: it holds the lock.
pub fn supervisor_alive(dir: &Path) -> bool {
    let Ok(file) = std::fs::File::open(dir.join("lock")) else {
        return false;
    };
    use std::os::fd::AsRawFd;
    // A shared, non-blocking try: fails only while the supervisor holds its exclusive lock.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    rc != 0
}

/// Take the attempt's lock for the life of this process (the supervisor calls this first).
pub fn hold_lock(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    use std::os::fd::AsRawFd;
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error()).at(path);
    }
    Ok(file)
}

pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Like [`write_json_atomic`], into a folder that must already exist.
fn write_json_atomic_in<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    write_atomic_in(path, &bytes)
}

/// Write via a temp file in the same folder and rename, so readers see the old or the new
/// file whole, never a torn one. Creates the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("state files live in a folder");
    std::fs::create_dir_all(dir).at(dir)?;
    write_atomic_in(path, bytes)
}

/// [`write_atomic`] into a folder that must already exist.
pub fn write_atomic_in(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().expect("state files live in a folder");
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name().unwrap().to_string_lossy(),
        std::process::id(),
        crate::ids::new_fanout_id()
    ));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.at(path)
}

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).at(path)?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

/// What a `fanout try` is about to create, written before it creates anything, so that a try
/// killed at any instant leaves nothing `fanout status` cannot show and `fanout gc` cannot
/// remove. The try holds an flock on `try.lock` beside it while it works; a fanout folder with
/// an intent, no `fanout.json` and a free lock belongs to a try that died.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntentRecord {
    pub id: String,
    pub created_at: u64,
    pub pid: u32,
    pub worktrees: Vec<IntendedWorktree>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntendedWorktree {
    /// Admin folder name under `<common dir>/worktrees/`.
    pub name: String,
    pub path: PathBuf,
    pub branch: String,
}

/// A fanout whose `try` died before finishing it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AbandonedFanout {
    pub id: String,
    pub created_at: u64,
    /// What it created that is still there: worktree folders, admin folders, branches.
    pub left: Vec<String>,
}

/// Held by a running `try` for as long as it creates its fanout.
pub struct Intent {
    dir: PathBuf,
    _lock: std::fs::File,
}

impl Intent {
    /// Create the fanout's folder, take its try lock and record the intent.
    pub fn begin(states: &StateDir, record: &IntentRecord) -> Result<Intent> {
        let dir = states.fanout_dir(&record.id);
        std::fs::create_dir_all(&dir).at(&dir)?;
        // A reader looking for abandoned fanouts (`abandoned`, any status) takes this lock
        // for an instant to test it: a new fanout's lock being held is that, for a moment.
        let path = dir.join("try.lock");
        let mut lock = try_lock_exclusive(&path)?;
        for _ in 0..100 {
            if lock.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            lock = try_lock_exclusive(&path)?;
        }
        let lock = lock.ok_or_else(|| {
            Error::Invalid(format!("fanout {} is being created twice", record.id))
        })?;
        write_json_atomic(&dir.join("intent.json"), record)?;
        Ok(Intent { dir, _lock: lock })
    }

    /// The fanout is complete (its `fanout.json` is written): the intent is no longer needed.
    pub fn finish(self) {
        let _ = std::fs::remove_file(self.dir.join("intent.json"));
        let _ = std::fs::remove_file(self.dir.join("try.lock"));
    }
}

impl StateDir {
    /// Fanout folders without a `fanout.json` whose `try` is not running any more, with the
    /// intent it left (None: it died before writing one). Folders younger than `min_age_secs`
    /// are left alone (a try may be just starting).
    pub fn abandoned(&self, min_age_secs: u64) -> Vec<(String, Option<IntentRecord>)> {
        let mut out = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.fanouts_dir()) else {
            return out;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() || dir.join("fanout.json").exists() {
                continue;
            }
            let Some(id) = dir.file_name().and_then(|n| n.to_str()).map(String::from) else {
                continue;
            };
            if let Ok(Some(_held)) = try_lock_exclusive(&dir.join("try.lock")) {
                let intent: Option<IntentRecord> = read_json(&dir.join("intent.json")).ok();
                let age = intent
                    .as_ref()
                    .map(|i| crate::ids::now_secs().saturating_sub(i.created_at))
                    .or_else(|| {
                        std::fs::metadata(&dir)
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|m| m.elapsed().ok())
                            .map(|d| d.as_secs())
                    })
                    .unwrap_or(0);
                if intent.is_some() || age >= min_age_secs {
                    out.push((id, intent));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fanout: &str) -> AttemptRecord {
        serde_json::from_value(serde_json::json!({
            "id": format!("{fanout}-1"), "fanout": fanout, "n": 1, "agent": "a",
            "state": "running", "branch": "b", "worktree": "/nonexistent",
            "worktree_name": "w", "argv": ["x"], "base_commit": "0", "created_at": 0,
            "started_at": null, "finished_at": null, "exit_code": null, "diffstat": null,
            "commit": null, "disk_bytes": null, "error": null, "supervisor_pid": null,
            "agent_pgid": null
        }))
        .unwrap()
    }

    #[test]
    fn a_discarded_attempt_is_never_written_again() {
        let tmp = tempfile::tempdir().unwrap();
        let states = StateDir::new(tmp.path().to_path_buf());
        let a = record("abc123");
        let dir = states.attempt_dir_of(&a);
        std::fs::create_dir_all(&dir).unwrap();
        states.write_attempt(&a).unwrap();
        // Marked for discard: refused.
        std::fs::write(dir.join(DISCARDING), b"").unwrap();
        assert!(matches!(states.write_attempt(&a), Err(Error::Discarded(_))));
        // Removed: refused, and the folder does not come back.
        std::fs::remove_dir_all(states.fanout_dir("abc123")).unwrap();
        assert!(matches!(states.write_attempt(&a), Err(Error::Discarded(_))));
        assert!(!states.fanout_dir("abc123").exists());
    }
}
