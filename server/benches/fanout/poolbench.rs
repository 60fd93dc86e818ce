//! The pool of warm worktrees and instant discard, through the engine API (what `fanout try`
//! and `fanout discard` run): per run, side by side on one file system and one repository,
//! - `git worktree add` × N;
//! - a cold fork (snapshot + `pool::provide` with an empty pool: every file written);
//! - discarding the N attempts into the pool (`pool::retire`, pool room for all) and into the
//!   trash (no room);
//! - a warm fork: the user's tree changes (the generator's dirty files plus 5 more edits), then
//!   snapshot + `pool::provide` reusing the N pooled worktrees, which are checked clean.
//!
//! Plus the disk of N attempts against N × one checkout.

use crate::gen::{self, git};
use crate::stats::{fmt_ms, fmt_ratio, median, ms};
use fanout::checkout::WorktreeSpec;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

pub struct PoolRow {
    pub fs: String,
    pub files: usize,
    pub n: usize,
    pub git: Vec<f64>,
    pub cold: Vec<f64>,
    pub warm: Vec<f64>,
    /// The snapshot's part of the warm fork.
    pub warm_snapshot: Vec<f64>,
    pub discard_pool: Vec<f64>,
    pub discard_trash: Vec<f64>,
    /// warm / git, cold / git per run.
    pub ratio_warm: Vec<f64>,
    pub ratio_cold: Vec<f64>,
    pub disk_attempts: u64,
    pub disk_checkout: u64,
    pub failures: Vec<String>,
}

fn limits(size: usize) -> fanout::pool::Limits {
    fanout::pool::Limits {
        size,
        max_bytes: u64::MAX,
        keep_ignored: fanout::config::KeepIgnored::All(true),
    }
}

fn record(spec: &WorktreeSpec, bytes: u64) -> fanout::state::AttemptRecord {
    serde_json::from_value(json!({
        "id": spec.name, "fanout": "bench", "n": 1, "agent": "bench", "state": "succeeded",
        "branch": spec.branch, "worktree": spec.path, "worktree_name": spec.name,
        "argv": [], "base_commit": "", "created_at": 0, "disk_bytes": bytes,
    }))
    .expect("a record")
}

pub fn run(
    fs: &[(String, PathBuf)],
    files: usize,
    n: usize,
    runs: usize,
    log: &mut dyn FnMut(&str),
) -> Vec<PoolRow> {
    let mut rows = Vec::new();
    for (label, dir) in fs {
        let base = dir.join("pool");
        log(&format!("pool: {label}: generating {files} files"));
        let repo = gen::generate(&base.join("repo"), files, Vec::new(), true);
        let root = base.join("wt").join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let git_repo = git2::Repository::open(&repo.root).unwrap();
        let common = git_repo.commondir().to_path_buf();
        let mut row = PoolRow {
            fs: label.clone(),
            files,
            n,
            git: vec![],
            cold: vec![],
            warm: vec![],
            warm_snapshot: vec![],
            discard_pool: vec![],
            discard_trash: vec![],
            ratio_warm: vec![],
            ratio_cold: vec![],
            disk_attempts: 0,
            disk_checkout: 0,
            failures: vec![],
        };
        let trash = root.join(fanout::trash::TRASH);
        for r in 0..runs {
            log(&format!("pool: {label}: run {} of {runs}", r + 1));
            let specs = |tag: &str| -> Vec<WorktreeSpec> {
                (1..=n)
                    .map(|i| WorktreeSpec {
                        name: format!("fanout-{tag}{r}-{i}"),
                        path: root.join(format!("{tag}{r}-{i}")),
                        branch: format!("fanout/bench-{tag}{r}/{i}"),
                    })
                    .collect()
            };
            // git worktree add × N.
            let t = Instant::now();
            let git_paths: Vec<PathBuf> =
                (1..=n).map(|i| base.join(format!("git{r}-{i}"))).collect();
            for (i, p) in git_paths.iter().enumerate() {
                let b = format!("git-bench-{r}-{i}");
                git(
                    &repo.root,
                    &[
                        "worktree",
                        "add",
                        "-q",
                        "-b",
                        &b,
                        p.to_str().unwrap(),
                        "HEAD",
                    ],
                );
            }
            let git_ms = ms(t.elapsed());
            for p in &git_paths {
                gen::remove_tree(p);
            }
            git(&repo.root, &["worktree", "prune"]);
            for i in 0..n {
                let b = format!("git-bench-{r}-{i}");
                git(&repo.root, &["branch", "-q", "-D", &b]);
            }

            // A cold fork: nothing pooled.
            let cold = specs("cold");
            let t = Instant::now();
            let commit = fanout::snapshot::snapshot_commit(&repo.root, &[], "bench").unwrap();
            let rep = fanout::pool::provide(&git_repo, &root, &limits(n), commit, &cold).unwrap();
            let cold_ms = ms(t.elapsed());
            if rep.reused != 0 {
                row.failures
                    .push(format!("cold fork reused {}", rep.reused));
            }
            if r == 0 {
                row.disk_attempts = cold
                    .iter()
                    .map(|s| fanout::checkout::disk_usage(&s.path))
                    .sum();
                row.disk_checkout = fanout::checkout::disk_usage(&cold[0].path) * n as u64;
            }
            let bytes = fanout::checkout::disk_usage(&cold[0].path);
            // Discard into the pool.
            let t = Instant::now();
            for s in &cold {
                let got = fanout::pool::retire(&common, &limits(n), &record(s, bytes)).unwrap();
                if got != fanout::pool::Retired::Pooled {
                    row.failures.push("a discard did not pool".into());
                }
            }
            row.discard_pool.push(ms(t.elapsed()));

            // The user's tree moves on, then a warm fork.
            for k in 0..5 {
                let p = repo.root.join(format!("bench-edit-{k}.txt"));
                std::fs::write(p, format!("run {r} edit {k}\n")).unwrap();
            }
            let warm = specs("warm");
            let t = Instant::now();
            let commit = fanout::snapshot::snapshot_commit(&repo.root, &[], "bench").unwrap();
            let warm_snapshot = ms(t.elapsed());
            let rep = fanout::pool::provide(&git_repo, &root, &limits(n), commit, &warm).unwrap();
            let warm_ms = ms(t.elapsed());
            log(&format!(
                "pool: {label}: warm fork wrote {} files into {} reused worktrees in {warm_ms:.0} ms",
                rep.written, rep.reused
            ));
            if rep.reused != n {
                row.failures
                    .push(format!("warm fork reused {} of {n}", rep.reused));
            }
            for s in &warm {
                let out = git(&s.path, &["status", "--porcelain"]);
                if !out.stdout.is_empty() {
                    row.failures.push(format!(
                        "git status in a reused worktree: {}",
                        String::from_utf8_lossy(&out.stdout)
                            .lines()
                            .take(3)
                            .collect::<Vec<_>>()
                            .join(" | ")
                    ));
                }
            }
            // Discard into the trash (no room in the pool).
            let t = Instant::now();
            for s in &warm {
                let got = fanout::pool::retire(&common, &limits(0), &record(s, bytes)).unwrap();
                if got != fanout::pool::Retired::Trashed {
                    row.failures.push("a discard did not trash".into());
                }
            }
            row.discard_trash.push(ms(t.elapsed()));
            fanout::trash::empty_now(&trash);

            row.git.push(git_ms);
            row.cold.push(cold_ms);
            row.warm.push(warm_ms);
            row.warm_snapshot.push(warm_snapshot);
            row.ratio_warm.push(warm_ms / git_ms);
            row.ratio_cold.push(cold_ms / git_ms);
        }
        gen::remove_tree(&base);
        rows.push(row);
    }
    rows
}

pub fn markdown(rows: &[PoolRow]) -> String {
    let mut md = String::from(
        "| fs | files | N | git worktree add × N | cold fork | warm fork (snapshot part) | warm / git | cold / git | discard N → pool | discard N → trash | disk of N attempts | N × checkout |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {:.0} MB | {:.0} MB |\n",
            r.fs,
            r.files,
            r.n,
            fmt_ms(median(&r.git)),
            fmt_ms(median(&r.cold)),
            fmt_ms(median(&r.warm)),
            fmt_ms(median(&r.warm_snapshot)),
            fmt_ratio(median(&r.ratio_warm)),
            fmt_ratio(median(&r.ratio_cold)),
            fmt_ms(median(&r.discard_pool)),
            fmt_ms(median(&r.discard_trash)),
            r.disk_attempts as f64 / 1e6,
            r.disk_checkout as f64 / 1e6,
        ));
    }
    for r in rows {
        for f in &r.failures {
            md.push_str(&format!("\n**failure** ({}): {f}\n", r.fs));
        }
    }
    md
}

pub fn json(rows: &[PoolRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "fs": r.fs, "files": r.files, "n": r.n, "git_ms": r.git, "cold_ms": r.cold,
                    "warm_ms": r.warm, "warm_snapshot_ms": r.warm_snapshot, "ratio_warm": r.ratio_warm, "ratio_cold": r.ratio_cold,
                    "discard_pool_ms": r.discard_pool, "discard_trash_ms": r.discard_trash,
                    "disk_attempts": r.disk_attempts, "disk_checkout": r.disk_checkout,
                    "failures": r.failures,
                })
            })
            .collect(),
    )
}
