//! Agent profiles: the built-in ones for the popular CLIs, the user's and the repository's
//! (`[agent.NAME]`), resolving a name (`claude`, `claude:sonnet`, a variant that `extends`
//! one) into the argv template to run, permission levels and what each means for each CLI,
//! finding binaries, and expanding an argv template.
//!
//! Nothing here reads configuration files: `config` and `repo_config` hand their tables in.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How to run one coding-agent CLI, as configured in `[agent.NAME]`: an argv template, never
/// a shell string. Without `command` it builds on a built-in profile (the one of its own
/// name, or `extends`), changing only what it sets.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// argv; `{prompt}`, `{prompt_file}`, `{model}`, `{worktree}`, `{attempt}`, `{session}`,
    /// `{usage_file}` and `{verdict_file}` expand inside one argument.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The profile this one builds on (a built-in or another profile), when it has no
    /// `command` of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Extra arguments, after the profile's own (and those of the profile it extends).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// argv for a follow-up (`fanout continue`) that resumes the agent's own session, where
    /// the CLI can; without it, a follow-up runs `command` again with the new prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continue_command: Option<Vec<String>>,
    /// What the agent may do without asking (built-in CLIs only; see [`Permissions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// Stop the agent's run after this long: "30m", "2h", "90s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Seconds without output after which the attempt shows as stalled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_secs: Option<u64>,
}

impl AgentProfile {
    /// Make a relative program path (`./scripts/my-agent`, `bin/agent`) absolute from `base`,
    /// the folder of the file that names it (the user config's folder, the repository's root
    /// for `.fanout.toml`), so it runs the same from any current folder. A bare name is looked
    /// up on PATH and stays as it is.
    pub fn anchor_programs(&mut self, base: &Path) {
        let commands = std::iter::once(&mut self.command).chain(self.continue_command.as_mut());
        for argv in commands {
            if let Some(program) = argv.first_mut() {
                let p = Path::new(program.as_str());
                if program.contains('/') && p.is_relative() && !program.starts_with('{') {
                    let full: PathBuf = base
                        .join(p)
                        .components()
                        .filter(|c| !matches!(c, std::path::Component::CurDir))
                        .collect();
                    *program = full.to_string_lossy().into_owned();
                }
            }
        }
    }
}

/// Every profile of a file anchored at `base` (see [`AgentProfile::anchor_programs`]).
pub fn anchor_programs(profiles: &mut BTreeMap<String, AgentProfile>, base: &Path) {
    for p in profiles.values_mut() {
        p.anchor_programs(base);
    }
}

/// What an agent may do in its worktree without asking, mapped to each CLI's own flags
/// (docs/agents.md has the table).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permissions {
    /// Edit files in its worktree; run no commands.
    #[serde(rename = "edits")]
    Edits,
    /// Edit files, and run the repository's `verify` and `setup` commands (its tests).
    #[serde(rename = "edits+verify")]
    EditsVerify,
    /// Everything the CLI can do without asking.
    #[serde(rename = "full")]
    Full,
}

impl Permissions {
    pub fn as_str(self) -> &'static str {
        match self {
            Permissions::Edits => "edits",
            Permissions::EditsVerify => "edits+verify",
            Permissions::Full => "full",
        }
    }
}

/// How a built-in CLI's attempts start when several run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// All at once.
    Together,
    /// Two seconds apart: the CLI races on its own config file when started in the same
    /// instant (Claude Code's ~/.claude.json, Cursor's CLI config).
    Staggered,
    /// Each waits until the one before has printed its first line (at most two seconds per
    /// attempt before it): the CLI's first run creates its database, and two first runs at
    /// once fail with "database is locked" (OpenCode).
    AfterFirstOutput,
}

/// The delay between staggered starts.
pub const STAGGER_MS: u64 = 2000;

/// A built-in profile: the CLI's headless argv in parts, so that permission flags, the model
/// and a variant's extra arguments go in the right place.
struct Builtin {
    name: &'static str,
    /// The program and its non-interactive flags.
    head: &'static [&'static str],
    /// The head of a follow-up that resumes the agent's own session, if it differs.
    continue_head: Option<&'static [&'static str]>,
    /// How the model is given.
    model: &'static [&'static str],
    /// After every flag: the prompt, where it is positional.
    tail: &'static [&'static str],
    /// The tail of a follow-up that resumes the session, if it differs.
    continue_tail: Option<&'static [&'static str]>,
    /// Whether a follow-up resumes the session with the same argv (Copilot's `--session-id`).
    resumes_with_same_argv: bool,
    env: &'static [(&'static str, &'static str)],
    /// Files the CLI writes into the worktree for itself (histories, caches): left out of the
    /// attempt's change (gitignore-style names, matched against each path component).
    own_files: &'static [&'static str],
    start: Start,
    /// The permission level when none is configured.
    default_permissions: Permissions,
    levels: fn(&LevelContext) -> Result<LevelFlags, String>,
}

/// What a permission level needs to know: the commands to allow and who runs the agent.
pub struct LevelContext<'a> {
    pub level: Permissions,
    /// The repository's verify and setup commands (trusted ones only).
    pub commands: &'a [Vec<String>],
    /// Whether fanout runs as root (Claude Code refuses to skip permissions then).
    pub root: bool,
}

/// A permission level's flags and environment for one CLI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelFlags {
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

fn flags(args: &[&str]) -> LevelFlags {
    LevelFlags {
        args: args.iter().map(|s| s.to_string()).collect(),
        env: BTreeMap::new(),
    }
}

/// A command as an agent's shell tool sees it: `python3 -m unittest`, arguments quoted only
/// where a shell would need it.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn claude_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    let mut f = flags(&["--permission-mode", "acceptEdits"]);
    match c.level {
        Permissions::Edits => {}
        Permissions::EditsVerify => {
            if !c.commands.is_empty() {
                f.args.push("--allowedTools".into());
                for cmd in c.commands {
                    let line = command_line(cmd);
                    f.args.push(format!("Bash({line})"));
                    f.args.push(format!("Bash({line} *)"));
                }
            }
        }
        // Claude Code refuses bypassPermissions as root: every tool is allowed instead.
        Permissions::Full if c.root => f.args.extend(
            ["--allowedTools", "Bash", "WebFetch", "WebSearch"]
                .iter()
                .map(|s| s.to_string()),
        ),
        Permissions::Full => f = flags(&["--permission-mode", "bypassPermissions"]),
    }
    Ok(f)
}

fn codex_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    match c.level {
        Permissions::Edits => Err(
            "codex cannot be limited to edits: it always has a shell, which `--sandbox workspace-write` confines to the worktree without network (that is its edits+verify)".into(),
        ),
        Permissions::EditsVerify => Ok(flags(&["--sandbox", "workspace-write"])),
        Permissions::Full => Ok(flags(&["--dangerously-bypass-approvals-and-sandbox"])),
    }
}

/// Gemini CLI and Qwen Code (a fork of it) share their flags; only the name of the
/// auto-edit mode differs.
fn gemini_like(c: &LevelContext, auto_edit: &str) -> Result<LevelFlags, String> {
    let mut f = flags(&["--approval-mode", auto_edit]);
    match c.level {
        Permissions::Edits => {}
        Permissions::EditsVerify => {
            if !c.commands.is_empty() {
                f.args.push("--allowed-tools".into());
                for cmd in c.commands {
                    f.args
                        .push(format!("run_shell_command({})", command_line(cmd)));
                }
            }
        }
        Permissions::Full => f = flags(&["--approval-mode", "yolo"]),
    }
    Ok(f)
}

fn gemini_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    gemini_like(c, "auto_edit")
}

fn qwen_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    gemini_like(c, "auto-edit")
}

/// OpenCode takes its permissions as configuration: `OPENCODE_PERMISSION` (JSON, merged over
/// the user's `permission`), whose `bash` rules match command lines (`*` a wildcard, the
/// last matching rule wins).
fn opencode_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    use serde_json::{json, Map, Value};
    let bash = match c.level {
        Permissions::Full => return Ok(flags(&["--auto"])),
        Permissions::Edits => Value::String("deny".into()),
        Permissions::EditsVerify => {
            let mut rules = Map::new();
            rules.insert("*".into(), "deny".into());
            for cmd in c.commands {
                let line = command_line(cmd);
                rules.insert(line.clone(), "allow".into());
                rules.insert(format!("{line} *"), "allow".into());
            }
            Value::Object(rules)
        }
    };
    let permission = json!({"bash": bash, "webfetch": "deny", "external_directory": "deny"});
    let mut f = LevelFlags::default();
    f.env
        .insert("OPENCODE_PERMISSION".into(), permission.to_string());
    Ok(f)
}

/// aider never runs a shell command on its own (`--yes-always` does not say yes to those);
/// the repository's verify command can be its test command, run after every edit, the
/// failures going back to the model.
fn aider_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    let verify = c.commands.first();
    match (c.level, verify) {
        (Permissions::Edits, _) | (_, None) => Ok(LevelFlags::default()),
        (_, Some(cmd)) => Ok(LevelFlags {
            args: vec!["--test-cmd".into(), command_line(cmd), "--auto-test".into()],
            env: BTreeMap::new(),
        }),
    }
}

fn copilot_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    let mut f = flags(&["--allow-tool", "write"]);
    match c.level {
        Permissions::Edits => {}
        Permissions::EditsVerify => {
            // `shell(CMD)` matches the command exactly, `shell(CMD:*)` with arguments after it
            // (`copilot help permissions`).
            for cmd in c.commands {
                let line = command_line(cmd);
                f.args.push("--allow-tool".into());
                f.args.push(format!("shell({line})"));
                f.args.push("--allow-tool".into());
                f.args.push(format!("shell({line}:*)"));
            }
        }
        Permissions::Full => f = flags(&["--allow-all"]),
    }
    Ok(f)
}

/// CLIs whose headless mode approves every tool itself: only `full` is honest for them.
fn full_only(
    name: &'static str,
    why: &'static str,
) -> impl Fn(&LevelContext) -> Result<LevelFlags, String> {
    move |c: &LevelContext| match c.level {
        Permissions::Full => Ok(LevelFlags::default()),
        other => Err(format!(
            "{name} cannot be limited to {}: {why}; use permissions = \"full\" for it",
            other.as_str()
        )),
    }
}

fn cursor_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    full_only(
        "cursor-agent",
        "its print mode edits only with --force, which also runs every command",
    )(c)
    .map(|_| flags(&["--force"]))
}

fn amp_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    full_only(
        "amp",
        "its execute mode runs unattended only with --dangerously-allow-all",
    )(c)
    .map(|_| flags(&["--dangerously-allow-all"]))
}

fn goose_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    full_only(
        "goose",
        "`goose run` approves every tool in its default (auto) mode",
    )(c)
}

fn crush_levels(c: &LevelContext) -> Result<LevelFlags, String> {
    full_only(
        "crush",
        "`crush run` approves every permission request itself",
    )(c)
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "claude",
        head: &[
            "claude",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose",
        ],
        // `-c` continues the most recent conversation of the folder it runs in: each attempt
        // has its own worktree, so its own conversation.
        continue_head: Some(&[
            "claude",
            "-c",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose",
        ]),
        model: &["--model", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Staggered,
        default_permissions: Permissions::EditsVerify,
        levels: claude_levels,
    },
    Builtin {
        name: "codex",
        head: &["codex", "exec", "--json"],
        continue_head: None,
        model: &["-m", "{model}"],
        tail: &["{prompt}"],
        continue_tail: Some(&["resume", "--last", "{prompt}"]),
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::EditsVerify,
        levels: codex_levels,
    },
    Builtin {
        name: "gemini",
        head: &["gemini", "-p", "{prompt}", "--output-format", "stream-json"],
        continue_head: Some(&[
            "gemini",
            "--resume",
            "latest",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
        ]),
        model: &["-m", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        // Without it gemini refuses to act in a folder it has not been told to trust.
        env: &[("GEMINI_CLI_TRUST_WORKSPACE", "true")],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::EditsVerify,
        levels: gemini_levels,
    },
    Builtin {
        name: "qwen",
        head: &["qwen", "-p", "{prompt}", "--output-format", "stream-json"],
        continue_head: Some(&[
            "qwen",
            "-c",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
        ]),
        model: &["-m", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::EditsVerify,
        levels: qwen_levels,
    },
    Builtin {
        name: "opencode",
        head: &["opencode", "run", "--format", "json"],
        continue_head: None,
        model: &["--model", "{model}"],
        tail: &["{prompt}"],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::AfterFirstOutput,
        default_permissions: Permissions::EditsVerify,
        levels: opencode_levels,
    },
    Builtin {
        name: "aider",
        head: &[
            "aider",
            "--message",
            "{prompt}",
            "--yes-always",
            // Its own files stay out of .gitignore (and of the attempt's change: own_files).
            "--no-gitignore",
            "--no-check-update",
            "--no-analytics",
            "--no-show-release-notes",
        ],
        // Its chat history is in the worktree: a follow-up starts from it.
        continue_head: Some(&[
            "aider",
            "--message",
            "{prompt}",
            "--yes-always",
            "--no-gitignore",
            "--no-check-update",
            "--no-analytics",
            "--no-show-release-notes",
            "--restore-chat-history",
        ]),
        model: &["--model", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        // .aider.chat.history.md, .aider.input.history, .aider.llm.history,
        // .aider.tags.cache.v4/ (and .aider.conf.yml only if the repository has none).
        own_files: &[".aider*"],
        start: Start::Together,
        default_permissions: Permissions::EditsVerify,
        levels: aider_levels,
    },
    Builtin {
        name: "copilot",
        head: &[
            "copilot",
            "-p",
            "{prompt}",
            "--output-format",
            "json",
            "--no-auto-update",
            "--no-ask-user",
            // A session id of the attempt's own: a follow-up with the same id resumes it.
            "--session-id",
            "{session}",
            // Its JSON events carry no token counts; this file does.
            "--usage-output-file",
            "{usage_file}",
        ],
        continue_head: None,
        model: &["--model", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: true,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::EditsVerify,
        levels: copilot_levels,
    },
    Builtin {
        name: "crush",
        head: &["crush", "run", "--quiet"],
        continue_head: None,
        model: &["--model", "{model}"],
        tail: &["{prompt}"],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::Full,
        levels: crush_levels,
    },
    Builtin {
        name: "cursor-agent",
        head: &[
            "cursor-agent",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
        ],
        continue_head: None,
        model: &["--model", "{model}"],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Staggered,
        default_permissions: Permissions::Full,
        levels: cursor_levels,
    },
    Builtin {
        name: "amp",
        head: &["amp", "-x", "{prompt}", "--stream-json"],
        continue_head: None,
        model: &[],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::Full,
        levels: amp_levels,
    },
    Builtin {
        name: "goose",
        head: &["goose", "run", "--no-session", "-t", "{prompt}"],
        continue_head: None,
        model: &[],
        tail: &[],
        continue_tail: None,
        resumes_with_same_argv: false,
        env: &[],
        own_files: &[],
        start: Start::Together,
        default_permissions: Permissions::Full,
        levels: goose_levels,
    },
];

fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// The names of the built-in profiles.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// An agent as named on the command line, in the roster or by an editor: `NAME` or
/// `NAME:MODEL` (`claude:sonnet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    pub name: String,
    pub model: Option<String>,
}

impl AgentSpec {
    pub fn parse(text: &str) -> Result<AgentSpec> {
        let text = text.trim();
        let (name, model) = match text.split_once(':') {
            Some((n, m)) => (n.trim(), Some(m.trim())),
            None => (text, None),
        };
        if name.is_empty() || model.is_some_and(str::is_empty) {
            return Err(Error::Invalid(format!(
                "bad agent '{text}': write NAME or NAME:MODEL, like claude or claude:sonnet"
            )));
        }
        Ok(AgentSpec {
            name: name.to_string(),
            model: model.map(String::from),
        })
    }
}

/// `--agents claude:3,codex:2`: a list of `NAME[:MODEL][:COUNT]`, each repeated COUNT times
/// (a last part that is a number is a count), as one agent per attempt.
pub fn expand_counts(list: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (spec, count) = match item.rsplit_once(':') {
            Some((rest, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => {
                let n: usize = n.parse().map_err(|_| {
                    Error::Invalid(format!(
                        "bad count in '{item}': write NAME:COUNT, like claude:3"
                    ))
                })?;
                (rest, n)
            }
            _ => (item, 1),
        };
        if count == 0 {
            return Err(Error::Invalid(format!(
                "'{item}' asks for no attempts: a count is 1 or more, like claude:3"
            )));
        }
        AgentSpec::parse(spec)?;
        out.extend(std::iter::repeat_n(spec.to_string(), count));
    }
    if out.is_empty() {
        return Err(Error::Invalid(
            "--agents needs a list like claude:3,codex:2".into(),
        ));
    }
    Ok(out)
}

/// Everything resolution needs from the configuration in force.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    /// `permissions` of the configuration, for profiles that set none.
    pub permissions: Option<Permissions>,
    /// The repository's verify and setup commands, which `edits+verify` allows.
    pub commands: Vec<Vec<String>>,
    pub timeout_secs: Option<u64>,
    pub stall_secs: Option<u64>,
    /// Whether fanout runs as root.
    pub root: bool,
}

pub const DEFAULT_STALL_SECS: u64 = 120;

/// A profile resolved for running: the argv templates to expand and what goes with them.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The profile's name (`claude`, `claude-fast`).
    pub name: String,
    /// The built-in CLI it runs, when it runs one with fanout's own flags.
    pub kind: Option<&'static str>,
    /// argv template; placeholders left in.
    pub command: Vec<String>,
    /// argv template of a follow-up that resumes the agent's session, if it can.
    pub continue_command: Option<Vec<String>>,
    pub model: Option<String>,
    pub env: BTreeMap<String, String>,
    /// The permission level in force (built-in CLIs only).
    pub permissions: Option<Permissions>,
    /// Files the CLI writes for itself, left out of the attempt's change.
    pub own_files: Vec<String>,
    pub start: Start,
    pub timeout_secs: Option<u64>,
    pub stall_secs: u64,
}

impl Resolved {
    /// Whether `NAME:MODEL` can choose its model: its command has `{model}`.
    pub fn takes_model(&self) -> bool {
        self.command
            .iter()
            .chain(self.continue_command.iter().flatten())
            .any(|a| a.contains("{model}"))
    }
}

/// The profiles by name, as the user's and the repository's configuration define them
/// (built-ins apart: they are known here).
pub type Profiles = BTreeMap<String, AgentProfile>;

/// Resolve `spec` (`claude`, `claude:sonnet`, `claude-fast`) against the configured profiles
/// and the built-ins.
pub fn resolve(profiles: &Profiles, spec: &AgentSpec, d: &Defaults) -> Result<Resolved> {
    let mut r = resolve_name(profiles, &spec.name, d)?;
    if let Some(m) = &spec.model {
        if !r.takes_model() {
            return Err(Error::Invalid(format!(
                "agent '{}' has no {{model}} in its command, so '{}:{m}' cannot choose a model: add \"--model\", \"{{model}}\" to agent.{}.command",
                spec.name, spec.name, spec.name
            )));
        }
        r.model = Some(m.clone());
    }
    Ok(r)
}

fn unknown(profiles: &Profiles, name: &str) -> Error {
    let mut known: Vec<String> = builtin_names().map(String::from).collect();
    known.extend(profiles.keys().cloned());
    known.sort();
    known.dedup();
    Error::UnknownAgent(name.to_string(), known.join(", "))
}

/// Where a chain of profiles starts: a built-in CLI, or a profile with a command of its own.
enum Root<'a> {
    Builtin(&'static Builtin),
    Command(&'a AgentProfile),
}

/// Follow `extends` from `name` to its root, returning the root and the profiles on the way
/// (the named one first).
fn chain<'a>(
    profiles: &'a Profiles,
    name: &str,
) -> Result<(Root<'a>, Vec<(String, &'a AgentProfile)>)> {
    let mut layers: Vec<(String, &AgentProfile)> = Vec::new();
    let mut cur = name.to_string();
    loop {
        if layers.iter().any(|(n, _)| *n == cur) {
            let mut names: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
            names.push(&cur);
            return Err(Error::Invalid(format!(
                "agent profiles extend each other in a circle: {}",
                names.join(" → ")
            )));
        }
        let Some(p) = profiles.get(&cur) else {
            return match builtin(&cur) {
                Some(b) => Ok((Root::Builtin(b), layers)),
                None if layers.is_empty() => Err(unknown(profiles, &cur)),
                None => Err(Error::Invalid(format!(
                    "agent.{}: extends '{cur}', which is no profile ({})",
                    layers.last().unwrap().0,
                    unknown(profiles, &cur)
                ))),
            };
        };
        let bad = |message: String| Error::Invalid(format!("agent.{cur}: {message}"));
        if !p.command.is_empty() && p.extends.is_some() {
            return Err(bad(
                "set either `command` (an argv of its own) or `extends` (a profile to build on), not both".into(),
            ));
        }
        layers.push((cur.clone(), p));
        if !p.command.is_empty() {
            if p.command[0].is_empty() {
                return Err(bad("`command` must start with a program".into()));
            }
            return Ok((Root::Command(p), layers));
        }
        match &p.extends {
            Some(base) if *base != cur => cur = base.clone(),
            // No command: built on the built-in of its own name.
            _ => {
                return match builtin(&cur) {
                    Some(b) => Ok((Root::Builtin(b), layers)),
                    None => Err(bad(format!(
                        "no `command`, and there is no built-in '{cur}' to build on: give a command (an argv array) or `extends = \"claude\"` (known: {})",
                        builtin_names().collect::<Vec<_>>().join(", ")
                    ))),
                }
            }
        }
    }
}

fn resolve_name(profiles: &Profiles, name: &str, d: &Defaults) -> Result<Resolved> {
    let (root, layers) = chain(profiles, name)?;
    // What the chain sets, the root's settings first, the named profile's last.
    let mut merged = AgentProfile::default();
    for (layer_name, p) in layers.iter().rev() {
        if p.model.is_some() {
            merged.model = p.model.clone();
        }
        merged.args.extend(p.args.iter().cloned());
        merged.env.extend(p.env.clone());
        if p.continue_command.is_some() {
            merged.continue_command = p.continue_command.clone();
        }
        if p.permissions.is_some() {
            if matches!(root, Root::Command(_)) {
                return Err(Error::Invalid(format!(
                    "agent.{layer_name}: `permissions` applies to the built-in CLIs' commands: remove `command` (and keep `model`, `args`) to use the built-in one, or set the CLI's own flags in `command`"
                )));
            }
            merged.permissions = p.permissions;
        }
        if p.timeout.is_some() {
            merged.timeout = p.timeout.clone();
            timeout_of(layer_name, p)?;
        }
        if p.stall_secs.is_some() {
            merged.stall_secs = p.stall_secs;
        }
    }
    match root {
        Root::Builtin(b) => from_builtin(b, name, &merged, d),
        Root::Command(p) => {
            let mut command = p.command.clone();
            command.extend(merged.args.iter().cloned());
            Ok(Resolved {
                name: name.to_string(),
                kind: None,
                command,
                continue_command: merged.continue_command.clone().map(|mut c| {
                    c.extend(merged.args.iter().cloned());
                    c
                }),
                model: merged.model.clone(),
                env: merged.env.clone(),
                permissions: None,
                own_files: Vec::new(),
                start: Start::Together,
                timeout_secs: timeout_of(name, &merged)?.or(d.timeout_secs),
                stall_secs: merged
                    .stall_secs
                    .or(d.stall_secs)
                    .unwrap_or(DEFAULT_STALL_SECS),
            })
        }
    }
}

fn timeout_of(name: &str, p: &AgentProfile) -> Result<Option<u64>> {
    p.timeout
        .as_deref()
        .map(|t| {
            crate::text::parse_duration(t)
                .map_err(|e| Error::Invalid(format!("agent.{name}.timeout: {e}")))
        })
        .transpose()
}

fn strings(parts: &[&[&str]]) -> Vec<String> {
    parts
        .iter()
        .flat_map(|p| p.iter())
        .map(|s| s.to_string())
        .collect()
}

/// The built-in `b` with what profile `p` (named `name`) changes.
fn from_builtin(
    b: &'static Builtin,
    name: &str,
    p: &AgentProfile,
    d: &Defaults,
) -> Result<Resolved> {
    let level = p
        .permissions
        .or(d.permissions)
        .unwrap_or(b.default_permissions);
    let lf = (b.levels)(&LevelContext {
        level,
        commands: &d.commands,
        root: d.root,
    })
    .map_err(|why| Error::Invalid(format!("agent '{name}': {why}")))?;
    let level_args: Vec<&str> = lf.args.iter().map(String::as_str).collect();
    let args: Vec<&str> = p.args.iter().map(String::as_str).collect();
    let command = strings(&[b.head, &level_args, b.model, &args, b.tail]);
    let continue_command = if b.resumes_with_same_argv {
        Some(command.clone())
    } else if b.continue_head.is_some() || b.continue_tail.is_some() {
        Some(strings(&[
            b.continue_head.unwrap_or(b.head),
            &level_args,
            b.model,
            &args,
            b.continue_tail.unwrap_or(b.tail),
        ]))
    } else {
        None
    };
    let mut env: BTreeMap<String, String> = b
        .env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.extend(lf.env);
    env.extend(p.env.clone());
    Ok(Resolved {
        name: name.to_string(),
        kind: Some(b.name),
        command,
        continue_command: p.continue_command.clone().or(continue_command),
        model: p.model.clone(),
        env,
        permissions: Some(level),
        own_files: b.own_files.iter().map(|s| s.to_string()).collect(),
        start: b.start,
        timeout_secs: timeout_of(name, p)?.or(d.timeout_secs),
        stall_secs: p.stall_secs.or(d.stall_secs).unwrap_or(DEFAULT_STALL_SECS),
    })
}

/// The roster when the user names no agent: the configured `agents`, else the user's own
/// profiles, else the built-ins whose binary is installed. None when there is none at all.
pub fn default_roster(configured: Option<&[String]>, profiles: &Profiles) -> Option<Vec<String>> {
    if let Some(agents) = configured.filter(|a| !a.is_empty()) {
        return Some(agents.to_vec());
    }
    if !profiles.is_empty() {
        return Some(profiles.keys().cloned().collect());
    }
    let installed: Vec<String> = BUILTINS
        .iter()
        .filter(|b| find_program(b.head[0]).is_some())
        .map(|b| b.name.to_string())
        .collect();
    (!installed.is_empty()).then_some(installed)
}

/// Every profile name known: the built-ins and the configured ones.
pub fn all_names(profiles: &Profiles) -> Vec<String> {
    let mut names: Vec<String> = builtin_names().map(String::from).collect();
    names.extend(profiles.keys().cloned());
    names.sort();
    names.dedup();
    names
}

/// Resolve a program the way execvp would: a path with a '/' as is, else the first
/// executable match on PATH.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

pub use crate::error::missing_program;

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Values the placeholders of an argv template expand to.
pub struct Expansion<'a> {
    pub prompt: &'a str,
    pub prompt_file: &'a str,
    pub model: Option<&'a str>,
    pub worktree: &'a str,
    pub attempt: &'a str,
    /// A UUID of the attempt's own, for CLIs that take a session id.
    pub session: &'a str,
    /// Where the CLI may write its usage figures for this run.
    pub usage_file: &'a str,
    /// Where a judge writes its verdict (`review`).
    pub verdict_file: &'a str,
}

/// Expand a profile's argv template. Each placeholder expands inside its own argument, in a
/// single pass, so braces in the prompt are never expanded again and nothing is ever split or
/// given to a shell. With no model, an argument that is exactly `{model}` is dropped together
/// with the flag before it (`--model {model}` disappears).
pub fn expand_argv(template: &[String], x: &Expansion) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(template.len());
    for arg in template {
        if x.model.is_none() && arg == "{model}" {
            if out.last().is_some_and(|prev| prev.starts_with('-')) && out.len() > 1 {
                out.pop();
            }
            continue;
        }
        out.push(expand_one(arg, x));
    }
    out
}

fn expand_one(arg: &str, x: &Expansion) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let value = [
            ("{prompt_file}", Some(x.prompt_file)),
            ("{prompt}", Some(x.prompt)),
            ("{model}", x.model),
            ("{worktree}", Some(x.worktree)),
            ("{attempt}", Some(x.attempt)),
            ("{session}", Some(x.session)),
            ("{usage_file}", Some(x.usage_file)),
            ("{verdict_file}", Some(x.verdict_file)),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match value {
            Some((name, v)) => {
                out.push_str(v.unwrap_or(""));
                rest = &after[name.len()..];
            }
            None => {
                out.push('{');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The argv as `fanout agents` shows it: placeholders left in, the model filled in.
pub fn shown_argv(r: &Resolved) -> Vec<String> {
    expand_argv(
        &r.command,
        &Expansion {
            prompt: "{prompt}",
            prompt_file: "{prompt_file}",
            model: r.model.as_deref(),
            worktree: "{worktree}",
            attempt: "{attempt}",
            session: "{session}",
            usage_file: "{usage_file}",
            verdict_file: "{verdict_file}",
        },
    )
}

/// What `fanout agents` reports of one profile.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detection {
    pub name: String,
    /// "built-in", "user" or "repository".
    pub source: String,
    /// The binary found, if any.
    pub binary: Option<PathBuf>,
    /// The first line `--version` printed (known CLIs only: a user's command is never run).
    pub version: Option<String>,
    /// Whether the binary is there and, for a known CLI, answers as the tool the profile is
    /// for (`amp` and `goose` are also the names of unrelated tools).
    pub usable: bool,
    /// The argv it would run, placeholders left in.
    pub argv: Vec<String>,
    /// Its model, when it sets one.
    pub model: Option<String>,
    /// Whether `NAME:MODEL` can choose its model.
    pub takes_model: bool,
    /// Its permission level, for the built-in CLIs.
    pub permissions: Option<Permissions>,
    pub note: Option<String>,
}

/// Find the profile's binary and, for a known CLI only, ask it for its version: a user's own
/// command is never run (it may be a script that does work).
pub fn detect(source: &str, r: &Resolved) -> Detection {
    let program = &r.command[0];
    let binary = find_program(program);
    let mut d = Detection {
        name: r.name.clone(),
        source: source.into(),
        binary: binary.clone(),
        version: None,
        usable: false,
        argv: shown_argv(r),
        model: r.model.clone(),
        takes_model: r.takes_model(),
        permissions: r.permissions,
        note: None,
    };
    let Some(bin) = binary else {
        d.note = Some(missing_program(program));
        return d;
    };
    let Some(kind) = r.kind else {
        d.usable = true;
        d.note = Some("a command of your own: not run to ask its version".into());
        return d;
    };
    d.version = version_of(&bin);
    match recognizes(kind, d.version.as_deref().unwrap_or_default()) {
        Ok(()) => d.usable = true,
        Err(why) => d.note = Some(why),
    }
    d
}

/// The first line of `<bin> --version`, waiting at most a few seconds.
fn version_of(bin: &Path) -> Option<String> {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let done = crate::process::wait_until(std::time::Duration::from_secs(5), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.trim_ascii().is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .into_owned();
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(String::from)
}

/// Whether a built-in profile's binary is the agent it is named after, from its version line.
fn recognizes(name: &str, version: &str) -> Result<(), String> {
    let v = version.to_ascii_lowercase();
    let ok = match name {
        "claude" => v.contains("claude code"),
        "codex" => v.starts_with("codex"),
        "aider" => v.starts_with("aider"),
        "copilot" => v.contains("copilot"),
        // The goose database-migration tool prints "goose version: v3..."; Block's agent a bare version.
        "goose" => {
            !v.contains("goose version") && v.chars().next().is_some_and(|c| c.is_ascii_digit())
        }
        // The amp text editor prints "amp 0.x"; Sourcegraph's agent a bare version.
        "amp" => !v.starts_with("amp ") && v.chars().next().is_some_and(|c| c.is_ascii_digit()),
        _ => !v.is_empty(),
    };
    if ok {
        Ok(())
    } else if version.is_empty() {
        Err(format!(
            "`{name} --version` printed nothing: not the {name} agent CLI?"
        ))
    } else {
        Err(format!(
            "`{name} --version` printed \"{version}\": a different tool of the same name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x<'a>(prompt: &'a str, model: Option<&'a str>) -> Expansion<'a> {
        Expansion {
            prompt,
            prompt_file: "/p.txt",
            model,
            worktree: "/w t",
            attempt: "abc-1",
            session: "0000-1",
            usage_file: "/u.json",
            verdict_file: "/v.json",
        }
    }

    #[test]
    fn expands_inside_one_argument_once() {
        let t: Vec<String> = ["a", "--p={prompt}", "{worktree}", "{attempt}{attempt}"]
            .map(String::from)
            .to_vec();
        let got = expand_argv(&t, &x("$(touch /tmp/pwned) {model} {prompt}", Some("m")));
        assert_eq!(
            got,
            [
                "a",
                "--p=$(touch /tmp/pwned) {model} {prompt}",
                "/w t",
                "abc-1abc-1"
            ]
        );
    }

    #[test]
    fn missing_model_drops_its_flag() {
        let t: Vec<String> = ["claude", "-p", "{prompt}", "--model", "{model}", "-x"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            expand_argv(&t, &x("hi", None)),
            ["claude", "-p", "hi", "-x"]
        );
        assert_eq!(
            expand_argv(&t, &x("hi", Some("opus"))),
            ["claude", "-p", "hi", "--model", "opus", "-x"]
        );
    }

    fn profiles(toml_text: &str) -> Profiles {
        #[derive(Deserialize)]
        struct T {
            #[serde(default)]
            agent: Profiles,
        }
        toml::from_str::<T>(toml_text).unwrap().agent
    }

    fn argv(r: &Resolved) -> Vec<String> {
        shown_argv(r)
    }

    fn spec(s: &str) -> AgentSpec {
        AgentSpec::parse(s).unwrap()
    }

    fn verify() -> Defaults {
        Defaults {
            commands: vec![
                vec!["python3".into(), "-m".into(), "unittest".into()],
                vec!["npm".into(), "ci".into()],
            ],
            ..Defaults::default()
        }
    }

    /// The argv of `name` at `level`, placeholders left in, with the repository's verify
    /// `python3 -m unittest` and setup `npm ci`.
    fn at(
        name: &str,
        level: &str,
        root: bool,
    ) -> std::result::Result<(Vec<String>, BTreeMap<String, String>), String> {
        let p = profiles(&format!("[agent.{name}]\npermissions = \"{level}\"\n"));
        let d = Defaults { root, ..verify() };
        resolve(&p, &spec(name), &d)
            .map(|r| (argv(&r), r.env.clone()))
            .map_err(|e| e.to_string())
    }

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Each level's flags for each CLI, as docs/agents.md documents them.
    #[test]
    fn permission_levels_map_to_each_clis_flags() {
        let head = [
            "claude",
            "-p",
            "{prompt}",
            "--output-format",
            "stream-json",
            "--verbose",
        ];
        let claude = |rest: &[&str]| v(&[&head[..], rest].concat());
        assert_eq!(
            at("claude", "edits", false).unwrap().0,
            claude(&["--permission-mode", "acceptEdits"])
        );
        assert_eq!(
            at("claude", "edits+verify", false).unwrap().0,
            claude(&[
                "--permission-mode",
                "acceptEdits",
                "--allowedTools",
                "Bash(python3 -m unittest)",
                "Bash(python3 -m unittest *)",
                "Bash(npm ci)",
                "Bash(npm ci *)",
            ])
        );
        assert_eq!(
            at("claude", "full", false).unwrap().0,
            claude(&["--permission-mode", "bypassPermissions"])
        );
        assert_eq!(
            at("claude", "full", true).unwrap().0,
            claude(&[
                "--permission-mode",
                "acceptEdits",
                "--allowedTools",
                "Bash",
                "WebFetch",
                "WebSearch"
            ]),
            "as root, Claude Code refuses bypassPermissions"
        );

        let codex =
            |rest: &[&str]| v(&[&["codex", "exec", "--json"][..], rest, &["{prompt}"]].concat());
        assert!(at("codex", "edits", false)
            .unwrap_err()
            .contains("cannot be limited to edits"));
        assert_eq!(
            at("codex", "edits+verify", false).unwrap().0,
            codex(&["--sandbox", "workspace-write"])
        );
        assert_eq!(
            at("codex", "full", false).unwrap().0,
            codex(&["--dangerously-bypass-approvals-and-sandbox"])
        );

        for (name, auto) in [("gemini", "auto_edit"), ("qwen", "auto-edit")] {
            let g = |rest: &[&str]| {
                v(&[
                    &[name, "-p", "{prompt}", "--output-format", "stream-json"][..],
                    rest,
                ]
                .concat())
            };
            assert_eq!(
                at(name, "edits", false).unwrap().0,
                g(&["--approval-mode", auto])
            );
            assert_eq!(
                at(name, "edits+verify", false).unwrap().0,
                g(&[
                    "--approval-mode",
                    auto,
                    "--allowed-tools",
                    "run_shell_command(python3 -m unittest)",
                    "run_shell_command(npm ci)"
                ])
            );
            assert_eq!(
                at(name, "full", false).unwrap().0,
                g(&["--approval-mode", "yolo"])
            );
        }

        let (oc, env) = at("opencode", "edits+verify", false).unwrap();
        assert_eq!(oc, v(&["opencode", "run", "--format", "json", "{prompt}"]));
        let perm: serde_json::Value = serde_json::from_str(&env["OPENCODE_PERMISSION"]).unwrap();
        assert_eq!(
            perm,
            serde_json::json!({
                "bash": {"*": "deny", "python3 -m unittest": "allow", "python3 -m unittest *": "allow",
                         "npm ci": "allow", "npm ci *": "allow"},
                "webfetch": "deny", "external_directory": "deny"
            })
        );
        let (_, env) = at("opencode", "edits", false).unwrap();
        assert!(env["OPENCODE_PERMISSION"].contains(r#""bash":"deny""#));
        let (oc, env) = at("opencode", "full", false).unwrap();
        assert_eq!(
            oc,
            v(&["opencode", "run", "--format", "json", "--auto", "{prompt}"])
        );
        assert!(!env.contains_key("OPENCODE_PERMISSION"));

        let aider_head = [
            "aider",
            "--message",
            "{prompt}",
            "--yes-always",
            "--no-gitignore",
            "--no-check-update",
            "--no-analytics",
            "--no-show-release-notes",
        ];
        assert_eq!(at("aider", "edits", false).unwrap().0, v(&aider_head));
        let tested = v(&[
            &aider_head[..],
            &["--test-cmd", "python3 -m unittest", "--auto-test"],
        ]
        .concat());
        assert_eq!(at("aider", "edits+verify", false).unwrap().0, tested);
        assert_eq!(
            at("aider", "full", false).unwrap().0,
            tested,
            "aider runs no other command"
        );

        let copilot = |rest: &[&str]| {
            let mut a = v(&[
                "copilot",
                "-p",
                "{prompt}",
                "--output-format",
                "json",
                "--no-auto-update",
                "--no-ask-user",
                "--session-id",
                "{session}",
                "--usage-output-file",
                "{usage_file}",
            ]);
            a.extend(v(rest));
            a
        };
        assert_eq!(
            at("copilot", "edits", false).unwrap().0,
            copilot(&["--allow-tool", "write"])
        );
        assert_eq!(
            at("copilot", "edits+verify", false).unwrap().0,
            copilot(&[
                "--allow-tool",
                "write",
                "--allow-tool",
                "shell(python3 -m unittest)",
                "--allow-tool",
                "shell(python3 -m unittest:*)",
                "--allow-tool",
                "shell(npm ci)",
                "--allow-tool",
                "shell(npm ci:*)"
            ])
        );
        assert_eq!(
            at("copilot", "full", false).unwrap().0,
            copilot(&["--allow-all"])
        );

        for name in ["crush", "cursor-agent", "amp", "goose"] {
            for level in ["edits", "edits+verify"] {
                let e = at(name, level, false).unwrap_err();
                assert!(
                    e.contains(&format!("{name} cannot be limited to {level}")),
                    "{e}"
                );
            }
            assert!(at(name, "full", false).is_ok());
        }
        assert_eq!(
            at("crush", "full", false).unwrap().0,
            v(&["crush", "run", "--quiet", "{prompt}"])
        );
    }

    #[test]
    fn built_ins_default_to_running_the_projects_tests_where_they_can_scope_it() {
        let d = verify();
        let none = Profiles::new();
        let level = |name: &str| {
            resolve(&none, &spec(name), &d)
                .unwrap()
                .permissions
                .unwrap()
        };
        for name in [
            "claude", "codex", "gemini", "qwen", "opencode", "aider", "copilot",
        ] {
            assert_eq!(level(name), Permissions::EditsVerify, "{name}");
        }
        for name in ["crush", "cursor-agent", "amp", "goose"] {
            assert_eq!(level(name), Permissions::Full, "{name}");
        }
        // Without verify or setup commands, edits+verify allows no command.
        let bare = resolve(&none, &spec("claude"), &Defaults::default()).unwrap();
        assert!(!argv(&bare).iter().any(|a| a == "--allowedTools"));
        // A global level applies to every built-in that sets none.
        let full = Defaults {
            permissions: Some(Permissions::Full),
            ..verify()
        };
        assert_eq!(
            resolve(&none, &spec("gemini"), &full).unwrap().permissions,
            Some(Permissions::Full)
        );
    }

    #[test]
    fn a_model_only_override_and_variants_build_on_the_built_in() {
        let p = profiles(
            r#"
[agent.claude]
model = "sonnet"

[agent.claude-fast]
extends = "claude"
model = "haiku"
args = ["--max-turns", "5"]
env = { A = "1" }

[agent.codex-high]
extends = "codex"
args = ["-c", "model_reasoning_effort=high"]
permissions = "full"

[agent.mine]
command = ["my-agent", "{prompt}", "--model", "{model}"]

[agent.mine-x]
extends = "mine"
args = ["-x"]
"#,
        );
        let d = Defaults::default();
        let claude = resolve(&p, &spec("claude"), &d).unwrap();
        assert_eq!(claude.model.as_deref(), Some("sonnet"));
        assert_eq!(claude.kind, Some("claude"));
        assert!(
            argv(&claude).ends_with(&v(&["--model", "sonnet"])),
            "{:?}",
            argv(&claude)
        );

        let fast = resolve(&p, &spec("claude-fast"), &d).unwrap();
        assert_eq!(
            argv(&fast),
            v(&[
                "claude",
                "-p",
                "{prompt}",
                "--output-format",
                "stream-json",
                "--verbose",
                "--permission-mode",
                "acceptEdits",
                "--model",
                "haiku",
                "--max-turns",
                "5"
            ])
        );
        assert_eq!(fast.env["A"], "1");
        assert_eq!(
            fast.start,
            Start::Staggered,
            "a variant of claude starts like claude"
        );
        assert_eq!(
            fast.continue_command.as_ref().unwrap()[..2],
            v(&["claude", "-c"])[..]
        );

        let high = resolve(&p, &spec("codex-high"), &d).unwrap();
        assert_eq!(
            argv(&high),
            v(&[
                "codex",
                "exec",
                "--json",
                "--dangerously-bypass-approvals-and-sandbox",
                "-c",
                "model_reasoning_effort=high",
                "{prompt}"
            ]),
            "extra args go before the positional prompt"
        );
        assert_eq!(
            high.continue_command.unwrap(),
            v(&[
                "codex",
                "exec",
                "--json",
                "--dangerously-bypass-approvals-and-sandbox",
                "-m",
                "{model}",
                "-c",
                "model_reasoning_effort=high",
                "resume",
                "--last",
                "{prompt}"
            ])
        );

        // `claude:opus` on the command line: the model for this use only.
        let opus = resolve(&p, &spec("claude-fast:opus"), &d).unwrap();
        assert_eq!(opus.model.as_deref(), Some("opus"));

        let mine = resolve(&p, &spec("mine-x"), &d).unwrap();
        assert_eq!(mine.kind, None);
        assert_eq!(argv(&mine), v(&["my-agent", "{prompt}", "-x"]));
    }

    #[test]
    fn profile_mistakes_are_named() {
        let d = Defaults::default();
        let err = |toml_text: &str, name: &str| {
            resolve(&profiles(toml_text), &spec(name), &d)
                .unwrap_err()
                .to_string()
        };
        assert!(err("[agent.x]\nmodel = \"m\"\n", "x").contains("no built-in 'x' to build on"));
        assert!(err("[agent.x]\nextends = \"nope\"\n", "x")
            .contains("extends 'nope', which is no profile"));
        assert!(err(
            "[agent.a]\nextends = \"b\"\n[agent.b]\nextends = \"a\"\n",
            "a"
        )
        .contains("a → b → a"));
        assert!(
            err("[agent.x]\ncommand = [\"x\"]\nextends = \"claude\"\n", "x").contains("not both")
        );
        assert!(err(
            "[agent.x]\ncommand = [\"x\"]\npermissions = \"full\"\n",
            "x"
        )
        .contains("`permissions` applies to the built-in"));
        assert!(
            err("[agent.x]\ncommand = [\"x\", \"{prompt}\"]\n", "x:sonnet")
                .contains("has no {model} in its command")
        );
        assert!(err("", "nope").contains("unknown agent 'nope'"));
        assert!(AgentSpec::parse("claude:").is_err());
    }

    #[test]
    fn counts_expand_into_one_agent_per_attempt() {
        assert_eq!(
            expand_counts("claude:3,codex:2").unwrap(),
            v(&["claude", "claude", "claude", "codex", "codex"])
        );
        assert_eq!(
            expand_counts("claude:sonnet:2, gemini").unwrap(),
            v(&["claude:sonnet", "claude:sonnet", "gemini"])
        );
        assert_eq!(
            expand_counts("claude:sonnet").unwrap(),
            v(&["claude:sonnet"])
        );
        assert!(expand_counts("claude:0")
            .unwrap_err()
            .to_string()
            .contains("no attempts"));
        assert!(expand_counts("").is_err());
    }

    #[test]
    fn missing_programs_are_named_plainly() {
        assert_eq!(
            missing_program("/no/such/agent"),
            "/no/such/agent not found"
        );
        assert_eq!(
            missing_program("no-such-agent"),
            "no-such-agent not found on PATH"
        );
    }
}
