//! What an attempt's agent run is started with: its profile resolved and checked, its argv
//! expanded, and its environment (FANOUT_*, the profile's variables, a git identity when the
//! user has none). Used by `try` (fork) and `continue` (followup) alike.

use crate::agents::{expand_argv, find_program, Expansion, Resolved};
use crate::error::{Error, IoContext, Result};
use crate::repo::RepoPaths;
use crate::repo_config::Effective;
use crate::state::AttemptRecord;
use crate::tasks::Task;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A profile by name (`claude`, `claude:sonnet`) whose binary is installed.
pub fn resolve_profile(eff: &Effective, agent: &str) -> Result<Resolved> {
    let r = eff.resolve_agent(agent)?;
    let program = &r.command[0];
    if find_program(program).is_none() {
        return Err(Error::AgentNotFound {
            agent: agent.to_string(),
            program: program.clone(),
        });
    }
    Ok(r)
}

/// What `fanout agents` lists: every profile (built-in, the user's, the repository's), its
/// binary, and for the known CLIs only, their version. A profile that does not resolve is
/// listed with the reason.
pub fn detect_all(eff: &Effective) -> Vec<crate::agents::Detection> {
    crate::agents::all_names(&eff.config.agent)
        .into_iter()
        .map(|name| {
            let source = eff.sources.get(&name).copied().unwrap_or("user");
            match eff.resolve_agent(&name) {
                Ok(r) => crate::agents::detect(source, &r),
                Err(e) => crate::agents::Detection {
                    name: name.clone(),
                    source: source.into(),
                    binary: None,
                    version: None,
                    usable: false,
                    argv: eff
                        .config
                        .agent
                        .get(&name)
                        .map(|p| p.command.clone())
                        .unwrap_or_default(),
                    model: None,
                    takes_model: false,
                    permissions: None,
                    note: Some(e.to_string()),
                },
            }
        })
        .collect()
}

/// FANOUT_* for every command of an attempt (setup, agent, verify), and a git identity when
/// the user has none configured.
pub fn agent_env(
    paths: &RepoPaths,
    id: &str,
    n: usize,
    worktree: &Path,
    task: &Task,
) -> BTreeMap<String, String> {
    let (fanout, _) = crate::ids::parse_attempt_id(id).unwrap_or((id, n));
    let mut env: BTreeMap<String, String> = [
        ("FANOUT_ATTEMPT", id.to_string()),
        ("FANOUT_ATTEMPT_NUMBER", n.to_string()),
        ("FANOUT_FANOUT", fanout.to_string()),
        ("FANOUT_WORKTREE", worktree.to_string_lossy().into_owned()),
        ("FANOUT_ROOT", paths.workdir.to_string_lossy().into_owned()),
        (
            "FANOUT_TASK_FILE",
            worktree.join(&task.file).to_string_lossy().into_owned(),
        ),
        ("FANOUT_TASK_LINE", task.line.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    env.extend(git_identity_env(&paths.workdir));
    env
}

/// The environment of an existing attempt's commands, for a follow-up run.
pub fn base_env_of(
    paths: &RepoPaths,
    rec: &AttemptRecord,
    task: &Task,
) -> BTreeMap<String, String> {
    agent_env(paths, &rec.id, rec.n, &rec.worktree, task)
}

/// When git has no `user.name` or `user.email` for the repository, the attempt's commands get
/// one through `GIT_CONFIG_COUNT` (after any the user's environment already sets). Without
/// it, aider writes a placeholder identity into the repository's shared `.git/config`, and two
/// attempts doing so at once fail on its lock; other agents' commits would fail outright.
pub fn git_identity_env(workdir: &Path) -> BTreeMap<String, String> {
    let get = |key: &str| -> Option<String> {
        let out = std::process::Command::new("git")
            .args(["config", "--get", key])
            .current_dir(workdir)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !v.is_empty()).then_some(v)
    };
    let from_env = |names: &[&str], fallback: &str| {
        names
            .iter()
            .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| fallback.to_string())
    };
    let mut missing = Vec::new();
    if get("user.name").is_none() {
        missing.push((
            "user.name",
            from_env(&["GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"], "fanout"),
        ));
    }
    if get("user.email").is_none() {
        missing.push((
            "user.email",
            from_env(
                &["GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "EMAIL"],
                "fanout@localhost",
            ),
        ));
    }
    let mut env = BTreeMap::new();
    if missing.is_empty() {
        return env;
    }
    let first: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    for (i, (key, value)) in missing.iter().enumerate() {
        env.insert(format!("GIT_CONFIG_KEY_{}", first + i), key.to_string());
        env.insert(format!("GIT_CONFIG_VALUE_{}", first + i), value.clone());
    }
    env.insert(
        "GIT_CONFIG_COUNT".into(),
        (first + missing.len()).to_string(),
    );
    env
}

/// Where in its worktree a judge writes its verdict (`{verdict_file}`, FANOUT_VERDICT_FILE):
/// inside the worktree, where every agent may write, and thrown away with it.
pub const VERDICT_FILE: &str = ".fanout-verdict.json";

/// One run's argv and environment, ready for the supervisor.
#[derive(Debug, Clone)]
pub struct Launched {
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Where the agent writes its usage figures for this run, when its profile asks it to.
    pub usage_file: Option<PathBuf>,
}

/// Which of a profile's argv a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    First,
    /// A follow-up: the argv that resumes the agent's own session, where it has one.
    FollowUp(usize),
}

/// Expand a profile for one run: writes the prompt file, returns argv and env (the profile's
/// variables, `base`, and the prompt's).
#[allow(clippy::too_many_arguments)]
pub fn command_for(
    profile: &Resolved,
    run: Run,
    id: &str,
    worktree: &Path,
    dir: &Path,
    prompt: &str,
    base: BTreeMap<String, String>,
) -> Result<Launched> {
    let (prompt_name, usage_name, template) = match run {
        Run::First => (
            "prompt.txt".to_string(),
            "usage-1.json".to_string(),
            &profile.command,
        ),
        Run::FollowUp(n) => (
            format!("prompt-{n}.txt"),
            format!("usage-{n}.json"),
            profile
                .continue_command
                .as_ref()
                .unwrap_or(&profile.command),
        ),
    };
    let prompt_file = dir.join(&prompt_name);
    std::fs::write(&prompt_file, prompt).at(&prompt_file)?;
    let usage_file = dir.join(usage_name);
    let wants_usage = template.iter().any(|a| a.contains("{usage_file}"));
    let worktree_s = worktree.to_string_lossy().into_owned();
    let prompt_file_s = prompt_file.to_string_lossy().into_owned();
    let usage_file_s = usage_file.to_string_lossy().into_owned();
    let session = session_uuid(worktree, id);
    let verdict_file_s = worktree.join(VERDICT_FILE).to_string_lossy().into_owned();
    let argv = expand_argv(
        template,
        &Expansion {
            prompt,
            prompt_file: &prompt_file_s,
            model: profile.model.as_deref(),
            worktree: &worktree_s,
            attempt: id,
            session: &session,
            usage_file: &usage_file_s,
            verdict_file: &verdict_file_s,
        },
    );
    let mut env = profile.env.clone();
    env.extend(base);
    env.insert("FANOUT_PROMPT".into(), prompt.to_string());
    env.insert("FANOUT_PROMPT_FILE".into(), prompt_file_s);
    Ok(Launched {
        argv,
        env,
        usage_file: wants_usage.then_some(usage_file),
    })
}

/// A UUID (version 4 in form) of the attempt's own, the same for every run of it: for CLIs
/// that take a session id, so a follow-up resumes the attempt's session and no other.
pub fn session_uuid(worktree: &Path, id: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(worktree.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_uuids_of_the_attempt() {
        let a = session_uuid(Path::new("/w/a-1"), "a-1");
        assert_eq!(a, session_uuid(Path::new("/w/a-1"), "a-1"));
        assert_ne!(a, session_uuid(Path::new("/w/a-2"), "a-2"));
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }
}
