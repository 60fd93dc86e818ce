//! fanout's benchmark (docs/benchmarks.md). Run it with `scripts/bench` (or
//! `cargo bench -p fanout --bench fanout -- [options]`); it is built, never run, by the tests.
//!
//! 1. fork: snapshot + N worktrees through the engine API, against `git worktree add` × N and
//!    `cp -a` × N, on generated repositories of 1,000 / 10,000 / 50,000 files, disk and tmpfs;
//! 2. the real `fanout lsp` over stdio: code lens latency, didChange throughput, state change
//!    to `fanout/status`, memory;
//! 3. the diff against the buffer (`fanout.diff`, and the engine's plan + render);
//! 4. scale: 50 attempts at once, each a fake agent writing 1 MB/s for 30 s, under lens load.
//!
//! 5. the pool: a warm fork against a cold one and `git worktree add`, discard; `verify`: a
//!    `cargo build` in a reused worktree against a fresh one; `pool-100k` (only when named):
//!    the warm fork of a 100,000-file repository.
//!
//! Options: `--quick` (a small plan, to try the benchmark), `--only fork,lsp,diff,scale,pool,
//! verify,pool-100k` (or `fork-tmpfs`, `fork-disk`),
//! `--out DIR` (results.md and results.json; default target/fanout-bench), `--disk DIR`
//! (default the temp dir), `--tmpfs DIR` (default /dev/shm), `--scale-attempts N`,
//! `--scale-secs S`, `--fork-runs N`, `--keep` (keep the temp folders), `--before BIN` (a
//! fanout binary of an earlier version: the diff's `fanout.diff` timed side by side with it).
//! Internally, `--fake-agent MODE` makes this binary one of the fake agents (agent.rs).

mod agent;
mod diffbench;
mod forkbench;
mod gen;
/// The LSP client of the integration tests, shared.
#[path = "../../tests/common/lsp_client.rs"]
mod lsp_client;
mod lspbench;
mod poolbench;
mod scale;
mod stats;
mod verifybench;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub fn config_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("XDG_CONFIG_HOME").expect("set by main"))
}

pub fn data_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("XDG_DATA_HOME").expect("set by main"))
}

struct Options {
    quick: bool,
    only: Vec<String>,
    out: PathBuf,
    disk: PathBuf,
    tmpfs: PathBuf,
    scale_attempts: usize,
    scale_secs: u64,
    fork_runs: Option<usize>,
    keep: bool,
    /// A fanout binary of an earlier version, for the diff's side-by-side figures.
    before: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Options {
    let mut o = Options {
        quick: false,
        only: vec![],
        out: Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fanout-bench"),
        disk: std::env::temp_dir(),
        tmpfs: PathBuf::from("/dev/shm"),
        scale_attempts: 50,
        scale_secs: 30,
        fork_runs: None,
        keep: false,
        before: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| panic!("{a} needs a value"))
        };
        match a.as_str() {
            "--quick" => o.quick = true,
            "--keep" => o.keep = true,
            "--only" => o.only = value().split(',').map(str::to_string).collect(),
            "--out" => o.out = PathBuf::from(value()),
            "--disk" => o.disk = PathBuf::from(value()),
            "--tmpfs" => o.tmpfs = PathBuf::from(value()),
            "--scale-attempts" => o.scale_attempts = value().parse().expect("a number"),
            "--scale-secs" => o.scale_secs = value().parse().expect("a number"),
            "--fork-runs" => o.fork_runs = Some(value().parse().expect("a number")),
            "--before" => {
                let bin = PathBuf::from(value());
                o.before = Some(bin.canonicalize().unwrap_or(bin));
            }
            "--bench" | "--run" => {}
            other => panic!("unknown option {other} (see the top of benches/fanout/main.rs)"),
        }
    }
    if o.quick {
        o.scale_attempts = o.scale_attempts.min(10);
        o.scale_secs = o.scale_secs.min(5);
    }
    o
}

/// The temp folders of this run. On the way out (even by a panic) it ends the processes this
/// run started that are still alive (found by the folder's path in their command line or
/// environment, killed by pid) and removes the folders.
struct Cleanup {
    dirs: Vec<PathBuf>,
    keep: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for d in &self.dirs {
            for (pid, _) in stats::processes_mentioning(&d.to_string_lossy()) {
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        if !self.keep {
            for d in &self.dirs {
                gen::remove_tree(d);
            }
        }
    }
}

/// File system type and device of the mount holding `path`.
fn mount_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or(path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mut best: Option<(usize, String)> = None;
    for line in mounts.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || !path.starts_with(f[1]) {
            continue;
        }
        if best.as_ref().is_none_or(|(len, _)| f[1].len() >= *len) {
            best = Some((
                f[1].len(),
                format!("{} on {} (mounted at {})", f[2], f[0], f[1]),
            ));
        }
    }
    best.map(|b| b.1).unwrap_or_else(|| "?".into())
}

/// `1.23 s: met` or `... : missed` against a target in ms.
fn fmt_target(v: f64, target: f64) -> String {
    format!(
        "{} ({})",
        stats::fmt_ms(v),
        if v <= target { "met" } else { "**missed**" }
    )
}

fn machine(o: &Options) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "?".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let git = std::process::Command::new("git")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!(
        "- CPU: {} × {model}\n- memory: {mem}\n- disk ({}): {}\n- tmpfs ({}): {}\n- Linux {}, {git}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.disk.display(),
        mount_of(&o.disk),
        o.tmpfs.display(),
        mount_of(&o.tmpfs),
        kernel.trim(),
    )
}

fn main() {
    // As the fanout binary does for every command (server/src/main.rs): objects of the user's
    // own repository are read without re-hashing them.
    git2::opts::strict_hash_verification(false);
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--fake-agent") {
        std::process::exit(agent::main(&args[1..]));
    }
    if !args.iter().any(|a| a == "--bench" || a == "--run") {
        println!(
            "fanout benchmark: run it with scripts/bench (or cargo bench -p fanout --bench fanout)"
        );
        return;
    }
    let o = parse_options(&args);
    let wants = |phase: &str| o.only.is_empty() || o.only.iter().any(|p| p == phase);
    let started = Instant::now();
    let mut log = |msg: &str| eprintln!("[{:6.1} s] {msg}", started.elapsed().as_secs_f64());

    // Everything this run writes lives in its own folders, and fanout and git see a home of
    // their own there: no user config, no user data, nothing left behind.
    let tag = format!("fanout-bench-{}", std::process::id());
    let disk_root = o.disk.join(&tag);
    let tmpfs_root = o.tmpfs.join(&tag);
    std::fs::create_dir_all(&disk_root).expect("disk folder");
    let disk_root = disk_root.canonicalize().unwrap();
    let _cleanup = Cleanup {
        dirs: vec![disk_root.clone(), tmpfs_root.clone()],
        keep: o.keep,
    };
    // The verify benchmark runs cargo, whose toolchain (rustup) is found from the real home.
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        for (k, d) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
            if std::env::var_os(k).is_none() && home.join(d).is_dir() {
                std::env::set_var(k, home.join(d));
            }
        }
    }
    for (k, v) in [
        ("HOME", disk_root.join("home")),
        ("XDG_CONFIG_HOME", disk_root.join("config")),
        ("XDG_DATA_HOME", disk_root.join("data")),
    ] {
        std::fs::create_dir_all(&v).unwrap();
        std::env::set_var(k, v);
    }
    std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
    for k in ["FANOUT_CONFIG", "FANOUT_LOG", "GIT_DIR", "GIT_WORK_TREE"] {
        std::env::remove_var(k);
    }
    let fanout_bin = PathBuf::from(env!("CARGO_BIN_EXE_fanout"));
    let load_start = stats::loadavg();
    log(&format!(
        "fanout benchmark{}: load average {load_start}; temp folders {} and {}",
        if o.quick { " (quick)" } else { "" },
        disk_root.display(),
        tmpfs_root.display()
    ));

    let mut md = String::new();
    let mut json = serde_json::Map::new();

    // The fork plan: tmpfs first; the disk last, because it ends by deleting millions of
    // files, which slows file creation on this kind of disk for minutes (docs/benchmarks.md).
    type Cells = Vec<(usize, Vec<(usize, usize)>)>;
    let fork_cells = |full: Cells, quick: Cells| {
        let mut cells = if o.quick { quick } else { full };
        if let Some(r) = o.fork_runs {
            cells
                .iter_mut()
                .for_each(|c| c.1.iter_mut().for_each(|n| n.1 = r));
        }
        cells
    };
    // (files, [(N, runs)]): fewer runs where one run takes long, to stay within 10 minutes.
    let tmpfs_plan = forkbench::FsPlan {
        label: "tmpfs".into(),
        dir: tmpfs_root.clone(),
        cells: fork_cells(
            vec![
                (1_000, vec![(1, 5), (3, 5), (8, 5)]),
                (10_000, vec![(1, 3), (3, 5), (8, 2)]),
                (50_000, vec![(1, 2), (3, 2), (8, 1)]),
            ],
            vec![(1_000, vec![(1, 1), (3, 1)]), (10_000, vec![(3, 1)])],
        ),
        defer_delete: false,
    };
    let disk_plan = forkbench::FsPlan {
        label: "disk".into(),
        dir: disk_root.clone(),
        cells: fork_cells(
            vec![
                (1_000, vec![(1, 3), (3, 3), (8, 3)]),
                (10_000, vec![(1, 3), (3, 5), (8, 1)]),
                (50_000, vec![(1, 1), (3, 1)]),
            ],
            vec![(1_000, vec![(1, 1), (3, 1)]), (10_000, vec![(3, 1)])],
        ),
        defer_delete: true,
    };
    let mut fork_rows = Vec::new();
    if wants("fork") || wants("fork-tmpfs") {
        fork_rows.extend(forkbench::run(&[tmpfs_plan], &mut log));
    }

    let lsp_plan = if o.quick {
        lspbench::LspPlan {
            rounds: 1,
            lens_requests: 200,
            changes: 10_000,
            state_writes: 5,
            diff_runs: 5,
        }
    } else {
        lspbench::LspPlan {
            rounds: 3,
            lens_requests: 1_000,
            changes: 10_000,
            state_writes: 20,
            diff_runs: 20,
        }
    };
    let mut diffs: Vec<diffbench::DiffResults> = Vec::new();
    if wants("lsp") || wants("diff") || wants("scale") {
        let env = lspbench::LspEnv::new(&disk_root, &fanout_bin, o.scale_secs);
        if wants("lsp") {
            let r = lspbench::run(&env, &lsp_plan, o.before.as_deref(), &mut log);
            md.push_str("### Language server (`fanout lsp` over stdio)\n\n");
            md.push_str(&lspbench::markdown(&r));
            md.push('\n');
            json.insert("lsp".into(), lspbench::json(&r));
            diffs.push(r.diff);
        } else if wants("diff") {
            diffs.push(diffbench::run(
                &env,
                "disk",
                lsp_plan.diff_runs,
                o.before.as_deref(),
                &mut log,
            ));
        }
        if wants("scale") {
            let r = scale::run(&env, o.scale_attempts, o.scale_secs, &mut log);
            md.push_str(&format!(
                "### Scale: {} attempts at once, each writing 1 MB/s for {} s, under code lens load\n\n",
                r.attempts, r.secs
            ));
            md.push_str(&scale::markdown(&r));
            md.push('\n');
            json.insert("scale".into(), scale::json(&r));
        }
    }
    if wants("diff") {
        // The same diff on tmpfs: the repository and its objects there (the worktrees stay in
        // the data dir, on the disk; the diff reads the repository only).
        std::fs::create_dir_all(&tmpfs_root).expect("tmpfs folder");
        let env = lspbench::LspEnv::new(&tmpfs_root, &fanout_bin, o.scale_secs);
        diffs.push(diffbench::run(
            &env,
            "tmpfs",
            lsp_plan.diff_runs,
            o.before.as_deref(),
            &mut log,
        ));
    }
    if !diffs.is_empty() {
        md.push_str("### Diff against the buffer\n\n");
        md.push_str(&diffbench::markdown(&diffs.iter().collect::<Vec<_>>()));
        md.push('\n');
        json.insert(
            "diff".into(),
            serde_json::Value::Array(diffs.iter().map(diffbench::json).collect()),
        );
    }

    if wants("pool") {
        std::fs::create_dir_all(&tmpfs_root).expect("tmpfs folder");
        let fs = vec![
            ("tmpfs".to_string(), tmpfs_root.clone()),
            ("disk".to_string(), disk_root.clone()),
        ];
        let (files, runs) = if o.quick { (1_000, 1) } else { (10_000, 3) };
        let rows = poolbench::run(&fs, files, 3, o.fork_runs.unwrap_or(runs), &mut log);
        md.push_str(
            "### Pool: fork of 3 from a warm pool against cold and `git worktree add`; discard\n\n",
        );
        md.push_str(&poolbench::markdown(&rows));
        md.push('\n');
        json.insert("pool".into(), poolbench::json(&rows));
    }

    if wants("verify") {
        std::fs::create_dir_all(&tmpfs_root).expect("tmpfs folder");
        let fs = vec![
            ("tmpfs".to_string(), tmpfs_root.clone()),
            ("disk".to_string(), disk_root.clone()),
        ];
        let runs = o.fork_runs.unwrap_or(if o.quick { 1 } else { 2 });
        let rows = verifybench::run(&fs, runs, &mut log);
        md.push_str(
            "### Verify that builds: `cargo build` in a reused worktree against a fresh one\n\n",
        );
        md.push_str(&verifybench::markdown(&rows));
        md.push('\n');
        json.insert("verify".into(), verifybench::json(&rows));
    }

    // The 100,000-file repository, from a warm pool: only when asked (`--only pool-100k`),
    // it takes minutes (generating 850 MB twice, and `git worktree add` of it).
    if o.only.iter().any(|p| p == "pool-100k") {
        std::fs::create_dir_all(&tmpfs_root).expect("tmpfs folder");
        let fs = vec![
            ("tmpfs".to_string(), tmpfs_root.clone()),
            ("disk".to_string(), disk_root.clone()),
        ];
        let rows = poolbench::run(&fs, 100_000, 1, o.fork_runs.unwrap_or(2), &mut log);
        md.push_str("### Pool: fork of 1 of the 100,000-file repository from a warm pool\n\n");
        md.push_str(&poolbench::markdown(&rows));
        md.push_str(&format!(
            "\nTarget: a warm fork of the 100,000-file repository under 0.3 s: {}\n",
            rows.iter()
                .map(|r| format!("{} {}", r.fs, fmt_target(stats::median(&r.warm), 300.0)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        md.push('\n');
        json.insert("pool_100k".into(), poolbench::json(&rows));
    }

    if wants("fork") || wants("fork-disk") {
        fork_rows.extend(forkbench::run(&[disk_plan], &mut log));
    }
    if !fork_rows.is_empty() {
        let fork_md = format!(
            "### Fork: snapshot + N worktrees ready\n\n{}\n",
            forkbench::markdown(&fork_rows)
        );
        md.insert_str(0, &fork_md);
        json.insert("fork".into(), forkbench::json(&fork_rows));
    }

    let load_end = stats::loadavg();
    let total = started.elapsed().as_secs_f64();
    let header = format!(
        "## Results{}\n\n{}- load average (1, 5, 15 min): {load_start} at the start, {load_end} at the end\n- benchmark wall time: {total:.0} s\n\n",
        if o.quick { " (quick plan)" } else { "" },
        machine(&o),
    );
    let report = format!("{header}{md}");
    println!("{report}");
    json.insert("load_start".into(), load_start.into());
    json.insert("load_end".into(), load_end.into());
    json.insert("wall_secs".into(), total.into());
    std::fs::create_dir_all(&o.out).expect("output folder");
    std::fs::write(o.out.join("results.md"), &report).unwrap();
    std::fs::write(
        o.out.join("results.json"),
        serde_json::to_string_pretty(&serde_json::Value::Object(json)).unwrap(),
    )
    .unwrap();
    log(&format!(
        "done in {total:.0} s; results in {}",
        o.out.join("results.md").display()
    ));
}
