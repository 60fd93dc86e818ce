//! Scale: 50 attempts at once through the real `fanout lsp` (`fanout.try`, 5 fanouts of 10),
//! each a fake agent writing 1 MB/s of output for 30 s, while the client keeps asking for code
//! lenses. Samples the server's, the supervisors' and the agents' CPU and memory from /proc,
//! checks that every attempt ends in the state its agent asked for, then discards everything
//! and checks that no process and no worktree is left.

use crate::agent::expected_stream_state;
use crate::lspbench::LspEnv;
use crate::lspbench::{attempt_states, command, is_finished};
use crate::stats::{
    alive, cpu_secs, fmt_mb, fmt_ms, max, median, ms, percentile, processes_mentioning, rss_kib,
    thread_cpu_secs,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct ScaleResults {
    pub attempts: usize,
    pub secs: u64,
    pub wall_secs: f64,
    pub try_ms: Vec<f64>,
    pub lens: Vec<f64>,
    pub lens_count: usize,
    pub server_cpu: f64,
    /// The server's CPU by thread name (live threads at the end).
    pub server_threads: Vec<(String, f64)>,
    pub server_rss_max: u64,
    pub supervisors_cpu: f64,
    pub supervisor_rss: Vec<u64>,
    pub supervisors_rss_total_max: u64,
    pub agents_cpu: f64,
    pub machine_busy: f64,
    pub exit_latency: Vec<f64>,
    pub log_mb: Vec<f64>,
    pub states: HashMap<String, usize>,
    pub expected: HashMap<String, usize>,
    pub wrong_states: Vec<String>,
    pub discard_ms: Vec<f64>,
    pub leftovers: Vec<String>,
}

#[derive(Default)]
struct Samples {
    /// Latest CPU seconds and largest RSS per supervisor and per agent pid.
    supervisors: HashMap<u32, (f64, u64)>,
    agents: HashMap<u32, (f64, u64)>,
    server_rss_max: u64,
    supervisors_rss_total_max: u64,
}

/// Busy and total jiffies of the whole machine.
fn machine_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// One look at every supervisor and agent of the repository at `root`, and at the server.
fn sample(root: &Path, server: u32, s: &mut Samples) {
    let fanouts = root.join(".git/fanout/fanouts");
    let mut supervisors = Vec::new();
    let mut agents = Vec::new();
    for f in std::fs::read_dir(&fanouts).into_iter().flatten().flatten() {
        for a in std::fs::read_dir(f.path()).into_iter().flatten().flatten() {
            let Ok(bytes) = std::fs::read(a.path().join("state.json")) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            if let Some(p) = v["supervisor_pid"].as_u64() {
                supervisors.push(p as u32);
            }
            if let Some(p) = v["agent_pgid"].as_u64() {
                agents.push(p as u32);
            }
        }
    }
    let mut total = 0;
    for (pids, map, is_supervisor) in [
        (&supervisors, &mut s.supervisors, true),
        (&agents, &mut s.agents, false),
    ] {
        for &pid in pids {
            if !alive(pid) {
                continue;
            }
            if let (Some(cpu), Some(rss)) = (cpu_secs(pid), rss_kib(pid)) {
                let e = map.entry(pid).or_insert((0.0, 0));
                e.0 = e.0.max(cpu);
                e.1 = e.1.max(rss);
                if is_supervisor {
                    total += rss;
                }
            }
        }
    }
    s.supervisors_rss_total_max = s.supervisors_rss_total_max.max(total);
    s.server_rss_max = s.server_rss_max.max(rss_kib(server).unwrap_or(0));
}

pub fn run(env: &LspEnv, attempts: usize, secs: u64, log: &mut dyn FnMut(&str)) -> ScaleResults {
    let mut c = env.start("scale");
    env.open_big(&c);
    env.lens(&mut c);
    let server = c.pid();
    let server_cpu0 = cpu_secs(server).unwrap_or(0.0);
    let threads0 = thread_cpu_secs(server);
    let (busy0, total0) = machine_jiffies();

    let samples = Arc::new(Mutex::new(Samples::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let samples = Arc::clone(&samples);
        let stop = Arc::clone(&stop);
        let root = env.repo.root.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                sample(&root, server, &mut samples.lock().unwrap());
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };

    let start = Instant::now();
    let mut fanouts = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    let mut try_ms = Vec::new();
    let mut left = attempts;
    let mut k = 0;
    while left > 0 {
        let count = left.min(10);
        let (f, a, t) = env.try_task(&mut c, 20 + k, count, "stream");
        try_ms.push(t);
        fanouts.push(f);
        ids.extend(a);
        left -= count;
        k += 1;
    }
    log(&format!(
        "scale: {} attempts started in {} ({} fanout.try)",
        ids.len(),
        fmt_ms(ms(start.elapsed())),
        fanouts.len()
    ));

    let mut lens = Vec::new();
    let mut lens_count = 0;
    let deadline = start + Duration::from_secs(secs + 180);
    let mut last_report = Instant::now();
    loop {
        let (l, t) = env.lens(&mut c);
        lens_count = lens_count.max(l.len());
        lens.push(t);
        let done = c.last("fanout/status").is_some_and(|n| {
            let states = attempt_states(&n.params);
            ids.iter()
                .all(|id| states.get(id).is_some_and(|s| is_finished(s)))
        });
        if done || Instant::now() > deadline {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            log(&format!(
                "scale: {:.0} s, {} lens requests so far, p99 {}",
                start.elapsed().as_secs_f64(),
                lens.len(),
                fmt_ms(percentile(&lens, 99.0))
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let server_cpu = cpu_secs(server).unwrap_or(0.0) - server_cpu0;
    let mut server_threads: Vec<(String, f64)> = thread_cpu_secs(server)
        .into_iter()
        .map(|(name, secs)| {
            let before = threads0.get(&name).copied().unwrap_or(0.0);
            (name, secs - before)
        })
        .collect();
    server_threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    let by_threads: f64 = server_threads.iter().map(|t| t.1).sum();
    server_threads.push(("threads gone by the end".into(), server_cpu - by_threads));
    let (busy1, total1) = machine_jiffies();
    let s = samples.lock().unwrap();

    let final_states = attempt_states(
        &c.last("fanout/status")
            .map(|n| n.params)
            .unwrap_or_default(),
    );
    let mut states: HashMap<String, usize> = HashMap::new();
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut wrong = Vec::new();
    let mut log_mb = Vec::new();
    for id in &ids {
        let n: usize = id.rsplit_once('-').unwrap().1.parse().unwrap();
        let got = final_states
            .get(id)
            .cloned()
            .unwrap_or_else(|| "missing".into());
        *states.entry(got.clone()).or_default() += 1;
        *expected
            .entry(expected_stream_state(n).to_string())
            .or_default() += 1;
        if got != expected_stream_state(n) {
            wrong.push(format!(
                "{id}: {got}, expected {}",
                expected_stream_state(n)
            ));
        }
        let log_len = std::fs::metadata(env.repo.root.join(format!(".git/fanout/logs/{id}.log")))
            .map(|m| m.len())
            .unwrap_or(0);
        log_mb.push(log_len as f64 / 1e6);
    }
    let exit_latency = env.exit_to_status(&c, &ids);
    log(&format!(
        "scale: all finished after {wall:.1} s; states {states:?}; wrong {}; lens p99 {}",
        wrong.len(),
        fmt_ms(percentile(&lens, 99.0))
    ));

    let mut discard_ms = Vec::new();
    for f in &fanouts {
        let (_, d) = command(&mut c, "fanout.discard", json!({"fanout": f}));
        discard_ms.push(ms(d));
    }
    c.stop();
    let marker = env.root.to_string_lossy().into_owned();
    let mut leftovers: Vec<String> = Vec::new();
    let gone = Instant::now();
    loop {
        let procs = processes_mentioning(&marker);
        if procs.is_empty() || gone.elapsed() > Duration::from_secs(10) {
            leftovers.extend(
                procs
                    .into_iter()
                    .map(|(pid, cmd)| format!("process {pid} still running: {cmd}")),
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let worktrees = crate::data_dir().join("fanout/worktrees");
    for repo_dir in std::fs::read_dir(&worktrees)
        .into_iter()
        .flatten()
        .flatten()
    {
        for wt in std::fs::read_dir(repo_dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            // The pool keeps discarded worktrees warm (by design, up to its size) and the
            // trash is emptied by a detached process: neither is left behind.
            let name = wt.file_name();
            if name == fanout::trash::POOL || name == fanout::trash::TRASH {
                continue;
            }
            leftovers.push(format!("worktree left: {}", wt.path().display()));
        }
    }
    let listed = crate::gen::git(&env.repo.root, &["worktree", "list", "--porcelain"]);
    let pooled = format!("/{}/", fanout::trash::POOL);
    let count = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.starts_with("worktree ") && !l.contains(&pooled))
        .count();
    if count != 1 {
        leftovers.push(format!("git worktree list shows {count} worktrees"));
    }
    let branches = crate::gen::git(&env.repo.root, &["branch", "--list", "fanout/*"]);
    if !branches.stdout.is_empty() {
        leftovers.push(format!(
            "branches left: {}",
            String::from_utf8_lossy(&branches.stdout).trim()
        ));
    }

    let mut supervisor_rss: Vec<u64> = s.supervisors.values().map(|v| v.1).collect();
    supervisor_rss.sort();
    ScaleResults {
        attempts: ids.len(),
        secs,
        wall_secs: wall,
        try_ms,
        lens,
        lens_count,
        server_cpu,
        server_threads,
        server_rss_max: s.server_rss_max,
        supervisors_cpu: s.supervisors.values().map(|v| v.0).sum(),
        supervisor_rss,
        supervisors_rss_total_max: s.supervisors_rss_total_max,
        agents_cpu: s.agents.values().map(|v| v.0).sum(),
        machine_busy: (busy1 - busy0) as f64 / (total1 - total0).max(1) as f64,
        exit_latency,
        log_mb,
        states,
        expected,
        wrong_states: wrong,
        discard_ms,
        leftovers,
    }
}

pub fn markdown(r: &ScaleResults) -> String {
    let per_core = |cpu: f64| 100.0 * cpu / r.wall_secs;
    let mut states: Vec<String> = r.states.iter().map(|(k, v)| format!("{v} {k}")).collect();
    states.sort();
    let mut expected: Vec<String> = r.expected.iter().map(|(k, v)| format!("{v} {k}")).collect();
    expected.sort();
    let p99 = percentile(&r.lens, 99.0);
    let mut s = String::from("| measure | value | target | verdict |\n|---|---:|---:|---|\n");
    s.push_str(&format!(
        "| attempts started (`fanout.try` × {}, each 10 worktrees + supervisors): median per try | {} | | |\n",
        r.try_ms.len(),
        fmt_ms(median(&r.try_ms))
    ));
    s.push_str(&format!(
        "| codeLens during the run ({} requests, {} lenses): p50 / p99 / max | {} / {} / {} | p99 10 ms | {} |\n",
        r.lens.len(),
        r.lens_count,
        fmt_ms(percentile(&r.lens, 50.0)),
        fmt_ms(p99),
        fmt_ms(max(&r.lens)),
        if p99 <= 10.0 { format!("met ({:.0}% of target)", p99 * 10.0) } else { format!("**missed** by {} ({:.1}×)", fmt_ms(p99 - 10.0), p99 / 10.0) }
    ));
    s.push_str(&format!(
        "| agent output written (each agent, MB; 1 MB/s × {} s asked) | median {:.1}, min {:.1} | | |\n",
        r.secs,
        median(&r.log_mb),
        r.log_mb.iter().copied().fold(f64::INFINITY, f64::min)
    ));
    s.push_str(&format!(
        "| wall time, first try to every attempt finished | {:.1} s | | |\n",
        r.wall_secs
    ));
    s.push_str(&format!(
        "| server CPU / peak RSS | {:.1} CPU-s ({:.1}% of a core) / {} | | |\n",
        r.server_cpu,
        per_core(r.server_cpu),
        fmt_mb(r.server_rss_max as f64)
    ));
    let threads: Vec<String> = r
        .server_threads
        .iter()
        .filter(|t| t.1 >= 0.05)
        .map(|(name, secs)| format!("{name} {secs:.1}"))
        .collect();
    s.push_str(&format!(
        "| server CPU by thread, CPU-s (`fanout`: the protocol loop, where lenses are computed) | {} | | |\n",
        threads.join(", ")
    ));
    s.push_str(&format!(
        "| {} supervisors: CPU total / RSS each (median, max) / RSS all together (peak) | {:.2} CPU-s ({:.1}% of a core) / {}, {} / {} | | |\n",
        r.supervisor_rss.len(),
        r.supervisors_cpu,
        per_core(r.supervisors_cpu),
        fmt_mb(median(&r.supervisor_rss.iter().map(|&v| v as f64).collect::<Vec<_>>())),
        fmt_mb(r.supervisor_rss.last().copied().unwrap_or(0) as f64),
        fmt_mb(r.supervisors_rss_total_max as f64)
    ));
    s.push_str(&format!(
        "| fake agents' own CPU (for scale) / whole machine busy | {:.2} CPU-s / {:.0}% of all cores | | |\n",
        r.agents_cpu,
        100.0 * r.machine_busy
    ));
    s.push_str(&format!(
        "| agent exit → attempt finished in `fanout/status`: median / max | {} / {} | | |\n",
        fmt_ms(median(&r.exit_latency)),
        fmt_ms(max(&r.exit_latency))
    ));
    s.push_str(&format!(
        "| final states (expected: {}) | {} | all as expected | {} |\n",
        expected.join(", "),
        states.join(", "),
        if r.wrong_states.is_empty() {
            "met".to_string()
        } else {
            format!("**missed**: {}", r.wrong_states.join("; "))
        }
    ));
    s.push_str(&format!(
        "| discard (`fanout.discard` per fanout of 10): median | {} | | |\n",
        fmt_ms(median(&r.discard_ms))
    ));
    s.push_str(&format!(
        "| left behind after discard (processes, worktrees, branches) | {} | nothing | {} |\n",
        if r.leftovers.is_empty() {
            "nothing".to_string()
        } else {
            r.leftovers.join("; ")
        },
        if r.leftovers.is_empty() {
            "met"
        } else {
            "**missed**"
        }
    ));
    s
}

pub fn json(r: &ScaleResults) -> Value {
    json!({
        "attempts": r.attempts, "agent_secs": r.secs, "wall_secs": r.wall_secs,
        "try_ms": r.try_ms,
        "lens": {"count": r.lens.len(), "p50_ms": percentile(&r.lens, 50.0), "p99_ms": percentile(&r.lens, 99.0), "max_ms": max(&r.lens)},
        "server": {"cpu_secs": r.server_cpu, "rss_max_kib": r.server_rss_max, "threads_cpu_secs": r.server_threads},
        "supervisors": {"cpu_secs": r.supervisors_cpu, "rss_kib": r.supervisor_rss, "rss_total_max_kib": r.supervisors_rss_total_max},
        "agents_cpu_secs": r.agents_cpu, "machine_busy": r.machine_busy,
        "agent_exit_to_status_ms": r.exit_latency,
        "log_mb": r.log_mb,
        "states": r.states, "wrong_states": r.wrong_states,
        "discard_ms": r.discard_ms, "leftovers": r.leftovers,
    })
}
