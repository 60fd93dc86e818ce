//! `fanout accept` against hostile attempts (tests/fixtures/agents/hostile-accept-agent) and a
//! hostile disk: symlinked parents, type changes, untracked files in the way, modes, odd names,
//! binaries, concurrent accepts, `kill -9` at every step, a full disk, another filesystem.
//! Where nothing may change, the user's tree, index, HEAD, branches and stash are compared
//! byte for byte (`TestEnv::user_state`), symlinks and modes included.

use crate::common::cli::{fixture, tree_entries, Entry, UserState};
use crate::common::TestEnv;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};

/// A repository with `files` committed, a task in a.py, and the hostile agent (in `mode`)
/// as the only agent.
fn hostile(mode: &str, files: &[(&str, &str)]) -> TestEnv {
    let mut all = vec![("a.py", "# TODO: accept me\n")];
    all.extend_from_slice(files);
    let env = TestEnv::named("proj", &all).with("HOSTILE_MODE", mode);
    env.write_config(&format!(
        "agents = [\"hostile\"]\n[agent.hostile]\ncommand = [\"python3\", \"{}\"]\n",
        fixture("agents/hostile-accept-agent").display()
    ));
    env
}

/// Commit whatever the test set up by hand (symlinks, modes).
fn commit_all(env: &TestEnv) {
    env.git(&["add", "-A"]);
    env.git(&["commit", "-q", "-m", "setup"]);
}

/// Fork `n` attempts and wait for them; every one must have succeeded with a change.
fn attempts(env: &TestEnv, n: usize) -> Vec<String> {
    let (_, ids) = env.try_task("a.py", 1, &["-n", &n.to_string()]);
    env.wait_all_finished();
    for id in &ids {
        let a = env.attempt(id);
        assert_eq!(a["state"], "succeeded", "{a:#}\n{}", env.ok(&["log", id]));
    }
    ids
}

/// A folder outside the repository, with one file in it; returns its path.
fn outside(env: &TestEnv) -> PathBuf {
    let dir = env.base().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "outside\n").unwrap();
    dir
}

fn assert_outside_untouched(dir: &Path) {
    let entries = tree_entries(dir);
    assert_eq!(
        entries,
        vec![(
            PathBuf::from("precious.txt"),
            Entry::File {
                mode: 0o644,
                bytes: b"outside\n".to_vec()
            }
        )],
        "nothing may be written outside the working tree"
    );
}

fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Temp files, backups or journals an accept left in the tree or the state dir.
fn stray(env: &TestEnv) -> Vec<String> {
    let mut found: Vec<String> = tree_entries(&env.repo)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.as_bytes().starts_with(b".fanout-"))
        })
        .map(|p| p.display().to_string())
        .collect();
    let accept = env.repo.join(".git/fanout/accept");
    for (p, _) in tree_entries(&accept) {
        let name = p.display().to_string();
        if name != "lock" && name != "staging" {
            found.push(format!(".git/fanout/accept/{name}"));
        }
    }
    let tmp = env.repo.join(".git/fanout/tmp");
    for (p, _) in tree_entries(&tmp) {
        found.push(format!(".git/fanout/tmp/{}", p.display()));
    }
    found
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------

#[test]
fn an_ignored_symlinked_parent_is_never_written_through() {
    let env = hostile(
        "symlink-parent",
        &[(".gitignore", "cache\n"), ("notes.txt", "notes\n")],
    );
    let out_dir = outside(&env);
    symlink(&out_dir, env.path("cache"));
    let ids = attempts(&env, 1);
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(diff.contains("+++ b/cache/x"), "{diff}");

    let before = env.user_state();
    let out = env.fanout(&["accept", &ids[0]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("nothing was written") && err.contains("cache/x: cache is a symlink"),
        "{err}"
    );
    assert_eq!(
        env.user_state(),
        before,
        "not even notes.txt, which was fine"
    );
    assert_outside_untouched(&out_dir);
    assert_eq!(stray(&env), Vec::<String>::new());
}

#[test]
fn a_symlinked_parent_made_after_the_fork_is_refused_too() {
    let env = hostile("symlink-parent", &[("notes.txt", "notes\n")]);
    let ids = attempts(&env, 1);
    // Untracked, not ignored: part of the user's current state, and of the merge.
    let out_dir = outside(&env);
    symlink(&out_dir, env.path("cache"));
    let before = env.user_state();
    let out = env.fanout(&["accept", &ids[0]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cache"), "{}", stderr(&out));
    assert_eq!(env.user_state(), before);
    // Even with conflict markers, nothing goes through the link.
    let out = env.fanout(&["accept", &ids[0], "--conflicts", "markers"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cache/x: cache is a symlink"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.user_state(), before);
    assert_outside_untouched(&out_dir);
}

#[test]
fn type_changes_are_applied_in_order_and_never_through_a_symlink() {
    let env = hostile(
        "types",
        &[
            ("f.txt", "a file\n"),
            ("d/a.txt", "a\n"),
            ("d/b.txt", "b\n"),
        ],
    );
    let out_dir = outside(&env);
    symlink("f.txt", env.path("link"));
    symlink(&out_dir, env.path("ldir")); // tracked, pointing outside
    commit_all(&env);
    let ids = attempts(&env, 1);
    let diff = env.ok(&["diff", &ids[0]]);
    for expected in [
        "diff --git a/link b/link\ndeleted file mode 120000\n",
        "-f.txt\n\\ No newline at end of file\n",
        "diff --git a/link b/link\nnew file mode 100644\n",
        "diff --git a/ldir b/ldir\ndeleted file mode 120000\n",
        "diff --git a/d b/d\nnew file mode 100644\n",
        "diff --git a/d/a.txt b/d/a.txt\ndeleted file mode 100644\n",
        "diff --git a/f.txt/inner.txt b/f.txt/inner.txt\nnew file mode 100644\n",
    ] {
        assert!(diff.contains(expected), "{expected:?} in\n{diff}");
    }
    let out = env.ok(&["accept", &ids[0]]);
    assert!(out.contains("accepted"), "{out}");
    let files = tree_entries(&env.repo);
    let get = |p: &str| {
        files
            .iter()
            .find(|(path, _)| path == Path::new(p))
            .map(|(_, e)| e.clone())
    };
    assert_eq!(
        get("f.txt/inner.txt"),
        Some(Entry::File {
            mode: 0o644,
            bytes: b"f.txt is a folder now\n".to_vec()
        })
    );
    assert!(matches!(get("f.txt"), Some(Entry::Dir { .. })));
    assert_eq!(
        get("d"),
        Some(Entry::File {
            mode: 0o644,
            bytes: b"d is a file now\n".to_vec()
        })
    );
    assert_eq!(
        get("link"),
        Some(Entry::File {
            mode: 0o644,
            bytes: b"link is a file now\n".to_vec()
        })
    );
    assert!(matches!(get("ldir"), Some(Entry::Dir { .. })), "{files:?}");
    assert_eq!(
        get("ldir/inside.txt"),
        Some(Entry::File {
            mode: 0o644,
            bytes: b"ldir is a real folder now\n".to_vec()
        })
    );
    assert_outside_untouched(&out_dir);
    assert_eq!(stray(&env), Vec::<String>::new());
}

#[test]
fn a_folder_holding_the_users_files_is_not_replaced_by_a_file() {
    let env = hostile(
        "types",
        &[
            (".gitignore", "*.log\n"),
            ("f.txt", "a file\n"),
            ("d/a.txt", "a\n"),
            ("d/b.txt", "b\n"),
        ],
    );
    symlink("f.txt", env.path("link"));
    symlink("d", env.path("ldir"));
    commit_all(&env);
    let ids = attempts(&env, 1);
    env.write("d/keep.log", "the user's ignored log\n");
    let before = env.user_state();
    let out = env.fanout(&["accept", &ids[0]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("d: d is a folder that still holds your files d/keep.log"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.user_state(), before);
}

#[test]
fn an_added_file_never_overwrites_an_ignored_one() {
    let env = hostile("build-log", &[(".gitignore", "*.log\n")]);
    env.write("build.log", "the user's own build log\n");
    let ids = attempts(&env, 1);
    let before = env.user_state();
    let out = env.fanout(&["accept", &ids[0]]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("build.log: would overwrite your untracked file build.log"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.user_state(), before);
    assert_eq!(env.read("build.log"), "the user's own build log\n");
    // Once the user moved theirs away, it goes in.
    std::fs::remove_file(env.path("build.log")).unwrap();
    env.ok(&["accept", &ids[0]]);
    assert_eq!(env.read("build.log"), "the attempt's build log\n");
}

#[test]
fn modes_and_symlinks_are_accepted_as_they_are_under_the_umask() {
    let env = hostile(
        "modes",
        &[
            ("run.sh", "#!/bin/sh\necho run\n"),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
        ],
    );
    std::fs::set_permissions(env.path("tool.sh"), PermissionsExt::from_mode(0o755)).unwrap();
    commit_all(&env);
    let ids = attempts(&env, 1);
    let diff = env.ok(&["diff", &ids[0]]);
    let hunks = env.json(&["hunks", &ids[0], "--json"]);
    let link_hunk = hunks["hunks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["path"] == "latest")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let link = format!("diff --git a/latest b/latest\nnew file mode 120000\n--- /dev/null\n+++ b/latest\n@@ -0,0 +1 @@ hunk {link_hunk}\n+run.sh\n\\ No newline at end of file\n");
    for expected in [
        "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n",
        "diff --git a/tool.sh b/tool.sh\nold mode 100755\nnew mode 100644\n",
        "diff --git a/new.sh b/new.sh\nnew file mode 100755\n",
        "diff --git a/plain.txt b/plain.txt\nnew file mode 100644\n",
        &link,
    ] {
        assert!(diff.contains(expected), "{expected:?} in\n{diff}");
    }
    assert!(
        !diff.contains("+++ b/run.sh"),
        "a mode change has no hunk: {diff}"
    );

    let mut cmd = env.command(env!("CARGO_BIN_EXE_fanout"));
    cmd.args(["accept", &ids[0]]);
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("mode       run.sh") && printed.contains("added      latest"),
        "{printed}"
    );
    assert_eq!(mode_of(&env.path("run.sh")), 0o755, "+x where readable");
    assert_eq!(mode_of(&env.path("tool.sh")), 0o644);
    assert_eq!(mode_of(&env.path("new.sh")), 0o750, "0o777 under umask 027");
    assert_eq!(
        mode_of(&env.path("plain.txt")),
        0o640,
        "0o666 under umask 027"
    );
    assert_eq!(
        std::fs::read_link(env.path("latest")).unwrap(),
        Path::new("run.sh")
    );
    assert_eq!(env.read("run.sh"), "#!/bin/sh\necho run\n");
    // git agrees: the user's tree now differs from HEAD by exactly those modes and files.
    let porcelain = env.git(&["status", "--porcelain"]);
    assert!(
        porcelain.contains(" M run.sh") && porcelain.contains(" M tool.sh"),
        "{porcelain}"
    );
    let summary = env.git(&["diff", "--summary"]);
    assert!(
        summary.contains("mode change 100644 => 100755 run.sh")
            && summary.contains("mode change 100755 => 100644 tool.sh"),
        "{summary}"
    );
}

#[test]
fn odd_file_names_keep_their_bytes_and_print_quoted() {
    let env = hostile("names", &[]);
    let ids = attempts(&env, 1);
    let diff = env.fanout(&["diff", &ids[0]]);
    let text = String::from_utf8(diff.stdout).expect("the diff is UTF-8");
    assert!(
        text.contains("diff --git \"a/caf\\351.txt\" \"b/caf\\351.txt\"\nnew file mode 100644\n"),
        "{text}"
    );
    assert!(
        text.contains("+++ \"b/\\033[31mred\\nline.txt\"\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no raw escape reaches the terminal");
    for line in text.lines() {
        assert!(
            !line.starts_with("line.txt"),
            "a newline in a name split a line: {text}"
        );
    }
    let stat = env.ok(&["diff", &ids[0], "--stat"]);
    assert!(
        stat.contains("\"caf\\351.txt\" (added)") && !stat.contains('\x1b'),
        "{stat}"
    );

    let out = env.ok(&["accept", &ids[0]]);
    assert!(
        out.contains("added      \"\\033[31mred\\nline.txt\"") && !out.contains('\x1b'),
        "{out}"
    );
    let latin = env.repo.join(OsStr::from_bytes(b"caf\xe9.txt"));
    assert_eq!(std::fs::read(&latin).unwrap(), b"latin-1 name\n");
    let escape = env.repo.join(OsStr::from_bytes(b"\x1b[31mred\nline.txt"));
    assert_eq!(
        std::fs::read(&escape).unwrap(),
        b"a name with an escape and a newline\n"
    );
    // Exactly those names, not a lossy look-alike.
    let names: Vec<Vec<u8>> = std::fs::read_dir(&env.repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().as_bytes().to_vec())
        .collect();
    assert!(!names
        .iter()
        .any(|n| n.starts_with("caf\u{fffd}".as_bytes())));
}

#[test]
fn binary_files_show_as_binary_and_are_accepted_byte_for_byte() {
    let env = hostile("binary", &[("notes.txt", "notes\n")]);
    std::fs::write(env.path("logo.bin"), b"\x89PNG\r\n\x1a\n\x00\x00old").unwrap();
    commit_all(&env);
    let ids = attempts(&env, 1);
    let diff = env.ok(&["diff", &ids[0]]);
    assert!(
        diff.contains("Binary files /dev/null and b/blob.bin differ")
            && diff.contains("Binary files a/logo.bin and b/logo.bin differ"),
        "{diff}"
    );
    env.ok(&["accept", &ids[0]]);
    assert_eq!(
        std::fs::read(env.path("blob.bin")).unwrap(),
        (0..=255u8).collect::<Vec<_>>()
    );
    assert_eq!(
        std::fs::read(env.path("logo.bin")).unwrap(),
        b"\x89PNG\r\n\x1a\n\x00\x00changed\xff\xfe"
    );
}

#[test]
fn concurrent_accepts_are_serialized_and_lose_no_update() {
    let shared: String = (1..=12).map(|i| format!("line {i}\n")).collect();
    let env = hostile("concurrent", &[("shared.txt", &shared)]);
    let ids = attempts(&env, 4);
    let children: Vec<_> = ids
        .iter()
        .map(|id| {
            env.command(env!("CARGO_BIN_EXE_fanout"))
                .args(["accept", id])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let text = env.read("shared.txt");
    let mut applied = 0;
    for (k, out) in outs.iter().enumerate() {
        let n = k + 1;
        let own = env.path(&format!("own-{n}.txt"));
        match out.status.code() {
            Some(0) => {
                applied += 1;
                assert!(
                    text.contains(&format!("line by attempt {n}\n")),
                    "attempt {n} reported success but its change is lost:\n{text}"
                );
                assert!(own.exists());
            }
            Some(1) => {
                assert!(
                    stderr(out).contains("nothing was written"),
                    "{}",
                    stderr(out)
                );
                assert!(!own.exists(), "a refused accept wrote own-{n}.txt");
            }
            other => panic!("accept {n} exited {other:?}: {}", stderr(out)),
        }
    }
    // They touch separate lines: once serialized, every one applies on top of the others.
    assert_eq!(applied, 4, "{outs:?}");
    assert_eq!(stray(&env), Vec::<String>::new());
}

/// A repository whose attempt changes everything accept can change.
fn everything() -> (TestEnv, String) {
    let env = hostile(
        "everything",
        &[
            ("f.txt", "a file\n"),
            ("d/a.txt", "a\n"),
            ("d/b.txt", "b\n"),
            ("run.sh", "#!/bin/sh\necho run\n"),
            ("tool.sh", "#!/bin/sh\necho tool\n"),
            ("notes.txt", "notes\n"),
            ("gone.txt", "to be deleted\n"),
        ],
    );
    std::fs::set_permissions(env.path("tool.sh"), PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(env.path("logo.bin"), b"\x89PNG\r\n\x1a\n\x00\x00old").unwrap();
    symlink("f.txt", env.path("link"));
    std::fs::create_dir(env.path("real")).unwrap();
    std::fs::write(env.path("real/r.txt"), "r\n").unwrap();
    symlink("real", env.path("ldir"));
    commit_all(&env);
    let id = attempts(&env, 1).remove(0);
    (env, id)
}

/// The user's tree as after an accept: its files, and everything else as `before`.
fn accepted_state(before: &UserState, env: &TestEnv) -> UserState {
    let now = env.user_state();
    UserState {
        porcelain: now.porcelain,
        files: now.files,
        head: before.head.clone(),
        head_ref: before.head_ref.clone(),
        index: before.index.clone(),
        branches: before.branches.clone(),
        stash: before.stash.clone(),
    }
}

/// Kill `fanout accept` at its n-th crash point, for n = 1, 2, ... until it completes. After
/// each kill, the next command (`fanout status`) recovers: the tree must then be exactly the
/// state before (rolled back) or, once the accept had committed, exactly the accepted state,
/// with nothing left behind either way. Every other run, the recovery itself is killed once
/// first. A repository that ends up accepted is replaced by a fresh one from `make` (the
/// same plan, so the same crash points). Returns the names of the crash points exercised, in
/// order, the final repository and the ones replaced (for the caller to drop when it suits).
fn kill_at_every_step(
    make: &dyn Fn() -> (TestEnv, String),
) -> (Vec<String>, TestEnv, Vec<TestEnv>) {
    let (mut env, mut id) = make();
    let mut before = env.user_state();
    let mut rolled_forward: Vec<(usize, UserState)> = Vec::new();
    let mut retired = Vec::new();
    let mut recoveries_killed = 0;
    let mut n = 1;
    loop {
        let log = env.base().join("crash-points.log");
        let _ = std::fs::remove_file(&log);
        let out = env
            .command(env!("CARGO_BIN_EXE_fanout"))
            .args(["accept", &id])
            .env("FANOUT_CRASH_AT", format!("*:{n}"))
            .env("FANOUT_CRASH_LOG", &log)
            .output()
            .unwrap();
        if out.status.success() {
            assert_eq!(stray(&env), Vec::<String>::new(), "after a complete accept");
            let accepted = env.user_state();
            for (k, state) in &rolled_forward {
                assert_eq!(
                    state.files, accepted.files,
                    "killed at crash point {k} after committing: not the accepted tree"
                );
                assert_eq!(state.porcelain, accepted.porcelain);
            }
            let names: Vec<String> = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect();
            assert_eq!(names.len(), n - 1, "the same crash points every run");
            eprintln!("kill -9 loop: {recoveries_killed} recoveries were killed half-way too");
            assert!(recoveries_killed > 0, "no recovery was killed");
            return (names, env, retired);
        }
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "accept at step {n} should have been killed: {}",
            stderr(&out)
        );
        let reached = std::fs::read_to_string(&log).unwrap_or_default();
        let at = reached.lines().last().unwrap_or("?").to_string();
        if n % 2 == 0 {
            // Kill the recovery too, somewhere in its undo steps; the next one finishes it.
            let out = env
                .command(env!("CARGO_BIN_EXE_fanout"))
                .args(["status"])
                .env("FANOUT_CRASH_AT", format!("accept.undo:{}", n / 2))
                .output()
                .unwrap();
            assert!(
                out.status.success() || out.status.signal() == Some(libc::SIGKILL),
                "{}",
                stderr(&out)
            );
            if out.status.signal() == Some(libc::SIGKILL) {
                recoveries_killed += 1;
            }
        }
        let out = env.fanout(&["status"]);
        assert!(
            out.status.success(),
            "status after a kill at {at}: {}",
            stderr(&out)
        );
        if n % 2 == 1 && at != "accept.done" {
            let err = stderr(&out);
            assert!(
                err.contains("fanout: rolled back an interrupted accept")
                    || err.contains("fanout: removed the leftovers of an interrupted accept")
                    || err.contains("fanout: finished cleaning up after an accept"),
                "status says what it recovered after a kill at {at}: {err}"
            );
        }
        assert_eq!(
            stray(&env),
            Vec::<String>::new(),
            "killed at crash point {n} ({at}): leftovers"
        );
        let now = env.user_state();
        if now != before {
            // Only a committed accept may be finished instead of rolled back.
            assert!(
                matches!(
                    at.as_str(),
                    "accept.committed" | "accept.cleaned" | "accept.done"
                ),
                "killed at crash point {n} ({at}): the tree must be rolled back"
            );
            assert_eq!(
                now,
                accepted_state(&before, &env),
                "killed at crash point {n} ({at}): only the files may have changed"
            );
            rolled_forward.push((n, now));
            let (fresh, fresh_id) = make();
            retired.push(std::mem::replace(&mut env, fresh));
            id = fresh_id;
            before = env.user_state();
        }
        n += 1;
        assert!(n < 1000, "accept never completed");
    }
}

#[test]
fn kill_9_at_every_step_of_accept_rolls_back_and_leaves_nothing() {
    let (points, env, _retired) = kill_at_every_step(&everything);
    eprintln!(
        "kill -9 loop: exercised {} crash points of accept: {}",
        points.len(),
        points.join(" ")
    );
    assert!(points.len() >= 20, "only {} crash points", points.len());
    // And the completed accept is the full change.
    let files = tree_entries(&env.repo);
    let get = |p: &[u8]| {
        files
            .iter()
            .find(|(path, _)| path.as_os_str().as_bytes() == p)
            .map(|(_, e)| e.clone())
    };
    assert_eq!(
        get(b"d"),
        Some(Entry::File {
            mode: 0o644,
            bytes: b"d is a file now\n".to_vec()
        })
    );
    assert!(matches!(get(b"f.txt"), Some(Entry::Dir { .. })));
    assert!(matches!(get(b"ldir"), Some(Entry::Dir { .. })));
    assert_eq!(get(b"latest"), Some(Entry::Link("run.sh".into())));
    assert_eq!(get(b"gone.txt"), None);
    assert!(get(b"caf\xe9.txt").is_some() && get(b"sub/new/deep.txt").is_some());
    assert_eq!(mode_of(&env.path("run.sh")), 0o755);
    assert_eq!(
        std::fs::read_to_string(env.path("real/r.txt")).unwrap(),
        "r\n",
        "the old symlink's target is untouched"
    );
}

/// Mount a small tmpfs at `dir` (root only); None (and a note) where that is not possible.
fn mount_tmpfs(dir: &Path, size: &str) -> Option<Unmount> {
    std::fs::create_dir_all(dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root)");
        return None;
    }
    Some(Unmount(dir.to_path_buf()))
}

struct Unmount(PathBuf);
impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_during_accept_leaves_nothing_half_done() {
    // The whole repository on a tiny filesystem: objects compress well, the 1 MiB file
    // cannot be staged.
    let env = TestEnv::without_git(&[]);
    let Some(unmount) = mount_tmpfs(&env.repo, "512k") else {
        return;
    };
    let env = env.with("HOSTILE_MODE", "big");
    env.git(&["init", "-q", "-b", "main"]);
    env.write("a.py", "# TODO: accept me\n");
    commit_all(&env);
    env.write_config(&format!(
        "agents = [\"hostile\"]\n[agent.hostile]\ncommand = [\"python3\", \"{}\"]\n",
        fixture("agents/hostile-accept-agent").display()
    ));
    let ids = attempts(&env, 1);
    let before = env.user_state();
    let out = env.fanout(&["accept", &ids[0]]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    assert_eq!(env.user_state(), before);
    assert_eq!(stray(&env), Vec::<String>::new());
    assert!(!env.path("small.txt").exists());
    // Attempts discarded while the repository is there, unmounted before its folder goes.
    env.discard_all();
    drop(unmount);
}

#[test]
fn a_folder_on_another_filesystem_gets_hidden_temp_files_and_survives_kill_9() {
    let mounts = std::cell::RefCell::new(Vec::new());
    let make = || {
        let env = hostile("exdev", &[]);
        let mount = mount_tmpfs(&env.path("mnt"), "1m")?;
        mounts.borrow_mut().push(mount);
        env.write("mnt/old.txt", "old\n");
        commit_all(&env);
        let id = attempts(&env, 1).remove(0);
        Some((env, id))
    };
    let Some(first) = make() else {
        return;
    };
    let first = std::cell::RefCell::new(Some(first));
    let (points, env, retired) = kill_at_every_step(&|| {
        first
            .borrow_mut()
            .take()
            .or_else(make)
            .expect("mounted once, mounts again")
    });
    eprintln!(
        "kill -9 loop across filesystems: exercised {} crash points: {}",
        points.len(),
        points.join(" ")
    );
    assert!(
        points.iter().any(|p| p == "accept.temp"),
        "temp files in the other filesystem's folder: {points:?}"
    );
    assert_eq!(env.read("mnt/old.txt"), "changed by the attempt\n");
    assert_eq!(env.read("mnt/new.txt"), "new on the other filesystem\n");
    assert_eq!(env.read("mnt/deeper/new.txt"), "deeper\n");
    // Unmount first, then the repositories' folders can go.
    drop(mounts);
    drop(env);
    drop(retired);
}

#[test]
fn a_file_changed_between_plan_and_apply_is_refused() {
    // The engine's own check, called with a plan made before the user's last save.
    let env = TestEnv::named("proj", &[("x.txt", "one\n"), ("y.txt", "y\n")]);
    let paths = fanout::repo::RepoPaths::discover(&env.repo).unwrap();
    let change = |path: &[u8], old: &[u8], new: &[u8]| fanout::merge::FileChange {
        path: path.to_vec(),
        kind: fanout::merge::ChangeKind::Modified,
        old: Some(old.to_vec()),
        new: Some(new.to_vec()),
        old_mode: Some(0o100644),
        new_mode: Some(0o100644),
    };
    let plan = vec![
        change(b"x.txt", b"one\n", b"two\n"),
        change(b"y.txt", b"y\n", b"Y\n"),
    ];
    env.write("x.txt", "the user's save\n");
    let before = env.user_state();
    let refused = fanout::apply::check(&paths, &plan, &|_| false).unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0].line(),
        "x.txt: changed on disk since the diff was made"
    );
    let lock = fanout::apply::lock(&paths).unwrap();
    let err = fanout::apply::apply(lock, &plan).unwrap_err().to_string();
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(env.user_state(), before);

    // Paths a hostile tree may hold that lead out of the tree or into .git.
    let added = |path: &[u8]| fanout::merge::FileChange {
        path: path.to_vec(),
        kind: fanout::merge::ChangeKind::Added,
        old: None,
        new: Some(b"x".to_vec()),
        old_mode: None,
        new_mode: Some(0o100644),
    };
    let plan = vec![
        added(b"../escape"),
        added(b"/etc/escape"),
        added(b".git/hooks/post-checkout"),
    ];
    let refused = fanout::apply::check(&paths, &plan, &|_| false).unwrap();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(!env.base().join("escape").exists());
}
