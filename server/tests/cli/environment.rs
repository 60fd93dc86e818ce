//! Agents, repository config with trust, per-attempt environments, verify and ranking.

use crate::common::cli::{fixture, wait_for};
use crate::common::TestEnv;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// A repository whose user config runs `agent` (a fixture script) with `args`.
fn repo_with_agent(agent: &str, args: &[&str]) -> TestEnv {
    let env = TestEnv::named(
        "app",
        &[
            ("app.py", "# TODO: add a feature\n"),
            (".gitignore", ".env\nbuild/\n"),
        ],
    );
    let mut argv = vec![format!(
        "\"{}\"",
        fixture(&format!("agents/{agent}")).display()
    )];
    argv.extend(args.iter().map(|a| format!("\"{a}\"")));
    env.write_config(&format!(
        "stagger_ms = 0\nagents = [\"a\"]\n[agent.a]\ncommand = [{}]\n",
        argv.join(", ")
    ));
    env
}

fn attempts_of(status: &Value) -> Vec<Value> {
    status["fanouts"][0]["attempts"].as_array().unwrap().clone()
}

fn by_number(status: &Value, n: u64) -> Value {
    attempts_of(status)
        .into_iter()
        .find(|a| a["n"] == n)
        .unwrap()
}

fn worktree_file(a: &Value, name: &str) -> String {
    std::fs::read_to_string(Path::new(a["worktree"].as_str().unwrap()).join(name))
        .unwrap_or_default()
}

const SETUP_TOML: &str = r#"
copy = [".env"]
setup = [["sh", "-c", "echo made by setup > setup-marker.txt"]]
verify = ["sh", "-c", "grep -q change app.py"]
env = { APP_PORT = "{port}", APP_NAME = "app-{attempt}" }
ports = 3
"#;

#[test]
fn an_untrusted_repository_runs_none_of_its_commands_until_trusted() {
    let env = repo_with_agent("env-agent", &[]).with("ENV_AGENT_ALL_SUCCEED", "1");
    env.write(".fanout.toml", SETUP_TOML);
    env.write(".env", "SECRET=1\n");
    let out = env.fanout(&[
        "try", "--file", "app.py", "--line", "1", "-n", "1", "--json",
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(".fanout.toml is not trusted"),
        "a visible warning"
    );
    let s = env.wait_all_finished();
    let a = by_number(&s, 1);
    let seen = worktree_file(&a, "fanout-env.txt");
    assert!(
        seen.contains("setup_marker=False"),
        "setup must not run untrusted: {seen}"
    );
    assert!(!seen.contains("APP_NAME"), "env is a command entry: {seen}");
    assert!(
        seen.contains("dotenv=True"),
        "copy applies without trust: {seen}"
    );
    assert!(a["verify"].is_null());

    let review = env.ok(&["trust", "--yes"]);
    assert!(
        review.contains("setup: [\"sh\", \"-c\", \"echo made by setup > setup-marker.txt\"]"),
        "{review}"
    );
    let (_, second) = env.try_task("app.py", 1, &["-n", "1"]);
    env.wait_all_finished();
    assert!(worktree_file(&env.attempt(&second[0]), "fanout-env.txt").contains("setup_marker=True"));

    // Any edit revokes the trust.
    env.write(".fanout.toml", &format!("{SETUP_TOML}\n# edited\n"));
    let out = env.fanout(&[
        "try", "--file", "app.py", "--line", "1", "-n", "1", "--json",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not trusted"));
    let third: Value = serde_json::from_slice(&out.stdout).unwrap();
    env.wait_all_finished();
    let a = env.attempt(third["attempts"][0].as_str().unwrap());
    assert!(worktree_file(&a, "fanout-env.txt").contains("setup_marker=False"));
    // Trust never lands in the repository.
    assert_eq!(
        env.git(&["status", "--porcelain"]).trim(),
        "?? .fanout.toml"
    );
}

#[test]
fn attempts_get_copies_setup_ports_env_and_verify() {
    let env = repo_with_agent("env-agent", &[]);
    env.write(".fanout.toml", SETUP_TOML);
    env.write(".env", "SECRET=1\n");
    env.ok(&["trust", "--yes"]);
    env.ok(&["try", "--file", "app.py", "--line", "1", "-n", "3"]);
    let s = env.wait_all_finished();
    let mut ports = Vec::new();
    for n in 1..=2 {
        let a = by_number(&s, n);
        let seen = worktree_file(&a, "fanout-env.txt");
        assert!(
            seen.contains("dotenv=True") && seen.contains("setup_marker=True"),
            "{seen}"
        );
        assert!(
            seen.contains(&format!("APP_NAME=app-{}", a["id"].as_str().unwrap())),
            "{seen}"
        );
        assert!(
            seen.contains("FANOUT_PORT_COUNT=3")
                && seen.contains(&format!("FANOUT_ROOT={}", env.repo.display())),
            "{seen}"
        );
        let port: u16 = seen
            .lines()
            .find_map(|l| l.strip_prefix("FANOUT_PORT="))
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen.contains(&format!("APP_PORT={port}")));
        assert_eq!(a["port"], port);
        ports.push(port);
        // Verify ran on each result (only #1's change contains "change"); setup's own file
        // is not part of the change.
        assert_eq!(a["verify"]["passed"], n == 1, "{a:#}");
        let diff = env.ok(&["diff", a["id"].as_str().unwrap()]);
        assert!(
            !diff.contains("setup-marker.txt") && !diff.contains(".env"),
            "{diff}"
        );
    }
    assert!(
        ports[0] + 3 <= ports[1] || ports[1] + 3 <= ports[0],
        "port blocks overlap: {ports:?}"
    );
    // The third attempt's agent failed: no verify, failed, ranked last.
    let third = by_number(&s, 3);
    assert_eq!(third["state"], "failed");
    assert!(third["verify"].is_null());
    let log = env.ok(&["log", third["id"].as_str().unwrap()]);
    assert!(
        log.contains("made by setup") || log.contains("setup"),
        "{log}"
    );
}

#[test]
fn a_failing_setup_fails_the_attempt_before_the_agent() {
    let env = repo_with_agent("fake-agent", &[]);
    env.write(
        ".fanout.toml",
        "setup = [[\"sh\", \"-c\", \"echo cannot install; exit 3\"]]\n",
    );
    env.ok(&["trust", "--yes"]);
    let (_, attempts) = env.try_task("app.py", 1, &["-n", "1"]);
    let s = env.wait_all_finished();
    let a = by_number(&s, 1);
    assert_eq!(a["state"], "failed");
    assert!(
        a["error"]
            .as_str()
            .unwrap()
            .starts_with("setup failed: `sh -c"),
        "{a:#}"
    );
    let log = env.ok(&["log", &attempts[0]]);
    assert!(
        log.contains("cannot install") && !log.contains("fake-agent edit"),
        "the agent never started: {log}"
    );
}

#[test]
fn ranking_puts_passing_small_fast_changes_first_and_marks_identical_ones() {
    let env = repo_with_agent("env-agent", &[]);
    env.write(
        ".fanout.toml",
        "verify = [\"sh\", \"-c\", \"grep -q change app.py\"]\n",
    );
    env.ok(&["trust", "--yes"]);
    let (fanout, _) = env.try_task("app.py", 1, &["-n", "3"]);
    let s = env.wait_all_finished();
    let order: Vec<u64> = attempts_of(&s)
        .iter()
        .map(|a| a["n"].as_u64().unwrap())
        .collect();
    // #1: small change, verify passes; #2: bigger change, verify fails ("change" absent); #3: failed.
    assert_eq!(order, [1, 2, 3], "{s:#}");
    assert_eq!(by_number(&s, 2)["verify"]["passed"], false);
    assert_eq!(s["fanouts"][0]["best"], format!("{fanout}-1"));
    assert_eq!(env.ok(&["best", &fanout]).trim(), format!("{fanout}-1"));
    let text = env.ok(&["status"]);
    assert!(text.contains("★ #1") && text.contains("tests ✗"), "{text}");

    // Identical changes.
    let env = repo_with_agent("fake-agent", &[]).with("FAKE_AGENT_MODE", "same");
    let (fanout, _) = env.try_task("app.py", 1, &["-n", "3"]);
    let s = env.wait_all_finished();
    assert!(by_number(&s, 1)["same_as"].is_null());
    assert_eq!(by_number(&s, 2)["same_as"], 1);
    assert_eq!(by_number(&s, 3)["same_as"], 1);
    assert!(env.ok(&["status"]).contains("same as #1"));
    // Identical changes tie on size; the faster one wins, whichever it is.
    let best: Value = env.json(&["best", &fanout, "--json"]);
    assert_eq!(best["fanout"], fanout);
    assert!(best["best"]["n"].as_u64().is_some(), "{best:#}");
}

#[test]
fn continue_runs_the_agent_again_in_the_same_worktree() {
    let env = repo_with_agent("fake-agent", &["{prompt}"]);
    let (_, attempts) = env.try_task("app.py", 1, &["-n", "1"]);
    env.wait_all_finished();
    let first = env.attempt(&attempts[0]);
    let err = env.fails(&["continue", &attempts[0], "--prompt", "  "]);
    assert!(err.contains("needs a prompt"), "{err}");
    env.ok(&["continue", &attempts[0], "--prompt", "now also write docs"]);
    let s = env.wait_status("the follow-up finished", |s| {
        let a = &s["fanouts"][0]["attempts"][0];
        a["runs"] == 2 && a["state"] == "succeeded"
    });
    let a = &s["fanouts"][0]["attempts"][0];
    assert_eq!(a["worktree"], first["worktree"]);
    let log = env.ok(&["log", &attempts[0]]);
    assert!(
        log.contains("now also write docs"),
        "the follow-up prompt reached the agent: {log}"
    );
    let commits = env.git(&["log", "--format=%s", a["branch"].as_str().unwrap()]);
    assert_eq!(
        commits
            .lines()
            .filter(|l| l.starts_with("fanout attempt"))
            .count(),
        1,
        "{commits}"
    );
}

#[test]
fn agent_output_formats_show_what_each_agent_did() {
    // Streams recorded from the real CLIs by tests/agents/run --record, against its scripted
    // model server; the figures are the ones the server reported (prompt cache included).
    let done = "Done: I replaced the TODO line in app.py.";
    let cases: &[(&str, &str, Option<u64>, Option<f64>)] = &[
        // 38 input + 3,680 cache writes + 8,000 cache reads + 98 output.
        ("claude.jsonl", done, Some(11816), Some(0.02964)),
        // Input (cached ones included) + output of the thread.
        ("codex.jsonl", done, Some(5302), None),
        // The reply arrives in three pieces; its routing request is counted too.
        ("gemini.jsonl", done, Some(12034), None),
        // Three steps; a custom provider's cost of 0 is no cost.
        ("opencode.jsonl", done, Some(712 + 720 + 736), None),
        ("qwen.jsonl", done, Some(2520), None),
        // Its reply in pieces; its tokens are in its usage file, not its stream.
        ("copilot.jsonl", done, None, None),
        // Plain text: its last line; its usage lines add up.
        (
            "aider.txt",
            "Commit b3cac9b Scripted reply.",
            Some(717 + 51 + 731 + 53),
            Some(0.0037),
        ),
    ];
    for (file, last, tokens, cost) in cases {
        let sample = fixture(&format!("streams/{file}"));
        let env = repo_with_agent("replay-agent", &[sample.to_str().unwrap()]);
        env.try_task("app.py", 1, &["-n", "1"]);
        let s = env.wait_all_finished();
        let activity = &by_number(&s, 1)["activity"];
        assert_eq!(activity["last"], *last, "{file}: {activity:#}");
        assert_eq!(activity["tokens"].as_u64(), *tokens, "{file}");
        assert_eq!(activity["cost_usd"].as_f64(), *cost, "{file}");
    }
}

#[test]
fn agents_lists_profiles_with_detection_and_argv() {
    let env = TestEnv::named("x", &[]);
    let bin = env.base().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let stub = |name: &str, version: &str| {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\necho '{version}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("claude", "2.0.14 (Claude Code)");
    stub("codex", "codex-cli 0.46.0");
    stub("goose", "goose version: v3.24.1"); // the database migration tool, not the agent
    env.write_config("[agent.claude]\ncommand = [\"claude\", \"-p\", \"{prompt}\", \"--model\", \"{model}\"]\nmodel = \"opus\"\n");
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let env = env.with("PATH", &path);
    let v = env.json(&["agents", "--json"]);
    let find = |name: &str| {
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()
            .clone()
    };
    let claude = find("claude");
    assert_eq!(
        claude["source"], "user",
        "the user's profile overrides the built-in"
    );
    assert_eq!(claude["usable"], true);
    assert_eq!(
        claude["version"],
        Value::Null,
        "a command of the user's own is never run to ask its version"
    );
    assert_eq!(
        claude["argv"],
        serde_json::json!(["claude", "-p", "{prompt}", "--model", "opus"])
    );
    let codex = find("codex");
    assert_eq!(
        (codex["source"].as_str(), codex["usable"].as_bool()),
        (Some("built-in"), Some(true))
    );
    assert_eq!(codex["version"], "codex-cli 0.46.0");
    assert_eq!(
        codex["argv"],
        serde_json::json!([
            "codex",
            "exec",
            "--json",
            "--sandbox",
            "workspace-write",
            "{prompt}"
        ]),
        "no model: no -m"
    );
    let goose = find("goose");
    assert_eq!(goose["usable"], false);
    assert!(
        goose["note"].as_str().unwrap().contains("a different tool"),
        "{goose:#}"
    );
    assert_eq!(find("gemini")["binary"], Value::Null);
    let text = env.ok(&["agents"]);
    assert!(
        text.contains("✓ claude") && text.contains("✗ goose"),
        "{text}"
    );
}

#[test]
fn claude_and_cursor_starts_are_staggered() {
    let env = TestEnv::named("s", &[("a.py", "# TODO: x\n")]);
    let bin = env.base().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let claude = bin.join("claude");
    std::fs::write(
        &claude,
        format!(
            "#!/bin/sh\nexec python3 {} \"$@\"\n",
            fixture("agents/fake-agent").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let env = env.with("PATH", &path);
    env.write_config("agents = [\"claude\"]\n");
    let (fanout, _) = env.try_task("a.py", 1, &["-n", "3"]);
    let delays: Vec<u64> = (1..=3)
        .map(|n| {
            let p = env
                .repo
                .join(format!(".git/fanout/fanouts/{fanout}/{n}/state.json"));
            serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap()["start_delay_ms"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(delays, [0, 2000, 4000]);
    wait_for(
        "staggered attempts to finish",
        Duration::from_secs(60),
        || {
            let s = env.status();
            attempts_of(&s)
                .iter()
                .all(|a| a["state"] == "succeeded")
                .then_some(())
        },
    );
}
