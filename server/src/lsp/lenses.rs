//! Code lenses: `Try N approaches` on every task line, and one lens per attempt (plus
//! `Accept #n`) on the task a fanout was started from.

use crate::labels::{duration, verify_label};
use crate::state::{AttemptState, Phase};
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

/// How much of the agent's activity a lens shows: titles stay one glance long.
const LENS_ACTIVITY_CHARS: usize = 48;

/// `#1 claude ⟳ running 1m12s · editing src/lib.rs`, `#2 codex ✓ tests +12 −3`,
/// `#3 gemini ✗ exit 1`, `#4 claude ✓ +12 −3 (same as #2)`.
pub fn title(a: &AttemptStatus) -> String {
    let head = format!("#{} {}", a.n, a.agent_label());
    let stat = a
        .diffstat
        .filter(|d| d.files > 0)
        .map(|d| format!(" +{} −{}", d.additions, d.deletions))
        .unwrap_or_default();
    let tests = a
        .verify
        .as_ref()
        .map(|v| format!(" {}", verify_label(v)))
        .unwrap_or_default();
    let same = a
        .same_as
        .map(|n| format!(" (same as #{n})"))
        .unwrap_or_default();
    let elapsed = a.elapsed_secs.map(duration).unwrap_or_default();
    let doing = a
        .doing()
        .map(|s| crate::labels::shorten(&s, LENS_ACTIVITY_CHARS))
        .filter(|s| !s.is_empty())
        .map(|s| format!(" · {s}"))
        .unwrap_or_default();
    let warn = if a.outside_changes.is_empty() {
        ""
    } else {
        "⚠ "
    };
    let t = match a.state {
        AttemptState::Queued => format!("{head} … queued"),
        AttemptState::Running => match a.phase {
            Some(Phase::Setup) => format!("{head} ⟳ setup {elapsed}"),
            Some(Phase::Verify) => format!("{head} ⟳ testing {elapsed}"),
            _ => format!("{head} ⟳ running {elapsed}{doing}"),
        },
        AttemptState::Succeeded => format!("{head} ✓{tests}{stat}{same}"),
        AttemptState::Failed => match (a.exit_code, &a.error) {
            (_, Some(e)) if e.starts_with("setup failed") => format!("{head} ✗ setup failed"),
            (Some(code), _) => format!("{head} ✗ exit {code}{stat}"),
            (None, e) => format!("{head} ✗ {}", e.as_deref().unwrap_or("failed")),
        },
        AttemptState::Cancelled => format!("{head} ⊘ cancelled{stat}"),
        AttemptState::Interrupted => format!("{head} ! interrupted"),
        AttemptState::Empty => format!("{head} ∅ no changes"),
    };
    crate::text::escape_line(&format!("{warn}{}", t.trim_end())).into_owned()
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
