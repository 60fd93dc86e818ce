//! Shared helpers of the integration tests: an isolated environment per test (its own
//! config, data and home folders, its own git repository made with the git CLI, the fake
//! agent configured) and the LSP test client.
//!
//! Attempts outlive the processes that start them (by design), so a [`TestEnv`] discards every
//! fanout of its repository when dropped, on success and on panic alike: no agent, supervisor
//! or worktree outlives a test.

#![allow(dead_code)]

pub mod cli;
pub mod lsp_client;

use lsp_client::LspClient;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The fake agent (see its docstring): deterministic, driven by FAKE_AGENT_MODE.
pub fn fake_agent() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/agents/fake-agent")
        .canonicalize()
        .expect("tests/fixtures/agents/fake-agent")
}

/// One of tests/fixtures/agents.
pub fn fixture_agent(name: &str) -> PathBuf {
    cli::fixture(&format!("agents/{name}"))
}

/// The id of the hunk (of a `fanout.hunks` / `fanout hunks --json` list) whose text holds
/// `needle`.
pub fn hunk_with(hunks: &[Value], needle: &str) -> String {
    hunks
        .iter()
        .find(|h| h["text"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no hunk with {needle:?} in {hunks:#?}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

pub struct TestEnv {
    /// The root of everything this test creates.
    pub root: tempfile::TempDir,
    /// The workspace: a git repository unless made with [`TestEnv::without_git`].
    pub repo: PathBuf,
    /// Variables the server, the CLI and (through them) the agents run with.
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    /// A fresh git repository with one commit of `files` (path, content), and the fake agent
    /// configured as agent `fake` (3 attempts), plus `gated`: the fake agent in `wait` mode
    /// waiting for the file `<root>/release-<attempt id>` (see [`TestEnv::release`]).
    pub fn new(files: &[(&str, &str)]) -> TestEnv {
        TestEnv::named("project", files)
    }

    /// Like [`TestEnv::new`], with the repository's folder named `name`; with no files, a
    /// repository without commits.
    pub fn named(name: &str, files: &[(&str, &str)]) -> TestEnv {
        let env = TestEnv::folder(name, files);
        env.git(&["init", "-q", "-b", "main"]);
        if !files.is_empty() {
            env.git(&["add", "-A"]);
            env.git(&["commit", "-q", "-m", "initial"]);
        }
        env
    }

    /// A workspace folder with `files` that is not a git repository.
    pub fn without_git(files: &[(&str, &str)]) -> TestEnv {
        TestEnv::folder("project", files)
    }

    fn folder(name: &str, files: &[(&str, &str)]) -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("fanout-lsp-test-")
            .tempdir()
            .unwrap();
        // Canonical: the server reports canonical paths, and URIs must match them.
        let base = root.path().canonicalize().unwrap();
        let repo = base.join(name);
        for dir in ["config", "data", "home", name] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        let vars: Vec<(String, String)> = [
            ("XDG_CONFIG_HOME", base.join("config").display().to_string()),
            ("XDG_DATA_HOME", base.join("data").display().to_string()),
            ("HOME", base.join("home").display().to_string()),
            ("FANOUT_LOG", "debug".to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".to_string()),
            ("GIT_AUTHOR_NAME", "Test".to_string()),
            ("GIT_AUTHOR_EMAIL", "test@example.com".to_string()),
            ("GIT_COMMITTER_NAME", "Test".to_string()),
            ("GIT_COMMITTER_EMAIL", "test@example.com".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let env = TestEnv { root, repo, vars };
        for (path, text) in files {
            env.write(path, text);
        }
        let fake = fake_agent().display().to_string();
        let release = base.join("release-{attempt}").display().to_string();
        env.write_config(&format!(
            r#"attempts = 3
max_running = 16
agents = ["fake"]

[agent.fake]
command = ["python3", "{fake}", "{{prompt_file}}"]

[agent.gated]
command = ["env", "FAKE_AGENT_MODE=wait", "FAKE_AGENT_WAIT={release}", "python3", "{fake}", "{{prompt_file}}"]
"#
        ));
        env
    }

    pub fn base(&self) -> PathBuf {
        self.root.path().canonicalize().unwrap()
    }

    pub fn write_config(&self, toml: &str) {
        let dir = self.base().join("config/fanout");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), toml).unwrap();
    }

    /// Add lines to the user config.
    pub fn append_config(&self, toml: &str) {
        let path = self.base().join("config/fanout/config.toml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(toml);
        std::fs::write(path, text).unwrap();
    }

    /// Configure agent `edit` (tests/fixtures/agents/edit-agent): attempt n writes the files
    /// `spec["n"]` names, with exactly the content given (null: deletes it).
    pub fn with_edit_agent(self, spec: &Value) -> TestEnv {
        let spec_path = self.base().join("edit-spec.json");
        std::fs::write(&spec_path, spec.to_string()).unwrap();
        let agent = fixture_agent("edit-agent").display().to_string();
        self.append_config(&format!(
            "\n[agent.edit]\ncommand = [\"python3\", \"{agent}\", \"{{prompt_file}}\"]\n"
        ));
        self.with("EDIT_AGENT_SPEC", &spec_path.display().to_string())
    }

    /// Configure agent `judge` (tests/fixtures/agents/judge-agent) as the reviews' judge, with
    /// `top` (top-level settings such as `review = "auto"`) put first in the config.
    pub fn with_judge(self, top: &str) -> TestEnv {
        let path = self.base().join("config/fanout/config.toml");
        let rest = std::fs::read_to_string(&path).unwrap_or_default();
        let agent = fixture_agent("judge-agent").display().to_string();
        std::fs::write(
            &path,
            format!(
                "judge = \"judge\"\n{top}\n{rest}\n[agent.judge]\ncommand = [\"python3\", \"{agent}\", \"{{prompt_file}}\"]\n"
            ),
        )
        .unwrap();
        self
    }

    /// Set (or replace) a variable for the processes started from now on.
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_string(), value.to_string()));
    }

    /// The same environment with one more variable (builder style).
    pub fn with(mut self, name: &str, value: &str) -> TestEnv {
        self.set_var(name, value);
        self
    }

    /// Let a `gated` attempt finish.
    pub fn release(&self, attempt: &str) {
        std::fs::write(self.base().join(format!("release-{attempt}")), "").unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.repo.join(rel)
    }

    pub fn uri(&self, rel: &str) -> String {
        lsp_client::file_uri(&self.path(rel))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Run git in the repository; panics if it fails. Returns its stdout.
    pub fn git(&self, args: &[&str]) -> String {
        self.git_in(&self.repo, args)
    }

    /// Run git in `dir` (a worktree, say); panics if it fails. Returns its stdout.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .command("git")
            .current_dir(dir)
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

    /// `program` to run in the repository with this test's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.repo).env_remove("FANOUT_CONFIG");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// The fanout CLI run in the repository.
    pub fn fanout(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_fanout"))
            .args(args)
            .output()
            .expect("run fanout")
    }

    /// `fanout status --json` of the repository.
    pub fn status(&self) -> Value {
        let out = self.fanout(&["status", "--json"]);
        assert!(
            out.status.success(),
            "fanout status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Start the language server (`fanout lsp` plus `extra_args`) in this environment.
    pub fn start_server(&self, extra_args: &[&str]) -> LspClient {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_fanout"));
        cmd.arg("lsp").args(extra_args);
        LspClient::spawn(cmd)
    }

    /// Discard every fanout of the repository through the CLI (stopping their agents).
    pub fn discard_all(&self) {
        if !self.repo.join(".git").exists() {
            return;
        }
        let out = self.fanout(&["status", "--json"]);
        let Ok(status) = serde_json::from_slice::<Value>(&out.stdout) else {
            return;
        };
        let ids: Vec<&str> = status["fanouts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["id"].as_str())
            .collect();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["discard"];
        args.extend(ids);
        let out = self.fanout(&args);
        if !out.status.success() {
            eprintln!(
                "cleanup: fanout discard failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.discard_all();
    }
}
