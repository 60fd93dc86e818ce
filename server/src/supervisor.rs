//! The supervisor: a small detached process (fanout re-executing itself as
//! `fanout __supervise <attempt dir>`, in its own session) that runs one agent to the end.
//!
//! It outlives the CLI and any editor: it holds the attempt's lock (so others can tell it is
//! alive), starts the agent in its own process group with its output going to the attempt's
//! log, records the exit code and timing, and finally commits whatever the agent changed to
//! the attempt's branch, so nothing is lost if the worktree is removed later.

use crate::error::{Error, IoContext, Result};
use crate::ids::now_secs;
use crate::state::{self, AttemptRecord, AttemptState, DiffStat, StateDir};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Start the supervisor of the attempt in `attempt_dir`, detached in its own session, and
/// return once it holds the attempt's lock (so the attempt never looks interrupted).
pub fn spawn(attempt_dir: &Path) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Invalid(format!("cannot find the fanout binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.arg("__supervise")
        .arg(attempt_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // A new session: no controlling terminal, its own process group, so closing the terminal
    // or the editor (SIGHUP to the foreground group) does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Invalid(format!("cannot start the supervisor: {e}")))?;
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).ok();
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Invalid(format!(
            "the supervisor of {} did not start (see {})",
            attempt_dir.display(),
            attempt_dir.join("log").display()
        )));
    }
    // Reap it when it ends, so a long-lived parent (the language server) keeps no zombies.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// This very binary. If it was replaced on disk since it started (an upgrade, a rebuild),
/// the running image is still reachable through /proc/self/exe.
fn own_binary() -> Result<std::path::PathBuf> {
    match std::env::current_exe() {
        Ok(p) if p.exists() => Ok(p),
        _ if Path::new("/proc/self/exe").exists() => Ok("/proc/self/exe".into()),
        Ok(p) => Err(Error::Invalid(format!(
            "cannot find the fanout binary {}",
            p.display()
        ))),
        Err(e) => Err(Error::Invalid(format!(
            "cannot find the fanout binary: {e}"
        ))),
    }
}

/// The supervisor's main: run the attempt in `dir` to its end.
pub fn run(dir: &Path) -> Result<()> {
    let _lock = state::hold_lock(dir)?;
    let states = StateDir::new(
        dir.parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .expect("attempt dir depth")
            .to_path_buf(),
    );
    let mut rec = states.read_attempt_at(dir)?;
    rec.supervisor_pid = Some(std::process::id());
    states.write_attempt(&rec)?;
    announce_ready();

    let log_path = dir.join("log");
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .at(&log_path)?;

    let cancelled = || dir.join("cancel").exists();
    if rec.start_delay_ms > 0 {
        crate::process::wait_until(Duration::from_millis(rec.start_delay_ms), cancelled);
    }
    if cancelled() {
        return finish(&states, &mut rec, AttemptState::Cancelled, None, &mut log);
    }

    let _ = writeln!(log, "[fanout] $ {}", shell_words(&rec.argv));
    let mut cmd = Command::new(&rec.argv[0]);
    cmd.args(&rec.argv[1..])
        .current_dir(&rec.worktree)
        .envs(&rec.env)
        .stdin(Stdio::null())
        .stdout(log.try_clone().at(&log_path)?)
        .stderr(log.try_clone().at(&log_path)?)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            rec.error = Some(format!("cannot start {}: {e}", rec.argv[0]));
            let _ = writeln!(log, "[fanout] {}", rec.error.as_deref().unwrap_or_default());
            return finish(&states, &mut rec, AttemptState::Failed, None, &mut log);
        }
    };
    rec.state = AttemptState::Running;
    rec.started_at = Some(now_secs());
    rec.agent_pgid = Some(child.id() as i32);
    states.write_attempt(&rec)?;
    if cancelled() {
        // Cancel raced with the start: the canceller may not have seen the group yet.
        crate::process::stop_group(child.id() as i32, Duration::from_secs(5));
    }
    let status = child.wait().at(&rec.worktree)?;
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s));
    let _ = writeln!(
        log,
        "[fanout] agent exited with {}",
        code.map(|c| c.to_string()).unwrap_or("?".into())
    );
    // Anything the agent left running in its group goes with it.
    crate::process::stop_group(child.id() as i32, Duration::from_secs(2));
    let end = if cancelled() {
        AttemptState::Cancelled
    } else if code == Some(0) {
        AttemptState::Succeeded
    } else {
        AttemptState::Failed
    };
    finish(&states, &mut rec, end, code, &mut log)
}

/// Tell the parent we hold the lock, then let go of the pipe (the parent may be gone soon).
fn announce_ready() {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    if let Ok(devnull) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        unsafe { libc::dup2(devnull.as_raw_fd(), 1) };
    }
}

fn finish(
    states: &StateDir,
    rec: &mut AttemptRecord,
    end: AttemptState,
    code: Option<i32>,
    log: &mut std::fs::File,
) -> Result<()> {
    rec.exit_code = code;
    rec.state = end;
    match collect_changes(rec) {
        Ok((commit, stat)) => {
            rec.commit = commit.map(|c| c.to_string());
            rec.diffstat = Some(stat);
            if rec.commit.is_none() {
                // Nothing to keep: the worktree and branch go now rather than leak.
                if end == AttemptState::Succeeded {
                    rec.state = AttemptState::Empty;
                }
                if matches!(end, AttemptState::Succeeded | AttemptState::Failed) {
                    let _ = writeln!(log, "[fanout] no changes; removing the worktree");
                    if let Ok(repo) = git2::Repository::open(&rec.worktree)
                        .and_then(|r| git2::Repository::open(r.commondir()))
                    {
                        let _ = crate::checkout::remove_worktree(
                            &repo,
                            &rec.worktree_name,
                            &rec.worktree,
                            Some(&rec.branch),
                        );
                    }
                    rec.worktree_present = false;
                }
            }
        }
        Err(e) => {
            let _ = writeln!(log, "[fanout] could not commit the attempt's changes: {e}");
            rec.error
                .get_or_insert(format!("could not commit changes: {e}"));
        }
    }
    if rec.worktree_present {
        rec.disk_bytes = Some(crate::checkout::disk_usage(&rec.worktree));
    }
    rec.finished_at = Some(now_secs());
    states.write_attempt(rec)
}

/// Commit everything in the worktree (new files too) on top of the attempt's branch.
/// Returns the new commit (None when nothing changed) and the change's size against the fork.
fn collect_changes(rec: &AttemptRecord) -> Result<(Option<git2::Oid>, DiffStat)> {
    let repo = git2::Repository::open(&rec.worktree)?;
    let mut index = repo.index()?;
    index.update_all(["*"], None)?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree_id = index.write_tree()?;
    let head = repo.head()?.peel_to_commit()?;
    let base = repo.find_commit(git2::Oid::from_str(&rec.base_commit)?)?;
    let tree = repo.find_tree(tree_id)?;
    let stat = diffstat(&repo, &base.tree()?, &tree)?;
    if tree_id == head.tree_id() {
        let changed = head.id() != base.id();
        return Ok((changed.then_some(head.id()), stat));
    }
    let sig = crate::snapshot::signature(&repo);
    let message = format!(
        "fanout attempt {} ({})\n\nCommitted by fanout when the agent finished.",
        rec.id, rec.agent
    );
    let id = repo.commit(Some("HEAD"), &sig, &sig, &message, &tree, &[&head])?;
    Ok((Some(id), stat))
}

pub fn diffstat(repo: &git2::Repository, old: &git2::Tree, new: &git2::Tree) -> Result<DiffStat> {
    let diff = repo.diff_tree_to_tree(Some(old), Some(new), None)?;
    let s = diff.stats()?;
    Ok(DiffStat {
        files: s.files_changed(),
        additions: s.insertions(),
        deletions: s.deletions(),
    })
}

/// The argv as a reader would type it, for the log only (never executed).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@".contains(c))
            {
                a.clone()
            } else {
                let short: String = a.chars().take(60).collect();
                let more = if a.chars().count() > 60 { "…" } else { "" };
                format!("'{}{more}'", short.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
