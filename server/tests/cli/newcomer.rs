//! What a newcomer meets first: mistakes in the config files said in their words and on the
//! right line, agent scripts named by a relative path, accepted attempts marked, and the
//! attempts `accept` suggests.

use crate::common::TestEnv;
use std::path::Path;

fn repo() -> TestEnv {
    TestEnv::named(
        "app",
        &[
            (
                "src/app.py",
                "def f():\n    # TODO: add a feature\n    pass\n",
            ),
            ("README.md", "# app\n"),
        ],
    )
}

/// The error `fanout try` gives with this user config.
fn config_error(env: &TestEnv, toml: &str) -> String {
    env.write_config(toml);
    let err = env.fails(&["try", "--file", "src/app.py", "--line", "2"]);
    assert!(
        err.contains("config.toml"),
        "the message names the file: {err}"
    );
    err
}

#[test]
fn config_type_errors_name_the_setting_and_show_an_example() {
    let env = repo();
    let err = config_error(&env, "attempts = \"3\"\n");
    assert!(
        err.contains(
            "line 1: attempts must be a whole number, like attempts = 3, not the string \"3\""
        ),
        "{err}"
    );
    assert!(!err.contains("usize"), "no Rust type names: {err}");

    let err = config_error(
        &env,
        "agents = [\"mine\"]\n\n[agent.mine]\ncommand = \"claude -p {prompt}\"\n",
    );
    assert!(
        err.contains("line 4: agent.mine.command must be an argv array")
            && err.contains(r#"like command = ["claude", "-p", "{prompt}"]"#),
        "{err}"
    );
    assert!(!err.contains("sequence"), "no serde words: {err}");

    let err = config_error(&env, "permissions = \"all\"\n");
    assert!(
        err.contains("line 1: permissions must be one of \"edits\", \"edits+verify\" or \"full\"")
            && err.contains("not \"all\""),
        "{err}"
    );

    let err = config_error(&env, "atempts = 3\n");
    assert!(
        err.contains("line 1: unknown setting `atempts`, expected one of `attempts`"),
        "{err}"
    );
    // Nothing was started on a broken config.
    assert_eq!(env.status()["fanouts"].as_array().unwrap().len(), 0);
}

#[test]
fn an_unclosed_bracket_is_reported_on_its_own_line() {
    let env = repo();
    let err = config_error(
        &env,
        "attempts = 3\nagents = [\"claude\", \"codex\"\n\n# my agents\n[agent.claude]\nmodel = \"opus\"\n",
    );
    assert!(
        err.contains("line 2: this `[` is never closed (a `]` is missing before line 5)"),
        "{err}"
    );
}

#[test]
fn repository_config_errors_are_said_the_same_way() {
    let env = repo();
    env.write(".fanout.toml", "verify = \"npm test\"\n");
    let err = env.fails(&["try", "--file", "src/app.py", "--line", "2"]);
    assert!(
        err.contains(".fanout.toml")
            && err.contains("line 1: verify must be an argv array (never a shell string), like verify = [\"npm\", \"test\"], not the string \"npm test\""),
        "{err}"
    );
}

/// An agent script that records where it ran from and makes a change.
fn write_script(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        "#!/bin/sh\necho \"ran $0\"\necho changed >> \"$FANOUT_TASK_FILE\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_relative_agent_path_in_the_user_config_is_from_the_config_folder() {
    let env = repo();
    write_script(&env.base().join("config/fanout/agents/my-agent"));
    env.write_config("agents = [\"mine\"]\n[agent.mine]\ncommand = [\"./agents/my-agent\"]\n");
    // From a subdirectory of the repository, not the config's folder or the root.
    let out = env.fanout_in(
        &env.repo.join("src"),
        &[
            "try", "--file", "app.py", "--line", "2", "-n", "1", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = env.wait_all_finished();
    let a = &s["fanouts"][0]["attempts"][0];
    assert_eq!(a["state"], "succeeded", "{a:#}");
    let log = env.ok(&["log", a["id"].as_str().unwrap()]);
    let expected = env.base().join("config/fanout/agents/my-agent");
    assert!(
        log.contains(&format!("ran {}", expected.display())),
        "{log}"
    );
}

#[test]
fn a_relative_agent_path_in_the_repository_config_is_from_the_repository_root() {
    let env = repo();
    write_script(&env.repo.join("scripts/agent"));
    env.write(
        ".fanout.toml",
        "agents = [\"local\"]\n[agent.local]\ncommand = [\"./scripts/agent\"]\n",
    );
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "agent"]);
    env.ok(&["trust", "--yes"]);
    let out = env.fanout_in(
        &env.repo.join("src"),
        &[
            "try", "--file", "app.py", "--line", "2", "-n", "1", "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = env.wait_all_finished();
    let a = &s["fanouts"][0]["attempts"][0];
    assert_eq!(a["state"], "succeeded", "{a:#}");
    let log = env.ok(&["log", a["id"].as_str().unwrap()]);
    assert!(
        log.contains(&format!("ran {}", env.repo.join("scripts/agent").display())),
        "{log}"
    );
}

/// The attempt of `status` numbered `n`.
fn numbered(status: &serde_json::Value, n: usize) -> serde_json::Value {
    status["fanouts"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["n"] == n)
        .unwrap_or_else(|| panic!("no attempt #{n}: {status:#}"))
        .clone()
}

#[test]
fn an_accepted_attempt_is_marked_in_status_titles_and_diff() {
    let env = TestEnv::named(
        "proj",
        &[(
            "src/lib.rs",
            "fn f() {\n    // TODO: handle empty input\n}\n",
        )],
    );
    let (_, ids) = env.try_task("src/lib.rs", 2, &["-n", "2", "--agent", "fake"]);
    env.wait_all_finished();
    let before = env.fanout(&["diff", &ids[0]]);
    assert!(
        before.status.success() && !before.stdout.is_empty() && before.stderr.is_empty(),
        "an attempt not accepted has a diff and no note"
    );
    let out = env.ok(&["accept", &ids[0]]);
    assert!(out.contains(&format!("accepted {}", ids[0])), "{out}");

    let s = env.status();
    let (one, two) = (numbered(&s, 1), numbered(&s, 2));
    let at = one["accepted_at"].as_u64().expect("accepted_at");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(at) < 120, "accepted just now: {at}");
    assert!(
        one["title"].as_str().unwrap().contains(" · accepted "),
        "{one:#}"
    );
    assert!(two["accepted_at"].is_null(), "{two:#}");
    assert!(!two["title"].as_str().unwrap().contains("accepted"));

    let table = env.ok(&["status"]);
    let row = table
        .lines()
        .find(|l| l.contains(&ids[0]))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("  accepted "), "{table}");

    // Its diff against the files that now have its change: empty, and it says why.
    let diff = env.fanout(&["diff", &ids[0]]);
    assert!(diff.status.success());
    assert!(diff.stdout.is_empty(), "stdout stays a patch");
    let said = String::from_utf8_lossy(&diff.stderr);
    assert!(
        said.contains(&format!("{} was accepted at ", ids[0]))
            && said.contains("your files already have its change"),
        "{said}"
    );

    // A follow-up makes a new result: not accepted any more.
    env.ok(&["continue", &ids[0], "--prompt", "once more"]);
    let s = env.wait_all_finished();
    assert!(numbered(&s, 1)["accepted_at"].is_null(), "{s:#}");
}

#[test]
fn accept_of_a_whole_fanout_suggests_the_attempts_with_changes_best_first() {
    let env = TestEnv::named(
        "proj",
        &[(
            "src/lib.rs",
            "fn f() {\n    // TODO: handle empty input\n}\n",
        )],
    );
    let fake = crate::common::fake_agent().display().to_string();
    env.write_config(&format!(
        "stagger_ms = 0\n[agent.fake]\ncommand = [\"python3\", \"{fake}\"]\n[agent.failing]\ncommand = [\"env\", \"FAKE_AGENT_MODE=fail\", \"python3\", \"{fake}\"]\n"
    ));
    let (fanout, ids) = env.try_task(
        "src/lib.rs",
        2,
        &["--agent", "fake", "--agent", "failing", "--agent", "fake"],
    );
    let s = env.wait_all_finished();
    assert_eq!(numbered(&s, 2)["state"], "failed", "{s:#}");
    let best = s["fanouts"][0]["best"].as_str().unwrap().to_string();
    let other = if best == ids[0] { &ids[2] } else { &ids[0] };
    for command in ["accept", "diff"] {
        let err = env.fails(&[command, &fanout]);
        assert!(
            err.contains(&format!(
                "'{fanout}' names a fanout, not one attempt: pick one of {best} (best), {other}\n"
            )),
            "{command}: {err}"
        );
        assert!(
            !err.contains(&ids[1]),
            "the failed attempt has no change: {err}"
        );
    }
}

/// The attempt numbers of `fanout status`'s rows, top to bottom.
fn row_order(table: &str) -> Vec<usize> {
    table
        .lines()
        .filter_map(|l| {
            let l = l.trim_start().trim_start_matches('★').trim_start();
            l.strip_prefix('#')?.split_whitespace().next()?.parse().ok()
        })
        .collect()
}

#[test]
fn status_rows_keep_their_order_while_attempts_run_and_rank_once_done() {
    let env = TestEnv::named(
        "proj",
        &[(
            "src/lib.rs",
            "fn f() {\n    // TODO: handle empty input\n}\n",
        )],
    );
    // #1 waits and makes the bigger change (a notes file too); #2 and #3 only edit the line.
    let fake = crate::common::fake_agent().display().to_string();
    let release = env.base().join("release-{attempt}").display().to_string();
    env.write_config(&format!(
        "stagger_ms = 0\n[agent.gated]\ncommand = [\"env\", \"FAKE_AGENT_MODE=wait\", \"FAKE_AGENT_WAIT={release}\", \"python3\", \"{fake}\"]\n[agent.small]\ncommand = [\"env\", \"FAKE_AGENT_MODE=same\", \"python3\", \"{fake}\"]\n"
    ));
    let (_, ids) = env.try_task(
        "src/lib.rs",
        2,
        &["--agent", "gated", "--agent", "small", "--agent", "small"],
    );
    env.wait_status("#2 and #3 finished", |s| {
        [2, 3]
            .iter()
            .all(|&n| numbered(s, n)["state"] == "succeeded")
    });
    // Ranked, #2 and #3 would come first; while #1 runs the rows stay 1, 2, 3.
    assert_eq!(row_order(&env.ok(&["status"])), [1, 2, 3]);
    env.release(&ids[0]);
    let s = env.wait_all_finished();
    let ranked: Vec<usize> = s["fanouts"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["n"].as_u64().unwrap() as usize)
        .collect();
    assert_ne!(
        ranked,
        [1, 2, 3],
        "#1, the bigger change, ranks below the others: {s:#}"
    );
    assert_eq!(row_order(&env.ok(&["status"])), ranked, "ranked once done");
}

#[test]
fn bash_completes_commands_and_shells_and_the_man_page_lists_every_command() {
    let env = repo();
    let exe = env!("CARGO_BIN_EXE_fanout");
    let complete = |words: &str, cword: usize| -> String {
        let script = format!(
            "source <(\"$FANOUT_EXE\" completions bash)\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\n_fanout fanout \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"\necho \"${{COMPREPLY[@]}}\"\n"
        );
        let out = env
            .command("bash")
            .env("FANOUT_EXE", exe)
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("fanout sta", 1), "status");
    assert_eq!(complete("fanout di", 1), "diff discard");
    let shells = complete("fanout completions ''", 2);
    assert!(
        shells.contains("bash") && shells.contains("zsh") && shells.contains("fish"),
        "{shells}"
    );
    let all = complete("fanout ''", 1);
    assert!(
        !all.contains("__"),
        "internal commands are not offered: {all}"
    );
    for shell in ["zsh", "fish"] {
        let script = env.ok(&["completions", shell]);
        assert!(
            script.contains("accept") && !script.contains("__supervise"),
            "{shell}"
        );
    }
    assert!(env
        .fails(&["completions", "tcsh"])
        .contains("invalid value 'tcsh'"));

    let dir = env.base().join("man1");
    let written = env.ok(&["man", dir.to_str().unwrap()]);
    let top = std::fs::read_to_string(dir.join("fanout.1")).unwrap();
    assert!(top.contains(".TH fanout 1"), "{top}");
    for command in [
        "tasks",
        "try",
        "status",
        "diff",
        "accept",
        "discard",
        "completions",
        "man",
        "lsp",
    ] {
        assert!(
            top.contains(&format!("fanout\\-{command}(1)")),
            "{command} listed: {top}"
        );
        let page = std::fs::read_to_string(dir.join(format!("fanout-{command}.1")))
            .unwrap_or_else(|_| panic!("fanout-{command}.1 in {written}"));
        assert!(page.contains(&format!(".TH fanout-{command} 1")), "{page}");
        assert!(
            page.contains(&format!("\\fBfanout {command}\\fR")),
            "the synopsis as typed: {page}"
        );
    }
    let try_page = std::fs::read_to_string(dir.join("fanout-try.1")).unwrap();
    assert!(
        try_page.contains("\\-\\-agent"),
        "options are documented: {try_page}"
    );
    let man = written + &top;
    assert!(!man.contains("supervise"), "{man}");
}

/// The folders under the worktree root (its per-repository folders).
fn worktree_folders(env: &TestEnv) -> Vec<String> {
    let root = env.base().join("data/fanout/worktrees");
    match std::fs::read_dir(&root) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// What is under the worktree root besides the pool of warm worktrees (kept on purpose, and
/// bounded by `pool`): worktrees, or a trash the detached emptier has not finished yet.
fn left_beside_the_pool(env: &TestEnv) -> Vec<String> {
    let root = env.base().join("data/fanout/worktrees");
    let mut left = Vec::new();
    for repo in worktree_folders(env) {
        for e in std::fs::read_dir(root.join(&repo))
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if name != ".pool" {
                left.push(format!("{repo}/{name}"));
            }
        }
    }
    left
}

fn wait_until_nothing_but_the_pool(env: &TestEnv, what: &str) {
    crate::common::cli::wait_for(what, std::time::Duration::from_secs(60), || {
        left_beside_the_pool(env).is_empty().then_some(())
    });
}

#[test]
fn nothing_is_left_under_the_worktree_root_after_discard_or_gc() {
    let env = TestEnv::named(
        "proj",
        &[(
            "src/lib.rs",
            "fn f() {\n    // TODO: handle empty input\n}\n",
        )],
    );
    let fake = crate::common::fake_agent().display().to_string();
    env.write_config(&format!(
        "stagger_ms = 0\n[agent.fake]\ncommand = [\"python3\", \"{fake}\"]\n[agent.noop]\ncommand = [\"env\", \"FAKE_AGENT_MODE=noop\", \"python3\", \"{fake}\"]\n"
    ));
    // An attempt that changes nothing loses its worktree at once, by its supervisor.
    let (fanout, _) = env.try_task("src/lib.rs", 2, &["--agent", "fake", "--agent", "noop"]);
    env.wait_all_finished();
    assert_eq!(
        worktree_folders(&env).len(),
        1,
        "one folder for the repository"
    );
    env.ok(&["discard", &fanout]);
    wait_until_nothing_but_the_pool(&env, "discard leaves nothing but the pool");

    let (_, _) = env.try_task("src/lib.rs", 2, &["--agent", "noop", "--agent", "fake"]);
    env.wait_all_finished();
    env.ok(&["gc", "--older-than", "0s"]);
    wait_until_nothing_but_the_pool(&env, "gc leaves nothing but the pool");
}
