//! Fork: snapshot + N worktrees ready, through the engine API
//! (`fanout::snapshot::snapshot_commit` + `fanout::checkout::create_worktrees`, exactly what
//! `fanout try` runs before it starts the supervisors), side by side with `git worktree add`
//! × N (the git CLI, what other parallel-agent tools do) and `cp -a` of the tree × N (a floor
//! for writing the files), on the disk and on tmpfs.

use crate::gen::{self, git, Generated};
use crate::stats::{fmt_ms, fmt_ratio, median, ms};
use fanout::checkout::WorktreeSpec;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    Fanout,
    Git,
    Cp,
}

/// One file system's part of the plan: where, which repository sizes, N values and runs.
#[derive(Clone)]
pub struct FsPlan {
    pub label: String,
    pub dir: PathBuf,
    /// (files, [(N, runs)])
    pub cells: Vec<(usize, Vec<(usize, usize)>)>,
    /// Move what each method created aside and delete it all only at the end (see
    /// docs/benchmarks.md: on an ext4 without a journal, creating files right after deleting
    /// many is slow for a minute or more, which would make every method pay for the one
    /// before it).
    pub defer_delete: bool,
}

pub struct Row {
    pub fs: String,
    pub files: usize,
    pub bytes: u64,
    pub n: usize,
    pub fanout: Vec<f64>,
    /// The snapshot's part of `fanout`.
    pub snapshot: Vec<f64>,
    pub git: Vec<f64>,
    pub cp: Vec<f64>,
    /// fanout / git and fanout / cp of each run (side by side in that run).
    pub ratio_git: Vec<f64>,
    pub ratio_cp: Vec<f64>,
    /// The first `git status` in each fanout worktree, and in the first git worktree.
    pub status_fanout: Vec<f64>,
    pub status_git: Vec<f64>,
    pub failures: Vec<String>,
}

fn sync() {
    unsafe { libc::sync() };
}

fn timed_git_status(dir: &Path) -> (f64, String) {
    let t = Instant::now();
    let out = git(dir, &["status", "--porcelain"]);
    (
        ms(t.elapsed()),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

struct Bench<'a> {
    repo: &'a Generated,
    wt_dir: PathBuf,
    /// Where created trees go instead of being deleted at once, if deletion is deferred.
    trash: Option<PathBuf>,
    /// The tree's top-level entries, for `cp -a`.
    entries: Vec<PathBuf>,
}

impl Bench<'_> {
    fn dispose(&self, path: &Path) {
        match &self.trash {
            Some(trash) => {
                std::fs::rename(path, trash.join(path.file_name().unwrap())).expect("move aside")
            }
            None => gen::remove_tree(path),
        }
    }

    fn fanout(&self, tag: &str, n: usize, row: &mut Row) -> f64 {
        let start = Instant::now();
        let commit = fanout::snapshot::snapshot_commit(&self.repo.root, &[], "fanout bench")
            .expect("snapshot_commit");
        row.snapshot.push(ms(start.elapsed()));
        let repo = git2::Repository::open(&self.repo.root).expect("open");
        let specs: Vec<WorktreeSpec> = (1..=n)
            .map(|i| WorktreeSpec {
                name: format!("fanout-{tag}-{i}"),
                path: self.wt_dir.join(format!("fanout-{tag}-{i}")),
                branch: format!("fanout/bench-{tag}/{i}"),
            })
            .collect();
        fanout::checkout::create_worktrees(&repo, commit, &specs).expect("create_worktrees");
        let took = ms(start.elapsed());

        // Every worktree must be a normal, clean worktree of the snapshot.
        let listed = String::from_utf8_lossy(
            &git(&self.repo.root, &["worktree", "list", "--porcelain"]).stdout,
        )
        .matches("\nworktree ")
        .count()
            + 1;
        if listed != n + 1 {
            row.failures.push(format!(
                "git worktree list shows {listed} worktrees, not {}",
                n + 1
            ));
        }
        for s in &specs {
            let (t, porcelain) = timed_git_status(&s.path);
            row.status_fanout.push(t);
            if !porcelain.is_empty() {
                row.failures.push(format!(
                    "git status in {} is not clean: {}",
                    s.path.display(),
                    porcelain.lines().take(3).collect::<Vec<_>>().join(" | ")
                ));
            }
            let head = String::from_utf8_lossy(&git(&s.path, &["rev-parse", "HEAD"]).stdout)
                .trim()
                .to_string();
            if head != commit.to_string() {
                row.failures.push(format!(
                    "{}: HEAD {head} is not the snapshot",
                    s.path.display()
                ));
            }
            let repo = &self.repo;
            let checks = [
                (
                    s.path.join(&repo.untracked).exists(),
                    "untracked file missing",
                ),
                (!s.path.join(&repo.ignored).exists(), "ignored file copied"),
                (
                    repo.deleted.is_empty() || !s.path.join(&repo.deleted).exists(),
                    "deleted file present",
                ),
                (
                    repo.modified.is_empty()
                        || std::fs::read(s.path.join(&repo.modified)).ok()
                            == std::fs::read(repo.root.join(&repo.modified)).ok(),
                    "modified file differs",
                ),
            ];
            for (ok, what) in checks {
                if !ok {
                    row.failures.push(format!("{}: {what}", s.path.display()));
                }
            }
        }
        for s in &specs {
            self.dispose(&s.path);
            fanout::checkout::remove_worktree(&repo, &s.name, &s.path, Some(&s.branch))
                .expect("remove_worktree");
        }
        took
    }

    fn git(&self, tag: &str, n: usize, row: &mut Row) -> f64 {
        let paths: Vec<PathBuf> = (1..=n)
            .map(|i| self.wt_dir.join(format!("git-{tag}-{i}")))
            .collect();
        let branches: Vec<String> = (1..=n).map(|i| format!("git-bench-{tag}-{i}")).collect();
        let start = Instant::now();
        for (p, b) in paths.iter().zip(&branches) {
            git(
                &self.repo.root,
                &[
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    b,
                    &p.to_string_lossy(),
                    "HEAD",
                ],
            );
        }
        let took = ms(start.elapsed());
        let (t, porcelain) = timed_git_status(&paths[0]);
        row.status_git.push(t);
        if !porcelain.is_empty() {
            row.failures
                .push(format!("git status in the git worktree: {porcelain}"));
        }
        for p in &paths {
            self.dispose(p);
        }
        git(&self.repo.root, &["worktree", "prune"]);
        let mut args = vec!["branch", "-q", "-D"];
        args.extend(branches.iter().map(String::as_str));
        git(&self.repo.root, &args);
        took
    }

    fn cp(&self, tag: &str, n: usize) -> f64 {
        let paths: Vec<PathBuf> = (1..=n)
            .map(|i| self.wt_dir.join(format!("cp-{tag}-{i}")))
            .collect();
        let start = Instant::now();
        for p in &paths {
            std::fs::create_dir(p).unwrap();
            let status = Command::new("cp")
                .arg("-a")
                .args(&self.entries)
                .arg(p)
                .status()
                .expect("cp");
            assert!(status.success(), "cp -a failed");
        }
        let took = ms(start.elapsed());
        for p in &paths {
            self.dispose(p);
        }
        took
    }
}

pub fn run(plan: &[FsPlan], log: &mut dyn FnMut(&str)) -> Vec<Row> {
    let mut rows = Vec::new();
    for fs in plan {
        let mut deferred = Vec::new();
        for (files, ns) in &fs.cells {
            let base = fs.dir.join(format!("fork-{files}"));
            let _ = std::fs::remove_dir_all(&base);
            let t = Instant::now();
            let repo = gen::generate(&base.join("repo"), *files, Vec::new(), true);
            log(&format!(
                "fork/{}: generated {} files ({:.0} MB) in {}",
                fs.label,
                repo.files,
                repo.bytes as f64 / 1e6,
                fmt_ms(ms(t.elapsed()))
            ));
            let entries = std::fs::read_dir(&repo.root)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.file_name().is_some_and(|n| n != ".git"))
                .collect();
            let bench = Bench {
                repo: &repo,
                wt_dir: base.join("wt"),
                trash: fs.defer_delete.then(|| base.join("trash")),
                entries,
            };
            std::fs::create_dir_all(&bench.wt_dir).unwrap();
            if let Some(trash) = &bench.trash {
                std::fs::create_dir_all(trash).unwrap();
            }
            let mut cells: Vec<Row> = ns
                .iter()
                .map(|&(n, _)| Row {
                    fs: fs.label.clone(),
                    files: *files,
                    bytes: repo.bytes,
                    n,
                    fanout: vec![],
                    snapshot: vec![],
                    git: vec![],
                    cp: vec![],
                    ratio_git: vec![],
                    ratio_cp: vec![],
                    status_fanout: vec![],
                    status_git: vec![],
                    failures: vec![],
                })
                .collect();
            let runs = ns.iter().map(|c| c.1).max().unwrap_or(0);
            for run in 0..runs {
                for (row, &(n, n_runs)) in cells.iter_mut().zip(ns) {
                    if run >= n_runs {
                        continue;
                    }
                    let tag = format!("r{run}n{n}");
                    // Each method goes first in turn, so none always runs on a cooler cache.
                    let mut order = [Method::Fanout, Method::Git, Method::Cp];
                    order.rotate_left(run % 3);
                    let (mut f, mut g, mut c) = (0.0, 0.0, 0.0);
                    for m in order {
                        sync();
                        match m {
                            Method::Fanout => f = bench.fanout(&tag, n, row),
                            Method::Git => g = bench.git(&tag, n, row),
                            Method::Cp => c = bench.cp(&tag, n),
                        }
                    }
                    row.fanout.push(f);
                    row.git.push(g);
                    row.cp.push(c);
                    row.ratio_git.push(f / g);
                    row.ratio_cp.push(f / c);
                    log(&format!(
                        "fork/{} {} files N={n} run {}: fanout {} (snapshot {}) git {} cp {} (fanout/git {:.2})",
                        fs.label,
                        files,
                        run + 1,
                        fmt_ms(f),
                        fmt_ms(*row.snapshot.last().unwrap()),
                        fmt_ms(g),
                        fmt_ms(c),
                        f / g
                    ));
                }
            }
            rows.extend(cells);
            if fs.defer_delete {
                deferred.push(base);
            } else {
                gen::remove_tree(&base);
            }
        }
        if !deferred.is_empty() {
            let t = Instant::now();
            for base in &deferred {
                gen::remove_tree(base);
            }
            log(&format!(
                "fork/{}: deleted what the runs created in {}",
                fs.label,
                fmt_ms(ms(t.elapsed()))
            ));
        }
    }
    rows
}

pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from(
        "| fs | files | N | fanout (snapshot part) | git worktree add ×N | cp -a ×N | fanout/git | fanout/cp | `git status` in a fanout worktree (in a git one) | runs | clean |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} ({}) | {} | {} | **{}** | {} | {} ({}) | {} | {} |\n",
            r.fs,
            r.files,
            r.n,
            fmt_ms(median(&r.fanout)),
            fmt_ms(median(&r.snapshot)),
            fmt_ms(median(&r.git)),
            fmt_ms(median(&r.cp)),
            fmt_ratio(median(&r.ratio_git)),
            fmt_ratio(median(&r.ratio_cp)),
            fmt_ms(median(&r.status_fanout)),
            fmt_ms(median(&r.status_git)),
            r.fanout.len(),
            if r.failures.is_empty() {
                "yes".to_string()
            } else {
                format!("NO: {}", r.failures[0])
            }
        ));
    }
    for r in rows.iter().filter(|r| r.files == 10_000 && r.n == 3) {
        let ratio = median(&r.ratio_git);
        let lo = r.ratio_git.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r
            .ratio_git
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        s.push_str(&format!(
            "\nTarget, {}: 3 attempts of the 10,000-file repository in at most half the time of 3 × `git worktree add`: fanout/git = {} (runs: {}–{}): {}.\n",
            r.fs,
            fmt_ratio(ratio),
            fmt_ratio(lo),
            fmt_ratio(hi),
            if ratio <= 0.5 {
                "met".to_string()
            } else {
                format!("**missed** by {:.0}%", 100.0 * (ratio / 0.5 - 1.0))
            }
        ));
    }
    s
}

pub fn json(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!({
                    "fs": r.fs, "files": r.files, "bytes": r.bytes, "n": r.n,
                    "fanout_ms": r.fanout, "snapshot_ms": r.snapshot, "git_ms": r.git, "cp_ms": r.cp,
                    "fanout_over_git": r.ratio_git, "fanout_over_cp": r.ratio_cp,
                    "median_fanout_over_git": median(&r.ratio_git),
                    "median_fanout_over_cp": median(&r.ratio_cp),
                    "git_status_fanout_ms": r.status_fanout, "git_status_git_ms": r.status_git,
                    "failures": r.failures,
                })
            })
            .collect(),
    )
}
