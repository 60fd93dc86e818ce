//! The open buffers, as the editor has them (unsaved edits included), kept in sync by
//! incremental didChange events. Forks, diffs and accepts read these, never the disk, for
//! open files.

use crate::repo::RepoPaths;
use crate::snapshot::Overlay;
use dashmap::DashMap;
use ropey::Rope;
use tower_lsp_server::ls_types::{Position, TextDocumentContentChangeEvent, Uri};

pub struct Document {
    pub text: Rope,
    pub version: i32,
}

#[derive(Default)]
pub struct Documents {
    docs: DashMap<Uri, Document>,
}

impl Documents {
    pub fn open(&self, uri: Uri, text: &str, version: i32) {
        self.docs.insert(
            uri,
            Document {
                text: Rope::from_str(text),
                version,
            },
        );
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
                None => doc.text = Rope::from_str(&change.text),
                Some(range) => {
                    let start = char_index(&doc.text, range.start);
                    let end = char_index(&doc.text, range.end).max(start);
                    doc.text.remove(start..end);
                    doc.text.insert(start, &change.text);
                }
            }
        }
        doc.version = version;
        Ok(())
    }

    pub fn text(&self, uri: &Uri) -> Option<String> {
        self.docs.get(uri).map(|d| d.text.to_string())
    }

    pub fn version(&self, uri: &Uri) -> Option<i32> {
        self.docs.get(uri).map(|d| d.version)
    }

    /// Every open buffer inside `repo`, as snapshot overlays.
    pub fn overlays(&self, repo: &RepoPaths) -> Vec<Overlay> {
        self.docs
            .iter()
            .filter_map(|entry| {
                let path = entry.key().to_file_path()?;
                let rel = repo.relative(&path).ok()?;
                Some(Overlay {
                    path: rel,
                    bytes: entry.value().text.to_string().into_bytes(),
                })
            })
            .collect()
    }
}

/// An LSP position (line, UTF-16 column) as a char index into the rope, clamped to the text.
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
        if line_chars > 0 && slice.char(line_chars - 1) == '\r' {
            line_chars -= 1;
        }
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
}
