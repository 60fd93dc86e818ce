//! `kill -9` at every step: fanout's multi-step commands are killed at each of their crash
//! points in turn (`FANOUT_CRASH_AT=*:<n>`, see server/src/fault.rs) and at random instants
//! from outside (bounded, seeded; the seed is printed and `FANOUT_FUZZ_SEED` replays it).
//! After each kill, `fanout status` must show what was left, and `fanout discard` / `fanout gc`
//! must remove all of it: no branch, admin folder, worktree folder, record, lock or temp file
//! left, and the user's tree, index, HEAD, branches and stash byte for byte as before.

use crate::common::cli::UserState;
use crate::common::TestEnv;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

const LIB_RS: &str =
    "pub fn parse(s: &str) -> u32 {\n    // TODO: handle empty input\n    s.parse().unwrap()\n}\n";

fn repo() -> TestEnv {
    let files: Vec<(String, String)> = (0..40)
        .map(|i| (format!("src/m{i}.rs"), format!("pub fn f{i}() {{}}\n")))
        .chain([("src/lib.rs".to_string(), LIB_RS.to_string())])
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let env = TestEnv::named("crashy", &refs);
    // Local changes too: the snapshot must not disturb them either.
    env.write("src/lib.rs", &LIB_RS.replace("u32", "u64"));
    env.write("untracked.txt", "new\n");
    env
}

/// Everything fanout owns in and beside the repository, as readable lines.
fn leftovers(env: &TestEnv) -> Vec<String> {
    let mut out = Vec::new();
    let refs = env.git(&["for-each-ref", "--format=%(refname)", "refs/heads/fanout/"]);
    out.extend(refs.lines().map(|r| format!("branch {r}")));
    let git = env.repo.join(".git");
    let list = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|it| {
                it.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    out.extend(
        list(&git.join("worktrees"))
            .into_iter()
            .filter(|n| n.starts_with("fanout-"))
            .map(|n| format!("admin folder {n}")),
    );
    out.extend(
        list(&git.join("fanout/fanouts"))
            .into_iter()
            .map(|n| format!("fanout record {n}")),
    );
    out.extend(
        list(&git.join("fanout/tmp"))
            .into_iter()
            .map(|n| format!("temp file {n}")),
    );
    if git.join("fanout/git-op.json").exists() {
        out.push("git-op.json".into());
    }
    for e in walkdir::WalkDir::new(git.join("refs"))
        .into_iter()
        .flatten()
    {
        if e.path().extension().is_some_and(|x| x == "lock") {
            out.push(format!("lock file {}", e.path().display()));
        }
    }
    let roots = env.base().join("data/fanout/worktrees");
    for repo_root in list(&roots) {
        // Removal renames into the trash, which a detached process empties (and then
        // removes, with the per-repository folder if nothing else is in it).
        let trash = roots.join(&repo_root).join(".trash");
        // The emptier runs at low priority (nice 10): on a loaded machine it can be starved
        // of CPU for minutes. A trash that an emptier holds (its `.lock`) is being emptied;
        // one that nobody holds is left behind.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while trash.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50)); // polling a folder, with a deadline
        }
        if trash.exists() && !being_emptied(&trash) {
            let inside: Vec<String> = walkdir::WalkDir::new(&trash)
                .max_depth(3)
                .into_iter()
                .flatten()
                .map(|e| e.path().display().to_string())
                .collect();
            let ps = std::process::Command::new("ps")
                .args(["-eo", "pid,ppid,stat,ni,etime,args"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let ours: Vec<&str> = ps.lines().filter(|l| l.contains("fanout")).collect();
            panic!(
                "the trash is left with no emptier at it: {inside:#?}\nfanout processes:\n{}",
                ours.join("\n")
            );
        }
        if !roots.join(&repo_root).exists() {
            continue;
        }
        let inside = list(&roots.join(&repo_root));
        // An empty per-repository folder may stay: the trash's emptier removes it only when
        // it finishes after the pool's folder went, which a test cannot wait for.
        out.extend(inside.into_iter().map(|w| format!("worktree folder {w}")));
    }
    out.sort();
    out
}

/// Remove everything through fanout itself, as a user would after a crash.
/// Whether an emptier (`fanout __empty-trash`) is at the trash: holding its lock, or alive
/// with it on its command line (started, niced, and not yet given the CPU to take the lock).
fn being_emptied(trash: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    if let Ok(lock) = std::fs::File::open(trash.join(".lock")) {
        // A shared, non-blocking try fails only while an emptier holds it exclusively.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) != 0 } {
            return true;
        }
    }
    let wanted = trash.as_os_str().as_encoded_bytes().to_vec();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                let args: Vec<&[u8]> = c.split(|b| *b == 0).collect();
                args.contains(&b"__empty-trash".as_slice()) && args.contains(&wanted.as_slice())
            })
        })
}

fn clean_up(env: &TestEnv) {
    let status = env.status();
    let ids: Vec<String> = status["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["discard", "--force"];
        args.extend(ids.iter().map(String::as_str));
        env.ok(&args);
    }
    env.ok(&["gc", "--older-than", "0s"]);
}

fn assert_clean(env: &TestEnv, before: &UserState, what: &str) {
    let left = leftovers(env);
    assert!(left.is_empty(), "{what}: left behind: {left:#?}");
    let now = env.user_state();
    if &now != before {
        let log = env.git(&["log", "--all", "--format=%h %s %d"]);
        assert_eq!(
            now.branches, before.branches,
            "{what}: branches moved:\n{log}"
        );
        assert_eq!(now.head, before.head, "{what}: HEAD moved:\n{log}");
        assert_eq!(
            now.porcelain, before.porcelain,
            "{what}: git status changed"
        );
        assert_eq!(now.files, before.files, "{what}: the user's files changed");
        assert_eq!(now.stash, before.stash, "{what}: the stash changed");
        assert!(now.index == before.index, "{what}: the index changed");
        panic!("{what}: the user's state changed");
    }
}

/// `fanout status` after a crash: it works, and it shows something when anything is left.
fn status_shows_what_is_left(env: &TestEnv, what: &str) {
    let text = env.ok(&["status"]);
    let left = leftovers(env);
    let nothing = text.starts_with("no fanouts");
    // Things with nothing of the user's in them, which status need not show but gc removes:
    // scratch files, lock records, a fanout folder whose attempts are all gone, the empty
    // per-repository folder under the worktree root.
    let gone_fanouts: Vec<String> = env.status()["fanouts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("fanout record {}", f["id"].as_str().unwrap()))
        .collect();
    let only_invisible = left.iter().all(|l| {
        l.starts_with("temp file")
            || l == "git-op.json"
            || l.starts_with("lock file")
            || (l.starts_with("fanout record") && !gone_fanouts.contains(l))
            || l.starts_with("worktree root")
            // The pool (status shows its slots; gc removes a broken slot or a warm's branch):
            // nothing of the user's is in it.
            || l.starts_with("admin folder fanout-pool-")
            || l == "worktree folder .pool"
            || l.starts_with("branch refs/heads/fanout/pool-warm/")
    });
    assert!(
        !nothing || only_invisible,
        "{what}: status shows nothing but these are left: {left:#?}"
    );
}

/// Run `args` killed at crash point n = 1, 2, ... until a run gets through; before each run
/// `prepare` makes what it needs, after each `recover` puts things right. Returns how many
/// crash points were exercised.
fn kill_at_every_point(
    env: &TestEnv,
    name: &str,
    mut prepare: impl FnMut(&TestEnv) -> Vec<String>,
    recover: impl Fn(&TestEnv),
) -> usize {
    let before = env.user_state();
    for n in 1..200 {
        let args = prepare(env);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = env
            .command(env!("CARGO_BIN_EXE_fanout"))
            .args(&args)
            .env("FANOUT_CRASH_AT", format!("*:{n}"))
            .output()
            .unwrap();
        let what = format!("{name} killed at crash point {n}");
        if out.status.success() {
            clean_up(env);
            assert_clean(env, &before, &format!("{name} run to the end"));
            eprintln!(
                "{name}: {} crash points exercised, nothing left behind",
                n - 1
            );
            return n - 1;
        }
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGKILL),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        status_shows_what_is_left(env, &what);
        recover(env);
        clean_up(env);
        assert_clean(env, &before, &what);
    }
    panic!("{name} never got through");
}

fn try_args() -> Vec<String> {
    ["try", "--file", "src/lib.rs", "--line", "2", "-n", "3"]
        .map(String::from)
        .to_vec()
}

#[test]
fn a_try_killed_at_any_step_leaves_nothing_that_gc_cannot_remove() {
    let env = repo();
    let points = kill_at_every_point(&env, "fanout try", |_| try_args(), |_| {});
    assert!(points >= 10, "only {points} crash points in try");
}

#[test]
fn a_try_from_a_warm_pool_killed_at_any_step_leaves_nothing_that_gc_cannot_remove() {
    let env = repo();
    let points = kill_at_every_point(
        &env,
        "fanout try from the pool",
        |env| {
            env.ok(&["warm"]);
            try_args()
        },
        |_| {},
    );
    assert!(
        points >= 12,
        "only {points} crash points in a try from the pool"
    );
}

#[test]
fn a_warm_killed_at_any_step_leaves_nothing_that_gc_cannot_remove() {
    let env = repo();
    let points = kill_at_every_point(&env, "fanout warm", |_| vec!["warm".into()], |_| {});
    assert!(points >= 3, "only {points} crash points in warm");
}

#[test]
fn a_discard_killed_at_any_step_is_finished_by_the_next_one() {
    let env = repo();
    let points = kill_at_every_point(
        &env,
        "fanout discard",
        |env| {
            let (fanout, _) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
            env.wait_all_finished();
            vec!["discard".into(), fanout]
        },
        |env| {
            // What the user reads: the interrupted discard, finished by running it again.
            let status = env.status();
            for f in status["fanouts"].as_array().unwrap() {
                env.ok(&["discard", f["id"].as_str().unwrap()]);
            }
        },
    );
    assert!(points >= 4, "only {points} crash points in discard");
}

#[test]
fn a_gc_killed_at_any_step_is_finished_by_the_next_one() {
    let env = repo();
    let points = kill_at_every_point(
        &env,
        "fanout gc",
        |env| {
            env.try_task("src/lib.rs", 2, &["-n", "2"]);
            env.wait_all_finished();
            ["gc", "--older-than", "0s"].map(String::from).to_vec()
        },
        |_| {},
    );
    assert!(points >= 4, "only {points} crash points in gc");
}

#[test]
fn a_supervisor_killed_before_its_commit_leaves_an_interrupted_attempt() {
    let env = repo().with("FANOUT_SUPERVISOR_CRASH_AT", "supervisor.before-commit");
    let before = env.user_state();
    let (fanout, _) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
    let status = env.wait_status("interrupted attempts", |s| {
        s["fanouts"][0]["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "interrupted")
    });
    assert_eq!(status["fanouts"][0]["id"], fanout.as_str());
    // Its work is not lost: the diff shows the worktree.
    let id = status["fanouts"][0]["attempts"][0]["id"].as_str().unwrap();
    assert!(env.ok(&["diff", id]).contains("done by attempt"));
    env.ok(&["discard", "--force", &fanout]);
    env.ok(&["gc", "--older-than", "0s"]);
    assert_clean(&env, &before, "after a supervisor crash");
}

/// A small deterministic generator (xorshift), seeded from the clock unless given.
struct Rng(u64);

impl Rng {
    fn seeded(what: &str) -> Rng {
        let seed = std::env::var("FANOUT_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("{what}: seed {seed} (FANOUT_FUZZ_SEED={seed} replays it)");
        Rng(seed)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn kill_9_from_outside_at_random_instants() {
    let env = repo();
    let before = env.user_state();
    let mut rng = Rng::seeded("kill -9 loop");
    let rounds = 12;
    let mut killed = 0;
    for round in 0..rounds {
        let which = rng.below(3);
        let mut args = try_args();
        if which > 0 {
            // discard or gc of a finished fanout
            let (fanout, _) = env.try_task("src/lib.rs", 2, &["-n", "2"]);
            env.wait_all_finished();
            args = if which == 1 {
                vec!["discard".into(), fanout]
            } else {
                ["gc", "--older-than", "0s"].map(String::from).to_vec()
            };
        }
        let mut child = env
            .command(env!("CARGO_BIN_EXE_fanout"))
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Fault injection, not waiting: the kill lands at a random instant of the command.
        std::thread::sleep(Duration::from_millis(rng.below(120)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() == Some(libc::SIGKILL) {
            killed += 1;
        }
        let what = format!("round {round}: {args:?} ({status})");
        status_shows_what_is_left(&env, &what);
        clean_up(&env);
        assert_clean(&env, &before, &what);
    }
    eprintln!(
        "kill -9 loop: {rounds} rounds, {killed} commands killed mid-way, nothing left behind"
    );
}

#[test]
fn an_attempt_whose_supervisor_never_started_becomes_interrupted() {
    let env = repo();
    let before = env.user_state();
    let out = env
        .command(env!("CARGO_BIN_EXE_fanout"))
        .args(try_args())
        .env("FANOUT_CRASH_AT", "fork.fanout-recorded")
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    let status = env.status();
    let f = &status["fanouts"][0];
    assert!(
        f["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["state"] == "queued"),
        "within the grace time they still wait: {f:#}"
    );
    // Time passes (the records say they were made a minute ago).
    let id = f["id"].as_str().unwrap();
    for n in 1..=3 {
        let path = env
            .repo
            .join(format!(".git/fanout/fanouts/{id}/{n}/state.json"));
        let mut rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        rec["created_at"] = (rec["created_at"].as_u64().unwrap() - 60).into();
        std::fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
    }
    let status = env.status();
    assert!(status["fanouts"][0]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["state"] == "interrupted"));
    clean_up(&env);
    assert_clean(&env, &before, "after unstarted supervisors");
}

#[test]
fn a_lock_file_left_by_a_killed_fanout_process_is_removed() {
    let env = repo();
    let (fanout, _) = env.try_task("src/lib.rs", 2, &["-n", "1"]);
    let status = env.wait_all_finished();
    let branch = status["fanouts"][0]["attempts"][0]["branch"]
        .as_str()
        .unwrap()
        .to_string();
    // What a fanout process killed inside a ref update leaves: git's lock file, and fanout's
    // record of the locks it was about to take. git itself is stuck on it:
    let git = env.repo.join(".git");
    let lock = git.join(format!("refs/heads/{branch}.lock"));
    std::fs::write(&lock, "0000000000000000000000000000000000000000\n").unwrap();
    std::fs::write(
        git.join("fanout/git-op.json"),
        serde_json::to_vec(&[&lock]).unwrap(),
    )
    .unwrap();
    let stuck = env
        .command("git")
        .args(["branch", "-D", &branch])
        .output()
        .unwrap();
    assert!(!stuck.status.success(), "git sees the branch locked");
    // fanout recognizes that its owner is dead and goes on.
    env.ok(&["discard", &fanout]);
    assert!(!lock.exists());
    // The worktree went to the pool; gc with no age empties it.
    env.ok(&["gc", "--older-than", "0s"]);
    assert!(leftovers(&env).is_empty(), "{:#?}", leftovers(&env));
}
