//! A small JSON-RPC client for `fanout lsp`, speaking LSP over the child's stdio with
//! Content-Length framing. The one LSP client of the integration tests and of the benchmark
//! (`benches/fanout/main.rs` includes this file by path).
//!
//! A reader thread parses every message the server writes (strictly: any byte on stdout that
//! is not a well-formed frame is recorded as a framing error), stamps it with the time it
//! arrived, routes responses to the waiting request by id, answers the server's own requests
//! (`workspace/applyEdit`, `window/workDoneProgress/create`, ...) and records every
//! notification and server request, in order, so tests can wait for one with
//! [`LspClient::wait_for`], never with fixed sleeps. A request's latency
//! ([`LspClient::request_timed`]) runs from just before its bytes are written to the moment
//! its response has been read.

// Each test binary and the benchmark use a different part of the client.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How long a request or a wait may take before the test fails (by default; see
/// [`LspClient::set_timeout`]). Generous: the tests run in parallel, each with its own server,
/// supervisors and agents.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A message from the server that is not a response: a notification, or a request to the
/// client (then `id` is set).
#[derive(Debug, Clone)]
pub struct Incoming {
    pub method: String,
    pub params: Value,
    pub id: Option<Value>,
    /// When it was read, for latencies.
    pub at: Instant,
    /// The same on the wall clock, to compare with times other processes wrote down.
    pub wall: SystemTime,
}

impl Incoming {
    pub fn is(&self, method: &str) -> bool {
        self.method == method
    }
}

/// A JSON-RPC error answered by the server.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

#[derive(Default)]
struct State {
    /// Responses not yet collected, with the time each was read.
    responses: HashMap<i64, (Value, Instant)>,
    incoming: Vec<Incoming>,
    /// What to answer the next `workspace/applyEdit` requests with.
    apply_edit_reply: Option<Value>,
    /// The answer to `window/showMessageRequest` (default: null, as if dismissed).
    message_request_reply: Value,
    framing_errors: Vec<String>,
    /// Every response from the server, in arrival order (never taken away, unlike
    /// `responses`): error answers to malformed input have no id of ours to wait on.
    answers: Vec<Value>,
    stdout_closed: bool,
    stderr: String,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The server's stdin; None once the test closed it (end of input).
type Stdin = Arc<Mutex<Option<ChildStdin>>>;

pub struct LspClient {
    child: Child,
    stdin: Stdin,
    shared: Arc<Shared>,
    next_id: i64,
    threads: Vec<JoinHandle<()>>,
    timeout: Duration,
}

impl LspClient {
    /// Start `fanout <args>` (e.g. `["lsp"]`) with exactly the environment the command has;
    /// its stderr is kept for [`LspClient::stderr`] and failure messages.
    pub fn spawn(command: Command) -> LspClient {
        LspClient::start(command, None)
    }

    /// Like [`LspClient::spawn`], with the server's stderr written to `log` instead (a long
    /// run's log stays out of memory; [`LspClient::stderr`] is then empty).
    pub fn spawn_logging_to(command: Command, log: File) -> LspClient {
        LspClient::start(command, Some(log))
    }

    fn start(mut command: Command, log: Option<File>) -> LspClient {
        let stderr_to = match log {
            Some(file) => Stdio::from(file),
            None => Stdio::piped(),
        };
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr_to);
        let mut child = command.spawn().expect("start fanout lsp");
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let stdout = child.stdout.take().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let mut threads = vec![{
            let shared = Arc::clone(&shared);
            let stdin = Arc::clone(&stdin);
            std::thread::spawn(move || read_messages(stdout, &shared, &stdin))
        }];
        if let Some(stderr) = child.stderr.take() {
            let shared = Arc::clone(&shared);
            threads.push(std::thread::spawn(move || {
                let mut lines = BufReader::new(stderr);
                let mut line = String::new();
                while lines.read_line(&mut line).unwrap_or(0) > 0 {
                    shared.lock().stderr.push_str(&line);
                    line.clear();
                }
            }));
        }
        LspClient {
            child,
            stdin,
            shared,
            next_id: 1,
            threads,
            timeout: TIMEOUT,
        }
    }

    /// How long requests and waits may take from now on (default [`TIMEOUT`]).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `initialize` with `capabilities` and `initializationOptions`, then `initialized`.
    /// Returns the server's InitializeResult.
    pub fn initialize(&mut self, root: &Path, capabilities: Value, options: Value) -> Value {
        let uri = file_uri(root);
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": std::process::id(),
                    "rootUri": uri,
                    "workspaceFolders": [{"uri": uri, "name": "workspace"}],
                    "capabilities": capabilities,
                    "initializationOptions": options,
                }),
            )
            .expect("initialize");
        self.notify("initialized", json!({}));
        result
    }

    /// Send a request and wait for its response.
    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.request_timed(method, params).0
    }

    /// Send a request and wait for its response: the answer, and the time from just before
    /// the request was written to the moment its response was read.
    pub fn request_timed(
        &mut self,
        method: &str,
        params: Value,
    ) -> (Result<Value, RpcError>, Duration) {
        let id = self.next_request_id();
        let frame = frame(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let start = Instant::now();
        write_frame(&self.stdin, &frame);
        let (message, at) = self.wait_response(id);
        (to_result(&message), at.saturating_duration_since(start))
    }

    /// Send a request without waiting; [`LspClient::response`] collects the answer.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        let id = self.next_request_id();
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    pub fn response(&mut self, id: i64) -> Result<Value, RpcError> {
        to_result(&self.wait_response(id).0)
    }

    fn next_request_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The response to request `id` and when it was read; panics after the timeout.
    fn wait_response(&self, id: i64) -> (Value, Instant) {
        let timeout = self.timeout;
        let state = self.wait_until(timeout, |s| s.responses.contains_key(&id));
        let mut state = state.unwrap_or_else(|s| {
            panic!(
                "no response to request {id} within {timeout:?}\n{}",
                describe(&s)
            )
        });
        state.responses.remove(&id).unwrap()
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// `workspace/executeCommand` with its one JSON object argument.
    pub fn execute(&mut self, command: &str, argument: Value) -> Result<Value, RpcError> {
        self.execute_timed(command, argument).0
    }

    /// [`LspClient::execute`] with its latency, as [`LspClient::request_timed`].
    pub fn execute_timed(
        &mut self,
        command: &str,
        argument: Value,
    ) -> (Result<Value, RpcError>, Duration) {
        self.request_timed(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [argument]}),
        )
    }

    /// What the next `workspace/applyEdit` requests are answered with (default
    /// `{"applied": true}`).
    pub fn answer_apply_edit_with(&self, reply: Value) {
        self.shared.lock().apply_edit_reply = Some(reply);
    }

    /// Answer `window/showMessageRequest` with `reply` (e.g. `{"title": "Trust"}`).
    pub fn answer_message_request_with(&self, reply: Value) {
        self.shared.lock().message_request_reply = reply;
    }

    /// How many notifications and server requests have arrived so far: a mark for
    /// [`LspClient::wait_for_after`].
    pub fn mark(&self) -> usize {
        self.shared.lock().incoming.len()
    }

    /// Every notification and server request received so far, in order.
    pub fn incoming(&self) -> Vec<Incoming> {
        self.shared.lock().incoming.clone()
    }

    /// The latest notification or server request with `method` so far, if any.
    pub fn last(&self, method: &str) -> Option<Incoming> {
        let state = self.shared.lock();
        state.incoming.iter().rev().find(|m| m.is(method)).cloned()
    }

    /// The first message (notification or server request) matching `predicate`, waiting for
    /// it up to the timeout.
    #[track_caller]
    pub fn wait_for(&self, what: &str, predicate: impl Fn(&Incoming) -> bool) -> Incoming {
        self.wait_for_after(0, what, predicate)
    }

    /// The first message arrived after `mark` matching `predicate`.
    #[track_caller]
    pub fn wait_for_after(
        &self,
        mark: usize,
        what: &str,
        predicate: impl Fn(&Incoming) -> bool,
    ) -> Incoming {
        let timeout = self.timeout;
        self.wait_for_within(mark, timeout, predicate)
            .unwrap_or_else(|| {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    describe(&self.shared.lock())
                )
            })
    }

    /// The first message arrived after `mark` matching `predicate`, or None if none came
    /// within `timeout` (or the server closed its output first).
    pub fn wait_for_within(
        &self,
        mark: usize,
        timeout: Duration,
        predicate: impl Fn(&Incoming) -> bool,
    ) -> Option<Incoming> {
        let found = |s: &State| s.incoming.iter().skip(mark).position(&predicate);
        let state = self.wait_until(timeout, |s| found(s).is_some()).ok()?;
        Some(state.incoming[mark + found(&state).unwrap()].clone())
    }

    /// Whether any message arrived after `mark` matches `predicate` (no waiting).
    pub fn saw_after(&self, mark: usize, predicate: impl Fn(&Incoming) -> bool) -> bool {
        self.shared.lock().incoming.iter().skip(mark).any(predicate)
    }

    /// Everything the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.shared.lock().stderr.clone()
    }

    /// Stdout problems: bytes that were not a well-formed LSP frame.
    pub fn framing_errors(&self) -> Vec<String> {
        self.shared.lock().framing_errors.clone()
    }

    /// `shutdown` then `exit`; returns how the process ended (it must end by itself).
    pub fn shutdown_and_exit(&mut self) -> ExitStatus {
        let result = self.request("shutdown", Value::Null).expect("shutdown");
        assert_eq!(result, Value::Null, "shutdown answers null");
        self.notify("exit", Value::Null);
        self.wait_exit("`exit`")
    }

    /// Write `bytes` to the server's stdin as they are: no framing added (malformed input).
    pub fn send_raw(&self, bytes: &[u8]) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stdin) = stdin.as_mut() {
            let _ = stdin.write_all(bytes);
            let _ = stdin.flush();
        }
    }

    /// `shutdown` then `exit`, without checks (the end of a benchmark run): the process is
    /// killed if it has not exited 10 s later.
    pub fn stop(mut self) {
        let _ = self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let _ = self.wait_exit_within(Duration::from_secs(10));
        // Drop kills it if it is still there.
    }

    /// Close the server's stdin: the end of input, as when the client goes away.
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Wait for the server to exit by itself (after `after`, for the failure message).
    pub fn wait_exit(&mut self, after: &str) -> ExitStatus {
        let timeout = self.timeout;
        self.wait_exit_within(timeout)
            .unwrap_or_else(|| panic!("fanout lsp did not exit within {timeout:?} of {after}"))
    }

    /// How the server ended, if it exits by itself within `timeout`.
    fn wait_exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for fanout lsp") {
                for t in self.threads.drain(..) {
                    let _ = t.join();
                }
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            // Polling for a child's exit (no portable way to wait with a timeout).
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many responses have arrived so far: a mark for [`LspClient::answers_after`].
    pub fn answers_mark(&self) -> usize {
        self.shared.lock().answers.len()
    }

    /// Every response arrived after `mark`, in order.
    pub fn answers_after(&self, mark: usize) -> Vec<Value> {
        self.shared.lock().answers[mark..].to_vec()
    }

    /// Wait until `count` responses matching `predicate` have arrived after `mark`; returns
    /// every response arrived after `mark` so far.
    #[track_caller]
    pub fn wait_for_answers_after(
        &self,
        mark: usize,
        count: usize,
        what: &str,
        predicate: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let matching = |s: &State| s.answers[mark..].iter().filter(|a| predicate(a)).count();
        let timeout = self.timeout;
        match self.wait_until(timeout, |s| matching(s) >= count) {
            Ok(state) => state.answers[mark..].to_vec(),
            Err(state) => panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                describe(&state)
            ),
        }
    }

    fn send(&self, message: &Value) {
        write_frame(&self.stdin, &frame(message));
    }

    /// Wait until `ready` holds for the state, or `timeout` passes (Err with the state).
    fn wait_until(
        &self,
        timeout: Duration,
        ready: impl Fn(&State) -> bool,
    ) -> Result<MutexGuard<'_, State>, MutexGuard<'_, State>> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if ready(&state) {
                return Ok(state);
            }
            let now = Instant::now();
            if now >= deadline || state.stdout_closed {
                return Err(state);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        // A test that failed half-way: do not leave the server behind.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The state in a few lines, for failure messages.
fn describe(state: &State) -> String {
    let mut out = String::from("messages received:\n");
    for m in state.incoming.iter().rev().take(30).rev() {
        let params = m.params.to_string();
        let short: String = params.chars().take(300).collect();
        out.push_str(&format!("  {} {short}\n", m.method));
    }
    for a in state.answers.iter().rev().take(10).rev() {
        let text = a.to_string();
        let short: String = text.chars().take(300).collect();
        out.push_str(&format!("  (response) {short}\n"));
    }
    if !state.framing_errors.is_empty() {
        out.push_str(&format!("framing errors: {:?}\n", state.framing_errors));
    }
    if state.stdout_closed {
        out.push_str("the server closed stdout\n");
    }
    let tail: Vec<&str> = state.stderr.lines().rev().take(40).collect();
    out.push_str("server stderr (last lines):\n");
    for line in tail.into_iter().rev() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// The answer in a response: its result, or its error.
fn to_result(message: &Value) -> Result<Value, RpcError> {
    match message.get("error") {
        Some(e) => Err(RpcError {
            code: e["code"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or_default().to_string(),
        }),
        None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
    }
}

/// `message` as one LSP frame: header and body.
fn frame(message: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(message).unwrap();
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(&body);
    frame
}

fn write_frame(stdin: &Mutex<Option<ChildStdin>>, frame: &[u8]) {
    let mut stdin = stdin.lock().unwrap_or_else(|p| p.into_inner());
    let Some(stdin) = stdin.as_mut() else {
        return;
    };
    // One write per frame: a frame is never split between two writes of the client's threads.
    // The server may be gone (a test of exit); the test notices through the process.
    let _ = stdin.write_all(frame);
    let _ = stdin.flush();
}

/// The reader thread: parse frames until EOF, strictly.
fn read_messages(stdout: impl Read, shared: &Shared, stdin: &Mutex<Option<ChildStdin>>) {
    let mut input = BufReader::with_capacity(1 << 16, stdout);
    loop {
        let frame = match read_frame(&mut input) {
            Ok(Some(body)) => body,
            Ok(None) => break,
            Err(e) => {
                shared.lock().framing_errors.push(e);
                break;
            }
        };
        let arrived = (Instant::now(), SystemTime::now());
        let message: Value = match serde_json::from_slice(&frame) {
            Ok(v) => v,
            Err(e) => {
                let text = String::from_utf8_lossy(&frame).into_owned();
                shared
                    .lock()
                    .framing_errors
                    .push(format!("a body that is not JSON ({e}): {text}"));
                continue;
            }
        };
        if message["jsonrpc"] != "2.0" {
            shared
                .lock()
                .framing_errors
                .push(format!("not JSON-RPC 2.0: {message}"));
        }
        handle(message, arrived, shared, stdin);
        shared.changed.notify_all();
    }
    shared.lock().stdout_closed = true;
    shared.changed.notify_all();
}

/// One frame's body; None at a clean EOF (between frames).
fn read_frame(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, String> {
    let mut length: Option<usize> = None;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return if first {
                Ok(None)
            } else {
                Err("EOF inside a header".into())
            };
        }
        first = false;
        let text = String::from_utf8_lossy(&line).into_owned();
        let Some(header) = text.strip_suffix("\r\n") else {
            return Err(format!("a header line not ending in CRLF: {text:?}"));
        };
        if header.is_empty() {
            break;
        }
        match header.split_once(": ") {
            Some((name, value)) if name.eq_ignore_ascii_case("Content-Length") => {
                length = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| format!("a bad Content-Length: {header:?}"))?,
                );
            }
            Some((name, _)) if name.eq_ignore_ascii_case("Content-Type") => {}
            _ => return Err(format!("not an LSP header: {header:?}")),
        }
    }
    let length = length.ok_or("a frame without Content-Length")?;
    let mut body = vec![0; length];
    input
        .read_exact(&mut body)
        .map_err(|e| format!("a body shorter than its Content-Length: {e}"))?;
    Ok(Some(body))
}

fn handle(
    message: Value,
    (at, wall): (Instant, SystemTime),
    shared: &Shared,
    stdin: &Mutex<Option<ChildStdin>>,
) {
    let method = message.get("method").and_then(Value::as_str);
    let id = message.get("id").cloned();
    match (method, id) {
        // A response to one of our requests.
        (None, Some(id)) => {
            let mut state = shared.lock();
            state.answers.push(message.clone());
            // Answers to malformed input may carry a null or a string id: those are only
            // in `answers`.
            if let Some(id) = id.as_i64() {
                state.responses.insert(id, (message, at));
            }
        }
        (Some(method), id) => {
            let params = message.get("params").cloned().unwrap_or(Value::Null);
            if let Some(id) = &id {
                let reply = match method {
                    "workspace/applyEdit" => Ok(shared
                        .lock()
                        .apply_edit_reply
                        .clone()
                        .unwrap_or(json!({"applied": true}))),
                    "window/showDocument" => Ok(json!({"success": true})),
                    "window/showMessageRequest" => Ok(shared.lock().message_request_reply.clone()),
                    "window/workDoneProgress/create"
                    | "workspace/codeLens/refresh"
                    | "client/registerCapability" => Ok(Value::Null),
                    other => Err(format!("the test client does not handle {other}")),
                };
                // Record before answering, so a test that sees the effect of the answer
                // also sees the request.
                shared.lock().incoming.push(Incoming {
                    method: method.to_string(),
                    params,
                    id: Some(id.clone()),
                    at,
                    wall,
                });
                let answer = match reply {
                    Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                    Err(message) => json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -32601, "message": message}}),
                };
                write_frame(stdin, &frame(&answer));
            } else {
                shared.lock().incoming.push(Incoming {
                    method: method.to_string(),
                    params,
                    id: None,
                    at,
                    wall,
                });
            }
        }
        (None, None) => shared
            .lock()
            .framing_errors
            .push(format!("neither a request nor a response: {message}")),
    }
}

/// `file:///...` for an absolute path (percent-encoding what a URI cannot hold).
pub fn file_uri(path: &Path) -> String {
    let mut out = String::from("file://");
    for b in path.to_str().expect("a UTF-8 path").bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
