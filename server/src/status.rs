//! The status report: every fanout of a repository with its attempts, ranked.
//! Its JSON is `fanout status --json`, the `fanout.status` command and the `fanout/status`
//! notification (docs/protocol.md).

use crate::activity::Activity;
use crate::error::Result;
use crate::ids::now_secs;
use crate::repo::RepoPaths;
use crate::state::{AttemptRecord, AttemptState, DiffStat, Phase, StateDir, VerifyResult};
use crate::task::Task;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusReport {
    pub repo: PathBuf,
    pub fanouts: Vec<FanoutStatus>,
    /// Fanouts whose `fanout try` died before finishing them, and what they left behind
    /// (`fanout gc` removes it).
    pub abandoned: Vec<crate::state::AbandonedFanout>,
    /// The repository's pool of warm worktrees.
    pub pool: crate::pool::PoolSummary,
    /// Its task list runs (`fanout try --all`), their items and integration.
    pub batches: Vec<BatchStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FanoutStatus {
    pub id: String,
    pub created_at: u64,
    pub task: Task,
    pub prompt: String,
    pub snapshot: String,
    /// The best finished attempt by the ranking, if any has changes.
    pub best: Option<String>,
    /// All the tokens its attempts' agents used, each counted once (see `activity`), when
    /// any reports them.
    pub tokens: Option<u64>,
    /// What its attempts cost in all, when any reports a cost.
    pub cost_usd: Option<f64>,
    /// Attempts in rank order.
    pub attempts: Vec<AttemptStatus>,
    /// Its review's judge run, when it has had one (running, or how it ended).
    pub review: Option<ReviewStatus>,
    /// The judge's verdict, once a review has succeeded.
    pub verdict: Option<crate::review::StoredVerdict>,
}

/// A fanout's review run, as the status shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReviewStatus {
    pub id: String,
    pub agent: String,
    pub state: AttemptState,
    /// Why it failed, in the user's words (a missing or invalid verdict, the judge's exit).
    pub error: Option<String>,
    /// The judge's output (its raw output when the verdict was bad).
    pub log: PathBuf,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AttemptStatus {
    pub id: String,
    pub fanout: String,
    pub n: usize,
    pub agent: String,
    /// The model its agent runs with, when one is named (profile or `--agent NAME:MODEL`).
    pub model: Option<String>,
    /// The permission level of its built-in CLI: "edits", "edits+verify" or "full".
    pub permissions: Option<crate::agents::Permissions>,
    pub state: AttemptState,
    /// While running: `stalled (no output for 3m; last: API retry 7 of 10)` when the agent
    /// has printed nothing for its `stall_secs`, or its latest news is a retry of its model
    /// API.
    pub stalled: Option<String>,
    pub branch: String,
    pub worktree: PathBuf,
    pub worktree_present: bool,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub elapsed_secs: Option<u64>,
    pub exit_code: Option<i32>,
    pub diffstat: Option<DiffStat>,
    pub disk_bytes: Option<u64>,
    pub error: Option<String>,
    /// While running: `setup`, `agent` or `verify`.
    pub phase: Option<Phase>,
    /// The repository's verify command's result, once it has run.
    pub verify: Option<VerifyResult>,
    /// What the agent is doing now (last action, tokens, cost), from its output.
    pub activity: Option<Activity>,
    /// The number of an earlier attempt of the same fanout whose change is identical.
    pub same_as: Option<usize>,
    /// Its place in the judge's ranking (1 = best), once there is a verdict.
    pub judge_rank: Option<usize>,
    /// The judge's one line on it.
    pub judge_summary: Option<String>,
    /// For a synthesis (`fanout synthesize`): the attempts it drew on, by number.
    pub synthesis_of: Option<Vec<usize>>,
    /// The first of this attempt's ports (FANOUT_PORT), when it has some.
    pub port: Option<u16>,
    /// While queued: its place in the repository's run queue (1 = next to start).
    pub queue_position: Option<usize>,
    /// How many times its agent has run (1, plus one per `continue`).
    pub runs: usize,
    /// What changed outside the attempt while it ran (the user's HEAD, index, branches, stash).
    pub outside_changes: Vec<crate::outside::OutsideChange>,
    /// Processes the attempt left running that its supervisor had to stop.
    pub stopped_processes: usize,
    /// Notes on the attempt's result (e.g. a nested repository left out of it).
    pub notes: Vec<String>,
    /// `in progress` or `interrupted` while the attempt is being (or was being) discarded.
    pub discard: Option<crate::state::DiscardState>,
    /// When its change was accepted into the user's files (seconds since the epoch), unless a
    /// follow-up has run since.
    pub accepted_at: Option<u64>,
    /// What editors show for it, the same text as its code lens:
    /// `★ #2 codex ✓ tests +12 −3`, `⚠ #1 claude ⟳ running 1m12s · editing src/lib.rs`.
    pub title: String,
    /// Its state's icon: `…` `⟳` `✓` `✗` `⊘` `!` `∅`.
    pub icon: &'static str,
    /// Whether accepting it can do something: finished, with changes, its worktree there.
    pub can_accept: bool,
    /// Whether it has files to diff: its worktree or a committed result.
    pub can_diff: bool,
    #[serde(skip)]
    result_tree: Option<String>,
}

impl AttemptStatus {
    fn of(a: &AttemptRecord, now: u64) -> AttemptStatus {
        AttemptStatus {
            id: a.id.clone(),
            fanout: a.fanout.clone(),
            n: a.n,
            agent: a.agent.clone(),
            model: a.model.clone(),
            permissions: a.permissions,
            state: a.state,
            stalled: stalled(a, now),
            branch: a.branch.clone(),
            worktree: a.worktree.clone(),
            worktree_present: a.worktree_present,
            started_at: a.started_at,
            finished_at: a.finished_at,
            elapsed_secs: a
                .started_at
                .map(|s| a.finished_at.unwrap_or(now).saturating_sub(s)),
            exit_code: a.exit_code,
            diffstat: a.diffstat,
            disk_bytes: a.disk_bytes,
            error: a.error.clone(),
            phase: a.phase.filter(|_| !a.state.is_finished()),
            verify: a.verify.clone(),
            activity: a.activity.clone(),
            same_as: None,
            judge_rank: None,
            judge_summary: None,
            synthesis_of: match &a.role {
                crate::state::Role::Synthesis { from } => Some(from.clone()),
                _ => None,
            },
            port: a.port,
            queue_position: None,
            runs: a.runs,
            outside_changes: a.outside_changes.clone(),
            stopped_processes: a.stopped_processes,
            notes: a.notes.clone(),
            discard: a.discard,
            accepted_at: a.accepted_at,
            title: String::new(),
            icon: crate::labels::state_icon(a.state),
            can_accept: false,
            can_diff: a.discard.is_none() && (a.worktree_present || a.commit.is_some()),
            result_tree: a.result_tree.clone(),
        }
    }

    pub fn has_changes(&self) -> bool {
        self.diffstat.is_some_and(|d| d.files > 0)
    }

    /// The agent as the user names it: `claude`, or `claude:sonnet` with a model.
    pub fn agent_label(&self) -> String {
        match &self.model {
            Some(m) => format!("{}:{m}", self.agent),
            None => self.agent.clone(),
        }
    }

    /// What the agent is doing, for one line: `stalled (...)` while it is, else its activity.
    pub fn doing(&self) -> Option<String> {
        self.stalled.clone().or_else(|| {
            self.activity
                .as_ref()
                .map(crate::labels::activity_label)
                .filter(|s| !s.is_empty())
        })
    }
}

/// `stalled (no output for 3m; last: API retry 7 of 10)`, `stalled (API retry 2 of 10)`:
/// while the agent runs and has printed nothing for its `stall_secs` (the supervisor records
/// since when), or its latest news is a retry of its model API.
pub fn stalled(a: &AttemptRecord, now: u64) -> Option<String> {
    if a.state != AttemptState::Running || a.phase != Some(Phase::Agent) {
        return None;
    }
    let activity = a.activity.as_ref();
    let last = activity.and_then(|x| x.last.as_deref());
    match (
        a.stalled_since,
        activity.and_then(|x| x.retrying.as_deref()),
    ) {
        (Some(since), _) => Some(format!(
            "stalled (no output for {}; last: {})",
            short_duration(now.saturating_sub(since)),
            last.unwrap_or("nothing yet")
        )),
        (None, Some(retry)) => Some(format!("stalled ({retry})")),
        (None, None) => None,
    }
}

/// 45 → "45s", 200 → "3m", 3900 → "1h05m": how long, at a glance.
fn short_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The attempts' tokens and cost added up.
fn totals(attempts: &[AttemptStatus]) -> (Option<u64>, Option<f64>) {
    let mut tokens = None;
    let mut cost = None;
    for a in attempts.iter().filter_map(|a| a.activity.as_ref()) {
        if let Some(t) = a.tokens {
            tokens = Some(tokens.unwrap_or(0) + t);
        }
        if let Some(c) = a.cost_usd {
            cost = Some(((cost.unwrap_or(0.0) + c) * 1e9).round() / 1e9);
        }
    }
    (tokens, cost)
}

/// How many attempts are in each state, as the status bar shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub running: usize,
    pub queued: usize,
    pub succeeded: usize,
    /// Failed or interrupted.
    pub failed: usize,
}

impl Counts {
    /// Attempts that will still change: running or waiting to run.
    pub fn active(&self) -> usize {
        self.running + self.queued
    }

    pub fn add(&mut self, other: Counts) {
        self.running += other.running;
        self.queued += other.queued;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

impl Counts {
    /// The attempts counted by state.
    pub fn of<'a>(attempts: impl IntoIterator<Item = &'a AttemptStatus>) -> Counts {
        let mut c = Counts::default();
        for a in attempts {
            match a.state {
                AttemptState::Running => c.running += 1,
                AttemptState::Queued => c.queued += 1,
                AttemptState::Succeeded => c.succeeded += 1,
                AttemptState::Failed | AttemptState::Interrupted => c.failed += 1,
                AttemptState::Cancelled | AttemptState::Empty => {}
            }
        }
        c
    }
}

impl StatusReport {
    pub fn counts(&self) -> Counts {
        Counts::of(self.fanouts.iter().flat_map(|f| &f.attempts))
    }
}

/// The ranking: verify passed > agent exited 0 > the judge's rank > smaller change > faster;
/// attempts without a change, or not finished, come last.
fn rank_key(a: &AttemptStatus) -> (u8, usize, usize, u64, usize) {
    let verify = a.verify.as_ref().map(|v| v.passed);
    let tier = match a.state {
        AttemptState::Succeeded if a.has_changes() => match verify {
            Some(true) => 0,
            None => 1,
            Some(false) => 2,
        },
        AttemptState::Failed | AttemptState::Cancelled | AttemptState::Interrupted
            if a.has_changes() =>
        {
            3
        }
        AttemptState::Running | AttemptState::Queued => 4,
        _ => 5,
    };
    let size = a
        .diffstat
        .map(|d| d.additions + d.deletions)
        .unwrap_or(usize::MAX);
    (
        tier,
        a.judge_rank.unwrap_or(usize::MAX),
        size,
        a.elapsed_secs.unwrap_or(u64::MAX),
        a.n,
    )
}

/// Tiers a "best" attempt may come from: agents that succeeded with a change.
const BEST_TIERS: u8 = 2;

/// Mark attempts whose result is identical to an earlier attempt's.
fn mark_identical(attempts: &mut [AttemptStatus]) {
    let mut by_number: Vec<(usize, Option<String>)> = attempts
        .iter()
        .filter(|a| a.has_changes())
        .map(|a| (a.n, a.result_tree.clone()))
        .collect();
    by_number.sort();
    for a in attempts
        .iter_mut()
        .filter(|a| a.has_changes() && a.result_tree.is_some())
    {
        a.same_as = by_number
            .iter()
            .find(|(n, tree)| *n < a.n && *tree == a.result_tree)
            .map(|(n, _)| *n);
    }
}

pub fn report(paths: &RepoPaths) -> Result<StatusReport> {
    let states = StateDir::new(paths.state_dir.clone());
    let now = now_secs();
    let line = queue_line(&states);
    let mut fanouts = Vec::new();
    for (f, attempts) in states.load_all()? {
        let mut attempts: Vec<AttemptStatus> =
            attempts.iter().map(|a| AttemptStatus::of(a, now)).collect();
        for a in attempts
            .iter_mut()
            .filter(|a| a.state == AttemptState::Queued)
        {
            a.queue_position = line
                .iter()
                .position(|(fanout, n)| *fanout == a.fanout && *n == a.n)
                .map(|p| p + 1);
        }
        let verdict = crate::review::load_verdict(&states, &f.id);
        if let Some(v) = &verdict {
            for a in &mut attempts {
                a.judge_rank = v.verdict.rank_of(a.n);
                a.judge_summary = v.verdict.judged(a.n).map(|j| j.summary.clone());
            }
        }
        let review = states.load_review(&f.id).map(|r| ReviewStatus {
            log: states.log_path(&r.id),
            id: r.id,
            agent: r.agent,
            state: r.state,
            error: r.error,
        });
        mark_identical(&mut attempts);
        attempts.sort_by_key(rank_key);
        let best = attempts
            .first()
            .filter(|a| rank_key(a).0 <= BEST_TIERS)
            .map(|a| a.id.clone());
        for a in &mut attempts {
            a.can_accept = a.state.is_finished()
                && a.has_changes()
                && a.worktree_present
                && a.discard.is_none();
            a.title = title(a, best.as_deref() == Some(a.id.as_str()));
        }
        let (tokens, cost_usd) = totals(&attempts);
        fanouts.push(FanoutStatus {
            id: f.id,
            created_at: f.created_at,
            task: f.task,
            prompt: f.prompt,
            snapshot: f.snapshot,
            best,
            tokens,
            cost_usd,
            attempts,
            review,
            verdict,
        });
    }
    let batches = batch_statuses(&states, &fanouts);
    Ok(StatusReport {
        repo: paths.workdir.clone(),
        batches,
        fanouts,
        abandoned: abandoned(paths, &states),
        pool: pool_of(paths),
    })
}

/// The run queue's waiting attempts as (fanout, number), first in line first.
fn queue_line(states: &StateDir) -> Vec<(String, usize)> {
    crate::queue::waiting(&states.root)
        .iter()
        .filter_map(|dir| {
            let n = dir.file_name()?.to_str()?.parse().ok()?;
            let fanout = dir.parent()?.file_name()?.to_str()?.to_string();
            Some((fanout, n))
        })
        .collect()
}

fn pool_of(paths: &RepoPaths) -> crate::pool::PoolSummary {
    let config = crate::config::Config::load_user().unwrap_or_default();
    let root = config.worktree_root().join(paths.short_name());
    crate::pool::Pool::at(&paths.common_dir, &root).summary()
}

/// How much of the agent's activity a title shows: titles stay one glance long.
const TITLE_ACTIVITY_CHARS: usize = 48;

/// `#1 claude ⟳ running 1m12s · editing src/lib.rs`, `★ #2 codex ✓ tests +12 −3`,
/// `#3 gemini ✗ exit 1`, `#4 claude ✓ +12 −3 (same as #2)`, `⚠ ...` when the agent changed
/// something outside its attempt. Escaped: agent text never drives a terminal or an editor.
fn title(a: &AttemptStatus, best: bool) -> String {
    use crate::labels::{duration, verify_label};
    let head = match &a.synthesis_of {
        Some(_) => format!("#{} {} synthesis", a.n, a.agent_label()),
        None => format!("#{} {}", a.n, a.agent_label()),
    };
    let stat = a
        .diffstat
        .filter(|d| d.files > 0)
        .map(|d| format!(" +{} −{}", d.additions, d.deletions))
        .unwrap_or_default();
    let tests = a
        .verify
        .as_ref()
        .map(|v| format!(" {}", verify_label(v)))
        .unwrap_or_default();
    let same = a
        .same_as
        .map(|n| format!(" (same as #{n})"))
        .unwrap_or_default();
    let elapsed = a.elapsed_secs.map(duration).unwrap_or_default();
    let doing = a
        .doing()
        .map(|s| crate::text::shorten(&s, TITLE_ACTIVITY_CHARS))
        .filter(|s| !s.is_empty())
        .map(|s| format!(" · {s}"))
        .unwrap_or_default();
    let warn = if a.outside_changes.is_empty() {
        ""
    } else {
        "⚠ "
    };
    let star = if best { "★ " } else { "" };
    let accepted = a
        .accepted_at
        .map(|at| format!(" · accepted {}", crate::labels::clock(at)))
        .unwrap_or_default();
    let judge = match (a.judge_rank, &a.judge_summary) {
        (Some(1), Some(s)) => format!(
            " · ★ judge: {}",
            crate::text::shorten(s, TITLE_ACTIVITY_CHARS)
        ),
        (Some(r), _) => format!(" · judge #{r}"),
        _ => String::new(),
    };
    let t = match a.state {
        AttemptState::Queued => match a.queue_position {
            Some(p) => format!("{head} … queued, {}", crate::labels::queue_place(p)),
            None => format!("{head} … queued"),
        },
        AttemptState::Running => match a.phase {
            Some(Phase::Setup) => format!("{head} ⟳ setup {elapsed}"),
            Some(Phase::Verify) => format!("{head} ⟳ testing {elapsed}"),
            _ => format!("{head} ⟳ running {elapsed}{doing}"),
        },
        AttemptState::Succeeded => format!("{head} ✓{tests}{stat}{same}{judge}{accepted}"),
        AttemptState::Failed => match (a.exit_code, &a.error) {
            (_, Some(e)) if e.starts_with("setup failed") => format!("{head} ✗ setup failed"),
            (Some(code), _) => format!("{head} ✗ exit {code}{stat}{judge}{accepted}"),
            (None, e) => format!("{head} ✗ {}", e.as_deref().unwrap_or("failed")),
        },
        AttemptState::Cancelled => format!("{head} ⊘ cancelled{stat}{accepted}"),
        AttemptState::Interrupted => format!("{head} ! interrupted"),
        AttemptState::Empty => format!("{head} ∅ no changes"),
    };
    crate::text::escape_line(&format!("{star}{warn}{}", t.trim_end())).into_owned()
}

/// Fanouts whose `try` died, with what of theirs is still there.
fn abandoned(paths: &RepoPaths, states: &StateDir) -> Vec<crate::state::AbandonedFanout> {
    let found = states.abandoned(5);
    if found.is_empty() {
        return Vec::new();
    }
    let repo = git2::Repository::open_bare(&paths.common_dir).ok();
    found
        .into_iter()
        .map(|(id, intent)| {
            let mut left = Vec::new();
            let mut created_at = 0;
            if let Some(i) = intent {
                created_at = i.created_at;
                for w in &i.worktrees {
                    if w.path.exists() {
                        left.push(format!("worktree folder {}", w.path.display()));
                    }
                    let admin = paths.common_dir.join("worktrees").join(&w.name);
                    if admin.exists() {
                        left.push(format!("admin folder {}", admin.display()));
                    }
                    let branch = repo
                        .as_ref()
                        .is_some_and(|r| r.find_branch(&w.branch, git2::BranchType::Local).is_ok());
                    if branch {
                        left.push(format!("branch {}", w.branch));
                    }
                }
            }
            crate::state::AbandonedFanout {
                id,
                created_at,
                left,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(stalled_since: Option<u64>, activity: serde_json::Value) -> AttemptRecord {
        serde_json::from_value(serde_json::json!({
            "id": "f-1", "fanout": "f", "n": 1, "agent": "claude", "state": "running",
            "branch": "b", "worktree": "/w", "worktree_name": "w", "argv": ["x"],
            "base_commit": "0", "created_at": 0, "started_at": 0, "finished_at": null,
            "exit_code": null, "diffstat": null, "commit": null, "disk_bytes": null,
            "error": null, "supervisor_pid": null, "agent_pgid": null, "phase": "agent",
            "stalled_since": stalled_since, "activity": activity
        }))
        .unwrap()
    }

    #[test]
    fn stalled_says_for_how_long_and_what_came_last() {
        let retry =
            serde_json::json!({"last": "API retry 7 of 10", "retrying": "API retry 7 of 10"});
        assert_eq!(
            stalled(&running(Some(1000), retry.clone()), 1185).as_deref(),
            Some("stalled (no output for 3m; last: API retry 7 of 10)")
        );
        assert_eq!(
            stalled(&running(None, retry), 1185).as_deref(),
            Some("stalled (API retry 7 of 10)")
        );
        assert_eq!(
            stalled(&running(Some(1000), serde_json::json!(null)), 1042).as_deref(),
            Some("stalled (no output for 42s; last: nothing yet)")
        );
        let busy = serde_json::json!({"last": "editing app.py"});
        assert_eq!(stalled(&running(None, busy), 1185), None);
        let mut done = running(Some(1000), serde_json::json!(null));
        done.state = AttemptState::Succeeded;
        assert_eq!(stalled(&done, 2000), None, "only a running agent stalls");
    }
}

/// A task list run as the status shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchStatus {
    pub id: String,
    pub file: String,
    pub created_at: u64,
    pub items: Vec<ItemStatus>,
    /// The integration, once `fanout integrate` has run.
    pub integration: Option<IntegrationStatus>,
    /// One line for the run: `3 items: 1 merged, 1 running, 1 waiting`.
    pub summary: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemStatus {
    pub number: usize,
    pub line: usize,
    pub title: String,
    pub fanout: Option<String>,
    /// The attempt the integration takes: the user's pick, else the best.
    pub chosen: Option<String>,
    pub outcome: Option<crate::run_record::Outcome>,
    /// What editors show on the item's line: `✓ merged fa12c3-2`, `⟳ 2 running`,
    /// `✗ conflicts with 1 (src/a.rs)`, `… waiting for 1, 2`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntegrationStatus {
    pub attempt: String,
    pub fanout: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub head: String,
    pub merged: usize,
}

/// The runs of the repository with their items' state, from the fanouts' status.
pub fn batch_statuses(states: &StateDir, fanouts: &[FanoutStatus]) -> Vec<BatchStatus> {
    crate::run_record::load_all(states)
        .iter()
        .map(|b| status_of(b, fanouts))
        .collect()
}

fn status_of(b: &crate::run_record::BatchRecord, fanouts: &[FanoutStatus]) -> BatchStatus {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let items: Vec<ItemStatus> = b
        .items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let f = item
                .fanout
                .as_deref()
                .and_then(|id| fanouts.iter().find(|f| f.id == id));
            let chosen = item.pick.clone().or_else(|| f.and_then(|f| f.best.clone()));
            let (kind, label) = item_label(item, f, chosen.as_deref());
            *counts.entry(kind).or_default() += 1;
            ItemStatus {
                number: k + 1,
                line: item.line,
                title: item.title.clone(),
                fanout: item.fanout.clone(),
                chosen,
                outcome: item.outcome.clone(),
                label: crate::text::escape_line(&label).into_owned(),
            }
        })
        .collect();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let summary = format!(
        "{} item{}: {}",
        items.len(),
        if items.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    BatchStatus {
        id: b.id.clone(),
        file: b.file.clone(),
        created_at: b.created_at,
        integration: b.integration.as_ref().map(|i| IntegrationStatus {
            attempt: i.attempt.clone(),
            fanout: i.fanout.clone(),
            branch: i.branch.clone(),
            worktree: i.worktree.clone(),
            head: i.head.clone(),
            merged: b
                .items
                .iter()
                .filter(|i| matches!(i.outcome, Some(crate::run_record::Outcome::Merged { .. })))
                .count(),
        }),
        items,
        summary,
    }
}

/// (kind for the summary, label) of one item.
fn item_label(
    item: &crate::run_record::BatchItem,
    f: Option<&FanoutStatus>,
    chosen: Option<&str>,
) -> (&'static str, String) {
    let names = |ks: &[usize]| {
        ks.iter()
            .map(|k| format!("{}", k + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &item.outcome {
        Some(crate::run_record::Outcome::Merged { attempt, .. }) => {
            return ("merged", format!("✓ merged {attempt}"))
        }
        Some(crate::run_record::Outcome::Conflicted { with, paths, .. }) => {
            let on = paths.first().cloned().unwrap_or_default();
            let label = if with.is_empty() {
                format!("✗ conflicts ({on})")
            } else {
                format!("✗ conflicts with {} ({on})", names(with))
            };
            return ("conflicted", label);
        }
        Some(crate::run_record::Outcome::VerifyBroke { attempt, .. }) => {
            return (
                "broke verify",
                format!("✗ {attempt} broke verify when merged"),
            )
        }
        _ => {}
    }
    let Some(f) = f else {
        return match &item.outcome {
            Some(crate::run_record::Outcome::Waiting { after }) => (
                "waiting",
                format!("… waiting for {} (then `fanout integrate`)", names(after)),
            ),
            Some(crate::run_record::Outcome::NotReady { why }) => ("not started", why.clone()),
            _ if !item.after.is_empty() => {
                ("waiting", format!("… waiting for {}", names(&item.after)))
            }
            _ => ("not started", "not started".into()),
        };
    };
    let c = Counts::of(&f.attempts);
    if c.active() > 0 {
        let mut parts = Vec::new();
        if c.running > 0 {
            parts.push(format!("{} running", c.running));
        }
        if c.queued > 0 {
            parts.push(format!("{} queued", c.queued));
        }
        return ("running", format!("⟳ {}", parts.join(", ")));
    }
    match chosen {
        Some(a) => ("ready", format!("★ {a} ready to integrate")),
        None => ("without a change", "∅ no attempt with a change".into()),
    }
}
