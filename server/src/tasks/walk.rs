//! The tree walk: every file under a root, in parallel, respecting .gitignore / .ignore /
//! git excludes (the `ignore` crate), never descending into version-control directories and
//! skipping binary and very large files.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

use super::lexer::{is_tasks_md, tasks_by_line, MARKERS};
use crate::task::Task;

/// Longer files are generated or data, not code anyone leaves TODOs in.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// How much of a file is checked for a NUL byte to call it binary (as git does).
const BINARY_PROBE_BYTES: usize = 8 << 10;
/// Version-control directories, never walked.
const VCS_DIRS: [&str; 4] = [".git", ".hg", ".svn", ".jj"];

/// The tasks of every file under `root` (an absolute path without symlinks or `..`), in no
/// particular order.
pub(super) fn tasks_under(root: &Path) -> Vec<Task> {
    let found = Mutex::new(Vec::new());
    walker(root).build_parallel().visit(&mut Collector {
        root,
        found: &found,
    });
    found.into_inner().unwrap_or_else(PoisonError::into_inner)
}

/// The walker: gitignore rules apply even outside a git repository (a checked-out tarball
/// still means them), hidden files are scanned (`.github/workflows` holds tasks too), but
/// version-control directories are not.
fn walker(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| !VCS_DIRS.iter().any(|dir| entry.file_name() == *dir));
    builder
}

/// Hands each walker thread a [`FileScanner`] that writes into the shared result.
struct Collector<'a> {
    root: &'a Path,
    found: &'a Mutex<Vec<Task>>,
}

impl<'a> ParallelVisitorBuilder<'a> for Collector<'a> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 'a> {
        Box::new(FileScanner {
            root: self.root,
            found: self.found,
            local: Vec::new(),
        })
    }
}

/// Scans the files one walker thread is given. Tasks are kept locally and handed over once,
/// when the thread is done, so threads never contend for the lock per file.
struct FileScanner<'a> {
    root: &'a Path,
    found: &'a Mutex<Vec<Task>>,
    local: Vec<Task>,
}

impl ParallelVisitor for FileScanner<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        // An unreadable entry (permissions, a file deleted mid-walk) is skipped, not fatal:
        // a task list with one file missing beats no task list.
        if let Ok(entry) = entry {
            if entry.file_type().is_some_and(|kind| kind.is_file()) {
                self.local.extend(scan_file(self.root, entry.path()));
            }
        }
        WalkState::Continue
    }
}

impl Drop for FileScanner<'_> {
    fn drop(&mut self) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        found.append(&mut self.local);
    }
}

/// The tasks of one file on disk; none if it cannot be read or is binary or too large.
fn scan_file(root: &Path, path: &Path) -> Vec<Task> {
    let name = relative_name(root, path);
    match read_text(path) {
        // Most files hold no marker at all: a substring check spares lexing them.
        Some(text) if is_tasks_md(&name) || MARKERS.iter().any(|m| text.contains(m)) => {
            tasks_by_line(&name, &text).collect()
        }
        _ => Vec::new(),
    }
}

/// `path` relative to `root` with '/' separators on every platform; the file's own name
/// when `root` is the file itself.
fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let relative = if relative.as_os_str().is_empty() {
        Path::new(path.file_name().unwrap_or(path.as_os_str()))
    } else {
        relative
    };
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file's text, decoded lossily; `None` for unreadable, oversized or binary files.
fn read_text(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    // The file may grow between the size check and the read: never read more than the limit.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    let probe = &bytes[..bytes.len().min(BINARY_PROBE_BYTES)];
    if bytes.len() as u64 > MAX_FILE_BYTES || probe.contains(&0) {
        return None;
    }
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}
