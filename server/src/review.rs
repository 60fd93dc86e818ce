//! The review step: a judge agent sees every attempt of a fanout together and ranks them as
//! a list (listwise ranking beats scoring candidates one at a time).
//!
//! The judge runs like an attempt, under a detached supervisor, in a worktree of its own at
//! the fork's snapshot so it can read the code; its record is the fanout's folder `0`, with
//! `Role::Judge` (so it is never one of the attempts), and its worktree and branch are thrown
//! away when it ends: nothing it edits is part of any attempt. Its prompt holds the task,
//! every candidate's diff (cut to a budget, the cut said), verify results, and the rule to
//! write a verdict file. When it ends, the supervisor checks the verdict against the schema
//! ([`Verdict`]) and stores it as the fanout's `verdict.json`; a missing, unreadable or
//! invalid verdict fails the review with a message saying what is wrong, and the agent's raw
//! output stays in its log. Reviewing again replaces the verdict.

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::repo::RepoPaths;
use crate::state::{AttemptRecord, AttemptState, Role, StateDir};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The review's folder under its fanout's: attempts are numbered from 1.
pub const REVIEW_N: usize = 0;

/// The stored verdict, in the fanout's folder.
const VERDICT_JSON: &str = "verdict.json";

/// A verdict file larger than this is not read.
const MAX_VERDICT_BYTES: u64 = 1 << 20;

/// How much of all the candidates' diffs together a judge's prompt holds.
pub const DIFF_BUDGET_CHARS: usize = 60_000;

/// What a judge writes (docs/protocol.md, "The verdict").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// Every candidate's number, best first, each once.
    pub ranking: Vec<usize>,
    /// The best candidate: the ranking's first.
    pub best: usize,
    /// One entry per candidate.
    pub attempts: Vec<Judged>,
    /// Hunks (ids as the prompt lists them) worth taking from several attempts together.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub combine: Vec<Combine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Judged {
    pub attempt: usize,
    /// One line.
    pub summary: String,
    #[serde(default)]
    pub strengths: Vec<String>,
    #[serde(default)]
    pub risks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Combine {
    pub attempt: usize,
    pub hunk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A verdict as stored: who judged, and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredVerdict {
    pub agent: String,
    pub judged_at: u64,
    #[serde(flatten)]
    pub verdict: Verdict,
}

impl Verdict {
    /// The judge's rank of attempt `n` (1 = best), if it ranked it.
    pub fn rank_of(&self, n: usize) -> Option<usize> {
        self.ranking.iter().position(|&r| r == n).map(|i| i + 1)
    }

    pub fn judged(&self, n: usize) -> Option<&Judged> {
        self.attempts.iter().find(|j| j.attempt == n)
    }

    /// The verdict as lines of text, for a prompt.
    pub fn as_text(&self) -> String {
        let order: Vec<String> = self.ranking.iter().map(|n| format!("#{n}")).collect();
        let mut out = format!("Ranking, best first: {}.\n", order.join(", "));
        for j in &self.attempts {
            out.push_str(&format!("\n#{}: {}\n", j.attempt, j.summary));
            for s in &j.strengths {
                out.push_str(&format!("  + {s}\n"));
            }
            for r in &j.risks {
                out.push_str(&format!("  - risk: {r}\n"));
            }
        }
        for c in &self.combine {
            let why = c
                .why
                .as_ref()
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            out.push_str(&format!(
                "Worth combining: hunk {} of #{}{why}\n",
                c.hunk, c.attempt
            ));
        }
        out
    }
}

/// Read and check a verdict file's content against the schema and the candidates: every
/// candidate ranked once and judged once, `best` the first of the ranking, hunks that the
/// attempts have (`has_hunk`). The error says what is wrong, for the user and the log.
pub fn parse_verdict(
    bytes: &[u8],
    candidates: &[usize],
    has_hunk: &dyn Fn(usize, &str) -> bool,
) -> std::result::Result<Verdict, String> {
    let v: Verdict = serde_json::from_slice(bytes)
        .map_err(|e| format!("the verdict is not valid JSON of the verdict's schema: {e}"))?;
    let name = |list: &[usize]| {
        list.iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut ranked = v.ranking.clone();
    ranked.sort_unstable();
    let mut expected = candidates.to_vec();
    expected.sort_unstable();
    if ranked != expected {
        return Err(format!(
            "the verdict's ranking must hold every candidate once ({}); it holds {}",
            name(&expected),
            name(&v.ranking)
        ));
    }
    if v.ranking.first() != Some(&v.best) {
        return Err(format!(
            "the verdict's best (#{}) is not the first of its ranking (#{})",
            v.best, v.ranking[0]
        ));
    }
    for n in &expected {
        match v.attempts.iter().filter(|j| j.attempt == *n).count() {
            1 => {}
            0 => return Err(format!("the verdict says nothing of attempt #{n}")),
            _ => return Err(format!("the verdict judges attempt #{n} more than once")),
        }
    }
    if let Some(j) = v.attempts.iter().find(|j| !expected.contains(&j.attempt)) {
        return Err(format!(
            "the verdict judges #{}, which is not a candidate",
            j.attempt
        ));
    }
    if let Some(j) = v.attempts.iter().find(|j| j.summary.trim().is_empty()) {
        return Err(format!("the verdict's summary of #{} is empty", j.attempt));
    }
    if let Some(c) = v.combine.iter().find(|c| !has_hunk(c.attempt, &c.hunk)) {
        return Err(format!(
            "the verdict combines hunk {} of #{}, which that attempt does not have",
            c.hunk, c.attempt
        ));
    }
    Ok(v)
}

/// The fanout's stored verdict, if a review has left one.
pub fn load_verdict(states: &StateDir, fanout: &str) -> Option<StoredVerdict> {
    crate::state::read_json(&states.fanout_dir(fanout).join(VERDICT_JSON)).ok()
}

/// The attempts a review of `fanout` judges: those that ended with changes to show.
fn candidates(attempts: &[AttemptRecord]) -> Vec<&AttemptRecord> {
    attempts
        .iter()
        .filter(|a| {
            a.state.is_finished()
                && a.discard.is_none()
                && a.diffstat.is_some_and(|d| d.files > 0)
                && crate::inspect::ensure_readable(a).is_ok()
        })
        .collect()
}

/// Whether a review of the fanout would start now by itself (`review = "auto"`): every
/// attempt has ended, two or more have changes, and it has no review yet.
pub fn due(states: &StateDir, fanout: &str) -> bool {
    let Ok(attempts) = states.load_attempts(fanout) else {
        return false;
    };
    attempts.iter().all(|a| a.state.is_finished())
        && candidates(&attempts).len() >= 2
        && states.load_review(fanout).is_none()
}

/// Prepare a review of `fanout` by `agent` (default: the config's `judge`, else the roster's
/// first): its worktree and record, for a supervisor to run (`supervisor::spawn` of the
/// returned folder; a record no supervisor takes shows as interrupted). Any earlier review
/// and its verdict go.
pub fn prepare(
    paths: &RepoPaths,
    user: &Config,
    fanout: &str,
    agent: Option<&str>,
) -> Result<(AttemptRecord, PathBuf)> {
    let (states, record, judged) = load_candidates(paths, fanout, "a review compares")?;
    if let Some(old) = states.load_review(fanout) {
        if !old.state.is_finished() {
            return Err(Error::Invalid(format!(
                "a review of {fanout} is already running ({}); wait for it or `fanout cancel {fanout}`",
                old.agent
            )));
        }
        crate::cleanup::discard(paths, &states, &old, true)?;
    }
    let verdict = states.fanout_dir(fanout).join(VERDICT_JSON);
    match std::fs::remove_file(&verdict) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(verdict),
        _ => {}
    }

    let profile = profile_for(paths, user, agent, true)?;
    let shown = shown(paths, &judged)?;
    let template = &judged[0];
    let run = NewRun {
        n: REVIEW_N,
        id: format!("{fanout}-review"),
        branch_leaf: "review".into(),
        role: Role::Judge {
            candidates: judged.iter().map(|a| a.n).collect(),
        },
        profile,
    };
    create_run(paths, &states, &record, template, run, |verdict_file| {
        crate::prompt::review(
            &record.task,
            &record.prompt,
            &shown,
            &verdict_file.to_string_lossy(),
            DIFF_BUDGET_CHARS,
        )
    })
}

/// Add a synthesis to `fanout`: one more attempt, in its own worktree at the snapshot, whose
/// prompt holds the task, every attempt's diff, verify results and the verdict, asking it
/// to combine the best ideas. It runs, verifies and ranks like any attempt; its record says
/// the attempts it drew on. `agent` defaults to the roster's first.
pub fn prepare_synthesis(
    paths: &RepoPaths,
    user: &Config,
    fanout: &str,
    agent: Option<&str>,
) -> Result<(AttemptRecord, PathBuf)> {
    let (states, record, drawn) = load_candidates(paths, fanout, "a synthesis combines")?;
    let profile = profile_for(paths, user, agent, false)?;
    let shown = shown(paths, &drawn)?;
    let verdict = load_verdict(&states, fanout);
    let n = states
        .load_attempts(fanout)?
        .iter()
        .map(|a| a.n)
        .max()
        .unwrap_or(0)
        + 1;
    let run = NewRun {
        n,
        id: crate::ids::attempt_id(fanout, n),
        branch_leaf: n.to_string(),
        role: Role::Synthesis {
            from: drawn.iter().map(|a| a.n).collect(),
        },
        profile,
    };
    create_run(paths, &states, &record, &drawn[0], run, |_| {
        crate::prompt::synthesis(
            &record.task,
            &record.prompt,
            &shown,
            verdict.as_ref().map(|v| v.verdict.as_text()).as_deref(),
            DIFF_BUDGET_CHARS,
        )
    })
}

/// The fanout's state folder and record, and the attempts a judge or a synthesis draws on:
/// every attempt must have ended, and two or more have changes (`what` says who needs them).
fn load_candidates(
    paths: &RepoPaths,
    fanout: &str,
    what: &str,
) -> Result<(StateDir, crate::state::FanoutRecord, Vec<AttemptRecord>)> {
    let states = StateDir::new(paths.state_dir.clone());
    let record = states.load_fanout(fanout)?;
    let attempts = states.load_attempts(fanout)?;
    let running: Vec<String> = attempts
        .iter()
        .filter(|a| !a.state.is_finished())
        .map(|a| format!("#{}", a.n))
        .collect();
    if !running.is_empty() {
        return Err(Error::Invalid(format!(
            "attempts {} of {fanout} are still running: wait until they end (`fanout status --watch`)",
            running.join(", ")
        )));
    }
    let found: Vec<AttemptRecord> = candidates(&attempts).into_iter().cloned().collect();
    if found.len() < 2 {
        return Err(Error::Invalid(format!(
            "{what} two or more attempts with changes; {fanout} has {}",
            found.len()
        )));
    }
    Ok((states, record, found))
}

/// The profile a run is started with: `agent`, else (for a judge) the config's `judge`,
/// else the roster's first.
fn profile_for(
    paths: &RepoPaths,
    user: &Config,
    agent: Option<&str>,
    judge: bool,
) -> Result<crate::agents::Resolved> {
    let eff = crate::repo_config::effective(user, &paths.workdir)?;
    let configured = if judge {
        eff.config.judge.clone()
    } else {
        None
    };
    let name = match agent.map(str::to_string).or(configured) {
        Some(name) => name,
        None => eff
            .config
            .default_roster()?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NoAgents(Config::user_path()))?,
    };
    crate::launch::resolve_profile(&eff, &name)
}

/// The attempts as a judge or a synthesis is shown them.
fn shown(paths: &RepoPaths, attempts: &[AttemptRecord]) -> Result<Vec<crate::prompt::Candidate>> {
    let repo = paths.open()?;
    attempts
        .iter()
        .map(|a| {
            Ok(crate::prompt::Candidate {
                n: a.n,
                agent: a.agent.clone(),
                exit_code: a.exit_code,
                verify: a.verify.clone(),
                diff: crate::inspect::change_diff(&repo, a)?.diff,
            })
        })
        .collect()
}

/// A run to add to a fanout.
struct NewRun {
    n: usize,
    id: String,
    /// The last part of its branch name, after the fanout's `fanout/<slug>-<id>/`.
    branch_leaf: String,
    role: Role,
    profile: crate::agents::Resolved,
}

/// Create a run in a fanout, like `try` creates an attempt: its folder (created, not "created
/// if missing": of two starting at once, one gets it), its worktree at the snapshot, its
/// prompt (`prompt` gets where a judge writes its verdict) and its record; all or nothing.
/// A supervisor is to run it (`supervisor::spawn` of the returned folder).
fn create_run(
    paths: &RepoPaths,
    states: &StateDir,
    record: &crate::state::FanoutRecord,
    template: &AttemptRecord,
    run: NewRun,
    prompt: impl FnOnce(&Path) -> String,
) -> Result<(AttemptRecord, PathBuf)> {
    let dir = states.attempt_dir(&record.id, run.n);
    std::fs::create_dir(&dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            Error::Invalid(format!("{} is already being started", run.id))
        }
        _ => Error::Io {
            path: dir.clone(),
            source: e,
        },
    })?;
    let spec = crate::checkout::WorktreeSpec {
        name: format!("fanout-{}", run.id),
        path: template.worktree.with_file_name(&run.id),
        branch: match template.branch.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{}", run.branch_leaf),
            None => format!("fanout/{}-{}", record.id, run.branch_leaf),
        },
    };
    let repo = paths.open()?;
    let created = (|| -> Result<AttemptRecord> {
        let snapshot = git2::Oid::from_str(&record.snapshot)?;
        crate::checkout::create_worktrees(&repo, snapshot, std::slice::from_ref(&spec))?;
        let mut env = crate::launch::agent_env(paths, &run.id, run.n, &spec.path, &record.task);
        let verdict_file = spec.path.join(crate::launch::VERDICT_FILE);
        if matches!(run.role, Role::Judge { .. }) {
            env.insert(
                "FANOUT_VERDICT_FILE".into(),
                verdict_file.to_string_lossy().into_owned(),
            );
        }
        let launched = crate::launch::command_for(
            &run.profile,
            crate::launch::Run::First,
            &run.id,
            &spec.path,
            &dir,
            &prompt(&verdict_file),
            env,
        )?;
        let rec = fresh_record(template, &spec, run, launched);
        states.write_attempt(&rec)?;
        Ok(rec)
    })();
    match created {
        Ok(rec) => Ok((rec, dir)),
        Err(e) => {
            crate::checkout::remove_worktrees(&repo, std::slice::from_ref(&spec));
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

/// A new run's record: the fanout's attempt record shape, with nothing of the template
/// attempt's own run. A judge reads: no setup, verify, copied files or ports; a synthesis runs
/// as the attempts did.
fn fresh_record(
    template: &AttemptRecord,
    spec: &crate::checkout::WorktreeSpec,
    run: NewRun,
    launched: crate::launch::Launched,
) -> AttemptRecord {
    let profile = &run.profile;
    let judge = matches!(run.role, Role::Judge { .. });
    let mut rec = template.clone();
    rec.id = run.id;
    rec.n = run.n;
    rec.role = run.role;
    rec.agent = profile.name.clone();
    rec.model = profile.model.clone();
    rec.permissions = profile.permissions;
    rec.stall_secs = profile.stall_secs;
    rec.timeout_secs = profile.timeout_secs;
    rec.own_files = profile.own_files.clone();
    rec.state = AttemptState::Queued;
    rec.branch = spec.branch.clone();
    rec.worktree = spec.path.clone();
    rec.worktree_name = spec.name.clone();
    rec.argv = launched.argv;
    rec.env = launched.env;
    rec.usage_file = launched.usage_file;
    rec.start_delay_ms = 0;
    rec.start_after = None;
    rec.created_at = crate::ids::now_secs();
    rec.started_at = None;
    rec.finished_at = None;
    rec.exit_code = None;
    rec.diffstat = None;
    rec.commit = None;
    rec.disk_bytes = None;
    rec.error = None;
    rec.supervisor_pid = None;
    rec.agent_pgid = None;
    rec.worktree_present = true;
    if judge {
        rec.setup = Vec::new();
        rec.verify_command = None;
        rec.copy = Vec::new();
        rec.port_count = 0;
    }
    rec.port = None;
    rec.setup_done = judge;
    rec.setup_outputs = Default::default();
    rec.phase = None;
    rec.verify = None;
    rec.activity = None;
    rec.result_tree = None;
    rec.runs = 1;
    rec.outside_changes = Vec::new();
    rec.stopped_processes = 0;
    rec.notes = Vec::new();
    rec.stalled_since = None;
    rec.discard = None;
    rec
}

/// The end of a judge's run (the supervisor's): read its verdict file from the worktree,
/// check it, store it. Err is the message for the user.
pub fn conclude(
    states: &StateDir,
    repo: &git2::Repository,
    rec: &AttemptRecord,
) -> std::result::Result<StoredVerdict, String> {
    let Role::Judge { candidates } = &rec.role else {
        return Err("not a review".into());
    };
    let bytes = read_verdict_file(&rec.worktree.join(crate::launch::VERDICT_FILE))?;
    let attempts = states
        .load_attempts(&rec.fanout)
        .map_err(|e| e.to_string())?;
    let hunks_of = |n: usize| -> Vec<crate::hunks::Hunk> {
        let Some(a) = attempts.iter().find(|a| a.n == n) else {
            return Vec::new();
        };
        let base = git2::Oid::from_str(&a.base_commit)
            .ok()
            .and_then(|c| repo.find_commit(c).ok())
            .map(|c| c.tree_id());
        match (base, crate::inspect::attempt_tree(repo, a)) {
            (Some(base), Ok(theirs)) => {
                crate::hunks::of_trees(repo, base, theirs).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    };
    let has_hunk = |n: usize, id: &str| crate::hunks::find(&hunks_of(n), id).is_some();
    let verdict = parse_verdict(&bytes, candidates, &has_hunk)?;
    let stored = StoredVerdict {
        agent: rec.agent.clone(),
        judged_at: crate::ids::now_secs(),
        verdict,
    };
    crate::state::write_json_atomic(&states.fanout_dir(&rec.fanout).join(VERDICT_JSON), &stored)
        .map_err(|e| e.to_string())?;
    Ok(stored)
}

/// The verdict file's bytes: a regular file (never followed through a symlink), not huge.
fn read_verdict_file(path: &Path) -> std::result::Result<Vec<u8>, String> {
    let shown = crate::launch::VERDICT_FILE;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "the judge wrote no verdict ({shown} in its worktree, FANOUT_VERDICT_FILE)"
            ))
        }
        Err(e) => return Err(format!("cannot read the verdict {shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("the verdict {shown} is not a regular file"));
    }
    if meta.len() > MAX_VERDICT_BYTES {
        return Err(format!(
            "the verdict {shown} is {} bytes, more than the {MAX_VERDICT_BYTES} read",
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read the verdict {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> std::result::Result<Verdict, String> {
        parse_verdict(json.as_bytes(), &[1, 2], &|n, h| n == 1 && h == "abcd1234")
    }

    const GOOD: &str = r#"{"ranking": [2, 1], "best": 2,
        "attempts": [{"attempt": 1, "summary": "works", "strengths": ["small"], "risks": []},
                     {"attempt": 2, "summary": "handles empty input, adds a test"}],
        "combine": [{"attempt": 1, "hunk": "abcd1234", "why": "its test"}]}"#;

    #[test]
    fn a_verdict_is_checked_against_the_schema_and_the_candidates() {
        let v = check(GOOD).unwrap();
        assert_eq!(
            (v.rank_of(2), v.rank_of(1), v.rank_of(3)),
            (Some(1), Some(2), None)
        );
        assert_eq!(v.judged(1).unwrap().strengths, ["small"]);
        for (bad, why) in [
            ("not json", "not valid JSON"),
            (
                r#"{"ranking": [2, 1], "best": 2}"#,
                "missing field `attempts`",
            ),
            (
                &GOOD.replace("\"best\"", "\"bets\""),
                "unknown field `bets`",
            ),
            (
                &GOOD.replace("[2, 1]", "[2, 2]"),
                "every candidate once (#1, #2)",
            ),
            (&GOOD.replace("[2, 1]", "[2, 1, 3]"), "it holds #2, #1, #3"),
            (&GOOD.replace("\"best\": 2", "\"best\": 1"), "not the first"),
            (
                &GOOD.replace("\"attempt\": 1, \"summary\"", "\"attempt\": 2, \"summary\""),
                "says nothing of attempt #1",
            ),
            (
                &GOOD.replace(
                    "\"attempts\": [",
                    "\"attempts\": [{\"attempt\": 1, \"summary\": \"again\"}, ",
                ),
                "judges attempt #1 more than once",
            ),
            (
                &GOOD.replace("\"works\"", "\" \""),
                "summary of #1 is empty",
            ),
            (&GOOD.replace("abcd1234", "ffff0000"), "hunk ffff0000 of #1"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
