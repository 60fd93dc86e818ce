//! The run queue: `max_running` caps the agents alive at once in a repository, whatever the
//! number of fanouts; the others wait as `queued` with a position; cancelling a queued attempt
//! just removes it; a supervisor killed with -9 keeps its slot until its orphaned agent ends.

use crate::common::cli::wait_for;
use crate::common::TestEnv;
use serde_json::Value;
use std::time::Duration;

/// A repository whose config caps running agents at `max`.
pub fn capped_repo(max: usize, files: &[(&str, &str)]) -> TestEnv {
    let env = TestEnv::named("proj", files);
    let path = env.base().join("config/fanout/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("max_running = 16"));
    std::fs::write(
        &path,
        text.replace("max_running = 16", &format!("max_running = {max}")),
    )
    .unwrap();
    env
}

/// The test's `gated` agents alive now, counted from /proc (their environment names this
/// test's release files): processes, not what any record says. Counted by attempt: one
/// agent may be several processes for a moment (a `python3` shim that execs the real one).
pub fn live_agents(env: &TestEnv) -> usize {
    let mut attempts: Vec<String> = agents_alive(env).into_iter().map(|(_, a)| a).collect();
    attempts.sort();
    attempts.dedup();
    attempts.len()
}

/// The `gated` agents' processes alive now: (pid, its attempt), for messages.
pub fn agents_alive(env: &TestEnv) -> Vec<(String, String)> {
    let needle = format!("FAKE_AGENT_WAIT={}/release-", env.base().display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        let is_python = std::fs::read(entry.path().join("cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains("fake-agent"))
            .unwrap_or(false);
        if is_python
            && environ
                .split(|b| *b == 0)
                .any(|v| v.starts_with(needle.as_bytes()))
        {
            let attempt = environ
                .split(|b| *b == 0)
                .find_map(|v| v.strip_prefix(b"FANOUT_ATTEMPT="))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            found.push((name.to_string_lossy().into_owned(), attempt));
        }
    }
    found
}

fn attempts(status: &Value) -> Vec<Value> {
    status["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["attempts"].as_array().unwrap().clone())
        .collect()
}

fn in_state(status: &Value, state: &str) -> Vec<Value> {
    attempts(status)
        .into_iter()
        .filter(|a| a["state"] == state)
        .collect()
}

#[test]
fn max_running_caps_the_agents_alive_across_fanouts() {
    let env = capped_repo(2, &[("a.py", "# TODO: one\n"), ("b.py", "# TODO: two\n")]);
    let (_, first) = env.try_task("a.py", 1, &["-n", "3", "--agent", "gated"]);
    let (_, second) = env.try_task("b.py", 1, &["-n", "1", "--agent", "gated"]);
    assert_eq!(first.len() + second.len(), 4);

    // Two run, two wait in line with positions 1 and 2.
    let s = env.wait_status("2 running and 2 queued", |s| {
        let running = in_state(s, "running")
            .iter()
            .filter(|a| a["phase"] == "agent")
            .count();
        let queued = in_state(s, "queued");
        let mut positions: Vec<u64> = queued
            .iter()
            .filter_map(|a| a["queue_position"].as_u64())
            .collect();
        positions.sort();
        running == 2 && positions == [1, 2]
    });
    assert_eq!(
        live_agents(&env),
        2,
        "the cap counts processes alive: {:?} while the status says {:#}",
        agents_alive(&env),
        env.status()
    );
    let queued = in_state(&s, "queued");
    let next = queued.iter().find(|a| a["queue_position"] == 1).unwrap();
    let last = queued.iter().find(|a| a["queue_position"] == 2).unwrap();
    assert!(
        next["title"]
            .as_str()
            .unwrap()
            .contains("queued, next to start"),
        "{next:#}"
    );
    assert!(
        last["title"]
            .as_str()
            .unwrap()
            .contains("queued, 2 in line"),
        "{last:#}"
    );
    let text = env.ok(&["status"]);
    assert!(text.contains("next to start"), "{text}");

    // Cancelling a queued attempt just removes it: it ran nothing, its worktree is gone, and
    // the one behind moves up.
    let last_id = last["id"].as_str().unwrap().to_string();
    let next_id = next["id"].as_str().unwrap().to_string();
    env.ok(&["cancel", &last_id]);
    let a = env.attempt(&last_id);
    assert_eq!(a["state"], "cancelled", "{a:#}");
    assert_eq!(a["started_at"], Value::Null, "{a:#}");
    assert_eq!(a["worktree_present"], false, "{a:#}");
    assert!(!std::path::Path::new(a["worktree"].as_str().unwrap()).exists());
    assert_eq!(env.attempt(&next_id)["queue_position"], 1);

    // One running attempt's supervisor dies by kill -9: the attempt is interrupted, but its
    // agent lives on as an orphan and still holds the slot, so the queued one waits.
    let running = in_state(&s, "running");
    let victim = running[0]["id"].as_str().unwrap().to_string();
    let other = running[1]["id"].as_str().unwrap().to_string();
    let (f, n) = victim.rsplit_once('-').unwrap();
    let pid = env.record(f, n.parse().unwrap())["supervisor_pid"]
        .as_i64()
        .unwrap();
    // Once its agent has printed its first line: one killed before would die on writing
    // it to the dead supervisor's pipe, which is not what this looks at.
    let printed = env
        .repo
        .join(format!(".git/fanout/fanouts/{f}/{n}/first-output"));
    wait_for("the victim's first output", Duration::from_secs(60), || {
        printed.exists().then_some(())
    });
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    env.wait_status("the killed attempt to show as interrupted", |s| {
        attempts(s)
            .iter()
            .any(|a| a["id"] == victim.as_str() && a["state"] == "interrupted")
    });
    assert_eq!(
        live_agents(&env),
        2,
        "the orphan still runs: {:?}",
        agents_alive(&env)
    );
    assert_eq!(env.attempt(&next_id)["state"], "queued");

    // Its agent ends: the slot is free, the queued attempt starts.
    env.release(&victim);
    env.wait_status("the queued attempt to start", |s| {
        attempts(s)
            .iter()
            .any(|a| a["id"] == next_id.as_str() && a["state"] == "running")
    });
    assert!(live_agents(&env) <= 2, "{:?}", agents_alive(&env));

    for id in [&other, &next_id] {
        env.release(id);
    }
    let s = env.wait_all_finished();
    let state_of =
        |id: &str| attempts(&s).into_iter().find(|a| a["id"] == id).unwrap()["state"].clone();
    assert_eq!(state_of(&victim), "interrupted");
    assert_eq!(state_of(&other), "succeeded");
    assert_eq!(state_of(&next_id), "succeeded");
    assert_eq!(state_of(&last_id), "cancelled");
    wait_for("the agents to be gone", Duration::from_secs(30), || {
        (live_agents(&env) == 0).then_some(())
    });
}
