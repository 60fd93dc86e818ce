//! `fanout compare`: a fanout's attempts as columns, its files and figures as rows.

use crate::compare::Comparison;
use crate::labels::{duration, usage_label};
use crate::text::{escape_line, quote_path};
use std::fmt::Write;

/// Columns are at least this wide; wider when a heading needs it.
const MIN_COLUMN: usize = 12;

pub fn render(c: &Comparison) -> String {
    let f = &c.fanout;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "fanout {}  {}  ({}:{})",
        f.id,
        escape_line(&f.task.label()),
        crate::text::quote_path_str(&f.task.file),
        f.task.line
    );
    let heads: Vec<String> = f
        .attempts
        .iter()
        .map(|a| {
            let star = if f.best.as_deref() == Some(a.id.as_str()) {
                "★ "
            } else {
                ""
            };
            format!("{star}#{} {}", a.n, escape_line(&a.agent_label()))
        })
        .collect();
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let per = |cell: &dyn Fn(&crate::status::AttemptStatus) -> Option<String>| {
        f.attempts
            .iter()
            .map(|a| cell(a).unwrap_or_else(|| "-".into()))
            .collect::<Vec<_>>()
    };
    rows.push((
        "state".into(),
        per(&|a| Some(format!("{} {}", a.icon, a.state.as_str()))),
    ));
    rows.push((
        "verify".into(),
        per(&|a| {
            a.verify.as_ref().map(|v| {
                if v.passed {
                    "✓ passed".into()
                } else {
                    "✗ failed".into()
                }
            })
        }),
    ));
    rows.push(("exit".into(), per(&|a| a.exit_code.map(|c| c.to_string()))));
    rows.push((
        "size".into(),
        per(&|a| {
            a.diffstat
                .filter(|d| d.files > 0)
                .map(|d| format!("+{} −{}", d.additions, d.deletions))
        }),
    ));
    rows.push(("time".into(), per(&|a| a.elapsed_secs.map(duration))));
    rows.push((
        "tokens".into(),
        per(&|a| {
            a.activity
                .as_ref()
                .and_then(|x| x.tokens)
                .map(|t| usage_label(Some(t), None))
        }),
    ));
    rows.push((
        "cost".into(),
        per(&|a| {
            a.activity
                .as_ref()
                .and_then(|x| x.cost_usd)
                .map(|c| usage_label(None, Some(c)))
        }),
    ));
    for file in &c.files {
        let cells = file
            .cells
            .iter()
            .map(|cell| match cell {
                Some(x) => format!("+{} −{}", x.additions, x.deletions),
                None => String::new(),
            })
            .collect();
        rows.push((quote_path(&file.path).into_owned(), cells));
    }
    let first = rows
        .iter()
        .map(|(name, _)| name.chars().count())
        .max()
        .unwrap_or(0)
        .max(6)
        + 2;
    let width = heads
        .iter()
        .map(|h| h.chars().count() + 2)
        .max()
        .unwrap_or(0)
        .max(MIN_COLUMN);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut line = pad("", first);
    for h in &heads {
        line.push_str(&pad(h, width));
    }
    let _ = writeln!(out, "{}", line.trim_end());
    for (name, cells) in &rows {
        let mut line = pad(name, first);
        for cell in cells {
            line.push_str(&pad(cell, width));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    if !c.overlaps.is_empty() {
        let _ = writeln!(out, "touching the same lines:");
        for o in &c.overlaps {
            let lines = if o.lines.0 == o.lines.1 {
                format!("line {}", o.lines.0)
            } else {
                format!("lines {}-{}", o.lines.0, o.lines.1)
            };
            let _ = writeln!(
                out,
                "  #{} and #{}: {} {lines}",
                o.attempts.0,
                o.attempts.1,
                quote_path(&o.path)
            );
        }
    }
    if !c.clusters.is_empty() {
        let _ = writeln!(out, "the same change:");
        for k in &c.clusters {
            let members: Vec<String> = k.attempts.iter().map(|n| format!("#{n}")).collect();
            let how = if k.identical {
                "identical"
            } else {
                "the same but for whitespace and comments"
            };
            let _ = writeln!(out, "  {} ({how})", members.join(" "));
        }
    }
    out
}
