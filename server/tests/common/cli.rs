//! Helpers for the command-line tests: running the real `fanout` binary as a user would and
//! reading what it reports.

use super::TestEnv;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A file under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
        .canonicalize()
        .unwrap_or_else(|_| panic!("tests/fixtures/{name}"))
}

impl TestEnv {
    /// Run fanout in `dir`.
    pub fn fanout_in(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_fanout"))
            .current_dir(dir)
            .args(args)
            .output()
            .expect("run fanout")
    }

    /// Run fanout and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.fanout(args);
        assert!(
            out.status.success(),
            "fanout {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run fanout and expect it to fail; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.fanout(args);
        assert!(
            !out.status.success(),
            "fanout {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// `fanout try ... --json`: the fanout id and attempt ids.
    pub fn try_task(&self, file: &str, line: usize, extra: &[&str]) -> (String, Vec<String>) {
        let line = line.to_string();
        let mut args = vec!["try", "--file", file, "--line", &line, "--json"];
        args.extend_from_slice(extra);
        let v = self.json(&args);
        let attempts = v["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        (v["fanout"].as_str().unwrap().to_string(), attempts)
    }

    pub fn attempt(&self, id: &str) -> Value {
        let s = self.status();
        s["fanouts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|f| f["attempts"].as_array().unwrap().clone())
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no attempt {id} in {s:#}"))
    }

    /// Wait until every attempt of the repository has finished; returns the status.
    pub fn wait_all_finished(&self) -> Value {
        self.wait_status("all attempts finished", |s| {
            s["fanouts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|f| f["attempts"].as_array().unwrap().clone())
                .all(|a| !matches!(a["state"].as_str(), Some("queued") | Some("running")))
        })
    }

    pub fn wait_status(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, Duration::from_secs(60), || {
            let s = self.status();
            done(&s).then_some(s)
        })
    }

    /// Everything about the user's repository that fanout must never change by itself: every
    /// file's bytes and mode, every symlink's target, every folder (and its mode), the index,
    /// HEAD, branches, tags and stash.
    pub fn user_state(&self) -> UserState {
        let index = std::fs::read(self.repo.join(".git/index")).unwrap_or_default();
        let files = tree_entries(&self.repo);
        let branches = self
            .git(&[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads",
                "refs/tags",
                "refs/stash",
            ])
            .lines()
            .filter(|l| !l.starts_with("refs/heads/fanout/"))
            .map(String::from)
            .collect();
        UserState {
            // The observer must not rewrite the index it compares (see `git_read_only`).
            porcelain: self.git_read_only(&["status", "--porcelain", "--untracked-files=all"]),
            head: self
                .git(&["rev-parse", "--verify", "-q", "HEAD"])
                .trim()
                .to_string(),
            head_ref: std::fs::read_to_string(self.repo.join(".git/HEAD")).unwrap(),
            index,
            files,
            branches,
            stash: self.git(&["stash", "list"]),
        }
    }
}

impl TestEnv {
    /// git in the repository without the optional writes of read commands (`git status`
    /// refreshing the index), so looking at the user's state never changes it.
    pub fn git_read_only(&self, args: &[&str]) -> String {
        let out = self
            .command("git")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .args(args)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

#[derive(Debug, PartialEq)]
pub struct UserState {
    pub porcelain: String,
    pub head: String,
    pub head_ref: String,
    pub index: Vec<u8>,
    pub files: Vec<(PathBuf, Entry)>,
    pub branches: Vec<String>,
    pub stash: String,
}

/// One thing in a working tree, as lstat sees it (symlinks are never followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    File { mode: u32, bytes: Vec<u8> },
    Link(PathBuf),
    Dir { mode: u32 },
}

/// Everything under `root` but `.git`, sorted by name, symlinks as themselves.
pub fn tree_entries(root: &Path) -> Vec<(PathBuf, Entry)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
        if rel.components().any(|c| c.as_os_str() == ".git") {
            continue;
        }
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        let entry = if meta.file_type().is_symlink() {
            Entry::Link(std::fs::read_link(e.path()).unwrap())
        } else if meta.is_dir() {
            Entry::Dir { mode }
        } else {
            Entry::File {
                mode,
                bytes: std::fs::read(e.path()).unwrap(),
            }
        };
        out.push((rel, entry));
    }
    out
}

/// Poll `check` until it gives a value or `timeout` passes (then panic naming `what`).
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether a process group still has members.
pub fn group_alive(pgid: i64) -> bool {
    unsafe { libc::kill(-(pgid as i32), 0) == 0 }
}

impl TestEnv {
    /// The raw state record of attempt `n` of `fanout`, as its supervisor wrote it.
    pub fn record(&self, fanout: &str, n: usize) -> Value {
        let p = self
            .repo
            .join(format!(".git/fanout/fanouts/{fanout}/{n}/state.json"));
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    /// Wait until attempt `n`'s agent is running; returns (supervisor pid, agent process group).
    pub fn wait_agent_running(&self, fanout: &str, n: usize) -> (i64, i64) {
        wait_for("the agent to run", Duration::from_secs(60), || {
            let r = self.record(fanout, n);
            let running = r["state"] == "running" && r["phase"] == "agent";
            match (
                running,
                r["supervisor_pid"].as_i64(),
                r["agent_pgid"].as_i64(),
            ) {
                (true, Some(pid), Some(pgid)) => Some((pid, pgid)),
                _ => None,
            }
        })
    }
}
