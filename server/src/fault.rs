//! Crash points, for the tests that kill fanout at every step of a multi-step operation.
//!
//! Operations that change several things (a fork, an accept, a discard) call [`point`] between
//! their steps. Normally that does nothing. With `FANOUT_CRASH_AT=<name>` the process kills
//! itself with SIGKILL the first time it reaches the point of that name; with
//! `FANOUT_CRASH_AT=<name>:<n>` the n-th time; `*` matches any point, so `*:7` dies at the
//! seventh point reached whatever its name, which lets a test walk every step in order without
//! knowing their names. `FANOUT_CRASH_LOG=<file>` appends the name of every point reached, one
//! per line, so a test can learn how many there are.
//!
//! SIGKILL, not a panic or an exit: nothing runs after it (no destructor, no cleanup), exactly
//! like `kill -9` from outside.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

struct Spec {
    name: String,
    nth: usize,
}

fn spec() -> &'static Option<Spec> {
    static SPEC: OnceLock<Option<Spec>> = OnceLock::new();
    SPEC.get_or_init(|| {
        let raw = std::env::var("FANOUT_CRASH_AT").ok()?;
        let (name, nth) = match raw.rsplit_once(':') {
            Some((name, n)) => (name.to_string(), n.parse().ok()?),
            None => (raw, 1),
        };
        Some(Spec { name, nth })
    })
}

/// A step boundary named `name` (e.g. `"fork.branches-created"`).
pub fn point(name: &str) {
    if let Ok(log) = std::env::var("FANOUT_CRASH_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{name}");
        }
    }
    let Some(spec) = spec() else {
        return;
    };
    if spec.name != "*" && spec.name != name {
        return;
    }
    static HITS: AtomicUsize = AtomicUsize::new(0);
    if HITS.fetch_add(1, Ordering::SeqCst) + 1 == spec.nth {
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

/// The variables that arm crash points, which child processes (supervisors, agents) must
/// not inherit: a test that kills `fanout try` at a step means that process, not its children.
pub const VARIABLES: [&str; 2] = ["FANOUT_CRASH_AT", "FANOUT_CRASH_LOG"];
