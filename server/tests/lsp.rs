//! End-to-end tests of `fanout lsp`: the real server process, spoken to over its stdio by a
//! small JSON-RPC client (tests/common/lsp_client.rs), on real git repositories with the fake
//! agent (tests/fixtures/agents/fake-agent). Each test is a user's story: open a file, see the
//! lenses, fork the task, watch the attempts, look at a diff, accept or discard.
//!
//! Every test ends by discarding what it created and shutting the server down (exit code 0,
//! nothing but protocol on stdout); the environment's guard discards on panic too.

mod common;

use common::lsp_client::{Incoming, LspClient, RpcError, TIMEOUT};
use common::TestEnv;
use serde_json::{json, Value};
use std::time::Instant;

/// The project every story starts from. 0-based lines: the TODO is on line 1, the FIXME on 6.
const LIB_RS: &str = "pub fn parse(input: &str) -> Vec<u32> {
    // TODO: handle empty input
    input.split(',').map(|s| s.trim().parse().unwrap()).collect()
}

pub fn render(values: &[u32]) -> String {
    // FIXME: use a proper separator
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(\",\")
}
";
const TODO_LINE: u32 = 1;
const FIXME_LINE: u32 = 6;
const README: &str = "# project\n\nA small parser.\n";

fn project() -> TestEnv {
    TestEnv::new(&[("src/lib.rs", LIB_RS), ("README.md", README)])
}

/// `text` with its 0-based line `line` replaced by `new_line`.
fn with_line(text: &str, line: u32, new_line: &str) -> String {
    let mut lines: Vec<&str> = text.split('\n').collect();
    lines[line as usize] = new_line;
    lines.join("\n")
}

/// What the fake agent (mode `edit`) makes of `text` whose task is on 0-based `line`.
fn done_by(text: &str, line: u32, n: usize) -> String {
    with_line(text, line, &format!("    // done by attempt {n}"))
}

// ---------------------------------------------------------------------------------------
// Client capabilities

/// An editor that supports everything fanout can use.
fn rich_client() -> Value {
    json!({
        "workspace": {
            "applyEdit": true,
            "workspaceEdit": {"documentChanges": true, "resourceOperations": ["create", "rename", "delete"]},
            "codeLens": {"refreshSupport": true},
            "executeCommand": {}
        },
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "textDocument": {"synchronization": {"didSave": true}, "codeLens": {}}
    })
}

/// An editor that supports versioned document edits but no file operations.
fn document_changes_only_client() -> Value {
    json!({
        "workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}},
        "window": {"workDoneProgress": false}
    })
}

/// The least an LSP client may announce.
fn bare_client() -> Value {
    json!({})
}

// ---------------------------------------------------------------------------------------
// A session: one server, one workspace, the client's copy of its open documents

struct Session {
    client: LspClient,
    env: TestEnv,
}

/// An open document as the client has it.
struct Doc {
    uri: String,
    text: String,
    version: i32,
}

/// One code lens, flattened.
#[derive(Debug, Clone)]
struct Lens {
    line: u32,
    /// The start column: the order a client that sorts a line's lenses by it shows them in.
    column: u32,
    title: String,
    command: String,
    argument: Value,
}

impl Session {
    /// Start `fanout lsp` in `env`'s workspace for a client with `capabilities`.
    fn start(env: TestEnv, capabilities: Value) -> Session {
        let mut client = env.start_server(&[]);
        client.initialize(&env.repo, capabilities, Value::Null);
        Session { client, env }
    }

    fn open(&mut self, rel: &str, text: &str) -> Doc {
        let doc = Doc {
            uri: self.env.uri(rel),
            text: text.to_string(),
            version: 1,
        };
        self.client.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": doc.uri, "languageId": "rust", "version": 1, "text": text}}),
        );
        doc
    }

    /// Replace `[start, end)` (LSP positions) in the document, here and in the server.
    fn change(&mut self, doc: &mut Doc, start: (u32, u32), end: (u32, u32), text: &str) {
        doc.version += 1;
        let change = apply_change(&mut doc.text, start, end, text);
        self.client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": [change]}),
        );
    }

    fn lenses(&mut self, uri: &str) -> Vec<Lens> {
        let result = self
            .client
            .request(
                "textDocument/codeLens",
                json!({"textDocument": {"uri": uri}}),
            )
            .expect("codeLens");
        result
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|l| Lens {
                line: l["range"]["start"]["line"].as_u64().unwrap() as u32,
                column: l["range"]["start"]["character"].as_u64().unwrap() as u32,
                title: l["command"]["title"].as_str().unwrap().to_string(),
                command: l["command"]["command"].as_str().unwrap().to_string(),
                argument: l["command"]["arguments"][0].clone(),
            })
            .collect()
    }

    fn run(&mut self, command: &str, argument: Value) -> Value {
        self.client
            .execute(command, argument.clone())
            .unwrap_or_else(|e| panic!("{command} {argument} failed: {e:?}"))
    }

    fn fails(&mut self, command: &str, argument: Value) -> RpcError {
        match self.client.execute(command, argument.clone()) {
            Ok(v) => panic!("{command} {argument} should fail, answered {v}"),
            Err(e) => e,
        }
    }

    /// `fanout.try`; returns the fanout id and its attempt ids.
    fn fork(&mut self, argument: Value) -> (String, Vec<String>) {
        let result = self.run("fanout.try", argument);
        let fanout = result["fanout"].as_str().expect("a fanout id").to_string();
        let attempts: Vec<String> = result["attempts"]
            .as_array()
            .expect("attempt ids")
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        for a in &attempts {
            assert!(a.starts_with(&format!("{fanout}-")), "{a} of {fanout}");
        }
        (fanout, attempts)
    }

    /// Wait for the `fanout/status` notification telling that every attempt of `fanout` has
    /// finished; returns that fanout's object.
    #[track_caller]
    fn wait_finished(&self, fanout: &str) -> Value {
        let id = fanout.to_string();
        let note = self
            .client
            .wait_for(&format!("fanout/status with {fanout} finished"), |m| {
                m.is("fanout/status") && find_fanout(&m.params, &id).is_some_and(all_finished)
            });
        find_fanout(&note.params, fanout).unwrap().clone()
    }

    fn attempt_text(&mut self, attempt: &str, uri: &str) -> String {
        let result = self.run(
            "fanout.attemptText",
            json!({"attempt": attempt, "uri": uri}),
        );
        assert_eq!(result["exists"], true, "{attempt} has {uri}");
        result["text"].as_str().unwrap().to_string()
    }

    /// `fanout.status` answered by the server.
    fn status(&mut self) -> Value {
        self.run("fanout.status", json!({}))
    }

    /// Discard `fanout` through the server, then shut down: nothing may be left running, the
    /// server must exit 0 and have written nothing but protocol to stdout.
    fn finish(mut self, fanouts: &[&str]) {
        for f in fanouts {
            self.run("fanout.discard", json!({"fanout": f}));
        }
        if self.env.repo.join(".git").exists() {
            assert_eq!(
                self.env.status()["fanouts"],
                json!([]),
                "every fanout discarded"
            );
        }
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let status = self.client.shutdown_and_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "fanout lsp exits 0\n{}",
            self.client.stderr()
        );
        assert_eq!(
            self.client.framing_errors(),
            Vec::<String>::new(),
            "stdout carries only protocol"
        );
    }
}

fn find_fanout<'a>(status: &'a Value, id: &str) -> Option<&'a Value> {
    status["fanouts"].as_array()?.iter().find(|f| f["id"] == id)
}

fn all_finished(fanout: &Value) -> bool {
    fanout["attempts"].as_array().is_some_and(|a| {
        a.iter()
            .all(|a| !matches!(a["state"].as_str(), Some("queued" | "running")))
    })
}

fn attempt_of<'a>(fanout: &'a Value, id: &str) -> &'a Value {
    fanout["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("attempt {id} in {fanout}"))
}

/// Poll `check` until it gives a value (for things no notification announces, like a log
/// line); fails after the client's timeout.
#[track_caller]
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Text and positions as LSP has them: lines split on '\n', columns in UTF-16 code units

/// The byte offset of an LSP position in `text`.
fn offset(text: &str, (line, character): (u32, u32)) -> usize {
    let mut start = 0;
    for _ in 0..line {
        start += text[start..].find('\n').expect("line past the end") + 1;
    }
    let mut units = 0;
    for (i, c) in text[start..].char_indices() {
        if units == character as usize {
            return start + i;
        }
        assert!(c != '\n', "column {character} past the end of line {line}");
        units += c.len_utf16();
        assert!(
            units <= character as usize,
            "column {character} inside a character"
        );
    }
    assert_eq!(units, character as usize, "column past the end of the text");
    text.len()
}

/// The LSP position of a byte offset in `text`.
fn position(text: &str, byte: usize) -> (u32, u32) {
    let before = &text[..byte];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].encode_utf16().count() as u32)
}

/// Apply one change to `text`; returns it as a TextDocumentContentChangeEvent.
fn apply_change(text: &mut String, start: (u32, u32), end: (u32, u32), new_text: &str) -> Value {
    let (a, b) = (offset(text, start), offset(text, end));
    text.replace_range(a..b, new_text);
    json!({
        "range": {"start": {"line": start.0, "character": start.1},
                  "end": {"line": end.0, "character": end.1}},
        "text": new_text,
    })
}

/// Apply a list of LSP TextEdits (ranges refer to the text before any of them, as the
/// protocol says) the way an editor does.
fn apply_text_edits(text: &str, edits: &[Value]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| {
            let pos = |p: &Value| {
                (
                    p["line"].as_u64().unwrap() as u32,
                    p["character"].as_u64().unwrap() as u32,
                )
            };
            (
                offset(text, pos(&e["range"]["start"])),
                offset(text, pos(&e["range"]["end"])),
                e["newText"].as_str().unwrap(),
            )
        })
        .collect();
    spans.sort_by_key(|s| (s.0, s.1));
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "overlapping edits: {edits:?}");
    }
    let mut out = text.to_string();
    for (a, b, new) in spans.into_iter().rev() {
        out.replace_range(a..b, new);
    }
    out
}

// ---------------------------------------------------------------------------------------
// Stories

#[test]
fn initialize_announces_sync_lenses_and_every_command() {
    let env = project();
    let mut client = env.start_server(&[]);
    let result = client.initialize(&env.repo, rich_client(), Value::Null);
    let caps = &result["capabilities"];
    assert_eq!(
        caps["textDocumentSync"]["change"], 2,
        "incremental sync: {caps}"
    );
    assert_eq!(caps["textDocumentSync"]["openClose"], true);
    assert!(caps["codeLensProvider"].is_object(), "code lens: {caps}");
    let commands: Vec<&str> = caps["executeCommandProvider"]["commands"]
        .as_array()
        .expect("executeCommandProvider.commands")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    // The contract only grows: these nine at least, all in fanout's namespace.
    for command in [
        "fanout.try",
        "fanout.status",
        "fanout.diff",
        "fanout.attemptText",
        "fanout.openDiff",
        "fanout.accept",
        "fanout.discard",
        "fanout.cancel",
        "fanout.log",
    ] {
        assert!(commands.contains(&command), "{command} in {commands:?}");
    }
    assert!(
        commands.iter().all(|c| c.starts_with("fanout.")),
        "{commands:?}"
    );
    assert_eq!(result["serverInfo"]["name"], "fanout");
    let session = Session { client, env };
    session.finish(&[]);
}

#[test]
fn task_lines_get_a_try_lens() {
    let env = project();
    let mut s = Session::start(env, bare_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let lenses = s.lenses(&doc.uri);
    let tries: Vec<&Lens> = lenses
        .iter()
        .filter(|l| l.command == "fanout.try")
        .collect();
    assert_eq!(tries.len(), 2, "{lenses:?}");
    for (lens, line) in tries.iter().zip([TODO_LINE, FIXME_LINE]) {
        assert_eq!(lens.line, line);
        assert_eq!(lens.title, "Try 3 approaches");
        assert_eq!(
            lens.argument,
            json!({"uri": doc.uri, "line": line, "count": 3})
        );
    }
    assert_eq!(
        lenses.len(),
        2,
        "no attempt lenses before any fork: {lenses:?}"
    );

    // The editor's setting overrides the config's count.
    s.client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"fanout": {"attempts": 5}}}),
    );
    let lenses = s.lenses(&doc.uri);
    assert!(
        lenses.iter().all(|l| l.title == "Try 5 approaches"),
        "{lenses:?}"
    );
    s.finish(&[]);
}

#[test]
fn try_forks_the_unsaved_buffer_not_the_file_on_disk() {
    let env = project();
    let mut s = Session::start(env, bare_client());
    let mut doc = s.open("src/lib.rs", LIB_RS);
    // Unsaved: a new first line (the task moves to line 2) and an edited parse body.
    s.change(&mut doc, (0, 0), (0, 0), "// unsaved header\n");
    s.change(&mut doc, (3, 4), (3, 9), "INPUT");
    let mut readme = s.open("README.md", README);
    s.change(&mut readme, (2, 0), (2, 0), "Unsaved words. ");
    assert_ne!(doc.text, s.env.read("src/lib.rs"));

    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": 2, "count": 1}));
    let finished = s.wait_finished(&fanout);
    let attempt = attempt_of(&finished, &attempts[0]);
    assert_eq!(attempt["state"], "succeeded", "{attempt}");
    assert_eq!(
        finished["task"]["line"], 3,
        "1-based task line in the status"
    );
    assert_eq!(finished["task"]["text"], "handle empty input");

    // The agent worked on the buffer's text: the attempt has it with the task done.
    let expected = done_by(&doc.text, 2, 1);
    assert_eq!(s.attempt_text(&attempts[0], &doc.uri), expected);
    // So does its worktree, found through `fanout.status`.
    let status = s.status();
    let listed = attempt_of(find_fanout(&status, &fanout).unwrap(), &attempts[0]);
    let worktree = std::path::PathBuf::from(listed["worktree"].as_str().unwrap());
    assert_eq!(
        std::fs::read_to_string(worktree.join("src/lib.rs")).unwrap(),
        expected
    );
    // Every open buffer is in the snapshot, not only the task's.
    assert_eq!(s.attempt_text(&attempts[0], &readme.uri), readme.text);
    // And the user's files were not touched.
    assert_eq!(s.env.read("src/lib.rs"), LIB_RS);
    s.finish(&[&fanout]);
}

#[test]
fn progress_and_status_notifications_follow_the_attempts_to_the_end() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    // `gated` attempts each wait for their own release file: they finish one by one.
    let (fanout, attempts) =
        s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "agents": ["gated"], "count": 3}));
    let token = json!(format!("fanout/{fanout}"));

    let create = s.client.wait_for("workDoneProgress/create", |m| {
        m.is("window/workDoneProgress/create") && m.params["token"] == token
    });
    assert!(create.id.is_some(), "a request");
    let begin = s.client.wait_for("progress begin", |m| {
        m.is("$/progress") && m.params["token"] == token && m.params["value"]["kind"] == "begin"
    });
    let title = begin.params["value"]["title"].as_str().unwrap();
    assert!(title.starts_with("fanout"), "{title}");
    assert_eq!(begin.params["value"]["message"], "0/3 done");

    for (i, attempt) in attempts.iter().enumerate() {
        let mark = s.client.mark();
        s.env.release(attempt);
        let id = attempt.clone();
        let note = s
            .client
            .wait_for_after(mark, &format!("{attempt} succeeded"), |m| {
                m.is("fanout/status")
                    && find_fanout(&m.params, &fanout)
                        .is_some_and(|f| attempt_of(f, &id)["state"] == "succeeded")
            });
        assert_eq!(note.params["running"], 2 - i, "{}", note.params);
        assert_eq!(note.params["succeeded"], i + 1, "{}", note.params);
        let done = i + 1;
        if done < 3 {
            let report = s
                .client
                .wait_for_after(mark, &format!("progress {done}/3"), |m| {
                    m.is("$/progress")
                        && m.params["token"] == token
                        && m.params["value"]["kind"] == "report"
                        && m.params["value"]["message"] == format!("{done}/3 done")
                });
            assert_eq!(report.params["value"]["percentage"], done * 100 / 3);
        }
    }
    let end = s.client.wait_for("progress end", |m| {
        m.is("$/progress") && m.params["token"] == token && m.params["value"]["kind"] == "end"
    });
    assert_eq!(end.params["value"]["message"], "3/3 done");
    let finished = s.wait_finished(&fanout);
    assert!(all_finished(&finished));
    s.client.wait_for("the finishing message", |m| {
        m.is("window/showMessage")
            && m.params["message"]
                == "fanout: 3 of 3 attempts succeeded for \"TODO: handle empty input\""
    });
    s.client.wait_for("a code lens refresh", |m| {
        m.is("workspace/codeLens/refresh")
    });
    // After the end, no more progress for this fanout.
    let after_end = s.client.incoming().iter().position(|m| {
        m.is("$/progress") && m.params["token"] == token && m.params["value"]["kind"] == "end"
    });
    let later = s.client.incoming()[after_end.unwrap() + 1..]
        .iter()
        .any(|m| m.is("$/progress") && m.params["token"] == token);
    assert!(!later, "no progress after its end");
    s.finish(&[&fanout]);
}

#[test]
fn finished_attempts_get_lenses_that_stay_on_their_task() {
    let mut env = project();
    env.set_var("FAKE_AGENT_MODE", "same"); // every attempt: the task line only, +1 −1
    let mut s = Session::start(env, rich_client());
    let mut doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE}));
    assert_eq!(attempts.len(), 3, "the configured count");
    s.wait_finished(&fanout);

    let check = |lenses: &[Lens], task_line: u32, fixme_line: u32| {
        let on_task: Vec<&Lens> = lenses.iter().filter(|l| l.line == task_line).collect();
        assert_eq!(on_task[0].title, "Try 3 approaches", "{lenses:#?}");
        for (n, id) in attempts.iter().enumerate() {
            let n = n + 1;
            let diff = on_task
                .iter()
                .find(|l| l.command == "fanout.openDiff" && l.argument == json!({"attempt": id}))
                .unwrap_or_else(|| panic!("a lens for {id}: {lenses:#?}"));
            // Identical attempts may say so: `#2 fake ✓ +1 −1 (same as #1)`.
            let title = diff.title.trim_start_matches("★ ");
            if n == 1 {
                assert_eq!(title, "#1 fake ✓ +1 −1");
            } else {
                assert!(title.starts_with(&format!("#{n} fake ✓ +1 −1")), "{title}");
            }
            let accept = on_task
                .iter()
                .find(|l| l.command == "fanout.accept" && l.argument == json!({"attempt": id}))
                .unwrap_or_else(|| panic!("an accept lens for {id}: {lenses:#?}"));
            assert_eq!(accept.title, format!("Accept #{n}"));
        }
        assert_eq!(on_task.len(), 1 + 2 * attempts.len(), "{lenses:#?}");
        // Read left to right (Neovim sorts a line's lenses by start column, unstably): Try,
        // then each attempt by number with its Accept beside it.
        let mut by_column = on_task.clone();
        by_column.sort_by_key(|l| l.column);
        let columns: Vec<u32> = by_column.iter().map(|l| l.column).collect();
        let mut unique = columns.clone();
        unique.dedup();
        assert_eq!(columns, unique, "one column per lens: {lenses:#?}");
        let order: Vec<String> = by_column
            .iter()
            .map(|l| match l.command.as_str() {
                "fanout.try" => "try".to_string(),
                "fanout.accept" => format!("accept {}", l.argument["attempt"].as_str().unwrap()),
                _ => format!("diff {}", l.argument["attempt"].as_str().unwrap()),
            })
            .collect();
        let mut expected = vec!["try".to_string()];
        for id in &attempts {
            expected.push(format!("diff {id}"));
            expected.push(format!("accept {id}"));
        }
        assert_eq!(order, expected);
        let best = on_task.iter().filter(|l| l.title.starts_with("★ ")).count();
        assert_eq!(best, 1, "one best attempt: {lenses:#?}");
        let on_fixme: Vec<&Lens> = lenses.iter().filter(|l| l.line == fixme_line).collect();
        assert_eq!(on_fixme.len(), 1, "only Try on the other task: {lenses:#?}");
        assert_eq!(lenses.len(), on_task.len() + 1, "{lenses:#?}");
    };
    let lenses = s.lenses(&doc.uri);
    check(&lenses, TODO_LINE, FIXME_LINE);

    // The user types two lines above the task: the lenses move with it.
    s.change(
        &mut doc,
        (0, 0),
        (0, 0),
        "// a new first line\n// and a second\n",
    );
    let lenses = s.lenses(&doc.uri);
    check(&lenses, TODO_LINE + 2, FIXME_LINE + 2);
    let try_lens = lenses.iter().find(|l| l.line == TODO_LINE + 2).unwrap();
    assert_eq!(
        try_lens.argument,
        json!({"uri": doc.uri, "line": TODO_LINE + 2, "count": 3})
    );
    s.finish(&[&fanout]);
}

#[test]
fn diff_compares_the_attempt_with_the_modified_buffer() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let mut doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);
    let attempt = &attempts[0];

    // After the fork the user edits a line near the task, without saving.
    s.change(&mut doc, (3, 1), (3, 1), " // end of parse");
    let result = s.run("fanout.diff", json!({"attempt": attempt}));
    assert_eq!(
        result["files"],
        json!([
            {"path": "notes/attempt-1.txt", "status": "added", "additions": 1, "deletions": 0},
            {"path": "src/lib.rs", "status": "modified", "additions": 1, "deletions": 1},
        ])
    );
    let diff = result["diff"].as_str().unwrap();
    assert!(
        diff.contains("-    // TODO: handle empty input\n"),
        "{diff}"
    );
    assert!(diff.contains("+    // done by attempt 1\n"), "{diff}");
    // The context is the buffer's, and the user's unsaved edit is kept, not reverted.
    assert!(diff.contains("\n } // end of parse\n"), "{diff}");
    assert!(!diff.contains("-} // end of parse"), "{diff}");
    assert!(diff.contains("+notes of attempt 1\n"), "{diff}");

    // With a uri: that file only.
    let only = s.run("fanout.diff", json!({"attempt": attempt, "uri": doc.uri}));
    assert_eq!(only["files"].as_array().unwrap().len(), 1, "{only}");
    assert_eq!(only["files"][0]["path"], "src/lib.rs");
    assert!(!only["diff"]
        .as_str()
        .unwrap()
        .contains("notes/attempt-1.txt"));

    // openDiff writes the same diff to a file and asks the editor to show it.
    let opened = s.run("fanout.openDiff", json!({"attempt": attempt}));
    let path = std::path::PathBuf::from(opened["path"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), diff);
    let uri = common::lsp_client::file_uri(&path);
    let shown = s
        .client
        .wait_for("showDocument", |m| m.is("window/showDocument"));
    assert_eq!(shown.params["uri"], uri);
    s.finish(&[&fanout]);
}

/// The one `workspace/applyEdit` request received after `mark`.
fn the_apply_edit(client: &LspClient, mark: usize) -> Incoming {
    let edits: Vec<Incoming> = client.incoming()[mark..]
        .iter()
        .filter(|m| m.is("workspace/applyEdit"))
        .cloned()
        .collect();
    assert_eq!(edits.len(), 1, "one applyEdit: {edits:#?}");
    edits[0].clone()
}

#[test]
fn accept_edits_the_open_buffer_and_creates_new_files() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);
    let attempt = &attempts[0];
    let theirs = s.attempt_text(attempt, &doc.uri);

    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempt}));
    assert_eq!(result["applied"], true, "{result}");
    // Marked accepted once the editor applied the edit: in the status and its lens title.
    let status = s.status();
    let a = &status["fanouts"][0]["attempts"][0];
    assert!(a["accepted_at"].is_u64(), "{a:#}");
    assert!(
        a["title"].as_str().unwrap().contains(" · accepted "),
        "{a:#}"
    );
    let request = the_apply_edit(&s.client, mark);
    let edit = &request.params["edit"];
    assert!(
        edit.get("changes").is_none_or(Value::is_null),
        "documentChanges only: {edit}"
    );
    let ops = edit["documentChanges"].as_array().expect("documentChanges");

    // The open buffer: a versioned edit turning our text into the attempt's.
    let notes_uri = s.env.uri("notes/attempt-1.txt");
    let lib_edit = ops
        .iter()
        .find(|o| o["textDocument"]["uri"] == doc.uri)
        .unwrap_or_else(|| panic!("an edit of src/lib.rs: {edit}"));
    assert_eq!(lib_edit["textDocument"]["version"], doc.version);
    let edits = lib_edit["edits"].as_array().unwrap();
    assert_eq!(apply_text_edits(&doc.text, edits), theirs);
    assert_eq!(theirs, done_by(LIB_RS, TODO_LINE, 1));

    // The new file: created, then filled.
    let create = ops
        .iter()
        .position(|o| o["kind"] == "create" && o["uri"] == notes_uri)
        .unwrap_or_else(|| panic!("a CreateFile of notes/attempt-1.txt: {edit}"));
    let fill = ops
        .iter()
        .position(|o| o["textDocument"]["uri"] == notes_uri)
        .unwrap_or_else(|| panic!("an edit of notes/attempt-1.txt: {edit}"));
    assert!(create < fill, "created before it is written: {edit}");
    let fill_edits = ops[fill]["edits"].as_array().unwrap();
    assert_eq!(apply_text_edits("", fill_edits), "notes of attempt 1\n");
    assert_eq!(ops.len(), 3, "{edit}");
    // The editor does the writing: the server touched no file itself.
    assert!(!s.env.path("notes/attempt-1.txt").exists());
    assert_eq!(s.env.read("src/lib.rs"), LIB_RS);
    s.finish(&[&fanout]);
}

#[test]
fn accept_merges_the_attempt_onto_unsaved_changes() {
    let env = project();
    let mut s = Session::start(env, document_changes_only_client());
    let mut doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);

    // The user edits the other function meanwhile (unsaved, emoji included).
    s.change(&mut doc, (7, 4), (7, 10), "values /* 🎉 */");
    let ours = doc.text.clone();
    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], true, "{result}");
    // A client without file operations: the server creates the new file on disk itself.
    assert_eq!(result["onDisk"], json!(["notes/attempt-1.txt"]), "{result}");
    assert_eq!(s.env.read("notes/attempt-1.txt"), "notes of attempt 1\n");

    let request = the_apply_edit(&s.client, mark);
    let ops = request.params["edit"]["documentChanges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["textDocument"]["uri"], doc.uri);
    assert_eq!(ops[0]["textDocument"]["version"], doc.version);
    let merged = apply_text_edits(&ours, ops[0]["edits"].as_array().unwrap());
    assert_eq!(merged, done_by(&ours, TODO_LINE, 1), "both changes kept");
    assert_eq!(
        s.env.read("src/lib.rs"),
        LIB_RS,
        "the buffer, not the file, is edited"
    );
    s.finish(&[&fanout]);
}

#[test]
fn accept_without_document_changes_edits_closed_files() {
    let env = project();
    let mut s = Session::start(env, bare_client());
    let uri = s.env.uri("src/lib.rs");
    // The file is never opened: the fork reads the disk, the edit targets the closed file.
    let (fanout, attempts) = s.fork(json!({"uri": uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);
    let theirs = s.attempt_text(&attempts[0], &uri);

    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], true, "{result}");
    let request = the_apply_edit(&s.client, mark);
    let edit = &request.params["edit"];
    assert!(
        edit.get("documentChanges").is_none_or(Value::is_null),
        "{edit}"
    );
    let changes = edit["changes"].as_object().expect("changes");
    assert_eq!(changes.len(), 1, "{edit}");
    let edits = changes[&uri].as_array().unwrap();
    assert_eq!(apply_text_edits(LIB_RS, edits), theirs);
    assert_eq!(s.env.read("notes/attempt-1.txt"), "notes of attempt 1\n");
    s.finish(&[&fanout]);
}

#[test]
fn accept_with_conflicts_applies_nothing() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let mut doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 2}));
    s.wait_finished(&fanout);

    // The user rewrites the task line the attempts rewrote too.
    s.change(&mut doc, (1, 7), (1, 31), "TODO: handle it my way");
    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    let status = s.status();
    assert!(
        status["fanouts"][0]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["accepted_at"].is_null()),
        "nothing applied, nothing accepted: {status:#}"
    );
    assert_eq!(
        result,
        json!({
            "applied": false,
            "conflicts": ["src/lib.rs"],
            "reason": "nothing was applied: 1 file would conflict with your changes: src/lib.rs"
        })
    );
    assert!(
        !s.client.saw_after(mark, |m| m.is("workspace/applyEdit")),
        "no edit sent on conflicts"
    );
    assert!(
        !s.env.path("notes/attempt-1.txt").exists(),
        "nothing applied"
    );

    // Back to the original line: it merges, but this time the editor refuses the edit.
    s.change(&mut doc, (1, 7), (1, 29), "TODO: handle empty input");
    assert_eq!(doc.text, LIB_RS);
    s.client
        .answer_apply_edit_with(json!({"applied": false, "failureReason": "read-only buffer"}));
    let result = s.run("fanout.accept", json!({"attempt": attempts[1]}));
    assert_eq!(result["applied"], false, "{result}");
    assert_eq!(result["reason"], "read-only buffer", "{result}");
    assert!(s.client.saw_after(mark, |m| m.is("workspace/applyEdit")));
    s.finish(&[&fanout]);
}

/// The project, plus `files`, with the hostile accept agent (tests/fixtures/agents/
/// hostile-accept-agent) in `mode` as the only agent.
fn hostile_project(mode: &str, files: &[(&str, &str)]) -> TestEnv {
    let mut all = vec![("src/lib.rs", LIB_RS), ("README.md", README)];
    all.extend_from_slice(files);
    let env = TestEnv::new(&all).with("HOSTILE_MODE", mode);
    env.write_config(&format!(
        "agents = [\"hostile\"]\n[agent.hostile]\ncommand = [\"python3\", \"{}\"]\n",
        common::cli::fixture("agents/hostile-accept-agent").display()
    ));
    env
}

#[test]
fn accept_writes_binary_files_to_disk_never_as_text_edits() {
    let env = hostile_project("binary", &[("notes.txt", "notes\n")]);
    std::fs::write(env.path("logo.bin"), b"\x89PNG\r\n\x1a\n\x00\x00old").unwrap();
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "a binary"]);
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);

    // The editor refuses its part: the disk part is rolled back, all or nothing.
    s.client
        .answer_apply_edit_with(json!({"applied": false, "failureReason": "read-only"}));
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], false, "{result}");
    assert!(
        !s.env.path("blob.bin").exists(),
        "rolled back with the edit"
    );
    assert_eq!(
        std::fs::read(s.env.path("logo.bin")).unwrap(),
        b"\x89PNG\r\n\x1a\n\x00\x00old"
    );

    s.client.answer_apply_edit_with(json!({"applied": true}));
    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], true, "{result}");
    assert_eq!(
        result["onDisk"],
        json!(["blob.bin", "logo.bin"]),
        "{result}"
    );
    assert_eq!(
        std::fs::read(s.env.path("blob.bin")).unwrap(),
        (0..=255u8).collect::<Vec<_>>(),
        "byte for byte, not through from_utf8_lossy"
    );
    assert_eq!(
        std::fs::read(s.env.path("logo.bin")).unwrap(),
        b"\x89PNG\r\n\x1a\n\x00\x00changed\xff\xfe"
    );
    // The text file is the editor's to change; the binaries are nowhere in the edit.
    let request = the_apply_edit(&s.client, mark);
    let edit = request.params["edit"].to_string();
    let ops = request.params["edit"]["documentChanges"]
        .as_array()
        .unwrap();
    assert_eq!(ops.len(), 1, "{edit}");
    assert_eq!(ops[0]["textDocument"]["uri"], s.env.uri("notes.txt"));
    assert!(
        !edit.contains("blob.bin") && !edit.contains("logo.bin"),
        "{edit}"
    );
    assert_eq!(s.env.read("notes.txt"), "notes\n");
    s.finish(&[&fanout]);
}

#[test]
fn accept_refuses_what_an_open_document_cannot_take_as_a_text_edit() {
    let env = hostile_project(
        "modes",
        &[
            ("run.sh", "#!/bin/sh\necho run\n"),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
        ],
    );
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);
    // run.sh gains its executable bit: a disk change, impossible under an open buffer.
    s.open("run.sh", "#!/bin/sh\necho run\n");
    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], false, "{result}");
    assert_eq!(result["refused"][0]["path"], "run.sh", "{result}");
    assert_eq!(
        result["refused"][0]["reason"],
        "is open in the editor and cannot be changed as a text edit (its executable bit changes); close it and accept again",
        "{result}"
    );
    assert!(!s.client.saw_after(mark, |m| m.is("workspace/applyEdit")));
    assert!(!s.env.path("new.sh").exists(), "nothing written");
    s.finish(&[&fanout]);
}

#[test]
fn accept_refuses_a_change_under_a_symlinked_parent_and_applies_nothing() {
    let env = hostile_project(
        "symlink-parent",
        &[(".gitignore", "cache\n"), ("notes.txt", "notes\n")],
    );
    let outside = env.base().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.path("cache")).unwrap();
    // A client without file operations: the new file would have gone to disk.
    let mut s = Session::start(env, document_changes_only_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);

    let mark = s.client.mark();
    let result = s.run("fanout.accept", json!({"attempt": attempts[0]}));
    assert_eq!(result["applied"], false, "{result}");
    assert_eq!(result["conflicts"], json!(["cache/x"]), "{result}");
    assert_eq!(
        result["refused"],
        json!([{"path": "cache/x", "reason": "cache is a symlink"}]),
        "{result}"
    );
    assert!(
        result["reason"]
            .as_str()
            .is_some_and(|r| r.contains("cache/x: cache is a symlink")),
        "{result}"
    );
    assert!(
        !s.client.saw_after(mark, |m| m.is("workspace/applyEdit")),
        "no edit sent when any part is refused"
    );
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert_eq!(s.env.read("notes.txt"), "notes\n");
    s.finish(&[&fanout]);
}

#[test]
fn discard_removes_worktrees_and_branches() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 2}));
    let finished = s.wait_finished(&fanout);
    let worktree = |id: &str| {
        std::path::PathBuf::from(attempt_of(&finished, id)["worktree"].as_str().unwrap())
    };
    let listed = |s: &Session, id: &str| {
        let list = s.env.git(&["worktree", "list", "--porcelain"]);
        list.contains(&worktree(id).display().to_string())
    };
    for id in &attempts {
        assert!(worktree(id).is_dir());
        assert!(listed(&s, id), "git lists {id}'s worktree");
    }

    // One attempt…
    let result = s.run("fanout.discard", json!({"attempt": attempts[0]}));
    assert_eq!(result, json!({"attempts": [attempts[0]], "failed": []}));
    assert!(!worktree(&attempts[0]).exists());
    assert!(!listed(&s, &attempts[0]), "git forgot the worktree");
    assert!(worktree(&attempts[1]).is_dir(), "the other stays");
    let status = s.status();
    let left = find_fanout(&status, &fanout).unwrap();
    assert_eq!(left["attempts"].as_array().unwrap().len(), 1, "{left}");

    // …then the whole fanout.
    let mark = s.client.mark();
    let result = s.run("fanout.discard", json!({"fanout": fanout}));
    assert_eq!(result, json!({"attempts": [attempts[1]], "failed": []}));
    assert!(!worktree(&attempts[1]).exists());
    assert!(!listed(&s, &attempts[1]));
    assert_eq!(
        s.env.git(&["branch", "--list", "fanout/*"]),
        "",
        "branches gone"
    );
    assert_eq!(s.status()["fanouts"], json!([]));
    s.client
        .wait_for_after(mark, "a status without the fanout", |m| {
            m.is("fanout/status") && m.params["fanouts"] == json!([])
        });
    s.finish(&[]);
}

#[test]
fn cancel_stops_a_hanging_agent_and_its_process_group() {
    let mut env = project();
    env.set_var("FAKE_AGENT_MODE", "hang");
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    let attempt = attempts[0].clone();

    // The agent says its pid (its process group: the supervisor starts it as a group leader).
    let pid: i32 = eventually("the agent to hang", || {
        let log = s.run("fanout.log", json!({"attempt": attempt}));
        let text = log["text"].as_str().unwrap();
        let line = text.lines().find(|l| l.ends_with(" hanging"))?;
        line.split_whitespace().nth(2)?.parse().ok()
    });
    assert!(group_alive(pid), "the agent runs");
    let running = s.status();
    assert_eq!(
        attempt_of(find_fanout(&running, &fanout).unwrap(), &attempt)["state"],
        "running"
    );

    let result = s.run("fanout.cancel", json!({"attempt": attempt}));
    assert_eq!(result, json!({"attempts": [attempt], "failed": []}));
    assert!(!group_alive(pid), "the agent's process group is gone");
    let finished = s.wait_finished(&fanout);
    assert_eq!(attempt_of(&finished, &attempt)["state"], "cancelled");
    let lenses = s.lenses(&doc.uri);
    assert!(
        lenses
            .iter()
            .any(|l| l.title.starts_with("#1 fake ⊘ cancelled")),
        "{lenses:#?}"
    );
    // Cancel keeps the worktree; discard removes it.
    assert!(std::path::Path::new(
        attempt_of(&finished, &attempt)["worktree"]
            .as_str()
            .unwrap()
    )
    .is_dir());
    s.finish(&[&fanout]);
}

fn group_alive(pgid: i32) -> bool {
    unsafe { libc::kill(-pgid, 0) == 0 }
}

#[test]
fn log_shows_the_agent_output_and_failures_show_in_lenses() {
    let mut env = project();
    env.set_var("FAKE_AGENT_MODE", "fail");
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    let finished = s.wait_finished(&fanout);
    assert_eq!(attempt_of(&finished, &attempts[0])["state"], "failed");

    let log = s.run("fanout.log", json!({"attempt": attempts[0]}));
    let text = log["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("fake-agent fail attempt={}", attempts[0])),
        "{text}"
    );
    assert!(text.contains("fake-agent: giving up"), "{text}");
    assert!(text.contains("[fanout] agent exited with 1"), "{text}");
    let tail = s.run("fanout.log", json!({"attempt": attempts[0], "tail": 1}));
    let last = text.lines().last().unwrap();
    assert_eq!(tail["text"], format!("{last}\n"));

    let lenses = s.lenses(&doc.uri);
    let titles: Vec<&str> = lenses.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Try 3 approaches", "#1 fake ✗ exit 1", "Try 3 approaches"]
    );
    s.finish(&[&fanout]);
}

#[test]
fn bad_params_answer_errors_that_name_the_field_and_the_server_keeps_working() {
    let mut env = project();
    env.set_var("FAKE_AGENT_MODE", "fail");
    let outside = tempfile::tempdir().unwrap();
    let outside_file = outside.path().canonicalize().unwrap().join("elsewhere.rs");
    std::fs::write(&outside_file, "// TODO: not ours\n").unwrap();
    let outside_uri = common::lsp_client::file_uri(&outside_file);
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 2}));
    s.wait_finished(&fanout);
    let attempt = attempts[0].clone();

    let invalid = -32602;
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        ("fanout.try", json!({"line": 1}), vec!["uri"]),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": "two"}),
            vec!["line"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": -1}),
            vec!["line"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 1, "agents": "fake"}),
            vec!["agents"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 1, "bogus": true}),
            vec!["bogus"],
        ),
        (
            "fanout.try",
            json!({"uri": "untitled:Untitled-1", "line": 0}),
            vec!["not a file: URI"],
        ),
        (
            "fanout.try",
            json!({"uri": outside_uri, "line": 0}),
            vec!["not a git repository"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 4}),
            vec!["src/lib.rs:5", "no task"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 400}),
            vec!["line 401", "past the end"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 1, "agents": ["nobody"]}),
            vec!["nobody"],
        ),
        (
            "fanout.try",
            json!({"uri": doc.uri, "line": 1, "count": 0}),
            vec!["count"],
        ),
        ("fanout.diff", json!({}), vec!["attempt"]),
        ("fanout.diff", json!({"attempt": 7}), vec!["attempt"]),
        (
            "fanout.diff",
            json!({"attempt": "zzz999-1"}),
            vec!["zzz999-1", "unknown attempt"],
        ),
        (
            "fanout.attemptText",
            json!({"attempt": attempt}),
            vec!["uri"],
        ),
        (
            "fanout.attemptText",
            json!({"attempt": attempt, "uri": outside_uri}),
            vec!["outside the repository"],
        ),
        (
            "fanout.accept",
            json!({"attempt": "zzz999-1"}),
            vec!["zzz999-1"],
        ),
        // A fanout names no one attempt; its attempts failed with no change, so none is
        // suggested.
        (
            "fanout.accept",
            json!({"attempt": fanout}),
            vec![&fanout, "none of its attempts has a change"],
        ),
        ("fanout.discard", json!({}), vec!["attempt"]),
        ("fanout.cancel", json!({"fanout": 3}), vec!["fanout"]),
        (
            "fanout.log",
            json!({"attempt": attempt, "tail": "all"}),
            vec!["tail"],
        ),
        (
            "fanout.openDiff",
            json!({"attempt": "zzz999-1"}),
            vec!["zzz999-1"],
        ),
        (
            "fanout.nonsense",
            json!({}),
            vec!["unknown command", "fanout.nonsense"],
        ),
    ];
    for (command, argument, words) in cases {
        let error = s.fails(command, argument.clone());
        assert_eq!(error.code, invalid, "{command} {argument}: {error:?}");
        for word in words {
            assert!(
                error.message.contains(word),
                "{command} {argument}: the message should name {word:?}: {}",
                error.message
            );
        }
    }
    // Not one JSON object as the argument.
    let error = s
        .client
        .request(
            "workspace/executeCommand",
            json!({"command": "fanout.status", "arguments": [1, 2]}),
        )
        .unwrap_err();
    assert_eq!(error.code, invalid);
    let error = s
        .client
        .request(
            "workspace/executeCommand",
            json!({"command": "fanout.diff", "arguments": ["x"]}),
        )
        .unwrap_err();
    assert!(error.message.contains("JSON object"), "{error:?}");
    // Notifications about documents never opened are ignored.
    s.client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": s.env.uri("README.md"), "version": 2},
               "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "x"}]}),
    );
    // Lenses for a document never opened come from the disk; for a non-file URI, none.
    let readme = s.env.uri("README.md");
    let readme_lenses = s.lenses(&readme);
    assert!(readme_lenses.is_empty());
    let none = s
        .client
        .request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": "untitled:Untitled-1"}}),
        )
        .unwrap();
    assert!(none.is_null() || none == json!([]), "{none}");

    // Still working.
    assert_eq!(find_fanout(&s.status(), &fanout).unwrap()["id"], fanout);
    assert_eq!(s.lenses(&doc.uri).len(), 4, "Try, two failed attempts, Try");
    s.finish(&[&fanout]);
}

#[test]
fn a_folder_that_is_not_a_repository_gets_lenses_an_empty_status_and_clear_errors() {
    let env = TestEnv::without_git(&[("src/lib.rs", LIB_RS)]);
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let lenses = s.lenses(&doc.uri);
    let lines: Vec<(u32, &str)> = lenses.iter().map(|l| (l.line, l.title.as_str())).collect();
    assert_eq!(
        lines,
        [
            (TODO_LINE, "Try 3 approaches"),
            (FIXME_LINE, "Try 3 approaches")
        ]
    );

    let error = s.fails("fanout.try", json!({"uri": doc.uri, "line": TODO_LINE}));
    assert!(error.message.contains("not a git repository"), "{error:?}");
    assert!(
        error.message.contains("project"),
        "names the folder: {error:?}"
    );
    // Nothing to report is not an error: the report's shape, empty.
    assert_eq!(
        s.status(),
        json!({"repo": null, "running": 0, "queued": 0, "succeeded": 0, "failed": 0,
               "fanouts": [], "abandoned": [], "batches": []})
    );
    let error = s.fails("fanout.diff", json!({"attempt": "abc123-1"}));
    assert!(error.message.contains("no git repository"), "{error:?}");
    assert_eq!(s.lenses(&doc.uri).len(), 2, "still serving");
    s.finish(&[]);
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn a_thousand_rapid_changes_leave_the_server_with_the_client_text() {
    let mut env = project();
    // The agent changes nothing and fails: the attempt's text is the snapshot, the server's
    // buffer.
    env.set_var("FAKE_AGENT_MODE", "fail");
    let mut s = Session::start(env, bare_client());
    let start = "# notes\nfirst line\n# TODO: the seed task\nlast line\n";
    let mut doc = s.open("notes.py", start);
    let pieces = [
        "a",
        "bc",
        " ",
        "\n",
        "é",
        "日本",
        "😀",
        "🎉x",
        "ß\n",
        "\u{1F468}\u{200D}\u{1F469}",
        "z\nq",
        "\u{2028}",
        "\u{85}",
        "\u{c}",
    ];
    let mut rng = Rng(0x5EED_F00D_CAFE_1234);
    let mut messages = 0;
    while messages < 1000 {
        // Mostly one change per message, sometimes a few in one (applied in order).
        let count = if rng.below(10) == 0 { 3 } else { 1 };
        let mut changes = Vec::new();
        for _ in 0..count {
            let chars: Vec<usize> = doc
                .text
                .char_indices()
                .map(|(i, _)| i)
                .chain([doc.text.len()])
                .collect();
            let from = rng.below(chars.len());
            let len = match rng.below(3) {
                0 => 0,
                _ => rng.below(4),
            };
            let to = (from + len).min(chars.len() - 1);
            let insert = match rng.below(12) {
                0 => format!("# TODO: task {messages}\n"),
                1..=3 => String::new(),
                k => (0..k % 3 + 1)
                    .map(|_| pieces[rng.below(pieces.len())])
                    .collect(),
            };
            let (a, b) = (
                position(&doc.text, chars[from]),
                position(&doc.text, chars[to]),
            );
            changes.push(apply_change(&mut doc.text, a, b, &insert));
        }
        doc.version += 1;
        s.client.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": doc.uri, "version": doc.version}, "contentChanges": changes}),
        );
        messages += 1;
    }
    if doc.text.is_empty() {
        s.change(&mut doc, (0, 0), (0, 0), "x");
    }

    // The lenses sit on the tasks of the client's text.
    let expected: Vec<u32> = fanout::tasks::scan_text("notes.py", &doc.text)
        .iter()
        .map(|t| t.line as u32 - 1)
        .collect();
    let lenses: Vec<u32> = s.lenses(&doc.uri).iter().map(|l| l.line).collect();
    assert_eq!(lenses, expected);
    assert!(!expected.is_empty(), "the story inserted tasks");

    // The server's text, read back exactly: a fork snapshots the buffer, and the attempt
    // (whose agent changes nothing) has the snapshot's text.
    let (fanout, attempts) =
        s.fork(json!({"uri": doc.uri, "line": 0, "count": 1, "prompt": "read it back"}));
    s.wait_finished(&fanout);
    let server_text = s.attempt_text(&attempts[0], &doc.uri);
    assert!(
        server_text == doc.text,
        "the server's text differs from the client's:\nserver: {server_text:?}\nclient: {:?}",
        doc.text
    );
    s.finish(&[&fanout]);
}

#[test]
fn changes_made_by_the_cli_show_up_as_status_notifications() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    // The server watches the repository from the start.
    s.client
        .wait_for("the first status", |m| m.is("fanout/status"));

    let out = s.env.fanout(&[
        "try",
        "--file",
        "src/lib.rs",
        "--line",
        "2",
        "--count",
        "2",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fanout = started["fanout"].as_str().unwrap().to_string();
    s.client.wait_for("the CLI's fanout", |m| {
        m.is("fanout/status") && find_fanout(&m.params, &fanout).is_some()
    });
    let finished = s.wait_finished(&fanout);
    assert_eq!(finished["attempts"].as_array().unwrap().len(), 2);
    // Its attempts get lenses like the server's own.
    let lenses = s.lenses(&doc.uri);
    assert!(lenses.iter().any(|l| l.title == "Accept #2"), "{lenses:#?}");

    let mark = s.client.mark();
    let out = s.env.fanout(&["discard", &fanout]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.client.wait_for_after(mark, "the CLI's discard", |m| {
        m.is("fanout/status") && find_fanout(&m.params, &fanout).is_none()
    });
    s.finish(&[]);
}

#[test]
fn shutdown_and_exit_with_the_stdio_flag() {
    let env = project();
    let mut client = env.start_server(&["--stdio"]);
    client.initialize(&env.repo, bare_client(), json!({"logLevel": "info"}));
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": env.uri("src/lib.rs"), "languageId": "rust", "version": 1, "text": LIB_RS}}),
    );
    let lenses = client
        .request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": env.uri("src/lib.rs")}}),
        )
        .unwrap();
    assert_eq!(lenses.as_array().unwrap().len(), 2);
    let mut s = Session { client, env };
    s.shut_down();
    // Logs go to stderr and the log file, never to stdout.
    let stderr = s.client.stderr();
    assert!(stderr.contains("fanout lsp ready"), "{stderr}");
    let log = std::fs::read_to_string(s.env.base().join("data/fanout/logs/lsp.log")).unwrap();
    assert!(log.contains("fanout lsp ready"), "{log}");
}

#[test]
fn continue_sends_a_follow_up_to_one_attempt() {
    let mut s = Session::start(project(), rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&fanout);
    let err = s.fails("fanout.continue", json!({"attempt": attempts[0]}));
    assert!(err.message.contains("prompt"), "{err:?}");

    let mark = s.client.mark();
    let answer = s.run(
        "fanout.continue",
        json!({"attempt": attempts[0], "prompt": "also handle whitespace"}),
    );
    assert_eq!(answer["attempt"], attempts[0]);
    let id = attempts[0].clone();
    s.client
        .wait_for_after(mark, "the follow-up to finish", |m| {
            m.is("fanout/status")
                && find_fanout(&m.params, &fanout).is_some_and(|f| {
                    let a = attempt_of(f, &id);
                    a["runs"] == 2 && a["state"] == "succeeded"
                })
        });
    let log = s.run("fanout.log", json!({"attempt": attempts[0]}));
    let prompt_file = log["text"]
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| l.contains("prompt-2.txt"))
        .count();
    assert!(
        prompt_file > 0,
        "the second run got its own prompt file: {log}"
    );
    s.finish(&[&fanout]);
}

#[test]
fn an_untrusted_fanout_toml_is_asked_about_once_per_content() {
    let env = project();
    let setup = "setup = [[\"sh\", \"-c\", \"touch made-by-setup\"]]\n";
    env.write(".fanout.toml", setup);
    let mut s = Session::start(env, rich_client());
    s.client
        .answer_message_request_with(json!({"title": "Trust"}));
    let doc = s.open("src/lib.rs", LIB_RS);

    let mark = s.client.mark();
    let (first, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    let asked = s.client.wait_for_after(mark, "the trust question", |m| {
        m.is("window/showMessageRequest")
    });
    let text = asked.params["message"].as_str().unwrap();
    assert!(
        text.contains(".fanout.toml") && text.contains("touch made-by-setup"),
        "{text}"
    );
    let titles: Vec<&str> = asked.params["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Trust", "Ignore"]);
    let done = s.wait_finished(&first);
    let wt = attempt_of(&done, &attempts[0])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        std::path::Path::new(&wt).join("made-by-setup").exists(),
        "trusted: setup ran"
    );

    // Same content: not asked again.
    let mark = s.client.mark();
    let (second, _) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.wait_finished(&second);
    assert!(!s
        .client
        .saw_after(mark, |m| m.is("window/showMessageRequest")));

    // Edited: asked again; dismissed, the commands are ignored with a warning.
    s.env.write(".fanout.toml", &format!("{setup}# edited\n"));
    s.client.answer_message_request_with(Value::Null);
    let mark = s.client.mark();
    let (third, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE, "count": 1}));
    s.client.wait_for_after(mark, "the question again", |m| {
        m.is("window/showMessageRequest")
    });
    s.client.wait_for_after(mark, "the warning", |m| {
        m.is("window/showMessage")
            && m.params["message"]
                .as_str()
                .is_some_and(|t| t.contains("not trusted"))
    });
    let done = s.wait_finished(&third);
    let wt = attempt_of(&done, &attempts[0])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !std::path::Path::new(&wt).join("made-by-setup").exists(),
        "untrusted: setup never ran"
    );
    s.finish(&[&first, &second, &third]);
}

#[test]
fn unsaved_buffers_of_ignored_files_never_enter_a_snapshot() {
    let env = TestEnv::new(&[
        ("src/lib.rs", LIB_RS),
        (".gitignore", ".env\n"),
        (".env", "SECRET=on-disk\n"),
    ]);
    let mut s = Session::start(env, bare_client());
    // An ignored `.env` open with unsaved text, and a buffer under .git (not an error).
    s.open(".env", "SECRET=in-the-buffer\n");
    s.open(".git/description", "edited in the editor\n");
    let doc = s.open("src/lib.rs", LIB_RS);
    let (fanout, _) = s.fork(json!({"uri": doc.uri, "line": 1, "count": 1}));
    let finished = s.wait_finished(&fanout);
    let snapshot = finished["snapshot"].as_str().unwrap().to_string();
    let files = s.env.git(&["ls-tree", "-r", "--name-only", &snapshot]);
    assert!(!files.lines().any(|f| f == ".env"), "{files}");
    assert!(!files.contains(".git/"), "{files}");
    s.finish(&[&fanout]);
}

/// A client that declares `experimental.fanoutFinished` gets `fanout/finished` instead of
/// the showMessage; the Try lens counts `.fanout.toml`'s `attempts`; `fanout.agents` and
/// `fanout.config` answer what the pickers and health checks show.
#[test]
fn finished_notification_effective_count_agents_and_config() {
    let env = project();
    env.write(".fanout.toml", "attempts = 2\n");
    let mut caps = rich_client();
    caps["experimental"] = json!({"fanoutFinished": true});
    let mut s = Session::start(env, caps);
    let doc = s.open("src/lib.rs", LIB_RS);
    let lenses = s.lenses(&doc.uri);
    let try_lens = lenses.iter().find(|l| l.command == "fanout.try").unwrap();
    assert_eq!(try_lens.title, "Try 2 approaches", "{lenses:?}");
    assert_eq!(try_lens.argument["count"], 2);

    let config = s.run("fanout.config", json!({"uri": doc.uri}));
    assert_eq!(config["attempts"], 2, "{config}");
    assert!(
        config["repo_config"]
            .as_str()
            .is_some_and(|p| p.ends_with(".fanout.toml")),
        "{config}"
    );
    assert!(config["problems"].is_array(), "{config}");
    let agents = s.run("fanout.agents", json!({}));
    let names: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"fake"), "{agents}");
    assert!(names.contains(&"claude"), "built-ins listed too: {agents}");
    let agent = |name: &str| {
        agents["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(agent("claude")["takes_model"], true, "{agents}");
    assert_eq!(agent("claude")["permissions"], "edits+verify", "{agents}");
    assert_eq!(
        agent("fake")["takes_model"],
        false,
        "its command has no {{model}}: {agents}"
    );
    let fails = s.fails("fanout.agents", json!({"uri": 3}));
    assert!(fails.message.contains("uri"), "{fails:?}");

    let mark = s.client.mark();
    let (fanout, _) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE}));
    let finished = s
        .client
        .wait_for_after(mark, "fanout/finished", |m| m.is("fanout/finished"));
    assert_eq!(finished.params["fanout"], json!(fanout));
    assert_eq!(finished.params["total"], 2, "the .fanout.toml count forked");
    assert_eq!(finished.params["succeeded"], 2);
    assert_eq!(finished.params["task"]["label"], "TODO: handle empty input");
    assert_eq!(
        finished.params["message"],
        "fanout: 2 of 2 attempts succeeded for \"TODO: handle empty input\""
    );
    assert!(
        !s.client.saw_after(mark, |m| m.is("window/showMessage")
            && m.params["message"]
                .as_str()
                .is_some_and(|t| t.contains("succeeded for"))),
        "no showMessage for a client that asked for fanout/finished"
    );
    s.finish(&[&fanout]);
}

// ---------------------------------------------------------------------------------------
// Hunks

/// 20 numbered lines; attempt 1 changes lines 2 and 18, attempt 2 line 10 and line 2.
fn hunk_project() -> (TestEnv, String) {
    let base: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    let spec = json!({
        "1": {"a.txt": base.replace("line 2\n", "line two by 1\n").replace("line 18\n", "line 18 by 1\n")},
        "2": {"a.txt": base.replace("line 10\n", "line ten by 2\n").replace("line 2\n", "line 2 by 2\n")},
    });
    let env = TestEnv::new(&[("a.txt", &base)]).with_edit_agent(&spec);
    (env, base)
}

fn hunk_id(hunks: &Value, needle: &str) -> String {
    common::hunk_with(hunks["hunks"].as_array().unwrap(), needle)
}

/// Fork `a.txt` of [`hunk_project`] into its two edit-agent attempts and wait for them.
fn fork_edits(s: &mut Session) -> (String, Vec<String>) {
    let uri = s.env.uri("a.txt");
    let forked = s.fork(json!({"uri": uri, "line": 0, "count": 2,
        "agents": ["edit"], "prompt": "change a.txt"}));
    s.wait_finished(&forked.0);
    forked
}

#[test]
fn hunks_of_two_attempts_are_accepted_as_one_undoable_edit_of_the_buffer() {
    let (env, base) = hunk_project();
    let mut s = Session::start(env, document_changes_only_client());
    let doc = s.open("a.txt", &base);
    let (fanout, attempts) = fork_edits(&mut s);

    let of_1 = s.run(
        "fanout.hunks",
        json!({"attempt": attempts[0], "uri": doc.uri}),
    );
    assert_eq!(of_1["hunks"].as_array().unwrap().len(), 2, "{of_1:#}");
    assert_eq!(of_1["hunks"][0]["attempt"], attempts[0].as_str());
    assert_eq!(of_1["hunks"][0]["path"], "a.txt");
    assert_eq!(of_1["hunks"][0]["kind"], "lines");
    let bottom_of_1 = hunk_id(&of_1, "line 18 by 1");
    let of_2 = s.run("fanout.hunks", json!({"attempt": attempts[1]}));
    let middle_of_2 = hunk_id(&of_2, "line ten by 2");

    // The fanout's hunks: #1's bottom one and #2's middle one, in one edit of the buffer.
    let mark = s.client.mark();
    let result = s.run(
        "fanout.accept",
        json!({"attempt": fanout, "hunks": [bottom_of_1, middle_of_2]}),
    );
    assert_eq!(result["applied"], true, "{result}");
    let request = the_apply_edit(&s.client, mark);
    let ops = request.params["edit"]["documentChanges"]
        .as_array()
        .unwrap();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["textDocument"]["version"], doc.version);
    let edited = apply_text_edits(&doc.text, ops[0]["edits"].as_array().unwrap());
    assert_eq!(
        edited,
        base.replace("line 10\n", "line ten by 2\n")
            .replace("line 18\n", "line 18 by 1\n")
    );
    assert_eq!(s.env.read("a.txt"), base, "the editor does the writing");

    // Line 2 from both: refused, nothing sent.
    let top_of_1 = hunk_id(&of_1, "line two by 1");
    let top_of_2 = hunk_id(&of_2, "line 2 by 2");
    let mark = s.client.mark();
    let e = s.fails(
        "fanout.accept",
        json!({"attempt": fanout, "hunks": [top_of_1, top_of_2]}),
    );
    assert!(e.message.contains("nothing was written"), "{e:?}");
    assert!(!s.client.saw_after(mark, |m| m.is("workspace/applyEdit")));
    s.finish(&[&fanout]);
}

#[test]
fn compare_answers_the_attempts_side_by_side() {
    let (env, base) = hunk_project();
    let mut s = Session::start(env, bare_client());
    let (fanout, _) = fork_edits(&mut s);
    let c = s.run("fanout.compare", json!({"fanout": fanout}));
    assert_eq!(c["fanout"], fanout.as_str());
    assert_eq!(c["files"][0]["path"], "a.txt", "{c:#}");
    assert_eq!(c["files"][0]["cells"].as_array().unwrap().len(), 2);
    assert_eq!(
        c["overlaps"],
        json!([{"path": "a.txt", "attempts": [1, 2], "lines": [2, 2]}])
    );
    assert_eq!(c["clusters"], json!([]));
    assert_eq!(s.env.read("a.txt"), base);
    let e = s.fails("fanout.compare", json!({"attempt": fanout}));
    assert!(e.message.contains("fanout"), "{e:?}");
    s.finish(&[&fanout]);
}

#[test]
fn review_runs_a_judge_whose_verdict_reaches_the_status_and_titles() {
    let (env, _) = hunk_project();
    let env = env.with_judge("").with("JUDGE_RANKING", "2,1");
    let mut s = Session::start(env, bare_client());
    let (fanout, attempts) = fork_edits(&mut s);
    let started = s.run("fanout.review", json!({"fanout": fanout}));
    assert_eq!(started["review"], format!("{fanout}-review"));
    assert_eq!(started["agent"], "judge");
    let id = fanout.clone();
    let note = s.client.wait_for("a status with the verdict", |m| {
        m.is("fanout/status")
            && find_fanout(&m.params, &id).is_some_and(|f| f["review"]["state"] == "succeeded")
    });
    let f = find_fanout(&note.params, &fanout).unwrap();
    assert_eq!(f["verdict"]["ranking"], json!([2, 1]), "{f:#}");
    assert_eq!(f["best"], attempts[1].as_str());
    let two = f["attempts"][0].clone();
    assert_eq!(two["id"], attempts[1].as_str());
    assert!(
        two["title"].as_str().unwrap().starts_with("★ #2 edit")
            && two["title"]
                .as_str()
                .unwrap()
                .contains("★ judge: summary of #2"),
        "{two:#}"
    );
    let e = s.fails("fanout.review", json!({"fanout": "nosuch"}));
    assert!(
        e.message.contains("unknown attempt or fanout 'nosuch'"),
        "{e:?}"
    );
    s.finish(&[&fanout]);
}

#[test]
fn synthesize_adds_an_attempt_drawing_on_the_others() {
    let (env, _) = hunk_project();
    let mut s = Session::start(env, bare_client());
    let (fanout, _) = fork_edits(&mut s);
    let r = s.run(
        "fanout.synthesize",
        json!({"fanout": fanout, "agent": "edit"}),
    );
    assert_eq!(r, json!({"attempt": format!("{fanout}-3"), "from": [1, 2]}));
    let (id, third) = (fanout.clone(), format!("{fanout}-3"));
    let note = s.client.wait_for("the synthesis finished", |m| {
        m.is("fanout/status")
            && find_fanout(&m.params, &id).is_some_and(|f| {
                all_finished(f)
                    && f["attempts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|a| a["id"] == third.as_str())
            })
    });
    let three = attempt_of(find_fanout(&note.params, &fanout).unwrap(), &third).clone();
    assert_eq!(three["synthesis_of"], json!([1, 2]), "{three:#}");
    let e = s.fails(
        "fanout.synthesize",
        json!({"fanout": fanout, "agent": "nosuch"}),
    );
    assert!(e.message.contains("unknown agent 'nosuch'"), "{e:?}");
    s.finish(&[&fanout]);
}

#[test]
fn with_warm_pool_on_an_idle_repository_gets_warm_worktrees_and_a_try_from_them_succeeds() {
    let env = project();
    let mut s = Session::start(env, rich_client());
    let doc = s.open("src/lib.rs", LIB_RS);
    let pool = |s: &mut Session| s.run("fanout.status", json!({}))["pool"]["worktrees"].clone();
    assert_eq!(pool(&mut s), 0, "off by default: no pool");
    s.client.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"fanout": {"warmPool": true}}}),
    );
    // Nothing runs in the repository: the server fills its pool (its size: the attempt count,
    // 3) by itself.
    common::cli::wait_for("a pool of 3 warm worktrees", TIMEOUT, || {
        (pool(&mut s) == 3).then_some(())
    });
    let (fanout, attempts) = s.fork(json!({"uri": doc.uri, "line": TODO_LINE}));
    s.wait_finished(&fanout);
    assert_eq!(attempts.len(), 3);
    let status = s.run("fanout.status", json!({}));
    assert!(
        status["fanouts"][0]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "succeeded"),
        "{status:#}"
    );
    s.finish(&[&fanout]);
}

// ---------------------------------------------------------------------------------------
// Task lists: fanout.plan, fanout.tryAll, fanout.integrate and their lenses

/// Two independent items, each writing a file of its own (the team agent's spec).
const TASKS_MD: &str =
    "# Game\n\n- [ ] Board\n  Touches: board.py\n- [ ] Search\n  Touches: search.py\n";
const BOARD_LINE: u32 = 2;
const SEARCH_LINE: u32 = 4;

/// A repository with TASKS.md, and the team agent (tests/fixtures/agents/team-agent) as the
/// roster and the lead, 2 attempts per item.
fn task_list_project() -> TestEnv {
    let env = TestEnv::new(&[("TASKS.md", TASKS_MD), ("README.md", README)]);
    let path = env.base().join("config/fanout/config.toml");
    let agent = common::fixture_agent("team-agent").display().to_string();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("attempts = 3", "attempts = 2")
        .replace(
            "agents = [\"fake\"]",
            "agents = [\"team\"]\nlead = \"team\"",
        );
    std::fs::write(
        &path,
        format!(
            "{text}\n[agent.team]\ncommand = [\"python3\", \"{agent}\", \"{{prompt_file}}\"]\n"
        ),
    )
    .unwrap();
    let spec = env.base().join("team-spec.json");
    std::fs::write(
        &spec,
        json!({"Board": {"board.py": "BOARD = {attempt}\n"}, "Search": {"search.py": "SEARCH = {attempt}\n"}})
            .to_string(),
    )
    .unwrap();
    let plan = env.base().join("team-plan.json");
    std::fs::write(
        &plan,
        json!({"file": "TASKS.md", "text": format!("{TASKS_MD}- [ ] Clock\n")}).to_string(),
    )
    .unwrap();
    env.with("TEAM_AGENT_SPEC", &spec.display().to_string())
        .with("TEAM_AGENT_PLAN", &plan.display().to_string())
}

fn on_line(lenses: &[Lens], line: u32) -> Vec<Lens> {
    let mut on: Vec<Lens> = lenses.iter().filter(|l| l.line == line).cloned().collect();
    on.sort_by_key(|l| l.column);
    on
}

/// What an editor does with a `fanout/status`: waits for the one where `pred` holds of the
/// last task list run.
#[track_caller]
fn wait_run(s: &Session, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let note = s.client.wait_for(what, |m| {
        m.is("fanout/status")
            && m.params["batches"]
                .as_array()
                .and_then(|b| b.last())
                .is_some_and(&pred)
    });
    note.params["batches"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

#[test]
fn a_task_list_gets_its_lenses_runs_integrates_and_its_accept_checks_the_boxes() {
    let mut s = Session::start(task_list_project(), rich_client());
    let doc = s.open("TASKS.md", TASKS_MD);

    // The first line: Plan tasks… (no goal: the editor asks) and Run all, in that order.
    let first = on_line(&s.lenses(&doc.uri), 0);
    let titles: Vec<&str> = first.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Plan tasks…", "Run all 2 tasks (2 approaches each)"],
        "{first:#?}"
    );
    assert_eq!(first[0].command, "fanout.plan");
    assert_eq!(first[0].argument, json!({"uri": doc.uri}));
    assert_eq!(first[1].command, "fanout.tryAll");
    assert_eq!(first[1].argument, json!({"uri": doc.uri, "count": 2}));
    // A client that sends the Plan lens's argument as it is learns what is missing.
    let e = s.fails("fanout.plan", first[0].argument.clone());
    assert_eq!(e.code, -32602, "{e:?}");
    assert!(e.message.contains("prompt"), "{e:?}");

    // Run all, as the lens says.
    let started = s.run("fanout.tryAll", first[1].argument.clone());
    assert_eq!(started["file"], "TASKS.md", "{started:#}");
    let titles: Vec<&str> = started["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap())
        .collect();
    if titles != ["Board", "Search"] {
        // An item whose fork failed is in the status only, with why.
        let batches = s.status()["batches"].clone();
        panic!("started {titles:?}: {started:#}\nthe runs in the status: {batches:#}");
    }
    assert_eq!(started["waiting"], json!([]));
    let fanouts: Vec<String> = started["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["fanout"].as_str().unwrap().to_string())
        .collect();
    for f in &fanouts {
        s.wait_finished(f);
    }
    let run = wait_run(&s, "both items ready", |b| {
        b["items"].as_array().is_some_and(|items| {
            items.iter().all(|i| {
                i["label"]
                    .as_str()
                    .is_some_and(|l| l.contains("ready to integrate"))
            })
        })
    });
    assert_eq!(run["id"], started["batch"]);
    assert_eq!(run["summary"], "2 items: 2 ready", "{run:#}");

    // Each item's line: Try, then its label from the status, opening the chosen attempt.
    let lenses = s.lenses(&doc.uri);
    for (n, line) in [(0, BOARD_LINE), (1, SEARCH_LINE)] {
        let item = &run["items"][n];
        let on = on_line(&lenses, line);
        assert_eq!(on[0].title, "Try 2 approaches", "{on:#?}");
        assert_eq!(on[1].title, item["label"].as_str().unwrap(), "{on:#?}");
        assert_eq!(on[1].command, "fanout.openDiff");
        assert_eq!(on[1].argument, json!({"attempt": item["chosen"]}));
    }
    let first = on_line(&lenses, 0);
    assert_eq!(first[2].title, "Integrate (2 items: 2 ready)", "{first:#?}");
    assert_eq!(first[2].command, "fanout.integrate");
    assert_eq!(first[2].argument, json!({"uri": doc.uri}));

    // Integrate, as the lens says: each item merged, said in words.
    let r = s.run("fanout.integrate", first[2].argument.clone());
    assert_eq!(r["batch"], started["batch"], "{r:#}");
    for (n, item) in r["items"].as_array().unwrap().iter().enumerate() {
        assert_eq!(item["number"], n + 1, "{r:#}");
        assert_eq!(item["outcome"], "merged", "{r:#}");
        assert_eq!(item["attempt"], run["items"][n]["chosen"], "{r:#}");
        assert_eq!(
            item["text"],
            format!("merged {}", item["attempt"].as_str().unwrap())
        );
    }
    let integration = r["attempt"].as_str().unwrap().to_string();
    // The lenses follow the status, which the watcher sends once it sees the integration.
    let run = wait_run(&s, "the integration in the status", |b| {
        b["integration"]["merged"] == 2
    });
    assert_eq!(
        run["integration"]["attempt"],
        integration.as_str(),
        "{run:#}"
    );
    let first = on_line(&s.lenses(&doc.uri), 0);
    let titles: Vec<&str> = first.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Plan tasks…",
            "Run all 2 tasks (2 approaches each)",
            "Integrate (2 items: 2 merged)",
            "integration: 2 of 2 merged",
            "Accept the integration"
        ],
        "{first:#?}"
    );
    assert_eq!(first[3].command, "fanout.openDiff");
    assert_eq!(first[3].argument, json!({"attempt": integration}));
    assert_eq!(first[4].command, "fanout.accept");
    assert_eq!(first[4].argument, json!({"attempt": integration}));

    // Accepting it: one edit with both items' files and the open list's boxes checked.
    let mark = s.client.mark();
    let accepted = s.run("fanout.accept", first[4].argument.clone());
    assert_eq!(accepted["applied"], true, "{accepted}");
    let request = the_apply_edit(&s.client, mark);
    let ops = request.params["edit"]["documentChanges"]
        .as_array()
        .unwrap()
        .clone();
    let list = ops
        .iter()
        .find(|o| o["textDocument"]["uri"] == doc.uri)
        .unwrap_or_else(|| panic!("an edit of TASKS.md: {ops:#?}"));
    assert_eq!(
        apply_text_edits(&doc.text, list["edits"].as_array().unwrap()),
        TASKS_MD.replace("- [ ]", "- [x]")
    );
    // Each file as the attempt the integration took for its item wrote it (its number in it).
    let n = |k: usize| {
        let id = r["items"][k]["attempt"].as_str().unwrap();
        id.rsplit_once('-').unwrap().1.to_string()
    };
    for (file, text) in [
        ("board.py", format!("BOARD = {}\n", n(0))),
        ("search.py", format!("SEARCH = {}\n", n(1))),
    ] {
        let uri = s.env.uri(file);
        assert!(
            ops.iter().any(|o| o["kind"] == "create" && o["uri"] == uri),
            "{file} created: {ops:#?}"
        );
        let fill = ops
            .iter()
            .find(|o| o["textDocument"]["uri"] == uri)
            .unwrap_or_else(|| panic!("{file} written: {ops:#?}"));
        assert_eq!(
            apply_text_edits("", fill["edits"].as_array().unwrap()),
            text
        );
    }

    // Plan tasks…, with the goal the editor asked for: a lead writes the list as an attempt.
    let planned = s.run(
        "fanout.plan",
        json!({"uri": doc.uri, "prompt": "Add a clock"}),
    );
    let lead = planned["fanout"].as_str().unwrap().to_string();
    let f = s.wait_finished(&lead);
    assert_eq!(f["task"]["marker"], "plan", "{f:#}");
    assert_eq!(f["task"]["file"], "TASKS.md", "{f:#}");
    let lead_attempt = planned["attempts"][0].as_str().unwrap();
    let diff = s.run("fanout.diff", json!({"attempt": lead_attempt}));
    assert!(
        diff["diff"].as_str().unwrap().contains("+- [ ] Clock"),
        "{diff}"
    );

    let mut all: Vec<&str> = fanouts.iter().map(String::as_str).collect();
    let integration_fanout = integration.rsplit_once('-').unwrap().0.to_string();
    all.push(&integration_fanout);
    all.push(&lead);
    s.finish(&all);
}
