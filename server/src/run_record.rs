//! A task list run's record (`fanout try --all`, `fanout integrate`): its items, what the
//! integration did with each, and the boxes accepting an attempt checks. The run itself is
//! `batch`; this is the ground it stands on, read by `status` and `inspect` too.

use crate::error::{Error, IoContext, Result};
use crate::ids::now_secs;
use crate::repo::RepoPaths;
use crate::state::{AttemptRecord, Role, StateDir};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The marker of an integration's task.
pub const INTEGRATE: &str = "integrate";

/// One task list's run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchRecord {
    pub id: String,
    pub created_at: u64,
    /// The task list, relative to the working tree.
    pub file: String,
    /// Attempts per item, and the agents rotated through them (as `try` takes them).
    pub count: Option<usize>,
    pub agents: Vec<String>,
    /// The snapshot every item without `after:` starts from, and the integration's base.
    pub snapshot: String,
    /// The unchecked items when the run began, in list order.
    pub items: Vec<BatchItem>,
    pub integration: Option<IntegrationRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchItem {
    /// Its line in the task list when the run began.
    pub line: usize,
    pub title: String,
    /// The items (indices into `items`) it waits for.
    pub after: Vec<usize>,
    /// Its fanout, once started.
    pub fanout: Option<String>,
    /// The attempt the user chose for the integration (else the best by the ranking).
    pub pick: Option<String>,
    /// What the last integration did with it.
    pub outcome: Option<Outcome>,
}

/// What an integration did with one item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Its attempt is merged into the integration.
    Merged { attempt: String, commit: String },
    /// Its attempt's change conflicts with what is merged already: these paths, changed by
    /// these items (indices).
    Conflicted {
        attempt: String,
        paths: Vec<String>,
        with: Vec<usize>,
    },
    /// Merged, the repository's verify failed; the merge was taken back.
    VerifyBroke {
        attempt: String,
        exit_code: Option<i32>,
        tail: Vec<String>,
    },
    /// Not merged yet, and why (its attempts still run, none has a change).
    NotReady { why: String },
    /// Waiting for the items it needs (indices) to be merged first.
    Waiting { after: Vec<usize> },
    /// Its fanout was started by this integration, from the integration of what it needs.
    Started { fanout: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IntegrationRecord {
    /// The integration's own fanout and attempt (`<fanout>-1`).
    pub fanout: String,
    pub attempt: String,
    pub branch: String,
    pub worktree: PathBuf,
    /// The integration branch's commit after the last integrate.
    pub head: String,
    pub updated_at: u64,
}

pub(crate) fn batches_dir(states: &StateDir) -> PathBuf {
    states.root.join("batches")
}

pub(crate) fn record_path(states: &StateDir, id: &str) -> PathBuf {
    batches_dir(states).join(id).join("batch.json")
}

pub(crate) fn write(states: &StateDir, b: &BatchRecord) -> Result<()> {
    crate::state::write_json_atomic(&record_path(states, &b.id), b)
}

impl BatchRecord {
    /// Its items' fanouts and its integration's, as started so far.
    pub fn fanouts(&self) -> Vec<String> {
        self.items
            .iter()
            .filter_map(|i| i.fanout.clone())
            .chain(self.integration.as_ref().map(|i| i.fanout.clone()))
            .collect()
    }
}

/// Remove a run's record (its fanouts are discarded separately).
pub fn remove(states: &StateDir, id: &str) {
    states.remove_dir(&batches_dir(states).join(id));
}

/// Remove the records of runs none of whose fanouts is left (discarded one by one, or gc'd).
pub fn sweep(states: &StateDir) -> Vec<String> {
    let mut removed = Vec::new();
    for b in load_all(states) {
        let left = b
            .fanouts()
            .iter()
            .any(|f| states.fanout_dir(f).join("fanout.json").exists());
        let old = now_secs().saturating_sub(b.created_at) > 60;
        if !left && old {
            remove(states, &b.id);
            removed.push(b.id);
        }
    }
    removed
}

/// Every task list run of the repository, oldest first.
pub fn load_all(states: &StateDir) -> Vec<BatchRecord> {
    let Ok(entries) = std::fs::read_dir(batches_dir(states)) else {
        return Vec::new();
    };
    let mut out: Vec<BatchRecord> = entries
        .flatten()
        .filter_map(|e| crate::state::read_json(&e.path().join("batch.json")).ok())
        .collect();
    out.sort_by(|a: &BatchRecord, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    out
}

/// Hold the run's lock for a read-modify-write of its record.
pub(crate) fn lock(states: &StateDir, id: &str) -> Result<std::fs::File> {
    let dir = batches_dir(states).join(id);
    std::fs::create_dir_all(&dir).at(&dir)?;
    crate::state::try_lock_exclusive(&dir.join("lock"))?.ok_or_else(|| {
        Error::Invalid(format!(
            "the task list run {id} is being changed by another fanout command; try again when it is done"
        ))
    })
}

/// The run a name or id prefix, or a task list's path, names; else the latest run.
pub fn find(states: &StateDir, which: Option<&str>) -> Result<BatchRecord> {
    let all = load_all(states);
    let found: Vec<&BatchRecord> = match which {
        None => all.last().into_iter().collect(),
        Some(w) => {
            let by_id: Vec<&BatchRecord> = all.iter().filter(|b| b.id.starts_with(w)).collect();
            if by_id.is_empty() {
                all.iter().rev().filter(|b| b.file == w).take(1).collect()
            } else {
                by_id
            }
        }
    };
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::Invalid(match which {
            Some(w) => format!(
                "no task list run {w} (see `fanout status`; start one with `fanout try --all`)"
            ),
            None => "no task list has been run here: start one with `fanout try --all [TASKS.md]`"
                .into(),
        })),
        _ => Err(Error::Invalid(format!(
            "{} names several task list runs; give more of the id",
            which.unwrap_or_default()
        ))),
    }
}

/// One item's outcome, in words.
pub fn outcome_text(items: &[BatchItem], o: &Outcome) -> String {
    let name = |k: &usize| {
        items
            .get(*k)
            .map(|i| format!("{} ({})", k + 1, crate::text::shorten(&i.title, 40)))
            .unwrap_or_default()
    };
    let names = |ks: &[usize]| ks.iter().map(name).collect::<Vec<_>>().join(", ");
    match o {
        Outcome::Merged { attempt, .. } => format!("merged {attempt}"),
        Outcome::Conflicted {
            attempt,
            paths,
            with,
        } => format!(
            "{attempt} conflicts{} in {}",
            if with.is_empty() {
                String::new()
            } else {
                format!(" with {}", names(with))
            },
            paths.join(", ")
        ),
        Outcome::VerifyBroke {
            attempt, exit_code, ..
        } => format!(
            "{attempt} merged, but verify failed (exit {}): taken back out",
            exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "?".into())
        ),
        Outcome::NotReady { why } => format!("not merged: {why}"),
        Outcome::Waiting { after } => format!("waits for {}", names(after)),
        Outcome::Started { fanout } => {
            format!("what it needs is merged: started fanout {fanout} from the integration")
        }
    }
}

/// The task list items accepting the attempt checks: its task, if it is a task list item;
/// for an integration, every item merged into it. (file, [(line, title)]).
pub fn boxes_to_check(
    paths: &RepoPaths,
    a: &AttemptRecord,
) -> Option<(String, Vec<(usize, String)>)> {
    let states = StateDir::new(paths.state_dir.clone());
    if let Role::Integration { batch } = &a.role {
        let b: BatchRecord = crate::state::read_json(&record_path(&states, batch)).ok()?;
        let items = b
            .items
            .iter()
            .filter(|i| matches!(i.outcome, Some(Outcome::Merged { .. })))
            .map(|i| (i.line, i.title.clone()))
            .collect();
        return Some((b.file, items));
    }
    let f = states.load_fanout(&a.fanout).ok()?;
    (f.task.marker == crate::task::CHECKBOX).then(|| {
        let title = crate::tasklist::parse(&f.task.file, &format!("- [ ] {}\n", f.task.text))
            .ok()
            .and_then(|items| items.first().map(|i| i.title.clone()))
            .unwrap_or(f.task.text.clone());
        (f.task.file, vec![(f.task.line, title)])
    })
}
