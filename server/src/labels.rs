//! Short human-readable labels (durations, sizes, states, verify and activity) shared by the
//! CLI's views and the language server's lens titles.

use crate::state::AttemptState;

/// 72 → "1m12s", 3700 → "1h01m", 9 → "9s".
pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// A moment (seconds since the epoch) on the local clock: "14:02" today, "Dec 03 14:02"
/// another day.
pub fn clock(at: u64) -> String {
    let local = |secs: u64| -> Option<libc::tm> {
        let t = libc::time_t::try_from(secs).ok()?;
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        (!unsafe { libc::localtime_r(&t, &mut tm) }.is_null()).then_some(tm)
    };
    let Some(tm) = local(at) else {
        return at.to_string();
    };
    let today = local(crate::ids::now_secs())
        .is_some_and(|now| (now.tm_year, now.tm_yday) == (tm.tm_year, tm.tm_yday));
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let time = format!("{:02}:{:02}", tm.tm_hour, tm.tm_min);
    if today {
        time
    } else {
        let month = MONTHS[tm.tm_mon.clamp(0, 11) as usize];
        format!("{month} {:02} {time}", tm.tm_mday)
    }
}

/// 10485760 → "10.0 MB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

pub fn state_icon(s: AttemptState) -> &'static str {
    match s {
        AttemptState::Queued => "…",
        AttemptState::Running => "⟳",
        AttemptState::Succeeded => "✓",
        AttemptState::Failed => "✗",
        AttemptState::Cancelled => "⊘",
        AttemptState::Interrupted => "!",
        AttemptState::Empty => "∅",
    }
}

/// "tests" when verify passed, "tests ✗" when it failed.
pub fn verify_label(v: &crate::state::VerifyResult) -> &'static str {
    if v.passed {
        "tests"
    } else {
        "tests ✗"
    }
}

/// "editing src/lib.rs · 12.3k tokens · $0.04": what the agent does now and what it cost.
pub fn activity_label(a: &crate::activity::Activity) -> String {
    let mut parts = Vec::new();
    if let Some(last) = &a.last {
        parts.push(last.clone());
    }
    let used = usage_label(a.tokens, a.cost_usd);
    if !used.is_empty() {
        parts.push(used);
    }
    parts.join(" · ")
}

/// "12.3k tokens · $0.04", "812 tokens", "" when nothing is known.
pub fn usage_label(tokens: Option<u64>, cost_usd: Option<f64>) -> String {
    let mut parts = Vec::new();
    if let Some(t) = tokens {
        parts.push(if t >= 1000 {
            format!("{:.1}k tokens", t as f64 / 1000.0)
        } else {
            format!("{t} tokens")
        });
    }
    if let Some(c) = cost_usd {
        parts.push(format!("${c:.2}"));
    }
    parts.join(" · ")
}

/// `text::shorten`, under the name the front ends still use; the engine calls `text::shorten`.
pub use crate::text::shorten;

/// A queued attempt's place in the run queue: `next to start`, `3 in line`.
pub fn queue_place(position: usize) -> String {
    if position <= 1 {
        "next to start".into()
    } else {
        format!("{position} in line")
    }
}
