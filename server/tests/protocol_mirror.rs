//! The protocol is typed once, in `server/src/proto.rs`; VS Code mirrors it in
//! `editors/vscode/src/lsp_ext.ts` and docs/protocol.md documents it. This test fails when
//! the three disagree on the commands or the notifications.

use fanout::proto::{Command, FinishedNotification, StatusNotification};
use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn rust_commands() -> BTreeSet<String> {
    Command::ALL.iter().map(|c| c.name().to_string()).collect()
}

/// The keys of `interface ServerCommands { 'fanout.x': [...]; ... }`.
fn ts_commands(ts: &str) -> BTreeSet<String> {
    let start = ts
        .find("export interface ServerCommands {")
        .expect("lsp_ext.ts declares ServerCommands");
    let body = &ts[start..];
    let body = &body[..body.find("\n}").expect("ServerCommands ends")];
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('\'')?;
            let end = rest.find('\'')?;
            Some(rest[..end].to_string())
        })
        .collect()
}

/// Every name in backquotes on a `### ` heading of docs/protocol.md.
fn doc_headings(md: &str) -> BTreeSet<String> {
    md.lines()
        .filter_map(|l| l.strip_prefix("### "))
        .flat_map(|h| {
            h.split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s.to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn commands_agree_in_rust_typescript_and_docs() {
    let rust = rust_commands();
    let ts = ts_commands(&read("editors/vscode/src/lsp_ext.ts"));
    assert_eq!(
        rust, ts,
        "proto.rs Command::ALL (left) and lsp_ext.ts ServerCommands (right) differ"
    );
    let docs: BTreeSet<String> = doc_headings(&read("docs/protocol.md"))
        .into_iter()
        .filter(|h| h.starts_with("fanout."))
        .collect();
    assert_eq!(
        rust, docs,
        "proto.rs Command::ALL (left) and docs/protocol.md `### \\`fanout.x\\`` headings (right) differ"
    );
}

#[test]
fn notifications_agree_in_rust_typescript_and_docs() {
    let ts = read("editors/vscode/src/lsp_ext.ts");
    let docs = doc_headings(&read("docs/protocol.md"));
    for method in [StatusNotification::METHOD, FinishedNotification::METHOD] {
        assert!(
            ts.contains(&format!("'{method}'")),
            "lsp_ext.ts does not name {method}"
        );
        assert!(
            docs.contains(method),
            "docs/protocol.md has no heading for {method}"
        );
    }
}

#[test]
fn the_parsers_of_this_test_find_what_they_look_for() {
    let ts = "export interface ServerCommands {\n    'fanout.a': [X, Y];\n    'fanout.b': [\n        X,\n    ];\n}\n";
    assert_eq!(
        ts_commands(ts),
        ["fanout.a", "fanout.b"].map(String::from).into()
    );
    let md = "## x\n### `fanout.a`, `fanout.b`\ntext `fanout.c`\n### `fanout/status`\n";
    assert_eq!(
        doc_headings(md),
        ["fanout.a", "fanout.b", "fanout/status"]
            .map(String::from)
            .into()
    );
}
