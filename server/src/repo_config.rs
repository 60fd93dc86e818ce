//! The repository's own `.fanout.toml`, and what of it applies.
//!
//! A cloned repository is untrusted: its file may set harmless things (attempt count, roster,
//! extra prompt, files to copy, ports) at once, but nothing that runs or steers a command
//! (agent profiles, setup, verify, env) until the user trusts that exact content
//! (`fanout trust`, or the editor's prompt). Trust is keyed by the file's SHA-256 and kept in
//! the user's data folder, never in the repository, so editing the file revokes it.

use crate::agents::AgentProfile;
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = ".fanout.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepoConfig {
    pub attempts: Option<usize>,
    pub agents: Option<Vec<String>>,
    /// Extra instructions added to every prompt.
    pub prompt: Option<String>,
    /// Globs of (usually ignored) files copied from the main checkout into each worktree.
    #[serde(default)]
    pub copy: Vec<String>,
    /// Commands run in the worktree before the agent, each an argv array.
    #[serde(default)]
    pub setup: Vec<Vec<String>>,
    /// The command run after the agent succeeds (e.g. the tests).
    pub verify: Option<Vec<String>>,
    /// Environment for setup, agent and verify; `{attempt}` and `{port}` expand.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How many ports each attempt gets (FANOUT_PORT .. FANOUT_PORT + n - 1; default 1).
    pub ports: Option<u16>,
    /// Seconds without output after which an attempt shows as stalled.
    pub stall_secs: Option<u64>,
    /// Stop each agent run after this long: "30m", "2h".
    pub timeout: Option<String>,
    /// Agent profiles defined by the repository.
    #[serde(default)]
    pub agent: BTreeMap<String, AgentProfile>,
}

impl RepoConfig {
    /// What this file would run, one line each, for the user to review before trusting it.
    pub fn commands(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, p) in &self.agent {
            out.push(format!("agent {name}: {}", show_argv(&p.command)));
        }
        for cmd in &self.setup {
            out.push(format!("setup: {}", show_argv(cmd)));
        }
        if let Some(v) = &self.verify {
            out.push(format!("verify: {}", show_argv(v)));
        }
        for (k, v) in &self.env {
            out.push(format!("env: {k}={v}"));
        }
        out
    }

    pub fn has_commands(&self) -> bool {
        !self.commands().is_empty()
    }
}

/// An argv as the user would read it: `["sh", "-c", "echo hi"]`, each argument with its
/// control characters escaped the way every other line fanout prints is (`\x1b`).
pub fn show_argv(argv: &[String]) -> String {
    let args: Vec<String> = argv
        .iter()
        .map(|a| format!("\"{}\"", crate::text::escape_line(&a.replace('"', "\\\""))))
        .collect();
    format!("[{}]", args.join(", "))
}

/// The repository's config file as found, with its trust.
#[derive(Debug, Clone)]
pub struct RepoConfigFile {
    pub path: PathBuf,
    pub config: RepoConfig,
    pub sha256: String,
    pub trusted: bool,
}

impl RepoConfigFile {
    /// Read `<workdir>/.fanout.toml` if there is one. A broken file is an error naming it.
    pub fn load(workdir: &Path) -> Result<Option<RepoConfigFile>> {
        let path = workdir.join(FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).at(path),
        };
        let text = String::from_utf8(bytes.clone()).map_err(|_| Error::Config {
            path: path.clone(),
            message: "not valid UTF-8".into(),
        })?;
        let mut config: RepoConfig =
            crate::toml_errors::parse(&text).map_err(|message| Error::Config {
                path: path.clone(),
                message,
            })?;
        for (what, argv) in config
            .setup
            .iter()
            .map(|c| ("setup", c))
            .chain(config.verify.iter().map(|c| ("verify", c)))
            .chain(config.agent.values().map(|p| ("agent command", &p.command)))
        {
            if argv.is_empty() || argv[0].is_empty() {
                return Err(Error::Config {
                    path,
                    message: format!("a {what} must be a non-empty argv array"),
                });
            }
        }
        if let Some(p) = config.ports {
            let max = crate::attempt_env::MAX_PORTS_PER_ATTEMPT;
            if p == 0 || p > max {
                return Err(Error::Config {
                    path,
                    message: format!(
                        "ports = {p}: each attempt can have 1 to {max} ports, like ports = 2 (every attempt's block must fit below port 65536)"
                    ),
                });
            }
        }
        if let Some(t) = &config.timeout {
            if let Err(e) = crate::config::parse_age(t) {
                return Err(Error::Config {
                    path,
                    message: format!("timeout: {e}"),
                });
            }
        }
        crate::agents::anchor_programs(&mut config.agent, workdir);
        let sha256 = sha256_hex(&bytes);
        let trusted = TrustStore::load().is_trusted(&sha256);
        Ok(Some(RepoConfigFile {
            path,
            config,
            sha256,
            trusted,
        }))
    }

    /// Record trust in this exact content.
    pub fn trust(&self) -> Result<()> {
        let mut store = TrustStore::load();
        store.trusted.insert(
            self.sha256.clone(),
            self.path.to_string_lossy().into_owned(),
        );
        store.save()
    }
}

/// The user config merged with the repository's, and what was left out for want of trust.
#[derive(Debug, Clone)]
pub struct Effective {
    pub config: Config,
    pub copy: Vec<String>,
    pub setup: Vec<Vec<String>>,
    pub verify: Option<Vec<String>>,
    pub env: BTreeMap<String, String>,
    pub ports: u16,
    /// Where profiles come from, by name: "built-in", "user" or "repository".
    pub sources: BTreeMap<String, &'static str>,
    /// A warning when the repository's commands were ignored because it is not trusted.
    pub untrusted_warning: Option<String>,
    pub repo_file: Option<RepoConfigFile>,
}

impl Effective {
    /// What agent profiles resolve against: the configured permission level, the commands
    /// `edits+verify` allows (verify and setup, trusted ones only), the stall threshold and
    /// the timeout.
    pub fn agent_defaults(&self) -> Result<crate::agents::Defaults> {
        Ok(crate::agents::Defaults {
            permissions: self.config.permissions,
            commands: self.verify.iter().chain(&self.setup).cloned().collect(),
            timeout_secs: self.config.timeout_secs()?,
            stall_secs: self.config.stall_secs,
            root: unsafe { libc::geteuid() } == 0,
        })
    }

    /// Resolve an agent as named by the user (`claude`, `claude:sonnet`).
    pub fn resolve_agent(&self, spec: &str) -> Result<crate::agents::Resolved> {
        let spec = crate::agents::AgentSpec::parse(spec)?;
        crate::agents::resolve(&self.config.agent, &spec, &self.agent_defaults()?)
    }
}

/// The configuration in force for `workdir`: built-ins < user config < repository config.
pub fn effective(user: &Config, workdir: &Path) -> Result<Effective> {
    let mut config = user.clone();
    let mut sources: BTreeMap<String, &'static str> = crate::agents::builtin_names()
        .map(|k| (k.to_string(), "built-in"))
        .collect();
    for name in user.agent.keys() {
        sources.insert(name.clone(), "user");
    }
    let file = RepoConfigFile::load(workdir)?;
    let mut out = Effective {
        config: Config::default(),
        copy: vec![],
        setup: vec![],
        verify: None,
        env: BTreeMap::new(),
        ports: 1,
        sources: BTreeMap::new(),
        untrusted_warning: None,
        repo_file: None,
    };
    if let Some(f) = &file {
        let rc = &f.config;
        config.attempts = rc.attempts.or(config.attempts);
        if rc.agents.is_some() {
            config.agents = rc.agents.clone();
        }
        config.prompt = match (config.prompt.take(), &rc.prompt) {
            (Some(a), Some(b)) => Some(format!("{a}\n\n{b}")),
            (a, b) => a.or(b.clone()),
        };
        out.copy = rc.copy.clone();
        out.ports = rc.ports.unwrap_or(1);
        config.stall_secs = rc.stall_secs.or(config.stall_secs);
        config.timeout = rc.timeout.clone().or(config.timeout.take());
        if f.trusted {
            for (name, p) in &rc.agent {
                config.agent.insert(name.clone(), p.clone());
                sources.insert(name.clone(), "repository");
            }
            out.setup = rc.setup.clone();
            out.verify = rc.verify.clone();
            out.env = rc.env.clone();
        } else if rc.has_commands() {
            out.untrusted_warning = Some(format!(
                "{} is not trusted: its commands (agents, setup, verify, env) are ignored; review and run `fanout trust`",
                f.path.display()
            ));
        }
    }
    out.config = config;
    out.sources = sources;
    out.repo_file = file;
    Ok(out)
}

/// Trusted `.fanout.toml` contents, by SHA-256, in `<data dir>/trust.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TrustStore {
    /// sha256 → the path it was trusted at (for the user's reference only).
    trusted: BTreeMap<String, String>,
}

impl TrustStore {
    fn path() -> PathBuf {
        crate::repo::data_dir().join("trust.json")
    }
    fn load() -> TrustStore {
        crate::state::read_json(&Self::path()).unwrap_or_default()
    }
    fn save(&self) -> Result<()> {
        crate::state::write_json_atomic(&Self::path(), self)
    }
    fn is_trusted(&self, sha256: &str) -> bool {
        self.trusted.contains_key(sha256)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let rc: RepoConfig = toml::from_str(
            r#"
attempts = 2
agents = ["claude"]
prompt = "Keep it small."
copy = [".env", ".env.local"]
setup = [["npm", "ci"], ["cp", "a", "b"]]
verify = ["cargo", "test"]
env = { PORT = "{port}", NAME = "app-{attempt}" }
ports = 3
"#,
        )
        .unwrap();
        assert_eq!(rc.setup.len(), 2);
        assert_eq!(rc.commands().len(), 5);
        assert!(
            toml::from_str::<RepoConfig>("setup = \"npm ci\"").is_err(),
            "shell strings are refused"
        );
    }
}
