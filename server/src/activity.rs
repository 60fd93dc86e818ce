//! What an agent is doing now, read from its output as it streams: the last action
//! (`editing src/lib.rs`, `running cargo test`) and the tokens or cost it reports.
//!
//! Agents with machine-readable output print one JSON object per line (Claude Code's, Qwen
//! Code's, Cursor's and Amp's stream-json, Codex's `exec --json`, Gemini's stream-json,
//! OpenCode's JSON events). Rather than one parser per CLI, this reads the shapes they share:
//! tool calls with a name and input, text messages, and usage/cost fields. Plain-text agents
//! show their last output line (a JSON-speaking agent's plain lines are its CLI's stderr
//! chatter, and show only when they are errors or retries); aider's `Tokens: ... sent, ... received. Cost: ...` lines are
//! read as its usage.
//!
//! # Tokens and cost
//!
//! `tokens` means the same for every agent: **all the tokens this attempt's agent runs used,
//! each counted once** (input, prompt-cache writes and reads, and output), so a follow-up
//! (`fanout continue`) adds to the first run's figure. The CLIs report in different ways, and
//! each is normalized to that:
//!
//! - Claude Code, Cursor, Amp: the final `result` event holds the run's totals (replaced,
//!   not added, should several come), for this run only even when `-c` continues the
//!   conversation. Claude's `input_tokens` leaves out the prompt cache, so
//!   `cache_creation_input_tokens` and `cache_read_input_tokens` are added.
//! - Gemini: the `result` event's `stats.total_tokens` for the run.
//! - Codex and Qwen Code report the usage of their whole session so far: Codex in each
//!   `turn.completed` (its `input_tokens` include `cached_input_tokens`), Qwen in its
//!   `result` (whose `total_tokens` counts; its `input_tokens` hold the cached ones), and a
//!   resumed session (`codex exec resume --last`, `qwen -c`) starts from the earlier runs'
//!   usage. So the latest figure of a session stands for every run of it: a run that resumes
//!   the session of an earlier run (the same Codex `thread_id`, the same Qwen `session_id`)
//!   replaces what that session had counted instead of adding to it.
//! - OpenCode: each `step_finish` reports one step, added up; its `tokens.total` (or else
//!   input + output + reasoning + cache read and write) counts.
//! - aider: each `Tokens: N sent, M received.` line is one model call: sent + received are
//!   added (cache writes and hits are part of what was sent), and so is each `$X message` cost.
//!
//! A cost of 0 (a custom provider without prices) is no cost: it is not shown.
//!
//! Across runs, [`Activity::for_next_run`] starts a follow-up's activity from the attempt's
//! earlier one, so the figures go on from there.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Activity {
    /// The agent's latest action or output line, short.
    pub last: Option<String>,
    /// Tokens this attempt's agent runs used so far, each counted once, when the agent
    /// reports them (see the module's documentation).
    pub tokens: Option<u64>,
    /// Cost in US dollars so far, when the agent reports one above zero.
    pub cost_usd: Option<f64>,
    /// While the agent's latest news is that it is retrying its model API (Claude Code's
    /// `api_retry`, Codex's `Reconnecting...`, aider's `Retrying in`): what it said. The
    /// attempt shows as stalled meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<String>,
    /// The agent's session whose figures are cumulative (Codex's thread, Qwen's session),
    /// kept in the record so that a follow-up resuming it does not count its earlier runs
    /// twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<Session>,
    /// What the attempt's runs before this one used.
    #[serde(skip)]
    earlier: Counted,
    /// This run's own figures, as the agent reports them.
    #[serde(skip)]
    run: Counted,
    /// Whether this run's figures cover its whole session rather than the run alone.
    #[serde(skip)]
    per_session: bool,
    /// Gemini's reply so far, while it streams in pieces (`"delta": true`).
    #[serde(skip)]
    reply: String,
    /// Whether this run's output has had a JSON event: then a plain-text line is most likely
    /// the CLI's own stderr chatter (Gemini's `[STARTUP] Cannot measure phase ...` after its
    /// result), not news of what the agent does.
    #[serde(skip)]
    structured: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct Session {
    id: String,
    /// What the attempt's runs had used before the session began.
    #[serde(default)]
    before: Counted,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
struct Counted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cost: Option<f64>,
}

impl Counted {
    fn plus(self, other: Counted) -> Counted {
        fn add<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        Counted {
            tokens: add(self.tokens, other.tokens),
            cost: match (self.cost, other.cost) {
                (Some(a), Some(b)) => Some(round_cost(a + b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// Costs are added up in binary floating point: the sum is rounded to a billionth of a
/// dollar, so 0.0070 + 0.0068 is 0.0138.
fn round_cost(c: f64) -> f64 {
    (c * 1e9).round() / 1e9
}

const MAX_LAST: usize = 80;

impl Activity {
    /// The activity a follow-up run starts from: this one's totals become the earlier runs'
    /// figures, which the new run's add to (see the module's documentation); the last action
    /// stays until the new run does something.
    pub fn for_next_run(&self) -> Activity {
        Activity {
            last: self.last.clone(),
            tokens: self.tokens,
            cost_usd: self.cost_usd,
            session: self.session.clone(),
            retrying: None,
            earlier: Counted {
                tokens: self.tokens,
                cost: self.cost_usd,
            },
            ..Activity::default()
        }
    }

    /// The attempt's totals: what came before this run (or before its session, when the
    /// run's figures cover the session), plus the run's own.
    fn total(&self) -> Counted {
        let base = match &self.session {
            Some(s) if self.per_session => s.before,
            _ => self.earlier,
        };
        base.plus(self.run)
    }

    /// Take one line of the agent's output into account. Returns whether anything changed.
    pub fn feed(&mut self, line: &str) -> bool {
        let before = self.clone();
        let line = line.trim();
        if line.is_empty() {
            return false;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.is_object() => self.feed_event(&v),
            _ => self.feed_text(line),
        }
        let total = self.total();
        self.tokens = total.tokens.or(self.tokens);
        self.cost_usd = total.cost.filter(|c| *c > 0.0).or(self.cost_usd);
        *self != before
    }

    fn feed_text(&mut self, line: &str) {
        if let Some(used) = aider_usage(line) {
            self.run = self.run.plus(used);
            return;
        }
        let retry = line.contains("Retrying in ") || line.starts_with("Retrying");
        let error = line.to_ascii_lowercase().contains("error");
        if self.structured && !retry && !error {
            return;
        }
        self.last = Some(shorten(line));
        // aider (through litellm): "litellm.APIConnectionError: ... Retrying in 0.2 seconds..."
        self.retrying = retry.then(|| shorten(line));
    }

    fn feed_event(&mut self, v: &Value) {
        self.structured = true;
        if let Some(retry) = retry_of(v) {
            self.reply.clear();
            self.last = Some(shorten(&retry));
            self.retrying = Some(shorten(&retry));
            return;
        }
        if !is_noise(v) {
            self.retrying = None;
        }
        if let Some(piece) = reply_piece(v) {
            self.reply.push_str(piece);
            if !self.reply.trim().is_empty() {
                self.last = Some(shorten(&self.reply));
            }
        } else {
            self.reply.clear();
            if let Some(action) = action_of(v) {
                self.last = Some(shorten(&action));
            }
        }
        self.take_usage(v);
    }

    fn take_usage(&mut self, v: &Value) {
        let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
        // Copilot's usage file (`--usage-output-file`): its session's tokens per model (a
        // resumed session's file counts the earlier runs too); its input tokens include the
        // cached ones.
        if let Some(models) = v.get("modelMetrics").and_then(Value::as_object) {
            if let Some(start) = v.get("sessionStartTime").and_then(Value::as_str) {
                self.begin_session(&format!("copilot {start}"));
            }
            let mut total = None;
            for m in models.values() {
                let get = |k: &str| m.pointer(&format!("/usage/{k}")).and_then(Value::as_u64);
                if let (Some(i), Some(o)) = (get("inputTokens"), get("outputTokens")) {
                    total = Some(total.unwrap_or(0) + i + o);
                }
            }
            if total.is_some() {
                self.run.tokens = total;
            }
            return;
        }
        // Claude Code / Qwen / Cursor / Amp / Gemini: the final `result` event carries the
        // run's totals (Qwen's: its session's).
        if ty == "result" {
            if let Some(cost) = v.get("total_cost_usd").and_then(Value::as_f64) {
                self.run.cost = Some(cost);
            }
            if let Some(t) = tokens_in(v.get("usage").or_else(|| v.get("stats"))) {
                self.run.tokens = Some(t);
            }
            return;
        }
        // Codex's thread and Qwen's session, new or resumed: their figures cover the session.
        let session_id = match ty {
            "thread.started" => v.get("thread_id"),
            "system" if v.get("qwen_code_version").is_some() => v.get("session_id"),
            _ => None,
        };
        if let Some(id) = session_id {
            self.begin_session(id.as_str().unwrap_or_default());
            return;
        }
        // Codex: each `turn.completed` reports its thread's usage so far.
        if ty == "turn.completed" {
            if let Some(t) = tokens_in(v.get("usage")) {
                self.run.tokens = Some(t);
            }
            return;
        }
        // OpenCode: each finished step reports its tokens and cost.
        if ty == "step_finish" {
            let part = v.get("part").unwrap_or(v);
            let step = Counted {
                tokens: opencode_tokens(part.get("tokens")),
                cost: part.get("cost").and_then(Value::as_f64),
            };
            self.run = self.run.plus(step);
        }
    }
}

impl Activity {
    /// This run's figures cover the agent's session `id`: a session seen for the first time
    /// starts from what the attempt had used before it.
    fn begin_session(&mut self, id: &str) {
        if self.session.as_ref().is_none_or(|s| s.id != id) {
            self.session = Some(Session {
                id: id.to_string(),
                before: self.earlier,
            });
        }
        self.per_session = true;
    }
}

/// A piece of a reply streamed in parts (Gemini's `message` events with `"delta": true`,
/// Copilot's `assistant.message_delta`).
fn reply_piece(v: &Value) -> Option<&str> {
    let ty = v.get("type").and_then(Value::as_str);
    if ty == Some("assistant.message_delta") {
        return v.pointer("/data/deltaContent").and_then(Value::as_str);
    }
    let is_piece = ty == Some("message")
        && v.get("role").and_then(Value::as_str) == Some("assistant")
        && v.get("delta").and_then(Value::as_bool) == Some(true);
    is_piece.then(|| v.get("content").and_then(Value::as_str))?
}

/// What a retry event says: the agent's model API failed and it tries again.
fn retry_of(v: &Value) -> Option<String> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    // Claude Code: {"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,...}
    if ty == "system" && v.get("subtype").and_then(Value::as_str) == Some("api_retry") {
        let n = |k: &str| v.get(k).and_then(Value::as_u64);
        let mut what = match (n("attempt"), n("max_retries")) {
            (Some(a), Some(m)) => format!("API retry {a} of {m}"),
            (Some(a), None) => format!("API retry {a}"),
            _ => "API retry".to_string(),
        };
        if let Some(status) = n("error_status") {
            what.push_str(&format!(" (HTTP {status})"));
        }
        return Some(what);
    }
    // Codex: {"type":"error","message":"Reconnecting... waiting for network (...)"}, forever
    // when the provider cannot be reached.
    if ty == "error" {
        let m = v.get("message").and_then(Value::as_str)?;
        if m.starts_with("Reconnecting") {
            return Some(first_line(m));
        }
    }
    None
}

/// Events that say nothing about progress (Copilot's bookkeeping), which leave a retry
/// showing.
fn is_noise(v: &Value) -> bool {
    v.get("ephemeral").and_then(Value::as_bool) == Some(true)
}

/// OpenCode's step tokens: its `total`, or else every part of it.
fn opencode_tokens(t: Option<&Value>) -> Option<u64> {
    let t = t?;
    if let Some(total) = t.get("total").and_then(Value::as_u64) {
        return Some(total);
    }
    let get = |p: &str| t.pointer(p).and_then(Value::as_u64);
    let parts = [
        get("/input"),
        get("/output"),
        get("/reasoning"),
        get("/cache/read"),
        get("/cache/write"),
    ];
    parts
        .iter()
        .any(Option::is_some)
        .then(|| parts.iter().flatten().sum())
}

/// aider's usage lines: `Tokens: 2.9k sent, 36 received. Cost: $0.0075 message, $0.01
/// session.` (with `, 1.2k cache write, 800 cache hit` before `received` when the provider
/// caches, and then the cost on a line of its own): one model call.
fn aider_usage(line: &str) -> Option<Counted> {
    let (tokens, cost_text) = if let Some(rest) = line.strip_prefix("Tokens: ") {
        let (tokens_text, after) = rest.split_once(" received.")?;
        let mut sent = None;
        let mut received = None;
        for part in tokens_text.split(", ") {
            match part.rsplit_once(' ') {
                Some((n, "sent")) => sent = aider_count(n),
                Some((_, "write" | "hit")) => {}
                None => received = aider_count(part),
                _ => return None,
            }
        }
        (Some(sent? + received?), after.trim())
    } else if line.starts_with("Cost: $") {
        (None, line)
    } else {
        return None;
    };
    let cost = match cost_text.strip_prefix("Cost: $") {
        Some(c) => Some(c.split_once(" message")?.0.parse::<f64>().ok()?),
        None if cost_text.is_empty() => None,
        None => return None,
    };
    Some(Counted { tokens, cost })
}

/// `812`, `2.9k`, `12k`, as aider writes token counts.
fn aider_count(text: &str) -> Option<u64> {
    match text.strip_suffix('k') {
        Some(k) => k.parse::<f64>().ok().map(|k| (k * 1000.0).round() as u64),
        None => text.parse().ok(),
    }
}

/// All the tokens of a usage-like object: its `total_tokens`, or else input + output plus
/// Anthropic's prompt-cache fields (`cache_creation_input_tokens`, `cache_read_input_tokens`),
/// which its `input_tokens` leaves out. (OpenAI's `cached_input_tokens` and
/// `cached_tokens` are part of its input tokens already.)
fn tokens_in(u: Option<&Value>) -> Option<u64> {
    let u = u?;
    if let Some(total) = u.get("total_tokens").and_then(Value::as_u64) {
        return Some(total);
    }
    let get = |k: &str| u.get(k).and_then(Value::as_u64);
    let parts = [
        get("input_tokens").or(get("input")),
        get("output_tokens").or(get("output")),
        get("cache_creation_input_tokens"),
        get("cache_read_input_tokens"),
    ];
    parts
        .iter()
        .any(Option::is_some)
        .then(|| parts.iter().flatten().sum())
}

/// A short description of the action in an event, if it is one.
fn action_of(v: &Value) -> Option<String> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
    // Codex: errors it reports and goes on from, or ends with.
    if ty == "error" {
        return v.get("message").and_then(Value::as_str).map(first_line);
    }
    // Copilot: tool executions and its replies.
    if ty == "tool.execution_start" {
        let d = v.get("data")?;
        return Some(tool_action(
            d.get("toolName")?.as_str()?,
            d.get("arguments").unwrap_or(&Value::Null),
        ));
    }
    if ty == "assistant.message" {
        return v
            .pointer("/data/content")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .map(first_line);
    }
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
    fn a_json_stream_is_not_replaced_by_stderr_chatter() {
        let a = run(&[
            r#"{"type":"message","role":"assistant","content":"Done: I replaced the TODO line.","delta":true}"#,
            r#"{"type":"result","status":"success","stats":{"total_tokens":10}}"#,
            "[STARTUP] Cannot measure phase 'cleanup_ops': start mark 'startup:cleanup_ops:start' not found",
        ]);
        assert_eq!(a.last.as_deref(), Some("Done: I replaced the TODO line."));
        // An error the CLI prints as text still shows.
        let a = run(&[
            r#"{"type":"init","session_id":"s"}"#,
            "Error: quota exceeded",
        ]);
        assert_eq!(a.last.as_deref(), Some("Error: quota exceeded"));
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
            r#"{"type":"thread.started","thread_id":"t1"}"#,
            r#"{"type":"item.started","item":{"id":"i","type":"command_execution","command":"bash -lc ls","status":"in_progress"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":100,"cached_input_tokens":60,"output_tokens":20}}"#,
            r#"{"type":"item.completed","item":{"id":"j","type":"file_change","changes":[{"path":"src/a.rs","kind":"update"}]}}"#,
            // Each turn.completed covers the thread so far: it replaces the one before.
            r#"{"type":"turn.completed","usage":{"input_tokens":150,"cached_input_tokens":90,"output_tokens":25}}"#,
        ]);
        assert_eq!(a.last.as_deref(), Some("editing src/a.rs"));
        assert_eq!(
            a.tokens,
            Some(175),
            "cached input tokens are part of the input"
        );
    }

    /// Feed `lines` as a follow-up run of `earlier` (through its record on disk, as the
    /// supervisor of the follow-up would read it).
    fn follow_up(earlier: &Activity, lines: &[&str]) -> Activity {
        let stored: Activity =
            serde_json::from_str(&serde_json::to_string(earlier).unwrap()).unwrap();
        let mut a = stored.for_next_run();
        for l in lines {
            a.feed(l);
        }
        a
    }

    #[test]
    fn codex_resumed_thread_is_counted_once() {
        // Recorded: the first run's thread used 4,191 tokens; `exec resume --last` continues
        // the thread and its turn.completed reports the thread's 11,210 (4,191 + 7,019).
        let first = run(&[
            r#"{"type":"thread.started","thread_id":"01a2"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":4100,"cached_input_tokens":2110,"cache_write_input_tokens":0,"output_tokens":91,"reasoning_output_tokens":0}}"#,
        ]);
        assert_eq!(first.tokens, Some(4191));
        let resumed = follow_up(
            &first,
            &[
                r#"{"type":"thread.started","thread_id":"01a2"}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":11000,"cached_input_tokens":4500,"output_tokens":210}}"#,
            ],
        );
        assert_eq!(resumed.tokens, Some(11210));
        // A follow-up in a new thread adds its own.
        let fresh = follow_up(
            &resumed,
            &[
                r#"{"type":"thread.started","thread_id":"09ff"}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":1000,"output_tokens":10}}"#,
            ],
        );
        assert_eq!(fresh.tokens, Some(12220));
        // And one resuming that second thread counts from where it began.
        let again = follow_up(
            &fresh,
            &[
                r#"{"type":"thread.started","thread_id":"09ff"}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":2000,"output_tokens":20}}"#,
            ],
        );
        assert_eq!(again.tokens, Some(11210 + 2020));
    }

    #[test]
    fn copilot_resumed_session_is_counted_once() {
        // Recorded from copilot 1.0.102: `--usage-output-file` after a run that resumed the
        // session (same `--session-id`) holds the session's figures, the first run's included.
        let first = run(&[
            r#"{"totalUserRequests":1,"sessionStartTime":"2026-12-03T13:15:03.947Z","modelMetrics":{"scripted-model":{"usage":{"inputTokens":1049,"outputTokens":47,"cacheReadTokens":621}}}}"#,
        ]);
        assert_eq!(first.tokens, Some(1096));
        let resumed = follow_up(
            &first,
            &[
                r#"{"totalUserRequests":2,"sessionStartTime":"2026-12-03T13:15:03.947Z","modelMetrics":{"scripted-model":{"usage":{"inputTokens":2126,"outputTokens":98,"cacheReadTokens":1254}}}}"#,
            ],
        );
        assert_eq!(resumed.tokens, Some(2224), "not 1096 + 2224");
        let fresh = follow_up(
            &resumed,
            &[
                r#"{"sessionStartTime":"2026-12-03T14:00:00.000Z","modelMetrics":{"m":{"usage":{"inputTokens":100,"outputTokens":10}}}}"#,
            ],
        );
        assert_eq!(fresh.tokens, Some(2334), "a new session adds its own");
    }

    #[test]
    fn follow_ups_of_per_run_agents_add_up() {
        let first = run(&[
            r#"{"type":"result","subtype":"success","total_cost_usd":0.0297825,"usage":{"input_tokens":39,"cache_creation_input_tokens":3690,"cache_read_input_tokens":8100,"output_tokens":99}}"#,
        ]);
        assert_eq!(
            (first.tokens, first.cost_usd),
            (Some(11928), Some(0.0297825))
        );
        let second = follow_up(
            &first,
            &[
                r#"{"type":"system","subtype":"init","session_id":"s2"}"#,
                r#"{"type":"result","subtype":"success","total_cost_usd":0.03192,"usage":{"input_tokens":54,"cache_creation_input_tokens":3840,"cache_read_input_tokens":9600,"output_tokens":114}}"#,
            ],
        );
        assert_eq!(second.tokens, Some(11928 + 13608));
        assert_eq!(second.cost_usd, Some(0.0617025));
        // Until the follow-up reports anything, the earlier figures stay.
        let starting = follow_up(&first, &[r#"{"type":"system","subtype":"init"}"#]);
        assert_eq!(
            (starting.tokens, starting.cost_usd),
            (first.tokens, first.cost_usd)
        );
    }

    #[test]
    fn claude_tokens_include_the_prompt_cache() {
        // Recorded: the server reported 3,752 + 3,864 + 3,976 tokens over three requests.
        let a = run(&[
            r#"{"type":"result","subtype":"success","total_cost_usd":0.029355,"usage":{"input_tokens":36,"cache_creation_input_tokens":3660,"cache_read_input_tokens":7800,"output_tokens":96,"server_tool_use":{"web_search_requests":0}}}"#,
        ]);
        assert_eq!(a.tokens, Some(11592));
    }

    #[test]
    fn claude_api_retries_are_the_activity() {
        let a = run(&[
            r#"{"type":"system","subtype":"init","session_id":"s"}"#,
            r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":10,"retry_delay_ms":561.7,"error_status":null,"error":"unknown"}"#,
            r#"{"type":"system","subtype":"api_retry","attempt":3,"max_retries":10,"retry_delay_ms":2068.8,"error_status":529,"error":"overloaded"}"#,
        ]);
        assert_eq!(a.last.as_deref(), Some("API retry 3 of 10 (HTTP 529)"));
        let b = run(&[
            r#"{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"error_status":null}"#,
        ]);
        assert_eq!(b.last.as_deref(), Some("API retry 2 of 10"));
    }

    #[test]
    fn qwen_totals_cover_its_session() {
        // Recorded: 776 + 792 + 808 tokens in the first run; `qwen -c` resumes the session and
        // its result reports the session's 4,872 (2,376 + 2,496).
        let init = r#"{"type":"system","subtype":"init","session_id":"e72a","cwd":"/w","qwen_code_version":"0.15.10"}"#;
        let first = run(&[
            init,
            r#"{"type":"result","subtype":"success","usage":{"input_tokens":2214,"output_tokens":162,"cache_read_input_tokens":1206,"total_tokens":2376}}"#,
        ]);
        assert_eq!(
            first.tokens,
            Some(2376),
            "its total_tokens hold the cached ones"
        );
        let resumed = follow_up(
            &first,
            &[
                init,
                r#"{"type":"result","subtype":"success","usage":{"input_tokens":4533,"output_tokens":339,"cache_read_input_tokens":2457,"total_tokens":4872}}"#,
            ],
        );
        assert_eq!(resumed.tokens, Some(4872));
    }

    #[test]
    fn opencode_counts_the_cache_and_shows_no_zero_cost() {
        let a = run(&[
            r#"{"type":"step_finish","part":{"type":"step-finish","tokens":{"total":608,"input":244,"output":31,"reasoning":0,"cache":{"write":0,"read":333}},"cost":0}}"#,
            r#"{"type":"step_finish","part":{"type":"step-finish","tokens":{"input":248,"output":32,"reasoning":4,"cache":{"write":10,"read":336}},"cost":0}}"#,
        ]);
        assert_eq!(a.tokens, Some(608 + 630));
        assert_eq!(a.cost_usd, None, "a custom provider's cost of 0 is no cost");
        let priced = run(&[
            r#"{"type":"step_finish","part":{"tokens":{"total":10},"cost":0.0125}}"#,
            r#"{"type":"step_finish","part":{"tokens":{"total":10},"cost":0.0001}}"#,
        ]);
        assert_eq!(priced.cost_usd, Some(0.0126));
    }

    #[test]
    fn gemini_reply_pieces_are_joined() {
        let a = run(&[
            r#"{"type":"tool_use","tool_name":"replace","parameters":{"file_path":"app.py"}}"#,
            r#"{"type":"tool_result","tool_id":"r","status":"success"}"#,
            r#"{"type":"message","role":"assistant","content":"Done: I replaced the ","delta":true}"#,
            r#"{"type":"message","role":"assistant","content":"TODO line in app.py.\n","delta":true}"#,
            r#"{"type":"message","role":"assistant","content":"Nothing else changed.","delta":true}"#,
        ]);
        assert_eq!(
            a.last.as_deref(),
            Some("Done: I replaced the TODO line in app.py.")
        );
        // A new reply starts afresh.
        let b = run(&[
            r#"{"type":"message","role":"assistant","content":"First.","delta":true}"#,
            r#"{"type":"tool_use","tool_name":"read_file","parameters":{"file_path":"a.py"}}"#,
            r#"{"type":"message","role":"assistant","content":"Sec","delta":true}"#,
            r#"{"type":"message","role":"assistant","content":"ond.","delta":true}"#,
        ]);
        assert_eq!(b.last.as_deref(), Some("Second."));
    }

    #[test]
    fn aider_usage_lines() {
        let a = run(&[
            "Applied edit to app.py",
            "Tokens: 2.9k sent, 36 received. Cost: $0.0075 message, $0.01 session.",
            "Commit 9327049 greet politely",
            "Tokens: 703 sent, 49 received. Cost: $0.0018 message, $0.0093 session.",
        ]);
        assert_eq!(a.last.as_deref(), Some("Commit 9327049 greet politely"));
        assert_eq!(a.tokens, Some(2900 + 36 + 703 + 49));
        assert_eq!(a.cost_usd, Some(0.0093));
        // With a caching provider the cost comes on a line of its own.
        let c = run(&[
            "Tokens: 12k sent, 1.2k cache write, 800 cache hit, 1.5k received.",
            "Cost: $0.05 message, $0.05 session.",
            // Without a price, no cost.
            "Tokens: 10 sent, 5 received.",
        ]);
        assert_eq!(
            (c.tokens, c.cost_usd),
            (Some(12000 + 1500 + 15), Some(0.05))
        );
        assert_eq!(c.last, None);
        // Lines that merely look alike stay output.
        let d = run(&["Tokens: many sent, some received."]);
        assert_eq!(
            (d.last.as_deref(), d.tokens),
            (Some("Tokens: many sent, some received."), None)
        );
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
