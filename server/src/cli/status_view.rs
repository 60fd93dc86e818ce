//! `fanout status`: the table, and `--watch`'s live redraw.

use crate::labels::{bytes, duration, state_icon};
use crate::status::{FanoutStatus, StatusReport};
use crate::text::{escape_line, quote_path_str};
use std::fmt::Write;

pub fn render(report: &StatusReport, color: bool) -> String {
    let mut out = String::new();
    let pool = pool_line(report);
    if report.fanouts.is_empty() && report.abandoned.is_empty() {
        return format!(
            "no fanouts in this repository (start one with `fanout try --file F --line L`)\n{pool}"
        );
    }
    // Grouped by task list: each run's items with their state, then their fanouts and the
    // integration's; then the fanouts of single tasks.
    let mut shown = std::collections::HashSet::new();
    for b in &report.batches {
        let _ = writeln!(
            out,
            "task list {} (run {}): {}",
            quote_path_str(&b.file),
            b.id,
            escape_line(&b.summary)
        );
        for i in &b.items {
            let _ = writeln!(
                out,
                "  {}. {}  {}{}",
                i.number,
                escape_line(&i.title),
                i.label,
                i.fanout
                    .as_deref()
                    .map(|f| format!("  (fanout {f})"))
                    .unwrap_or_default()
            );
        }
        if let Some(int) = &b.integration {
            let _ = writeln!(
                out,
                "  integration {}: {} of {} merged, branch {}, {}",
                int.attempt,
                int.merged,
                b.items.len(),
                int.branch,
                escape_line(&int.worktree.display().to_string())
            );
        }
        let mine: Vec<&str> = b
            .items
            .iter()
            .filter_map(|i| i.fanout.as_deref())
            .chain(b.integration.as_ref().map(|i| i.fanout.as_str()))
            .collect();
        for f in report
            .fanouts
            .iter()
            .filter(|f| mine.contains(&f.id.as_str()))
        {
            shown.insert(f.id.clone());
            render_fanout(&mut out, f, color);
        }
    }
    for f in report.fanouts.iter().filter(|f| !shown.contains(&f.id)) {
        render_fanout(&mut out, f, color);
    }
    for a in &report.abandoned {
        let left = if a.left.is_empty() {
            "nothing".to_string()
        } else {
            a.left
                .iter()
                .map(|l| escape_line(l).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line = format!(
            "fanout {}  ! its `fanout try` was killed before it finished; left: {left}; `fanout gc` removes it",
            a.id
        );
        let _ = writeln!(out, "{}", if color { paint(&line, "31") } else { line });
    }
    out.push_str(&pool);
    out
}

/// `pool: 3 warm worktrees, 1.2 GB` (nothing when the pool is empty).
fn pool_line(report: &StatusReport) -> String {
    match report.pool.worktrees {
        0 => String::new(),
        n => format!(
            "pool: {n} warm worktree{}, {}\n",
            if n == 1 { "" } else { "s" },
            bytes(report.pool.bytes)
        ),
    }
}

fn render_fanout(out: &mut String, f: &FanoutStatus, color: bool) {
    let done = f.attempts.iter().filter(|a| a.state.is_finished()).count();
    let total = f.attempts.len();
    let used = crate::labels::usage_label(f.tokens, f.cost_usd);
    let _ = writeln!(
        out,
        "fanout {}  {}  ({}:{})  {} {done}/{total} done{}",
        f.id,
        escape_line(&f.task.label()),
        quote_path_str(&f.task.file),
        f.task.line,
        bar(done, total, 12),
        if used.is_empty() {
            String::new()
        } else {
            format!("  {used}")
        }
    );
    if let Some(r) = &f.review {
        let how = match (&r.error, &f.verdict) {
            (Some(e), _) => format!(" ({})", escape_line(e)),
            (None, Some(v)) => format!(" (best #{})", v.verdict.best),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  review by {}: {} {}{how}",
            escape_line(&r.agent),
            state_icon(r.state),
            r.state.as_str()
        );
    }
    // While attempts run, rows stay in attempt order (a live view whose rows swap places as
    // attempts finish is hard to follow); once all are done, they are in rank order.
    let mut rows: Vec<&crate::status::AttemptStatus> = f.attempts.iter().collect();
    if done < total {
        rows.sort_by_key(|a| a.n);
    }
    for a in rows {
        let best = if f.best.as_deref() == Some(a.id.as_str()) {
            "★"
        } else {
            " "
        };
        let mut line = format!(
            "  {best} #{:<2} {:<10} {:<12} {} {:<12}",
            a.n,
            a.id,
            escape_line(&crate::labels::shorten(&a.agent_label(), 12)),
            state_icon(a.state),
            a.state.as_str()
        );
        let _ = write!(
            line,
            " {:>7}",
            a.elapsed_secs.map(duration).unwrap_or_default()
        );
        if let Some(code) = a.exit_code {
            let _ = write!(line, "  exit {code}");
        }
        if let Some(p) = a.queue_position {
            let _ = write!(line, "  {}", crate::labels::queue_place(p));
        }
        if let Some(phase) = a.phase.filter(|p| *p != crate::state::Phase::Agent) {
            let _ = write!(
                line,
                "  ({})",
                serde_json::to_value(phase)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default()
            );
        }
        if let Some(v) = &a.verify {
            let _ = write!(line, "  {}", crate::labels::verify_label(v));
        }
        if let Some(d) = a.diffstat {
            let _ = write!(
                line,
                "  {} file{} +{} −{}",
                d.files,
                if d.files == 1 { "" } else { "s" },
                d.additions,
                d.deletions
            );
        }
        if let Some(at) = a.accepted_at {
            let _ = write!(line, "  accepted {}", crate::labels::clock(at));
        }
        if let Some(b) = a.disk_bytes {
            let _ = write!(line, "  {}", bytes(b));
        }
        if a.worktree_present {
            let _ = write!(line, "  {}", escape_line(&a.worktree.display().to_string()));
        }
        if let Some(n) = a.same_as {
            let _ = write!(line, "  same as #{n}");
        }
        if let Some(e) = &a.error {
            let _ = write!(line, "  ({})", escape_line(e));
        }
        if let Some(from) = &a.synthesis_of {
            let from: Vec<String> = from.iter().map(|n| format!("#{n}")).collect();
            let _ = write!(line, "\n        synthesis of {}", from.join(", "));
        }
        match (a.judge_rank, &a.judge_summary) {
            (Some(1), Some(s)) => {
                let _ = write!(line, "\n        ★ judge: {}", escape_line(s));
            }
            (Some(r), Some(s)) => {
                let _ = write!(line, "\n        judge #{r}: {}", escape_line(s));
            }
            _ => {}
        }
        if let Some(act) = a.doing() {
            let _ = write!(line, "\n        {}", escape_line(&act));
        }
        let line = if color {
            colorize(&line, a.state)
        } else {
            line
        };
        let _ = writeln!(out, "{}", line.trim_end());
        // What must not be missed: changes the run made outside its attempt.
        for c in &a.outside_changes {
            let warn = format!(
                "        ⚠ outside the attempt while it ran: {}",
                escape_line(&c.message)
            );
            let _ = writeln!(out, "{}", if color { paint(&warn, "1;31") } else { warn });
        }
        for n in &a.notes {
            let _ = writeln!(out, "        note: {}", escape_line(n));
        }
        if a.stopped_processes > 0 {
            let _ = writeln!(
                out,
                "        stopped {} process(es) it left running",
                a.stopped_processes
            );
        }
        match a.discard {
            Some(crate::state::DiscardState::Interrupted) => {
                let _ = writeln!(
                    out,
                    "        ! its discard was interrupted: run `fanout discard {}` again or `fanout gc`",
                    a.id
                );
            }
            Some(crate::state::DiscardState::InProgress) => {
                let _ = writeln!(out, "        being discarded");
            }
            None => {}
        }
    }
}

fn paint(line: &str, code: &str) -> String {
    format!("\x1b[{code}m{line}\x1b[0m")
}

fn colorize(line: &str, s: crate::state::AttemptState) -> String {
    use crate::state::AttemptState::*;
    let code = match s {
        Succeeded => "32",
        Failed | Interrupted => "31",
        Running | Queued => "33",
        _ => "2",
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!("[{}{}]", "█".repeat(filled), "░".repeat(width - filled))
}

/// Cut each line to `width` visible columns (colour codes do not count), so that every line
/// takes one terminal row and a redraw can move up over exactly as many rows.
pub fn fit_to_width(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut visible = 0;
        let mut chars = line.chars().peekable();
        let mut cut = false;
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // An escape sequence: copy it through its final letter.
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
                continue;
            }
            if visible + 1 >= width {
                cut = true;
                break;
            }
            out.push(c);
            visible += 1;
        }
        if cut {
            out.push_str("…\x1b[0m");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fits_lines_to_the_width_ignoring_colour() {
        let text = "\x1b[32mabcdefgh\x1b[0m\nshort\n";
        assert_eq!(
            super::fit_to_width(text, 6),
            "\x1b[32mabcde…\x1b[0m\nshort\n"
        );
    }
}
