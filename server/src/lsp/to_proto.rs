//! Every translation from the engine's types to LSP's, and from LSP's back: URIs and
//! paths, code lenses from tasks and the status, merge plans as WorkspaceEdits (texlab's
//! `to_proto` / `from_proto`). Nothing else in `lsp/` builds an LSP type from engine data.

use crate::workspace::as_text;
use crate::workspace::{AttemptStatus, FanoutStatus, FileChange, StatusReport, Task};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tower_lsp_server::ls_types::{
    CodeLens, Command, CreateFile, CreateFileOptions, DeleteFile, DeleteFileOptions,
    DocumentChangeOperation, DocumentChanges, OneOf, OptionalVersionedTextDocumentIdentifier,
    Position, Range, ResourceOp, TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
};

/// The file a `file:` URI names, or an error that says why not.
pub fn path_of(uri: &Uri) -> Result<PathBuf, String> {
    if uri.scheme().as_str() != "file" {
        return Err(format!("not a file: URI: {}", uri.as_str()));
    }
    uri.to_file_path()
        .map(|p| p.into_owned())
        .ok_or_else(|| format!("cannot read a file path from {}", uri.as_str()))
}

pub fn uri_of(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

/// The path of a change inside `workdir`, bytes as they are.
pub fn path_in(workdir: &Path, c: &FileChange) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    workdir.join(std::ffi::OsStr::from_bytes(&c.path))
}

/// Text changes (see `accept::split`) as one WorkspaceEdit. `open` gives the version of each open
/// document (edits to open documents are versioned, so a stale edit is refused).
pub fn workspace_edit(
    changes: &[FileChange],
    workdir: &Path,
    open: &dyn Fn(&Uri) -> Option<i32>,
    document_changes: bool,
) -> WorkspaceEdit {
    let mut operations: Vec<DocumentChangeOperation> = Vec::new();
    let mut edits_of: HashMap<Uri, Vec<TextEdit>> = HashMap::new();
    for c in changes {
        let Some(uri) = uri_of(&path_in(workdir, c)) else {
            continue;
        };
        let version = open(&uri);
        // split() let only text through.
        let old = c.old.as_deref().and_then(as_text);
        let new = c.new.as_deref().and_then(as_text);
        match (old, new) {
            (Some(old), Some(new)) => {
                let edits = text_edits(old, new);
                if document_changes {
                    operations.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                        text_document: OptionalVersionedTextDocumentIdentifier { uri, version },
                        edits: edits.into_iter().map(OneOf::Left).collect(),
                    }));
                } else {
                    edits_of.insert(uri, edits);
                }
            }
            (None, Some(new)) => {
                operations.push(DocumentChangeOperation::Op(ResourceOp::Create(
                    CreateFile {
                        uri: uri.clone(),
                        options: Some(CreateFileOptions {
                            overwrite: Some(false),
                            ignore_if_exists: Some(true),
                        }),
                        annotation_id: None,
                    },
                )));
                operations.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                    text_document: OptionalVersionedTextDocumentIdentifier { uri, version: None },
                    edits: vec![OneOf::Left(TextEdit {
                        range: Range::default(),
                        new_text: new.to_string(),
                    })],
                }));
            }
            (Some(_), None) => {
                operations.push(DocumentChangeOperation::Op(ResourceOp::Delete(
                    DeleteFile {
                        uri,
                        options: Some(DeleteFileOptions {
                            recursive: Some(false),
                            ignore_if_not_exists: Some(true),
                        }),
                        annotation_id: None,
                    },
                )));
            }
            (None, None) => {}
        }
    }
    if document_changes {
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Operations(operations)),
            ..Default::default()
        }
    } else {
        WorkspaceEdit {
            changes: Some(edits_of),
            ..Default::default()
        }
    }
}

/// Line-level minimal edits turning `old` into `new`, so the editor keeps cursors and folds
/// outside the changed lines and one undo reverts them all.
pub fn text_edits(old: &str, new: &str) -> Vec<TextEdit> {
    // The line diff the engine's diffs use (imara-diff's Myers, git's indent heuristic),
    // on lines as LSP cuts them.
    let (old_lines, new_lines) = (lsp_lines(old), lsp_lines(new));
    let mut input = imara_diff::InternedInput::default();
    input.update_before(old_lines.iter().copied());
    input.update_after(new_lines.iter().copied());
    let mut diff = imara_diff::Diff::compute(imara_diff::Algorithm::Myers, &input);
    diff.postprocess_lines(&input);
    diff.hunks()
        .map(|h| TextEdit {
            range: Range {
                start: line_start(&old_lines, h.before.start as usize),
                end: line_start(&old_lines, h.before.end as usize),
            },
            new_text: new_lines[h.after.start as usize..h.after.end as usize].concat(),
        })
        .collect()
}

/// Lines as LSP cuts them: each ends at `\n`, `\r\n` or a lone `\r`, its ending kept.
fn lsp_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['\n', '\r']) {
        let end = if rest[at..].starts_with("\r\n") {
            at + 2
        } else {
            at + 1
        };
        lines.push(&rest[..end]);
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        lines.push(rest);
    }
    lines
}

/// The position where line `i` starts; past the last line, the end of the text.
fn line_start(lines: &[&str], i: usize) -> Position {
    if i < lines.len() {
        return Position::new(i as u32, 0);
    }
    match lines.last() {
        None => Position::new(0, 0),
        Some(last) if last.ends_with('\n') => Position::new(lines.len() as u32, 0),
        Some(last) => Position::new((lines.len() - 1) as u32, last.encode_utf16().count() as u32),
    }
}

// ---------------------------------------------------------------------------------------
// Code lenses: `Try N approaches` on every task line, and one lens per attempt (plus
// `Accept #n`) on the task a fanout was started from. Their titles are the engine's.

/// Lenses for one document. `file` is its path relative to the repository ('/' separators),
/// used to find the fanouts started from it; `count` is the effective attempt count.
pub fn lenses(
    tasks: &[Task],
    uri: &str,
    file: Option<&str>,
    report: Option<&StatusReport>,
    count: usize,
) -> Vec<CodeLens> {
    let mut out = Vec::new();
    let fanouts: Vec<&FanoutStatus> = match (file, report) {
        (Some(file), Some(r)) => r.fanouts.iter().filter(|f| f.task.file == file).collect(),
        _ => Vec::new(),
    };
    let run = match (file, report) {
        (Some(file), Some(r)) => r.batches.iter().rev().find(|b| b.file == file),
        _ => None,
    };
    let list_lenses = task_list_lenses(tasks, uri, file, run, count);
    let first_line_columns = list_lenses.len() as u32;
    out.extend(list_lenses);
    for task in tasks {
        let line = (task.line - 1) as u32;
        // Each lens of a line gets its own column, in the order they are meant to be read
        // (Try, then each attempt followed by its Accept, by attempt number): Neovim sorts a
        // line's lenses by start column with an unstable sort, so equal columns come out
        // shuffled. A column past the line's end is the line's end for every client (LSP).
        let mut column = if line == 0 { first_line_columns } else { 0 };
        let mut next_range = || {
            let at = Position::new(line, column);
            column += 1;
            Range { start: at, end: at }
        };
        let arg = crate::proto::TryLens {
            uri: uri.to_string(),
            line,
            count,
        };
        out.push(lens(
            next_range(),
            format!("Try {count} approaches"),
            crate::proto::Command::Try,
            serde_json::to_value(arg).unwrap_or_default(),
        ));
        // A task list item of the run: where it stands (waiting, merged, conflicted).
        if let Some(item) = run.and_then(|b| run_item(b, task, tasks)) {
            let (command, arg) = match &item.chosen {
                Some(a) => (crate::proto::Command::OpenDiff, json!({"attempt": a})),
                None => (crate::proto::Command::Status, json!({})),
            };
            out.push(lens(next_range(), item.label.clone(), command, arg));
        }
        for f in fanouts.iter().filter(|f| belongs_to(f, task, tasks)) {
            let mut attempts: Vec<&AttemptStatus> = f.attempts.iter().collect();
            attempts.sort_by_key(|a| a.n);
            for a in attempts {
                let arg = json!({"attempt": a.id});
                out.push(lens(
                    next_range(),
                    a.title.clone(),
                    crate::proto::Command::OpenDiff,
                    arg.clone(),
                ));
                if a.can_accept {
                    out.push(lens(
                        next_range(),
                        format!("Accept #{}", a.n),
                        crate::proto::Command::Accept,
                        arg,
                    ));
                }
            }
        }
    }
    out
}

/// The lenses of a task list's first line: `Plan tasks…`, `Run all K tasks`, and once it
/// has a run, `Integrate` and its integration's title (opening its diff) with `Accept`.
fn task_list_lenses(
    tasks: &[Task],
    uri: &str,
    file: Option<&str>,
    run: Option<&crate::workspace::BatchStatus>,
    count: usize,
) -> Vec<CodeLens> {
    let is_list = file.is_some_and(|f| {
        f.rsplit('/')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case("tasks.md"))
    });
    if !is_list {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut column = 0u32;
    let mut next_range = || {
        let at = Position::new(0, column);
        column += 1;
        Range { start: at, end: at }
    };
    let items = tasks
        .iter()
        .filter(|t| t.marker == crate::workspace::CHECKBOX)
        .count();
    out.push(lens(
        next_range(),
        "Plan tasks…".into(),
        crate::proto::Command::Plan,
        serde_json::to_value(crate::proto::PlanLens {
            uri: uri.to_string(),
        })
        .unwrap_or_default(),
    ));
    if items > 0 {
        out.push(lens(
            next_range(),
            format!(
                "Run all {items} task{} ({count} approach{} each)",
                if items == 1 { "" } else { "s" },
                if count == 1 { "" } else { "es" }
            ),
            crate::proto::Command::TryAll,
            serde_json::to_value(crate::proto::TryAllLens {
                uri: uri.to_string(),
                count,
            })
            .unwrap_or_default(),
        ));
    }
    if let Some(b) = run {
        out.push(lens(
            next_range(),
            format!("Integrate ({})", b.summary),
            crate::proto::Command::Integrate,
            json!({"uri": uri}),
        ));
        if let Some(i) = &b.integration {
            out.push(lens(
                next_range(),
                format!("integration: {} of {} merged", i.merged, b.items.len()),
                crate::proto::Command::OpenDiff,
                json!({"attempt": i.attempt}),
            ));
            if i.merged > 0 {
                out.push(lens(
                    next_range(),
                    "Accept the integration".into(),
                    crate::proto::Command::Accept,
                    json!({"attempt": i.attempt}),
                ));
            }
        }
    }
    out
}

/// The item of a task list run that `task` is: by its title, the nearest line among equals.
fn run_item<'a>(
    b: &'a crate::workspace::BatchStatus,
    task: &Task,
    all: &[Task],
) -> Option<&'a crate::workspace::ItemStatus> {
    if task.marker != crate::workspace::CHECKBOX {
        return None;
    }
    let title = |text: &str| crate::workspace::item_title(text);
    let mine = title(&task.text);
    let item = b
        .items
        .iter()
        .filter(|i| title(&i.title) == mine)
        .min_by_key(|i| i.line.abs_diff(task.line))?;
    let nearest = all
        .iter()
        .filter(|t| t.marker == crate::workspace::CHECKBOX && title(&t.text) == mine)
        .min_by_key(|t| t.line.abs_diff(item.line));
    nearest.is_some_and(|n| n.line == task.line).then_some(item)
}

/// Whether fanout `f` was started from `task`. Lines move as the user edits above the task,
/// so the task's text decides; among several tasks with the same text, the nearest line.
fn belongs_to(f: &FanoutStatus, task: &Task, all: &[Task]) -> bool {
    if f.task.text != task.text {
        return false;
    }
    let nearest = all
        .iter()
        .filter(|t| t.text == f.task.text)
        .min_by_key(|t| t.line.abs_diff(f.task.line));
    nearest.is_some_and(|n| n.line == task.line)
}

fn lens(range: Range, title: String, command: crate::proto::Command, arg: Value) -> CodeLens {
    CodeLens {
        range,
        command: Some(Command {
            title,
            command: command.name().into(),
            arguments: Some(vec![arg]),
        }),
        data: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(old: &str, edits: &[TextEdit]) -> String {
        // Apply back to front with a rope, as an editor would.
        let docs = super::super::documents::Documents::default();
        let uri: Uri = "file:///t".parse().unwrap();
        docs.open(uri.clone(), old, 0);
        let mut sorted = edits.to_vec();
        sorted.sort_by_key(|e| std::cmp::Reverse((e.range.start.line, e.range.start.character)));
        for e in sorted {
            docs.change(
                &uri,
                1,
                vec![tower_lsp_server::ls_types::TextDocumentContentChangeEvent {
                    range: Some(e.range),
                    range_length: None,
                    text: e.new_text,
                }],
            )
            .unwrap();
        }
        docs.text(&uri).unwrap()
    }

    #[test]
    fn edits_reproduce_the_new_text() {
        for (old, new) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb", "a\nb\nc"),
            ("a\nb\n", ""),
            ("", "x\ny"),
            ("one\ntwo\nthree", "zero\none\nthree\nfour"),
        ] {
            assert_eq!(apply(old, &text_edits(old, new)), new, "{old:?} -> {new:?}");
        }
    }
}
