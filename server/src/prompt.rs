//! The prompt each agent gets.

use crate::task::Task;

/// Lines of code shown on each side of the task line.
const CONTEXT_LINES: usize = 12;

/// Build the prompt: what to do, where, the code around it, and that the work happens in an
/// isolated worktree. `instead` (the user's `--prompt`) replaces the task text; `extra`
/// (config `prompt`) is appended.
pub fn build(task: &Task, file_text: &str, instead: Option<&str>, extra: Option<&str>) -> String {
    let what = match instead {
        Some(p) if !p.trim().is_empty() => p.trim().to_string(),
        _ => task.label(),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Task: {what}\n\nThe task is at {}:{} in this repository.\n",
        task.file, task.line
    ));
    let lines: Vec<&str> = file_text.lines().collect();
    if !lines.is_empty() && task.line >= 1 {
        let from = task.line.saturating_sub(CONTEXT_LINES + 1);
        let to = (task.line + CONTEXT_LINES).min(lines.len());
        let width = to.to_string().len();
        out.push_str(&format!(
            "\nThe code around it ({}, lines {}-{}):\n\n",
            task.file,
            from + 1,
            to
        ));
        for (i, line) in lines[from..to].iter().enumerate() {
            let n = from + i + 1;
            let mark = if n == task.line { ">" } else { " " };
            out.push_str(&format!("{mark}{n:>width$} | {line}\n"));
        }
    }
    out.push_str(
        "\nYou are working in an isolated git worktree: a private copy of the repository made \
         for this attempt. Edit the files directly to complete the task; other attempts work on \
         the same task in parallel elsewhere. Do not commit, push or switch branches: your \
         changes are collected when you finish. Remove the task's TODO comment if you complete it.\n",
    );
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        out.push_str(&format!("\n{}\n", extra.trim()));
    }
    out
}
