//! An attempt's repository, opened from fanout's own records and never through the worktree's
//! `.git` file.
//!
//! The agent owns its worktree, `.git` file included: it may rewrite that file to point at the
//! user's repository (`gitdir: /home/me/project/.git`), replace it with a repository of its
//! own, or check out another branch. So nothing fanout does to an attempt goes through the
//! worktree's git link. The repository is the common one fanout's state lives in (known from
//! the state folder's own location), the work tree is the path fanout recorded, the index is
//! the attempt's admin folder's (`<common dir>/worktrees/<name>/index`, worked on as a private
//! copy), and results are committed to `refs/heads/<the attempt's branch>` by name, with a
//! compare-and-swap, never through `HEAD`.

use crate::error::{Error, IoContext, Result};
use crate::state::AttemptRecord;
use git2::{Index, IndexAddOption, Oid, Repository};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct AttemptRepo {
    pub repo: Repository,
    pub common_dir: PathBuf,
    /// `<common dir>/worktrees/<name>`: the attempt's admin folder.
    pub admin: PathBuf,
    pub worktree: PathBuf,
    /// `refs/heads/<branch>`.
    pub branch_ref: String,
    scratch: PathBuf,
}

/// A tree made from the worktree's files, with the index that describes it.
pub struct WorktreeTree {
    pub tree: Oid,
    /// The private index the tree was written from (its stat data is fresh): written back to
    /// the admin folder after a commit, so `git status` in the worktree is clean.
    index_file: crate::snapshot::TempFile,
    /// What was left out and why (nested repositories), for the log and the user.
    pub notes: Vec<String>,
}

impl AttemptRepo {
    /// Open the attempt `rec` of the repository whose common git folder is `common_dir`.
    pub fn open(common_dir: &Path, rec: &AttemptRecord) -> Result<AttemptRepo> {
        let repo = Repository::open_bare(common_dir)?;
        repo.set_workdir(&rec.worktree, false)?;
        Ok(AttemptRepo {
            repo,
            common_dir: common_dir.to_path_buf(),
            admin: common_dir.join("worktrees").join(&rec.worktree_name),
            worktree: rec.worktree.clone(),
            branch_ref: format!("refs/heads/{}", rec.branch),
            scratch: common_dir.join("fanout").join("tmp"),
        })
    }

    /// What is wrong with the worktree's link to its admin folder, in the user's words; None
    /// when it is as fanout made it.
    pub fn link_problem(&self) -> Option<String> {
        let dot_git = self.worktree.join(".git");
        let expected = format!("gitdir: {}", self.admin.display());
        match std::fs::symlink_metadata(&dot_git) {
            Err(_) => return Some("its .git file is gone".into()),
            Ok(m) if m.file_type().is_symlink() => {
                return Some("its .git file was replaced by a symlink".into())
            }
            Ok(m) if m.is_dir() => {
                return Some("its .git file was replaced by a repository of its own".into())
            }
            Ok(_) => {}
        }
        let now = std::fs::read(&dot_git).unwrap_or_default();
        let now = String::from_utf8_lossy(&now);
        if now.trim_end() != expected {
            return Some(format!(
                "its .git file was rewritten to `{}`",
                crate::text::shorten(&crate::text::escape_line(now.trim_end()), 120)
            ));
        }
        let admin_gitdir = std::fs::read_to_string(self.admin.join("gitdir")).unwrap_or_default();
        if Path::new(admin_gitdir.trim_end()) != dot_git {
            return Some("its admin folder's gitdir file was changed".into());
        }
        None
    }

    /// Put the worktree's link back as fanout made it: the `.git` file, and the admin folder's
    /// `gitdir`, `commondir` and `HEAD` (on the attempt's branch). Everything written is inside
    /// the attempt: its worktree and its admin folder.
    pub fn repair_link(&self) -> Result<()> {
        std::fs::create_dir_all(&self.admin).at(&self.admin)?;
        let dot_git = self.worktree.join(".git");
        match std::fs::symlink_metadata(&dot_git) {
            Ok(m) if m.is_dir() => {
                // The agent's own repository: kept beside, never deleted.
                let aside = self
                    .worktree
                    .join(format!(".git.agent-{}", crate::ids::new_fanout_id()));
                std::fs::rename(&dot_git, &aside).at(&dot_git)?;
            }
            Ok(_) => std::fs::remove_file(&dot_git).at(&dot_git)?,
            Err(_) => {}
        }
        write_new(
            &dot_git,
            format!("gitdir: {}\n", self.admin.display()).as_bytes(),
        )?;
        crate::state::write_atomic(
            &self.admin.join("gitdir"),
            format!("{}\n", dot_git.display()).as_bytes(),
        )?;
        crate::state::write_atomic(&self.admin.join("commondir"), b"../..\n")?;
        self.point_head_at_branch()
    }

    /// The admin folder's HEAD on the attempt's branch (an agent may have switched it).
    pub fn point_head_at_branch(&self) -> Result<()> {
        let want = format!("ref: {}\n", self.branch_ref);
        let head = self.admin.join("HEAD");
        if std::fs::read_to_string(&head).ok().as_deref() != Some(want.as_str()) {
            crate::state::write_atomic(&head, want.as_bytes())?;
        }
        Ok(())
    }

    /// The tip of the attempt's branch, by name.
    pub fn branch_tip(&self) -> Result<Oid> {
        let r = self.repo.find_reference(&self.branch_ref).map_err(|e| {
            Error::Invalid(format!(
                "the attempt's branch {} is gone: {}",
                self.branch_ref,
                e.message()
            ))
        })?;
        r.target()
            .ok_or_else(|| Error::Invalid(format!("{} is not a branch", self.branch_ref)))
    }

    /// The worktree's files as a tree: tracked and new files, ignore rules applied (as
    /// `git add -A` does), files setup created left as they were in `base`, new files named
    /// like the agent CLI's own (`own_files`, e.g. aider's `.aider*` histories and caches)
    /// left out, and nested repositories left out with a note.
    pub fn worktree_tree(
        &self,
        base: &git2::Tree,
        setup_outputs: &BTreeMap<String, Option<String>>,
        own_files: &[String],
    ) -> Result<WorktreeTree> {
        std::fs::create_dir_all(&self.scratch).at(&self.scratch)?;
        let index_file = crate::snapshot::TempFile(self.scratch.join(format!(
            "attempt-index.{}.{}",
            std::process::id(),
            crate::ids::new_fanout_id()
        )));
        let admin_index = self.admin.join("index");
        if admin_index.exists() {
            std::fs::copy(&admin_index, &index_file.0).at(&admin_index)?;
        }
        let mut index = Index::open(&index_file.0)?;
        self.repo.set_index(&mut index)?;
        let own = OwnFiles::new(own_files, base)?;
        let notes = add_worktree_files(&self.worktree, &mut index, &own)?;
        leave_out_setup_outputs(&mut index, base, setup_outputs)?;
        index.write()?;
        let tree = index.write_tree()?;
        Ok(WorktreeTree {
            tree,
            index_file,
            notes,
        })
    }

    /// Commit `tree` on top of the attempt's branch and move the branch to it, by name, only
    /// if it still points where it did (compare-and-swap). Returns the new commit.
    pub fn commit_on_branch(&self, tree: Oid, message: &str) -> Result<Oid> {
        let tip = self.branch_tip()?;
        let parent = self.repo.find_commit(tip)?;
        let tree = self.repo.find_tree(tree)?;
        let sig = crate::snapshot::signature(&self.repo);
        let id = self
            .repo
            .commit(None, &sig, &sig, message, &tree, &[&parent])?;
        self.repo
            .reference_matching(&self.branch_ref, id, true, tip, "fanout: attempt result")
            .map_err(|e| {
                Error::Invalid(format!(
                    "could not move {} to the attempt's result: {}",
                    self.branch_ref,
                    e.message()
                ))
            })?;
        Ok(id)
    }

    /// Make the worktree's index the one `t` was written from (fresh stat data), so `git
    /// status` in the worktree is clean against its branch.
    pub fn write_index(&self, t: &WorktreeTree) -> Result<()> {
        let bytes = std::fs::read(&t.index_file.0).at(&t.index_file.0)?;
        crate::state::write_atomic(&self.admin.join("index"), &bytes)
    }
}

/// Add every file of the worktree to `index` (updating and removing entries too), except
/// nested repositories: a folder with a `.git` of its own is not part of the attempt's change
/// (git would record it as a submodule pointer, or fail when it has no commit).
fn add_worktree_files(worktree: &Path, index: &mut Index, own: &OwnFiles) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    let mut nested: Vec<String> = Vec::new();
    {
        let mut skip_own = |path: &Path, _spec: &[u8]| -> i32 { i32::from(own.is_own(path)) };
        index.update_all(["*"], Some(&mut skip_own))?;
    }
    // The CLI's own files that an earlier run's index holds (none should) go.
    let stale: Vec<PathBuf> = index
        .iter()
        .map(|e| PathBuf::from(String::from_utf8_lossy(&e.path).into_owned()))
        .filter(|p| own.is_own(p))
        .collect();
    for p in stale {
        index.remove_path(&p)?;
    }
    {
        let mut skip_nested = |path: &Path, _spec: &[u8]| -> i32 {
            if own.is_own(path) {
                return 1;
            }
            let full = worktree.join(path);
            if full.is_dir() && full.join(".git").exists() {
                nested.push(path.to_string_lossy().trim_end_matches('/').to_string());
                return 1; // skip
            }
            0
        };
        index.add_all(["*"], IndexAddOption::DEFAULT, Some(&mut skip_nested))?;
    }
    // Gitlinks that slipped in (a nested repository listed by path) go too, unless the
    // snapshot already had them (a real submodule of the user's).
    let gitlinks: Vec<Vec<u8>> = index
        .iter()
        .filter(|e| e.mode == 0o160000)
        .map(|e| e.path.clone())
        .collect();
    for p in gitlinks {
        let rel = String::from_utf8_lossy(&p).into_owned();
        let full = worktree.join(&rel);
        if full.join(".git").is_dir() {
            index.remove_path(Path::new(&rel))?;
            nested.push(rel);
        }
    }
    nested.sort();
    nested.dedup();
    for n in nested {
        notes.push(format!(
            "left out {}/: a nested git repository is not part of the attempt's change",
            crate::text::escape_line(&n)
        ));
    }
    Ok(notes)
}

/// Names of the files an agent CLI writes for itself: a path is one when a component of it
/// matches (gitignore-style, `.aider*`) and the snapshot did not have it (a file the user
/// tracks stays part of the attempt whatever its name).
struct OwnFiles<'a> {
    set: Option<globset::GlobSet>,
    base: &'a git2::Tree<'a>,
}

impl<'a> OwnFiles<'a> {
    fn new(globs: &[String], base: &'a git2::Tree<'a>) -> Result<OwnFiles<'a>> {
        if globs.is_empty() {
            return Ok(OwnFiles { set: None, base });
        }
        let mut b = globset::GlobSetBuilder::new();
        for g in globs {
            b.add(
                globset::GlobBuilder::new(g)
                    .literal_separator(true)
                    .build()
                    .map_err(|e| Error::Invalid(format!("bad file name pattern '{g}': {e}")))?,
            );
        }
        let set = b.build().map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(OwnFiles {
            set: Some(set),
            base,
        })
    }

    fn is_own(&self, path: &Path) -> bool {
        let Some(set) = &self.set else { return false };
        let named = path
            .components()
            .any(|c| set.is_match(Path::new(c.as_os_str())));
        named && self.base.get_path(path).is_err()
    }
}

/// Put setup's own output back as it was in the snapshot, unless the agent changed it after.
pub fn leave_out_setup_outputs(
    index: &mut Index,
    base: &git2::Tree,
    outputs: &BTreeMap<String, Option<String>>,
) -> Result<()> {
    for (path, after_setup) in outputs {
        let p = Path::new(path);
        let now = index.get_path(p, 0).map(|e| e.id.to_string());
        if now != *after_setup {
            continue; // the agent changed it too: it is part of the attempt
        }
        match base.get_path(p) {
            Ok(entry) => {
                let mut e = crate::snapshot::blank_entry(path, entry.filemode() as u32);
                e.id = entry.id();
                index.add(&e)?;
            }
            Err(_) => index.remove_path(p)?,
        }
    }
    Ok(())
}

/// Create a file that must not exist yet, never following a symlink.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .at(path)?;
    f.write_all(bytes).at(path)
}
