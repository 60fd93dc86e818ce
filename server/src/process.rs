//! Processes: stopping whole process groups, and every descendant of a supervisor.
//!
//! An agent runs in its own process group, but nothing stops it from starting a daemon that
//! calls `setsid()` (a new session and group) and double-forks away from its parent. The
//! supervisor is therefore a *child subreaper* (`PR_SET_CHILD_SUBREAPER`): orphans anywhere
//! below it are re-parented to it instead of to init, so they stay its descendants, and
//! [`stop_descendants`] finds them through /proc and stops them all.

use crate::error::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Whether any process of the group is still alive.
pub fn group_alive(pgid: i32) -> bool {
    pgid > 0 && unsafe { libc::kill(-pgid, 0) } == 0
}

/// Stop a whole process group: SIGTERM, then SIGKILL if it is still alive after `grace`.
/// Returns once the group is gone (or after a final SIGKILL).
pub fn stop_group(pgid: i32, grace: Duration) {
    if pgid <= 1 {
        return;
    }
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if group_alive(pgid) {
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while group_alive(pgid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Poll `done` every few milliseconds until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(15));
    }
}

/// Make this process the reaper of its orphaned descendants (Linux ≥ 3.4).
pub fn become_subreaper() -> std::io::Result<()> {
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The parent of every process, read from /proc (a process that vanishes mid-read is skipped).
fn parents() -> HashMap<i32, i32> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so read after
        // the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let _state = fields.next();
        if let Some(ppid) = fields.next().and_then(|p| p.parse().ok()) {
            out.insert(pid, ppid);
        }
    }
    out
}

/// Every live descendant of `root` (children, their children, ...), not `root` itself.
pub fn descendants(root: i32) -> Vec<i32> {
    let parents = parents();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&pid, &ppid) in &parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        for &c in children.get(&p).into_iter().flatten() {
            if seen.insert(c) {
                out.push(c);
                stack.push(c);
            }
        }
    }
    out
}

/// Collect exit statuses of any children that have ended (zombies re-parented to us).
/// Only call when no child's status is still wanted by a `wait()` elsewhere.
pub fn reap_children() {
    loop {
        let mut status = 0;
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

/// Stop every descendant of this process: SIGTERM, then after `grace` SIGKILL to whatever is
/// left, until none is left (a process forking while it is being stopped is caught on the next
/// round). Reaps them. Returns how many distinct processes were stopped.
pub fn stop_descendants(grace: Duration) -> usize {
    let me = std::process::id() as i32;
    let mut stopped: HashSet<i32> = HashSet::new();
    let live = |stopped: &mut HashSet<i32>| -> Vec<i32> {
        reap_children();
        let now: Vec<i32> = descendants(me)
            .into_iter()
            .filter(|&p| !is_zombie(p))
            .collect();
        stopped.extend(&now);
        now
    };
    let first = live(&mut stopped);
    if first.is_empty() {
        return 0;
    }
    for &p in &first {
        unsafe { libc::kill(p, libc::SIGTERM) };
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !live(&mut stopped).is_empty() {
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..50 {
        let left = live(&mut stopped);
        if left.is_empty() {
            break;
        }
        for &p in &left {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    reap_children();
    stopped.len()
}

/// Whether the process `pid` is alive (a zombie, dead but not yet reaped, is not).
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0 && !is_zombie(pid)
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(true)
}

/// Stop the given processes: SIGTERM, then SIGKILL to the ones still alive after `grace`;
/// reaps them. Returns how many there were.
pub fn stop_pids(pids: &[i32], grace: Duration) -> usize {
    for &p in pids {
        unsafe { libc::kill(p, libc::SIGTERM) };
    }
    let alive = |p: i32| !is_zombie(p) && unsafe { libc::kill(p, 0) } == 0;
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|&p| alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
        reap_children();
    }
    for &p in pids {
        if alive(p) {
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
    }
    wait_until(Duration::from_secs(2), || {
        reap_children();
        !pids.iter().any(|&p| alive(p))
    });
    pids.len()
}

/// This very binary. If it was replaced on disk since it started (an upgrade, a rebuild),
/// the running image is still reachable through /proc/self/exe.
pub fn own_binary() -> Result<std::path::PathBuf> {
    match std::env::current_exe() {
        Ok(p) if p.exists() => Ok(p),
        _ if std::path::Path::new("/proc/self/exe").exists() => Ok("/proc/self/exe".into()),
        Ok(p) => Err(Error::Invalid(format!(
            "cannot find the fanout binary {}",
            p.display()
        ))),
        Err(e) => Err(Error::Invalid(format!(
            "cannot find the fanout binary: {e}"
        ))),
    }
}
