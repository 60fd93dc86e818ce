//! `try`: fork one task into N attempts: snapshot, worktrees, supervisors.

use crate::agents::{expand_argv, find_program, Expansion};
use crate::checkout::{create_worktrees, remove_worktree, WorktreeSpec};
use crate::config::{AgentProfile, Config, MAX_ATTEMPTS};
use crate::error::{Error, IoContext, Result};
use crate::ids::{attempt_id, new_fanout_id, now_secs, slug};
use crate::repo::RepoPaths;
use crate::snapshot::{snapshot_commit, Overlay};
use crate::state::{AttemptRecord, AttemptState, FanoutRecord, StateDir};
use crate::tasks::{self, Task};
use std::collections::BTreeMap;
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
    /// Agents to rotate through; default: the config's roster.
    pub agents: Vec<String>,
    /// Replaces the task's text in the prompt (and allows forking a line with no task).
    pub prompt: Option<String>,
    /// Unsaved editor buffers, included in the snapshot.
    pub overlays: Vec<Overlay>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ForkResult {
    pub fanout: String,
    pub attempts: Vec<String>,
}

/// One attempt's plan, resolved before anything is created.
struct Planned {
    n: usize,
    agent: String,
    profile: AgentProfile,
}

/// Fork the task. Everything is checked before anything is created, and whatever was created
/// is removed again if a later step fails.
pub fn fork(paths: &RepoPaths, config: &Config, req: &ForkRequest) -> Result<ForkResult> {
    let text = file_text(paths, req)?;
    let line_count = text.lines().count().max(1);
    if req.line == 0 || req.line > line_count {
        return Err(Error::LineOutOfRange(
            req.file.clone(),
            req.line,
            line_count,
        ));
    }
    let task = match (tasks::task_at(&req.file, &text, req.line), &req.prompt) {
        (Some(t), _) => t,
        (None, Some(p)) if !p.trim().is_empty() => Task {
            file: req.file.clone(),
            line: req.line,
            marker: String::new(),
            text: p.trim().to_string(),
        },
        _ => {
            return Err(Error::NoTask {
                file: req.file.clone(),
                line: req.line,
            })
        }
    };
    let plan = plan_attempts(config, req)?;
    let root = worktree_root(paths, config)?;

    let fanout_id = new_fanout_id();
    let prompt = crate::prompt::build(
        &task,
        &text,
        req.prompt.as_deref(),
        config.prompt.as_deref(),
    );
    let snapshot = snapshot_commit(
        &paths.workdir,
        &req.overlays,
        &format!(
            "fanout snapshot {fanout_id}\n\nThe working state `fanout try` started from, for: {}",
            task.label()
        ),
    )?;
    let branch_base = format!("fanout/{}-{fanout_id}", slug(&task.text));
    let specs: Vec<WorktreeSpec> = plan
        .iter()
        .map(|p| WorktreeSpec {
            name: format!("fanout-{}", attempt_id(&fanout_id, p.n)),
            path: root.join(attempt_id(&fanout_id, p.n)),
            branch: format!("{branch_base}/{}", p.n),
        })
        .collect();
    let repo = paths.open()?;
    create_worktrees(&repo, snapshot, &specs)?;

    let states = StateDir::new(paths.state_dir.clone());
    let result = record_and_start(
        paths, config, &states, &fanout_id, &task, &prompt, snapshot, &plan, &specs,
    );
    if result.is_err() {
        for spec in &specs {
            let _ = remove_worktree(&repo, &spec.name, &spec.path, Some(&spec.branch));
        }
        let _ = std::fs::remove_dir_all(states.fanout_dir(&fanout_id));
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn record_and_start(
    paths: &RepoPaths,
    config: &Config,
    states: &StateDir,
    fanout_id: &str,
    task: &Task,
    prompt: &str,
    snapshot: git2::Oid,
    plan: &[Planned],
    specs: &[WorktreeSpec],
) -> Result<ForkResult> {
    let created_at = now_secs();
    states.write_fanout(&FanoutRecord {
        id: fanout_id.to_string(),
        created_at,
        task: task.clone(),
        prompt: prompt.to_string(),
        snapshot: snapshot.to_string(),
        attempt_count: plan.len(),
    })?;
    let mut ids = Vec::new();
    let mut dirs = Vec::new();
    for (p, spec) in plan.iter().zip(specs) {
        let id = attempt_id(fanout_id, p.n);
        let dir = states.attempt_dir(fanout_id, p.n);
        std::fs::create_dir_all(&dir).at(&dir)?;
        let prompt_file = dir.join("prompt.txt");
        std::fs::write(&prompt_file, prompt).at(&prompt_file)?;
        let worktree = spec.path.to_string_lossy().into_owned();
        let prompt_file_s = prompt_file.to_string_lossy().into_owned();
        let argv = expand_argv(
            &p.profile.command,
            &Expansion {
                prompt,
                prompt_file: &prompt_file_s,
                model: p.profile.model.as_deref(),
                worktree: &worktree,
                attempt: &id,
            },
        );
        let mut env: BTreeMap<String, String> = p.profile.env.clone();
        for (k, v) in [
            ("FANOUT_PROMPT", prompt.to_string()),
            ("FANOUT_PROMPT_FILE", prompt_file_s.clone()),
            ("FANOUT_ATTEMPT", id.clone()),
            ("FANOUT_ATTEMPT_NUMBER", p.n.to_string()),
            ("FANOUT_FANOUT", fanout_id.to_string()),
            ("FANOUT_WORKTREE", worktree.clone()),
            ("FANOUT_ROOT", paths.workdir.to_string_lossy().into_owned()),
            (
                "FANOUT_TASK_FILE",
                spec.path.join(&task.file).to_string_lossy().into_owned(),
            ),
            ("FANOUT_TASK_LINE", task.line.to_string()),
        ] {
            env.insert(k.to_string(), v);
        }
        states.write_attempt(&AttemptRecord {
            id: id.clone(),
            fanout: fanout_id.to_string(),
            n: p.n,
            agent: p.agent.clone(),
            state: AttemptState::Queued,
            branch: spec.branch.clone(),
            worktree: spec.path.clone(),
            worktree_name: spec.name.clone(),
            argv,
            env,
            base_commit: snapshot.to_string(),
            start_delay_ms: config.stagger_ms.unwrap_or(0) * (p.n as u64 - 1),
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
        })?;
        ids.push(id);
        dirs.push(dir);
    }
    for dir in &dirs {
        crate::supervisor::spawn(dir)?;
    }
    Ok(ForkResult {
        fanout: fanout_id.to_string(),
        attempts: ids,
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
fn plan_attempts(config: &Config, req: &ForkRequest) -> Result<Vec<Planned>> {
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
    let profiles = config.profiles();
    let mut out = Vec::new();
    for n in 1..=count {
        let agent = roster[(n - 1) % roster.len()].clone();
        let profile = profiles.get(&agent).cloned().ok_or_else(|| {
            Error::UnknownAgent(
                agent.clone(),
                profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            )
        })?;
        if find_program(&profile.command[0]).is_none() {
            return Err(Error::AgentNotFound {
                agent,
                program: profile.command[0].clone(),
            });
        }
        out.push(Planned { n, agent, profile });
    }
    Ok(out)
}

/// `<worktree_root>/<repo name>-<hash>`, created and checked writable.
fn worktree_root(paths: &RepoPaths, config: &Config) -> Result<PathBuf> {
    let root = config.worktree_root().join(paths.short_name());
    let probe = |root: &Path| -> std::io::Result<()> {
        std::fs::create_dir_all(root)?;
        let p = root.join(format!(".fanout-probe-{}", std::process::id()));
        std::fs::write(&p, b"")?;
        std::fs::remove_file(&p)
    };
    probe(&root).map_err(|e| Error::WorktreeRootNotWritable(root.clone(), e))?;
    Ok(root)
}
