//! The `fanout` command line, driven as a user would: real repositories in temp folders, the
//! real binary, real detached supervisors, and a fake agent script that edits files.

mod accept;
#[path = "../common/mod.rs"]
mod common;
mod compare;
mod crash;
mod disk;
mod environment;
mod hostile;
mod hunks;
mod newcomer;
mod pool;
mod profiles;
mod queue;
mod review;
mod tasklist;

use common::cli::{group_alive, wait_for};
use common::TestEnv;
use std::time::Duration;

const LIB_RS: &str =
    "pub fn parse(s: &str) -> u32 {\n    // TODO: handle empty input\n    s.parse().unwrap()\n}\n";

fn lib_repo() -> TestEnv {
    TestEnv::named(
        "proj",
        &[
            ("src/lib.rs", LIB_RS),
            ("README.md", "# proj\n"),
            (".gitignore", "target/\n*.log\n"),
        ],
    )
}

#[test]
fn try_runs_attempts_that_can_be_diffed_and_accepted() {
    let env = lib_repo();
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &[]);
    assert_eq!(
        attempts,
        (1..=3).map(|n| format!("{fanout}-{n}")).collect::<Vec<_>>()
    );
    let status = env.wait_all_finished();
    let f = &status["fanouts"][0];
    assert_eq!(f["task"]["marker"], "TODO");
    assert_eq!(f["task"]["text"], "handle empty input");
    assert_eq!(f["task"]["line"], 2);
    for a in f["attempts"].as_array().unwrap() {
        assert_eq!(a["state"], "succeeded", "{a:#}");
        assert_eq!(a["exit_code"], 0);
        assert_eq!(a["agent"], "fake");
        assert_eq!(
            a["diffstat"]["files"], 2,
            "the task file and a notes file: {a:#}"
        );
        assert!(a["branch"]
            .as_str()
            .unwrap()
            .starts_with(&format!("fanout/handle-empty-input-{fanout}/")));
        assert!(a["disk_bytes"].as_u64().unwrap() > 0);
    }
    assert!(f["best"].is_string());

    let diff = env.ok(&["diff", &attempts[1]]);
    assert!(
        diff.contains("-    // TODO: handle empty input\n+    // done by attempt 2\n"),
        "{diff}"
    );
    assert!(diff.contains("+++ b/notes/attempt-2.txt"), "{diff}");
    let stat = env.ok(&["diff", &attempts[1], "--stat"]);
    assert!(
        stat.contains("src/lib.rs") && stat.contains("2 file(s) changed"),
        "{stat}"
    );

    let head = env.git(&["rev-parse", "HEAD"]);
    let index = std::fs::read(env.repo.join(".git/index")).unwrap();
    env.ok(&["accept", &attempts[1]]);
    assert_eq!(
        env.read("src/lib.rs"),
        LIB_RS.replace("// TODO: handle empty input", "// done by attempt 2")
    );
    assert_eq!(env.read("notes/attempt-2.txt"), "notes of attempt 2\n");
    assert_eq!(
        env.git(&["rev-parse", "HEAD"]),
        head,
        "accept never moves HEAD"
    );
    assert_eq!(
        std::fs::read(env.repo.join(".git/index")).unwrap(),
        index,
        "accept never touches the index"
    );
}

#[test]
fn worktrees_are_normal_clean_git_worktrees() {
    let env = lib_repo()
        .with("FAKE_AGENT_MODE", "wait")
        .with("FAKE_AGENT_WAIT", "/nonexistent/never");
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    let listed = env.git(&["worktree", "list", "--porcelain"]);
    for id in &attempts {
        let a = env.attempt(id);
        let wt = std::path::PathBuf::from(a["worktree"].as_str().unwrap());
        assert!(listed.contains(&wt.display().to_string()), "{listed}");
        assert_eq!(
            env.git_in(&wt, &["status", "--porcelain"]),
            "",
            "a fresh worktree is clean"
        );
        assert_eq!(
            env.git_in(&wt, &["rev-parse", "--abbrev-ref", "HEAD"])
                .trim(),
            a["branch"].as_str().unwrap()
        );
        assert_eq!(
            std::fs::read_to_string(wt.join("src/lib.rs")).unwrap(),
            LIB_RS
        );
        // Outside the repository, under the user's data folder.
        assert!(
            wt.starts_with(env.base().join("data/fanout/worktrees")),
            "{}",
            wt.display()
        );
    }
}

#[test]
fn snapshot_is_the_working_state_and_leaves_the_users_state_untouched() {
    let env = lib_repo().with("FAKE_AGENT_MODE", "noop");
    // Staged, unstaged, untracked, ignored and deleted changes, and a stash.
    env.write("stashed.txt", "x\n");
    env.git(&["add", "stashed.txt"]);
    env.git(&["stash", "-q"]);
    env.write("src/staged.rs", "// staged\n");
    env.git(&["add", "src/staged.rs"]);
    env.write(
        "src/lib.rs",
        &LIB_RS.replace("s.parse()", "s.trim().parse()"),
    );
    env.write("untracked.txt", "new\n");
    env.write("debug.log", "ignored\n");
    std::fs::remove_file(env.repo.join("README.md")).unwrap();
    let before = env.user_state();

    let (fanout, _) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    let s = env.wait_all_finished();
    let snapshot = s["fanouts"][0]["snapshot"].as_str().unwrap().to_string();
    let tree = env.git(&["ls-tree", "-r", "--name-only", &snapshot]);
    assert!(
        tree.contains("src/staged.rs") && tree.contains("untracked.txt"),
        "{tree}"
    );
    assert!(
        !tree.contains("debug.log"),
        "ignored files stay out: {tree}"
    );
    assert!(
        !tree.contains("README.md"),
        "deleted files stay deleted: {tree}"
    );
    assert!(env
        .git(&["show", &format!("{snapshot}:src/lib.rs")])
        .contains("s.trim().parse()"));
    assert_eq!(
        env.user_state(),
        before,
        "try must not change the user's files, index, HEAD, refs or stash"
    );

    env.ok(&["discard", &fanout]);
    assert_eq!(env.user_state(), before, "discard must not either");
}

#[test]
fn a_repository_without_commits_works() {
    let env = TestEnv::named("fresh", &[]);
    env.write("main.py", "# TODO: write the program\n");
    let (_, attempts) = env.try_task("main.py", 1, &["-n", "1"]);
    env.wait_all_finished();
    assert_eq!(env.attempt(&attempts[0])["state"], "succeeded");
    env.ok(&["accept", &attempts[0]]);
    assert_eq!(env.read("main.py"), "# done by attempt 1\n");
    assert!(env.fanout(&["status"]).status.success());
}

#[test]
fn agents_rotate_and_profiles_expand_without_a_shell() {
    let env = lib_repo();
    let agent = common::fake_agent();
    env.write_config(&format!(
        "[agent.alpha]\ncommand = [\"python3\", \"{0}\", \"--model={{model}}\", \"{{attempt}}\"]\nmodel = \"m1\"\n[agent.beta]\ncommand = [\"python3\", \"{0}\", \"--model\", \"{{model}}\", \"{{worktree}}\"]\n",
        agent.display()
    ));
    let (_, attempts) = env.try_task(
        "src/lib.rs",
        2,
        &["--agent", "alpha", "--agent", "beta", "--agent", "alpha"],
    );
    env.wait_all_finished();
    let agents: Vec<String> = attempts
        .iter()
        .map(|id| env.attempt(id)["agent"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(agents, ["alpha", "beta", "alpha"]);
    let log1 = env.ok(&["log", &attempts[0]]);
    assert!(
        log1.contains(&format!("argv=['--model=m1', '{}']", attempts[0])),
        "{log1}"
    );
    // beta has no model: `--model {model}` is left out entirely.
    let log2 = env.ok(&["log", &attempts[1]]);
    let wt = env.attempt(&attempts[1])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(log2.contains(&format!("argv=['{wt}']")), "{log2}");
}

#[test]
fn task_text_never_reaches_a_shell() {
    let env = TestEnv::named("inj", &[]);
    let pwned = env.base().join("pwned");
    let todo = format!(
        "# TODO: $(touch {0}) `touch {0}`; touch {0} && rm -rf ~\n",
        pwned.display()
    );
    env.write("x.sh", &todo);
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "x"]);
    let agent = common::fake_agent();
    env.write_config(&format!(
        "agents = [\"fake\"]\n[agent.fake]\ncommand = [\"python3\", \"{}\", \"{{prompt}}\"]\n",
        agent.display()
    ));
    let (_, attempts) = env.try_task("x.sh", 1, &["-n", "2"]);
    env.wait_all_finished();
    assert!(!pwned.exists(), "the task text was run by a shell");
    let log = env.ok(&["log", &attempts[0]]);
    assert!(
        log.contains(&format!("$(touch {})", pwned.display())),
        "the prompt arrives as one literal argument: {log}"
    );
    assert!(env.base().join("home").exists(), "rm -rf ~ did not run");
}

#[test]
fn two_concurrent_tries_do_not_corrupt_state() {
    let env = lib_repo();
    let spawn = || {
        env.command(env!("CARGO_BIN_EXE_fanout"))
            .args([
                "try",
                "--file",
                "src/lib.rs",
                "--line",
                "2",
                "-n",
                "2",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let ids: Vec<String> = [a, b]
        .iter()
        .map(|o| {
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["fanout"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    let s = env.wait_all_finished();
    assert_eq!(s["fanouts"].as_array().unwrap().len(), 2);
    for f in s["fanouts"].as_array().unwrap() {
        for a in f["attempts"].as_array().unwrap() {
            let log = env.ok(&["log", a["id"].as_str().unwrap()]);
            assert_eq!(a["state"], "succeeded", "{a:#}\n{log}");
        }
    }
}

#[test]
fn a_killed_supervisor_shows_as_interrupted() {
    let env = lib_repo().with("FAKE_AGENT_MODE", "hang");
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    let id = &attempts[0];
    let (pid, pgid) = env.wait_agent_running(&fanout, 1);
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    env.wait_status("interrupted", |s| {
        s["fanouts"][0]["attempts"][0]["state"] == "interrupted"
    });
    // The agent's group survived its supervisor; cancel still stops it.
    assert!(group_alive(pgid));
    env.ok(&["cancel", id]);
    assert!(!group_alive(pgid), "cancel stops the whole process group");
    assert_eq!(env.attempt(id)["state"], "cancelled");
}

#[test]
fn cancel_keeps_the_worktree_and_discard_removes_it_and_its_processes() {
    let env = lib_repo().with("FAKE_AGENT_MODE", "hang");
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    let pgids: Vec<i64> = (1..=2)
        .map(|n| env.wait_agent_running(&fanout, n).1)
        .collect();
    env.ok(&["cancel", &attempts[0]]);
    assert!(!group_alive(pgids[0]));
    let a = env.attempt(&attempts[0]);
    assert_eq!(a["state"], "cancelled");
    assert!(
        std::path::Path::new(a["worktree"].as_str().unwrap()).exists(),
        "cancel keeps the worktree"
    );

    let wt = env.attempt(&attempts[1])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    let branch = env.attempt(&attempts[1])["branch"]
        .as_str()
        .unwrap()
        .to_string();
    env.ok(&["discard", &fanout]);
    assert!(
        !group_alive(pgids[1]),
        "discard stops the agent's whole group"
    );
    assert!(!std::path::Path::new(&wt).exists());
    assert!(!env.git(&["worktree", "list"]).contains(&wt));
    assert!(!env.git(&["branch", "--list", "fanout/*"]).contains(&branch));
    assert_eq!(env.status()["fanouts"].as_array().unwrap().len(), 0);
}

#[test]
fn an_attempt_without_changes_is_cleaned_up_as_empty() {
    let env = lib_repo().with("FAKE_AGENT_MODE", "noop");
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    env.wait_all_finished();
    let a = env.attempt(&attempts[0]);
    assert_eq!(a["state"], "empty");
    assert_eq!(a["worktree_present"], false);
    assert!(!std::path::Path::new(a["worktree"].as_str().unwrap()).exists());
    assert!(env.git(&["branch", "--list", "fanout/*"]).trim().is_empty());
}

#[test]
fn a_failing_agent_is_failed_with_its_exit_code_and_log() {
    let env = lib_repo().with("FAKE_AGENT_MODE", "fail");
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    env.wait_all_finished();
    let a = env.attempt(&attempts[0]);
    assert_eq!(a["state"], "failed");
    assert_eq!(a["exit_code"], 1);
    assert!(env
        .ok(&["log", &attempts[0]])
        .contains("fake-agent: giving up"));
    let text = env.ok(&["status"]);
    assert!(text.contains("failed") && text.contains("exit 1"), "{text}");
}

#[test]
fn accept_merges_with_the_users_later_edits_and_refuses_conflicts() {
    let env = lib_repo();
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    env.wait_all_finished();
    // A later edit elsewhere in the file merges cleanly.
    env.write("src/lib.rs", &format!("// header\n{LIB_RS}"));
    env.ok(&["accept", &attempts[0]]);
    assert_eq!(
        env.read("src/lib.rs"),
        format!(
            "// header\n{}",
            LIB_RS.replace("// TODO: handle empty input", "// done by attempt 1")
        )
    );

    // The second attempt changed the same line: conflict, nothing written, exit 1.
    let before = env.user_state();
    let out = env.fanout(&["accept", &attempts[1]]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("src/lib.rs"));
    assert_eq!(
        env.user_state(),
        before,
        "a conflicting accept writes nothing"
    );

    env.ok(&["accept", &attempts[1], "--conflicts", "markers"]);
    let text = env.read("src/lib.rs");
    assert!(
        text.contains("<<<<<<< current")
            && text.contains(">>>>>>> attempt")
            && text.contains("done by attempt 2"),
        "{text}"
    );
}

#[test]
fn accept_carries_deleted_and_binary_files() {
    let env = TestEnv::named(
        "bin",
        &[("a.py", "# TODO: clean up\n"), ("old.txt", "old\n")],
    );
    let script = env.base().join("agent.py");
    std::fs::write(
        &script,
        "import os\nos.remove('old.txt')\nopen('blob.bin','wb').write(bytes(range(256)))\n",
    )
    .unwrap();
    env.write_config(&format!(
        "agents = [\"py\"]\n[agent.py]\ncommand = [\"python3\", \"{}\"]\n",
        script.display()
    ));
    let (_, attempts) = env.try_task("a.py", 1, &["-n", "1"]);
    env.wait_all_finished();
    let diff = env.ok(&["diff", &attempts[0]]);
    assert!(
        diff.contains("Binary files /dev/null and b/blob.bin differ")
            && diff.contains("deleted file"),
        "{diff}"
    );
    env.ok(&["accept", &attempts[0]]);
    assert!(!env.repo.join("old.txt").exists());
    assert_eq!(
        std::fs::read(env.repo.join("blob.bin")).unwrap(),
        (0..=255u8).collect::<Vec<_>>()
    );
}

#[test]
fn log_follow_streams_until_the_attempt_ends() {
    let env = lib_repo();
    let flag = env.base().join("go");
    let env = env
        .with("FAKE_AGENT_MODE", "wait")
        .with("FAKE_AGENT_WAIT", flag.to_str().unwrap());
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fanout"));
    cmd.args(["log", "--follow", &attempts[0]])
        .current_dir(&env.repo)
        .stdout(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    env.wait_status("running", |s| {
        s["fanouts"][0]["attempts"][0]["state"] == "running"
    });
    std::fs::write(&flag, "").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("fake-agent wait") && text.contains("fake-agent: done"),
        "{text}"
    );
}

#[test]
fn gc_removes_old_finished_attempts_and_reports_the_space() {
    let env = lib_repo();
    let (_, attempts) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    env.wait_all_finished();
    let wt = env.attempt(&attempts[0])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    let kept = env.ok(&["gc"]);
    assert!(
        kept.contains("reclaimed 0 B"),
        "young attempts stay: {kept}"
    );
    let out = env.ok(&["gc", "--older-than", "0s"]);
    assert!(
        out.contains(&format!("removed {}", attempts[0])) && !out.contains("reclaimed 0 B"),
        "{out}"
    );
    assert!(!std::path::Path::new(&wt).exists());
    assert_eq!(env.status()["fanouts"].as_array().unwrap().len(), 0);
}

#[test]
fn ids_accept_unique_prefixes() {
    let env = lib_repo();
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    env.wait_all_finished();
    let err = env.fails(&["diff", &fanout[..3]]);
    assert!(
        err.contains("names a fanout, not one attempt") || err.contains("ambiguous"),
        "{err}"
    );
    assert!(env
        .ok(&["diff", &format!("{fanout}-2")])
        .contains("done by attempt 2"));
    assert!(env
        .fails(&["diff", "zzzz"])
        .contains("unknown attempt or fanout 'zzzz'"));
    let _ = attempts;
}

#[test]
fn bad_input_gets_one_clear_line_and_leaves_nothing_behind() {
    let env = lib_repo();
    let nowhere = tempfile::tempdir().unwrap();
    let out = env.fanout_in(nowhere.path(), &["try", "--file", "x", "--line", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("fanout: error: not a git repository"));

    let cases: &[(&[&str], &str)] = &[
        (
            &["try", "--file", "src/lib.rs", "--line", "1"],
            "no task on this line",
        ),
        (
            &["try", "--file", "src/lib.rs", "--line", "99"],
            "past the end of the file",
        ),
        (
            &[
                "try",
                "--file",
                "src/lib.rs",
                "--line",
                "2",
                "--agent",
                "nosuch",
            ],
            "unknown agent 'nosuch'",
        ),
        (
            &["try", "--file", "missing.rs", "--line", "1"],
            "missing.rs",
        ),
        (
            &["try", "--file", "src/lib.rs", "--line", "2", "-n", "0"],
            "between 1 and",
        ),
        (&["accept", "nope"], "unknown attempt or fanout 'nope'"),
    ];
    for (args, expected) in cases {
        let err = env.fails(args);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    env.write_config("[agent.ghost]\ncommand = [\"no-such-agent-binary\", \"{prompt}\"]\n");
    assert!(env
        .fails(&["try", "--file", "src/lib.rs", "--line", "2"])
        .contains("agent 'ghost': no-such-agent-binary not found on PATH"));
    env.write_config("[agent.ghost]\ncommand = [\"/no/such/agent\", \"{prompt}\"]\n");
    let err = env.fails(&["try", "--file", "src/lib.rs", "--line", "2"]);
    assert!(
        err.contains("agent 'ghost': /no/such/agent not found"),
        "{err}"
    );
    assert!(
        !err.contains("PATH"),
        "an absolute path is not looked up on PATH: {err}"
    );

    let ro = env.base().join("readonly");
    std::fs::create_dir(&ro).unwrap();
    env.write_config(&format!(
        "worktree_root = \"{}/sub\"\nagents = [\"fake\"]\n[agent.fake]\ncommand = [\"python3\", \"{}\"]\n",
        ro.display(),
        common::fake_agent().display()
    ));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let writable_anyway = std::fs::create_dir(ro.join("probe")).is_ok(); // root ignores permissions
    if !writable_anyway {
        assert!(env
            .fails(&["try", "--file", "src/lib.rs", "--line", "2"])
            .contains("is not writable"));
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Nothing half-done: no fanouts, no branches, no worktrees.
    assert_eq!(env.status()["fanouts"].as_array().unwrap().len(), 0);
    assert!(env.git(&["branch", "--list", "fanout/*"]).trim().is_empty());
    assert_eq!(env.git(&["worktree", "list"]).lines().count(), 1);
}

#[test]
fn paths_with_spaces_non_ascii_and_invalid_utf8_work() {
    let env = TestEnv::named("my repo ü", &[]);
    std::fs::create_dir_all(env.repo.join("dir with space")).unwrap();
    let mut bytes = b"// TODO: fix caf\xe9 handling \xff\n".to_vec();
    bytes.extend_from_slice(b"int main() {}\n");
    std::fs::write(env.repo.join("dir with space/fïle.c"), &bytes).unwrap();
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "x"]);
    let tasks = env.json(&["tasks", "--json"]);
    assert_eq!(tasks[0]["file"], "dir with space/fïle.c");
    assert!(tasks[0]["text"].as_str().unwrap().starts_with("fix caf"));
    let (_, attempts) = env.try_task("dir with space/fïle.c", 1, &["-n", "1"]);
    env.wait_all_finished();
    assert_eq!(env.attempt(&attempts[0])["state"], "succeeded");
    // From a subfolder, with a relative path.
    let out = env.fanout_in(
        &env.repo.join("dir with space"),
        &[
            "try", "--file", "fïle.c", "--line", "1", "-n", "1", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prompt_replaces_the_task_text_and_allows_any_line() {
    let env = lib_repo();
    let (_, attempts) = env.try_task(
        "src/lib.rs",
        3,
        &["-n", "1", "--prompt", "make parse return a Result"],
    );
    env.wait_all_finished();
    let wt = env.attempt(&attempts[0])["worktree"]
        .as_str()
        .unwrap()
        .to_string();
    let prompt_file = env.repo.join(format!(
        ".git/fanout/fanouts/{}/1/prompt.txt",
        attempts[0].split('-').next().unwrap()
    ));
    let prompt = std::fs::read_to_string(prompt_file).unwrap();
    assert!(
        prompt.starts_with("Task: make parse return a Result"),
        "{prompt}"
    );
    assert!(
        prompt.contains("src/lib.rs:3") && prompt.contains("isolated git worktree"),
        "{prompt}"
    );
    assert!(
        prompt.contains(">3 |     s.parse().unwrap()"),
        "the surrounding code, task line marked: {prompt}"
    );
    let _ = wt;
}

#[test]
fn status_watch_ends_when_all_attempts_have() {
    let env = lib_repo();
    env.try_task("src/lib.rs", 2, &["-n", "2"]);
    let out = wait_for("watch to end", Duration::from_secs(60), || {
        Some(env.fanout(&["status", "--watch"]))
    });
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2/2 done"), "{text}");
}

#[test]
fn demo_runs_with_no_setup_and_its_hints_work_as_printed() {
    let env = TestEnv::named("unused", &[]);
    let nowhere = tempfile::tempdir().unwrap();
    let out = env.fanout_in(nowhere.path(), &["demo", "--no-watch"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("3/3 done")
            && text.contains("+    name = (name or \"\").strip() or \"world\""),
        "{text}"
    );
    let repo = text
        .lines()
        .find_map(|l| l.strip_prefix("fanout demo: a throwaway repository at "))
        .unwrap()
        .to_string();
    let base = std::path::Path::new(&repo).parent().unwrap().to_path_buf();
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(base);

    // The closing hints: the best attempt is the one suggested, and each line runs as it is
    // in a shell, from anywhere (no `fanout` on PATH is needed).
    let best = text
        .lines()
        .find_map(|l| l.strip_prefix("best by fanout's ranking: "))
        .unwrap_or_else(|| panic!("{text}"))
        .to_string();
    let hints: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Next, in the demo repository"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        .collect();
    assert_eq!(hints.len(), 4, "cd, status, accept, discard: {text}");
    assert!(hints[0].starts_with("cd "), "{hints:?}");
    assert!(
        hints[2].ends_with(&format!(" accept {best}")),
        "the best is suggested: {hints:?}"
    );
    let script = format!("set -e\n{}\n", hints.join("\n"));
    let ran = env
        .command("sh")
        .current_dir(nowhere.path())
        .env("PATH", "/usr/bin:/bin")
        .args(["-c", &script])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{script}\n{said}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(
        said.contains(&format!("accepted {best} into your working tree")),
        "{said}"
    );
    assert!(said.contains("freed "), "{said}");
    let greet = std::fs::read_to_string(std::path::Path::new(&repo).join("greet.py")).unwrap();
    assert!(
        greet.contains("strip() or \"world\""),
        "the best attempt's change: {greet}"
    );
}

#[test]
fn disk_full_during_checkout_leaves_nothing_half_done() {
    let env = TestEnv::named("big", &[("a.py", "# TODO: shrink\n")]);
    env.write("big.bin", &"x".repeat(300_000));
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "big"]);
    let tiny = env.base().join("tiny");
    std::fs::create_dir(&tiny).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k", "tmpfs"])
        .arg(&tiny)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(tiny.clone());
    env.write_config(&format!(
        "worktree_root = \"{}\"\nagents = [\"fake\"]\n[agent.fake]\ncommand = [\"python3\", \"{}\"]\n",
        tiny.display(),
        common::fake_agent().display()
    ));
    let before = env.user_state();
    let err = env.fails(&["try", "--file", "a.py", "--line", "1", "-n", "2"]);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(env.user_state(), before);
    assert_eq!(env.status()["fanouts"].as_array().unwrap().len(), 0);
    assert!(env.git(&["branch", "--list", "fanout/*"]).trim().is_empty());
    assert_eq!(env.git(&["worktree", "list"]).lines().count(), 1);
    let left: Vec<_> = walkdir::WalkDir::new(&tiny)
        .min_depth(2)
        .into_iter()
        .flatten()
        .map(|e| e.path().to_path_buf())
        .collect();
    assert!(left.is_empty(), "checkout left files behind: {left:?}");
}
