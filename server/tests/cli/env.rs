//! A test's world: a temp folder holding a real git repository, an isolated HOME / XDG config
//! and data folder, a fanout config with the fake agent, and helpers to run the real binary.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    /// Extra environment for fanout (and so for the supervisors and agents).
    pub vars: Vec<(String, String)>,
}

pub fn fake_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/agents/fake-agent")
        .canonicalize()
        .unwrap()
}

impl TestEnv {
    /// A repository named `name` with `files` committed.
    pub fn new(name: &str, files: &[(&str, &str)]) -> TestEnv {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join(name);
        std::fs::create_dir_all(&repo).unwrap();
        let env = TestEnv {
            repo,
            vars: Vec::new(),
            dir,
        };
        for d in ["home", "config/fanout", "data"] {
            std::fs::create_dir_all(env.dir.path().join(d)).unwrap();
        }
        env.write_config(&format!(
            "attempts = 3\nagents = [\"fake\"]\n[agent.fake]\ncommand = [\"python3\", \"{}\", \"{{prompt_file}}\"]\n",
            fake_agent().display()
        ));
        env.git(&["init", "-q", "-b", "main"]);
        if !files.is_empty() {
            for (path, text) in files {
                env.write(path, text);
            }
            env.git(&["add", "-A"]);
            env.git(&["commit", "-q", "-m", "initial"]);
        }
        env
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.dir.path().join("config/fanout/config.toml"), text).unwrap();
    }

    pub fn with(mut self, key: &str, value: &str) -> TestEnv {
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn write(&self, path: &str, text: &str) {
        let p = self.repo.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.repo.join(path)).unwrap()
    }

    fn isolate(&self, cmd: &mut Command) {
        let d = self.dir.path();
        cmd.env("HOME", d.join("home"))
            .env("XDG_CONFIG_HOME", d.join("config"))
            .env("XDG_DATA_HOME", d.join("data"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
            .env_remove("FANOUT_CONFIG")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let mut cmd = Command::new("git");
        cmd.args(args).current_dir(dir);
        self.isolate(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run fanout in the repository.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_in(&self.repo, args)
    }

    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fanout"));
        cmd.args(args).current_dir(dir);
        self.isolate(&mut cmd);
        cmd.output().unwrap()
    }

    /// Run fanout and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
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
        let out = self.run(args);
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

    pub fn status(&self) -> Value {
        self.json(&["status", "--json"])
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

    /// Everything about the user's repository that fanout must never change by itself.
    pub fn user_state(&self) -> UserState {
        let index = std::fs::read(self.repo.join(".git/index")).unwrap_or_default();
        let mut files = Vec::new();
        for e in walkdir::WalkDir::new(&self.repo).sort_by_file_name() {
            let e = e.unwrap();
            if e.path().components().any(|c| c.as_os_str() == ".git") || !e.file_type().is_file() {
                continue;
            }
            files.push((
                e.path().strip_prefix(&self.repo).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            ));
        }
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
            porcelain: self.git(&["status", "--porcelain", "--untracked-files=all"]),
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

impl Drop for TestEnv {
    /// Attempts outlive fanout by design: stop and remove whatever the test left running.
    fn drop(&mut self) {
        if let Ok(out) = std::panic::catch_unwind(|| self.run(&["status", "--json"])) {
            if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
                for f in v["fanouts"].as_array().into_iter().flatten() {
                    let _ = self.run(&["discard", f["id"].as_str().unwrap_or_default()]);
                }
            }
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct UserState {
    pub porcelain: String,
    pub head: String,
    pub head_ref: String,
    pub index: Vec<u8>,
    pub files: Vec<(PathBuf, Vec<u8>)>,
    pub branches: Vec<String>,
    pub stash: String,
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
