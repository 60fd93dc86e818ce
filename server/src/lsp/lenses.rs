//! Code lenses: `Try N approaches` on every task line, and one lens per attempt (plus
//! `Accept #n`) on the task a fanout was started from.

use crate::cli::format::duration;
use crate::state::AttemptState;
use crate::status::{AttemptStatus, FanoutStatus, StatusReport};
use crate::tasks::Task;
use serde_json::json;
use tower_lsp_server::ls_types::{CodeLens, Command, Position, Range};

/// Lenses for one document. `file` is its path relative to the repository ('/' separators),
/// used to find the fanouts started from it.
pub fn lenses(
    tasks: &[Task],
    uri: &str,
    file: Option<&str>,
    report: Option<&StatusReport>,
    attempts: usize,
) -> Vec<CodeLens> {
    let mut out = Vec::new();
    let fanouts: Vec<&FanoutStatus> = match (file, report) {
        (Some(file), Some(r)) => r.fanouts.iter().filter(|f| f.task.file == file).collect(),
        _ => Vec::new(),
    };
    for task in tasks {
        let line = (task.line - 1) as u32;
        let range = Range {
            start: Position::new(line, 0),
            end: Position::new(line, 0),
        };
        out.push(lens(
            range,
            format!("Try {attempts} approaches"),
            "fanout.try",
            json!({"uri": uri, "line": line}),
        ));
        for f in fanouts.iter().filter(|f| belongs_to(f, task, tasks)) {
            let mut attempts: Vec<&AttemptStatus> = f.attempts.iter().collect();
            attempts.sort_by_key(|a| a.n);
            for a in attempts {
                let best = if f.best.as_deref() == Some(a.id.as_str()) {
                    "★ "
                } else {
                    ""
                };
                out.push(lens(
                    range,
                    format!("{best}{}", title(a)),
                    "fanout.openDiff",
                    json!({"attempt": a.id}),
                ));
                if a.state.is_finished() && a.has_changes() && a.worktree_present {
                    out.push(lens(
                        range,
                        format!("Accept #{}", a.n),
                        "fanout.accept",
                        json!({"attempt": a.id}),
                    ));
                }
            }
        }
    }
    out
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

/// `#1 claude ⟳ running 1m12s`, `#2 codex ✓ +12 −3`, `#3 gemini ✗ exit 1`.
pub fn title(a: &AttemptStatus) -> String {
    let head = format!("#{} {}", a.n, a.agent);
    let stat = a
        .diffstat
        .filter(|d| d.files > 0)
        .map(|d| format!(" +{} −{}", d.additions, d.deletions))
        .unwrap_or_default();
    match a.state {
        AttemptState::Queued => format!("{head} … queued"),
        AttemptState::Running => format!(
            "{head} ⟳ running {}",
            a.elapsed_secs.map(duration).unwrap_or_default()
        )
        .trim_end()
        .to_string(),
        AttemptState::Succeeded => format!("{head} ✓{stat}"),
        AttemptState::Failed => match a.exit_code {
            Some(code) => format!("{head} ✗ exit {code}{stat}"),
            None => format!("{head} ✗ {}", a.error.as_deref().unwrap_or("failed")),
        },
        AttemptState::Cancelled => format!("{head} ⊘ cancelled{stat}"),
        AttemptState::Interrupted => format!("{head} ! interrupted"),
        AttemptState::Empty => format!("{head} ∅ no changes"),
    }
}

fn lens(range: Range, title: String, command: &str, arg: serde_json::Value) -> CodeLens {
    CodeLens {
        range,
        command: Some(Command {
            title,
            command: command.into(),
            arguments: Some(vec![arg]),
        }),
        data: None,
    }
}
