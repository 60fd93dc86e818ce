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
