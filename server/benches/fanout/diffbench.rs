//! The diff against the buffer: two real attempts made by fake agents through `fanout.try`
//! (one changed 1,000 of the 10,000 lines of `src/big.rs`, one changed 200 files), with an
//! unsaved edit in the open buffer elsewhere in `src/big.rs`, so the merge is a real 3-way
//! merge. Timed:
//! - `fanout.diff` over LSP; with `--before BIN` (a fanout binary of an earlier version) the
//!   same request to a second server running that binary, alternating request by request, so
//!   the ratio is side by side;
//! - the engine's parts in process: `snapshot_tree` of the working tree plus the buffer
//!   ("ours"), `merge::plan`, the attempt's hunks (`hunks::of_trees` + `hunks::marks`, which
//!   `fanout.diff` computes for the `@@` marks), `diff::render`, and all of it together as
//!   `inspect::diff` runs it; plus the render of the same plan with `similar`'s Myers, as
//!   `diff::render` did before it used imara-diff, side by side, and a check that the hunks
//!   both print are the same bytes.

use crate::lsp_client::LspClient;
use crate::lspbench::{attempt_states, command, verdict, LspEnv, BIG_LINES};
use crate::stats::{fmt_ms, fmt_ratio, median, ms, percentile};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// In-process timings of one case (ms per run).
#[derive(Default)]
pub struct Engine {
    pub ours: Vec<f64>,
    pub plan: Vec<f64>,
    pub hunks: Vec<f64>,
    pub render: Vec<f64>,
    pub total: Vec<f64>,
    /// The same plan rendered with `similar` (the render before imara-diff).
    pub similar_render: Vec<f64>,
    /// render / similar_render per run.
    pub render_ratio: Vec<f64>,
}

pub struct DiffResults {
    pub fs: String,
    /// `fanout.diff` over LSP, this build: the file case, the 200-file case.
    pub lsp: [Vec<f64>; 2],
    /// The same with the `--before` binary, and this / before per request pair.
    pub before: [Vec<f64>; 2],
    pub ratio: [Vec<f64>; 2],
    /// The file case, each request right after an edit of the buffer (nothing of the
    /// buffer's is cached then): this build, the earlier one, this / earlier.
    pub edited: Vec<f64>,
    pub edited_before: Vec<f64>,
    pub edited_ratio: Vec<f64>,
    pub engine: [Engine; 2],
    pub checks: Vec<String>,
    /// Whether imara-diff's hunks were byte for byte `similar`'s, per case.
    pub same_as_similar: [bool; 2],
}

impl DiffResults {
    pub fn new(fs: &str) -> DiffResults {
        DiffResults {
            fs: fs.into(),
            lsp: [vec![], vec![]],
            before: [vec![], vec![]],
            ratio: [vec![], vec![]],
            edited: vec![],
            edited_before: vec![],
            edited_ratio: vec![],
            engine: [Engine::default(), Engine::default()],
            checks: vec![],
            same_as_similar: [true, true],
        }
    }
}

/// The diff case alone (`--only diff`): a server of its own on `env`, the phase, discard.
pub fn run(
    env: &LspEnv,
    fs: &str,
    runs: usize,
    before: Option<&Path>,
    log: &mut dyn FnMut(&str),
) -> DiffResults {
    let mut c = env.start(&format!("diff-{fs}"));
    env.open_big(&c);
    let mut r = DiffResults::new(fs);
    let mut fanouts = Vec::new();
    phase(env, &mut c, runs, before, &mut r, &mut fanouts, log);
    for f in &fanouts {
        command(&mut c, "fanout.discard", json!({"fanout": f}));
    }
    c.stop();
    r
}

/// The diff phase on a running server `c` with `src/big.rs` open (version 1).
pub fn phase(
    env: &LspEnv,
    c: &mut LspClient,
    runs: usize,
    before: Option<&Path>,
    r: &mut DiffResults,
    fanouts: &mut Vec<String>,
    log: &mut dyn FnMut(&str),
) {
    let (f1, a1, _) = env.try_task(c, 6, 1, "edit1000");
    let (f2, a2, _) = env.try_task(c, 7, 1, "edit200");
    fanouts.push(f1);
    fanouts.push(f2);
    let file_attempt = a1[0].clone();
    let files_attempt = a2[0].clone();
    let status = env.wait_finished(
        c,
        &[file_attempt.clone(), files_attempt.clone()],
        Duration::from_secs(60),
    );
    let states = attempt_states(&status);
    for a in [&file_attempt, &files_attempt] {
        if states[a] != "succeeded" {
            r.checks
                .push(format!("attempt {a} ended {}, not succeeded", states[a]));
        }
    }
    // An unsaved edit in the buffer, on a line the attempt did not touch.
    let unsaved = "// an unsaved edit in the buffer\n";
    let edit = json!({"textDocument": {"uri": env.big_uri, "version": 2},
           "contentChanges": [{"range": {"start": {"line": BIG_LINES - 1, "character": 0},
                                         "end": {"line": BIG_LINES - 1, "character": 0}},
                               "text": unsaved}]});
    c.notify("textDocument/didChange", edit.clone());
    let mut buffer = env.big_text.clone();
    let last_line_start = buffer[..buffer.len() - 1].rfind('\n').unwrap() + 1;
    buffer.insert_str(last_line_start, unsaved);

    // The earlier version's server, with the same buffer.
    let mut old = before.map(|bin| {
        let o = env.start_binary(&format!("diff-before-{}", r.fs), bin);
        env.open_big(&o);
        o.notify("textDocument/didChange", edit.clone());
        o
    });

    for (k, (attempt, uri)) in [(&file_attempt, Some(&env.big_uri)), (&files_attempt, None)]
        .into_iter()
        .enumerate()
    {
        let mut arg = json!({"attempt": attempt});
        if let Some(uri) = uri {
            arg["uri"] = json!(uri);
        }
        for i in 0..runs + 3 {
            let (v, d) = command(c, "fanout.diff", arg.clone());
            let before_ms = old.as_mut().map(|o| {
                let (vo, d) = command(o, "fanout.diff", arg.clone());
                if i == 0 && vo["files"] != v["files"] {
                    r.checks.push(format!(
                        "fanout.diff of {attempt}: the earlier version counts other files"
                    ));
                }
                ms(d)
            });
            if i >= 3 {
                r.lsp[k].push(ms(d));
                if let Some(b) = before_ms {
                    r.before[k].push(b);
                    r.ratio[k].push(ms(d) / b);
                }
            }
            if i == 0 {
                let files = v["files"].as_array().cloned().unwrap_or_default();
                let ok = if uri.is_some() {
                    files.len() == 1
                        && files[0]["additions"] == 1000
                        && files[0]["deletions"] == 1000
                } else {
                    files.len() == 200
                };
                if !ok {
                    r.checks.push(format!(
                        "fanout.diff of {attempt}: unexpected files {}",
                        Value::Array(files.into_iter().take(3).collect())
                    ));
                }
            }
        }
    }
    // The file case again, each request after an edit of the buffer: a character more on the
    // unsaved line each time.
    let arg = json!({"attempt": file_attempt, "uri": env.big_uri});
    for i in 0..runs {
        let edit = json!({"textDocument": {"uri": env.big_uri, "version": 3 + i},
               "contentChanges": [{"range": {"start": {"line": BIG_LINES - 1, "character": 0},
                                             "end": {"line": BIG_LINES - 1, "character": 0}},
                                   "text": "x"}]});
        c.notify("textDocument/didChange", edit.clone());
        let (_, d) = command(c, "fanout.diff", arg.clone());
        r.edited.push(ms(d));
        if let Some(o) = old.as_mut() {
            o.notify("textDocument/didChange", edit);
            let (_, b) = command(o, "fanout.diff", arg.clone());
            r.edited_before.push(ms(b));
            r.edited_ratio.push(ms(d) / ms(b));
        }
    }
    // Both servers' buffers back to the one edit the engine measures below.
    for o in std::iter::once(&mut *c).chain(old.as_mut()) {
        o.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": env.big_uri, "version": 3 + runs},
                   "contentChanges": [{"range": {"start": {"line": BIG_LINES - 1, "character": 0},
                                                 "end": {"line": BIG_LINES - 1, "character": runs}},
                                       "text": ""}]}),
        );
    }
    if let Some(o) = old {
        o.stop();
    }
    log(&format!(
        "diff ({}): fanout.diff 1 file/1,000 lines median {} (before {}), after an edit {} (before {}), 200 files median {} (before {})",
        r.fs,
        fmt_ms(median(&r.lsp[0])),
        fmt_ms(median(&r.before[0])),
        fmt_ms(median(&r.edited)),
        fmt_ms(median(&r.edited_before)),
        fmt_ms(median(&r.lsp[1])),
        fmt_ms(median(&r.before[1])),
    ));

    // The same through the engine, in process.
    let repo = git2::Repository::open(&env.repo.root).unwrap();
    let paths = fanout::repo::RepoPaths::discover(&env.repo.root).unwrap();
    let overlays = vec![fanout::snapshot::Overlay {
        path: "src/big.rs".into(),
        bytes: buffer.into_bytes(),
    }];
    for (k, (attempt, only)) in [(&file_attempt, Some("src/big.rs")), (&files_attempt, None)]
        .into_iter()
        .enumerate()
    {
        let state = std::fs::read(env.attempt_dir(attempt).join("state.json")).unwrap();
        let record: fanout::state::AttemptRecord = serde_json::from_slice(&state).unwrap();
        let tree_of = |id: &str| {
            let id = git2::Oid::from_str(id).unwrap();
            repo.find_commit(id).unwrap().tree_id()
        };
        let base = tree_of(&record.base_commit);
        let theirs = tree_of(record.commit.as_deref().unwrap());
        let e = &mut r.engine[k];
        for i in 0..runs + 3 {
            let t = Instant::now();
            let ours = fanout::snapshot::snapshot_tree(&env.repo.root, &overlays).unwrap();
            let t_ours = ms(t.elapsed());
            let t = Instant::now();
            let merge = fanout::merge::plan(&repo, base, ours, theirs, true).unwrap();
            let t_plan = ms(t.elapsed());
            let t = Instant::now();
            let mut hunks = fanout::hunks::of_trees(&repo, base, theirs).unwrap();
            hunks.retain(|h| only.is_none_or(|p| p.as_bytes() == h.path.as_slice()));
            let marks = fanout::hunks::marks(&hunks);
            let t_hunks = ms(t.elapsed());
            let t = Instant::now();
            let report = fanout::diff::render(&merge, only, &marks);
            let t_render = ms(t.elapsed());
            let t = Instant::now();
            let old_hunks = similar_render(&merge);
            let t_similar = ms(t.elapsed());
            let t = Instant::now();
            let total = fanout::inspect::diff(&paths, &record, &overlays, only).unwrap();
            let t_total = ms(t.elapsed());
            if i == 0 {
                let plain = fanout::diff::render(&merge, only, &fanout::diff::Marks::default());
                r.same_as_similar[k] = hunk_lines(&plain.diff) == old_hunks;
                if total.diff != report.diff {
                    r.checks
                        .push(format!("inspect::diff of {attempt} differs from its parts"));
                }
            }
            std::hint::black_box((&report, &total, &old_hunks));
            if i >= 3 {
                e.ours.push(t_ours);
                e.plan.push(t_plan);
                e.hunks.push(t_hunks);
                e.render.push(t_render);
                e.total.push(t_total);
                e.similar_render.push(t_similar);
                e.render_ratio.push(t_render / t_similar);
            }
        }
    }
    let [f, m] = &r.engine;
    log(&format!(
        "diff ({}): engine 1 file: snapshot_tree {} plan {} hunks {} render {} (similar {}) inspect::diff {}; 200 files: {} {} {} {} ({}) {}; same hunks as similar: {:?}",
        r.fs,
        fmt_ms(median(&f.ours)),
        fmt_ms(median(&f.plan)),
        fmt_ms(median(&f.hunks)),
        fmt_ms(median(&f.render)),
        fmt_ms(median(&f.similar_render)),
        fmt_ms(median(&f.total)),
        fmt_ms(median(&m.ours)),
        fmt_ms(median(&m.plan)),
        fmt_ms(median(&m.hunks)),
        fmt_ms(median(&m.render)),
        fmt_ms(median(&m.similar_render)),
        fmt_ms(median(&m.total)),
        r.same_as_similar,
    ));
}

/// The `@@` hunks (header and lines) of every text change of the plan, as `similar`'s Myers
/// prints them with 3 lines of context: what `diff::render` wrote before imara-diff.
fn similar_render(plan: &fanout::merge::MergePlan) -> String {
    let mut out = String::new();
    for c in &plan.changes {
        let (Some(o), Some(n)) = (
            c.old.as_deref().and_then(fanout::diff::as_text),
            c.new.as_deref().and_then(fanout::diff::as_text),
        ) else {
            continue;
        };
        let td = similar::TextDiff::from_lines(o, n);
        let mut ud = td.unified_diff();
        ud.context_radius(fanout::diff::CONTEXT);
        for hunk in ud.iter_hunks() {
            // What the render did per hunk besides printing: the changed lines, for the marks.
            let changed: Vec<String> = hunk
                .iter_changes()
                .filter(|c| c.tag() != similar::ChangeTag::Equal)
                .map(|c| format!("{}{}", c.tag(), c.value()))
                .collect();
            std::hint::black_box(&changed);
            out.push_str(&hunk.to_string());
        }
    }
    out
}

/// The hunk lines of a rendered diff: from each `@@` line to the next file's header.
fn hunk_lines(diff: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in diff.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            inside = false;
        } else if line.starts_with("@@ ") {
            inside = true;
        }
        if inside {
            out.push_str(line);
        }
    }
    out
}

pub fn markdown(results: &[&DiffResults]) -> String {
    let mut md = String::from(
        "| fs | diff against the buffer | `fanout.diff` over LSP: median (p95) | earlier build, side by side | this / earlier | engine: snapshot_tree (buffer) + merge::plan + hunks + diff::render | `inspect::diff` in process | render with `similar` (render / similar) | target | verdict |\n|---|---|---:|---:|---:|---|---:|---:|---:|---|\n",
    );
    for r in results {
        for (k, label) in ["1 file, 10,000 lines, 1,000 changed", "200 files changed"]
            .iter()
            .enumerate()
        {
            let e = &r.engine[k];
            let d = median(&r.lsp[k]);
            md.push_str(&format!(
                "| {} | {label} | {} ({}) | {} | {} | {} + {} + {} + {} | {} | {} ({}) | {} | {} |\n",
                r.fs,
                fmt_ms(d),
                fmt_ms(percentile(&r.lsp[k], 95.0)),
                fmt_ms(median(&r.before[k])),
                fmt_ratio(median(&r.ratio[k])),
                fmt_ms(median(&e.ours)),
                fmt_ms(median(&e.plan)),
                fmt_ms(median(&e.hunks)),
                fmt_ms(median(&e.render)),
                fmt_ms(median(&e.total)),
                fmt_ms(median(&e.similar_render)),
                fmt_ratio(median(&e.render_ratio)),
                if k == 0 { "10 ms" } else { "" },
                if k == 0 { verdict(d, 10.0) } else { String::new() },
            ));
            if k == 0 {
                let d = median(&r.edited);
                md.push_str(&format!(
                    "| {} | the same, each request right after an edit of the buffer | {} ({}) | {} | {} | | | | 10 ms | {} |\n",
                    r.fs,
                    fmt_ms(d),
                    fmt_ms(percentile(&r.edited, 95.0)),
                    fmt_ms(median(&r.edited_before)),
                    fmt_ratio(median(&r.edited_ratio)),
                    verdict(d, 10.0),
                ));
            }
        }
    }
    for r in results {
        md.push_str(&format!(
            "\nHunks printed byte for byte as `similar` printed them ({}): 1 file {}, 200 files {}\n",
            r.fs,
            if r.same_as_similar[0] { "yes" } else { "**NO**" },
            if r.same_as_similar[1] { "yes" } else { "**NO**" },
        ));
        if !r.checks.is_empty() {
            md.push_str(&format!(
                "\nChecks failed ({}): {}\n",
                r.fs,
                r.checks.join("; ")
            ));
        }
    }
    md
}

pub fn json(r: &DiffResults) -> Value {
    let engine = |e: &Engine| {
        json!({"snapshot_tree_ms": e.ours, "plan_ms": e.plan, "hunks_ms": e.hunks,
               "render_ms": e.render, "inspect_diff_ms": e.total,
               "similar_render_ms": e.similar_render, "render_over_similar": e.render_ratio})
    };
    json!({
        "fs": r.fs,
        "lsp_one_file_ms": r.lsp[0], "lsp_200_files_ms": r.lsp[1],
        "before_one_file_ms": r.before[0], "before_200_files_ms": r.before[1],
        "ratio_one_file": r.ratio[0], "ratio_200_files": r.ratio[1],
        "after_edit_ms": r.edited, "after_edit_before_ms": r.edited_before,
        "after_edit_ratio": r.edited_ratio,
        "engine_one_file": engine(&r.engine[0]),
        "engine_200_files": engine(&r.engine[1]),
        "same_as_similar": r.same_as_similar,
        "checks_failed": r.checks,
    })
}
