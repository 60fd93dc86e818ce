//! `continue`: a follow-up prompt for one finished attempt. Its agent runs again in the same
//! worktree (resuming its own session where the CLI can), then verify runs again; the new
//! change is committed on top of the attempt's branch.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::repo::RepoPaths;
use crate::state::{AttemptRecord, AttemptState, StateDir};

pub fn continue_attempt(
    paths: &RepoPaths,
    user: &Config,
    a: &AttemptRecord,
    prompt: &str,
) -> Result<()> {
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(Error::Invalid(
            "a follow-up needs a prompt (--prompt TEXT)".into(),
        ));
    }
    if matches!(a.role, crate::state::Role::Integration { .. }) {
        return Err(Error::Invalid(format!(
            "{} is a task list's integration: no agent runs in it; change it with `fanout integrate --pick ITEM=ATTEMPT`, or by hand in its worktree {}",
            a.id,
            a.worktree.display()
        )));
    }
    if !a.state.is_finished() {
        return Err(Error::Invalid(format!(
            "attempt {} is still {}: wait for it or cancel it first",
            a.id,
            a.state.as_str()
        )));
    }
    if !a.worktree_present || !a.worktree.join(".git").exists() {
        return Err(Error::Invalid(format!(
            "attempt {} has no worktree any more ({}): nothing to continue",
            a.id,
            a.state.as_str()
        )));
    }
    let eff = crate::repo_config::effective(user, &paths.workdir)?;
    // The same profile and model as the attempt's first run.
    let spec = match &a.model {
        Some(m) => format!("{}:{m}", a.agent),
        None => a.agent.clone(),
    };
    let profile = crate::launch::resolve_profile(&eff, &spec)?;
    let states = StateDir::new(paths.state_dir.clone());
    let fanout = states.load_fanout(&a.fanout)?;
    let run = a.runs + 1;
    let full_prompt = crate::prompt::follow_up(&fanout.task, prompt);
    let dir = states.attempt_dir_of(a);
    let base = crate::launch::base_env_of(paths, a, &fanout.task);
    let launched = crate::launch::command_for(
        &profile,
        crate::launch::Run::FollowUp(run),
        &a.id,
        &a.worktree,
        &dir,
        &full_prompt,
        base,
    )?;
    let _ = std::fs::remove_file(dir.join("cancel"));
    // The follow-up's result is a new one, not accepted yet.
    states.clear_accepted(a)?;
    let mut next = a.clone();
    next.state = AttemptState::Queued;
    next.runs = run;
    next.argv = launched.argv;
    next.env = launched.env;
    next.usage_file = launched.usage_file;
    next.permissions = profile.permissions;
    next.stall_secs = profile.stall_secs;
    next.timeout_secs = profile.timeout_secs;
    next.own_files = profile.own_files.clone();
    next.stalled_since = None;
    next.start_delay_ms = 0;
    next.start_after = None;
    next.started_at = None;
    next.finished_at = None;
    next.exit_code = None;
    next.verify = None;
    // The activity stays: the follow-up's figures add to the earlier runs' (the supervisor
    // goes on from it), and the last action shows until the new run does something.
    next.phase = None;
    next.error = None;
    next.supervisor_pid = None;
    next.agent_pgid = None;
    states.write_attempt(&next)?;
    crate::supervisor::spawn(&dir)
}
