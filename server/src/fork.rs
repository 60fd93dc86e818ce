//! `try`: fork one task into N attempts: snapshot, worktrees, supervisors.

use crate::agents::{Resolved, Start, STAGGER_MS};
use crate::checkout::WorktreeSpec;
use crate::config::{Config, MAX_ATTEMPTS};
use crate::error::{Error, IoContext, Result};
use crate::ids::{attempt_id, new_fanout_id, now_secs, slug};
use crate::repo::RepoPaths;
use crate::repo_config::{effective, Effective};
use crate::snapshot::{snapshot_commit, Overlay};
use crate::state::{AttemptRecord, AttemptState, FanoutRecord, StateDir};
use crate::task::Task;
use crate::tasks;
use std::path::{Path, PathBuf};

/// What to fork.
#[derive(Debug, Clone, Default)]
pub struct ForkRequest {
    /// The task's file, relative to the working tree ('/' separators).
    pub file: String,
    /// 1-based line of the task.
    pub line: usize,
    /// Number of attempts; default: as many as `agents` names, else the config's.
    pub count: Option<usize>,
    /// Agents to rotate through (`claude`, `claude:sonnet`); default: the config's roster.
    pub agents: Vec<String>,
    /// Replaces the task's text in the prompt (and allows forking a line with no task).
    pub prompt: Option<String>,
    /// Unsaved editor buffers, included in the snapshot.
    pub overlays: Vec<Overlay>,
    /// Start from this commit instead of a snapshot of the working state: the items of one
    /// task list share one snapshot, and an item that waited for others starts from the
    /// integration of theirs.
    pub base: Option<String>,
    /// A plan: the lead agent (`lead`) writes or extends the task list `file` (which need not
    /// exist) for the goal in `prompt`.
    pub lead: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForkResult {
    pub fanout: String,
    pub attempts: Vec<String>,
    /// Things the user should know (e.g. an untrusted `.fanout.toml` whose commands were ignored).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One attempt's plan, resolved before anything is created.
struct Planned {
    n: usize,
    profile: Resolved,
    start_delay_ms: u64,
    start_after: Option<usize>,
}

/// How long an attempt waits at most for the one before to print its first line
/// ([`Start::AfterFirstOutput`]): a CLI's first run may take a while to set itself up.
const FIRST_OUTPUT_WAIT_MS: u64 = 15_000;

/// Everything decided before the supervisors start.
struct Prepared<'a> {
    paths: &'a RepoPaths,
    eff: Effective,
    fanout_id: String,
    task: Task,
    prompt: String,
    snapshot: git2::Oid,
    plan: Vec<Planned>,
    specs: Vec<WorktreeSpec>,
}

/// Fork the task. `user` is the user's configuration (with any editor settings applied); the
/// repository's `.fanout.toml` is merged in here. Everything is checked before anything is
/// created, and whatever was created is removed again if a later step fails.
pub fn fork(paths: &RepoPaths, user: &Config, req: &ForkRequest) -> Result<ForkResult> {
    let eff = effective(user, &paths.workdir)?;
    let config = &eff.config;
    let (task, prompt) = if req.lead {
        lead_task(paths, req, config)?
    } else {
        let text = file_text(paths, req)?;
        let task = find_task(req, &text)?;
        let prompt = crate::prompt::build(
            &task,
            &text,
            req.prompt.as_deref(),
            config.prompt.as_deref(),
        );
        (task, prompt)
    };
    let plan = plan_attempts(&eff, req)?;
    let root = worktree_root(paths, config)?;

    let fanout_id = new_fanout_id();
    let snapshot = match &req.base {
        Some(base) => {
            let repo = paths.open()?;
            let oid = git2::Oid::from_str(base)
                .ok()
                .and_then(|o| repo.find_commit(o).ok())
                .ok_or_else(|| Error::Invalid(format!("no commit {base} to start from")))?;
            oid.id()
        }
        None => {
            let message = format!(
                "fanout snapshot {fanout_id}\n\nThe working state `fanout try` started from, for: {}",
                task.label()
            );
            snapshot_commit(&paths.workdir, &req.overlays, &message)?
        }
    };
    let branch_base = format!("fanout/{}-{fanout_id}", slug(&task.text));
    let specs: Vec<WorktreeSpec> = plan
        .iter()
        .map(|p| WorktreeSpec {
            name: format!("fanout-{}", attempt_id(&fanout_id, p.n)),
            path: root.join(attempt_id(&fanout_id, p.n)),
            branch: format!("{branch_base}/{}", p.n),
        })
        .collect();
    let states = StateDir::new(paths.state_dir.clone());
    // The intent comes before anything is created: a try killed at any instant from here on
    // leaves only what its intent lists, which `fanout status` shows and `fanout gc` removes.
    let intent = crate::state::Intent::begin(
        &states,
        &crate::state::IntentRecord {
            id: fanout_id.clone(),
            created_at: now_secs(),
            pid: std::process::id(),
            worktrees: specs
                .iter()
                .map(|s| crate::state::IntendedWorktree {
                    name: s.name.clone(),
                    path: s.path.clone(),
                    branch: s.branch.clone(),
                })
                .collect(),
        },
    )?;
    crate::fault::point("fork.intent-written");
    let repo = paths.open()?;
    let provided = crate::pool::provide(
        &repo,
        &root,
        &crate::pool::Limits::of(config),
        snapshot,
        &specs,
    );
    if let Err(e) = provided {
        drop(intent);
        states.remove_dir(&states.fanout_dir(&fanout_id));
        return Err(e);
    }
    crate::fault::point("fork.worktrees-created");

    let prepared = Prepared {
        paths,
        eff,
        fanout_id,
        task,
        prompt,
        snapshot,
        plan,
        specs,
    };
    let result = record_and_start(&prepared, &states);
    match result {
        Ok(r) => {
            intent.finish();
            Ok(r)
        }
        Err(e) => {
            crate::checkout::remove_worktrees(&repo, &prepared.specs);
            drop(intent);
            states.remove_dir(&states.fanout_dir(&prepared.fanout_id));
            Err(e)
        }
    }
}

/// A plan's task (the goal, on the task list's first line) and the lead's prompt.
fn lead_task(paths: &RepoPaths, req: &ForkRequest, config: &Config) -> Result<(Task, String)> {
    let goal = req
        .prompt
        .as_deref()
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .ok_or_else(|| {
            Error::Invalid("a plan needs a goal: fanout plan --prompt \"...\"".into())
        })?;
    let existing = match file_text(paths, req) {
        Ok(text) => Some(text),
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let task = Task {
        file: req.file.clone(),
        line: 1,
        marker: crate::task::PLAN.into(),
        text: goal.to_string(),
    };
    let prompt = crate::prompt::plan(
        goal,
        &req.file,
        existing.as_deref(),
        config.prompt.as_deref(),
    );
    Ok((task, prompt))
}

fn find_task(req: &ForkRequest, text: &str) -> Result<Task> {
    let line_count = text.lines().count().max(1);
    if req.line == 0 || req.line > line_count {
        return Err(Error::LineOutOfRange(
            req.file.clone(),
            req.line,
            line_count,
        ));
    }
    match (tasks::task_at(&req.file, text, req.line), &req.prompt) {
        (Some(t), _) => Ok(t),
        (None, Some(p)) if !p.trim().is_empty() => Ok(Task {
            file: req.file.clone(),
            line: req.line,
            marker: String::new(),
            text: p.trim().to_string(),
        }),
        _ => Err(Error::NoTask {
            file: req.file.clone(),
            line: req.line,
        }),
    }
}

fn record_and_start(p: &Prepared, states: &StateDir) -> Result<ForkResult> {
    let created_at = now_secs();
    let mut ids = Vec::new();
    let mut dirs = Vec::new();
    for (planned, spec) in p.plan.iter().zip(&p.specs) {
        let id = attempt_id(&p.fanout_id, planned.n);
        let dir = states.attempt_dir(&p.fanout_id, planned.n);
        std::fs::create_dir_all(&dir).at(&dir)?;
        let env = crate::launch::agent_env(p.paths, &id, planned.n, &spec.path, &p.task);
        let launched = crate::launch::command_for(
            &planned.profile,
            crate::launch::Run::First,
            &id,
            &spec.path,
            &dir,
            &p.prompt,
            env,
        )?;
        let profile = &planned.profile;
        states.write_attempt(&AttemptRecord {
            id: id.clone(),
            fanout: p.fanout_id.clone(),
            n: planned.n,
            agent: profile.name.clone(),
            state: AttemptState::Queued,
            branch: spec.branch.clone(),
            worktree: spec.path.clone(),
            worktree_name: spec.name.clone(),
            argv: launched.argv,
            env: launched.env,
            base_commit: p.snapshot.to_string(),
            start_delay_ms: planned.start_delay_ms,
            created_at,
            started_at: None,
            finished_at: None,
            exit_code: None,
            diffstat: None,
            commit: None,
            disk_bytes: None,
            error: None,
            supervisor_pid: None,
            agent_pgid: None,
            worktree_present: true,
            setup: p.eff.setup.clone(),
            verify_command: p.eff.verify.clone(),
            copy: p.eff.copy.clone(),
            env_templates: p.eff.env.clone(),
            port_count: p.eff.ports,
            port: None,
            setup_done: false,
            setup_outputs: Default::default(),
            phase: None,
            verify: None,
            activity: None,
            result_tree: None,
            runs: 1,
            user_git_dir: Some(p.paths.git_dir.clone()),
            outside_changes: Vec::new(),
            stopped_processes: 0,
            notes: Vec::new(),
            model: profile.model.clone(),
            permissions: profile.permissions,
            stall_secs: profile.stall_secs,
            timeout_secs: profile.timeout_secs,
            stalled_since: None,
            own_files: profile.own_files.clone(),
            usage_file: launched.usage_file,
            start_after: planned.start_after,
            role: Default::default(),
            max_running: Some(p.eff.config.max_running()),
            discard: None,
            accepted_at: None,
        })?;
        crate::fault::point("fork.attempt-recorded");
        ids.push(id);
        dirs.push(dir);
    }
    // The fanout's own record comes last: readers skip a fanout without it, so nobody sees
    // a fanout with only some of its attempts.
    states.write_fanout(&FanoutRecord {
        id: p.fanout_id.clone(),
        created_at,
        task: p.task.clone(),
        prompt: p.prompt.clone(),
        snapshot: p.snapshot.to_string(),
        attempt_count: p.plan.len(),
    })?;
    crate::fault::point("fork.fanout-recorded");
    for dir in &dirs {
        crate::supervisor::spawn(dir)?;
        crate::fault::point("fork.supervisor-started");
    }
    Ok(ForkResult {
        fanout: p.fanout_id.clone(),
        attempts: ids,
        warnings: p.eff.untrusted_warning.iter().cloned().collect(),
    })
}

/// The file as the user sees it: the unsaved buffer if there is one, else the file on disk.
fn file_text(paths: &RepoPaths, req: &ForkRequest) -> Result<String> {
    if let Some(o) = req.overlays.iter().find(|o| o.path == req.file) {
        return Ok(String::from_utf8_lossy(&o.bytes).into_owned());
    }
    let path = paths.workdir.join(&req.file);
    let bytes = std::fs::read(&path).at(&path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Resolve the roster into one agent per attempt, checking every profile and binary.
fn plan_attempts(eff: &crate::repo_config::Effective, req: &ForkRequest) -> Result<Vec<Planned>> {
    let config = &eff.config;
    let roster = if req.agents.is_empty() {
        config.default_roster()?
    } else {
        req.agents.clone()
    };
    let count = req.count.unwrap_or(if req.agents.is_empty() {
        config.attempts()
    } else {
        req.agents.len()
    });
    if count == 0 || count > MAX_ATTEMPTS {
        return Err(Error::BadCount {
            got: count,
            max: MAX_ATTEMPTS,
        });
    }
    let mut resolved: std::collections::BTreeMap<&str, Resolved> = Default::default();
    for agent in &roster {
        if !resolved.contains_key(agent.as_str()) {
            resolved.insert(agent, crate::launch::resolve_profile(eff, agent)?);
        }
    }
    let mut out: Vec<Planned> = Vec::new();
    // Per CLI, the attempts already planned (their numbers), for staggered starts.
    let mut earlier: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for n in 1..=count {
        let profile = resolved[roster[(n - 1) % roster.len()].as_str()].clone();
        let same = earlier
            .entry(profile.kind.unwrap_or("(own command)"))
            .or_default();
        let k = same.len() as u64;
        let (start_delay_ms, start_after) = match (config.stagger_ms, profile.start) {
            // A CLI whose first run creates its database waits for the one before whatever
            // `stagger_ms` says: two first runs at once fail.
            (_, Start::AfterFirstOutput) if k > 0 => {
                (FIRST_OUTPUT_WAIT_MS * k, same.last().copied())
            }
            (Some(ms), _) => (ms * (n as u64 - 1), None),
            (None, Start::Together) => (0, None),
            (None, Start::Staggered) => (STAGGER_MS * k, None),
            (None, Start::AfterFirstOutput) => (FIRST_OUTPUT_WAIT_MS * k, same.last().copied()),
        };
        same.push(n);
        out.push(Planned {
            n,
            profile,
            start_delay_ms,
            start_after,
        });
    }
    Ok(out)
}

/// `<worktree_root>/<repo name>-<hash>`, created and checked writable.
fn worktree_root(paths: &RepoPaths, config: &Config) -> Result<PathBuf> {
    let root = config.worktree_root().join(paths.short_name());
    // Asked of the kernel rather than by writing a probe file: a kill between writing and
    // removing one would leave it behind. access(2) also says EROFS for a read-only mount.
    let probe = |root: &Path| -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        std::fs::create_dir_all(root)?;
        let c = std::ffi::CString::new(root.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a valid NUL-terminated path; access only reads it.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    probe(&root).map_err(|e| Error::WorktreeRootNotWritable(root.clone(), e))?;
    Ok(root)
}
