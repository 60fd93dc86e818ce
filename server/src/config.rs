//! User configuration (`$XDG_CONFIG_HOME/fanout/config.toml`) and agent profiles.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to run one coding-agent CLI: an argv template, never a shell string.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// argv; `{prompt}`, `{prompt_file}`, `{model}`, `{worktree}`, `{attempt}` expand inside one argument.
    pub command: Vec<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// argv for a follow-up (`fanout continue`) that resumes the agent's own session, where
    /// the CLI can; without it, a follow-up runs `command` again with the new prompt.
    #[serde(default)]
    pub continue_command: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default number of attempts.
    pub attempts: Option<usize>,
    /// Default roster, rotated through the attempts.
    pub agents: Option<Vec<String>>,
    /// Agent profiles by name; a user profile overrides a built-in one of the same name.
    #[serde(default)]
    pub agent: BTreeMap<String, AgentProfile>,
    /// Where worktrees go (default: `<data dir>/worktrees`).
    pub worktree_root: Option<PathBuf>,
    /// `fanout gc` removes finished attempts older than this: "7d", "12h", "30m", "90s".
    pub gc_age: Option<String>,
    /// Delay between attempt starts, in milliseconds (some agent CLIs race on their own
    /// config files when started at the same instant).
    pub stagger_ms: Option<u64>,
    /// Extra instructions added to every prompt.
    pub prompt: Option<String>,
    /// Where this configuration was read from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

pub const DEFAULT_ATTEMPTS: usize = 3;
pub const MAX_ATTEMPTS: usize = 64;

impl Config {
    /// The user's config file path: `$FANOUT_CONFIG`, else `$XDG_CONFIG_HOME/fanout/config.toml`.
    pub fn user_path() -> PathBuf {
        std::env::var_os("FANOUT_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo::config_dir().join("config.toml"))
    }

    /// Load the user's config; a missing file is an empty config, a broken one an error.
    pub fn load_user() -> Result<Config> {
        Self::load(&Self::user_path())
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config {
                    source: Some(path.to_path_buf()),
                    ..Config::default()
                })
            }
            Err(e) => {
                return Err(Error::Config {
                    path: path.into(),
                    message: e.to_string(),
                })
            }
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.into(),
            message: toml_message(&text, &e),
        })?;
        for (name, profile) in &config.agent {
            if profile.command.is_empty() || profile.command[0].is_empty() {
                return Err(Error::Config {
                    path: path.into(),
                    message: format!("agent.{name}.command must be a non-empty argv array"),
                });
            }
        }
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    pub fn attempts(&self) -> usize {
        self.attempts.unwrap_or(DEFAULT_ATTEMPTS)
    }

    pub fn worktree_root(&self) -> PathBuf {
        self.worktree_root
            .clone()
            .unwrap_or_else(|| crate::repo::data_dir().join("worktrees"))
    }

    pub fn gc_age_secs(&self) -> Result<u64> {
        parse_age(self.gc_age.as_deref().unwrap_or("7d"))
    }

    /// Every profile by name: built-ins, overridden by the user's.
    pub fn profiles(&self) -> BTreeMap<String, AgentProfile> {
        let mut all = crate::agents::builtin_profiles();
        for (name, p) in &self.agent {
            all.insert(name.clone(), p.clone());
        }
        all
    }

    /// The roster to rotate through when the user names no agent: `agents` from the config,
    /// else the user's own profiles, else the built-ins whose binary is installed.
    pub fn default_roster(&self) -> Result<Vec<String>> {
        if let Some(agents) = self.agents.as_ref().filter(|a| !a.is_empty()) {
            return Ok(agents.clone());
        }
        if !self.agent.is_empty() {
            return Ok(self.agent.keys().cloned().collect());
        }
        let installed: Vec<String> = crate::agents::builtin_profiles()
            .into_iter()
            .filter(|(_, p)| crate::agents::find_program(&p.command[0]).is_some())
            .map(|(n, _)| n)
            .collect();
        if installed.is_empty() {
            return Err(Error::NoAgents(
                self.source.clone().unwrap_or_else(Self::user_path),
            ));
        }
        Ok(installed)
    }
}

/// A TOML error as one line that says where: `line 3: invalid type: string "three",
/// expected usize`.
pub(crate) fn toml_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {}", e.message())
        }
        None => e.message().to_string(),
    }
}

/// "7d" / "12h" / "30m" / "90s" / "3600" → seconds.
pub fn parse_age(text: &str) -> Result<u64> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = num.parse().map_err(|_| {
        Error::Invalid(format!("bad age '{text}': expected e.g. 7d, 12h, 30m, 90s"))
    })?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(Error::Invalid(format!(
                "bad age '{text}': unit must be s, m, h, d or w"
            )))
        }
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_say_which_line() {
        let text = "attempts = 3\nagents = \"claude\"\n";
        let e = toml::from_str::<Config>(text).unwrap_err();
        assert!(
            toml_message(text, &e).starts_with("line 2: invalid type"),
            "{}",
            toml_message(text, &e)
        );
    }

    #[test]
    fn parses_ages() {
        assert_eq!(parse_age("7d").unwrap(), 7 * 86400);
        assert_eq!(parse_age("90").unwrap(), 90);
        assert!(parse_age("soon").is_err());
    }

    #[test]
    fn reads_the_documented_example() {
        let c: Config = toml::from_str(
            r#"
attempts = 3
agents = ["claude", "codex"]
[agent.claude]
command = ["claude", "-p", "{prompt}", "--model", "{model}", "--permission-mode", "acceptEdits"]
model = "opus"
"#,
        )
        .unwrap();
        assert_eq!(c.attempts(), 3);
        assert_eq!(c.agent["claude"].model.as_deref(), Some("opus"));
    }
}
