//! Agent profiles: the built-in ones, finding their binaries, and expanding an argv template.

use crate::config::AgentProfile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Profiles for the popular agent CLIs, each in its non-interactive mode with permission to
/// edit files in its worktree.
pub fn builtin_profiles() -> BTreeMap<String, AgentProfile> {
    let table: &[(&str, &[&str])] = &[
        (
            "claude",
            &[
                "claude",
                "-p",
                "{prompt}",
                "--model",
                "{model}",
                "--permission-mode",
                "acceptEdits",
                "--output-format",
                "stream-json",
                "--verbose",
            ],
        ),
        (
            "codex",
            &[
                "codex",
                "exec",
                "--sandbox",
                "workspace-write",
                "--json",
                "-m",
                "{model}",
                "{prompt}",
            ],
        ),
        (
            "gemini",
            &[
                "gemini",
                "-p",
                "{prompt}",
                "--approval-mode",
                "auto_edit",
                "--output-format",
                "stream-json",
                "-m",
                "{model}",
            ],
        ),
        (
            "aider",
            &[
                "aider",
                "--message",
                "{prompt}",
                "--yes-always",
                "--model",
                "{model}",
            ],
        ),
        (
            "opencode",
            &[
                "opencode", "run", "--format", "json", "--model", "{model}", "{prompt}",
            ],
        ),
        (
            "cursor-agent",
            &[
                "cursor-agent",
                "-p",
                "{prompt}",
                "--force",
                "--output-format",
                "stream-json",
            ],
        ),
        (
            "amp",
            &[
                "amp",
                "-x",
                "{prompt}",
                "--stream-json",
                "--dangerously-allow-all",
            ],
        ),
        ("goose", &["goose", "run", "--no-session", "-t", "{prompt}"]),
    ];
    table
        .iter()
        .map(|(name, argv)| {
            let mut env = BTreeMap::new();
            if *name == "gemini" {
                // Without it gemini refuses to act in a folder it has not been told to trust.
                env.insert("GEMINI_CLI_TRUST_WORKSPACE".into(), "true".into());
            }
            let command: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            (
                name.to_string(),
                AgentProfile {
                    continue_command: continue_command(name, &command),
                    command,
                    model: None,
                    env,
                },
            )
        })
        .collect()
}

/// How a built-in agent resumes its own session in a follow-up: Claude Code continues the
/// most recent conversation of the folder it runs in (`-c`; each attempt has its own
/// worktree, so its own conversation), Codex resumes its last session (`exec resume --last`).
fn continue_command(name: &str, command: &[String]) -> Option<Vec<String>> {
    let mut argv = command.to_vec();
    match name {
        "claude" => argv.insert(1, "-c".into()),
        "codex" => {
            let prompt = argv.pop()?;
            argv.extend(["resume".to_string(), "--last".to_string(), prompt]);
        }
        _ => return None,
    }
    Some(argv)
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
}

/// What `fanout agents` reports of one profile.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Detection {
    pub name: String,
    /// "built-in", "user" or "repository".
    pub source: String,
    /// The binary found on PATH, if any.
    pub binary: Option<PathBuf>,
    /// The first line `--version` printed.
    pub version: Option<String>,
    /// Whether the binary answers as the tool the profile is for (`amp` and `goose` are also
    /// the names of unrelated tools).
    pub usable: bool,
    /// The argv it would run, placeholders left in.
    pub argv: Vec<String>,
    pub note: Option<String>,
}

/// Find the profile's binary and ask it for its version.
pub fn detect(name: &str, source: &str, profile: &AgentProfile) -> Detection {
    let argv = expand_argv(
        &profile.command,
        &Expansion {
            prompt: "{prompt}",
            prompt_file: "{prompt_file}",
            model: profile.model.as_deref(),
            worktree: "{worktree}",
            attempt: "{attempt}",
        },
    );
    let binary = find_program(&profile.command[0]);
    let mut d = Detection {
        name: name.into(),
        source: source.into(),
        binary: binary.clone(),
        version: None,
        usable: false,
        argv,
        note: None,
    };
    let Some(bin) = binary else {
        d.note = Some(format!("{} not found on PATH", profile.command[0]));
        return d;
    };
    d.version = version_of(&bin);
    if source != "built-in" {
        d.usable = true;
        return d;
    }
    match recognizes(name, d.version.as_deref().unwrap_or_default()) {
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
