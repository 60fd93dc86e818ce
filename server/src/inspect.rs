//! Looking at an attempt: its tree, its diff against the user's current state, one of its
//! files, its log, and the merge plan that accepting it would carry out.

use crate::diff::DiffReport;
use crate::error::{Error, IoContext, Result};
use crate::hunks::{Hunk, Pick};
use crate::merge::MergePlan;
use crate::repo::RepoPaths;
use crate::snapshot::{snapshot_tree, Overlay};
use crate::state::{AttemptRecord, StateDir};
use git2::{Oid, Repository};

/// The attempt's files as a tree: its committed result once finished, the live worktree while
/// the agent still works (or after an interruption), else the fork's snapshot (no change).
/// The worktree is read through fanout's own records, never its `.git` file (`attempt_repo`).
pub fn attempt_tree(repo: &Repository, a: &AttemptRecord) -> Result<Oid> {
    if let Some(commit) = &a.commit {
        return Ok(repo.find_commit(Oid::from_str(commit)?)?.tree_id());
    }
    let base = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree()?;
    if a.worktree_present && a.worktree.is_dir() {
        let ar = crate::attempt_repo::AttemptRepo::open(repo.commondir(), a)?;
        return Ok(ar
            .worktree_tree(&base, &a.setup_outputs, &a.own_files)?
            .tree);
    }
    Ok(base.id())
}

/// What of the attempts to accept or diff: one attempt whole, or chosen hunks (ids as
/// `fanout hunks` lists them) of one or more attempts of one fanout.
#[derive(Debug, Clone)]
pub enum Choice {
    Whole(Box<AttemptRecord>),
    Hunks(Vec<(AttemptRecord, Vec<String>)>),
}

impl Choice {
    pub fn attempts(&self) -> Vec<&AttemptRecord> {
        match self {
            Choice::Whole(a) => vec![a],
            Choice::Hunks(picks) => picks.iter().map(|(a, _)| a).collect(),
        }
    }

    /// For messages: `7f3a9c-2`, or `hunks 3fa2b1c0, 9e01d2aa of 7f3a9c-2`.
    pub fn label(&self) -> String {
        match self {
            Choice::Whole(a) => a.id.clone(),
            Choice::Hunks(picks) => picks
                .iter()
                .map(|(a, ids)| format!("hunks {} of {}", ids.join(", "), a.id))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// The merge's base (the fork's snapshot) and theirs: the attempt's files, or the
    /// snapshot with the chosen hunks applied.
    fn trees(&self, repo: &Repository) -> Result<(Oid, Oid)> {
        let attempts = self.attempts();
        let Some(first) = attempts.first() else {
            return Err(Error::Invalid("no attempt chosen".into()));
        };
        for a in &attempts {
            ensure_readable(a)?;
            if a.base_commit != first.base_commit {
                return Err(Error::Invalid(format!(
                    "{} and {} start from different snapshots: accept their hunks one after the other",
                    first.id, a.id
                )));
            }
        }
        let base = repo
            .find_commit(Oid::from_str(&first.base_commit)?)?
            .tree_id();
        match self {
            Choice::Whole(a) => Ok((base, attempt_tree(repo, a)?)),
            Choice::Hunks(picks) => {
                let trees = picks
                    .iter()
                    .map(|(a, _)| attempt_tree(repo, a))
                    .collect::<Result<Vec<_>>>()?;
                let picks: Vec<Pick> = picks
                    .iter()
                    .zip(trees)
                    .map(|((a, ids), theirs)| Pick {
                        label: &a.id,
                        theirs,
                        ids,
                    })
                    .collect();
                Ok((base, crate::hunks::select(repo, base, &picks)?))
            }
        }
    }
}

/// The merge of the choice onto the user's current state (files plus unsaved `overlays`).
pub fn merge_plan(
    paths: &RepoPaths,
    choice: &Choice,
    overlays: &[Overlay],
    markers: bool,
) -> Result<MergePlan> {
    let repo = paths.open()?;
    let (base, theirs) = choice.trees(&repo)?;
    let ours = snapshot_tree(&paths.workdir, overlays)?;
    let mut plan = crate::merge::plan(&repo, base, ours, theirs, markers)?;
    if let Choice::Whole(a) = choice {
        if let Some((file, items)) = crate::run_record::boxes_to_check(paths, a) {
            check_boxes(&repo, ours, &mut plan, &file, &items)?;
        }
    }
    Ok(plan)
}

/// The task list boxes accepting `a` whole checks (see [`merge_plan`]).
type Boxes = Option<(String, Vec<(usize, String)>)>;

/// Accepting a task list item's attempt (or an integration) checks the items' boxes in the
/// same plan: on the plan's new text of the list if the change touches it, else on the
/// user's current text (buffer included). Items no longer there unchecked are left alone.
fn check_boxes(
    repo: &Repository,
    ours: Oid,
    plan: &mut MergePlan,
    file: &str,
    items: &[(usize, String)],
) -> Result<()> {
    use crate::merge::{ChangeKind, FileChange};
    if items.is_empty() {
        return Ok(());
    }
    let at = plan.changes.iter().position(|c| c.path == file.as_bytes());
    if plan.conflicts.iter().any(|c| c == file.as_bytes()) {
        return Ok(());
    }
    let (current, mode) = match at {
        Some(i) => match (&plan.changes[i].new, plan.changes[i].new_mode) {
            (Some(new), Some(mode)) => (new.clone(), mode),
            _ => return Ok(()),
        },
        None => {
            let tree = repo.find_tree(ours)?;
            let Ok(entry) = tree.get_path(std::path::Path::new(file)) else {
                return Ok(());
            };
            let blob = repo.find_blob(entry.id())?;
            (blob.content().to_vec(), entry.filemode() as u32)
        }
    };
    let Ok(mut text) = String::from_utf8(current.clone()) else {
        return Ok(());
    };
    for (line, title) in items {
        if let Some(checked) = crate::tasklist::check_box(&text, *line, title) {
            text = checked;
        }
    }
    if text.as_bytes() == current.as_slice() {
        return Ok(());
    }
    match at {
        Some(i) => plan.changes[i].new = Some(text.into_bytes()),
        None => plan.changes.push(FileChange {
            path: file.as_bytes().to_vec(),
            kind: ChangeKind::Modified,
            old: Some(current),
            new: Some(text.into_bytes()),
            old_mode: Some(mode),
            new_mode: Some(mode),
        }),
    }
    plan.changes.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

/// The attempt's hunks: its change against the fork's snapshot, cut as `git diff` cuts it;
/// `only` limits them to one file.
pub fn hunks(paths: &RepoPaths, a: &AttemptRecord, only: Option<&str>) -> Result<Vec<Hunk>> {
    ensure_readable(a)?;
    let repo = paths.open()?;
    let base = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree_id();
    let mut hunks = crate::hunks::of_trees(&repo, base, attempt_tree(&repo, a)?)?;
    hunks.retain(|h| only.is_none_or(|p| p.as_bytes() == h.path.as_slice()));
    Ok(hunks)
}

/// The attempt's own change against the fork's snapshot (not against the user's files), as a
/// unified diff with its hunks marked: what a judge or a synthesis reads.
pub fn change_diff(repo: &Repository, a: &AttemptRecord) -> Result<DiffReport> {
    ensure_readable(a)?;
    let base = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree_id();
    let plan = crate::merge::plan(repo, base, base, attempt_tree(repo, a)?, false)?;
    let marks = crate::hunks::marks(&crate::hunks::of_plan(&plan));
    Ok(crate::diff::render(&plan, None, &marks))
}

/// What accepting would do, as a unified diff (conflicted files with their markers), each
/// `@@` line marked with the attempt's hunks it carries.
///
/// The diffs of the last few (snapshot, current files, attempt) triples are kept: all three
/// are trees named by their content, so the same three trees always make the same diff, and
/// an editor asks for it again and again while nothing changes.
pub fn diff(
    paths: &RepoPaths,
    a: &AttemptRecord,
    overlays: &[Overlay],
    only: Option<&str>,
) -> Result<DiffReport> {
    type Key = (Oid, Oid, Oid, Option<String>, Boxes);
    type Kept = std::collections::VecDeque<(Key, DiffReport)>;
    static KEPT: std::sync::OnceLock<std::sync::Mutex<Kept>> = std::sync::OnceLock::new();
    let kept = || {
        KEPT.get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let repo = paths.open()?;
    let (base, theirs) = Choice::Whole(Box::new(a.clone())).trees(&repo)?;
    let ours = snapshot_tree(&paths.workdir, overlays)?;
    // What accept does besides the attempt's change (checking task list boxes) is part of it.
    let boxes = crate::run_record::boxes_to_check(paths, a);
    let key = (base, ours, theirs, only.map(str::to_string), boxes.clone());
    let known = kept()
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, r)| r.clone());
    if let Some(report) = known {
        return Ok(report);
    }
    let mut plan = crate::merge::plan(&repo, base, ours, theirs, true)?;
    if let Some((file, items)) = &boxes {
        check_boxes(&repo, ours, &mut plan, file, items)?;
    }
    let mut hunks = crate::hunks::of_trees(&repo, base, theirs)?;
    hunks.retain(|h| only.is_none_or(|p| p.as_bytes() == h.path.as_slice()));
    let report = crate::diff::render(&plan, only, &crate::hunks::marks(&hunks));
    let mut kept = kept();
    kept.push_back((key, report.clone()));
    // The last 8, and no more than 32 MB of diff text.
    while kept.len() > 8 || kept.iter().map(|(_, r)| r.diff.len()).sum::<usize>() > 32 << 20 {
        kept.pop_front();
    }
    Ok(report)
}

/// One file as the attempt has it; None if the attempt does not have it.
pub fn attempt_file(paths: &RepoPaths, a: &AttemptRecord, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = paths.open()?;
    let tree = repo.find_tree(attempt_tree(&repo, a)?)?;
    match tree.get_path(std::path::Path::new(path)) {
        Ok(entry) => Ok(Some(repo.find_blob(entry.id())?.content().to_vec())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The agent's output; with `tail`, only its last lines.
pub fn log(states: &StateDir, a: &AttemptRecord, tail: Option<usize>) -> Result<String> {
    let path = states.log_path(&a.id);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).at(path),
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(match tail {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut out = lines[lines.len().saturating_sub(n)..].join("\n");
            if !out.is_empty() {
                out.push('\n');
            }
            out
        }
        None => text,
    })
}

pub fn ensure_readable(a: &AttemptRecord) -> Result<()> {
    if a.commit.is_none() && !a.worktree_present {
        return Err(Error::Invalid(format!(
            "attempt {} has no changes to show ({})",
            a.id,
            a.state.as_str()
        )));
    }
    Ok(())
}
