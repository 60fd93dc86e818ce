//! The prompts agents get: the first one of a fork ([`build`]) and a follow-up of
//! `continue` ([`follow_up`]).

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

/// The prompt of a follow-up run (`continue`): the user's `prompt` (already trimmed, not
/// empty), introduced by the task the attempt worked on.
pub fn follow_up(task: &Task, prompt: &str) -> String {
    format!(
        "Follow-up on your earlier work in this worktree on: {}\n\n{prompt}\n",
        task.label()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> Task {
        Task {
            file: "src/parse.rs".into(),
            line: 3,
            marker: "TODO".into(),
            text: "handle empty input".into(),
        }
    }

    #[test]
    fn a_follow_up_names_the_task_then_gives_the_request() {
        assert_eq!(
            follow_up(&task(), "also handle tabs"),
            "Follow-up on your earlier work in this worktree on: TODO: handle empty input\n\n\
             also handle tabs\n"
        );
    }

    #[test]
    fn the_first_prompt_shows_the_task_line_marked() {
        let text = "fn parse() {\n    let x = 1;\n    // TODO: handle empty input\n}\n";
        let prompt = build(&task(), text, None, Some("Run the tests."));
        assert!(
            prompt.starts_with("Task: TODO: handle empty input\n"),
            "{prompt}"
        );
        assert!(
            prompt.contains(">3 |     // TODO: handle empty input\n"),
            "{prompt}"
        );
        assert!(prompt.ends_with("\nRun the tests.\n"), "{prompt}");
    }
}
