//! Accepting an attempt: a 3-way merge of trees, planned in memory before anything is written.
//!
//! base = the fork's snapshot, theirs = the attempt, ours = the user's current working state
//! (buffers included). The plan lists, per file, the current content and the merged content;
//! front ends apply it (the CLI to disk, the language server as one WorkspaceEdit) or render
//! it as a diff, so "what accepting would do" and what accept does are the same computation.

use crate::error::{IoContext, Result};
use git2::{Oid, Repository, TreeWalkMode, TreeWalkResult};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
    Conflicted,
}

#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub kind: ChangeKind,
    /// The current content (None: the file does not exist now).
    pub old: Option<Vec<u8>>,
    /// The content after accepting (None: accepting deletes it). For a conflicted file
    /// planned with markers, the text with conflict markers.
    pub new: Option<Vec<u8>>,
    pub executable: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MergePlan {
    pub changes: Vec<FileChange>,
    /// Paths that changed on both sides in ways that do not merge.
    pub conflicts: Vec<String>,
}

type TreeMap = HashMap<Vec<u8>, (Oid, u32)>;

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
    let ours_map = tree_map(&ours_t)?;
    let blob = |id: Oid| -> Result<Vec<u8>> { Ok(repo.find_blob(id)?.content().to_vec()) };
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut out = MergePlan::default();

    if merged.has_conflicts() {
        for c in merged.conflicts()? {
            let c = c?;
            let Some(any) = c.our.as_ref().or(c.their.as_ref()).or(c.ancestor.as_ref()) else {
                continue;
            };
            let path = any.path.clone();
            seen.insert(path.clone());
            let path_s = String::from_utf8_lossy(&path).into_owned();
            out.conflicts.push(path_s.clone());
            if !markers {
                continue;
            }
            let new = match (&c.our, &c.their) {
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
                    r.content().to_vec()
                }
                // Changed on one side, deleted on the other: keep the changed file.
                (Some(o), None) => blob(o.id)?,
                (None, Some(t)) => blob(t.id)?,
                (None, None) => continue,
            };
            let old = ours_map.get(&path).map(|(id, _)| blob(*id)).transpose()?;
            out.changes.push(FileChange {
                path: path_s,
                kind: ChangeKind::Conflicted,
                old,
                new: Some(new),
                executable: false,
            });
        }
    }

    for entry in merged.iter() {
        if (entry.flags >> 12) & 3 != 0 || seen.contains(&entry.path) {
            continue;
        }
        seen.insert(entry.path.clone());
        let now = ours_map.get(&entry.path);
        if now == Some(&(entry.id, entry.mode)) {
            continue;
        }
        if entry.mode == 0o160000 {
            continue; // submodule pointers are the user's business, not a file to write
        }
        out.changes.push(FileChange {
            path: String::from_utf8_lossy(&entry.path).into_owned(),
            kind: if now.is_some() {
                ChangeKind::Modified
            } else {
                ChangeKind::Added
            },
            old: now.map(|(id, _)| blob(*id)).transpose()?,
            new: Some(blob(entry.id)?),
            executable: entry.mode == 0o100755,
        });
    }
    for (path, (id, mode)) in &ours_map {
        if !seen.contains(path) && *mode != 0o160000 {
            out.changes.push(FileChange {
                path: String::from_utf8_lossy(path).into_owned(),
                kind: ChangeKind::Deleted,
                old: Some(blob(*id)?),
                new: None,
                executable: false,
            });
        }
    }
    out.changes.sort_by(|a, b| a.path.cmp(&b.path));
    out.conflicts.sort();
    Ok(out)
}

fn tree_map(tree: &git2::Tree) -> Result<TreeMap> {
    let mut map = HashMap::new();
    tree.walk(TreeWalkMode::PreOrder, |root, e| {
        if e.kind() != Some(git2::ObjectType::Tree) {
            let mut p = root.as_bytes().to_vec();
            p.extend_from_slice(e.name_bytes());
            map.insert(p, (e.id(), e.filemode() as u32));
        }
        TreeWalkResult::Ok
    })?;
    Ok(map)
}

/// Write a plan onto the working tree. All new contents are written to temp files first and
/// only then renamed into place, so a failure (disk full) leaves the user's files as they were.
pub fn apply_to_disk(workdir: &Path, plan: &MergePlan) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut staged: Vec<(std::path::PathBuf, std::path::PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for change in &plan.changes {
            let target = workdir.join(&change.path);
            if let Some(bytes) = &change.new {
                let dir = target.parent().unwrap_or(workdir);
                std::fs::create_dir_all(dir).at(dir)?;
                let tmp = dir.join(format!(
                    ".fanout-accept-{}-{}",
                    std::process::id(),
                    staged.len()
                ));
                std::fs::write(&tmp, bytes).at(&tmp)?;
                staged.push((tmp.clone(), target.clone()));
                let mode = match std::fs::metadata(&target) {
                    Ok(m) => m.permissions().mode(),
                    Err(_) if change.executable => 0o755,
                    Err(_) => 0o644,
                };
                let mode = if change.executable {
                    mode | 0o111
                } else {
                    mode
                };
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).at(&tmp)?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (tmp, _) in &staged {
            let _ = std::fs::remove_file(tmp);
        }
        return Err(e);
    }
    for (tmp, target) in &staged {
        std::fs::rename(tmp, target).at(target)?;
    }
    for change in plan.changes.iter().filter(|c| c.new.is_none()) {
        let target = workdir.join(&change.path);
        match std::fs::remove_file(&target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(target),
            _ => {}
        }
    }
    Ok(())
}
