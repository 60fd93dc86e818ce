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
    let mut profile = crate::fork::resolve_profile(&eff.config.profiles(), &a.agent)?;
    if let Some(cmd) = profile.continue_command.take() {
        profile.command = cmd;
    }
    let states = StateDir::new(paths.state_dir.clone());
    let fanout = states.load_fanout(&a.fanout)?;
    let run = a.runs + 1;
    let full_prompt = crate::prompt::follow_up(&fanout.task, prompt);
    let dir = states.attempt_dir_of(a);
    let base = crate::fork::base_env_of(paths, a, &fanout.task);
    let (argv, env) = crate::fork::command_for(
        &profile,
        &a.id,
        &a.worktree,
        &dir,
        &format!("prompt-{run}.txt"),
        &full_prompt,
        base,
    )?;
    let _ = std::fs::remove_file(dir.join("cancel"));
    let mut next = a.clone();
    next.state = AttemptState::Queued;
    next.runs = run;
    next.argv = argv;
    next.env = env;
    next.start_delay_ms = 0;
    next.started_at = None;
    next.finished_at = None;
    next.exit_code = None;
    next.verify = None;
    next.activity = None;
    next.phase = None;
    next.error = None;
    next.supervisor_pid = None;
    next.agent_pgid = None;
    states.write_attempt(&next)?;
    crate::supervisor::spawn(&dir)
}
