//! The pool of warm worktrees: a discarded attempt's worktree is kept and reused by the next
//! fork, which must then be exactly what a fresh checkout would be (files, modes, symlinks,
//! index, `git status`), minus nothing but the ignored build output the setting keeps.

use crate::common::cli::wait_for;
use crate::common::TestEnv;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const LIB_RS: &str =
    "pub fn parse(s: &str) -> u32 {\n    // TODO: handle empty input\n    s.parse().unwrap()\n}\n";

fn repo(config_extra: &str) -> TestEnv {
    let env = TestEnv::named(
        "pooled",
        &[
            ("src/lib.rs", LIB_RS),
            ("src/util/a.rs", "pub fn a() {}\n"),
            ("src/util/b.rs", "pub fn b() {}\n"),
            ("README.md", "# pooled\n"),
            ("run.sh", "#!/bin/sh\necho hi\n"),
            (".gitignore", "target/\n*.log\n"),
        ],
    );
    std::fs::set_permissions(env.path("run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("src/lib.rs", env.path("link")).unwrap();
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "exec and link"]);
    let fake = crate::common::fake_agent().display().to_string();
    let release = env.base().join("release-{attempt}").display().to_string();
    env.write_config(&format!(
        r#"attempts = 3
agents = ["fake"]
{config_extra}

[agent.fake]
command = ["python3", "{fake}", "{{prompt_file}}"]

[agent.gated]
command = ["env", "FAKE_AGENT_MODE=wait", "FAKE_AGENT_WAIT={release}", "python3", "{fake}", "{{prompt_file}}"]
"#
    ));
    env
}

fn pool_dir(env: &TestEnv) -> PathBuf {
    let roots = env.base().join("data/fanout/worktrees");
    let repo_root = std::fs::read_dir(&roots)
        .unwrap()
        .flatten()
        .next()
        .expect("a per-repository worktree folder")
        .path();
    repo_root.join(".pool")
}

/// The pooled worktrees' folders.
fn pooled(env: &TestEnv) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(pool_dir(env))
        .map(|it| {
            it.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn pool_count(env: &TestEnv) -> u64 {
    env.status()["pool"]["worktrees"].as_u64().unwrap()
}

/// Fork 3 attempts of the fake agent, wait for them and discard them all: the pool fills.
fn fill_pool(env: &TestEnv) -> String {
    let (fanout, _) = env.try_task("src/lib.rs", 2, &[]);
    env.wait_all_finished();
    env.ok(&["discard", &fanout]);
    fanout
}

/// Every file under `dir` but `.git`: path → (kind and mode, content or link target).
fn files_of(dir: &Path) -> BTreeMap<String, (String, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.unwrap();
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".git" || rel.starts_with(".git/") || e.file_type().is_dir() {
            continue;
        }
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let entry = if meta.file_type().is_symlink() {
            (
                "link".to_string(),
                std::fs::read_link(e.path())
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec(),
            )
        } else {
            (
                format!("file {:o}", meta.permissions().mode() & 0o111),
                std::fs::read(e.path()).unwrap(),
            )
        };
        out.insert(rel, entry);
    }
    out
}

/// A fresh `git worktree add` of `commit`, for comparison (removed again).
fn fresh_checkout(env: &TestEnv, commit: &str) -> BTreeMap<String, (String, Vec<u8>)> {
    let dir = env.base().join("fresh");
    env.git(&[
        "worktree",
        "add",
        "-q",
        "--detach",
        dir.to_str().unwrap(),
        commit,
    ]);
    let files = files_of(&dir);
    env.git(&["worktree", "remove", "--force", dir.to_str().unwrap()]);
    files
}

/// The attempts' worktrees of a fanout, from the status.
fn worktrees(env: &TestEnv, fanout: &str) -> Vec<PathBuf> {
    let s = env.status();
    let f = s["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fanout)
        .unwrap()
        .clone();
    f["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| PathBuf::from(a["worktree"].as_str().unwrap()))
        .collect()
}

fn snapshot_of(env: &TestEnv, fanout: &str) -> String {
    let s = env.status();
    s["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fanout)
        .unwrap()["snapshot"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Leftovers a pooled worktree may hold: build output (ignored) and stray files (not).
fn litter(slot: &Path) {
    std::fs::create_dir_all(slot.join("target/debug")).unwrap();
    std::fs::write(slot.join("target/debug/app"), "binary").unwrap();
    std::fs::write(slot.join("build.log"), "log").unwrap();
    std::fs::write(slot.join("stray.txt"), "stray").unwrap();
    std::fs::create_dir_all(slot.join("scratch/deep")).unwrap();
    std::fs::write(slot.join("scratch/deep/x"), "x").unwrap();
    std::fs::write(slot.join("src/util/a.rs"), "pub fn a() { changed }\n").unwrap();
}

/// Start a gated fork (agents wait for their release): its worktrees as the fork left them.
fn gated_fork(env: &TestEnv) -> (String, Vec<String>) {
    env.try_task("src/lib.rs", 2, &["--agent", "gated", "-n", "3"])
}

fn release_all(env: &TestEnv, attempts: &[String]) {
    for a in attempts {
        env.release(a);
    }
    env.wait_all_finished();
}

#[test]
fn a_reused_worktree_is_a_fresh_checkout_plus_its_ignored_build_output() {
    let env = repo("");
    fill_pool(&env);
    assert_eq!(pool_count(&env), 3);
    let slots = pooled(&env);
    assert_eq!(slots.len(), 3);
    // `git worktree list` knows them.
    let list = env.git(&["worktree", "list", "--porcelain"]);
    for s in &slots {
        assert!(list.contains(s.to_str().unwrap()), "{list}");
    }
    for s in &slots {
        litter(s);
    }
    // The user's tree moves on: a change, a new file, a deleted one, a new folder.
    env.write("README.md", "# pooled, changed\n");
    env.write("src/new/mod.rs", "pub mod x;\n");
    std::fs::remove_file(env.path("src/util/b.rs")).unwrap();

    let (fanout, attempts) = gated_fork(&env);
    assert_eq!(pool_count(&env), 0, "all three were reused");
    let expected = fresh_checkout(&env, &snapshot_of(&env, &fanout));
    for wt in worktrees(&env, &fanout) {
        assert!(slots.iter().all(|s| s != &wt));
        let mut files = files_of(&wt);
        // Ignored build output stays (the default); untracked and stale files are gone.
        assert_eq!(
            files.remove("target/debug/app").map(|f| f.1),
            Some(b"binary".to_vec())
        );
        assert!(files.remove("build.log").is_some());
        assert_eq!(files, expected, "{}", wt.display());
        assert!(!wt.join("scratch").exists());
        let git = |args: &[&str]| env.git_in(&wt, args);
        assert_eq!(git(&["status", "--porcelain"]), "", "{}", wt.display());
        // The index's stat data is valid: diff-files compares stat data without refreshing.
        let out = env
            .command("git")
            .current_dir(&wt)
            .args(["diff-files", "--quiet"])
            .status()
            .unwrap();
        assert!(out.success(), "stale stat data in {}", wt.display());
        assert_eq!(
            git(&["ls-files", "-s"]),
            env.git(&[
                "ls-tree",
                "-r",
                "--format=%(objectmode) %(objectname) 0\t%(path)",
                &snapshot_of(&env, &fanout)
            ]),
        );
        let branch = git(&["symbolic-ref", "HEAD"]);
        assert!(
            branch
                .trim()
                .starts_with("refs/heads/fanout/handle-empty-input-"),
            "{branch}"
        );
    }
    release_all(&env, &attempts);
    // The attempts ran in their reused worktrees as in fresh ones.
    let diff = env.ok(&["diff", &attempts[0]]);
    assert!(diff.contains("done by attempt 1"), "{diff}");
}

#[test]
fn keep_ignored_false_drops_the_build_output_and_globs_keep_only_theirs() {
    for (setting, app, log) in [
        ("keep_ignored = false", false, false),
        ("keep_ignored = [\"target\"]", true, false),
    ] {
        let env = repo(setting);
        fill_pool(&env);
        for s in pooled(&env) {
            litter(&s);
        }
        let (fanout, attempts) = gated_fork(&env);
        for wt in worktrees(&env, &fanout) {
            assert_eq!(wt.join("target/debug/app").exists(), app, "{setting}");
            assert_eq!(wt.join("build.log").exists(), log, "{setting}");
            assert!(!wt.join("stray.txt").exists());
            assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
        }
        release_all(&env, &attempts);
    }
}

#[test]
fn a_users_edit_in_a_finished_attempt_is_collected_never_reused() {
    let env = repo("");
    let (fanout, attempts) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    env.wait_all_finished();
    let wt = worktrees(&env, &fanout)[0].clone();
    std::fs::write(wt.join("README.md"), "my own edit\n").unwrap();
    let err = env.fails(&["discard", &attempts[0]]);
    assert!(err.contains("README.md"), "{err}");
    assert_eq!(pool_count(&env), 0, "refused: nothing pooled");
    let diff = env.ok(&["diff", &attempts[0]]);
    assert!(
        diff.contains("my own edit"),
        "the edit was collected: {diff}"
    );
    // Now collected, the discard goes through and pools the worktree...
    env.ok(&["discard", &attempts[0]]);
    assert_eq!(pool_count(&env), 1);
    // ...and the next fork gets the snapshot, not the edit.
    let (next, attempts) = gated_fork(&env);
    for wt in worktrees(&env, &next) {
        assert_eq!(
            std::fs::read_to_string(wt.join("README.md")).unwrap(),
            "# pooled\n"
        );
    }
    release_all(&env, &attempts);
}

#[test]
fn the_pool_keeps_within_its_limits_and_gc_trims_it() {
    let env = repo("pool = 2");
    fill_pool(&env);
    assert_eq!(pool_count(&env), 2, "pool = 2 of 3 discarded");
    assert_eq!(pooled(&env).len(), 2);
    let slot_bytes = env.status()["pool"]["bytes"].as_u64().unwrap();
    assert!(slot_bytes > 0);

    // Lower the limit: gc trims to it and says so.
    let config = std::fs::read_to_string(env.base().join("config/fanout/config.toml")).unwrap();
    env.write_config(&config.replace("pool = 2", "pool = 1"));
    let out = env.ok(&["gc"]);
    assert!(out.contains("trimmed the pool by 1 worktree"), "{out}");
    assert_eq!(pool_count(&env), 1);
    wait_for("the trash emptied", Duration::from_secs(30), || {
        let trash = pool_dir(&env).parent().unwrap().join(".trash");
        std::fs::read_dir(&trash)
            .map(|it| it.flatten().all(|e| e.file_name() == ".lock"))
            .unwrap_or(true)
            .then_some(())
    });
    let list = env.git(&["worktree", "list"]);
    assert_eq!(
        list.lines().count(),
        2,
        "the repository and one pooled: {list}"
    );

    // A byte limit below one worktree: nothing is pooled.
    env.write_config(&config.replace("pool = 2", "pool_max_bytes = 1"));
    env.ok(&["gc"]);
    assert_eq!(pool_count(&env), 0);
    fill_pool(&env);
    assert_eq!(pool_count(&env), 0);
    assert_eq!(env.git(&["worktree", "list"]).lines().count(), 1);

    // pool = 0 turns it off.
    env.write_config(&config.replace("pool = 2", "pool = 0"));
    fill_pool(&env);
    assert_eq!(pool_count(&env), 0);
}

#[test]
fn warm_fills_the_pool_and_status_shows_it() {
    let env = repo("");
    let out = env.ok(&["warm", "-n", "2"]);
    assert!(out.contains("warmed 2 worktree(s)"), "{out}");
    assert_eq!(pool_count(&env), 2);
    let text = env.ok(&["status"]);
    assert!(text.contains("pool: 2 warm worktrees"), "{text}");
    // Up to the pool's size (3) only.
    let out = env.ok(&["warm", "-n", "5"]);
    assert!(out.contains("warmed 1 worktree(s)"), "{out}");
    assert_eq!(pool_count(&env), 3);
    for s in pooled(&env) {
        assert_eq!(env.git_in(&s, &["status", "--porcelain"]), "");
    }
    let (fanout, attempts) = gated_fork(&env);
    assert_eq!(pool_count(&env), 0);
    for wt in worktrees(&env, &fanout) {
        assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    }
    release_all(&env, &attempts);
    // No warm branch is left.
    assert_eq!(
        env.git(&["for-each-ref", "refs/heads/fanout/pool-warm/"]),
        ""
    );
}

#[test]
fn reuse_never_follows_a_symlink_out_of_a_pooled_worktree_nor_trusts_its_git_file() {
    let env = repo("");
    fill_pool(&env);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("a.rs"), "outside\n").unwrap();
    for s in pooled(&env) {
        // A folder of the snapshot replaced by a symlink out, and a .git file pointing at
        // the user's repository.
        std::fs::remove_dir_all(s.join("src/util")).unwrap();
        std::os::unix::fs::symlink(outside.path(), s.join("src/util")).unwrap();
        std::fs::write(
            s.join(".git"),
            format!("gitdir: {}\n", env.repo.join(".git").display()),
        )
        .unwrap();
    }
    let before = env.user_state();
    let (fanout, attempts) = gated_fork(&env);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("a.rs")).unwrap(),
        "outside\n"
    );
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
    for wt in worktrees(&env, &fanout) {
        let util = std::fs::symlink_metadata(wt.join("src/util")).unwrap();
        assert!(util.is_dir(), "a real folder again");
        assert_eq!(env.git_in(&wt, &["status", "--porcelain"]), "");
    }
    release_all(&env, &attempts);
    let now = env.user_state();
    assert!(now == before, "the user's repository changed");
}
