//! Accepting an attempt: a 3-way merge of trees, planned in memory before anything is written.
//!
//! base = the fork's snapshot, theirs = the attempt, ours = the user's current working state
//! (buffers included). The plan lists, per file, the current content and mode and the merged
//! ones; front ends render it as a diff, or carry it out (`apply` on disk, the language server
//! partly as one WorkspaceEdit), so "what accepting would do" and what accept does are the same
//! computation. Paths are bytes, exactly as git has them: a file name that is not UTF-8 stays
//! the same file.

use crate::error::Result;
use git2::{Oid, Repository};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// A regular file's mode in a git tree.
pub const MODE_FILE: u32 = 0o100644;
/// An executable file's mode.
pub const MODE_EXEC: u32 = 0o100755;
/// A symbolic link's mode: the blob is the link's target.
pub const MODE_LINK: u32 = 0o120000;
/// A submodule (gitlink): never a file fanout writes.
pub const MODE_GITLINK: u32 = 0o160000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Conflicted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// The path relative to the working tree, '/'-separated bytes as git stores it.
    pub path: Vec<u8>,
    pub kind: ChangeKind,
    /// The current content (None: the file does not exist now). For a symlink, its target.
    pub old: Option<Vec<u8>>,
    /// The content after accepting (None: accepting deletes it). For a conflicted file
    /// planned with markers, the text with conflict markers. For a symlink, its target.
    pub new: Option<Vec<u8>>,
    /// The current mode ([`MODE_FILE`], [`MODE_EXEC`], [`MODE_LINK`]); None when absent.
    pub old_mode: Option<u32>,
    /// The mode after accepting; None when accepting deletes it.
    pub new_mode: Option<u32>,
}

impl FileChange {
    /// The path as git quotes it, safe to print on one line.
    pub fn display_path(&self) -> Cow<'_, str> {
        crate::text::quote_path(&self.path)
    }

    /// The path as text for JSON (invalid UTF-8 replaced): for showing, never for writing.
    pub fn path_lossy(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }

    /// Whether only the mode changes (the executable bit), not the content.
    pub fn mode_only(&self) -> bool {
        self.old.is_some() && self.old == self.new && self.old_mode != self.new_mode
    }
}

/// Whether a mode is a symbolic link's.
pub fn is_link(mode: u32) -> bool {
    mode == MODE_LINK
}

#[derive(Debug, Clone, Default)]
pub struct MergePlan {
    pub changes: Vec<FileChange>,
    /// Paths that changed on both sides in ways that do not merge.
    pub conflicts: Vec<Vec<u8>>,
}

impl MergePlan {
    /// The conflicted paths as text, for JSON.
    pub fn conflicts_lossy(&self) -> Vec<String> {
        self.conflicts
            .iter()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    }
}

type TreeMap = HashMap<Vec<u8>, (Oid, u32)>;

/// A tree entry's mode as fanout writes it: regular files are 100644 or 100755 (the old
/// group-writable 100664 is a regular file); links and submodules keep theirs. Anything else
/// (a hostile tree may hold any number) stays as it is, and applying refuses it.
pub fn normalize_mode(mode: u32) -> u32 {
    match mode {
        MODE_LINK | MODE_GITLINK => mode,
        m if m & 0o170000 == 0o100000 && m & 0o100 != 0 => MODE_EXEC,
        m if m & 0o170000 == 0o100000 => MODE_FILE,
        m => m,
    }
}

/// Plan the merge of `theirs` onto `ours` from `base` (all tree ids). With `markers`,
/// conflicted files get content with conflict markers instead of being left out.
pub fn plan(
    repo: &Repository,
    base: Oid,
    ours: Oid,
    theirs: Oid,
    markers: bool,
) -> Result<MergePlan> {
    let base_t = repo.find_tree(base)?;
    let ours_t = repo.find_tree(ours)?;
    let theirs_t = repo.find_tree(theirs)?;
    let merged = repo.merge_trees(&base_t, &ours_t, &theirs_t, None)?;
    let ours_map = tree_map(repo, &ours_t)?;
    let blob = |id: Oid| -> Result<Vec<u8>> { Ok(repo.find_blob(id)?.content().to_vec()) };
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut out = MergePlan::default();
    let current = |path: &[u8]| -> Result<(Option<Vec<u8>>, Option<u32>)> {
        match ours_map.get(path) {
            Some((id, mode)) => Ok((Some(blob(*id)?), Some(*mode))),
            None => Ok((None, None)),
        }
    };

    if merged.has_conflicts() {
        for c in merged.conflicts()? {
            let c = c?;
            let Some(any) = c.our.as_ref().or(c.their.as_ref()).or(c.ancestor.as_ref()) else {
                continue;
            };
            let path = any.path.clone();
            seen.insert(path.clone());
            out.conflicts.push(path.clone());
            if !markers {
                continue;
            }
            let mode_of = |e: &git2::IndexEntry| normalize_mode(e.mode);
            let (new, new_mode) = match (&c.our, &c.their) {
                // Markers make sense in text only: a conflict that involves a symlink or a
                // submodule is left as the user has it, for them to resolve.
                (Some(o), Some(t))
                    if [mode_of(o), mode_of(t)]
                        .iter()
                        .any(|m| *m == MODE_LINK || *m == MODE_GITLINK) =>
                {
                    continue
                }
                (Some(o), Some(t)) => {
                    let mut opts = git2::MergeFileOptions::new();
                    opts.our_label("current")
                        .their_label("attempt")
                        .ancestor_label("fork");
                    let r = repo.merge_file_from_index(
                        c.ancestor.as_ref().unwrap_or(o),
                        o,
                        t,
                        Some(&mut opts),
                    )?;
                    (r.content().to_vec(), mode_of(o))
                }
                // Changed on one side, deleted on the other: keep the changed file.
                (Some(o), None) => (blob(o.id)?, mode_of(o)),
                (None, Some(t)) => (blob(t.id)?, mode_of(t)),
                (None, None) => continue,
            };
            if new_mode == MODE_GITLINK {
                continue;
            }
            let (old, old_mode) = current(&path)?;
            if old_mode == Some(MODE_GITLINK)
                || (old.as_ref() == Some(&new) && old_mode == Some(new_mode))
            {
                continue;
            }
            out.changes.push(FileChange {
                path,
                kind: ChangeKind::Conflicted,
                old,
                new: Some(new),
                old_mode,
                new_mode: Some(new_mode),
            });
        }
    }

    for entry in merged.iter() {
        if (entry.flags >> 12) & 3 != 0 || seen.contains(&entry.path) {
            continue;
        }
        seen.insert(entry.path.clone());
        let mode = normalize_mode(entry.mode);
        let now = ours_map.get(&entry.path);
        if now == Some(&(entry.id, mode)) {
            continue;
        }
        if mode == MODE_GITLINK || now.is_some_and(|(_, m)| *m == MODE_GITLINK) {
            continue; // submodule pointers are the user's business, not a file to write
        }
        let (old, old_mode) = current(&entry.path)?;
        out.changes.push(FileChange {
            path: entry.path.clone(),
            kind: if now.is_some() {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
            old,
            new: Some(blob(entry.id)?),
            old_mode,
            new_mode: Some(mode),
        });
    }
    for (path, (id, mode)) in &ours_map {
        if !seen.contains(path) && *mode != MODE_GITLINK {
            out.changes.push(FileChange {
                path: path.clone(),
                kind: ChangeKind::Deleted,
                old: Some(blob(*id)?),
                new: None,
                old_mode: Some(*mode),
                new_mode: None,
            });
        }
    }
    out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.conflicts.sort();
    Ok(out)
}

/// Every non-tree entry of `tree` by its full path. An explicit walk, not `Tree::walk`:
/// that one hands paths over as `&str` and stops at the first folder whose name is not UTF-8.
fn tree_map(repo: &Repository, tree: &git2::Tree) -> Result<TreeMap> {
    let mut map = HashMap::new();
    let mut stack: Vec<(Vec<u8>, Oid)> = vec![(Vec::new(), tree.id())];
    while let Some((prefix, id)) = stack.pop() {
        let tree = repo.find_tree(id)?;
        for e in tree.iter() {
            let mut p = prefix.clone();
            p.extend_from_slice(e.name_bytes());
            if e.kind() == Some(git2::ObjectType::Tree) {
                p.push(b'/');
                stack.push((p, e.id()));
            } else {
                map.insert(p, (e.id(), normalize_mode(e.filemode_raw() as u32)));
            }
        }
    }
    Ok(map)
}
