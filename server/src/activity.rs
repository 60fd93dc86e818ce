//! What an agent is doing now, read from its output as it streams: the last action
//! (`editing src/lib.rs`, `running cargo test`) and the tokens or cost it reports.
//!
//! Agents with machine-readable output print one JSON object per line (Claude Code's and
//! Cursor's and Amp's stream-json, Codex's `exec --json`, Gemini's stream-json, OpenCode's
//! JSON events). Rather than one parser per CLI, this reads the shapes they share: tool calls
//! with a name and input, text messages, and usage/cost fields. Plain-text agents show their
//! last output line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Activity {
    /// The agent's latest action or output line, short.
    pub last: Option<String>,
    /// Tokens used so far, when the agent reports them (input + output).
    pub tokens: Option<u64>,
    /// Cost in US dollars, when the agent reports it.
    pub cost_usd: Option<f64>,
}

const MAX_LAST: usize = 80;

impl Activity {
    /// Take one line of the agent's output into account. Returns whether anything changed.
    pub fn feed(&mut self, line: &str) -> bool {
        let before = self.clone();
        let line = line.trim();
        if line.is_empty() {
            return false;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => self.feed_event(&v),
            _ => self.last = Some(shorten(line)),
        }
        *self != before
    }

    fn feed_event(&mut self, v: &Value) {
        if let Some(action) = action_of(v) {
            self.last = Some(shorten(&action));
        }
        self.take_usage(v);
    }

    fn take_usage(&mut self, v: &Value) {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
        // Claude Code / Cursor / Amp: the final `result` event carries the session's totals.
        if let Some(cost) = v.get("total_cost_usd").and_then(Value::as_f64) {
            self.cost_usd = Some(cost);
        }
        if ty == "result" {
            if let Some(t) = tokens_in(v.get("usage").or_else(|| v.get("stats"))) {
                self.tokens = Some(t);
            }
            return;
        }
        // Codex: each `turn.completed` reports that turn's usage.
        if ty == "turn.completed" {
            if let Some(t) = tokens_in(v.get("usage")) {
                self.tokens = Some(self.tokens.unwrap_or(0) + t);
            }
            return;
        }
        // OpenCode: each finished step reports its tokens and cost.
        if ty == "step_finish" {
            let part = v.get("part").unwrap_or(v);
            if let Some(t) = tokens_in(part.get("tokens")) {
                self.tokens = Some(self.tokens.unwrap_or(0) + t);
            }
            if let Some(c) = part.get("cost").and_then(Value::as_f64) {
                self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c);
            }
        }
    }
}

/// input + output tokens from a usage-like object (`input_tokens`/`output_tokens`,
/// `input`/`output`, or `total_tokens`).
fn tokens_in(u: Option<&Value>) -> Option<u64> {
    let u = u?;
    if let Some(total) = u.get("total_tokens").and_then(Value::as_u64) {
        return Some(total);
    }
    let get = |k: &str| u.get(k).and_then(Value::as_u64);
    match (
        get("input_tokens").or(get("input")),
        get("output_tokens").or(get("output")),
    ) {
        (None, None) => None,
        (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
    }
}

/// A short description of the action in an event, if it is one.
fn action_of(v: &Value) -> Option<String> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    // Claude Code / Amp: assistant messages hold tool_use and text blocks.
    if let Some(content) = v.pointer("/message/content").and_then(Value::as_array) {
        let mut found = None;
        for block in content {
            match block.get("type").and_then(Value::as_str) {
                Some("tool_use") => {
                    found = Some(tool_action(
                        block.get("name")?.as_str()?,
                        block.get("input").unwrap_or(&Value::Null),
                    ))
                }
                Some("text") => {
                    if let Some(t) = block
                        .get("text")
                        .and_then(Value::as_str)
                        .filter(|t| !t.trim().is_empty())
                    {
                        found = found.or(Some(first_line(t)));
                    }
                }
                _ => {}
            }
        }
        if v.pointer("/message/role").and_then(Value::as_str) != Some("user") {
            return found;
        }
        return None;
    }
    // Codex: items of type command_execution / file_change / agent_message.
    if let Some(item) = v.get("item") {
        return match item.get("type").and_then(Value::as_str) {
            Some("command_execution") => item
                .get("command")
                .and_then(Value::as_str)
                .map(|c| format!("running {c}")),
            Some("file_change") => item
                .pointer("/changes/0/path")
                .and_then(Value::as_str)
                .map(|p| format!("editing {}", short_path(p))),
            Some("agent_message") => item.get("text").and_then(Value::as_str).map(first_line),
            _ => None,
        };
    }
    // Gemini: tool_use events with tool_name and parameters; assistant messages.
    if ty == "tool_use" {
        if let Some(name) = v
            .get("tool_name")
            .or_else(|| v.get("name"))
            .and_then(Value::as_str)
        {
            let input = v
                .get("parameters")
                .or_else(|| v.get("input"))
                .unwrap_or(&Value::Null);
            return Some(tool_action(name, input));
        }
    }
    if ty == "message" && v.get("role").and_then(Value::as_str) == Some("assistant") {
        return v
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .map(first_line);
    }
    // OpenCode: tool parts with state.input; text parts.
    if let Some(part) = v.get("part") {
        if let Some(tool) = part.get("tool").and_then(Value::as_str) {
            return Some(tool_action(
                tool,
                part.pointer("/state/input").unwrap_or(&Value::Null),
            ));
        }
        if ty == "text" {
            return part
                .get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.trim().is_empty())
                .map(first_line);
        }
    }
    // Cursor: tool_call events keyed by the call's kind.
    if ty == "tool_call" && v.get("subtype").and_then(Value::as_str) == Some("started") {
        let call = v.get("tool_call")?.as_object()?;
        let (kind, body) = call.iter().next()?;
        return Some(tool_action(
            kind.trim_end_matches("ToolCall"),
            body.get("args").unwrap_or(&Value::Null),
        ));
    }
    None
}

/// `editing src/lib.rs`, `running cargo test`, `reading README.md`, `using grep`.
fn tool_action(name: &str, input: &Value) -> String {
    let lower = name.to_ascii_lowercase();
    let path = ["file_path", "filePath", "path", "absolute_path", "file"]
        .iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
        .map(short_path);
    let command = ["command", "cmd"]
        .iter()
        .find_map(|k| input.get(*k))
        .and_then(|c| match c {
            Value::String(s) => Some(s.clone()),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            _ => None,
        });
    let verb = if [
        "edit",
        "write",
        "replace",
        "multiedit",
        "patch",
        "create",
        "str_replace",
    ]
    .iter()
    .any(|k| lower.contains(k))
    {
        "editing"
    } else if ["bash", "shell", "exec", "command", "run"]
        .iter()
        .any(|k| lower.contains(k))
    {
        "running"
    } else if ["read", "view", "cat", "open"]
        .iter()
        .any(|k| lower.contains(k))
    {
        "reading"
    } else {
        ""
    };
    match (verb, path, command) {
        ("running", _, Some(c)) => format!("running {}", first_line(&c)),
        ("", _, _) => format!("using {name}"),
        (verb, Some(p), _) => format!("{verb} {p}"),
        (verb, None, Some(c)) => format!("{verb} {}", first_line(&c)),
        (verb, None, None) => format!("{verb} ({name})"),
    }
}

/// Paths inside the worktree are shown relative to it.
fn short_path(p: &str) -> String {
    match std::env::current_dir() {
        Ok(cwd) => std::path::Path::new(p)
            .strip_prefix(&cwd)
            .map(|r| r.display().to_string())
            .unwrap_or_else(|_| p.to_string()),
        Err(_) => p.to_string(),
    }
}

fn first_line(text: &str) -> String {
    text.trim().lines().next().unwrap_or_default().to_string()
}

fn shorten(text: &str) -> String {
    crate::text::shorten(&first_line(text), MAX_LAST)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Activity {
        let mut a = Activity::default();
        for l in lines {
            a.feed(l);
        }
        a
    }

    #[test]
    fn plain_text_shows_the_last_line() {
        assert_eq!(
            run(&["starting", "  thinking hard  ", ""]).last.as_deref(),
            Some("thinking hard")
        );
    }

    #[test]
    fn claude_stream_json() {
        let a = run(&[
            r#"{"type":"system","subtype":"init","session_id":"s"}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","name":"Edit","input":{"file_path":"src/lib.rs"}}]}}"#,
            r#"{"type":"assistant","message":{"role":"assistant","content":[{"type":"tool_use","name":"Bash","input":{"command":"cargo test"}}]}}"#,
            r#"{"type":"result","subtype":"success","total_cost_usd":0.0421,"usage":{"input_tokens":1200,"output_tokens":300}}"#,
        ]);
        assert_eq!(a.last.as_deref(), Some("running cargo test"));
        assert_eq!(a.tokens, Some(1500));
        assert_eq!(a.cost_usd, Some(0.0421));
    }

    #[test]
    fn codex_json() {
        let a = run(&[
            r#"{"type":"item.started","item":{"id":"i","type":"command_execution","command":"bash -lc ls","status":"in_progress"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":0,"output_tokens":20}}"#,
            r#"{"type":"item.completed","item":{"id":"j","type":"file_change","changes":[{"path":"src/a.rs","kind":"update"}]}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":50,"output_tokens":5}}"#,
        ]);
        assert_eq!(a.last.as_deref(), Some("editing src/a.rs"));
        assert_eq!(a.tokens, Some(175));
    }

    #[test]
    fn gemini_opencode_cursor() {
        let g = run(&[
            r#"{"type":"tool_use","tool_name":"write_file","parameters":{"file_path":"x.py"}}"#,
            r#"{"type":"result","stats":{"total_tokens":900}}"#,
        ]);
        assert_eq!(
            (g.last.as_deref(), g.tokens),
            (Some("editing x.py"), Some(900))
        );
        let o = run(&[
            r#"{"type":"tool_use","part":{"tool":"bash","state":{"input":{"command":"npm test"}}}}"#,
            r#"{"type":"step_finish","part":{"tokens":{"input":10,"output":5},"cost":0.01}}"#,
        ]);
        assert_eq!(
            (o.last.as_deref(), o.tokens, o.cost_usd),
            (Some("running npm test"), Some(15), Some(0.01))
        );
        let c = run(&[
            r#"{"type":"tool_call","subtype":"started","tool_call":{"editToolCall":{"args":{"path":"a.ts"}}}}"#,
        ]);
        assert_eq!(c.last.as_deref(), Some("editing a.ts"));
    }
}
