//! Agent profiles as a user writes them (a model-only override of a built-in, variants that
//! `extends`, `NAME:MODEL`, counts), FANOUT_PORT by default, stall detection and timeouts.

use crate::common::cli::{fixture, group_alive, wait_for};
use crate::common::TestEnv;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn repo() -> TestEnv {
    TestEnv::named("app", &[("app.py", "# TODO: add a feature\n")])
}

/// A user config whose profile `a` runs the env-agent fixture with `--model {model}`.
fn with_agent(env: &TestEnv, extra: &str) {
    let agent = fixture("agents/env-agent").display().to_string();
    env.write_config(&format!(
        "stagger_ms = 0\nagents = [\"a\"]\n\n[agent.a]\ncommand = [\"{agent}\", \"--model\", \"{{model}}\"]\n{extra}"
    ));
}

fn attempts(status: &Value) -> Vec<Value> {
    status["fanouts"][0]["attempts"].as_array().unwrap().clone()
}

#[test]
fn names_with_models_and_counts_pick_the_agents_and_every_attempt_gets_a_port() {
    let env = repo().with("ENV_AGENT_ALL_SUCCEED", "1");
    with_agent(
        &env,
        "\n[agent.a-fast]\nextends = \"a\"\nmodel = \"fast-1\"\nenv = { APP_FAST = \"yes\" }\n",
    );
    let (_, ids) = env.try_task("app.py", 1, &["--agents", "a:big-2:2,a-fast"]);
    assert_eq!(ids.len(), 3, "two a:big-2 and one a-fast");
    let s = env.wait_all_finished();
    let mut seen: Vec<(String, Option<String>)> = attempts(&s)
        .iter()
        .map(|a| {
            assert_eq!(a["state"], "succeeded", "{a:#}");
            let log = env.ok(&["log", a["id"].as_str().unwrap()]);
            let model = a["model"].as_str().map(String::from);
            assert!(
                log.contains(&format!("--model {}", model.as_deref().unwrap())),
                "the model reaches the argv: {log}"
            );
            let wt = Path::new(a["worktree"].as_str().unwrap());
            let vars = std::fs::read_to_string(wt.join("fanout-env.txt")).unwrap();
            assert!(
                vars.contains("FANOUT_PORT=") && vars.contains("FANOUT_PORT_COUNT=1"),
                "one port by default: {vars}"
            );
            assert_eq!(
                vars.contains("APP_FAST=yes"),
                a["agent"] == "a-fast",
                "a variant's env: {vars}"
            );
            (a["agent"].as_str().unwrap().to_string(), model)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a".to_string(), Some("big-2".to_string())),
            ("a".to_string(), Some("big-2".to_string())),
            ("a-fast".to_string(), Some("fast-1".to_string())),
        ]
    );
    let text = env.ok(&["status"]);
    assert!(
        text.contains("a:big-2") && text.contains("a-fast:fast"),
        "{text}"
    );
}

#[test]
fn a_model_only_override_of_a_built_in_needs_no_command() {
    let env = repo();
    env.write_config("[agent.claude]\nmodel = \"sonnet\"\npermissions = \"edits\"\n\n[agent.codex-high]\nextends = \"codex\"\nargs = [\"-c\", \"model_reasoning_effort=high\"]\n");
    let v = env.json(&["agents", "--json"]);
    let find = |name: &str| {
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v:#}"))
            .clone()
    };
    let claude = find("claude");
    assert_eq!(claude["model"], "sonnet");
    assert_eq!(claude["permissions"], "edits");
    let argv: Vec<&str> = claude["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        argv.windows(2).any(|w| w == ["--model", "sonnet"])
            && argv
                .windows(2)
                .any(|w| w == ["--permission-mode", "acceptEdits"]),
        "{argv:?}"
    );
    let high = find("codex-high");
    assert_eq!(high["permissions"], "edits+verify");
    assert!(
        high["argv"]
            .to_string()
            .contains("model_reasoning_effort=high"),
        "{high:#}"
    );
}

#[test]
fn profile_mistakes_get_one_clear_line() {
    let env = repo();
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "[agent.mine]\nmodel = \"m\"\n",
            &["--agent", "mine"],
            "agent.mine: no `command`, and there is no built-in 'mine' to build on",
        ),
        (
            "[agent.v]\nextends = \"nope\"\n",
            &["--agent", "v"],
            "agent.v: extends 'nope', which is no profile",
        ),
        (
            "[agent.claude]\npermissions = \"sudo\"\n",
            &["--agent", "claude"],
            "line 2: agent.claude.permissions must be one of \"edits\", \"edits+verify\" or \"full\", like permissions = \"edits\", not \"sudo\"",
        ),
        (
            "[agent.claude]\ntimeout = \"soon\"\n",
            &["--agent", "claude"],
            "agent.claude.timeout: bad duration 'soon'",
        ),
        (
            "[agent.codex]\npermissions = \"edits\"\n",
            &["--agent", "codex"],
            "codex cannot be limited to edits",
        ),
        (
            "[agent.x]\ncommand = [\"true\", \"{prompt}\"]\n",
            &["--agent", "x:sonnet"],
            "agent 'x' has no {model} in its command",
        ),
        ("", &["--agents", "claude:0"], "asks for no attempts"),
        ("", &["--agent", "claude:"], "write NAME or NAME:MODEL"),
    ];
    for (config, args, expected) in cases {
        env.write_config(config);
        let mut argv = vec!["try", "--file", "app.py", "--line", "1"];
        argv.extend_from_slice(args);
        let err = env.fails(&argv);
        assert!(err.contains(expected), "{config}{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    assert!(
        env.git(&["worktree", "list"]).trim().lines().count() == 1,
        "no worktree left behind"
    );
}

/// An agent that prints a line and then nothing: shown as stalled after `stall_secs`, and
/// stopped (its whole process group) at its `timeout`, the state saying why.
#[test]
fn a_silent_agent_shows_as_stalled_and_its_timeout_stops_it() {
    let env = repo().with("FAKE_AGENT_MODE", "hang");
    let fake = fixture("agents/fake-agent").display().to_string();
    env.write_config(&format!(
        "agents = [\"slow\"]\n\n[agent.slow]\ncommand = [\"python3\", \"{fake}\"]\nstall_secs = 1\ntimeout = \"4s\"\n"
    ));
    let (fanout, ids) = env.try_task("app.py", 1, &["-n", "1"]);
    let (_, pgid) = env.wait_agent_running(&fanout, 1);
    let stalled = wait_for(
        "the attempt to show as stalled",
        Duration::from_secs(30),
        || {
            let a = env.attempt(&ids[0]);
            a["stalled"].as_str().map(String::from)
        },
    );
    assert!(
        stalled.starts_with("stalled (no output for ") && stalled.contains("last: fake-agent: pid"),
        "{stalled}"
    );
    let text = env.ok(&["status"]);
    assert!(text.contains("stalled (no output for"), "{text}");
    let a = wait_for(
        "the timeout to stop the agent",
        Duration::from_secs(30),
        || {
            let a = env.attempt(&ids[0]);
            (a["state"] != "running" && a["state"] != "queued").then_some(a)
        },
    );
    assert_eq!(a["state"], "cancelled", "{a:#}");
    assert_eq!(
        a["error"], "stopped: the agent ran longer than its timeout of 4s",
        "{a:#}"
    );
    assert!(a["stalled"].is_null(), "a stopped attempt is not stalled");
    assert!(!group_alive(pgid), "the agent's whole group is stopped");
}
