//! Looking at an attempt: its tree, its diff against the user's current state, one of its
//! files, its log, and the merge plan that accepting it would carry out.

use crate::diff::DiffReport;
use crate::error::{Error, IoContext, Result};
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

/// The merge of the attempt onto the user's current state (files plus unsaved `overlays`).
pub fn merge_plan(
    paths: &RepoPaths,
    a: &AttemptRecord,
    overlays: &[Overlay],
    markers: bool,
) -> Result<MergePlan> {
    let repo = paths.open()?;
    let base = repo.find_commit(Oid::from_str(&a.base_commit)?)?.tree_id();
    let theirs = attempt_tree(&repo, a)?;
    let ours = snapshot_tree(&paths.workdir, overlays)?;
    crate::merge::plan(&repo, base, ours, theirs, markers)
}

/// What accepting would do, as a unified diff (conflicted files with their markers).
pub fn diff(
    paths: &RepoPaths,
    a: &AttemptRecord,
    overlays: &[Overlay],
    only: Option<&str>,
) -> Result<DiffReport> {
    let plan = merge_plan(paths, a, overlays, true)?;
    Ok(crate::diff::render(&plan, only))
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
