//! Identifiers: fanout ids, attempt ids, branch slugs.

use std::time::{SystemTime, UNIX_EPOCH};

/// A short, practically unique fanout id (6 hex digits), mixed from time, pid and a
/// counter so two `fanout try` started in the same instant still differ.
pub fn new_fanout_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut x = nanos
        ^ ((std::process::id() as u64) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser: spreads the bits so nearby inputs give unrelated ids.
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    format!("{:06x}", x & 0xFF_FFFF)
}

pub fn attempt_id(fanout: &str, n: usize) -> String {
    format!("{fanout}-{n}")
}

/// Split an attempt id into its fanout id and number.
pub fn parse_attempt_id(id: &str) -> Option<(&str, usize)> {
    let (f, n) = id.rsplit_once('-')?;
    Some((f, n.parse().ok()?))
}

/// A branch-safe slug of the task text: lowercase ASCII words joined by '-', at most 40 chars.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if out.len() + word.len() + 1 > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    if out.is_empty() {
        out.push_str("task");
    }
    out
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_branch_safe() {
        assert_eq!(slug("Handle empty input!"), "handle-empty-input");
        assert_eq!(
            slug("$(touch /tmp/pwned); rm -rf ~"),
            "touch-tmp-pwned-rm-rf"
        );
        assert_eq!(slug("日本語"), "task");
    }

    #[test]
    fn ids_differ_and_parse() {
        let a = new_fanout_id();
        let b = new_fanout_id();
        assert_ne!(a, b);
        assert_eq!(parse_attempt_id(&attempt_id(&a, 3)), Some((a.as_str(), 3)));
    }
}
