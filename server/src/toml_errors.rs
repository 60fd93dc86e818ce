//! Reading fanout's TOML files (the user config, `.fanout.toml`) with mistakes reported in
//! the user's words and on the line they are on: `line 1: attempts must be a whole number,
//! like attempts = 3, not the string "3"` rather than serde's `invalid type: string "3",
//! expected usize`, and an unclosed `[` on the line where it opens, not where the parser
//! gave up.

use serde::de::DeserializeOwned;

/// Parse `text` as a `T`; the error is one line that says where and what, in the user's words.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    // Syntax first: a file that is not TOML gets the syntax error, not a type error.
    if let Err(e) = text.parse::<toml::Table>() {
        return Err(syntax_message(text, &e));
    }
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        let path = keys(e.path());
        let inner = e.into_inner();
        let message = data_message(&path, inner.message());
        at_line(text, inner.span().map(|s| s.start), &message)
    })
}

/// `line N: message`, when the position is known.
fn at_line(text: &str, offset: Option<usize>, message: &str) -> String {
    match offset {
        Some(at) => format!("line {}: {message}", line_of(text, at)),
        None => message.to_string(),
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The table keys leading to the value serde refused (`agent.mine.command`), list indexes left
/// out: a hint is about the setting, not about its third element.
fn keys(path: &serde_path_to_error::Path) -> Vec<String> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(key.clone()),
            Segment::Enum { variant } => Some(variant.clone()),
            Segment::Seq { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// What a setting must look like, by its key path, for the settings of both files.
fn shape(path: &[String]) -> Option<&'static str> {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match p.as_slice() {
        ["attempts"] => "a whole number, like attempts = 3",
        ["agents"] => "a list of agent names, like agents = [\"claude\", \"codex\"]",
        ["agent"] => "a table of agent profiles, like [agent.mine]",
        ["agent", _] => "a table, like [agent.mine] with command = [\"my-agent\", \"{prompt}\"] under it",
        ["agent", _, "command"] => {
            "an argv array (a list of strings, never a shell string), like command = [\"claude\", \"-p\", \"{prompt}\"]"
        }
        ["agent", _, "continue_command"] => {
            "an argv array (a list of strings, never a shell string), like continue_command = [\"claude\", \"-c\", \"-p\", \"{prompt}\"]"
        }
        ["agent", _, "extends"] => "the name of a profile, like extends = \"claude\"",
        ["agent", _, "model"] => "a model name, like model = \"sonnet\"",
        ["agent", _, "args"] => "a list of strings, like args = [\"--max-turns\", \"20\"]",
        ["agent", _, "env"] | ["env"] => "a table of strings, like env = { NAME = \"value\" }",
        ["agent", _, "env", _] | ["env", _] => "a string, like NAME = \"value\"",
        ["agent", _, "permissions"] | ["permissions"] => {
            "one of \"edits\", \"edits+verify\" or \"full\", like permissions = \"edits\""
        }
        ["agent", _, "timeout"] | ["timeout"] => "a duration, like timeout = \"30m\"",
        ["agent", _, "stall_secs"] | ["stall_secs"] => {
            "a whole number of seconds, like stall_secs = 120"
        }
        ["worktree_root"] => "a folder, like worktree_root = \"/fast/disk/fanout\"",
        ["gc_age"] => "a duration, like gc_age = \"7d\"",
        ["stagger_ms"] => "a whole number of milliseconds, like stagger_ms = 2000",
        ["prompt"] => "a string, like prompt = \"Run the tests before you finish.\"",
        ["copy"] => "a list of globs, like copy = [\".env\", \"config/*.local.json\"]",
        ["setup"] => {
            "a list of argv arrays (never shell strings), like setup = [[\"npm\", \"ci\"]]"
        }
        ["verify"] => "an argv array (never a shell string), like verify = [\"npm\", \"test\"]",
        ["ports"] => "a whole number from 1, like ports = 2",
        ["max_running"] => "a whole number from 1, like max_running = 4",
        ["lead"] | ["judge"] => "the name of an agent profile, like lead = \"claude\"",
        _ => return None,
    })
}

/// serde's message turned around: the setting, what it must be, and what it was.
fn data_message(path: &[String], serde: &str) -> String {
    let name = path.join(".");
    let refused = [
        "invalid type: ",
        "invalid value: ",
        "invalid length ",
        "unknown variant ",
    ]
    .iter()
    .any(|p| serde.starts_with(p));
    if refused {
        if let Some(shape) = shape(path) {
            return match found(serde) {
                Some(what) => format!("{name} must be {shape}, not {what}"),
                None => format!("{name} must be {shape}"),
            };
        }
    }
    if serde.starts_with("unknown field ") {
        // The key itself is the mistake: say in which table.
        let table = &path[..path.len().saturating_sub(1)];
        let message = serde.replacen("unknown field", "unknown setting", 1);
        return if table.is_empty() {
            message
        } else {
            format!("[{}]: {message}", table.join("."))
        };
    }
    if name.is_empty() {
        serde.to_string()
    } else {
        format!("{name}: {serde}")
    }
}

/// What serde found, in the user's words: `invalid type: string "3", expected usize` →
/// `the string "3"`; `integer \`-1\`` → `-1`; `sequence` → `a list`.
fn found(serde: &str) -> Option<String> {
    let rest = serde
        .strip_prefix("invalid type: ")
        .or_else(|| serde.strip_prefix("invalid value: "))
        .or_else(|| serde.strip_prefix("unknown variant "))?;
    let what = match rest.find(", expected") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let ticked = |s: &str| s.trim_matches('`').to_string();
    Some(if let Some(s) = what.strip_prefix("string ") {
        format!("the string {s}")
    } else if let Some(n) = what.strip_prefix("integer ") {
        ticked(n)
    } else if let Some(n) = what.strip_prefix("floating point ") {
        ticked(n)
    } else if let Some(b) = what.strip_prefix("boolean ") {
        ticked(b)
    } else if what == "sequence" {
        "a list".into()
    } else if what == "map" {
        "a table".into()
    } else if what.starts_with('`') {
        // An unknown variant: `fulll`.
        format!("\"{}\"", ticked(what))
    } else {
        what.to_string()
    })
}

/// A syntax error on its line. The parser notices an unclosed `[` or `{` only where the next
/// thing cannot continue it, often lines later: then the error is reported where it opened.
fn syntax_message(text: &str, e: &toml::de::Error) -> String {
    let message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let at = e.span().map(|s| s.start);
    if let Some(at) = at {
        if let Some(open) = unclosed_bracket(text, at) {
            let (bracket, close) = (text.as_bytes()[open] as char, closing(text, open));
            if line_of(text, open) != line_of(text, at) {
                return format!(
                    "line {}: this `{bracket}` is never closed (a `{close}` is missing before line {})",
                    line_of(text, open),
                    line_of(text, at)
                );
            }
        }
    }
    at_line(text, at, &message)
}

fn closing(text: &str, open: usize) -> char {
    if text.as_bytes()[open] == b'{' {
        '}'
    } else {
        ']'
    }
}

/// The innermost `[` or `{` still open at byte `at`, skipping strings and comments.
fn unclosed_bracket(text: &str, at: usize) -> Option<usize> {
    let b = text.as_bytes();
    let end = at.min(b.len());
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < end {
        match b[i] {
            b'#' => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let triple = b[i..].starts_with(if q == b'"' { b"\"\"\"" } else { b"'''" });
                i += if triple { 3 } else { 1 };
                while i < end {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if !triple && b[i] == b'\n' {
                        break; // an unterminated one-line string: the parser says so itself.
                    }
                    if b[i] == q && (!triple || b[i..].starts_with(&[q, q, q])) {
                        i += if triple { 3 } else { 1 };
                        break;
                    }
                    i += 1;
                }
                continue;
            }
            b'[' | b'{' => open.push(i),
            b']' | b'}' => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    open.pop()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Profile {
        #[serde(default)]
        command: Vec<String>,
        model: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct File {
        attempts: Option<usize>,
        agents: Option<Vec<String>>,
        #[serde(default)]
        agent: BTreeMap<String, Profile>,
        #[serde(default)]
        setup: Vec<Vec<String>>,
    }

    fn err(text: &str) -> String {
        parse::<File>(text).unwrap_err()
    }

    #[test]
    fn type_errors_read_as_the_setting_and_an_example() {
        assert_eq!(
            err("attempts = \"3\"\n"),
            "line 1: attempts must be a whole number, like attempts = 3, not the string \"3\""
        );
        assert_eq!(
            err("attempts = -1\n"),
            "line 1: attempts must be a whole number, like attempts = 3, not -1"
        );
        let e = err("attempts = 3\n[agent.mine]\ncommand = \"claude -p\"\n");
        assert!(
            e.starts_with("line 3: agent.mine.command must be an argv array")
                && e.contains(r#"["claude", "-p", "{prompt}"]"#)
                && e.ends_with("not the string \"claude -p\""),
            "{e}"
        );
        let e = err("setup = [\"npm\", \"ci\"]\n");
        assert!(
            e.starts_with("line 1: setup must be a list of argv arrays")
                && e.contains(r#"[["npm", "ci"]]"#),
            "{e}"
        );
        assert_eq!(
            err("[agent.x]\nmodle = \"a\"\n"),
            "line 2: [agent.x]: unknown setting `modle`, expected `command` or `model`"
        );
    }

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens() {
        let e = err("attempts = 3\nagents = [\"a\", \"b\"   # the roster\n\n# more\nprompt = 1\n");
        assert_eq!(
            e,
            "line 2: this `[` is never closed (a `]` is missing before line 5)"
        );
        // Brackets inside strings and comments do not count.
        let e = err("prompt = \"[x\" # [\nagents = [\"a\"\n\nattempts = 2\n");
        assert!(e.starts_with("line 2: this `[` is never closed"), "{e}");
        // An unclosed table header is on its own line already.
        let e = err("[agent.mine\ncommand = []\n");
        assert!(e.starts_with("line 1: invalid table header"), "{e}");
    }
}
