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
         changes are collected when you finish.",
    );
    if task.marker != crate::task::CHECKBOX {
        out.push_str(" Remove the task's TODO comment if you complete it.\n");
    } else {
        out.push_str(&format!(
            "\nThis task is one item of the task list {}: other agents work on its other items at \
             the same time. Do not edit {}: fanout checks the item's box when your work is accepted.\n",
            task.file, task.file
        ));
    }
    if let Some(extra) = extra.filter(|e| !e.trim().is_empty()) {
        out.push_str(&format!("\n{}\n", extra.trim()));
    }
    out
}

/// The prompt of a plan's lead (`fanout plan`): break `goal` into the task list `file`
/// (`existing` is its text, if it exists), in the format `tasklist` reads.
pub fn plan(goal: &str, file: &str, existing: Option<&str>, extra: Option<&str>) -> String {
    let mut out = format!(
        "Goal: {goal}\n\nYou are the lead of a team of coding agents. Do not implement the goal. \
         Break it into tasks that separate agents can implement in parallel, each in its own copy \
         of this repository, and write them to the task list {file}, the only file you change.\n\n"
    );
    match existing {
        Some(text) if !text.trim().is_empty() => {
            out.push_str(&format!(
                "{file} exists; extend it, keeping what it holds. Its text now:\n\n{}\n\n",
                text.trim_end()
            ));
        }
        _ => out.push_str(&format!("{file} does not exist yet: create it.\n\n")),
    }
    out.push_str(
        "Read the code first. Then write one unchecked Markdown item per task, in this format:\n\n\
         ## <the goal, short>\n\n\
         - [ ] <title: what to build, a few words>\n\
         \x20 Done when: <acceptance criteria: what must work, which tests pass>\n\
         \x20 Touches: <the files it creates or changes, and the interfaces it provides or uses>\n\
         \x20 after: <titles of the items it needs first, comma-separated; leave the line out if none>\n\n\
         Rules: tasks should touch different files where possible, so their results merge \
         cleanly; name the interfaces (types, function signatures) that tasks share, so each \
         can be built against them; use `after:` only where a task really needs another's code; \
         keep each task small enough for one agent to finish. Do not commit.\n",
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

/// One attempt as a judge sees it.
pub struct Candidate {
    pub n: usize,
    pub agent: String,
    pub exit_code: Option<i32>,
    pub verify: Option<crate::state::VerifyResult>,
    /// Its change against the fork's snapshot, hunks marked (`@@ ... hunk ID`).
    pub diff: String,
}

/// `text` cut to at most `budget` characters at a line end, with the cut said.
fn cut_to(text: &str, budget: usize) -> String {
    if text.chars().count() <= budget {
        return text.to_string();
    }
    let total = text.lines().count();
    let mut out = String::new();
    let mut shown = 0;
    for line in text.split_inclusive('\n') {
        if out.chars().count() + line.chars().count() > budget {
            break;
        }
        out.push_str(line);
        shown += 1;
    }
    out.push_str(&format!(
        "[diff cut to fit: {shown} of its {total} lines shown; read the attempt's files for the rest]\n"
    ));
    out
}

/// Every candidate with its agent, exit, verify result and diff, each diff cut to its share
/// of `budget` characters.
fn candidates_section(candidates: &[Candidate], budget: usize) -> String {
    let mut out = String::new();
    let share = budget / candidates.len().max(1);
    for c in candidates {
        let verify = match &c.verify {
            Some(v) if v.passed => "passed".to_string(),
            Some(v) => format!(
                "FAILED (exit {}); its last lines:\n{}",
                v.exit_code
                    .map(|x| x.to_string())
                    .unwrap_or_else(|| "?".into()),
                v.tail.join("\n")
            ),
            None => "not run (no verify command)".to_string(),
        };
        let exit = c
            .exit_code
            .map(|x| x.to_string())
            .unwrap_or_else(|| "?".into());
        out.push_str(&format!(
            "\n## Candidate #{} (agent {}, exit {exit})\n\nVerify: {verify}\n\n```diff\n{}```\n",
            c.n,
            c.agent,
            cut_to(&c.diff, share)
        ));
    }
    out
}

/// The prompt of a synthesis: the task, every attempt's change and verify result, the
/// judge's verdict when there is one (as text), and the request to combine the best ideas.
pub fn synthesis(
    task: &Task,
    original: &str,
    candidates: &[Candidate],
    verdict: Option<&str>,
    budget: usize,
) -> String {
    let mut out = format!(
        "Task: {} ({}:{})\n\n{} coding agents have each made an attempt at this task, \
         independently, from the code in this folder (as it was before any of them). Write \
         one change that combines the best ideas of their attempts: keep what is correct and \
         useful in each, leave out what is wrong or needless, and make it work as a whole. \
         You are in an isolated git worktree; edit the files directly, do not commit.\n\n\
         Each attempt was given this prompt:\n\n{}\n",
        task.label(),
        task.file,
        task.line,
        candidates.len(),
        original.trim_end()
    );
    out.push_str(&candidates_section(candidates, budget));
    if let Some(v) = verdict {
        out.push_str(&format!("\n## A reviewer's verdict\n\n{v}"));
    }
    out
}

/// The judge's prompt: listwise, every candidate together, each diff cut to its share of
/// `budget` characters, with verify results and the verdict's schema and file.
pub fn review(
    task: &Task,
    original: &str,
    candidates: &[Candidate],
    verdict_file: &str,
    budget: usize,
) -> String {
    let numbers: Vec<String> = candidates.iter().map(|c| c.n.to_string()).collect();
    let mut out = format!(
        "You are reviewing {} candidate changes for one task, made independently by coding \
         agents from the same starting code: the repository in this folder, as it was before \
         any of them. Compare them with each other and rank them as a list, best first: \
         correctness first, then whether they do what the task asks and nothing else, tests, \
         clarity and size. You may read and run the code here, but your edits are thrown away.\n\n\
         Task: {} ({}:{})\n\nEach candidate was given this prompt:\n\n{}\n",
        candidates.len(),
        task.label(),
        task.file,
        task.line,
        original.trim_end()
    );
    out.push_str(&candidates_section(candidates, budget));
    out.push_str(&format!(
        "\n## Your verdict\n\nWrite it as JSON to the file {verdict_file} (its path is also in \
         the environment variable FANOUT_VERDICT_FILE), exactly in this shape:\n\n\
         {{\"ranking\": [{list}], \"best\": {first},\n \
         \"attempts\": [{{\"attempt\": {first}, \"summary\": \"one line\", \"strengths\": [\"...\"], \"risks\": [\"...\"]}}],\n \
         \"combine\": [{{\"attempt\": {first}, \"hunk\": \"HUNK ID\", \"why\": \"...\"}}]}}\n\n\
         `ranking` holds every candidate number ({list}) once, best first; `best` is its first; \
         `attempts` has one entry per candidate. `combine` is optional: hunks (the ids after \
         `hunk` on the diffs' @@ lines) from several candidates that together beat any one of \
         them. Write nothing else to that file.\n",
        list = numbers.join(", "),
        first = numbers.first().map(String::as_str).unwrap_or("1"),
    ));
    out
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
    fn a_review_prompt_holds_every_candidate_and_says_where_it_cuts() {
        let candidate = |n: usize, diff: String| Candidate {
            n,
            agent: "fake".into(),
            exit_code: Some(0),
            verify: None,
            diff,
        };
        let long: String = (0..500).map(|i| format!("+line {i}\n")).collect();
        let prompt = review(
            &task(),
            "Task: TODO: handle empty input",
            &[candidate(1, "+short\n".into()), candidate(2, long)],
            "/w/.fanout-verdict.json",
            2_000,
        );
        assert!(
            prompt.contains("## Candidate #1 (agent fake, exit 0)"),
            "{prompt}"
        );
        assert!(prompt.contains("+short\n"), "{prompt}");
        assert!(
            prompt.contains("+line 0\n") && !prompt.contains("+line 499"),
            "{prompt}"
        );
        assert!(prompt.contains("of its 500 lines shown"), "{prompt}");
        assert!(prompt.contains("/w/.fanout-verdict.json"), "{prompt}");
        assert!(prompt.contains("\"ranking\": [1, 2]"), "{prompt}");
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
