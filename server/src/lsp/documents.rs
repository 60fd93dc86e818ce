//! The open buffers, as the editor has them (unsaved edits included), kept in sync by
//! incremental didChange events. Forks, diffs and accepts read these, never the disk, for
//! open files.

use crate::workspace::{Buffer, Task, Workspace};
use dashmap::DashMap;
use ropey::Rope;
use tower_lsp_server::ls_types::{Position, TextDocumentContentChangeEvent, Uri};

pub struct Document {
    pub text: Rope,
    pub version: i32,
    /// The tasks of this version of the text (and the file name they were read as): code
    /// lenses are asked for far more often than the text changes.
    tasks: Option<(String, Vec<Task>)>,
}

impl Document {
    fn new(text: &str, version: i32) -> Document {
        Document {
            text: Rope::from_str(text),
            version,
            tasks: None,
        }
    }
}

#[derive(Default)]
pub struct Documents {
    docs: DashMap<Uri, Document>,
}

impl Documents {
    pub fn open(&self, uri: Uri, text: &str, version: i32) {
        self.docs.insert(uri, Document::new(text, version));
    }

    pub fn close(&self, uri: &Uri) {
        self.docs.remove(uri);
    }

    /// Apply incremental (or full) changes in order. Called synchronously from the
    /// notification handler, before any await, so changes never interleave.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        changes: Vec<TextDocumentContentChangeEvent>,
    ) -> Result<(), String> {
        let mut doc = self
            .docs
            .get_mut(uri)
            .ok_or_else(|| format!("didChange for a document never opened: {}", uri.as_str()))?;
        for change in changes {
            match change.range {
                None => *doc = Document::new(&change.text, version),
                Some(range) => {
                    let start = char_index(&doc.text, range.start);
                    let end = char_index(&doc.text, range.end).max(start);
                    doc.text.remove(start..end);
                    doc.text.insert(start, &change.text);
                    doc.tasks = None;
                }
            }
        }
        doc.version = version;
        Ok(())
    }

    /// The tasks in an open document, read as file `name`; computed once per version.
    pub fn tasks(&self, uri: &Uri, name: &str) -> Option<Vec<Task>> {
        let mut doc = self.docs.get_mut(uri)?;
        if let Some((cached_name, tasks)) = &doc.tasks {
            if cached_name == name {
                return Some(tasks.clone());
            }
        }
        let tasks = crate::workspace::tasks_in_text(name, &doc.text.to_string());
        doc.tasks = Some((name.to_string(), tasks.clone()));
        Some(tasks)
    }

    #[cfg(test)]
    pub fn text(&self, uri: &Uri) -> Option<String> {
        self.docs.get(uri).map(|d| d.text.to_string())
    }

    pub fn version(&self, uri: &Uri) -> Option<i32> {
        self.docs.get(uri).map(|d| d.version)
    }

    /// Every open buffer inside the repository, for snapshots and merges.
    pub fn overlays(&self, repo: &Workspace) -> Vec<Buffer> {
        self.docs
            .iter()
            .filter_map(|entry| {
                let path = entry.key().to_file_path()?;
                let rel = repo.relative(&path).ok()?;
                Some(Buffer {
                    path: rel,
                    bytes: entry.value().text.to_string().into_bytes(),
                })
            })
            .collect()
    }
}

/// An LSP position (line, UTF-16 column) as a char index into the rope, clamped to the text.
/// The rope breaks lines exactly where LSP does (`\n`, `\r\n`, `\r`: ropey's `cr_lines`
/// without `unicode_lines`), so form feeds or U+2028 inside a line are just characters.
pub fn char_index(rope: &Rope, pos: Position) -> usize {
    let line = pos.line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let line_start = rope.line_to_char(line);
    let slice = rope.line(line);
    // The column may not pass the line's end (its newline excluded).
    let mut line_chars = slice.len_chars();
    if line_chars > 0 && slice.char(line_chars - 1) == '\n' {
        line_chars -= 1;
    }
    if line_chars > 0 && slice.char(line_chars - 1) == '\r' {
        line_chars -= 1;
    }
    let max_cu = slice.char_to_utf16_cu(line_chars);
    let col = (pos.character as usize).min(max_cu);
    line_start + slice.utf16_cu_to_char(col)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::Range;

    fn change(sl: u32, sc: u32, el: u32, ec: u32, text: &str) -> TextDocumentContentChangeEvent {
        TextDocumentContentChangeEvent {
            range: Some(Range {
                start: Position::new(sl, sc),
                end: Position::new(el, ec),
            }),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn applies_utf16_incremental_changes() {
        let docs = Documents::default();
        let uri: Uri = "file:///tmp/a.rs".parse().unwrap();
        docs.open(uri.clone(), "a😀b\nsecond\n", 1);
        // 😀 is two UTF-16 code units: column 3 is just before 'b'.
        docs.change(
            &uri,
            2,
            vec![change(0, 3, 0, 4, "B"), change(1, 0, 1, 6, "2nd")],
        )
        .unwrap();
        assert_eq!(docs.text(&uri).unwrap(), "a😀B\n2nd\n");
        docs.change(&uri, 3, vec![change(0, 99, 1, 0, "")]).unwrap();
        assert_eq!(docs.text(&uri).unwrap(), "a😀B2nd\n");
    }

    #[test]
    fn only_lsp_line_breaks_count() {
        // U+2028 and form feed are not line breaks to LSP; \r\n and a lone \r are.
        let docs = Documents::default();
        let uri: Uri = "file:///tmp/a.js".parse().unwrap();
        docs.open(uri.clone(), "s = '\u{2028}';\r\n\u{0C}x\ry\n", 1);
        docs.change(
            &uri,
            2,
            vec![
                change(1, 1, 1, 2, "X"),
                change(2, 0, 2, 0, ">"),
                change(0, 99, 0, 99, ";"),
            ],
        )
        .unwrap();
        assert_eq!(
            docs.text(&uri).unwrap(),
            "s = '\u{2028}';;\r\n\u{0C}X\r>y\n"
        );
        // Inserted later, too.
        let plain: Uri = "file:///tmp/b.js".parse().unwrap();
        docs.open(plain.clone(), "a\nb\n", 1);
        docs.change(&plain, 2, vec![change(0, 1, 0, 1, "\u{2028}")])
            .unwrap();
        docs.change(&plain, 3, vec![change(1, 0, 1, 0, "B")])
            .unwrap();
        assert_eq!(docs.text(&plain).unwrap(), "a\u{2028}\nBb\n");
    }
}
