//! A verify step that builds: a generated Rust crate of 50 modules (no dependencies), built
//! with `cargo build --offline` as a repository's `verify` command would build it, in a fresh
//! worktree (what a cold fork makes: `checkout::create_worktrees`) and in a reused one (the
//! same worktree discarded into the pool with its ignored `target/`, then handed to the next
//! fork by `pool::provide` after the user changed one module), side by side per run; then
//! the reused worktree built once more where it is, after one more module changed: what a
//! reuse would cost if the worktree kept its path (it does not: a fork moves the pooled
//! worktree to the attempt's own path, and cargo rebuilds a package that moved).

use crate::gen::git;
use crate::stats::{fmt_ms, fmt_ratio, median, ms};
use fanout::checkout::WorktreeSpec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

pub const MODULES: usize = 50;

pub struct VerifyRow {
    pub fs: String,
    pub modules: usize,
    pub lines: usize,
    pub fresh: Vec<f64>,
    pub reused: Vec<f64>,
    /// fresh / reused per run.
    pub speedup: Vec<f64>,
    /// The reused worktree built again where it is after one more module changed: what a
    /// reuse costs when the worktree keeps its path (see the docs), and fresh / that.
    pub same_path: Vec<f64>,
    pub same_path_speedup: Vec<f64>,
    /// The reused worktree's fork itself (snapshot + `pool::provide`).
    pub fork: Vec<f64>,
    pub failures: Vec<String>,
}

/// One module: a struct, a trait and its impls, and functions that call each other, so the
/// compiler has real work (type checking, monomorphization, code generation).
fn module(k: usize, version: usize) -> String {
    let mut s = format!(
        "//! Module {k}.\n\nuse std::collections::HashMap;\n\n#[derive(Debug, Clone, Default)]\npub struct Item{k} {{\n    pub name: String,\n    pub values: Vec<u64>,\n    pub index: HashMap<String, usize>,\n}}\n\npub trait Score{k} {{\n    fn score(&self) -> u64;\n}}\n\nimpl Score{k} for Item{k} {{\n    fn score(&self) -> u64 {{\n        self.values.iter().map(|v| v * {k} + {version}).sum()\n    }}\n}}\n\n"
    );
    for f in 0..8 {
        s.push_str(&format!(
            "pub fn f{k}_{f}(items: &[Item{k}], extra: u64) -> Vec<(String, u64)> {{\n    let mut out: Vec<(String, u64)> = items\n        .iter()\n        .filter(|i| !i.values.is_empty())\n        .map(|i| (format!(\"{{}}-{f}\", i.name), i.score() + extra))\n        .collect();\n    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));\n    let total: u64 = out.iter().map(|(_, v)| *v).sum();\n    if total % {m} == 0 {{\n        out.push((\"total\".to_string(), total));\n    }}\n    out\n}}\n\n",
            m = f + 2
        ));
    }
    s
}

fn crate_files(version_of: impl Fn(usize) -> usize) -> Vec<(String, String)> {
    let mut files = vec![
        (
            "Cargo.toml".to_string(),
            "[package]\nname = \"benchcrate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n"
                .to_string(),
        ),
        (".gitignore".to_string(), "/target/\n".to_string()),
    ];
    let mut lib = String::from("//! The verify benchmark's crate.\n\n");
    for k in 0..MODULES {
        lib.push_str(&format!("pub mod m{k};\n"));
        files.push((format!("src/m{k}.rs"), module(k, version_of(k))));
    }
    files.push(("src/lib.rs".to_string(), lib));
    files
}

/// `cargo build --offline` in `dir`: milliseconds, or the error.
fn build(dir: &Path) -> Result<f64, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let t = Instant::now();
    let out = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_INCREMENTAL")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let took = ms(t.elapsed());
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join(" | "));
    }
    Ok(took)
}

fn limits(size: usize) -> fanout::pool::Limits {
    fanout::pool::Limits {
        size,
        max_bytes: u64::MAX,
        keep_ignored: fanout::config::KeepIgnored::All(true),
    }
}

fn record(spec: &WorktreeSpec) -> fanout::state::AttemptRecord {
    serde_json::from_value(json!({
        "id": spec.name, "fanout": "bench", "n": 1, "agent": "bench", "state": "succeeded",
        "branch": spec.branch, "worktree": spec.path, "worktree_name": spec.name,
        "argv": [], "base_commit": "", "created_at": 0,
        "disk_bytes": fanout::checkout::disk_usage(&spec.path),
    }))
    .expect("a record")
}

pub fn run(fs: &[(String, PathBuf)], runs: usize, log: &mut dyn FnMut(&str)) -> Vec<VerifyRow> {
    let mut rows = Vec::new();
    for (label, dir) in fs {
        let base = dir.join("verify");
        let repo_dir = base.join("repo");
        std::fs::create_dir_all(&repo_dir).unwrap();
        let files = crate_files(|_| 0);
        let lines = files.iter().map(|(_, t)| t.lines().count()).sum();
        for (path, text) in &files {
            let p = repo_dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        git(&repo_dir, &["init", "-q"]);
        git(&repo_dir, &["add", "-A"]);
        git(
            &repo_dir,
            &[
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@localhost",
                "commit",
                "-q",
                "-m",
                "crate",
            ],
        );
        let repo = git2::Repository::open(&repo_dir).unwrap();
        let common = repo.commondir().to_path_buf();
        let root = base.join("wt");
        std::fs::create_dir_all(&root).unwrap();
        let mut row = VerifyRow {
            fs: label.clone(),
            modules: MODULES,
            lines,
            fresh: vec![],
            reused: vec![],
            speedup: vec![],
            same_path: vec![],
            same_path_speedup: vec![],
            fork: vec![],
            failures: vec![],
        };
        for r in 0..runs {
            let spec = |tag: &str| WorktreeSpec {
                name: format!("fanout-v{tag}{r}"),
                path: root.join(format!("v{tag}{r}")),
                branch: format!("fanout/verify-{tag}{r}/1"),
            };
            // A fresh worktree of the user's state, built from nothing.
            let fresh = spec("fresh");
            let commit = fanout::snapshot::snapshot_commit(&repo_dir, &[], "bench").unwrap();
            fanout::checkout::create_worktrees(&repo, commit, std::slice::from_ref(&fresh))
                .unwrap();
            let fresh_ms = match build(&fresh.path) {
                Ok(t) => t,
                Err(e) => {
                    row.failures.push(format!("fresh build: {e}"));
                    break;
                }
            };
            // Discarded into the pool, target/ and all.
            let got = fanout::pool::retire(&common, &limits(1), &record(&fresh)).unwrap();
            if got != fanout::pool::Retired::Pooled {
                row.failures
                    .push("the built worktree was not pooled".into());
            }
            // The user changes one module; the next fork gets the pooled worktree.
            let k = r % MODULES;
            std::fs::write(repo_dir.join(format!("src/m{k}.rs")), module(k, r + 1)).unwrap();
            let reused = spec("reused");
            let t = Instant::now();
            let commit = fanout::snapshot::snapshot_commit(&repo_dir, &[], "bench").unwrap();
            let rep = fanout::pool::provide(
                &repo,
                &root,
                &limits(1),
                commit,
                std::slice::from_ref(&reused),
            )
            .unwrap();
            row.fork.push(ms(t.elapsed()));
            if rep.reused != 1 {
                row.failures
                    .push(format!("the fork reused {} worktrees", rep.reused));
            }
            let reused_ms = match build(&reused.path) {
                Ok(t) => t,
                Err(e) => {
                    row.failures.push(format!("reused build: {e}"));
                    break;
                }
            };
            // One more module changed in the reused worktree itself, built where it is.
            let k2 = (k + 1) % MODULES;
            std::fs::write(reused.path.join(format!("src/m{k2}.rs")), module(k2, r + 1)).unwrap();
            let same_ms = match build(&reused.path) {
                Ok(t) => t,
                Err(e) => {
                    row.failures.push(format!("build in place: {e}"));
                    break;
                }
            };
            log(&format!(
                "verify: {label}: run {}: cargo build in a fresh worktree {}, in the reused one {} ({:.1}×), again in place {} ({:.1}×)",
                r + 1,
                fmt_ms(fresh_ms),
                fmt_ms(reused_ms),
                fresh_ms / reused_ms,
                fmt_ms(same_ms),
                fresh_ms / same_ms
            ));
            row.same_path.push(same_ms);
            row.same_path_speedup.push(fresh_ms / same_ms);
            row.fresh.push(fresh_ms);
            row.reused.push(reused_ms);
            row.speedup.push(fresh_ms / reused_ms);
            // Out of the way for the next run, not into the pool (which has room for one).
            let _ = fanout::pool::retire(&common, &limits(0), &record(&reused));
            fanout::trash::empty_now(&root.join(fanout::trash::TRASH));
        }
        crate::gen::remove_tree(&base);
        rows.push(row);
    }
    rows
}

pub fn markdown(rows: &[VerifyRow]) -> String {
    let mut md = String::from(
        "| fs | crate | `cargo build` in a fresh worktree | in a reused one (one module changed) | fresh / reused | fork of the reused one | target | verdict | the reused one again in place, one more module changed | fresh / that |\n|---|---|---:|---:|---:|---:|---:|---|---:|---:|\n",
    );
    for r in rows {
        let x = median(&r.speedup);
        md.push_str(&format!(
            "| {} | {} modules, {} lines | {} | {} | {}× | {} | ≥ 5× | {} | {} | {}× |\n",
            r.fs,
            r.modules,
            r.lines,
            fmt_ms(median(&r.fresh)),
            fmt_ms(median(&r.reused)),
            fmt_ratio(x),
            fmt_ms(median(&r.fork)),
            if x.is_nan() {
                "n/a".to_string()
            } else if x >= 5.0 {
                "met".to_string()
            } else {
                "**missed**".to_string()
            },
            fmt_ms(median(&r.same_path)),
            fmt_ratio(median(&r.same_path_speedup)),
        ));
    }
    for r in rows {
        for f in &r.failures {
            md.push_str(&format!("\n**failure** ({}): {f}\n", r.fs));
        }
    }
    md
}

pub fn json(rows: &[VerifyRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({"fs": r.fs, "modules": r.modules, "lines": r.lines,
                       "fresh_ms": r.fresh, "reused_ms": r.reused, "speedup": r.speedup,
                       "same_path_ms": r.same_path, "same_path_speedup": r.same_path_speedup,
                       "fork_ms": r.fork, "failures": r.failures})
            })
            .collect(),
    )
}
