//! Accepting an attempt: the merge plan carried out on the user's working tree, either all on
//! disk (the CLI) or split between the editor (text edits it can undo) and the disk (what is
//! not text). Both ways hold the repository's accept lock from planning to the end, first
//! roll back an accept that was interrupted, and check the whole plan against the disk before
//! anything is written (`apply`).

use crate::apply::{Accepted, Refusal, Transaction};
use crate::diff::as_text;
use crate::error::Result;
use crate::inspect::Choice;
use crate::merge::{FileChange, MergePlan, MODE_EXEC, MODE_FILE};
use crate::repo::RepoPaths;
use crate::snapshot::Overlay;
use std::collections::HashSet;

/// Accept onto the working tree: nothing is written if any file conflicts (unless `markers`)
/// or if the disk refuses any path (a symlinked parent, an untracked file in the way, a file
/// changed since the plan: see `apply`). Never touches HEAD or the index.
pub fn to_disk(paths: &RepoPaths, choice: &Choice, markers: bool) -> Result<Accepted> {
    let lock = crate::apply::lock(paths)?;
    let recovered = lock.recover()?;
    let plan = crate::inspect::merge_plan(paths, choice, &[], markers)?;
    let refused = crate::apply::check(paths, &plan.changes, &|_| false)?;
    if (!plan.conflicts.is_empty() && !markers) || !refused.is_empty() {
        return Ok(Accepted {
            plan,
            refused,
            applied: false,
            recovered,
        });
    }
    crate::apply::apply(lock, &plan.changes)?;
    if !plan.changes.is_empty() {
        mark_accepted(paths, choice);
    }
    Ok(Accepted {
        plan,
        refused,
        applied: true,
        recovered,
    })
}

/// What an editor can do with an edit besides changing text.
#[derive(Debug, Clone, Copy, Default)]
pub struct EditorCan {
    /// Create and delete files (LSP resource operations).
    pub create_and_delete: bool,
}

/// An accept started for an editor: either a reason it cannot happen, or a plan whose disk
/// part is carried out (not yet committed) and whose text part is for the editor to apply.
pub enum EditorAccept {
    /// Files that conflict with the user's current state; nothing was written.
    Conflicts(Vec<String>),
    /// Paths the disk refuses; nothing was written.
    Refused(Vec<Refusal>),
    /// The user's files already have the attempt's change.
    Nothing,
    Ready {
        /// How many files the whole plan changes.
        changes: usize,
        /// Text changes for the editor, one undoable edit.
        editor: Vec<FileChange>,
        /// The paths written on disk by fanout itself.
        disk_paths: Vec<String>,
        /// The disk part, carried out but not committed: commit it once the editor applied
        /// its part, roll it back otherwise. It holds the repository's accept lock.
        txn: Box<EditorTransaction>,
    },
}

/// Start accepting the choice onto the user's files and open buffers (`overlays`).
pub fn for_editor(
    paths: &RepoPaths,
    choice: &Choice,
    overlays: &[Overlay],
    can: EditorCan,
) -> Result<(EditorAccept, Option<String>)> {
    let lock = crate::apply::lock(paths)?;
    let recovered = lock.recover()?;
    let open: HashSet<Vec<u8>> = overlays
        .iter()
        .map(|o| o.path.as_bytes().to_vec())
        .collect();
    let plan = crate::inspect::merge_plan(paths, choice, overlays, false)?;
    if !plan.conflicts.is_empty() {
        return Ok((EditorAccept::Conflicts(plan.conflicts_lossy()), recovered));
    }
    if plan.changes.is_empty() {
        return Ok((EditorAccept::Nothing, recovered));
    }
    // The whole plan, the editor's part included, must pass the disk's checks before
    // anything is sent or written.
    let mut refused = crate::apply::check(paths, &plan.changes, &|p| open.contains(p))?;
    let (editor, disk) = split(&plan, can);
    for c in disk.iter().filter(|c| open.contains(&c.path)) {
        let why = not_text(c, &plan).unwrap_or("the editor cannot create or delete files");
        refused.push(Refusal {
            path: c.path.clone(),
            reason: format!(
                "is open in the editor and cannot be changed as a text edit ({why}); close it and accept again"
            ),
        });
    }
    if !refused.is_empty() {
        return Ok((EditorAccept::Refused(refused), recovered));
    }
    let disk_paths = disk.iter().map(|c| c.path_lossy()).collect();
    let beside: Vec<Vec<u8>> = editor.iter().map(|c| c.path.clone()).collect();
    let txn = Box::new(EditorTransaction {
        txn: crate::apply::begin(lock, &disk, &beside)?,
        paths: paths.clone(),
        choice: choice.clone(),
    });
    Ok((
        EditorAccept::Ready {
            changes: plan.changes.len(),
            editor,
            disk_paths,
            txn,
        },
        recovered,
    ))
}

/// The disk part of an editor's accept; committing it marks the attempt accepted.
pub struct EditorTransaction {
    txn: Transaction,
    paths: RepoPaths,
    choice: Choice,
}

impl EditorTransaction {
    /// The editor applied its part: keep the disk part, and mark the attempt accepted.
    pub fn commit(self) -> Result<()> {
        self.txn.commit()?;
        mark_accepted(&self.paths, &self.choice);
        Ok(())
    }

    /// The editor did not apply its part: undo the disk part.
    pub fn rollback(self) -> Result<()> {
        self.txn.rollback()
    }
}

/// Mark a whole attempt accepted now (hunks taken from attempts leave them unmarked: the
/// attempt as a whole was not accepted). The files are written whatever happens here: a mark
/// that cannot be written (the attempt was discarded meanwhile) only costs the status its
/// "accepted".
fn mark_accepted(paths: &RepoPaths, choice: &Choice) {
    let Choice::Whole(a) = choice else {
        return;
    };
    let states = crate::state::StateDir::new(paths.state_dir.clone());
    if let Err(e) = states.mark_accepted(a, crate::ids::now_secs()) {
        tracing::warn!("marking {} accepted: {e}", a.id);
    }
}

/// Why a change cannot go to the editor as text, if it cannot: its content is not text
/// (a binary file, NUL bytes), it is a symlink or changes the executable bit, its name is not
/// UTF-8, or it is part of a type change (a file becoming a folder or the other way round),
/// whose steps must happen in order on disk.
pub fn not_text(c: &FileChange, plan: &MergePlan) -> Option<&'static str> {
    let text = |b: &Option<Vec<u8>>| b.as_deref().is_none_or(|b| as_text(b).is_some());
    let regular = |m: Option<u32>| m.is_none_or(|m| m == MODE_FILE || m == MODE_EXEC);
    if std::str::from_utf8(&c.path).is_err() {
        return Some("its name is not UTF-8");
    }
    if !regular(c.old_mode) || !regular(c.new_mode) {
        return Some("it is a symlink");
    }
    if !text(&c.old) || !text(&c.new) {
        return Some("it is not text");
    }
    match (c.old_mode, c.new_mode) {
        (Some(a), Some(b)) if a != b => return Some("its executable bit changes"),
        (None, Some(MODE_EXEC)) => return Some("it is executable"),
        _ => {}
    }
    let related =
        |p: &[u8], dir: &[u8]| p.len() > dir.len() && p.starts_with(dir) && p[dir.len()] == b'/';
    if plan
        .changes
        .iter()
        .any(|o| related(&o.path, &c.path) || related(&c.path, &o.path))
    {
        return Some("a file and a folder trade places");
    }
    None
}

/// Split a plan into what the editor applies (text edits, and text file creations and
/// deletions when it can create and delete files) and what must be written on disk
/// (everything else: binary files, symlinks, modes, type changes).
pub fn split(plan: &MergePlan, can: EditorCan) -> (Vec<FileChange>, Vec<FileChange>) {
    let mut editor = Vec::new();
    let mut disk = Vec::new();
    for c in &plan.changes {
        let expressible = match (&c.old, &c.new) {
            (Some(_), Some(_)) => true,
            _ => can.create_and_delete,
        };
        if expressible && not_text(c, plan).is_none() {
            editor.push(c.clone());
        } else {
            disk.push(c.clone());
        }
    }
    (editor, disk)
}
