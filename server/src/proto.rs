//! The wire protocol: every `workspace/executeCommand` command with its typed params and
//! result, and every notification fanout sends. Plain serde, no LSP crate: `fanout lsp`
//! speaks it, and `fanout status --json` prints the same [`Status`].
//!
//! The engine's own types do not double as the wire format: each wire type here is built
//! from the engine's by a `From` conversion, so either side can change without breaking the
//! other. `editors/vscode/src/lsp_ext.ts` mirrors this module and docs/protocol.md documents
//! it; `server/tests/protocol_mirror.rs` fails when the three disagree on the commands.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Every command, in the order `executeCommandProvider.commands` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Try,
    Status,
    Diff,
    AttemptText,
    OpenDiff,
    Accept,
    Discard,
    Cancel,
    Log,
    Continue,
    Agents,
    Config,
    Hunks,
    Compare,
    Review,
    Synthesize,
    Plan,
    TryAll,
    Integrate,
}

impl Command {
    pub const ALL: [Command; 19] = [
        Command::Try,
        Command::Status,
        Command::Diff,
        Command::AttemptText,
        Command::OpenDiff,
        Command::Accept,
        Command::Discard,
        Command::Cancel,
        Command::Log,
        Command::Continue,
        Command::Agents,
        Command::Config,
        Command::Hunks,
        Command::Compare,
        Command::Review,
        Command::Synthesize,
        Command::Plan,
        Command::TryAll,
        Command::Integrate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Command::Try => "fanout.try",
            Command::Status => "fanout.status",
            Command::Diff => "fanout.diff",
            Command::AttemptText => "fanout.attemptText",
            Command::OpenDiff => "fanout.openDiff",
            Command::Accept => "fanout.accept",
            Command::Discard => "fanout.discard",
            Command::Cancel => "fanout.cancel",
            Command::Log => "fanout.log",
            Command::Continue => "fanout.continue",
            Command::Agents => "fanout.agents",
            Command::Config => "fanout.config",
            Command::Hunks => "fanout.hunks",
            Command::Compare => "fanout.compare",
            Command::Review => "fanout.review",
            Command::Synthesize => "fanout.synthesize",
            Command::Plan => "fanout.plan",
            Command::TryAll => "fanout.tryAll",
            Command::Integrate => "fanout.integrate",
        }
    }

    pub fn from_name(name: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.name() == name)
    }

    /// The names, for `executeCommandProvider.commands`.
    pub fn names() -> Vec<String> {
        Command::ALL.iter().map(|c| c.name().to_string()).collect()
    }
}

// ---------------------------------------------------------------------------------------
// Params. A URI is a `file://` URI string; the server parses it.

/// `fanout.try`: fork the task at `line` (0-based) of `uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryParams {
    pub uri: String,
    pub line: u32,
    pub count: Option<usize>,
    pub agents: Option<Vec<String>>,
    pub prompt: Option<String>,
}

/// `fanout.diff`, `fanout.attemptText`, `fanout.openDiff`: one attempt, optionally one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptParams {
    pub attempt: String,
    pub uri: Option<String>,
}

/// `fanout.accept`: an attempt whole, or only some of its hunks (ids from `fanout.hunks`);
/// with `hunks`, `attempt` may name a fanout, each hunk taken from the attempt that has it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptParams {
    pub attempt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hunks: Option<Vec<String>>,
}

/// `fanout.compare`: a fanout (or one of its attempts, for its fanout).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FanoutParams {
    pub fanout: String,
}

/// `fanout.review` and `fanout.synthesize`: a fanout, and optionally the agent profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    pub fanout: String,
    pub agent: Option<String>,
}

/// `fanout.synthesize`: the synthesis attempt added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SynthesizeResult {
    pub attempt: String,
    /// The attempts it draws on, by number.
    pub from: Vec<usize>,
}

/// `fanout.review`: the review started; its verdict comes with the status.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReviewResult {
    pub review: String,
    pub agent: String,
}

/// `fanout.hunks`: an attempt's hunks (a fanout: all its attempts'), optionally of one file.
pub type HunksParams = AttemptParams;

/// `fanout.discard` and `fanout.cancel`: an attempt, or every attempt of a fanout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopParams {
    pub attempt: Option<String>,
    pub fanout: Option<String>,
    /// Discard even attempts whose worktrees hold changes their branches do not.
    pub force: Option<bool>,
}

/// `fanout.log`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    pub attempt: String,
    pub tail: Option<usize>,
}

/// `fanout.continue`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinueParams {
    pub attempt: String,
    pub prompt: String,
}

/// `fanout.agents` and `fanout.config`: of the repository holding `uri`, or of the
/// workspace's first one.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhereParams {
    pub uri: Option<String>,
}

/// `fanout.plan`: a lead agent writes or extends the task list `uri` (default TASKS.md at
/// the workspace's root) for the goal `prompt`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanParams {
    pub prompt: String,
    pub uri: Option<String>,
    pub agent: Option<String>,
}

/// `fanout.tryAll`: fork every unchecked item of the task list `uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryAllParams {
    pub uri: String,
    pub count: Option<usize>,
    pub agents: Option<Vec<String>>,
}

/// `fanout.integrate`: build or update a task list run's integration. The run: `batch` (an
/// id), else the latest run of the task list `uri`, else the latest run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrateParams {
    pub batch: Option<String>,
    pub uri: Option<String>,
    /// Choices: an item (number from 1, or title) and the attempt to integrate for it.
    pub picks: Option<Vec<Pick>>,
    /// Start again from the snapshot even if the branch holds commits of the user's.
    pub rebuild: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Pick {
    pub item: String,
    pub attempt: String,
}

/// The argument of the `fanout.tryAll` code lens ("Run all K tasks"): what a click runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TryAllLens {
    pub uri: String,
    /// Attempts per item (the effective count).
    pub count: usize,
}

/// The argument of the `fanout.plan` code lens ("Plan tasks…"): the editor asks for the
/// goal and sends it as `prompt` with this `uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanLens {
    pub uri: String,
}

/// The argument of the `fanout.try` code lens: what a click runs, the effective count
/// included (user config, `.fanout.toml` and editor settings merged by the engine).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TryLens {
    pub uri: String,
    pub line: u32,
    pub count: usize,
}

// ---------------------------------------------------------------------------------------
// Results.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TryResult {
    pub fanout: String,
    pub attempts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl From<crate::fork::ForkResult> for TryResult {
    fn from(r: crate::fork::ForkResult) -> Self {
        TryResult {
            fanout: r.fanout,
            attempts: r.attempts,
            warnings: r.warnings,
        }
    }
}

/// `fanout.tryAll` and `fanout try --all --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TryAllResult {
    pub batch: String,
    pub file: String,
    pub started: Vec<StartedItem>,
    pub waiting: Vec<WaitingItem>,
    /// Items that could not start (`fanout.integrate` tries them again).
    #[serde(default)]
    pub failed: Vec<FailedItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailedItem {
    pub title: String,
    pub error: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StartedItem {
    pub title: String,
    pub fanout: String,
    pub attempts: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WaitingItem {
    pub title: String,
    /// The titles of the items it waits for.
    pub after: Vec<String>,
}

impl From<&crate::batch::BatchStarted> for TryAllResult {
    fn from(b: &crate::batch::BatchStarted) -> Self {
        TryAllResult {
            batch: b.batch.clone(),
            file: b.file.clone(),
            started: b
                .started
                .iter()
                .map(|(title, r)| StartedItem {
                    title: title.clone(),
                    fanout: r.fanout.clone(),
                    attempts: r.attempts.clone(),
                })
                .collect(),
            waiting: b
                .waiting
                .iter()
                .map(|(title, after)| WaitingItem {
                    title: title.clone(),
                    after: after.clone(),
                })
                .collect(),
            failed: b
                .failed
                .iter()
                .map(|(title, error)| FailedItem {
                    title: title.clone(),
                    error: error.clone(),
                })
                .collect(),
            warnings: b.warnings.clone(),
        }
    }
}

/// What an integration did with one item (`outcome` says which).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Merged {
        attempt: String,
        commit: String,
    },
    /// `with`: the items (numbers from 1) whose merged change touches the same paths.
    Conflicted {
        attempt: String,
        paths: Vec<String>,
        with: Vec<usize>,
    },
    VerifyBroke {
        attempt: String,
        exit_code: Option<i32>,
        tail: Vec<String>,
    },
    NotReady {
        why: String,
    },
    /// `after`: the items (numbers from 1) it waits for.
    Waiting {
        after: Vec<usize>,
    },
    /// Its fanout (the item's `fanout`) was started now, from the integration.
    Started {},
}

impl From<&crate::run_record::Outcome> for Outcome {
    fn from(o: &crate::run_record::Outcome) -> Self {
        use crate::run_record::Outcome as E;
        let numbers = |ks: &[usize]| ks.iter().map(|k| k + 1).collect();
        match o {
            E::Merged { attempt, commit } => Outcome::Merged {
                attempt: attempt.clone(),
                commit: commit.clone(),
            },
            E::Conflicted {
                attempt,
                paths,
                with,
            } => Outcome::Conflicted {
                attempt: attempt.clone(),
                paths: paths.clone(),
                with: numbers(with),
            },
            E::VerifyBroke {
                attempt,
                exit_code,
                tail,
            } => Outcome::VerifyBroke {
                attempt: attempt.clone(),
                exit_code: *exit_code,
                tail: tail.clone(),
            },
            E::NotReady { why } => Outcome::NotReady { why: why.clone() },
            E::Waiting { after } => Outcome::Waiting {
                after: numbers(after),
            },
            E::Started { .. } => Outcome::Started {},
        }
    }
}

/// `fanout.integrate` and `fanout integrate --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrateResult {
    pub batch: String,
    pub file: String,
    /// The integration's attempt: diff and accept it like any attempt.
    pub attempt: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub rebuilt: bool,
    /// Whether an integrate that was killed mid-way was undone first.
    #[serde(default)]
    pub recovered: bool,
    pub items: Vec<IntegratedItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegratedItem {
    pub number: usize,
    pub title: String,
    pub fanout: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The outcome in words, escaped.
    pub text: String,
}

impl From<&crate::batch::IntegrateReport> for IntegrateResult {
    fn from(r: &crate::batch::IntegrateReport) -> Self {
        IntegrateResult {
            batch: r.batch.clone(),
            file: r.file.clone(),
            attempt: r.attempt.clone(),
            branch: r.branch.clone(),
            worktree: r.worktree.clone(),
            rebuilt: r.rebuilt,
            recovered: r.recovered,
            items: r
                .items
                .iter()
                .map(|i| IntegratedItem {
                    number: i.number,
                    title: crate::text::escape_line(&i.title).into_owned(),
                    fanout: i.fanout.clone(),
                    outcome: Outcome::from(&i.outcome),
                    text: crate::text::escape_line(&i.text).into_owned(),
                })
                .collect(),
        }
    }
}

/// A task list run in the status: its items and its integration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Batch {
    pub id: String,
    pub file: String,
    pub created_at: u64,
    /// `3 items: 1 merged, 2 running`.
    pub summary: String,
    pub items: Vec<BatchItem>,
    pub integration: Option<Integration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchItem {
    pub number: usize,
    /// 1-based line in the task list when the run began.
    pub line: usize,
    pub title: String,
    pub fanout: Option<String>,
    /// The attempt the integration takes: the user's pick, else the best.
    pub chosen: Option<String>,
    pub outcome: Option<Outcome>,
    /// What editors show on the item's line: `✓ merged 7f3a9c-2`, `⟳ 2 running`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Integration {
    pub attempt: String,
    pub fanout: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub head: String,
    /// How many items are merged into it.
    pub merged: usize,
}

impl From<&crate::status::BatchStatus> for Batch {
    fn from(b: &crate::status::BatchStatus) -> Self {
        Batch {
            id: b.id.clone(),
            file: b.file.clone(),
            created_at: b.created_at,
            summary: b.summary.clone(),
            items: b
                .items
                .iter()
                .map(|i| BatchItem {
                    number: i.number,
                    line: i.line,
                    title: crate::text::escape_line(&i.title).into_owned(),
                    fanout: i.fanout.clone(),
                    chosen: i.chosen.clone(),
                    outcome: i.outcome.as_ref().map(Outcome::from),
                    label: i.label.clone(),
                })
                .collect(),
            integration: b.integration.as_ref().map(|i| Integration {
                attempt: i.attempt.clone(),
                fanout: i.fanout.clone(),
                branch: i.branch.clone(),
                worktree: i.worktree.clone(),
                head: i.head.clone(),
                merged: i.merged,
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DiffResult {
    pub diff: String,
    pub files: Vec<FileStat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileStat {
    pub path: String,
    /// `added`, `modified`, `deleted` or `conflicted`.
    pub status: String,
    pub additions: usize,
    pub deletions: usize,
}

impl From<crate::diff::DiffReport> for DiffResult {
    fn from(r: crate::diff::DiffReport) -> Self {
        DiffResult {
            diff: r.diff,
            files: r
                .files
                .into_iter()
                .map(|f| FileStat {
                    path: f.path,
                    status: change_kind(f.status).into(),
                    additions: f.additions,
                    deletions: f.deletions,
                })
                .collect(),
        }
    }
}

fn change_kind(k: crate::merge::ChangeKind) -> &'static str {
    use crate::merge::ChangeKind::*;
    match k {
        Added => "added",
        Modified => "modified",
        Deleted => "deleted",
        Conflicted => "conflicted",
    }
}

/// `fanout.hunks` and `fanout hunks --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HunksResult {
    pub hunks: Vec<HunkInfo>,
}

/// One hunk of an attempt's change against the fork's snapshot. Its `id` is stable: the
/// same hunk has the same id every time it is listed, in every attempt that makes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HunkInfo {
    pub id: String,
    pub attempt: String,
    pub path: String,
    /// `lines` (some lines of a text file), or `file` (the whole file: added, deleted,
    /// binary, a symlink, its mode).
    pub kind: String,
    /// 1-based lines in the snapshot (`old_*`) and in the attempt (`new_*`), as a diff's
    /// `@@ -old_start,old_lines +new_start,new_lines @@`.
    pub old_start: usize,
    pub old_lines: usize,
    pub new_start: usize,
    pub new_lines: usize,
    pub additions: usize,
    pub deletions: usize,
    /// The hunk as a diff shows it (`@@` line and lines), or for a whole file one line
    /// saying what happens to it.
    pub text: String,
}

impl HunkInfo {
    pub fn of(attempt: &str, h: &crate::hunks::Hunk) -> HunkInfo {
        HunkInfo {
            id: h.id.clone(),
            attempt: attempt.to_string(),
            path: h.path_lossy(),
            kind: serde_name(&h.kind),
            old_start: h.old_start,
            old_lines: h.old_lines,
            new_start: h.new_start,
            new_lines: h.new_lines,
            additions: h.additions,
            deletions: h.deletions,
            text: h.text.clone(),
        }
    }
}

impl From<&[crate::workspace::AttemptHunks]> for HunksResult {
    fn from(listed: &[crate::workspace::AttemptHunks]) -> Self {
        HunksResult {
            hunks: listed
                .iter()
                .flat_map(|l| l.hunks.iter().map(|h| HunkInfo::of(&l.attempt, h)))
                .collect(),
        }
    }
}

/// `fanout.compare` and `fanout compare --json`: a fanout's attempts side by side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareResult {
    pub fanout: String,
    pub task: Task,
    /// In rank order, as in the status (verify, exit, size, time, tokens and cost each).
    pub attempts: Vec<Attempt>,
    /// Every file any attempt changed; `cells` has one entry per attempt of `attempts`, in
    /// that order (null: that attempt left the file alone).
    pub files: Vec<CompareFile>,
    /// Pairs of attempts whose changes touch the same lines.
    pub overlaps: Vec<CompareOverlap>,
    /// Attempts that made the same change: `identical` byte for byte, else the same once
    /// whitespace and comments are left out.
    pub clusters: Vec<CompareCluster>,
    pub review: Option<Review>,
    pub verdict: Option<Verdict>,
    /// All of it as the CLI's `fanout compare` prints it (escaped), for editors that show it
    /// as text.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareFile {
    pub path: String,
    pub cells: Vec<Option<CompareCell>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct CompareCell {
    pub additions: usize,
    pub deletions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareOverlap {
    pub path: String,
    /// Two attempt numbers, the lower first.
    pub attempts: [usize; 2],
    /// The snapshot's lines, 1-based, inclusive: `[start, end]`.
    pub lines: [usize; 2],
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CompareCluster {
    /// Attempt numbers.
    pub attempts: Vec<usize>,
    pub identical: bool,
}

impl From<&crate::compare::Comparison> for CompareResult {
    fn from(c: &crate::compare::Comparison) -> Self {
        let lossy = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        CompareResult {
            fanout: c.fanout.id.clone(),
            task: (&c.fanout.task).into(),
            attempts: c.fanout.attempts.iter().map(Attempt::from).collect(),
            files: c
                .files
                .iter()
                .map(|f| CompareFile {
                    path: lossy(&f.path),
                    cells: f
                        .cells
                        .iter()
                        .map(|cell| {
                            cell.map(|x| CompareCell {
                                additions: x.additions,
                                deletions: x.deletions,
                            })
                        })
                        .collect(),
                })
                .collect(),
            overlaps: c
                .overlaps
                .iter()
                .map(|o| CompareOverlap {
                    path: lossy(&o.path),
                    attempts: [o.attempts.0, o.attempts.1],
                    lines: [o.lines.0, o.lines.1],
                })
                .collect(),
            clusters: c
                .clusters
                .iter()
                .map(|k| CompareCluster {
                    attempts: k.attempts.clone(),
                    identical: k.identical,
                })
                .collect(),
            review: c.fanout.review.as_ref().map(Review::from),
            verdict: c.fanout.verdict.as_ref().map(Verdict::from),
            text: crate::compare_view::render(c),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttemptTextResult {
    pub text: String,
    pub exists: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OpenDiffResult {
    pub path: PathBuf,
}

/// What `fanout.accept` did. When `applied` is false nothing was written, and `reason` (or
/// `conflicts`, or `refused`) says why.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AcceptResult {
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<usize>,
    /// Paths written to disk rather than as editor edits (binary files, modes, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts: Option<Vec<String>>,
    /// Paths refused against the disk or the editor, each with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<Vec<Refused>>,
    /// One line for the user: why nothing was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Refused {
    pub path: String,
    pub reason: String,
}

impl From<&crate::apply::Refusal> for Refused {
    fn from(r: &crate::apply::Refusal) -> Self {
        Refused {
            path: r.path_lossy(),
            reason: r.reason.clone(),
        }
    }
}

/// `fanout.discard` / `fanout.cancel`: the attempts acted on, and those that failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StopResult {
    pub attempts: Vec<String>,
    pub failed: Vec<StopFailed>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StopFailed {
    pub attempt: String,
    pub error: String,
}

impl StopResult {
    /// From the engine's report: a cancel lists only the attempts it found running.
    pub fn of(r: crate::workspace::StopReport, discard: bool) -> Self {
        StopResult {
            attempts: r
                .done
                .into_iter()
                .filter(|s| discard || s.was_running)
                .map(|s| s.attempt)
                .collect(),
            failed: r
                .failed
                .into_iter()
                .map(|f| StopFailed {
                    attempt: f.attempt,
                    error: f.error,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogResult {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContinueResult {
    pub attempt: String,
}

/// `fanout.agents`: the roster a fork uses, and every profile with where it comes from and
/// whether its binary is usable.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentsResult {
    pub roster: Vec<String>,
    pub agents: Vec<AgentInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentInfo {
    pub name: String,
    /// `built-in`, `user` or `repository`.
    pub source: String,
    pub binary: Option<PathBuf>,
    pub version: Option<String>,
    pub usable: bool,
    pub argv: Vec<String>,
    /// The model its profile sets, if any.
    pub model: Option<String>,
    /// Whether `NAME:MODEL` can choose its model (its command has `{model}`).
    pub takes_model: bool,
    /// The permission level of a built-in CLI: `edits`, `edits+verify` or `full`.
    pub permissions: Option<String>,
    pub note: Option<String>,
}

impl From<crate::workspace::AgentsReport> for AgentsResult {
    fn from(r: crate::workspace::AgentsReport) -> Self {
        AgentsResult {
            roster: r.roster,
            agents: r
                .agents
                .into_iter()
                .map(|d| AgentInfo {
                    takes_model: d.takes_model,
                    name: d.name,
                    source: d.source,
                    binary: d.binary,
                    version: d.version,
                    usable: d.usable,
                    argv: d.argv,
                    model: d.model,
                    permissions: d.permissions.as_ref().map(serde_name),
                    note: d.note,
                })
                .collect(),
            warning: r.warning,
        }
    }
}

/// `fanout.config`: where fanout reads and writes, the effective settings, and what is wrong.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfigResult {
    pub user_config: PathBuf,
    pub user_config_exists: bool,
    pub repo: Option<PathBuf>,
    pub repo_config: Option<PathBuf>,
    pub repo_config_trusted: Option<bool>,
    pub attempts: Option<usize>,
    pub roster: Vec<String>,
    pub worktree_root: Option<PathBuf>,
    pub gc_age: Option<String>,
    pub data_dir: PathBuf,
    pub log_file: PathBuf,
    /// Each in the user's words; empty when all is well.
    pub problems: Vec<String>,
}

impl From<crate::workspace::ConfigReport> for ConfigResult {
    fn from(r: crate::workspace::ConfigReport) -> Self {
        ConfigResult {
            user_config: r.user_config,
            user_config_exists: r.user_config_exists,
            repo: r.repo,
            repo_config: r.repo_config,
            repo_config_trusted: r.repo_config_trusted,
            attempts: r.attempts,
            roster: r.roster,
            worktree_root: r.worktree_root,
            gc_age: r.gc_age,
            data_dir: r.data_dir,
            log_file: r.log_file,
            problems: r.problems,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The status: `fanout.status`, the `fanout/status` notification, `fanout status --json`.

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub repo: Option<PathBuf>,
    /// The attempts of every fanout, counted by state.
    #[serde(flatten)]
    pub counts: Counts,
    pub fanouts: Vec<Fanout>,
    #[serde(default)]
    pub abandoned: Vec<Abandoned>,
    /// The repository's pool of warm worktrees (absent outside a repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    /// Its task list runs (`fanout try --all`).
    #[serde(default)]
    pub batches: Vec<Batch>,
}

/// Finished worktrees kept for the next fork to reuse.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pool {
    pub worktrees: usize,
    pub bytes: u64,
}

impl Status {
    /// Outside a repository: nothing to report, which is not an error.
    pub fn none() -> Status {
        Status {
            repo: None,
            counts: Counts::default(),
            fanouts: Vec::new(),
            abandoned: Vec::new(),
            pool: None,
            batches: Vec::new(),
        }
    }
}

/// Attempts by state: what a status bar shows without counting itself.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub running: usize,
    pub queued: usize,
    pub succeeded: usize,
    /// Failed or interrupted.
    pub failed: usize,
}

impl From<crate::status::Counts> for Counts {
    fn from(c: crate::status::Counts) -> Self {
        Counts {
            running: c.running,
            queued: c.queued,
            succeeded: c.succeeded,
            failed: c.failed,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Abandoned {
    pub id: String,
    pub created_at: u64,
    pub left: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fanout {
    pub id: String,
    pub created_at: u64,
    pub task: Task,
    pub prompt: String,
    pub snapshot: String,
    pub best: Option<String>,
    /// In rank order.
    pub attempts: Vec<Attempt>,
    /// All the tokens its attempts used, each counted once, when any reports them.
    pub tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// Its review's judge run, once one has started.
    #[serde(default)]
    pub review: Option<Review>,
    /// The judge's verdict, once a review succeeded.
    #[serde(default)]
    pub verdict: Option<Verdict>,
}

/// A fanout's review run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Review {
    pub id: String,
    pub agent: String,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.
    pub state: String,
    /// Why it failed: no verdict, an invalid one (what is wrong), the judge's exit.
    pub error: Option<String>,
    /// The judge's output, its raw verdict included when that was bad.
    pub log: PathBuf,
}

impl From<&crate::status::ReviewStatus> for Review {
    fn from(r: &crate::status::ReviewStatus) -> Self {
        Review {
            id: r.id.clone(),
            agent: r.agent.clone(),
            state: r.state.as_str().into(),
            error: r.error.clone(),
            log: r.log.clone(),
        }
    }
}

/// The judge's verdict (docs/protocol.md, "The verdict"), with who judged and when.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub agent: String,
    pub judged_at: u64,
    /// Attempt numbers, best first.
    pub ranking: Vec<usize>,
    pub best: usize,
    pub attempts: Vec<Judged>,
    #[serde(default)]
    pub combine: Vec<Combine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Judged {
    pub attempt: usize,
    pub summary: String,
    pub strengths: Vec<String>,
    pub risks: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Combine {
    pub attempt: usize,
    pub hunk: String,
    pub why: Option<String>,
}

impl From<&crate::review::StoredVerdict> for Verdict {
    fn from(s: &crate::review::StoredVerdict) -> Self {
        let v = &s.verdict;
        Verdict {
            agent: s.agent.clone(),
            judged_at: s.judged_at,
            ranking: v.ranking.clone(),
            best: v.best,
            attempts: v
                .attempts
                .iter()
                .map(|j| Judged {
                    attempt: j.attempt,
                    summary: j.summary.clone(),
                    strengths: j.strengths.clone(),
                    risks: j.risks.clone(),
                })
                .collect(),
            combine: v
                .combine
                .iter()
                .map(|c| Combine {
                    attempt: c.attempt,
                    hunk: c.hunk.clone(),
                    why: c.why.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub marker: String,
    pub text: String,
    /// The short label editors show, escaped: `TODO: handle empty input`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Attempt {
    pub id: String,
    pub fanout: String,
    pub n: usize,
    pub agent: String,
    /// The model its agent runs with, when one is named.
    pub model: Option<String>,
    /// The permission level of its built-in CLI: `edits`, `edits+verify` or `full`.
    pub permissions: Option<String>,
    /// While running: why it looks stuck, e.g. `stalled (no output for 3m; last: ...)`.
    pub stalled: Option<String>,
    /// `queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`, `empty`.
    pub state: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub worktree_present: bool,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    pub elapsed_secs: Option<u64>,
    /// `elapsed_secs` as people read it: `45s`, `1m12s`, `2h05m`.
    pub elapsed: Option<String>,
    pub exit_code: Option<i32>,
    pub diffstat: Option<DiffStat>,
    pub disk_bytes: Option<u64>,
    pub error: Option<String>,
    /// While running: `setup`, `agent` or `verify`.
    pub phase: Option<String>,
    pub verify: Option<Verify>,
    pub activity: Option<Activity>,
    pub same_as: Option<usize>,
    /// Its place in the judge's ranking (1 = best), once there is a verdict.
    #[serde(default)]
    pub judge_rank: Option<usize>,
    /// The judge's one line on it.
    #[serde(default)]
    pub judge_summary: Option<String>,
    /// For a synthesis: the attempts it drew on, by number.
    #[serde(default)]
    pub synthesis_of: Option<Vec<usize>>,
    pub port: Option<u16>,
    /// While queued: its place in the repository's run queue (1 = next to start).
    #[serde(default)]
    pub queue_position: Option<usize>,
    pub runs: usize,
    pub outside_changes: Vec<OutsideChange>,
    pub stopped_processes: usize,
    pub notes: Vec<String>,
    /// `inprogress` or `interrupted` while (or after) it is discarded.
    pub discard: Option<String>,
    /// When its change was accepted into the user's files (seconds since the epoch).
    #[serde(default)]
    pub accepted_at: Option<u64>,
    /// What editors show: the same text as its code lens.
    pub title: String,
    /// Its state's icon: `…` `⟳` `✓` `✗` `⊘` `!` `∅`.
    pub icon: String,
    pub can_accept: bool,
    pub can_diff: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct DiffStat {
    pub files: usize,
    pub additions: usize,
    pub deletions: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verify {
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Activity {
    pub last: Option<String>,
    pub tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// While the agent's latest news is a retry of its model API: what it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrying: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OutsideChange {
    pub what: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub message: String,
    pub run: usize,
}

fn serde_name<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl From<&crate::task::Task> for Task {
    fn from(t: &crate::task::Task) -> Self {
        Task {
            file: t.file.clone(),
            line: t.line,
            marker: t.marker.clone(),
            text: t.text.clone(),
            label: crate::text::escape_line(&t.label()).into_owned(),
        }
    }
}

impl From<&crate::status::AttemptStatus> for Attempt {
    fn from(a: &crate::status::AttemptStatus) -> Self {
        Attempt {
            id: a.id.clone(),
            fanout: a.fanout.clone(),
            n: a.n,
            agent: a.agent.clone(),
            model: a.model.clone(),
            permissions: a.permissions.as_ref().map(serde_name),
            stalled: a.stalled.clone(),
            state: a.state.as_str().into(),
            branch: a.branch.clone(),
            worktree: a.worktree.clone(),
            worktree_present: a.worktree_present,
            started_at: a.started_at,
            finished_at: a.finished_at,
            elapsed_secs: a.elapsed_secs,
            elapsed: a.elapsed_secs.map(crate::labels::duration),
            exit_code: a.exit_code,
            diffstat: a.diffstat.map(|d| DiffStat {
                files: d.files,
                additions: d.additions,
                deletions: d.deletions,
            }),
            disk_bytes: a.disk_bytes,
            error: a.error.clone(),
            phase: a.phase.as_ref().map(serde_name),
            verify: a.verify.as_ref().map(|v| Verify {
                passed: v.passed,
                exit_code: v.exit_code,
                duration_ms: v.duration_ms,
                tail: v.tail.clone(),
            }),
            activity: a.activity.as_ref().map(|x| Activity {
                last: x.last.clone(),
                tokens: x.tokens,
                cost_usd: x.cost_usd,
                retrying: x.retrying.clone(),
            }),
            same_as: a.same_as,
            judge_rank: a.judge_rank,
            judge_summary: a.judge_summary.clone(),
            synthesis_of: a.synthesis_of.clone(),
            port: a.port,
            queue_position: a.queue_position,
            runs: a.runs,
            outside_changes: a
                .outside_changes
                .iter()
                .map(|o| OutsideChange {
                    what: o.what.clone(),
                    before: o.before.clone(),
                    after: o.after.clone(),
                    message: o.message.clone(),
                    run: o.run,
                })
                .collect(),
            stopped_processes: a.stopped_processes,
            notes: a.notes.clone(),
            discard: a.discard.as_ref().map(serde_name),
            accepted_at: a.accepted_at,
            title: a.title.clone(),
            icon: a.icon.into(),
            can_accept: a.can_accept,
            can_diff: a.can_diff,
        }
    }
}

impl From<&crate::status::FanoutStatus> for Fanout {
    fn from(f: &crate::status::FanoutStatus) -> Self {
        Fanout {
            id: f.id.clone(),
            created_at: f.created_at,
            task: (&f.task).into(),
            prompt: f.prompt.clone(),
            snapshot: f.snapshot.clone(),
            best: f.best.clone(),
            attempts: f.attempts.iter().map(Attempt::from).collect(),
            tokens: f.tokens,
            cost_usd: f.cost_usd,
            review: f.review.as_ref().map(Review::from),
            verdict: f.verdict.as_ref().map(Verdict::from),
        }
    }
}

impl From<&crate::status::StatusReport> for Status {
    fn from(r: &crate::status::StatusReport) -> Self {
        Status {
            repo: Some(r.repo.clone()),
            counts: r.counts().into(),
            fanouts: r.fanouts.iter().map(Fanout::from).collect(),
            abandoned: r
                .abandoned
                .iter()
                .map(|a| Abandoned {
                    id: a.id.clone(),
                    created_at: a.created_at,
                    left: a.left.clone(),
                })
                .collect(),
            pool: Some(Pool {
                worktrees: r.pool.worktrees,
                bytes: r.pool.bytes,
            }),
            batches: r.batches.iter().map(Batch::from).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Notifications (server to client).

/// `fanout/status`: every fanout of every repository the server watches, with counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusNotification {
    #[serde(flatten)]
    pub counts: Counts,
    pub fanouts: Vec<Fanout>,
    /// Every task list run of those repositories.
    #[serde(default)]
    pub batches: Vec<Batch>,
}

impl StatusNotification {
    pub const METHOD: &'static str = "fanout/status";
}

/// `fanout/finished`: a fanout this server saw running has finished. Sent instead of the
/// `window/showMessage` announcement to clients that declare
/// `capabilities.experimental.fanoutFinished`, so they need not parse message text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FinishedNotification {
    pub fanout: String,
    pub task: Task,
    pub total: usize,
    pub succeeded: usize,
    pub best: Option<String>,
    /// The same sentence the showMessage would have said.
    pub message: String,
}

impl FinishedNotification {
    pub const METHOD: &'static str = "fanout/finished";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips_its_name() {
        for c in Command::ALL {
            assert_eq!(Command::from_name(c.name()), Some(c));
        }
        assert_eq!(Command::from_name("fanout.nope"), None);
        let names = Command::names();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
    }

    #[test]
    fn accept_result_keeps_its_json_shape() {
        let r = AcceptResult {
            applied: true,
            changes: Some(2),
            on_disk: Some(vec!["a.bin".into()]),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"applied": true, "changes": 2, "onDisk": ["a.bin"]})
        );
    }
}
