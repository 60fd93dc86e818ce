//! The language server, through the real `fanout lsp` over stdio: code lens latency, didChange
//! throughput, the time from an attempt's state change on disk to `fanout/status`, memory;
//! and the diff against the buffer (`fanout.diff`, and the engine's merge plan + render).

use crate::gen::{self, GenFile, Generated};
use crate::lsp_client::{file_uri, Incoming, LspClient};
use crate::stats::{fmt_mb, fmt_ms, max, median, ms, percentile, rss_kib};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, UNIX_EPOCH};

pub const BIG_LINES: usize = 10_000;
/// 0-based line of task `k` in `src/big.rs` (200 tasks, one every 50 lines).
pub fn task_line(k: usize) -> usize {
    25 + 50 * k
}

/// `src/big.rs`: 10,000 lines of code-like text, a `// TODO` comment every 50 lines.
pub fn big_file() -> String {
    let mut s = String::with_capacity(BIG_LINES * 48);
    for i in 0..BIG_LINES {
        match i % 50 {
            0 => s.push_str(&format!("fn block_{}(input: &str) -> usize {{\n", i / 50)),
            49 => s.push_str("}\n"),
            25 => s.push_str(&format!(
                "    // TODO: task {} handle the case {} of the parser\n",
                i / 50,
                i / 50
            )),
            _ => s.push_str(&format!(
                "    let value_{i} = compute(input, {}, \"word{}\");\n",
                i % 97,
                i % 13
            )),
        }
    }
    s
}

/// Everything the language server phases share: a repository with `src/big.rs`, the fanout
/// binary, the fake agents' config, and where the agents stamp their exit times.
pub struct LspEnv {
    pub root: PathBuf,
    pub fanout: PathBuf,
    pub repo: Generated,
    pub stamps: PathBuf,
    pub big_uri: String,
    pub big_text: String,
}

pub const LSP_REPO_FILES: usize = 300;

impl LspEnv {
    pub fn new(root: &Path, fanout: &Path, stream_secs: u64) -> LspEnv {
        let big_text = big_file();
        let repo = gen::generate(
            &root.join("lsp-repo"),
            LSP_REPO_FILES,
            vec![GenFile {
                path: "src/big.rs".into(),
                mode: 0o100644,
                content: big_text.clone().into_bytes(),
            }],
            false,
        );
        let stamps = root.join("stamps");
        std::fs::create_dir_all(&stamps).unwrap();
        let exe = std::env::current_exe().unwrap();
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let mut toml = String::from("attempts = 3\nagents = [\"quick\"]\n");
        for mode in ["quick", "edit1000", "edit200", "stream"] {
            toml.push_str(&format!(
                "\n[agent.{mode}]\ncommand = [{}, \"--fake-agent\", \"{mode}\"]\n\
                 env = {{ BENCH_STAMPS = {}, BENCH_FILES = \"{LSP_REPO_FILES}\", \
                 BENCH_STREAM_SECS = \"{stream_secs}\", BENCH_STREAM_RATE = \"1048576\" }}\n",
                q(&exe.to_string_lossy()),
                q(&stamps.to_string_lossy()),
            ));
        }
        let config = crate::config_dir().join("fanout");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(config.join("config.toml"), toml).unwrap();
        LspEnv {
            root: root.to_path_buf(),
            fanout: fanout.to_path_buf(),
            big_uri: file_uri(&repo.root.join("src/big.rs")),
            repo,
            stamps,
            big_text,
        }
    }

    /// Start `fanout lsp` (its stderr to `<name>.stderr`) and initialize it on the repository,
    /// with the capabilities of a typical editor: lens refresh, work-done progress,
    /// showDocument.
    pub fn start(&self, name: &str) -> LspClient {
        self.start_binary(name, &self.fanout)
    }

    /// [`LspEnv::start`] with another fanout binary.
    pub fn start_binary(&self, name: &str, fanout: &Path) -> LspClient {
        let log =
            std::fs::File::create(self.root.join(format!("{name}.stderr"))).expect("server log");
        let mut command = Command::new(fanout);
        command.arg("lsp").current_dir(&self.repo.root);
        let mut c = LspClient::spawn_logging_to(command, log);
        c.set_timeout(Duration::from_secs(120));
        c.initialize(
            &self.repo.root,
            json!({
                "workspace": {"codeLens": {"refreshSupport": true},
                              "workspaceEdit": {"documentChanges": true}},
                "window": {"workDoneProgress": true, "showDocument": {"support": true}},
                "textDocument": {"codeLens": {}, "synchronization": {"didSave": true}}
            }),
            Value::Null,
        );
        c
    }

    pub fn open_big(&self, c: &LspClient) {
        c.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": self.big_uri, "languageId": "rust", "version": 1,
                                    "text": self.big_text}}),
        );
    }

    pub fn lens(&self, c: &mut LspClient) -> (Vec<Value>, f64) {
        let (r, d) = c.request_timed(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": self.big_uri}}),
        );
        let lenses = r.expect("codeLens").as_array().cloned().unwrap_or_default();
        (lenses, ms(d))
    }

    /// `fanout.try` on task `k` of big.rs: (fanout id, attempt ids, latency ms).
    pub fn try_task(
        &self,
        c: &mut LspClient,
        k: usize,
        count: usize,
        agent: &str,
    ) -> (String, Vec<String>, f64) {
        let (v, d) = command(
            c,
            "fanout.try",
            json!({"uri": self.big_uri, "line": task_line(k), "count": count, "agents": [agent]}),
        );
        let attempts = v["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        (v["fanout"].as_str().unwrap().to_string(), attempts, ms(d))
    }

    /// Wait until the client has been told every attempt in `ids` is finished.
    pub fn wait_finished(&self, c: &LspClient, ids: &[String], timeout: Duration) -> Value {
        let note = c
            .wait_for_within(0, timeout, |n| {
                n.method == "fanout/status" && {
                    let states = attempt_states(&n.params);
                    ids.iter()
                        .all(|id| states.get(id).is_some_and(|s| is_finished(s)))
                }
            })
            .unwrap_or_else(|| panic!("attempts {ids:?} did not all finish"));
        note.params
    }

    /// For each attempt in `ids`: seconds from its agent's exit (its stamp) to the first
    /// `fanout/status` that showed it finished.
    pub fn exit_to_status(&self, c: &LspClient, ids: &[String]) -> Vec<f64> {
        let notes: Vec<Incoming> = c
            .incoming()
            .into_iter()
            .filter(|n| n.is("fanout/status"))
            .collect();
        ids.iter()
            .filter_map(|id| {
                let stamp: f64 = std::fs::read_to_string(self.stamps.join(id))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let note = notes.iter().find(|n| {
                    attempt_states(&n.params)
                        .get(id)
                        .is_some_and(|s| is_finished(s))
                })?;
                let wall = note.wall.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
                Some((wall - stamp) * 1000.0)
            })
            .collect()
    }

    pub fn attempt_dir(&self, attempt: &str) -> PathBuf {
        let (fanout, n) = attempt.rsplit_once('-').unwrap();
        self.repo
            .root
            .join(".git/fanout/fanouts")
            .join(fanout)
            .join(n)
    }
}

pub struct LspResults {
    pub lens_p50: Vec<f64>,
    pub lens_p99: Vec<f64>,
    pub lens_max: Vec<f64>,
    pub lens50_p50: Vec<f64>,
    pub lens50_p99: Vec<f64>,
    pub lens50_max: Vec<f64>,
    pub lens_count: usize,
    pub lens50_count: usize,
    /// In process: `fanout::tasks::scan_text` of the 10,000-line file, which every
    /// codeLens request runs.
    pub scan_text: Vec<f64>,
    /// Seconds for 10,000 incremental didChange (until a following request is answered).
    pub change_secs: Vec<f64>,
    pub change_ok: bool,
    pub state_latency: Vec<f64>,
    pub exit_latency: Vec<f64>,
    pub try10_ms: Vec<f64>,
    pub rss_idle: u64,
    pub rss_open: u64,
    pub rss_50: u64,
    /// The diff against the buffer (diffbench.rs), run with this server.
    pub diff: crate::diffbench::DiffResults,
    pub discard_ms: Vec<f64>,
}

pub struct LspPlan {
    pub rounds: usize,
    pub lens_requests: usize,
    pub changes: usize,
    pub state_writes: usize,
    pub diff_runs: usize,
}

/// `before`: a fanout binary of an earlier version, whose `fanout.diff` is timed side by side
/// with this one's (diffbench.rs).
pub fn run(
    env: &LspEnv,
    plan: &LspPlan,
    before: Option<&Path>,
    log: &mut dyn FnMut(&str),
) -> LspResults {
    let mut c = env.start("lsp");
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = rss_kib(c.pid()).unwrap_or(0);
    env.open_big(&c);
    let mut r = LspResults {
        lens_p50: vec![],
        lens_p99: vec![],
        lens_max: vec![],
        lens50_p50: vec![],
        lens50_p99: vec![],
        lens50_max: vec![],
        lens_count: 0,
        lens50_count: 0,
        scan_text: vec![],
        change_secs: vec![],
        change_ok: true,
        state_latency: vec![],
        exit_latency: vec![],
        try10_ms: vec![],
        rss_idle,
        rss_open: 0,
        rss_50: 0,
        diff: crate::diffbench::DiffResults::new("disk"),
        discard_ms: vec![],
    };

    for i in 0..53 {
        let t = Instant::now();
        let tasks = fanout::tasks::scan_text("src/big.rs", &env.big_text);
        if i >= 3 {
            r.scan_text.push(ms(t.elapsed()));
        }
        assert_eq!(tasks.len(), 200, "the file's tasks");
    }

    // Code lenses, no attempts: 200 "Try 3 approaches".
    for _ in 0..50 {
        env.lens(&mut c);
    }
    for round in 0..plan.rounds {
        let mut lat = Vec::with_capacity(plan.lens_requests);
        for _ in 0..plan.lens_requests {
            let (lenses, t) = env.lens(&mut c);
            r.lens_count = lenses.len();
            lat.push(t);
        }
        r.lens_p50.push(percentile(&lat, 50.0));
        r.lens_p99.push(percentile(&lat, 99.0));
        r.lens_max.push(max(&lat));
        log(&format!(
            "lsp: codeLens round {}: {} lenses, p50 {} p99 {} max {}",
            round + 1,
            r.lens_count,
            fmt_ms(percentile(&lat, 50.0)),
            fmt_ms(percentile(&lat, 99.0)),
            fmt_ms(max(&lat))
        ));
    }
    r.rss_open = rss_kib(c.pid()).unwrap_or(0);

    // Incremental didChange: one character (every 100th a new line at the top), as fast as the
    // client can send them, then a codeLens request that must see every change.
    for round in 0..plan.rounds {
        let start = Instant::now();
        let mut version = 1;
        let mut new_lines = 0;
        for k in 0..plan.changes {
            version += 1;
            let (line, text) = if k % 100 == 99 {
                new_lines += 1;
                (0, "\n")
            } else {
                ((k * 37) % BIG_LINES, "x")
            };
            c.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": env.big_uri, "version": version},
                       "contentChanges": [{"range": {"start": {"line": line, "character": 0},
                                                     "end": {"line": line, "character": 0}},
                                           "text": text}]}),
            );
        }
        let (lenses, _) = env.lens(&mut c);
        let secs = start.elapsed().as_secs_f64();
        r.change_secs.push(secs);
        let first = lenses
            .first()
            .and_then(|l| l["range"]["start"]["line"].as_u64());
        let ok = lenses.len() == 200 && first == Some((task_line(0) + new_lines) as u64);
        r.change_ok &= ok;
        log(&format!(
            "lsp: {} didChange round {}: {:.2} s, {:.0}/s, buffer in sync: {ok}",
            plan.changes,
            round + 1,
            secs,
            plan.changes as f64 / secs
        ));
        // Back to the file as on disk.
        c.notify(
            "textDocument/didClose",
            json!({"textDocument": {"uri": env.big_uri}}),
        );
        env.open_big(&c);
    }

    // 50 attempts (5 fanouts of 10, a quick fake agent each) on tasks of the open file.
    let mut fanouts = Vec::new();
    let mut ids = Vec::new();
    for k in 0..5 {
        let (f, a, t) = env.try_task(&mut c, k, 10, "quick");
        r.try10_ms.push(t);
        fanouts.push(f);
        ids.extend(a);
    }
    env.wait_finished(&c, &ids, Duration::from_secs(120));
    r.exit_latency = env.exit_to_status(&c, &ids);
    std::thread::sleep(Duration::from_millis(1500));
    r.rss_50 = rss_kib(c.pid()).unwrap_or(0);
    log(&format!(
        "lsp: 50 attempts: fanout.try ×10 median {}, agent exit -> fanout/status median {} max {}",
        fmt_ms(median(&r.try10_ms)),
        fmt_ms(median(&r.exit_latency)),
        fmt_ms(max(&r.exit_latency))
    ));
    for round in 0..plan.rounds {
        let mut lat = Vec::with_capacity(plan.lens_requests);
        for _ in 0..plan.lens_requests {
            let (lenses, t) = env.lens(&mut c);
            r.lens50_count = lenses.len();
            lat.push(t);
        }
        r.lens50_p50.push(percentile(&lat, 50.0));
        r.lens50_p99.push(percentile(&lat, 99.0));
        r.lens50_max.push(max(&lat));
        log(&format!(
            "lsp: codeLens with 50 attempts round {}: {} lenses, p50 {} p99 {}",
            round + 1,
            r.lens50_count,
            fmt_ms(percentile(&lat, 50.0)),
            fmt_ms(percentile(&lat, 99.0))
        ));
    }

    // A state change on disk, written as a supervisor writes it (temp file + rename), to the
    // `fanout/status` that reports it.
    let id = ids[0].clone();
    let state_path = env.attempt_dir(&id).join("state.json");
    let original = std::fs::read(&state_path).unwrap();
    for i in 0..plan.state_writes {
        let mut v: Value = serde_json::from_slice(&original).unwrap();
        let new_state = if i % 2 == 0 { "failed" } else { "succeeded" };
        v["state"] = json!(new_state);
        v["exit_code"] = json!(if i % 2 == 0 { 1 } else { 0 });
        let tmp = state_path.with_file_name(".state.json.bench.tmp");
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).unwrap();
            f.write_all(&serde_json::to_vec_pretty(&v).unwrap())
                .unwrap();
            f.sync_data().unwrap();
        }
        let from = c.mark();
        let start = Instant::now();
        std::fs::rename(&tmp, &state_path).unwrap();
        let note = c.wait_for_within(from, Duration::from_secs(10), |n| {
            n.method == "fanout/status"
                && attempt_states(&n.params).get(&id).map(String::as_str) == Some(new_state)
        });
        match note {
            Some(n) => r
                .state_latency
                .push(ms(n.at.saturating_duration_since(start))),
            None => r.state_latency.push(f64::NAN),
        }
        // Off the server's 1 s poll rhythm.
        std::thread::sleep(Duration::from_millis(150 + (i as u64 * 53) % 250));
    }
    std::fs::write(&state_path, &original).unwrap();
    log(&format!(
        "lsp: state.json change -> fanout/status: median {} p95 {} max {}",
        fmt_ms(median(&r.state_latency)),
        fmt_ms(percentile(&r.state_latency, 95.0)),
        fmt_ms(max(&r.state_latency))
    ));

    crate::diffbench::phase(
        env,
        &mut c,
        plan.diff_runs,
        before,
        &mut r.diff,
        &mut fanouts,
        log,
    );

    for f in &fanouts {
        let (_, d) = command(&mut c, "fanout.discard", json!({"fanout": f}));
        r.discard_ms.push(ms(d));
    }
    c.stop();
    r
}

/// `workspace/executeCommand` with one argument: (result, latency); panics on an error answer.
pub fn command(c: &mut LspClient, command: &str, arg: Value) -> (Value, Duration) {
    match c.execute_timed(command, arg) {
        (Ok(v), d) => (v, d),
        (Err(e), _) => panic!("{command} failed: {} ({})", e.message, e.code),
    }
}

/// Each attempt's state in a `fanout/status` notification: id to state.
pub fn attempt_states(status: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for f in status["fanouts"].as_array().into_iter().flatten() {
        for a in f["attempts"].as_array().into_iter().flatten() {
            if let (Some(id), Some(state)) = (a["id"].as_str(), a["state"].as_str()) {
                out.insert(id.to_string(), state.to_string());
            }
        }
    }
    out
}

pub fn is_finished(state: &str) -> bool {
    !matches!(state, "queued" | "running")
}

fn range(v: &[f64]) -> String {
    if v.len() <= 1 {
        return String::new();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = max(v);
    format!(" (rounds: {}–{})", fmt_ms(lo), fmt_ms(hi))
}

pub fn verdict(value: f64, target: f64) -> String {
    if value.is_nan() {
        "n/a".into()
    } else if value <= target {
        format!("met ({:.0}% of target)", 100.0 * value / target)
    } else {
        format!(
            "**missed** by {} ({:.1}×)",
            fmt_ms(value - target),
            value / target
        )
    }
}

pub fn markdown(r: &LspResults) -> String {
    let change_rate: Vec<f64> = r.change_secs.iter().map(|s| 10_000.0 / s).collect();
    let mut lsp = String::from("| measure | median | target | verdict |\n|---|---:|---:|---|\n");
    let p99 = median(&r.lens_p99);
    lsp.push_str(&format!(
        "| codeLens, 10,000-line file, 200 tasks ({} lenses): p50 | {}{} | | |\n",
        r.lens_count,
        fmt_ms(median(&r.lens_p50)),
        range(&r.lens_p50)
    ));
    lsp.push_str(&format!(
        "| codeLens, same file: p99 (max {}) | {}{} | 5 ms | {} |\n",
        fmt_ms(median(&r.lens_max)),
        fmt_ms(p99),
        range(&r.lens_p99),
        verdict(p99, 5.0)
    ));
    lsp.push_str(&format!(
        "| of which, in process: `tasks::scan_text` of the file (run once per document version for codeLens): median | {} | | |\n",
        fmt_ms(median(&r.scan_text))
    ));
    let p99_50 = median(&r.lens50_p99);
    lsp.push_str(&format!(
        "| codeLens with 50 attempts on the file ({} lenses): p50 / p99 | {} / {}{} | 5 ms | {} |\n",
        r.lens50_count,
        fmt_ms(median(&r.lens50_p50)),
        fmt_ms(p99_50),
        range(&r.lens50_p99),
        verdict(p99_50, 5.0)
    ));
    lsp.push_str(&format!(
        "| 10,000 incremental didChange, then a codeLens that sees them all | {:.2} s ({:.0} changes/s){} | | buffer in sync: {} |\n",
        median(&r.change_secs),
        median(&change_rate),
        if r.change_secs.len() > 1 { format!(" over {} rounds", r.change_secs.len()) } else { String::new() },
        if r.change_ok { "yes" } else { "**NO**" }
    ));
    let st = median(&r.state_latency);
    lsp.push_str(&format!(
        "| state.json rewritten (temp + rename) → `fanout/status` at the client: median (p95, max; {} writes) | {} ({}, {}) | 100 ms | {} (on p95) |\n",
        r.state_latency.len(),
        fmt_ms(st),
        fmt_ms(percentile(&r.state_latency, 95.0)),
        fmt_ms(max(&r.state_latency)),
        verdict(percentile(&r.state_latency, 95.0), 100.0)
    ));
    lsp.push_str(&format!(
        "| a real agent exits → its attempt finished in `fanout/status` (supervisor commits first): median (max; {} attempts) | {} ({}) | | |\n",
        r.exit_latency.len(),
        fmt_ms(median(&r.exit_latency)),
        fmt_ms(max(&r.exit_latency))
    ));
    lsp.push_str(&format!(
        "| `fanout.try` with 10 attempts (snapshot with the buffer, 10 worktrees of {} files, 10 supervisors) | {} | | |\n",
        LSP_REPO_FILES + 4,
        fmt_ms(median(&r.try10_ms))
    ));
    lsp.push_str(&format!(
        "| server RSS: idle / 10,000-line file open / with 50 attempts | {} / {} / {} | | |\n",
        fmt_mb(r.rss_idle as f64),
        fmt_mb(r.rss_open as f64),
        fmt_mb(r.rss_50 as f64)
    ));

    lsp
}

pub fn json(r: &LspResults) -> Value {
    json!({
        "codelens_200_tasks": {"p50_ms": r.lens_p50, "p99_ms": r.lens_p99, "max_ms": r.lens_max, "lenses": r.lens_count},
        "scan_text_ms": r.scan_text,
        "codelens_50_attempts": {"p50_ms": r.lens50_p50, "p99_ms": r.lens50_p99, "max_ms": r.lens50_max, "lenses": r.lens50_count},
        "didchange_10000_secs": r.change_secs, "didchange_in_sync": r.change_ok,
        "state_change_to_status_ms": r.state_latency,
        "agent_exit_to_status_ms": r.exit_latency,
        "try_10_attempts_ms": r.try10_ms,
        "rss_kib": {"idle": r.rss_idle, "open": r.rss_open, "attempts_50": r.rss_50},
        "diff": crate::diffbench::json(&r.diff),
        "discard_ms": r.discard_ms,
    })
}
