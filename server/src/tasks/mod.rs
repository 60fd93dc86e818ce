//! Finding tasks: TODO-style markers in comments and unchecked items in TASKS.md.
//!
//! A task is a line whose comment starts with `TODO`, `FIXME`, `XXX` or `HACK` (or holds one
//! written as a label, `TODO:` / `TODO(bob)`), or an unchecked `- [ ]` item in a TASKS.md file.
//! Comments are found by a small per-language lexer (`languages::Syntax`) that knows line comments,
//! (possibly nested) block comments spanning lines, and string literals, so that
//! `"// TODO"` in a string is not a task. It is deliberately approximate: it never fails and
//! never needs a parser, and errs towards missing a task rather than inventing one.
//!
//! The parts: [`walk`] (the parallel, .gitignore-aware tree walk), [`languages`] (the comment
//! syntax of each language) and [`lexer`] (finding the tasks in one file's text). The task
//! itself is [`crate::task::Task`].

use std::path::Path;

use anyhow::{ensure, Context};

mod languages;
mod lexer;
mod walk;

pub use crate::task::Task;

use lexer::tasks_by_line;

/// All tasks in one file's text. `file` is used for the language (by extension / file name)
/// and copied into each Task.
pub fn scan_text(file: &str, text: &str) -> Vec<Task> {
    tasks_by_line(file, text).collect()
}

/// The task on 1-based `line`, if that line holds one.
pub fn task_at(file: &str, text: &str, line: usize) -> Option<Task> {
    // Lines before `line` must still be lexed: they may open a block comment or string.
    tasks_by_line(file, text)
        .take_while(|task| task.line <= line)
        .find(|task| task.line == line)
}

/// Every task under `root`, respecting .gitignore / .ignore / git excludes, skipping binary
/// and very large files and never descending into `.git`. Sorted by file then line.
pub fn scan_tree(root: &Path) -> anyhow::Result<Vec<Task>> {
    ensure!(
        root.exists(),
        "no such file or directory: {}",
        root.display()
    );
    // Resolve symlinks and `..` once so that every walked path strips cleanly.
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot read {}", root.display()))?;
    let mut tasks = walk::tasks_under(&root);
    tasks.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(tasks)
}

/// `text` without its comments, read with the comment syntax of `file`'s language: for
/// telling two changes apart by their code only.
pub fn without_comments(file: &str, text: &str) -> String {
    lexer::without_comments(file, text)
}

#[cfg(test)]
mod comment_tests {
    #[test]
    fn without_comments_keeps_code_and_strings_and_drops_comments() {
        assert_eq!(
            super::without_comments(
                "a.rs",
                "let x = 1; // one\n/* a\nblock */ let s = \"// kept\";\n"
            ),
            "let x = 1; \n\n let s = \"// kept\";\n"
        );
        assert_eq!(
            super::without_comments("a.py", "v = 2  # the answer\n"),
            "v = 2  \n"
        );
    }
}
