//! User configuration (`$XDG_CONFIG_HOME/fanout/config.toml`). Agent profiles and the
//! roster are resolved by `agents`, which this module hands its tables to.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use crate::agents::AgentProfile;
use crate::agents::Permissions;

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
    /// What the built-in agents may do without asking: "edits", "edits+verify" or "full"
    /// (default: each CLI's own default, docs/agents.md); a profile's own setting wins.
    pub permissions: Option<Permissions>,
    /// Seconds without output after which an attempt shows as stalled (default 120).
    pub stall_secs: Option<u64>,
    /// Stop each agent run after this long: "30m", "2h" (default: no limit).
    pub timeout: Option<String>,
    /// Finished worktrees kept per repository for the next fork to reuse (default: the
    /// attempt count; 0 turns the pool off).
    pub pool: Option<usize>,
    /// The most disk the pool of one repository may hold: "20G", "500M", or bytes
    /// (default: no limit beyond `pool`).
    pub pool_max_bytes: Option<ByteSize>,
    /// What a reused worktree keeps of its ignored files (build output): true (all, the
    /// default), false (none), or the globs of the ones to keep (`["target", "node_modules"]`).
    pub keep_ignored: Option<KeepIgnored>,
    /// The agent profile a review's judge runs with (default: the roster's first).
    pub judge: Option<String>,
    /// `"auto"`: review a fanout by itself once every attempt has ended and two or more have
    /// changes; `"manual"` (the default): only `fanout review`.
    pub review: Option<ReviewMode>,
    /// The most agents of one repository that run at once; the others wait as `queued`
    /// (default: the number of cores, at least 2).
    pub max_running: Option<usize>,
    /// The agent profile `fanout plan`'s lead runs with (default: the roster's first).
    pub lead: Option<String>,
    /// Where this configuration was read from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// When a fanout is reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewMode {
    Manual,
    Auto,
}

pub const DEFAULT_ATTEMPTS: usize = 3;

/// A size in bytes, written as a number or as "500M", "20G" (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => parse_size(&t)
                .map(ByteSize)
                .map_err(serde::de::Error::custom),
        }
    }
}

/// "500M" / "20G" / "1.5T" / "4096" → bytes.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit
        .trim()
        .to_ascii_uppercase()
        .trim_end_matches(['B', 'I'])
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => {
            return Err(format!(
                "`{text}` is not a size (write 500M, 20G or a number of bytes)"
            ))
        }
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write 500M, 20G or a number of bytes)"))?;
    Ok((n * (1u64 << shift) as f64) as u64)
}

/// Which ignored files a reused worktree keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeepIgnored {
    All(bool),
    Globs(Vec<String>),
}

impl Default for KeepIgnored {
    fn default() -> Self {
        KeepIgnored::All(true)
    }
}
pub const MAX_ATTEMPTS: usize = 64;

impl Config {
    /// The cap on agents running at once in one repository.
    pub fn max_running(&self) -> usize {
        self.max_running
            .filter(|n| *n > 0)
            .unwrap_or_else(crate::queue::default_max_running)
    }

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
        let mut config: Config =
            crate::toml_errors::parse(&text).map_err(|message| Error::Config {
                path: path.into(),
                message,
            })?;
        let invalid = |message: String| Error::Config {
            path: path.into(),
            message,
        };
        for (name, p) in &config.agent {
            if !p.command.is_empty() && p.command[0].is_empty() {
                return Err(invalid(format!(
                    "agent.{name}.command must start with a program"
                )));
            }
            if !p.command.is_empty() && p.extends.is_some() {
                return Err(invalid(format!(
                    "agent.{name}: set either `command` (an argv of its own) or `extends` (a profile to build on), not both"
                )));
            }
            if let Some(t) = &p.timeout {
                parse_age(t).map_err(|e| invalid(format!("agent.{name}.timeout: {e}")))?;
            }
        }
        if let Some(t) = &config.timeout {
            parse_age(t).map_err(|e| invalid(format!("timeout: {e}")))?;
        }
        if let Some(KeepIgnored::Globs(globs)) = &config.keep_ignored {
            for g in globs {
                globset::Glob::new(g)
                    .map_err(|e| invalid(format!("keep_ignored: `{g}` is not a glob: {e}")))?;
            }
        }
        if let Some(dir) = path.parent() {
            crate::agents::anchor_programs(&mut config.agent, &absolute(dir));
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

    /// How many finished worktrees the pool keeps per repository.
    pub fn pool_size(&self) -> usize {
        self.pool
            .unwrap_or_else(|| self.attempts())
            .min(MAX_ATTEMPTS)
    }

    pub fn pool_max_bytes(&self) -> u64 {
        self.pool_max_bytes.map(|b| b.0).unwrap_or(u64::MAX)
    }

    pub fn keep_ignored(&self) -> KeepIgnored {
        self.keep_ignored.clone().unwrap_or_default()
    }

    pub fn gc_age_secs(&self) -> Result<u64> {
        parse_age(self.gc_age.as_deref().unwrap_or("7d"))
    }

    /// `timeout` in seconds.
    pub fn timeout_secs(&self) -> Result<Option<u64>> {
        self.timeout.as_deref().map(parse_age).transpose()
    }

    /// The roster to rotate through when the user names no agent: `agents` from the config,
    /// else the user's own profiles, else the built-ins whose binary is installed.
    pub fn default_roster(&self) -> Result<Vec<String>> {
        crate::agents::default_roster(self.agents.as_deref(), &self.agent)
            .ok_or_else(|| Error::NoAgents(self.source.clone().unwrap_or_else(Self::user_path)))
    }
}

/// `dir` made absolute against the current folder (a `FANOUT_CONFIG` may be relative).
fn absolute(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// "7d" / "12h" / "30m" / "90s" / "3600" → seconds.
pub fn parse_age(text: &str) -> Result<u64> {
    crate::text::parse_duration(text).map_err(Error::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_say_which_line_and_what_is_expected() {
        let e =
            crate::toml_errors::parse::<Config>("attempts = 3\nagents = \"claude\"\n").unwrap_err();
        assert_eq!(
            e,
            "line 2: agents must be a list of agent names, like agents = [\"claude\", \"codex\"], not the string \"claude\""
        );
    }

    #[test]
    fn reads_the_pool_settings() {
        let c: Config =
            toml::from_str("pool = 5\npool_max_bytes = \"20G\"\nkeep_ignored = [\"target\"]\n")
                .unwrap();
        assert_eq!(c.pool_size(), 5);
        assert_eq!(c.pool_max_bytes(), 20 << 30);
        assert_eq!(c.keep_ignored(), KeepIgnored::Globs(vec!["target".into()]));
        let c: Config =
            toml::from_str("attempts = 4\nkeep_ignored = false\npool_max_bytes = 4096\n").unwrap();
        assert_eq!(c.pool_size(), 4);
        assert_eq!(c.pool_max_bytes(), 4096);
        assert_eq!(c.keep_ignored(), KeepIgnored::All(false));
        assert!(toml::from_str::<Config>("pool_max_bytes = \"lots\"\n").is_err());
        assert_eq!(parse_size("1.5K"), Ok(1536));
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
