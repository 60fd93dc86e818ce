//! A task list's run (`fanout try --all`): every unchecked item of a TASKS.md forked into a
//! fanout of its own from one shared snapshot; items with `after:` wait until the items they
//! need are merged into the integration; and the integration itself (`fanout integrate`).
//!
//! The integration is a branch `fanout/integration-<batch>` in a worktree of its own, built
//! from the snapshot by merging the chosen attempt of each item, one after the other in the
//! order of the dependencies, running the repository's verify after each merge. It is also
//! an attempt of a fanout of its own (role `integration`), so that `fanout diff` and `fanout
//! accept` (3-way, undoable in the editors) take it into the working tree like any attempt,
//! and accepting it checks the merged items' boxes in the same edit (`boxes_to_check`).
//!
//! Records: `<state>/batches/<id>/batch.json`, written under `<id>/lock` (an flock) by
//! `try --all` and `integrate`; the integration's fanout and attempt records are ordinary
//! ones, held by `integrate` with the attempt's liveness lock while it works.

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::fork::{ForkRequest, ForkResult};
use crate::ids::{attempt_id, new_fanout_id, now_secs};
use crate::repo::RepoPaths;
use crate::snapshot::Overlay;
use crate::state::{AttemptRecord, AttemptState, FanoutRecord, Role, StateDir};
use crate::task::Task;
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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

fn batches_dir(states: &StateDir) -> PathBuf {
    states.root.join("batches")
}

fn record_path(states: &StateDir, id: &str) -> PathBuf {
    batches_dir(states).join(id).join("batch.json")
}

fn write(states: &StateDir, b: &BatchRecord) -> Result<()> {
    crate::state::write_json_atomic(&record_path(states, &b.id), b)
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
fn lock(states: &StateDir, id: &str) -> Result<std::fs::File> {
    let dir = batches_dir(states).join(id);
    std::fs::create_dir_all(&dir).at(&dir)?;
    crate::state::try_lock_exclusive(&dir.join("lock"))?.ok_or_else(|| {
        Error::Invalid(format!(
            "the task list run {id} is being changed by another fanout command; try again when it is done"
        ))
    })
}

/// What `fanout try --all` asks for.
#[derive(Debug, Clone, Default)]
pub struct BatchRequest {
    /// The task list, relative to the working tree.
    pub file: String,
    pub count: Option<usize>,
    pub agents: Vec<String>,
    /// Unsaved buffers: part of the shared snapshot.
    pub overlays: Vec<Overlay>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchStarted {
    pub batch: String,
    pub file: String,
    /// The items forked now: (title, fork result).
    pub started: Vec<(String, ForkResult)>,
    /// The items waiting for others: (title, the titles they wait for).
    pub waiting: Vec<(String, Vec<String>)>,
    pub warnings: Vec<String>,
}

/// Fork every unchecked item of the task list: items that need nothing unchecked start now
/// (each a fanout, from one shared snapshot); the others wait for `integrate`.
pub fn start(
    paths: &RepoPaths,
    user: &Config,
    req: &BatchRequest,
    fork: &dyn Fn(ForkRequest) -> Result<ForkResult>,
) -> Result<BatchStarted> {
    let text = match req.overlays.iter().find(|o| o.path == req.file) {
        Some(o) => String::from_utf8_lossy(&o.bytes).into_owned(),
        None => {
            let path = paths.workdir.join(&req.file);
            let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::Invalid(format!(
                    "there is no task list {}: write one, or let a lead plan it with `fanout plan --prompt \"...\"`",
                    req.file
                )),
                _ => Error::Io {
                    path: path.clone(),
                    source: e,
                },
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let all = crate::tasklist::parse(&req.file, &text)?;
    // Checked items are done: depending on one waits for nothing.
    let open: Vec<usize> = (0..all.len()).filter(|&i| !all[i].checked).collect();
    if open.is_empty() {
        return Err(Error::Invalid(format!(
            "{} has no unchecked `- [ ]` item to run",
            req.file
        )));
    }
    let index_of = |i: usize| open.iter().position(|&o| o == i);
    let mut items: Vec<BatchItem> = open
        .iter()
        .map(|&i| BatchItem {
            line: all[i].line,
            title: all[i].title.clone(),
            after: all[i].after.iter().filter_map(|&j| index_of(j)).collect(),
            fanout: None,
            pick: None,
            outcome: None,
        })
        .collect();
    // Checked early: a mistake in the agents or the count fails before anything is made.
    crate::repo_config::effective(user, &paths.workdir)?;
    let id = new_fanout_id();
    let message = format!(
        "fanout snapshot for the task list {}\n\nThe working state `fanout try --all` started from.",
        req.file
    );
    let snapshot = crate::snapshot::snapshot_commit(&paths.workdir, &req.overlays, &message)?;
    let states = StateDir::new(paths.state_dir.clone());
    let _lock = lock(&states, &id)?;
    let mut record = BatchRecord {
        id: id.clone(),
        created_at: now_secs(),
        file: req.file.clone(),
        count: req.count,
        agents: req.agents.clone(),
        snapshot: snapshot.to_string(),
        items: items.clone(),
        integration: None,
    };
    write(&states, &record)?;
    let mut started = Vec::new();
    let mut waiting = Vec::new();
    let mut warnings = Vec::new();
    for k in 0..items.len() {
        if !items[k].after.is_empty() {
            let names = items[k]
                .after
                .iter()
                .map(|&j| items[j].title.clone())
                .collect();
            items[k].outcome = Some(Outcome::Waiting {
                after: items[k].after.clone(),
            });
            waiting.push((items[k].title.clone(), names));
            continue;
        }
        let result = fork(ForkRequest {
            file: req.file.clone(),
            line: items[k].line,
            count: req.count,
            agents: req.agents.clone(),
            overlays: req.overlays.clone(),
            base: Some(snapshot.to_string()),
            ..Default::default()
        });
        match result {
            Ok(r) => {
                items[k].fanout = Some(r.fanout.clone());
                for w in &r.warnings {
                    if !warnings.contains(w) {
                        warnings.push(w.clone());
                    }
                }
                record.items = items.clone();
                write(&states, &record)?;
                started.push((items[k].title.clone(), r));
            }
            // The first fork's error is the user's mistake (an agent, the count); the run
            // stays with what started, which `fanout status` shows.
            Err(e) if started.is_empty() => {
                drop(_lock);
                let _ = std::fs::remove_dir_all(batches_dir(&states).join(&id));
                return Err(e);
            }
            Err(e) => {
                items[k].outcome = Some(Outcome::NotReady {
                    why: format!("could not start: {e}"),
                });
            }
        }
    }
    record.items = items;
    write(&states, &record)?;
    Ok(BatchStarted {
        batch: id,
        file: req.file.clone(),
        started,
        waiting,
        warnings,
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

/// What `fanout integrate` asks for.
#[derive(Debug, Clone, Default)]
pub struct IntegrateRequest {
    /// The run: an id (prefix) or the task list's path; default the latest.
    pub batch: Option<String>,
    /// Choices: (item by number from 1 or title, attempt id).
    pub picks: Vec<(String, String)>,
    /// Start again from the snapshot even if the integration branch has commits of the user's.
    pub rebuild: bool,
}

/// One item of an integration's report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemReport {
    pub number: usize,
    pub title: String,
    pub fanout: Option<String>,
    pub outcome: Outcome,
    /// The outcome in words: `merged 7f3a9c-2`, `7f3a9c-1 conflicts with 1 (MCTS) in a.rs`.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntegrateReport {
    pub batch: String,
    pub file: String,
    /// The integration's attempt: diff and accept it like any attempt.
    pub attempt: String,
    pub branch: String,
    pub worktree: PathBuf,
    pub items: Vec<ItemReport>,
    /// Whether it was started again from the snapshot (a choice changed).
    pub rebuilt: bool,
}

/// A git command on the integration's worktree, through its admin folder (never its `.git`
/// file), argv only.
fn git_in(admin: &Path, worktree: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new("git")
        .arg(format!("--git-dir={}", admin.display()))
        .arg(format!("--work-tree={}", worktree.display()))
        .args(args)
        .current_dir(worktree)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Invalid(format!("cannot run git: {e}")))?;
    if !out.status.success() {
        return Err(Error::Invalid(format!(
            "git {} in the integration's worktree failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The verify command, in the integration's worktree, in its own process group; its exit
/// code and last lines.
fn run_verify(cmd: &[String], worktree: &Path) -> (Option<i32>, Vec<String>) {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = cmd.split_first() else {
        return (Some(0), Vec::new());
    };
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(worktree)
        .stdin(std::process::Stdio::null())
        .process_group(0)
        .output();
    match out {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let lines: Vec<String> = text.lines().map(String::from).collect();
            let tail = lines[lines.len().saturating_sub(20)..].to_vec();
            (out.status.code(), tail)
        }
        Err(e) => (None, vec![format!("cannot run {program}: {e}")]),
    }
}

/// The paths a change between two trees touches.
fn touched(repo: &git2::Repository, base: Oid, theirs: Oid) -> Result<BTreeSet<String>> {
    let base = repo.find_tree(base)?;
    let theirs = repo.find_tree(theirs)?;
    let diff = repo.diff_tree_to_tree(Some(&base), Some(&theirs), None)?;
    let mut out = BTreeSet::new();
    for d in diff.deltas() {
        for f in [d.old_file(), d.new_file()] {
            if let Some(p) = f.path() {
                out.insert(p.to_string_lossy().into_owned());
            }
        }
    }
    Ok(out)
}

/// Items in an order where each comes after what it needs (list order otherwise).
fn dependency_order(items: &[BatchItem]) -> Vec<usize> {
    let mut done = vec![false; items.len()];
    let mut out = Vec::new();
    while out.len() < items.len() {
        let before = out.len();
        for k in 0..items.len() {
            if !done[k] && items[k].after.iter().all(|&j| done[j]) {
                done[k] = true;
                out.push(k);
            }
        }
        if out.len() == before {
            // A circle cannot be written by `start` (the list is checked); be safe anyway.
            out.extend((0..items.len()).filter(|&k| !done[k]));
            break;
        }
    }
    out
}

/// Build (or bring up to date) the run's integration. See the module's documentation.
pub fn integrate(
    paths: &RepoPaths,
    user: &Config,
    req: &IntegrateRequest,
    fork: &dyn Fn(ForkRequest) -> Result<ForkResult>,
) -> Result<IntegrateReport> {
    let states = StateDir::new(paths.state_dir.clone());
    let found = find(&states, req.batch.as_deref())?;
    let _lock = lock(&states, &found.id)?;
    // Read again under the lock.
    let mut b: BatchRecord = crate::state::read_json(&record_path(&states, &found.id))?;
    let eff = crate::repo_config::effective(user, &paths.workdir)?;
    let status = crate::status::report(paths)?;
    let fanout_of = |id: &str| status.fanouts.iter().find(|f| f.id == id);

    for (which, attempt) in &req.picks {
        let k = item_index(&b, which)?;
        let fanout = b.items[k].fanout.clone().ok_or_else(|| {
            Error::Invalid(format!(
                "item {} ({}) has not started yet: there is no attempt to choose",
                k + 1,
                b.items[k].title
            ))
        })?;
        let f = fanout_of(&fanout).ok_or_else(|| {
            Error::Invalid(format!("the fanout {fanout} of item {} is gone", k + 1))
        })?;
        let a = f
            .attempts
            .iter()
            .find(|a| a.id == *attempt || a.id.starts_with(attempt.as_str()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{attempt} is not an attempt of item {} ({}): its attempts are {}",
                    k + 1,
                    b.items[k].title,
                    f.attempts
                        .iter()
                        .map(|a| a.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        if !a.has_changes() || !a.state.is_finished() {
            return Err(Error::Invalid(format!(
                "{} has no finished change to integrate",
                a.id
            )));
        }
        b.items[k].pick = Some(a.id.clone());
    }

    let repo = paths.open()?;
    let snapshot = Oid::from_str(&b.snapshot)?;
    let integration = match &b.integration {
        Some(i) if i.worktree.is_dir() => i.clone(),
        _ => create_integration(paths, user, &states, &b)?,
    };
    let admin = paths
        .common_dir
        .join("worktrees")
        .join(format!("fanout-{}", integration.attempt));
    let attempt_dir = states.attempt_dir(&integration.fanout, 1);
    // Held while integrating: the attempt shows as running, and as interrupted if this dies.
    let _alive = crate::state::hold_lock(&attempt_dir)?;
    let dirty = git_in(&admin, &integration.worktree, &["status", "--porcelain"])?;
    if !dirty.trim().is_empty() {
        return Err(Error::Invalid(format!(
            "the integration's worktree {} has changes that are not committed; commit them there (they become part of the integration) or undo them, then integrate again:\n{}",
            integration.worktree.display(),
            crate::text::escape_line(dirty.trim_end())
        )));
    }
    let mut head =
        Oid::from_str(git_in(&admin, &integration.worktree, &["rev-parse", "HEAD"])?.trim())?;
    set_running(&states, &integration, true)?;

    // The attempt each item integrates now.
    let chosen: Vec<Option<String>> = b
        .items
        .iter()
        .map(|item| {
            item.pick.clone().or_else(|| {
                item.fanout
                    .as_deref()
                    .and_then(fanout_of)
                    .and_then(|f| f.best.clone())
            })
        })
        .collect();
    // A choice that differs from what is merged means starting again from the snapshot.
    let changed = b.items.iter().zip(&chosen).any(|(item, now)| {
        matches!(&item.outcome, Some(Outcome::Merged { attempt, .. }) if Some(attempt) != now.as_ref())
    });
    let rebuilt = changed || req.rebuild;
    if rebuilt && head != snapshot {
        let own = own_commits(&repo, snapshot, head)?;
        if !own.is_empty() && !req.rebuild {
            set_running(&states, &integration, false)?;
            return Err(Error::Invalid(format!(
                "a choice changed, so the integration must start again from the snapshot, but its branch {} has commits of your own ({}); run `fanout integrate --rebuild` to start again anyway",
                integration.branch,
                own.join(", ")
            )));
        }
        git_in(
            &admin,
            &integration.worktree,
            &["reset", "-q", "--hard", &b.snapshot],
        )?;
        head = snapshot;
        for item in &mut b.items {
            if matches!(item.outcome, Some(Outcome::Merged { .. })) {
                item.outcome = None;
            }
        }
    }

    let sig = crate::snapshot::signature(&repo);
    let mut merged: Vec<bool> = vec![false; b.items.len()];
    for k in dependency_order(&b.items) {
        let item = b.items[k].clone();
        // Kept: merged before, with the same choice, and still in the branch.
        if let Some(Outcome::Merged { attempt, commit }) = &item.outcome {
            let commit = Oid::from_str(commit)?;
            if Some(attempt) == chosen[k].as_ref()
                && (commit == head || repo.graph_descendant_of(head, commit)?)
            {
                merged[k] = true;
                continue;
            }
        }
        let missing: Vec<usize> = item.after.iter().copied().filter(|&j| !merged[j]).collect();
        if !missing.is_empty() {
            b.items[k].outcome = Some(Outcome::Waiting { after: missing });
            continue;
        }
        let Some(fanout) = item.fanout.clone() else {
            // What it needs is merged: it starts now, from the integration.
            let started = fork(ForkRequest {
                file: b.file.clone(),
                line: item.line,
                count: b.count,
                agents: b.agents.clone(),
                base: Some(head.to_string()),
                ..Default::default()
            });
            b.items[k].outcome = Some(match started {
                Ok(r) => {
                    b.items[k].fanout = Some(r.fanout.clone());
                    Outcome::Started { fanout: r.fanout }
                }
                Err(e) => Outcome::NotReady {
                    why: format!("could not start: {e}"),
                },
            });
            continue;
        };
        let Some(f) = fanout_of(&fanout) else {
            b.items[k].outcome = Some(Outcome::NotReady {
                why: format!("its fanout {fanout} is gone"),
            });
            continue;
        };
        let Some(attempt_id) = chosen[k].clone() else {
            let why = if f.attempts.iter().any(|a| !a.state.is_finished()) {
                "its attempts are still running".to_string()
            } else {
                "no attempt finished with a change (run it again, or choose one with --pick)"
                    .to_string()
            };
            b.items[k].outcome = Some(Outcome::NotReady { why });
            continue;
        };
        let records = states.load_attempts(&fanout)?;
        let Some(a) = records.iter().find(|a| a.id == attempt_id) else {
            b.items[k].outcome = Some(Outcome::NotReady {
                why: format!("its attempt {attempt_id} is gone"),
            });
            continue;
        };
        let Some(theirs) = a.commit.as_deref().map(Oid::from_str).transpose()? else {
            b.items[k].outcome = Some(Outcome::NotReady {
                why: format!("{attempt_id} has no committed change"),
            });
            continue;
        };
        // Merged by hand (`git merge` in the integration's worktree) counts.
        if repo.graph_descendant_of(head, theirs)? {
            merged[k] = true;
            b.items[k].outcome = Some(Outcome::Merged {
                attempt: attempt_id,
                commit: head.to_string(),
            });
            continue;
        }
        let base_tree = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree()?;
        let head_commit = repo.find_commit(head)?;
        let theirs_commit = repo.find_commit(theirs)?;
        let mut index = repo.merge_trees(
            &base_tree,
            &head_commit.tree()?,
            &theirs_commit.tree()?,
            None,
        )?;
        if index.has_conflicts() {
            let mut conflicted = BTreeSet::new();
            for c in index.conflicts()?.flatten() {
                for e in [c.ancestor, c.our, c.their].into_iter().flatten() {
                    conflicted.insert(String::from_utf8_lossy(&e.path).into_owned());
                }
            }
            let with = conflicting_items(&repo, &states, &b, &merged, &conflicted);
            b.items[k].outcome = Some(Outcome::Conflicted {
                attempt: attempt_id,
                paths: conflicted.into_iter().collect(),
                with,
            });
            continue;
        }
        let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
        let message = format!(
            "fanout integrate: merge {attempt_id} ({})\n\nItem {} of {}: {}",
            crate::text::shorten(&item.title, 60),
            k + 1,
            b.file,
            item.title
        );
        let commit = repo.commit(
            None,
            &sig,
            &sig,
            &message,
            &tree,
            &[&head_commit, &theirs_commit],
        )?;
        git_in(
            &admin,
            &integration.worktree,
            &["reset", "-q", "--hard", &commit.to_string()],
        )?;
        if let Some(cmd) = &eff.verify {
            let (code, tail) = run_verify(cmd, &integration.worktree);
            if code != Some(0) {
                git_in(
                    &admin,
                    &integration.worktree,
                    &["reset", "-q", "--hard", &head.to_string()],
                )?;
                b.items[k].outcome = Some(Outcome::VerifyBroke {
                    attempt: attempt_id,
                    exit_code: code,
                    tail,
                });
                continue;
            }
        }
        head = commit;
        merged[k] = true;
        b.items[k].outcome = Some(Outcome::Merged {
            attempt: attempt_id,
            commit: commit.to_string(),
        });
    }

    let integration = IntegrationRecord {
        head: head.to_string(),
        updated_at: now_secs(),
        ..integration
    };
    finish_record(&repo, &states, &integration, snapshot, head)?;
    b.integration = Some(integration.clone());
    write(&states, &b)?;
    Ok(IntegrateReport {
        batch: b.id.clone(),
        file: b.file.clone(),
        attempt: integration.attempt.clone(),
        branch: integration.branch.clone(),
        worktree: integration.worktree.clone(),
        items: b
            .items
            .iter()
            .enumerate()
            .map(|(k, item)| {
                let outcome = item.outcome.clone().unwrap_or(Outcome::NotReady {
                    why: "not looked at".into(),
                });
                ItemReport {
                    number: k + 1,
                    title: item.title.clone(),
                    fanout: item.fanout.clone(),
                    text: outcome_text(&b.items, &outcome),
                    outcome,
                }
            })
            .collect(),
        rebuilt,
    })
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

/// An item by its number from 1 or its title (or the start of it).
fn item_index(b: &BatchRecord, which: &str) -> Result<usize> {
    if let Ok(n) = which.trim_start_matches('#').parse::<usize>() {
        if (1..=b.items.len()).contains(&n) {
            return Ok(n - 1);
        }
    }
    let lower = which.to_lowercase();
    let hits: Vec<usize> = (0..b.items.len())
        .filter(|&k| b.items[k].title.to_lowercase().starts_with(&lower))
        .collect();
    match hits.as_slice() {
        [k] => Ok(*k),
        _ => Err(Error::Invalid(format!(
            "`{which}` names no single item of {} (name one by its number from 1 to {}, or its title)",
            b.file,
            b.items.len()
        ))),
    }
}

/// Commits on the integration branch that fanout did not make (the user's own): on its
/// first-parent line from the snapshot, whatever is not one of fanout's merges.
fn own_commits(repo: &git2::Repository, snapshot: Oid, head: Oid) -> Result<Vec<String>> {
    let mut walk = repo.revwalk()?;
    walk.push(head)?;
    walk.hide(snapshot)?;
    walk.simplify_first_parent()?;
    let mut out = Vec::new();
    for oid in walk {
        let oid = oid?;
        let c = repo.find_commit(oid)?;
        if !c
            .message()
            .unwrap_or_default()
            .starts_with("fanout integrate:")
        {
            out.push(oid.to_string()[..10].to_string());
        }
    }
    Ok(out)
}

/// The merged items whose change touches one of `paths`.
fn conflicting_items(
    repo: &git2::Repository,
    states: &StateDir,
    b: &BatchRecord,
    merged: &[bool],
    paths: &BTreeSet<String>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (j, item) in b.items.iter().enumerate() {
        if !merged[j] {
            continue;
        }
        let Some(Outcome::Merged { attempt, .. }) = &item.outcome else {
            continue;
        };
        let Some(fanout) = &item.fanout else { continue };
        let Ok(records) = states.load_attempts(fanout) else {
            continue;
        };
        let Some(a) = records.iter().find(|a| a.id == *attempt) else {
            continue;
        };
        let trees = (|| -> Result<BTreeSet<String>> {
            let base = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree_id();
            let theirs = crate::inspect::attempt_tree(repo, a)?;
            touched(repo, base, theirs)
        })();
        if trees.is_ok_and(|t| t.intersection(paths).next().is_some()) {
            out.push(j);
        }
    }
    out
}

/// The integration's fanout, attempt record and worktree at the snapshot, made once per run.
fn create_integration(
    paths: &RepoPaths,
    user: &Config,
    states: &StateDir,
    b: &BatchRecord,
) -> Result<IntegrationRecord> {
    let fanout = new_fanout_id();
    let id = attempt_id(&fanout, 1);
    let root = user.worktree_root().join(paths.short_name());
    std::fs::create_dir_all(&root).at(&root)?;
    let spec = crate::checkout::WorktreeSpec {
        name: format!("fanout-{id}"),
        path: root.join(&id),
        branch: format!("fanout/integration-{}", b.id),
    };
    let repo = paths.open()?;
    let snapshot = Oid::from_str(&b.snapshot)?;
    let dir = states.attempt_dir(&fanout, 1);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let made = (|| -> Result<()> {
        crate::checkout::create_worktrees(&repo, snapshot, std::slice::from_ref(&spec))?;
        let now = now_secs();
        let rec = integration_attempt(&id, &fanout, &spec, b, paths, now);
        states.write_attempt(&rec)?;
        states.write_fanout(&FanoutRecord {
            id: fanout.clone(),
            created_at: now,
            task: Task {
                file: b.file.clone(),
                line: 1,
                marker: INTEGRATE.into(),
                text: format!("the integration of {}", b.file),
            },
            prompt: String::new(),
            snapshot: b.snapshot.clone(),
            attempt_count: 1,
        })
    })();
    if let Err(e) = made {
        crate::checkout::remove_worktrees(&repo, std::slice::from_ref(&spec));
        states.remove_dir(&states.fanout_dir(&fanout));
        return Err(e);
    }
    Ok(IntegrationRecord {
        fanout,
        attempt: id,
        branch: spec.branch,
        worktree: spec.path,
        head: b.snapshot.clone(),
        updated_at: now_secs(),
    })
}

fn integration_attempt(
    id: &str,
    fanout: &str,
    spec: &crate::checkout::WorktreeSpec,
    b: &BatchRecord,
    paths: &RepoPaths,
    now: u64,
) -> AttemptRecord {
    serde_json::from_value(serde_json::json!({
        "id": id, "fanout": fanout, "n": 1, "agent": INTEGRATE, "state": "running",
        "branch": spec.branch, "worktree": spec.path, "worktree_name": spec.name,
        "argv": [], "base_commit": b.snapshot, "created_at": now, "started_at": now,
        "finished_at": null, "exit_code": null, "diffstat": null, "commit": null,
        "disk_bytes": null, "error": null, "supervisor_pid": null, "agent_pgid": null,
        "user_git_dir": paths.git_dir,
        "role": {"kind": "integration", "batch": b.id},
    }))
    .expect("an integration's record is well-formed")
}

fn set_running(states: &StateDir, i: &IntegrationRecord, running: bool) -> Result<()> {
    let dir = states.attempt_dir(&i.fanout, 1);
    let mut rec = states.read_attempt_at(&dir)?;
    rec.state = if running {
        AttemptState::Running
    } else {
        AttemptState::Succeeded
    };
    rec.finished_at = (!running).then(now_secs).or(rec.finished_at);
    states.write_attempt(&rec)
}

/// The integration's attempt record after an integrate: its result is the branch's head.
fn finish_record(
    repo: &git2::Repository,
    states: &StateDir,
    i: &IntegrationRecord,
    snapshot: Oid,
    head: Oid,
) -> Result<()> {
    let dir = states.attempt_dir(&i.fanout, 1);
    let mut rec = states.read_attempt_at(&dir)?;
    let base = repo.find_commit(snapshot)?.tree()?;
    let tree = repo.find_commit(head)?.tree()?;
    let diff = repo.diff_tree_to_tree(Some(&base), Some(&tree), None)?;
    let stats = diff.stats()?;
    rec.state = AttemptState::Succeeded;
    rec.finished_at = Some(now_secs());
    rec.exit_code = Some(0);
    rec.commit = (head != snapshot).then(|| head.to_string());
    rec.result_tree = Some(tree.id().to_string());
    rec.diffstat = Some(crate::state::DiffStat {
        files: stats.files_changed(),
        additions: stats.insertions(),
        deletions: stats.deletions(),
    });
    rec.worktree_present = i.worktree.is_dir();
    states.write_attempt(&rec)?;
    // A new integration is not accepted yet.
    let _ = states.clear_accepted(&rec);
    Ok(())
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
    pub outcome: Option<Outcome>,
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
pub fn statuses(states: &StateDir, fanouts: &[crate::status::FanoutStatus]) -> Vec<BatchStatus> {
    load_all(states)
        .iter()
        .map(|b| status_of(b, fanouts))
        .collect()
}

fn status_of(b: &BatchRecord, fanouts: &[crate::status::FanoutStatus]) -> BatchStatus {
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
                .filter(|i| matches!(i.outcome, Some(Outcome::Merged { .. })))
                .count(),
        }),
        items,
        summary,
    }
}

/// (kind for the summary, label) of one item.
fn item_label(
    item: &BatchItem,
    f: Option<&crate::status::FanoutStatus>,
    chosen: Option<&str>,
) -> (&'static str, String) {
    let names = |ks: &[usize]| {
        ks.iter()
            .map(|k| format!("{}", k + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &item.outcome {
        Some(Outcome::Merged { attempt, .. }) => return ("merged", format!("✓ merged {attempt}")),
        Some(Outcome::Conflicted { with, paths, .. }) => {
            let on = paths.first().cloned().unwrap_or_default();
            let label = if with.is_empty() {
                format!("✗ conflicts ({on})")
            } else {
                format!("✗ conflicts with {} ({on})", names(with))
            };
            return ("conflicted", label);
        }
        Some(Outcome::VerifyBroke { attempt, .. }) => {
            return (
                "broke verify",
                format!("✗ {attempt} broke verify when merged"),
            )
        }
        _ => {}
    }
    let Some(f) = f else {
        return match &item.outcome {
            Some(Outcome::Waiting { after }) => (
                "waiting",
                format!("… waiting for {} (then `fanout integrate`)", names(after)),
            ),
            Some(Outcome::NotReady { why }) => ("not started", why.clone()),
            _ if !item.after.is_empty() => {
                ("waiting", format!("… waiting for {}", names(&item.after)))
            }
            _ => ("not started", "not started".into()),
        };
    };
    let c = f
        .attempts
        .iter()
        .fold(crate::status::Counts::default(), |mut c, a| {
            match a.state {
                AttemptState::Running => c.running += 1,
                AttemptState::Queued => c.queued += 1,
                AttemptState::Succeeded => c.succeeded += 1,
                AttemptState::Failed | AttemptState::Interrupted => c.failed += 1,
                _ => {}
            }
            c
        });
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
