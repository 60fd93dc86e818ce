//! Translation between the engine's types and LSP's, and nowhere else: URIs and paths,
//! merge plans as WorkspaceEdits.

use crate::diff::as_text;
use crate::merge::{FileChange, MergePlan, MODE_EXEC, MODE_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tower_lsp_server::ls_types::{
    CreateFile, CreateFileOptions, DeleteFile, DeleteFileOptions, DocumentChangeOperation,
    DocumentChanges, OneOf, OptionalVersionedTextDocumentIdentifier, Position, Range, ResourceOp,
    TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
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

/// What the client can do with a WorkspaceEdit.
#[derive(Debug, Clone, Copy, Default)]
pub struct EditSupport {
    pub document_changes: bool,
    pub create_and_delete: bool,
}

/// Why a change cannot go to the editor as text, if it cannot: its content is not text
/// (a binary file, NUL bytes), it is a symlink or changes the executable bit, its name is not
/// UTF-8, or it is part of a type change (a file becoming a folder or the other way round),
/// whose steps must happen in order on disk.
pub fn not_text(c: &FileChange, plan: &MergePlan) -> Option<&'static str> {
    let text = |b: &Option<Vec<u8>>| b.as_deref().is_none_or(|b| as_text(b).is_some());
    let regular = |m: Option<u32>| m.is_none_or(|m| m == MODE_FILE || m == MODE_EXEC);
    if std::str::from_utf8(&c.path).is_err() {
        return Some("its name is not UTF-8");
    }
    if !regular(c.old_mode) || !regular(c.new_mode) {
        return Some("it is a symlink");
    }
    if !text(&c.old) || !text(&c.new) {
        return Some("it is not text");
    }
    match (c.old_mode, c.new_mode) {
        (Some(a), Some(b)) if a != b => return Some("its executable bit changes"),
        (None, Some(MODE_EXEC)) => return Some("it is executable"),
        _ => {}
    }
    let related =
        |p: &[u8], dir: &[u8]| p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/';
    if plan
        .changes
        .iter()
        .any(|o| related(&o.path, &c.path) || related(&c.path, &o.path))
    {
        return Some("a file and a folder trade places");
    }
    None
}

/// Split a plan into what the editor applies (text edits, and text file creations and
/// deletions when the client has resource operations) and what must be written on disk
/// (everything else: binary files, symlinks, modes, type changes).
pub fn split(plan: &MergePlan, support: EditSupport) -> (Vec<FileChange>, Vec<FileChange>) {
    let mut editor = Vec::new();
    let mut disk = Vec::new();
    for c in &plan.changes {
        let expressible = match (&c.old, &c.new) {
            (Some(_), Some(_)) => true,
            _ => support.create_and_delete,
        };
        if expressible && not_text(c, plan).is_none() {
            editor.push(c.clone());
        } else {
            disk.push(c.clone());
        }
    }
    (editor, disk)
}

/// The path of a change inside `workdir`, bytes as they are.
pub fn path_in(workdir: &Path, c: &FileChange) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    workdir.join(std::ffi::OsStr::from_bytes(&c.path))
}

/// Text changes (see [`split`]) as one WorkspaceEdit. `open` gives the version of each open
/// document (edits to open documents are versioned, so a stale edit is refused).
pub fn workspace_edit(
    changes: &[FileChange],
    workdir: &Path,
    open: &dyn Fn(&Uri) -> Option<i32>,
    support: EditSupport,
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
                if support.document_changes {
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
    if support.document_changes {
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
    let diff = similar::TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = diff.old_slices().to_vec();
    let new_lines: Vec<&str> = diff.new_slices().to_vec();
    let mut edits = Vec::new();
    for op in diff.grouped_ops(0).into_iter().flatten() {
        if let similar::DiffOp::Equal { .. } = op {
            continue;
        }
        let old_range = op.old_range();
        let new_range = op.new_range();
        edits.push(TextEdit {
            range: Range {
                start: line_start(&old_lines, old_range.start),
                end: line_start(&old_lines, old_range.end),
            },
            new_text: new_lines[new_range].concat(),
        });
    }
    edits
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
