//! The engine's one door. A [`Workspace`] is a repository opened once by a front end (the
//! CLI per command, the language server per repository); every operation the front ends
//! offer is a method here, so each behaviour (looking up ids, stopping a list of attempts,
//! merging the editor's settings into the config, following a log) is implemented once.
//! Operations that need no repository (tasks, agents, config) are functions of this module.
//!
//! The front ends translate: `cli/` prints, `lsp/` builds protocol messages (`proto`). Both
//! import this module, its types and `proto`, and little else.

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::lookup::Target;
use crate::repo::RepoPaths;
use crate::snapshot::Overlay;
pub use crate::state::AttemptState;
use crate::state::StateDir;
pub use crate::status::{AttemptStatus, Counts, FanoutStatus, ReviewStatus, StatusReport};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::accept::{EditorAccept, EditorCan, EditorTransaction};
pub use crate::apply::{Accepted, Refusal, Transaction};
pub use crate::batch::{BatchRequest, BatchStarted, IntegrateReport, IntegrateRequest, ItemReport};
pub use crate::cleanup::GcReport;
pub use crate::compare::Comparison;
pub use crate::compare_view::render as render_comparison;
pub use crate::diff::{as_text, DiffReport};
pub use crate::fork::{ForkRequest, ForkResult};
pub use crate::hunks::{Hunk, HunkKind};
pub use crate::inspect::Choice;
pub use crate::merge::{FileChange, MergePlan};
pub use crate::pool::{PoolSummary, WarmReport};
pub use crate::repo_config::{show_argv, FILE_NAME as REPO_CONFIG_FILE};
pub use crate::run_record::{Outcome, INTEGRATE};
pub use crate::snapshot::Overlay as Buffer;
pub use crate::state::{AttemptRecord, Role};
pub use crate::status::{BatchStatus, ItemStatus};
pub use crate::task::{Task, CHECKBOX};

/// Settings a front end puts over the configuration files (the editor's `attempts` and
/// `agents`). Merged once, here: editor settings > `.fanout.toml` > user config > defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub attempts: Option<usize>,
    pub agents: Option<Vec<String>>,
}

impl Overrides {
    /// Put these overrides over `config` (an empty agent list overrides nothing).
    pub fn apply(&self, config: &mut Config) {
        if self.attempts.is_some() {
            config.attempts = self.attempts;
        }
        if self.agents.as_ref().is_some_and(|a| !a.is_empty()) {
            config.agents = self.agents.clone();
        }
    }
}

/// A task list item's title as the runs name it: its text without an inline `(after: ...)`.
pub fn item_title(text: &str) -> String {
    crate::tasklist::title_of(text)
}

/// One repository, opened.
#[derive(Debug, Clone)]
pub struct Workspace {
    paths: RepoPaths,
    states: StateDir,
    /// What opening it did or found that the user should hear of (an interrupted accept
    /// rolled back, or a failure to do so).
    notes: Vec<String>,
}

impl Workspace {
    /// The repository containing `dir`. An accept that was interrupted there (killed, power
    /// lost) is rolled back first, whatever the operation that follows.
    pub fn open(dir: &Path) -> Result<Workspace> {
        let paths = RepoPaths::discover(dir)?;
        let mut notes = Vec::new();
        match crate::apply::recover(&paths) {
            Ok(Some(note)) => notes.push(note),
            Ok(None) => {}
            Err(e) => notes.push(format!("warning: recovering an interrupted accept: {e}")),
        }
        Ok(Workspace {
            states: StateDir::new(paths.state_dir.clone()),
            paths,
            notes,
        })
    }

    /// The repository of the current folder.
    pub fn open_here() -> Result<Workspace> {
        Workspace::open(&current_dir()?)
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn paths(&self) -> &RepoPaths {
        &self.paths
    }

    /// The folder holding the fanouts' records: what changes when any attempt does (logs
    /// live elsewhere), for a front end to watch.
    pub fn records_folder(&self) -> PathBuf {
        self.paths.state_dir.join("fanouts")
    }

    pub fn workdir(&self) -> &Path {
        &self.paths.workdir
    }

    /// `path` relative to the working tree, '/' separators; an error if it is outside.
    pub fn relative(&self, path: &Path) -> Result<String> {
        self.paths.relative(path)
    }

    // -----------------------------------------------------------------------------------
    // Configuration

    /// The user config, with the front end's overrides on top.
    fn user_config(&self, ov: &Overrides) -> Result<Config> {
        let mut config = Config::load_user()?;
        ov.apply(&mut config);
        Ok(config)
    }

    /// The configuration in force here: built-ins < user < `.fanout.toml` < overrides.
    pub fn effective(&self, ov: &Overrides) -> Result<crate::repo_config::Effective> {
        let mut eff = crate::repo_config::effective(&Config::load_user()?, &self.paths.workdir)?;
        ov.apply(&mut eff.config);
        Ok(eff)
    }

    /// How many attempts a fork with no explicit count makes here (the `Try N approaches`
    /// lens). A broken config file counts as the default: the error shows when forking.
    pub fn effective_attempts(&self, ov: &Overrides) -> usize {
        self.effective(ov)
            .map(|e| e.config.attempts())
            .unwrap_or(crate::config::DEFAULT_ATTEMPTS)
    }

    // -----------------------------------------------------------------------------------
    // Forking and following up

    /// Fork a task. A request without a count or agents gets the effective ones.
    pub fn try_fork(&self, mut req: ForkRequest, ov: &Overrides) -> Result<ForkResult> {
        if req.agents.is_empty() {
            if let Some(agents) = ov.agents.as_ref().filter(|a| !a.is_empty()) {
                req.agents = agents.clone();
            }
            if req.count.is_none() {
                req.count = Some(self.effective_attempts(ov));
            }
        }
        crate::fork::fork(&self.paths, &self.user_config(ov)?, &req)
    }

    /// Fork every unchecked item of a task list (`fanout try --all`): one fanout per item,
    /// from one snapshot; items with `after:` wait for `integrate`.
    pub fn try_all(&self, req: BatchRequest, ov: &Overrides) -> Result<BatchStarted> {
        let user = self.user_config(ov)?;
        crate::batch::start(&self.paths, &user, &req, &|r| self.try_fork(r, ov))
    }

    /// A plan (`fanout plan`): the lead agent (`agent`, else the config's `lead`, else the
    /// roster's first) writes or extends the task list `file` for `goal`, as one attempt.
    pub fn plan(
        &self,
        goal: &str,
        file: Option<&str>,
        agent: Option<&str>,
        buffers: Vec<Overlay>,
        ov: &Overrides,
    ) -> Result<ForkResult> {
        let config = self.user_config(ov)?;
        let eff = crate::repo_config::effective(&config, &self.paths.workdir)?;
        let lead = agent
            .map(String::from)
            .or_else(|| eff.config.lead.clone())
            .map(|a| vec![a])
            .unwrap_or_default();
        let req = ForkRequest {
            file: file.unwrap_or("TASKS.md").to_string(),
            line: 1,
            count: Some(1),
            agents: lead,
            prompt: Some(goal.to_string()),
            overlays: buffers,
            lead: true,
            ..Default::default()
        };
        crate::fork::fork(&self.paths, &config, &req)
    }

    /// Build or update a task list run's integration (`fanout integrate`); items whose
    /// `after:` is now merged start from it.
    pub fn integrate(&self, req: IntegrateRequest, ov: &Overrides) -> Result<IntegrateReport> {
        let user = self.user_config(ov)?;
        crate::batch::integrate(&self.paths, &user, &req, &|r| self.try_fork(r, ov))
    }

    /// Fork a task with a configuration of the caller's own instead of the user's (the demo
    /// runs its own agent).
    pub fn try_fork_with_config(&self, req: ForkRequest, config: &Config) -> Result<ForkResult> {
        crate::fork::fork(&self.paths, config, &req)
    }

    /// Start a review of the fanout an id names: a judge (`agent`, else the config's `judge`,
    /// else the roster's first) ranks its attempts; the verdict comes with the status.
    pub fn review(&self, id: &str, agent: Option<&str>, ov: &Overrides) -> Result<AttemptRecord> {
        let fanout = self.fanout_status(id)?.id;
        let prepared = crate::review::prepare(&self.paths, &self.user_config(ov)?, &fanout, agent)?;
        self.supervise(prepared)
    }

    /// Start the supervisor of a run prepared in a fanout's folder; a run whose supervisor
    /// cannot start is removed again.
    fn supervise(&self, (rec, dir): (AttemptRecord, PathBuf)) -> Result<AttemptRecord> {
        if let Err(e) = crate::supervisor::spawn(&dir) {
            let _ = crate::cleanup::discard(&self.paths, &self.states, &rec, true);
            return Err(e);
        }
        Ok(rec)
    }

    /// Add a synthesis attempt to the fanout an id names: it gets every attempt's diff, verify
    /// results and the verdict, and combines the best ideas (see `review::prepare_synthesis`).
    pub fn synthesize(
        &self,
        id: &str,
        agent: Option<&str>,
        ov: &Overrides,
    ) -> Result<AttemptRecord> {
        let fanout = self.fanout_status(id)?.id;
        let user = self.user_config(ov)?;
        self.supervise(crate::review::prepare_synthesis(
            &self.paths,
            &user,
            &fanout,
            agent,
        )?)
    }

    /// Run one finished attempt's agent again in its worktree with a follow-up prompt.
    pub fn continue_(&self, id: &str, prompt: &str, ov: &Overrides) -> Result<AttemptRecord> {
        let a = self.attempt(id)?;
        crate::followup::continue_attempt(&self.paths, &self.user_config(ov)?, &a, prompt)?;
        Ok(a)
    }

    // -----------------------------------------------------------------------------------
    // Looking

    pub fn status(&self) -> Result<StatusReport> {
        crate::status::report(&self.paths)
    }

    /// What an id (or a unique prefix) names: one attempt or a whole fanout.
    pub fn target(&self, id: &str) -> Result<Target> {
        crate::lookup::resolve(&self.states, id)
    }

    /// The attempts an id names (one, or all of a fanout's).
    pub fn attempts_of(&self, id: &str) -> Result<Vec<AttemptRecord>> {
        Ok(match self.target(id)? {
            Target::Attempt(a) => vec![*a],
            Target::Fanout(_, attempts) => attempts,
        })
    }

    /// One attempt by id or unique prefix (a fanout with a single attempt is fine).
    pub fn attempt(&self, id: &str) -> Result<AttemptRecord> {
        crate::lookup::resolve_attempt(&self.states, id)
    }

    /// One attempt that has files to show: a committed result or its worktree. An id naming
    /// a whole fanout is refused with the attempts worth a look: those with changes, best
    /// first.
    pub fn readable_attempt(&self, id: &str) -> Result<AttemptRecord> {
        let a = match self.attempt(id) {
            Err(Error::NotAnAttempt(query, _)) => return Err(self.pick_one_of(&query)),
            other => other?,
        };
        crate::inspect::ensure_readable(&a)?;
        Ok(a)
    }

    /// Why `query`, a fanout, is not one attempt, with its attempts that have changes in rank
    /// order (`7f3a9c-2 (best), 7f3a9c-1`).
    fn pick_one_of(&self, query: &str) -> Error {
        let fanout = match self.target(query) {
            Ok(Target::Fanout(f, _)) => f.id,
            Ok(Target::Attempt(a)) => a.fanout,
            Err(e) => return e,
        };
        let report = match self.status() {
            Ok(r) => r,
            Err(e) => return e,
        };
        let Some(f) = report.fanouts.into_iter().find(|f| f.id == fanout) else {
            return Error::UnknownId(query.into());
        };
        let worth: Vec<String> = f
            .attempts
            .iter()
            .filter(|a| a.has_changes() && a.can_diff)
            .map(|a| match &f.best {
                Some(b) if *b == a.id => format!("{} (best)", a.id),
                _ => a.id.clone(),
            })
            .collect();
        if worth.is_empty() {
            let running = f.attempts.iter().any(|a| !a.state.is_finished());
            return Error::Invalid(format!(
                "'{query}' names fanout {}, not one attempt, and none of its attempts has a change {}",
                f.id,
                if running {
                    "yet (some are still running: `fanout status --watch`)"
                } else {
                    "to show or accept"
                }
            ));
        }
        Error::NotAnAttempt(query.into(), worth.join(", "))
    }

    /// What accepting would do, as a unified diff against the current files plus `buffers`;
    /// `only` limits it to one file.
    pub fn diff(
        &self,
        a: &AttemptRecord,
        buffers: &[Overlay],
        only: Option<&str>,
    ) -> Result<DiffReport> {
        crate::inspect::ensure_readable(a)?;
        crate::inspect::diff(&self.paths, a, buffers, only)
    }

    /// The diff of [`Workspace::diff`] written to `<data dir>/diffs/<attempt>.diff`, for an
    /// editor to open; its path.
    pub fn write_diff(
        &self,
        a: &AttemptRecord,
        buffers: &[Overlay],
        only: Option<&str>,
    ) -> Result<PathBuf> {
        let report = self.diff(a, buffers, only)?;
        let out = crate::repo::data_dir()
            .join("diffs")
            .join(format!("{}.diff", a.id));
        crate::state::write_atomic(&out, report.diff.as_bytes())?;
        Ok(out)
    }

    /// One file as the attempt has it; None if the attempt does not have it. An attempt
    /// that left no result has the snapshot's files.
    pub fn attempt_file(&self, a: &AttemptRecord, path: &str) -> Result<Option<Vec<u8>>> {
        crate::inspect::attempt_file(&self.paths, a, path)
    }

    /// The agent's output (lossy UTF-8); with `tail`, its last lines only.
    pub fn log(&self, a: &AttemptRecord, tail: Option<usize>) -> Result<String> {
        crate::inspect::log(&self.states, a, tail)
    }

    /// The agent's output as bytes to `sink`; with `follow`, more as the agent writes it, in
    /// whole lines (an escape sequence is never cut in two), until the attempt ends.
    pub fn follow_log(
        &self,
        a: &AttemptRecord,
        follow: bool,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<()> {
        let path = self.states.log_path(&a.id);
        let dir = self.states.attempt_dir_of(a);
        let read = || match std::fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).at(path.clone()),
        };
        let mut offset = 0usize;
        loop {
            let bytes = read()?;
            let end = match bytes[offset.min(bytes.len())..]
                .iter()
                .rposition(|&b| b == b'\n')
            {
                Some(i) if follow => offset + i + 1,
                _ => bytes.len(),
            };
            if end > offset {
                sink(&bytes[offset..end]);
                offset = end;
            }
            if !follow {
                return Ok(());
            }
            let now = self.states.read_attempt_at(&dir)?;
            if now.state.is_finished() || !crate::state::supervisor_alive(&dir) {
                // One last read: the agent's final lines may have landed after the last one.
                let bytes = read()?;
                if bytes.len() > offset {
                    sink(&bytes[offset..]);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The status of the fanout an id names (a fanout, or one of its attempts).
    pub fn fanout_status(&self, id: &str) -> Result<FanoutStatus> {
        let fanout = match self.target(id)? {
            Target::Fanout(f, _) => f.id,
            Target::Attempt(a) => a.fanout,
        };
        self.status()?
            .fanouts
            .into_iter()
            .find(|f| f.id == fanout)
            .ok_or_else(|| Error::UnknownId(id.into()))
    }

    /// The attempts of the fanout an id names, side by side (see `compare`).
    pub fn compare(&self, id: &str) -> Result<Comparison> {
        let f = self.fanout_status(id)?;
        let records = self.attempts_of(&f.id)?;
        crate::compare::compare(&self.paths, f, &records)
    }

    /// The best attempt of the fanout an id names, by the status ranking.
    pub fn best(&self, id: &str) -> Result<Best> {
        let f = self.fanout_status(id)?;
        let running = f.attempts.iter().any(|a| !a.state.is_finished());
        let best = f
            .best
            .as_ref()
            .and_then(|b| f.attempts.iter().find(|a| &a.id == b))
            .cloned();
        Ok(Best {
            fanout: f.id,
            best,
            running,
        })
    }

    // -----------------------------------------------------------------------------------
    // Accepting

    /// What `id` and `hunks` name to accept: with no hunks, one attempt whole; with hunk
    /// ids, those hunks of the attempt, or when `id` names a fanout, of whichever of its
    /// attempts has each (the same change in two attempts is one hunk).
    pub fn choice(&self, id: &str, hunks: Option<&[String]>) -> Result<Choice> {
        let Some(ids) = hunks else {
            return Ok(Choice::Whole(Box::new(self.readable_attempt(id)?)));
        };
        if ids.is_empty() {
            return Err(Error::Invalid(
                "no hunk ids given (`fanout hunks ATTEMPT` lists them)".into(),
            ));
        }
        let attempts = match self.target(id)? {
            Target::Attempt(a) => return Ok(Choice::Hunks(vec![(*a, ids.to_vec())])),
            Target::Fanout(_, attempts) => attempts,
        };
        let listed = self.hunks(id, None)?;
        let mut picks: Vec<(AttemptRecord, Vec<String>)> = Vec::new();
        for hunk in ids {
            let Some(found) = listed
                .iter()
                .find(|l| crate::hunks::find(&l.hunks, hunk).is_some())
            else {
                return Err(Error::Invalid(format!(
                    "no attempt of fanout {id} has hunk {hunk} (`fanout hunks {id}` lists them)"
                )));
            };
            match picks.iter_mut().find(|(a, _)| a.id == found.attempt) {
                Some((_, list)) => list.push(hunk.clone()),
                None => {
                    let a = attempts.iter().find(|a| a.id == found.attempt).cloned();
                    picks.push((a.expect("listed from these attempts"), vec![hunk.clone()]));
                }
            }
        }
        Ok(Choice::Hunks(picks))
    }

    /// The hunks of the attempt `id` names, or of every attempt of the fanout it names that
    /// has files to show; `only` limits them to one file.
    pub fn hunks(&self, id: &str, only: Option<&str>) -> Result<Vec<AttemptHunks>> {
        let attempts = match self.target(id)? {
            Target::Attempt(a) => vec![*a],
            Target::Fanout(_, attempts) => attempts
                .into_iter()
                .filter(|a| crate::inspect::ensure_readable(a).is_ok() && a.discard.is_none())
                .collect(),
        };
        attempts
            .into_iter()
            .map(|a| {
                Ok(AttemptHunks {
                    hunks: crate::inspect::hunks(&self.paths, &a, only)?,
                    attempt: a.id,
                })
            })
            .collect()
    }

    /// The merge plan accepting the choice onto the current files plus `buffers` would
    /// carry out.
    pub fn accept_plan(&self, choice: &Choice, buffers: &[Overlay]) -> Result<MergePlan> {
        crate::inspect::merge_plan(&self.paths, choice, buffers, false)
    }

    /// Accept onto the working tree, all of it on disk (see `accept::to_disk`).
    pub fn accept_to_disk(&self, choice: &Choice, markers: bool) -> Result<Accepted> {
        crate::accept::to_disk(&self.paths, choice, markers)
    }

    /// Start accepting for an editor: the text part is the editor's, the rest is written on
    /// disk, to be committed or rolled back with the editor's answer (see `accept`).
    pub fn accept_for_editor(
        &self,
        choice: &Choice,
        buffers: &[Overlay],
        can: EditorCan,
    ) -> Result<(EditorAccept, Option<String>)> {
        crate::accept::for_editor(&self.paths, choice, buffers, can)
    }

    // -----------------------------------------------------------------------------------
    // Stopping and cleaning up

    /// Cancel (`discard: false`) or discard the attempts the ids name (a fanout's: its review too). Every id is resolved
    /// before anything is done, so a typo leaves nothing half done; then one attempt's failure
    /// does not stop the others, and each outcome is reported.
    pub fn stop(&self, ids: &[String], discard: bool, force: bool) -> Result<StopReport> {
        let mut targets: Vec<AttemptRecord> = Vec::new();
        // A task list run's id names all its fanouts and its integration.
        let mut runs = Vec::new();
        let mut named_ids = Vec::new();
        for id in ids {
            match self.target(id) {
                Err(Error::UnknownId(_)) => {
                    let run = crate::run_record::load_all(&self.states)
                        .into_iter()
                        .filter(|b| b.id.starts_with(id.as_str()))
                        .collect::<Vec<_>>();
                    let [run] = run.as_slice() else {
                        return Err(Error::UnknownId(id.clone()));
                    };
                    let states = &self.states;
                    named_ids.extend(
                        run.fanouts()
                            .into_iter()
                            .filter(|f| states.fanout_dir(f).join("fanout.json").exists()),
                    );
                    runs.push(run.id.clone());
                }
                _ => named_ids.push(id.clone()),
            }
        }
        for id in &named_ids {
            let mut named = self.attempts_of(id)?;
            // A fanout's review goes with it (after its attempts).
            if let Target::Fanout(f, _) = self.target(id)? {
                named.extend(self.states.load_review(&f.id));
            }
            for a in named {
                if !targets.iter().any(|t| t.id == a.id) {
                    targets.push(a);
                }
            }
        }
        let mut report = StopReport::default();
        for a in &targets {
            let outcome = if discard {
                crate::cleanup::discard(&self.paths, &self.states, a, force).map(|d| Stopped {
                    attempt: a.id.clone(),
                    was_running: !a.state.is_finished(),
                    stopped_processes: d.stopped_processes,
                    bytes_freed: d.bytes_freed,
                    pooled: d.pooled,
                    state: a.state,
                })
            } else {
                crate::cleanup::cancel(&self.states, a).map(|c| Stopped {
                    attempt: a.id.clone(),
                    was_running: c.was_running,
                    stopped_processes: c.stopped_processes,
                    bytes_freed: 0,
                    pooled: false,
                    state: a.state,
                })
            };
            match outcome {
                Ok(s) => report.done.push(s),
                Err(e) => report.failed.push(StopFailure {
                    attempt: a.id.clone(),
                    error: e.to_string(),
                }),
            }
        }
        if discard && report.failed.is_empty() {
            for run in &runs {
                crate::run_record::remove(&self.states, run);
            }
        }
        Ok(report)
    }

    /// Remove finished attempts older than `older_than` ("7d", "12h"; default: the config's
    /// `gc_age`) and whatever an interrupted fanout left behind.
    pub fn gc(&self, older_than: Option<&str>) -> Result<GcReport> {
        let config = Config::load_user()?;
        let age = match older_than {
            Some(a) => crate::config::parse_age(a)?,
            None => config.gc_age_secs()?,
        };
        crate::cleanup::gc(&self.paths, &config, age)
    }

    /// Fill this repository's pool of warm worktrees with `n` more (default: up to its size).
    pub fn warm(&self, n: Option<usize>) -> Result<WarmReport> {
        let config = Config::load_user()?;
        crate::pool::warm(
            &self.paths.common_dir,
            &self.pool_root(&config),
            &crate::pool::Limits::of(&config),
            n,
        )
    }

    /// The worktrees in this repository's pool and their disk.
    pub fn pool(&self) -> PoolSummary {
        let config = Config::load_user().unwrap_or_default();
        crate::pool::Pool::at(&self.paths.common_dir, &self.pool_root(&config)).summary()
    }

    fn pool_root(&self, config: &Config) -> PathBuf {
        config.worktree_root().join(self.paths.short_name())
    }

    // -----------------------------------------------------------------------------------
    // Trust

    /// The repository's `.fanout.toml` if it asks to run commands and is not trusted yet:
    /// what to show the user before trusting it.
    pub fn trust_request(&self) -> Result<Option<TrustRequest>> {
        let Some(file) = crate::repo_config::RepoConfigFile::load(&self.paths.workdir)? else {
            return Ok(None);
        };
        Ok(Some(TrustRequest::of(file)))
    }
}

/// One attempt's hunks.
#[derive(Debug, Clone)]
pub struct AttemptHunks {
    pub attempt: String,
    pub hunks: Vec<Hunk>,
}

/// The best attempt of a fanout, if any.
#[derive(Debug, Clone)]
pub struct Best {
    pub fanout: String,
    pub best: Option<AttemptStatus>,
    /// Whether attempts are still running (so a best may still come).
    pub running: bool,
}

/// What cancel or discard did.
#[derive(Debug, Clone, Default)]
pub struct StopReport {
    pub done: Vec<Stopped>,
    pub failed: Vec<StopFailure>,
}

#[derive(Debug, Clone)]
pub struct Stopped {
    pub attempt: String,
    /// Whether its agent was still running.
    pub was_running: bool,
    /// Processes it left running that had to be stopped.
    pub stopped_processes: usize,
    pub bytes_freed: u64,
    /// Whether its worktree was kept in the pool for the next fork.
    pub pooled: bool,
    /// Its state before.
    pub state: AttemptState,
}

#[derive(Debug, Clone)]
pub struct StopFailure {
    pub attempt: String,
    pub error: String,
}

/// A `.fanout.toml` and the commands it would run, escaped for display: a control sequence
/// in the file must not be able to hide a command from the user who reviews it.
#[derive(Debug, Clone)]
pub struct TrustRequest {
    pub path: PathBuf,
    /// The first 12 hex digits of the file's SHA-256.
    pub sha256: String,
    pub trusted: bool,
    pub commands: Vec<String>,
    file: crate::repo_config::RepoConfigFile,
}

impl TrustRequest {
    fn of(file: crate::repo_config::RepoConfigFile) -> TrustRequest {
        TrustRequest {
            path: file.path.clone(),
            sha256: file.sha256.clone(),
            trusted: file.trusted,
            commands: file
                .config
                .commands()
                .iter()
                .map(|c| crate::text::escape_line(c).into_owned())
                .collect(),
            file,
        }
    }

    /// Whether asking makes sense: it has commands and is not trusted.
    pub fn needs_asking(&self) -> bool {
        !self.trusted && !self.commands.is_empty()
    }

    pub fn short_sha(&self) -> &str {
        &self.sha256[..12.min(self.sha256.len())]
    }

    /// Trust this exact content.
    pub fn trust(&self) -> Result<()> {
        self.file.trust()
    }
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::Invalid(format!("cannot read the current folder: {e}")))
}

// ---------------------------------------------------------------------------------------
// Operations that need no repository

/// The tasks of a folder (a .gitignore-aware walk) or of one file.
pub fn tasks(path: &Path) -> Result<Vec<Task>> {
    if !path.exists() {
        return Err(Error::Invalid(format!(
            "{}: no such file or folder",
            path.display()
        )));
    }
    if path.is_file() {
        let bytes = std::fs::read(path).at(path.to_path_buf())?;
        Ok(crate::tasks::scan_text(
            &path.to_string_lossy(),
            &String::from_utf8_lossy(&bytes),
        ))
    } else {
        crate::tasks::scan_tree(path).map_err(|e| Error::Invalid(format!("{e:#}")))
    }
}

/// Where fanout keeps its own files: worktrees, logs (`logs/lsp.log`), diffs.
pub fn data_dir() -> PathBuf {
    crate::repo::data_dir()
}

/// How many attempts a fork makes outside any repository's `.fanout.toml`: the overrides,
/// else the user config's, else the default.
pub fn effective_attempts_outside(ov: &Overrides) -> usize {
    ov.attempts.unwrap_or_else(|| {
        Config::load_user()
            .map(|c| c.attempts())
            .unwrap_or(crate::config::DEFAULT_ATTEMPTS)
    })
}

/// Delete what waits in a trash folder (`fanout __empty-trash`, started detached by a
/// discard or gc).
pub fn empty_trash(dir: &Path) {
    crate::trash::empty_now(dir);
}

/// The tasks of one buffer's text (`name` is its path relative to the repository).
pub fn tasks_in_text(name: &str, text: &str) -> Vec<Task> {
    crate::tasks::scan_text(name, text)
}

/// Every agent profile in force for `dir` (its repository's `.fanout.toml` included when it
/// is in one), with its binary and version, and the default roster.
pub fn agents(dir: Option<&Path>, ov: &Overrides) -> Result<AgentsReport> {
    let eff = effective_for(dir, ov)?;
    let roster = eff.config.default_roster().unwrap_or_default();
    let agents = crate::launch::detect_all(&eff);
    Ok(AgentsReport {
        roster,
        agents,
        warning: eff.untrusted_warning,
    })
}

/// The configuration in force for `dir`, in or out of a repository.
fn effective_for(dir: Option<&Path>, ov: &Overrides) -> Result<crate::repo_config::Effective> {
    let ws = dir.and_then(|d| Workspace::open(d).ok());
    match ws {
        Some(ws) => ws.effective(ov),
        None => {
            let mut eff =
                crate::repo_config::effective(&Config::load_user()?, Path::new("/nonexistent"))?;
            ov.apply(&mut eff.config);
            Ok(eff)
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentsReport {
    /// The agents a fork rotates through when none is named.
    pub roster: Vec<String>,
    pub agents: Vec<crate::agents::Detection>,
    /// Set when the repository's agent profiles were left out for want of trust.
    pub warning: Option<String>,
}

/// Where fanout reads its configuration from, what is in force, and what is wrong with it:
/// for `:checkhealth fanout`, the settings UI and `fanout config`.
#[derive(Debug, Clone)]
pub struct ConfigReport {
    pub user_config: PathBuf,
    pub user_config_exists: bool,
    /// The repository, when `dir` is in one.
    pub repo: Option<PathBuf>,
    pub repo_config: Option<PathBuf>,
    pub repo_config_trusted: Option<bool>,
    /// The effective attempt count and roster (None when a config file cannot be read).
    pub attempts: Option<usize>,
    pub roster: Vec<String>,
    pub worktree_root: Option<PathBuf>,
    pub gc_age: Option<String>,
    pub data_dir: PathBuf,
    pub log_file: PathBuf,
    /// What is wrong, in the user's words: a config file that does not parse, an untrusted
    /// `.fanout.toml` whose commands are ignored, an agent in the roster that is not installed.
    pub problems: Vec<String>,
}

pub fn config_report(dir: Option<&Path>, ov: &Overrides) -> ConfigReport {
    let user_config = Config::user_path();
    let ws = dir.and_then(|d| Workspace::open(d).ok());
    let repo = ws.as_ref().map(|w| w.workdir().to_path_buf());
    let mut problems = Vec::new();
    let file =
        ws.as_ref().and_then(
            |w| match crate::repo_config::RepoConfigFile::load(w.workdir()) {
                Ok(f) => f,
                Err(e) => {
                    problems.push(e.to_string());
                    None
                }
            },
        );
    let mut report = ConfigReport {
        user_config_exists: user_config.exists(),
        user_config,
        repo,
        repo_config: file.as_ref().map(|f| f.path.clone()),
        repo_config_trusted: file.as_ref().map(|f| f.trusted),
        attempts: None,
        roster: Vec::new(),
        worktree_root: None,
        gc_age: None,
        data_dir: crate::repo::data_dir(),
        log_file: crate::repo::data_dir().join("logs").join("lsp.log"),
        problems,
    };
    match effective_for(dir, ov) {
        Ok(eff) => {
            report.attempts = Some(eff.config.attempts());
            report.roster = eff.config.default_roster().unwrap_or_default();
            report.worktree_root = Some(eff.config.worktree_root());
            report.gc_age = Some(eff.config.gc_age.clone().unwrap_or_else(|| "7d".into()));
            if let Some(w) = eff.untrusted_warning.clone() {
                report.problems.push(w);
            }
            let roster = report.roster.clone();
            for name in &roster {
                match eff.resolve_agent(name) {
                    Err(e) => report.problems.push(e.to_string()),
                    Ok(r) => {
                        let program = r.command.first().map(String::as_str).unwrap_or("");
                        if crate::agents::find_program(program).is_none() {
                            report.problems.push(format!(
                                "agent {name}: {program} not found (install it or set [agent.{name}] command)"
                            ));
                        }
                    }
                }
            }
        }
        Err(e) => report.problems.push(e.to_string()),
    }
    report
}
