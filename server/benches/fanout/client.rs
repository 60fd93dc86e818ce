//! A minimal LSP client for the real `fanout lsp` over stdio (Content-Length framing).
//!
//! A reader thread parses every message and stamps it with the time it arrived, so a request's
//! latency is measured from just before its bytes are written to the moment its response is
//! parsed, and a notification's latency from an event to the moment it is parsed. Requests from
//! the server (`workspace/codeLens/refresh`, `window/workDoneProgress/create`, ...) are
//! answered at once, as an editor would.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// A message from the server that is not a response.
#[derive(Clone)]
pub struct Note {
    pub method: String,
    pub params: Value,
    pub at: Instant,
    pub wall: SystemTime,
}

#[derive(Default)]
struct State {
    responses: HashMap<i64, (Value, Instant)>,
    notes: Vec<Note>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

pub struct Client {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    shared: Arc<Shared>,
    next_id: i64,
}

pub const TIMEOUT: Duration = Duration::from_secs(120);

pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn frame(msg: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    out
}

impl Client {
    /// Start `fanout lsp` (its stderr to `stderr_log`) and initialize it on `root`, with the
    /// capabilities of a typical editor: lens refresh, work-done progress, showDocument.
    pub fn start(fanout: &Path, root: &Path, stderr_log: &Path) -> Client {
        let log = std::fs::File::create(stderr_log).expect("server log");
        let mut child = Command::new(fanout)
            .arg("lsp")
            .current_dir(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start fanout lsp");
        let stdin = Arc::new(Mutex::new(child.stdin.take().unwrap()));
        let stdout = child.stdout.take().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        {
            let shared = Arc::clone(&shared);
            let stdin = Arc::clone(&stdin);
            std::thread::spawn(move || read_loop(stdout, &shared, &stdin));
        }
        let mut c = Client {
            child,
            stdin,
            shared,
            next_id: 1,
        };
        let uri = file_uri(root);
        c.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": uri,
                "workspaceFolders": [{"uri": uri, "name": "bench"}],
                "capabilities": {
                    "workspace": {"codeLens": {"refreshSupport": true},
                                  "workspaceEdit": {"documentChanges": true}},
                    "window": {"workDoneProgress": true, "showDocument": {"support": true}},
                    "textDocument": {"codeLens": {}, "synchronization": {"didSave": true}}
                },
            }),
        )
        .expect("initialize");
        c.notify("initialized", json!({}));
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn send(&self, msg: &Value) {
        let bytes = frame(msg);
        let mut stdin = self.stdin.lock().unwrap();
        stdin.write_all(&bytes).expect("write to fanout lsp");
        stdin.flush().unwrap();
    }

    pub fn notify(&self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Send a request and wait for the answer: (result or error, latency).
    pub fn request_timed(
        &mut self,
        method: &str,
        params: Value,
    ) -> (Result<Value, Value>, Duration) {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let bytes = frame(&msg);
        let start = Instant::now();
        {
            let mut stdin = self.stdin.lock().unwrap();
            stdin.write_all(&bytes).expect("write to fanout lsp");
            stdin.flush().unwrap();
        }
        let (answer, at) = self.wait_response(id);
        let result = match answer.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(answer.get("result").cloned().unwrap_or(Value::Null)),
        };
        (result, at.saturating_duration_since(start))
    }

    pub fn request(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.request_timed(method, params).0
    }

    /// `workspace/executeCommand` with one argument; panics on an error answer.
    pub fn command(&mut self, command: &str, arg: Value) -> (Value, Duration) {
        let (r, d) = self.request_timed(
            "workspace/executeCommand",
            json!({"command": command, "arguments": [arg]}),
        );
        match r {
            Ok(v) => (v, d),
            Err(e) => panic!("{command} failed: {e}"),
        }
    }

    fn wait_response(&self, id: i64) -> (Value, Instant) {
        let deadline = Instant::now() + TIMEOUT;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            if let Some(r) = st.responses.remove(&id) {
                return r;
            }
            assert!(!st.closed, "fanout lsp closed its output");
            let now = Instant::now();
            assert!(now < deadline, "no answer from fanout lsp to request {id}");
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// How many notifications have arrived so far (a cursor for [`Client::wait_note`]).
    pub fn note_count(&self) -> usize {
        self.shared.state.lock().unwrap().notes.len()
    }

    /// The first notification at or after index `from` that satisfies `pred`.
    pub fn wait_note(
        &self,
        from: usize,
        timeout: Duration,
        mut pred: impl FnMut(&Note) -> bool,
    ) -> Option<Note> {
        let deadline = Instant::now() + timeout;
        let mut next = from;
        let mut st = self.shared.state.lock().unwrap();
        loop {
            while next < st.notes.len() {
                if pred(&st.notes[next]) {
                    return Some(st.notes[next].clone());
                }
                next += 1;
            }
            let now = Instant::now();
            if now >= deadline || st.closed {
                return None;
            }
            st = self
                .shared
                .changed
                .wait_timeout(st, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Every notification so far with `method`.
    pub fn notes(&self, method: &str) -> Vec<Note> {
        let st = self.shared.state.lock().unwrap();
        st.notes
            .iter()
            .filter(|n| n.method == method)
            .cloned()
            .collect()
    }

    /// The latest `fanout/status` so far, if any.
    pub fn last_status(&self) -> Option<Note> {
        let st = self.shared.state.lock().unwrap();
        st.notes
            .iter()
            .rev()
            .find(|n| n.method == "fanout/status")
            .cloned()
    }

    /// shutdown, exit, and wait for the process (killed if it does not exit in 10 s).
    pub fn stop(mut self) {
        let _ = self.request_timed("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_loop(stdout: impl Read, shared: &Shared, stdin: &Mutex<ChildStdin>) {
    let mut reader = BufReader::with_capacity(1 << 16, stdout);
    loop {
        let mut length: Option<usize> = None;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let mut st = shared.state.lock().unwrap();
                    st.closed = true;
                    shared.changed.notify_all();
                    return;
                }
                Ok(_) => {}
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(v) = l.strip_prefix("Content-Length:") {
                length = v.trim().parse().ok();
            }
        }
        let Some(len) = length else { continue };
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            continue;
        }
        let at = Instant::now();
        let wall = SystemTime::now();
        let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
            continue;
        };
        let method = msg
            .get("method")
            .and_then(Value::as_str)
            .map(str::to_string);
        match (msg.get("id").cloned(), method) {
            (Some(id), Some(method)) => {
                // A request from the server: answer as an editor would.
                let result = match method.as_str() {
                    "workspace/applyEdit" => json!({"applied": true}),
                    "window/showDocument" => json!({"success": true}),
                    _ => Value::Null,
                };
                let reply = frame(&json!({"jsonrpc": "2.0", "id": id, "result": result}));
                if let Ok(mut w) = stdin.lock() {
                    let _ = w.write_all(&reply);
                    let _ = w.flush();
                }
                push_note(shared, method, Value::Null, at, wall);
            }
            (Some(id), None) => {
                let mut st = shared.state.lock().unwrap();
                if let Some(id) = id.as_i64() {
                    st.responses.insert(id, (msg, at));
                }
                shared.changed.notify_all();
            }
            (None, Some(method)) => {
                let params = msg.get("params").cloned().unwrap_or(Value::Null);
                push_note(shared, method, params, at, wall);
            }
            (None, None) => {}
        }
    }
}

fn push_note(shared: &Shared, method: String, params: Value, at: Instant, wall: SystemTime) {
    let mut st = shared.state.lock().unwrap();
    st.notes.push(Note {
        method,
        params,
        at,
        wall,
    });
    shared.changed.notify_all();
}

/// Each attempt's state in a `fanout/status` notification: id to state.
pub fn attempt_states(status: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for f in status["fanouts"].as_array().into_iter().flatten() {
        for a in f["attempts"].as_array().into_iter().flatten() {
            if let (Some(id), Some(state)) = (a["id"].as_str(), a["state"].as_str()) {
                out.insert(id.to_string(), state.to_string());
            }
        }
    }
    out
}

pub fn is_finished(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}
