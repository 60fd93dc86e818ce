//! `fanout review`: a judge agent (tests/fixtures/agents/judge-agent) ranks the attempts of a
//! fanout made by the edit agent; its verdict enters the ranking after verify; bad verdicts
//! fail the review with a clear error.

use crate::common::TestEnv;
use serde_json::{json, Value};

fn base() -> String {
    (1..=20).map(|i| format!("line {i}\n")).collect()
}

/// #1 a small change that passes verify, #2 a bigger one that fails it, #3 a bigger one that
/// passes: by the default rules, 1, 3, 2.
fn three_attempts(top: &str) -> (TestEnv, String) {
    let b = base();
    let spec = json!({
        "1": {"a.txt": b.replace("line 2\n", "ok small\n")},
        "2": {"a.txt": b.replace("line 2\n", "bad\n").replace("line 10\n", "bad too\n")},
        "3": {"a.txt": b.replace("line 2\n", "ok bigger\n").replace("line 18\n", "ok more\n")},
        // A synthesis (attempt 4): #1's line 2 and #3's line 18.
        "4": {"a.txt": b.replace("line 2\n", "ok small\n").replace("line 18\n", "ok more\n")},
    });
    let env = TestEnv::new(&[("a.txt", &b)])
        .with_edit_agent(&spec)
        .with_judge(top);
    env.write(
        ".fanout.toml",
        "verify = [\"grep\", \"-q\", \"ok\", \"a.txt\"]\n",
    );
    env.ok(&["trust", "--yes"]);
    let (fanout, _) = env.try_task(
        "a.txt",
        1,
        &["-n", "3", "--agent", "edit", "--prompt", "change a.txt"],
    );
    env.wait_all_finished();
    (env, fanout)
}

fn fanout_of(env: &TestEnv) -> Value {
    env.status()["fanouts"][0].clone()
}

fn order(f: &Value) -> Vec<u64> {
    f["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["n"].as_u64().unwrap())
        .collect()
}

fn attempt(f: &Value, n: u64) -> Value {
    f["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["n"] == n)
        .unwrap()
        .clone()
}

#[test]
fn the_ranking_follows_the_verdict_and_verify_still_wins() {
    let (mut env, fanout) = three_attempts("");
    assert_eq!(order(&fanout_of(&env)), [1, 3, 2], "before the review");
    let prompt_copy = env.base().join("judge-prompt.txt");
    env.set_var("JUDGE_PROMPT_COPY", &prompt_copy.display().to_string());
    env.set_var("JUDGE_RANKING", "2,3,1");
    let out = env.ok(&["review", &fanout]);
    assert!(out.contains("best #2") && out.contains("1. #2"), "{out}");
    assert!(
        out.contains("+ strength of #2") && out.contains("! risk of #3"),
        "{out}"
    );

    // Verify passed comes first, then the judge's rank: #3 over #1; #2 failed verify.
    let f = fanout_of(&env);
    assert_eq!(order(&f), [3, 1, 2], "{f:#}");
    assert_eq!(f["best"], format!("{fanout}-3"));
    assert_eq!(env.ok(&["best", &fanout]).trim(), format!("{fanout}-3"));
    assert_eq!(f["review"]["state"], "succeeded", "{f:#}");
    assert_eq!(f["verdict"]["ranking"], json!([2, 3, 1]));
    assert_eq!(f["verdict"]["agent"], "judge");
    let two = attempt(&f, 2);
    assert_eq!(two["judge_rank"], 1);
    assert!(
        two["title"]
            .as_str()
            .unwrap()
            .contains("★ judge: summary of #2"),
        "{two:#}"
    );
    assert!(attempt(&f, 3)["title"]
        .as_str()
        .unwrap()
        .contains("judge #2"));
    let status = env.ok(&["status"]);
    assert!(status.contains("★ judge: summary of #2"), "{status}");

    // The judge saw every candidate's diff, hunks and verify result, listwise.
    let prompt = std::fs::read_to_string(&prompt_copy).unwrap();
    for expected in [
        "## Candidate #1",
        "## Candidate #2",
        "## Candidate #3",
        "+ok small\n",
        "+bad too\n",
        "+ok more\n",
        " hunk ",
        "Verify: FAILED",
        "FANOUT_VERDICT_FILE",
    ] {
        assert!(prompt.contains(expected), "{expected:?} in\n{prompt}");
    }

    // Its own edit is in no attempt, and its worktree and branch are gone.
    for n in 1..=3 {
        let diff = env.ok(&["diff", &format!("{fanout}-{n}")]);
        assert!(!diff.contains("judge-was-here"), "{diff}");
    }
    assert!(!env.path("judge-was-here.txt").exists());
    assert!(env.git(&["branch", "--list", "*review*"]).trim().is_empty());
    assert!(
        !std::path::Path::new(f["attempts"][0]["worktree"].as_str().unwrap())
            .with_file_name(format!("{fanout}-review"))
            .exists()
    );

    // Again: the new verdict replaces the old one.
    env.set_var("JUDGE_RANKING", "1,3,2");
    env.ok(&["review", &fanout]);
    let f = fanout_of(&env);
    assert_eq!(order(&f), [1, 3, 2]);
    assert_eq!(f["verdict"]["ranking"], json!([1, 3, 2]));
    let c = env.json(&["compare", &fanout, "--json"]);
    assert_eq!(c["verdict"]["best"], 1, "{c:#}");
}

#[test]
fn a_bad_or_missing_verdict_fails_the_review_with_a_clear_error() {
    let (mut env, fanout) = three_attempts("");
    env.set_var("JUDGE_RANKING", "3,1,2");
    env.ok(&["review", &fanout]);
    for (mode, why) in [
        ("malformed", "not valid JSON"),
        ("absent", "the judge wrote no verdict"),
        (
            "invalid",
            "the verdict's ranking must hold every candidate once (#1, #2, #3)",
        ),
    ] {
        env.set_var("JUDGE_MODE", mode);
        let err = env.fails(&["review", &fanout]);
        assert!(err.contains("failed") && err.contains(why), "{mode}: {err}");
        let f = fanout_of(&env);
        assert_eq!(f["review"]["state"], "failed", "{mode}: {f:#}");
        assert!(f["review"]["error"].as_str().unwrap().contains(why));
        assert!(f["verdict"].is_null(), "{mode}: the old verdict is gone");
        assert_eq!(order(&f), [1, 3, 2], "{mode}: the default ranking again");
        let log = std::fs::read_to_string(f["review"]["log"].as_str().unwrap()).unwrap();
        assert!(log.contains(&format!("judge-agent {mode}")), "{log}");
        if mode == "malformed" {
            assert!(
                log.contains("I think #1 is best {not json"),
                "raw verdict kept: {log}"
            );
        }
    }
}

#[test]
fn a_review_needs_two_attempts_with_changes() {
    let spec = json!({"1": {"a.txt": "changed\n"}});
    let env = TestEnv::new(&[("a.txt", "a\n")])
        .with_edit_agent(&spec)
        .with_judge("");
    let (fanout, _) = env.try_task("a.txt", 1, &["-n", "2", "--agent", "edit", "--prompt", "x"]);
    env.wait_all_finished();
    let err = env.fails(&["review", &fanout]);
    assert!(
        err.contains("a review compares two or more attempts with changes; ")
            && err.contains("has 1"),
        "{err}"
    );
    let err = env.fails(&["review", &fanout, "--agent", "nosuch"]);
    assert!(
        err.contains("two or more"),
        "checked before the agent: {err}"
    );
}

#[test]
fn review_auto_runs_once_every_attempt_has_ended() {
    let (env, _fanout) = three_attempts("review = \"auto\"");
    let s = env.wait_status("the automatic review's verdict", |s| {
        s["fanouts"][0]["review"]["state"] == "succeeded"
    });
    let f = &s["fanouts"][0];
    // The judge's default ranking is highest number first: 3, 2, 1; verify first: 3, 1, 2.
    assert_eq!(f["verdict"]["ranking"], json!([3, 2, 1]), "{f:#}");
    assert_eq!(order(f), [3, 1, 2]);
}

#[test]
fn cancelling_the_fanout_stops_its_running_review() {
    let (env, fanout) = three_attempts("");
    let mut review = env
        .command(env!("CARGO_BIN_EXE_fanout"))
        .args(["review", &fanout])
        .env("JUDGE_MODE", "hang")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_status("the review running", |s| {
        s["fanouts"][0]["review"]["state"] == "running"
    });
    let err = env.fails(&["review", &fanout]);
    assert!(err.contains("already running"), "{err}");
    let out = env.ok(&["cancel", &fanout]);
    assert!(out.contains(&format!("cancelled {fanout}-review")), "{out}");
    let status = review.wait().unwrap();
    assert!(
        !status.success(),
        "the waiting `fanout review` reports the cancel"
    );
    let f = fanout_of(&env);
    assert_eq!(f["review"]["state"], "cancelled", "{f:#}");
    assert!(f["verdict"].is_null());
}

#[test]
fn a_synthesis_is_one_more_attempt_whose_prompt_holds_the_others_diffs_and_the_verdict() {
    let (mut env, fanout) = three_attempts("");
    env.set_var("JUDGE_RANKING", "3,1,2");
    env.ok(&["review", &fanout]);
    let out = env.ok(&["synthesize", &fanout, "--agent", "edit"]);
    assert!(
        out.contains(&format!("{fanout}-4 (edit) is combining #1, #2, #3")),
        "{out}"
    );
    let s = env.wait_all_finished();
    let f = &s["fanouts"][0];
    let four = attempt(f, 4);
    assert_eq!(four["state"], "succeeded", "{four:#}");
    assert_eq!(four["synthesis_of"], json!([1, 2, 3]));
    assert_eq!(four["verify"]["passed"], true, "verified like any attempt");
    assert!(
        four["title"]
            .as_str()
            .unwrap()
            .starts_with("#4 edit synthesis ✓"),
        "{four:#}"
    );
    assert!(attempt(f, 1)["synthesis_of"].is_null());

    let prompt = std::fs::read_to_string(
        env.repo
            .join(format!(".git/fanout/fanouts/{fanout}/4/prompt.txt")),
    )
    .unwrap();
    for expected in [
        "combines the best ideas",
        "## Candidate #1",
        "## Candidate #2",
        "## Candidate #3",
        "+ok small\n",
        "+bad too\n",
        "+ok more\n",
        "Verify: FAILED",
        "Ranking, best first: #3, #1, #2.",
        "#3: summary of #3",
    ] {
        assert!(prompt.contains(expected), "{expected:?} in\n{prompt}");
    }
    // It is accepted like any attempt.
    env.ok(&["accept", &format!("{fanout}-4")]);
    assert!(env.read("a.txt").contains("ok small\n") && env.read("a.txt").contains("ok more\n"));
}
