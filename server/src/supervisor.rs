//! The supervisor: a small detached process (fanout re-executing itself as
//! `fanout __supervise <attempt dir>`, in its own session) that runs one agent to the end.
//!
//! It outlives the CLI and any editor: it holds the attempt's lock (so others can tell it is
//! alive); copies files in, takes ports and runs the setup commands; starts the agent in its
//! own process group with its output piped through it into the attempt's log (reading what
//! the agent is doing as it goes); records the exit code and timing; commits whatever the
//! agent changed to the attempt's branch, so nothing is lost if the worktree is removed
//! later; and runs the verify command on the result.
//!
//! It trusts nothing the agent may have touched: the attempt's repository is opened from
//! fanout's own records (`attempt_repo`), never through the worktree's `.git` file; it is a
//! child subreaper, so daemons an agent starts with `setsid()` stay its descendants and are
//! stopped when the agent ends; and it compares the user's HEAD, index, branches and stash
//! before and after the run (`outside`), recording any change loudly.

use crate::attempt_repo::AttemptRepo;
use crate::error::{Error, IoContext, Result};
use crate::ids::now_secs;
use crate::outside::UserGitState;
use crate::state::{self, AttemptRecord, AttemptState, DiffStat, Phase, StateDir, VerifyResult};
use std::io::{BufRead, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Start the supervisor of the attempt in `attempt_dir`, detached in its own session, and
/// return once it holds the attempt's lock (so the attempt never looks interrupted).
pub fn spawn(attempt_dir: &Path) -> Result<()> {
    let mut cmd = Command::new(crate::process::own_binary()?);
    cmd.arg("__supervise").arg(attempt_dir);
    for v in crate::fault::VARIABLES {
        cmd.env_remove(v);
    }
    if let Ok(at) = std::env::var("FANOUT_SUPERVISOR_CRASH_AT") {
        cmd.env("FANOUT_CRASH_AT", at);
    }
    cmd.stdin(Stdio::null())
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
            attempt_dir.display()
        )));
    }
    // Reap it when it ends, so a long-lived parent (the language server) keeps no zombies.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// The supervisor's main: run the attempt in `dir` to its end.
pub fn run(dir: &Path) -> Result<()> {
    let _lock = state::hold_lock(dir)?;
    // Orphans below us (an agent's setsid daemons) become our children, not init's.
    let subreaper = crate::process::become_subreaper();
    let state_root = dir
        .ancestors()
        .nth(3)
        .expect("attempt folders are <state>/fanouts/<fanout>/<n>");
    let common_dir = state_root
        .parent()
        .expect("the state folder lives in the common git folder")
        .to_path_buf();
    let states = StateDir::new(state_root.to_path_buf());
    let rec = states.read_attempt_at(dir)?;
    // Work from the worktree: agents' paths read relative to it, and the supervisor does not
    // keep the caller's folder busy.
    let _ = std::env::set_current_dir(&rec.worktree);
    let log_path = states.log_path(&rec.id);
    if let Some(parent) = log_path.parent() {
        std::fs::create_dir_all(parent).at(parent)?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .at(&log_path)?;
    let sup = Arc::new(Supervisor {
        states,
        common_dir,
        dir: dir.to_path_buf(),
        rec: Mutex::new(rec),
        log: Mutex::new(log),
        last_output: Mutex::new(None),
        stalled: AtomicBool::new(false),
        timed_out: AtomicBool::new(false),
        unwritten: Mutex::new(None),
    });
    if let Err(e) = subreaper {
        sup.note(&format!("cannot become a child subreaper ({e}): daemons that leave their process group may outlive the attempt"));
    }
    sup.update(|r| r.supervisor_pid = Some(std::process::id()))?;
    announce_ready();
    let result = Arc::clone(&sup).main();
    // Whatever is left below us goes with us.
    let left = crate::process::stop_descendants(Duration::from_secs(2));
    if left > 0 {
        sup.note(&format!("stopped {left} leftover process(es) at the end"));
        let _ = sup.update(|r| r.stopped_processes += left);
    }
    if result.is_ok() {
        sup.review_if_due();
    }
    match result {
        // A discarded attempt's supervisor just goes.
        Err(Error::Discarded(_)) => Ok(()),
        other => other,
    }
}

struct Supervisor {
    states: StateDir,
    common_dir: PathBuf,
    dir: PathBuf,
    /// The attempt's record; this process is its only writer while it lives.
    rec: Mutex<AttemptRecord>,
    log: Mutex<std::fs::File>,
    /// When the agent last printed something (and the same in Unix seconds).
    last_output: Mutex<Option<(Instant, u64)>>,
    /// Whether the record says the agent is stalled (silent for `stall_secs`).
    stalled: AtomicBool,
    /// Set when the agent's run was stopped for running past its timeout.
    timed_out: AtomicBool,
    /// The agent's activity not yet in the record (writes are throttled): the watchdog writes
    /// it within a second, so the last line before a silence shows. Held while writing the
    /// activity, so that an older one never overwrites a newer.
    unwritten: Mutex<Option<crate::activity::Activity>>,
}

/// What to do with a step's output lines besides logging them.
enum Sink {
    Plain,
    /// The agent: track what it is doing.
    Agent,
    /// Verify: keep the last lines.
    Tail(Vec<String>),
}

impl Sink {
    fn empty_like(&self) -> Sink {
        match self {
            Sink::Plain => Sink::Plain,
            Sink::Agent => Sink::Agent,
            Sink::Tail(_) => Sink::Tail(Vec::new()),
        }
    }
}

const VERIFY_TAIL_LINES: usize = 20;
/// After a step's process exits, how long output may still arrive from processes it left
/// behind before they are stopped.
const LEFTOVER_GRACE: Duration = Duration::from_millis(300);

/// The user's git state before a run, and where their index was saved.
struct Before {
    state: UserGitState,
    saved_index: PathBuf,
}

impl Supervisor {
    fn snapshot(&self) -> AttemptRecord {
        self.rec.lock().unwrap().clone()
    }

    fn update(&self, f: impl FnOnce(&mut AttemptRecord)) -> Result<()> {
        let mut rec = self.rec.lock().unwrap();
        f(&mut rec);
        self.states.write_attempt(&rec)
    }

    fn note(&self, line: &str) {
        let _ = writeln!(self.log.lock().unwrap(), "[fanout] {line}");
    }

    fn cancelled(&self) -> bool {
        self.dir.join("cancel").exists()
    }

    fn user_git_dir(&self) -> PathBuf {
        self.snapshot()
            .user_git_dir
            .unwrap_or_else(|| self.common_dir.clone())
    }

    /// The user's git state now, saved for comparison after the run.
    fn capture_outside(&self) -> Option<Before> {
        let run = self.snapshot().runs;
        match crate::outside::capture(&self.user_git_dir(), &self.common_dir) {
            Ok(state) => {
                let saved_index = self.dir.join(format!("user-index.before-run-{run}"));
                if let Err(e) = crate::outside::save_index(&state, &saved_index) {
                    self.note(&format!("could not save a copy of the user's index: {e}"));
                }
                Some(Before { state, saved_index })
            }
            Err(e) => {
                self.note(&format!(
                    "could not read the user's git state to watch it: {e}"
                ));
                None
            }
        }
    }

    /// Compare the user's git state with the one before the run; record what changed.
    fn check_outside(&self, before: Option<Before>) -> Result<()> {
        let Some(before) = before else { return Ok(()) };
        let run = self.snapshot().runs;
        let after = match crate::outside::capture(&self.user_git_dir(), &self.common_dir) {
            Ok(a) => a,
            Err(e) => {
                self.note(&format!(
                    "could not read the user's git state after the run: {e}"
                ));
                return Ok(());
            }
        };
        let changes = crate::outside::changes(&before.state, &after, &before.saved_index, run);
        if !changes.iter().any(|c| c.what == "index") {
            let _ = std::fs::remove_file(&before.saved_index);
        }
        if changes.is_empty() {
            return Ok(());
        }
        for c in &changes {
            self.note(&format!(
                "WARNING: outside the attempt, while it ran: {}",
                c.message
            ));
        }
        self.update(|r| r.outside_changes.extend(changes))
    }

    fn main(self: Arc<Self>) -> Result<()> {
        let rec = self.snapshot();
        // In line first: what follows (setup, the agent, verify) runs while holding a slot.
        let _slot = match rec.max_running {
            Some(max) => {
                match crate::queue::wait_for_slot(&self.states.root, &self.dir, max, || {
                    self.cancelled()
                })? {
                    Some(slot) => Some(slot),
                    None => return self.finish(AttemptState::Cancelled, None, None),
                }
            }
            None => None,
        };
        if rec.start_delay_ms > 0 {
            // Staggered: a fixed delay, or until the attempt before has printed its first line
            // (or is gone), at most that long.
            let before = rec
                .start_after
                .and_then(|n| Some(self.dir.parent()?.join(n.to_string())));
            crate::process::wait_until(Duration::from_millis(rec.start_delay_ms), || {
                self.cancelled()
                    || before.as_ref().is_some_and(|d| {
                        d.join(state::FIRST_OUTPUT).exists() || !state::supervisor_alive(d)
                    })
            });
        }
        let before = self.capture_outside();
        if self.cancelled() {
            return self.finish(AttemptState::Cancelled, None, before);
        }
        self.update(|r| {
            r.state = AttemptState::Running;
            r.started_at = Some(now_secs());
        })?;
        if !rec.setup_done {
            if let Err(message) = self.setup() {
                self.note(&message);
                self.update(|r| r.error = Some(message))?;
                let end = if self.cancelled() {
                    AttemptState::Cancelled
                } else {
                    AttemptState::Failed
                };
                return self.finish(end, None, before);
            }
        }
        self.update(|r| r.phase = Some(Phase::Agent))?;
        let argv = self.snapshot().argv;
        let result = self.run_step(&argv, Sink::Agent, true);
        self.mark_first_output();
        let code = match result {
            Ok((code, _)) => code,
            Err(message) => {
                self.note(&message);
                self.update(|r| r.error = Some(message))?;
                return self.finish(AttemptState::Failed, None, before);
            }
        };
        let shown = code.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
        self.note(&format!("agent exited with {shown}"));
        self.read_usage_file();
        let _ = self.update(|r| r.stalled_since = None);
        if self.timed_out.load(Ordering::SeqCst) {
            let limit = crate::labels::duration(rec.timeout_secs.unwrap_or_default());
            let message = format!("stopped: the agent ran longer than its timeout of {limit}");
            self.update(|r| r.error = Some(message))?;
            return self.finish(AttemptState::Cancelled, code, before);
        }
        let end = if self.cancelled() {
            AttemptState::Cancelled
        } else if code == Some(0) {
            AttemptState::Succeeded
        } else {
            AttemptState::Failed
        };
        self.finish(end, code, before)
    }

    /// Copy files in, take ports, run the setup commands. Err is the message for the user.
    fn setup(self: &Arc<Self>) -> std::result::Result<(), String> {
        let rec = self.snapshot();
        let failed = |e: crate::error::Error| e.to_string();
        self.update(|r| r.phase = Some(Phase::Setup))
            .map_err(failed)?;
        if !rec.copy.is_empty() {
            let root = rec.env.get("FANOUT_ROOT").cloned().unwrap_or_default();
            let copied =
                crate::attempt_env::copy_matching(Path::new(&root), &rec.worktree, &rec.copy)
                    .map_err(|e| format!("setup failed: copying files: {e}"))?;
            self.note(&format!(
                "copied {} file(s) from the main checkout: {}",
                copied.len(),
                copied.join(" ")
            ));
        }
        if rec.port_count > 0 {
            let port = crate::attempt_env::allocate_ports(&rec.fanout, rec.n, rec.port_count)
                .map_err(|e| format!("setup failed: {e}"))?;
            let last = port as u32 + rec.port_count as u32 - 1;
            self.note(&format!("ports {port}-{last}"));
            self.update(|r| r.port = Some(port)).map_err(failed)?;
        }
        for cmd in &rec.setup {
            if self.cancelled() {
                return Err("cancelled during setup".into());
            }
            // Servers a setup command starts may stay for the agent and verify; they are
            // stopped when the attempt ends.
            match self.run_step(cmd, Sink::Plain, false) {
                Ok((Some(0), _)) => {}
                Ok((code, _)) => {
                    let code = code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "a signal".into());
                    return Err(format!(
                        "setup failed: `{}` exited with {code}",
                        shell_words(cmd)
                    ));
                }
                Err(e) => return Err(format!("setup failed: {e}")),
            }
        }
        let outputs = if rec.setup.is_empty() {
            Default::default()
        } else {
            self.setup_outputs(&rec)
                .map_err(|e| format!("setup failed: reading its results: {e}"))?
        };
        self.update(|r| {
            r.setup_done = true;
            r.setup_outputs = outputs;
        })
        .map_err(failed)?;
        Ok(())
    }

    /// What setup changed in the worktree, against the fork's snapshot.
    fn setup_outputs(
        &self,
        rec: &AttemptRecord,
    ) -> Result<std::collections::BTreeMap<String, Option<String>>> {
        let ar = AttemptRepo::open(&self.common_dir, rec)?;
        let base = ar
            .repo
            .find_commit(git2::Oid::from_str(&rec.base_commit)?)?
            .tree()?;
        let after = ar.worktree_tree(&base, &Default::default(), &rec.own_files)?;
        let after = ar.repo.find_tree(after.tree)?;
        let diff = ar.repo.diff_tree_to_tree(Some(&base), Some(&after), None)?;
        let mut out = std::collections::BTreeMap::new();
        for delta in diff.deltas() {
            let new = delta.new_file();
            let Some(path) = new.path().or(delta.old_file().path()) else {
                continue;
            };
            let oid = (!new.id().is_zero()).then(|| new.id().to_string());
            out.insert(path.to_string_lossy().into_owned(), oid);
        }
        Ok(out)
    }

    /// The environment of setup, agent and verify alike.
    fn env(&self) -> std::collections::BTreeMap<String, String> {
        let rec = self.snapshot();
        let mut env = rec.env.clone();
        env.extend(crate::attempt_env::expand_env(
            &rec.env_templates,
            &rec.id,
            rec.port,
        ));
        if let Some(port) = rec.port {
            env.insert("FANOUT_PORT".into(), port.to_string());
            env.insert("FANOUT_PORT_COUNT".into(), rec.port_count.to_string());
        }
        env
    }

    /// Run one command in the worktree, in its own process group (recorded, so cancel can
    /// stop it), its output through a pipe into the log. Returns its exit code (128+signal
    /// when killed) and the sink. The step ends when its process exits, even if something it
    /// started still holds the output open; with `stop_leftovers`, every process the step
    /// left behind (inside its group or not) is stopped after a short grace.
    fn run_step(
        self: &Arc<Self>,
        argv: &[String],
        sink: Sink,
        stop_leftovers: bool,
    ) -> std::result::Result<(Option<i32>, Sink), String> {
        let rec = self.snapshot();
        let before: std::collections::HashSet<i32> =
            crate::process::descendants(std::process::id() as i32)
                .into_iter()
                .collect();
        let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&rec.worktree)
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(writer.try_clone().map_err(|e| e.to_string())?)
            .stderr(writer)
            .process_group(0);
        for v in crate::fault::VARIABLES {
            cmd.env_remove(v);
        }
        self.note(&format!("$ {}", shell_words(argv)));
        let spawned = cmd.spawn();
        // Our copies of the pipe's write end go now: EOF comes when the step's processes end.
        drop(cmd);
        let mut child = spawned.map_err(|e| format!("cannot start {}: {e}", argv[0]))?;
        let pgid = child.id() as i32;
        let _ = self.update(|r| r.agent_pgid = Some(pgid));
        if self.cancelled() {
            // Cancel raced with the start: the canceller may not have seen this group.
            crate::process::stop_group(pgid, Duration::from_secs(5));
        }
        let fallback = sink.empty_like();
        let is_agent = matches!(sink, Sink::Agent);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let pump = Arc::clone(self);
        std::thread::spawn(move || {
            let _ = done_tx.send(pump.pump(reader, sink));
        });
        let (stop_watch, watch_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = is_agent.then(|| {
            let me = Arc::clone(self);
            std::thread::spawn(move || me.watch(pgid, watch_rx))
        });
        let status = child.wait();
        drop(stop_watch);
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        // Anything the step left running in its group goes with it.
        crate::process::stop_group(pgid, Duration::from_secs(2));
        let mut stopped = 0;
        let sink = match done_rx.recv_timeout(LEFTOVER_GRACE) {
            Ok(sink) => sink,
            Err(_) => {
                // Something outside the group (a setsid daemon) still holds the output open.
                stopped += self.stop_new_descendants(&before);
                done_rx
                    .recv_timeout(Duration::from_secs(2))
                    .unwrap_or(fallback)
            }
        };
        if stop_leftovers {
            stopped += self.stop_new_descendants(&before);
        }
        if stopped > 0 {
            self.note(&format!(
                "stopped {stopped} process(es) the step left running"
            ));
            let _ = self.update(|r| r.stopped_processes += stopped);
        }
        let status = status.map_err(|e| e.to_string())?;
        use std::os::unix::process::ExitStatusExt;
        Ok((
            status.code().or_else(|| status.signal().map(|s| 128 + s)),
            sink,
        ))
    }

    /// The agent printed something: it is not stalled, and attempts waiting for its first
    /// line may start.
    fn output_seen(&self) {
        let first = self.last_output.lock().unwrap().is_none();
        *self.last_output.lock().unwrap() = Some((Instant::now(), now_secs()));
        if first {
            self.mark_first_output();
        }
        if self.stalled.swap(false, Ordering::SeqCst) {
            let _ = self.update(|r| r.stalled_since = None);
        }
    }

    fn mark_first_output(&self) {
        let marker = self.dir.join(state::FIRST_OUTPUT);
        if !marker.exists() {
            let _ = std::fs::write(&marker, b"");
        }
    }

    /// While the agent runs: mark it stalled when it has printed nothing for `stall_secs`, stop
    /// it when it runs past its timeout, and keep the record's `disk_bytes` current (measured
    /// by [`Self::disk_meter`]). Ends when `stop` is dropped (the agent exited).
    fn watch(&self, pgid: i32, stop: std::sync::mpsc::Receiver<()>) {
        let rec = self.snapshot();
        let started = Instant::now();
        let started_unix = now_secs();
        let stall = Duration::from_secs(rec.stall_secs.max(1));
        let tick = (stall / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let timeout = rec.timeout_secs.map(Duration::from_secs);
        // Dropped when this returns, which ends the meter.
        let (_meter_alive, disk) = Self::disk_meter(rec.worktree.clone());
        loop {
            match stop.recv_timeout(tick) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            {
                let mut unwritten = self.unwritten.lock().unwrap();
                if let Some(a) = unwritten.take() {
                    let _ = self.update(|r| r.activity = Some(a));
                }
            }
            if let Some(bytes) = disk.try_iter().last() {
                if self.snapshot().disk_bytes != Some(bytes) {
                    let _ = self.update(|r| r.disk_bytes = Some(bytes));
                }
            }
            let (last, last_unix) = self
                .last_output
                .lock()
                .unwrap()
                .unwrap_or((started, started_unix));
            if last.elapsed() >= stall && !self.stalled.swap(true, Ordering::SeqCst) {
                let _ = self.update(|r| r.stalled_since = Some(last_unix));
            }
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                self.timed_out.store(true, Ordering::SeqCst);
                self.note(&format!(
                    "stopping the agent: it ran longer than its timeout of {}",
                    crate::labels::duration(rec.timeout_secs.unwrap_or_default())
                ));
                crate::process::stop_group(pgid, Duration::from_secs(5));
                return;
            }
        }
    }

    /// The worktree's disk use while the agent works, measured on a thread of its own so the
    /// watchdog never waits for a walk: after 1 s, 2 s, 4 s, 8 s, then every 15 s, and never
    /// sooner than 20 times the last walk took (a worktree with a big build folder costs at
    /// most 5% of a core). Each figure is sent on the receiver; the meter stops once the
    /// returned sender is dropped.
    fn disk_meter(
        worktree: PathBuf,
    ) -> (std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<u64>) {
        const DISK_EVERY: Duration = Duration::from_secs(15);
        let (alive, until) = std::sync::mpsc::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut wait = Duration::from_secs(1);
            loop {
                match until.recv_timeout(wait) {
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let t = Instant::now();
                if worktree.is_dir() {
                    let bytes = crate::checkout::disk_usage(&worktree);
                    if tx.send(bytes).is_err() {
                        return;
                    }
                }
                wait = (wait * 2).min(DISK_EVERY).max(t.elapsed() * 20);
            }
        });
        (alive, rx)
    }

    /// The usage figures some CLIs write to a file rather than print (Copilot's
    /// `--usage-output-file`), into the activity.
    fn read_usage_file(&self) {
        let Some(path) = self.snapshot().usage_file else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
            self.note(&format!(
                "could not read the agent's usage file {}",
                path.display()
            ));
            return;
        };
        let _ = self.update(|r| {
            r.activity
                .get_or_insert_with(Default::default)
                .feed(&value.to_string());
        });
    }

    /// Stop the descendants that were not there before a step began.
    fn stop_new_descendants(&self, before: &std::collections::HashSet<i32>) -> usize {
        let me = std::process::id() as i32;
        let new: Vec<i32> = crate::process::descendants(me)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if new.is_empty() {
            return 0;
        }
        crate::process::stop_pids(&new, Duration::from_secs(1))
    }

    /// Copy a step's output into the log line by line, feeding the sink.
    fn pump(&self, reader: std::io::PipeReader, mut sink: Sink) -> Sink {
        let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
        // Output goes to the log in chunks, not a write per line: a chatty agent prints
        // thousands of lines a second. What was read is written before waiting for more, so
        // the log stays live.
        let mut pending: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut line = Vec::new();
        // A follow-up goes on from the attempt's earlier runs' figures.
        let mut activity = self
            .snapshot()
            .activity
            .map(|a| a.for_next_run())
            .unwrap_or_default();
        let mut written = activity.clone();
        let mut last_write: Option<std::time::Instant> = None;
        let is_agent = matches!(sink, Sink::Agent);
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if is_agent {
                self.output_seen();
            }
            pending.extend_from_slice(&line);
            if pending.len() >= 64 * 1024 || reader.buffer().is_empty() {
                let _ = self.log.lock().unwrap().write_all(&pending);
                pending.clear();
            }
            let text = String::from_utf8_lossy(&line);
            match &mut sink {
                Sink::Plain => {}
                Sink::Agent => {
                    // Throttled: the state file is rewritten at most twice a second.
                    let due = last_write.is_none_or(|t| t.elapsed() > Duration::from_millis(500));
                    if activity.feed(&text) {
                        let mut unwritten = self.unwritten.lock().unwrap();
                        if due {
                            last_write = Some(std::time::Instant::now());
                            written = activity.clone();
                            *unwritten = None;
                            let _ = self.update(|r| r.activity = Some(written.clone()));
                        } else {
                            *unwritten = Some(activity.clone());
                        }
                    }
                }
                Sink::Tail(lines) => {
                    lines.push(text.trim_end().to_string());
                    if lines.len() > VERIFY_TAIL_LINES {
                        lines.remove(0);
                    }
                }
            }
        }
        if !pending.is_empty() {
            let _ = self.log.lock().unwrap().write_all(&pending);
        }
        if matches!(sink, Sink::Agent) {
            let mut unwritten = self.unwritten.lock().unwrap();
            *unwritten = None;
            if activity != written {
                let _ = self.update(|r| r.activity = Some(activity));
            }
        }
        sink
    }

    /// Record the end: commit the agent's change, verify it, clean up an empty attempt.
    fn finish(
        self: &Arc<Self>,
        end: AttemptState,
        code: Option<i32>,
        before: Option<Before>,
    ) -> Result<()> {
        let rec = self.snapshot();
        if matches!(rec.role, crate::state::Role::Judge { .. }) {
            return self.finish_review(end, code, before);
        }
        let mut end = end;
        let mut link_error = None;
        let collected = AttemptRepo::open(&self.common_dir, &rec).and_then(|ar| {
            if let Some(problem) = ar.link_problem() {
                // The agent rewired its worktree. Nothing goes through that link; it is put
                // back so the user's own git commands in the worktree stay inside the attempt.
                let message = format!(
                    "the agent changed its worktree's git link ({problem}); fanout repaired it, committed its files to the attempt's branch only, and touched nothing outside the attempt"
                );
                self.note(&message);
                ar.repair_link()?;
                link_error = Some(message);
            }
            self.collect(&ar, &rec)
        });
        if link_error.is_some() && end == AttemptState::Succeeded {
            end = AttemptState::Failed;
        }
        if let Err(e) = &collected {
            if matches!(e, Error::Discarded(_)) {
                return Err(Error::Discarded(rec.id.clone()));
            }
            self.note(&format!("could not commit the attempt's changes: {e}"));
        }
        let changed = collected.as_ref().is_ok_and(|c| c.commit.is_some());
        let verify = match (&rec.verify_command, end, changed) {
            (Some(cmd), AttemptState::Succeeded, true) => Some(self.verify(cmd)),
            _ => None,
        };
        let mut state = end;
        let mut present = rec.worktree_present;
        let nothing_to_keep = collected.is_ok() && !changed;
        // A cancelled attempt that never started (it was queued) has nothing to look at.
        let never_ran = rec.started_at.is_none() && end == AttemptState::Cancelled;
        if nothing_to_keep
            && (never_ran || matches!(end, AttemptState::Succeeded | AttemptState::Failed))
        {
            // The worktree and branch go now rather than leak.
            if end == AttemptState::Succeeded {
                state = AttemptState::Empty;
            }
            self.note("no changes; removing the worktree");
            if let Err(e) = self.remove_worktree(&rec) {
                self.note(&format!("could not remove the worktree: {e}"));
            } else {
                present = false;
            }
        }
        let disk = present.then(|| crate::checkout::disk_usage(&rec.worktree));
        self.update(|r| {
            r.state = state;
            r.exit_code = code;
            match collected {
                Ok(c) => {
                    r.commit = c.commit.map(|id| id.to_string());
                    r.diffstat = Some(c.stat);
                    r.result_tree = Some(c.tree.to_string());
                    for n in c.notes {
                        if !r.notes.contains(&n) {
                            r.notes.push(n);
                        }
                    }
                }
                Err(e) => r.error = Some(format!("could not commit changes: {e}")),
            }
            if let Some(m) = link_error {
                r.error = Some(m);
            }
            r.verify = verify;
            r.worktree_present = present;
            r.disk_bytes = disk;
            r.phase = None;
            r.finished_at = Some(now_secs());
        })?;
        self.check_outside(before)
    }

    /// The end of a review's judge: its verdict checked and stored (`review::conclude`), its
    /// worktree and branch removed whatever happened, since nothing it edits counts.
    fn finish_review(
        self: &Arc<Self>,
        end: AttemptState,
        code: Option<i32>,
        before: Option<Before>,
    ) -> Result<()> {
        let rec = self.snapshot();
        let (state, error) = match end {
            AttemptState::Succeeded => {
                let concluded = git2::Repository::open_bare(&self.common_dir)
                    .map_err(|e| e.to_string())
                    .and_then(|repo| crate::review::conclude(&self.states, &repo, &rec));
                match concluded {
                    Ok(v) => {
                        self.note(&format!(
                            "verdict: ranking {:?}, best #{}",
                            v.verdict.ranking, v.verdict.best
                        ));
                        (AttemptState::Succeeded, None)
                    }
                    Err(message) => {
                        self.note(&format!("review failed: {message}"));
                        let raw = rec.worktree.join(crate::launch::VERDICT_FILE);
                        if let Ok(bytes) = std::fs::read(&raw) {
                            self.note("the verdict file as the judge wrote it:");
                            let _ = self.log.lock().unwrap().write_all(&bytes);
                            self.note("(end of the verdict file)");
                        }
                        (AttemptState::Failed, Some(message))
                    }
                }
            }
            AttemptState::Failed if rec.error.is_none() => (
                AttemptState::Failed,
                Some(format!(
                    "the judge exited with {}",
                    code.map(|c| c.to_string())
                        .unwrap_or_else(|| "a signal".into())
                )),
            ),
            other => (other, rec.error.clone()),
        };
        let present = match self.remove_worktree(&rec) {
            Ok(()) => false,
            Err(e) => {
                self.note(&format!("could not remove the judge's worktree: {e}"));
                true
            }
        };
        self.update(|r| {
            r.state = state;
            r.exit_code = code;
            r.error = error;
            r.worktree_present = present;
            r.phase = None;
            r.finished_at = Some(now_secs());
        })?;
        self.check_outside(before)
    }

    /// After an attempt ends: with `review = "auto"`, the fanout's review starts once every
    /// attempt has ended and two or more have changes (the last supervisor to end starts it;
    /// of two ending at once, one does).
    fn review_if_due(&self) {
        let rec = self.snapshot();
        if matches!(rec.role, crate::state::Role::Judge { .. })
            || !crate::review::due(&self.states, &rec.fanout)
        {
            return;
        }
        let Ok(user) = crate::config::Config::load_user() else {
            return;
        };
        if user.review != Some(crate::config::ReviewMode::Auto) {
            return;
        }
        let workdir = rec
            .env
            .get("FANOUT_ROOT")
            .map(PathBuf::from)
            .unwrap_or_default();
        let started = crate::repo::RepoPaths::discover(&workdir)
            .and_then(|paths| crate::review::prepare(&paths, &user, &rec.fanout, None))
            .and_then(|(r, dir)| spawn(&dir).map(|()| r));
        match started {
            Ok(r) => self.note(&format!("started the fanout's review ({})", r.agent)),
            Err(e) => self.note(&format!("could not start the fanout's review: {e}")),
        }
    }

    /// Commit everything in the worktree (new files too) on top of the attempt's branch.
    fn collect(&self, ar: &AttemptRepo, rec: &AttemptRecord) -> Result<Collected> {
        let base = ar
            .repo
            .find_commit(git2::Oid::from_str(&rec.base_commit)?)?;
        let base_tree = base.tree()?;
        let wt = ar.worktree_tree(&base_tree, &rec.setup_outputs, &rec.own_files)?;
        for n in &wt.notes {
            self.note(n);
        }
        let tree = ar.repo.find_tree(wt.tree)?;
        let stat = diffstat(&ar.repo, &base_tree, &tree)?;
        let changed = wt.tree != base_tree.id();
        let _ops = crate::gitlock::GitOps::begin(
            &self.common_dir,
            std::slice::from_ref(&ar.branch_ref),
            std::slice::from_ref(&ar.admin),
        )?;
        // Under the lock: a discard that removed the attempt meanwhile must not see its
        // branch come back.
        if self.dir.join(state::DISCARDING).exists() || !self.dir.is_dir() {
            return Err(Error::Discarded(rec.id.clone()));
        }
        crate::fault::point("supervisor.before-commit");
        let tip = ar.branch_tip()?;
        let tip_tree = ar.repo.find_commit(tip)?.tree_id();
        let commit = if wt.tree == tip_tree {
            // Nothing new since the branch's tip (the agent may have committed its work on its
            // branch itself, as aider does: that stays part of the attempt).
            changed.then_some(tip)
        } else {
            let message = format!(
                "fanout attempt {} ({})\n\nCommitted by fanout when the agent finished.",
                rec.id, rec.agent
            );
            Some(ar.commit_on_branch(wt.tree, &message)?)
        };
        ar.point_head_at_branch()?;
        ar.write_index(&wt)?;
        Ok(Collected {
            commit,
            tree: wt.tree,
            stat,
            notes: wt.notes,
        })
    }

    /// An attempt that changed nothing leaves its worktree to the pool (or the trash).
    fn remove_worktree(&self, rec: &AttemptRecord) -> Result<()> {
        let limits = crate::pool::Limits::of_user();
        if crate::pool::retire(&self.common_dir, &limits, rec)? == crate::pool::Retired::Trashed {
            if let Some(trash) = crate::trash::dir_for(&rec.worktree) {
                crate::trash::empty_later(&trash);
            }
        }
        Ok(())
    }

    fn verify(self: &Arc<Self>, cmd: &[String]) -> VerifyResult {
        let _ = self.update(|r| r.phase = Some(Phase::Verify));
        let started = std::time::Instant::now();
        let (code, tail) = match self.run_step(cmd, Sink::Tail(Vec::new()), true) {
            Ok((code, Sink::Tail(tail))) => (code, tail),
            Ok((code, _)) => (code, Vec::new()),
            Err(e) => (None, vec![e]),
        };
        let passed = code == Some(0);
        self.note(if passed {
            "verify passed"
        } else {
            "verify failed"
        });
        VerifyResult {
            passed,
            exit_code: code,
            duration_ms: started.elapsed().as_millis() as u64,
            tail,
        }
    }
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

struct Collected {
    /// The commit holding the attempt's change (None when nothing changed).
    commit: Option<git2::Oid>,
    tree: git2::Oid,
    stat: DiffStat,
    notes: Vec<String>,
}

fn diffstat(repo: &git2::Repository, old: &git2::Tree, new: &git2::Tree) -> Result<DiffStat> {
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
