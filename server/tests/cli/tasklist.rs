//! The task list workflow as a user runs it: `fanout plan` (a lead writes TASKS.md, accepted
//! like any attempt), `fanout try --all` (one fanout per item under the run queue's cap;
//! items with `after:` wait), `fanout integrate` (the best of each merged into one branch,
//! verify after each merge, conflicts and broken verifies reported), and accepting the
//! integration, which checks the merged items' boxes.

use crate::common::cli::{fixture, wait_for};
use crate::common::TestEnv;
use crate::queue::capped_repo;
use serde_json::{json, Value};
use std::time::Duration;

const TASKS: &str = "# Game\n\n- [ ] Board\n  Done when: board.py exists\n  Touches: board.py\n- [ ] Search\n  Touches: search.py\n- [ ] Self-play\n  Touches: selfplay.py\n  after: Board, Search\n";

/// Agent `team` (tests/fixtures/agents/team-agent) as the roster and the lead, writing per
/// item title the files `spec` gives.
fn team(env: TestEnv, spec: &Value) -> TestEnv {
    let agent = fixture("agents/team-agent").display().to_string();
    let path = env.base().join("config/fanout/config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text =
        text.replace(
            "agents = [\"fake\"]",
            "agents = [\"team\"]\nlead = \"team\"",
        ) + &format!("\n[agent.team]\ncommand = [\"python3\", \"{agent}\", \"{{prompt_file}}\"]\n");
    std::fs::write(&path, text).unwrap();
    let spec_path = env.base().join("team-spec.json");
    std::fs::write(&spec_path, spec.to_string()).unwrap();
    env.with("TEAM_AGENT_SPEC", &spec_path.display().to_string())
}

fn batch(status: &Value) -> Value {
    status["batches"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone()
}

fn item(status: &Value, n: usize) -> Value {
    batch(status)["items"][n - 1].clone()
}

#[test]
fn a_lead_plans_the_task_list_and_the_plan_is_accepted_like_an_attempt() {
    let env = team(
        TestEnv::named("proj", &[("README.md", "# game\n")]),
        &json!({}),
    );
    let plan = env.base().join("plan.json");
    std::fs::write(
        &plan,
        json!({"file": "TASKS.md", "text": TASKS}).to_string(),
    )
    .unwrap();
    let env = env.with("TEAM_AGENT_PLAN", &plan.display().to_string());
    let out = env.ok(&["plan", "--prompt", "Build a game engine"]);
    assert!(out.contains("started the lead"), "{out}");
    let s = env.wait_all_finished();
    let f = &s["fanouts"][0];
    assert_eq!(f["task"]["marker"], "plan");
    assert_eq!(f["task"]["text"], "Build a game engine");
    assert_eq!(f["task"]["file"], "TASKS.md");
    let a = &f["attempts"][0];
    assert_eq!(a["agent"], "team");
    assert_eq!(f["attempts"].as_array().unwrap().len(), 1, "one lead");
    let id = a["id"].as_str().unwrap();
    // The lead's prompt asks for the format fanout reads.
    let prompt = std::fs::read_to_string(env.repo.join(format!(
        ".git/fanout/fanouts/{}/1/prompt.txt",
        f["id"].as_str().unwrap()
    )))
    .unwrap();
    assert!(prompt.starts_with("Goal: Build a game engine"), "{prompt}");
    assert!(
        prompt.contains("after:") && prompt.contains("Done when:"),
        "{prompt}"
    );
    let diff = env.ok(&["diff", id]);
    assert!(diff.contains("+- [ ] Self-play"), "{diff}");
    env.ok(&["accept", id]);
    assert_eq!(env.read("TASKS.md"), TASKS);
    // Then the lens and `try --all` see its 3 items.
    let tasks = env.ok(&["tasks"]);
    assert_eq!(tasks.matches("TASKS.md:").count(), 3, "{tasks}");
}

#[test]
fn try_all_caps_running_agents_waits_for_dependencies_and_integrates() {
    let spec = json!({
        "Board": {"board.py": "BOARD = {attempt}\n"},
        "Search": {"search.py": "def search():\n    return {attempt}\n"},
        "Self-play": {"selfplay.py": "import board, search\n"},
    });
    let env = team(
        capped_repo(2, &[("TASKS.md", TASKS), ("README.md", "# game\n")]),
        &spec,
    );
    let live = env.base().join("live");
    std::fs::create_dir_all(&live).unwrap();
    let env = env
        .with("TEAM_AGENT_LIVE", &live.display().to_string())
        .with("TEAM_AGENT_GATE", "1");
    let before = env.user_state();

    let started = env.json(&["try", "--all", "-n", "2", "--json"]);
    assert_eq!(started["file"], "TASKS.md");
    assert_eq!(
        started["started"].as_array().unwrap().len(),
        2,
        "{started:#}"
    );
    assert_eq!(started["waiting"][0]["title"], "Self-play");
    assert_eq!(started["waiting"][0]["after"], json!(["Board", "Search"]));

    // 4 attempts, at most 2 agents alive: 2 run (held at the gate), 2 wait in line.
    let s = env.wait_status("2 running, 2 queued", |s| {
        s["running"] == 2 && s["queued"] == 2
    });
    let alive = || {
        std::fs::read_dir(&live)
            .unwrap()
            .flatten()
            .filter(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                !n.starts_with("peak-") && n != "go"
            })
            .count()
    };
    wait_for(
        "the 2 running agents at the gate",
        Duration::from_secs(60),
        || (alive() == 2).then_some(()),
    );
    assert_eq!(item(&s, 3)["fanout"], Value::Null, "Self-play waits");
    assert!(
        item(&s, 3)["label"]
            .as_str()
            .unwrap()
            .contains("waiting for 1, 2"),
        "{:#}",
        item(&s, 3)
    );
    let text = env.ok(&["status"]);
    assert!(
        text.contains("TASKS.md") && text.contains("Self-play"),
        "{text}"
    );

    std::fs::write(live.join("go"), "").unwrap();
    let s = env.wait_all_finished();
    let peaks: Vec<usize> = std::fs::read_dir(&live)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("peak-"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap().parse().unwrap())
        .collect();
    assert_eq!(peaks.len(), 4, "every attempt ran");
    assert!(
        peaks.iter().all(|p| *p <= 2),
        "never more than 2 alive: {peaks:?}"
    );
    assert!(item(&s, 1)["label"]
        .as_str()
        .unwrap()
        .contains("ready to integrate"));

    // Integrate: Board and Search merge; Self-play, whose needs are now merged, starts from
    // the integration.
    let r = env.json(&["integrate", "--json"]);
    let outcomes: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["merged", "merged", "started"], "{r:#}");
    let integration = r["attempt"].as_str().unwrap().to_string();
    let branch = r["branch"].as_str().unwrap().to_string();
    assert!(branch.starts_with("fanout/integration-"), "{branch}");
    let selfplay = r["items"][2]["fanout"].as_str().unwrap().to_string();
    let s = env.wait_all_finished();
    let head = batch(&s)["integration"]["head"]
        .as_str()
        .unwrap()
        .to_string();
    let f = s["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == selfplay.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        f["snapshot"],
        head.as_str(),
        "it started from the integration"
    );

    let r = env.json(&["integrate", "--json"]);
    let outcomes: Vec<&str> = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["merged", "merged", "merged"], "{r:#}");
    assert_eq!(
        r["attempt"],
        integration.as_str(),
        "the same integration, brought up to date"
    );
    // A real branch in a real worktree.
    let log = env.git(&["log", "--format=%s", &branch]);
    assert_eq!(log.matches("fanout integrate: merge").count(), 3, "{log}");
    assert!(env.git(&["worktree", "list"]).contains(&integration));

    // Its diff is the three items' files and the three boxes checked; accepting it writes
    // exactly that into the working tree, touching nothing else of the user's git state.
    let diff = env.ok(&["diff", &integration]);
    for needle in [
        "+BOARD = ",
        "+def search",
        "+import board, search",
        "+- [x] Self-play",
    ] {
        assert!(diff.contains(needle), "{needle} in {diff}");
    }
    env.ok(&["accept", &integration]);
    let tasks = env.read("TASKS.md");
    assert_eq!(tasks.matches("- [x]").count(), 3, "{tasks}");
    assert!(env.read("selfplay.py").contains("import board"));
    let after = env.user_state();
    assert_eq!(before.head, after.head);
    assert_eq!(before.index, after.index);
    assert_eq!(before.branches, after.branches);
    assert_eq!(before.stash, after.stash);
    let s = env.status();
    let a = s["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["attempts"].as_array().unwrap().clone())
        .find(|a| a["id"] == integration.as_str())
        .unwrap();
    assert!(a["accepted_at"].is_u64(), "{a:#}");

    // The run's id discards all of it: every item's fanout, the integration and its branch.
    let run = started["batch"].as_str().unwrap();
    env.ok(&["discard", run]);
    let s = env.status();
    assert_eq!(s["fanouts"], json!([]), "{s:#}");
    assert_eq!(s["batches"], json!([]), "{s:#}");
    assert!(!env
        .git(&["branch", "--list", "fanout/*"])
        .contains("integration"));
}

#[test]
fn integrate_reports_conflicts_and_broken_verifies_and_a_pick_rebuilds() {
    let tasks = "- [ ] Alpha\n- [ ] Beta\n- [ ] Gamma\n";
    let spec = json!({
        "Alpha": {"shared.py": "ALPHA = {attempt}\n"},
        "Beta": {"shared.py": "BETA = {attempt}\n"},
        "Gamma": {"gamma.py": "BROKEN = True\n"},
    });
    let env = team(
        TestEnv::named(
            "proj",
            &[
                ("TASKS.md", tasks),
                ("shared.py", "SHARED = 0\n"),
                (
                    ".fanout.toml",
                    "verify = [\"python3\", \"-c\", \"import os, sys; sys.exit(1 if os.path.exists('gamma.py') and os.path.exists('shared.py') and 'ALPHA' in open('shared.py').read() else 0)\"]\n",
                ),
            ],
        ),
        &spec,
    );
    env.ok(&["trust", "--yes"]);
    env.json(&["try", "--all", "-n", "2", "--json"]);
    env.wait_all_finished();

    let r = env.json(&["integrate", "--json"]);
    let items = r["items"].as_array().unwrap();
    assert_eq!(items[0]["outcome"], "merged", "{r:#}");
    assert_eq!(items[1]["outcome"], "conflicted", "{r:#}");
    assert_eq!(items[1]["with"], json!([1]), "Beta conflicts with Alpha");
    assert_eq!(items[1]["paths"], json!(["shared.py"]));
    assert_eq!(items[2]["outcome"], "verify_broke", "{r:#}");
    assert!(items[2]["text"].as_str().unwrap().contains("verify failed"));
    let out = env.ok(&["integrate"]);
    assert!(
        out.contains("conflicts with 1 (Alpha) in shared.py"),
        "{out}"
    );
    assert!(out.contains("--pick"), "{out}");

    // Choosing the other attempt of Alpha starts the integration again from the snapshot.
    let s = env.status();
    let alpha = item(&s, 1);
    let chosen = alpha["chosen"].as_str().unwrap().to_string();
    let fanout = alpha["fanout"].as_str().unwrap();
    let other = if chosen.ends_with("-1") {
        format!("{fanout}-2")
    } else {
        format!("{fanout}-1")
    };
    let r = env.json(&["integrate", "--pick", &format!("Alpha={other}"), "--json"]);
    assert_eq!(r["rebuilt"], true, "{r:#}");
    assert_eq!(r["items"][0]["attempt"], other.as_str(), "{r:#}");
    assert_eq!(item(&env.status(), 1)["chosen"], other.as_str());

    // Beta merged by hand in the integration's worktree (a real git worktree): the next
    // integrate takes it as merged; a rebuild would now need --rebuild, the commit being ours.
    let worktree = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
    let beta_attempt = item(&env.status(), 2)["chosen"]
        .as_str()
        .unwrap()
        .to_string();
    let beta_branch = env.attempt(&beta_attempt)["branch"]
        .as_str()
        .unwrap()
        .to_string();
    let merge = env
        .command("git")
        .current_dir(&worktree)
        .args(["merge", "--no-edit", &beta_branch])
        .output()
        .unwrap();
    assert!(!merge.status.success(), "it conflicts");
    std::fs::write(worktree.join("shared.py"), "ALPHA = 2\nBETA = 1\n").unwrap();
    env.git_in(&worktree, &["add", "shared.py"]);
    env.git_in(&worktree, &["commit", "-q", "--no-edit"]);
    let r = env.json(&["integrate", "--json"]);
    assert_eq!(r["items"][1]["outcome"], "merged", "{r:#}");
    assert_eq!(r["rebuilt"], false);
    let diff = env.ok(&["diff", r["attempt"].as_str().unwrap()]);
    assert!(
        diff.contains("+BETA = 1") && diff.contains("+- [x] Beta"),
        "{diff}"
    );
    let e = env.fails(&["integrate", "--pick", &format!("1={chosen}")]);
    assert!(
        e.contains("commits of your own") && e.contains("--rebuild"),
        "{e}"
    );

    let bad = env.fails(&["integrate", "--pick", "Alpha=nope"]);
    assert!(
        bad.contains("nope is not an attempt of item 1 (Alpha)"),
        "{bad}"
    );
    let bad = env.fails(&["integrate", "--pick", "Delta=x"]);
    assert!(bad.contains("`Delta` names no single item"), "{bad}");

    // Accepting one item's attempt directly checks its box, in the same change.
    let beta = item(&env.status(), 2)["chosen"]
        .as_str()
        .unwrap()
        .to_string();
    let diff = env.ok(&["diff", &beta]);
    assert!(diff.contains("+- [x] Beta"), "{diff}");
    env.ok(&["accept", &beta]);
    assert_eq!(
        env.read("TASKS.md"),
        "- [ ] Alpha\n- [x] Beta\n- [ ] Gamma\n"
    );
}

#[test]
fn bad_task_lists_are_refused_naming_the_line() {
    let env = TestEnv::named(
        "proj",
        &[("TASKS.md", "- [ ] One\n  after: Two\n- [ ] Three\n")],
    );
    let e = env.fails(&["try", "--all"]);
    assert!(e.contains("TASKS.md:1") && e.contains("after: Two"), "{e}");
    let e = env.fails(&["try", "--all", "NOTES.md"]);
    assert!(e.contains("there is no task list NOTES.md"), "{e}");
    env.write("TASKS.md", "- [x] done\n");
    let e = env.fails(&["try", "--all"]);
    assert!(e.contains("no unchecked"), "{e}");
    let e = env.fails(&["integrate"]);
    assert!(e.contains("no task list has been run here"), "{e}");
    assert!(env.status()["fanouts"].as_array().unwrap().is_empty());
}

#[test]
fn an_integrate_killed_at_any_step_is_undone_and_done_again() {
    use std::os::unix::process::ExitStatusExt;
    let spec = json!({"Alpha": {"a.py": "A = 1\n"}, "Beta": {"b.py": "B = 1\n"}});
    for point in [
        "integrate.worktree-created",
        "integrate.committed",
        "integrate.reset",
        "integrate.committed:2",
        "integrate.reset:2",
    ] {
        let env = team(
            TestEnv::named("proj", &[("TASKS.md", "- [ ] Alpha\n- [ ] Beta\n")]),
            &spec,
        );
        env.json(&["try", "--all", "-n", "1", "--json"]);
        env.wait_all_finished();
        let killed = env
            .command(env!("CARGO_BIN_EXE_fanout"))
            .args(["integrate"])
            .env("FANOUT_CRASH_AT", point)
            .output()
            .unwrap();
        assert_eq!(killed.status.signal(), Some(libc::SIGKILL), "{point}");
        if point == "integrate.worktree-created" {
            // What the killed one made is listed as left behind; gc removes it.
            let s = env.status();
            assert_eq!(
                s["abandoned"].as_array().unwrap().len(),
                1,
                "{point}: {s:#}"
            );
            let e = env.fails(&["integrate"]);
            assert!(e.contains("fanout gc"), "{point}: {e}");
            env.ok(&["gc"]);
        }
        let r = env.json(&["integrate", "--json"]);
        let outcomes: Vec<&str> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["merged", "merged"], "{point}: {r:#}");
        assert_eq!(
            r["recovered"],
            point != "integrate.worktree-created",
            "{point}: {r:#}"
        );
        let worktree = std::path::PathBuf::from(r["worktree"].as_str().unwrap());
        assert_eq!(
            env.git_in(&worktree, &["status", "--porcelain"]),
            "",
            "{point}"
        );
        let merges = env.git_in(
            &worktree,
            &["log", "--first-parent", "--format=%s", "-n", "5"],
        );
        assert_eq!(
            merges.matches("fanout integrate: merge").count(),
            2,
            "{point}: {merges}"
        );
        let diff = env.ok(&["diff", r["attempt"].as_str().unwrap()]);
        assert!(
            diff.contains("+A = 1") && diff.contains("+B = 1"),
            "{point}: {diff}"
        );
        assert!(env.status()["abandoned"].as_array().unwrap().is_empty());
    }
}
