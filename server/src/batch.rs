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
use crate::run_record::{batches_dir, lock, record_path, write};
pub use crate::run_record::{
    find, load_all, outcome_text, BatchItem, BatchRecord, IntegrationRecord, Outcome, INTEGRATE,
};
use crate::snapshot::Overlay;
use crate::state::{AttemptRecord, AttemptState, FanoutRecord, StateDir};
use crate::task::Task;
use git2::Oid;
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

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
    /// The items that could not start: (title, why). `fanout integrate` tries them again.
    pub failed: Vec<(String, String)>,
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
    let mut failed = Vec::new();
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
                failed.push((items[k].title.clone(), e.to_string()));
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
        failed,
        warnings,
    })
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
    /// Whether an integrate that died mid-way was undone first.
    pub recovered: bool,
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
        _ => {
            let made = create_integration(paths, user, &states, &b)?;
            b.integration = Some(made.clone());
            write(&states, &b)?;
            made
        }
    };
    let admin = paths
        .common_dir
        .join("worktrees")
        .join(format!("fanout-{}", integration.attempt));
    let attempt_dir = states.attempt_dir(&integration.fanout, 1);
    // Held while integrating: the attempt shows as running, and as interrupted if this dies.
    let _alive = crate::state::hold_lock(&attempt_dir)?;
    let mut recovered = false;
    if states.read_attempt_at(&attempt_dir)?.state == AttemptState::Running {
        // An integrate died mid-way (its record still says running, and nobody holds it):
        // the worktree goes back to where the last one that finished left it, a lock git
        // left with it too.
        let _ = std::fs::remove_file(admin.join("index.lock"));
        git_in(
            &admin,
            &integration.worktree,
            &["reset", "-q", "--hard", &integration.head],
        )?;
        recovered = true;
    }
    // Tracked files only: verify's build output (untracked, maybe not ignored) is no one's work.
    let dirty = git_in(
        &admin,
        &integration.worktree,
        &["status", "--porcelain", "--untracked-files=no"],
    )?;
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
    // Whatever goes wrong from here, the integration's record does not stay "running".
    let mut running = Running {
        states: &states,
        integration: &integration,
        done: false,
    };

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
                    // Recorded at once: a kill later must not start the item twice.
                    write(&states, &b)?;
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
        crate::fault::point("integrate.committed");
        git_in(
            &admin,
            &integration.worktree,
            &["reset", "-q", "--hard", &commit.to_string()],
        )?;
        crate::fault::point("integrate.reset");
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

    finish_record(&repo, &states, &integration, snapshot, head)?;
    running.done = true;
    drop(running);
    let integration = IntegrationRecord {
        head: head.to_string(),
        updated_at: now_secs(),
        ..integration
    };
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
        recovered,
    })
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
    if repo
        .find_branch(&spec.branch, git2::BranchType::Local)
        .is_ok()
    {
        return Err(Error::Invalid(format!(
            "the branch {} is left from a `fanout integrate` that was killed while it made the integration; `fanout gc` removes what it left, then integrate again",
            spec.branch
        )));
    }
    // As for a fork: a kill from here on leaves only what the intent lists, which `fanout
    // status` shows and `fanout gc` removes.
    let intent = crate::state::Intent::begin(
        states,
        &crate::state::IntentRecord {
            id: fanout.clone(),
            created_at: now_secs(),
            pid: std::process::id(),
            worktrees: vec![crate::state::IntendedWorktree {
                name: spec.name.clone(),
                path: spec.path.clone(),
                branch: spec.branch.clone(),
            }],
        },
    )?;
    let dir = states.attempt_dir(&fanout, 1);
    std::fs::create_dir_all(&dir).at(&dir)?;
    let made = (|| -> Result<()> {
        crate::checkout::create_worktrees(&repo, snapshot, std::slice::from_ref(&spec))?;
        crate::fault::point("integrate.worktree-created");
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
        drop(intent);
        states.remove_dir(&states.fanout_dir(&fanout));
        return Err(e);
    }
    intent.finish();
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
        "id": id, "fanout": fanout, "n": 1, "agent": INTEGRATE, "state": "succeeded",
        "branch": spec.branch, "worktree": spec.path, "worktree_name": spec.name,
        "argv": [], "base_commit": b.snapshot, "created_at": now, "started_at": now,
        "finished_at": null, "exit_code": null, "diffstat": null, "commit": null,
        "disk_bytes": null, "error": null, "supervisor_pid": null, "agent_pgid": null,
        "user_git_dir": paths.git_dir,
        "role": {"kind": "integration", "batch": b.id},
    }))
    .expect("an integration's record is well-formed")
}

/// Sets the integration's record back to finished when dropped before `done`.
struct Running<'a> {
    states: &'a StateDir,
    integration: &'a IntegrationRecord,
    done: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = set_running(self.states, self.integration, false);
        }
    }
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
