//! What an attempt's run changed outside the attempt: the user's HEAD, index, branches, tags
//! and stash, compared before and after every run (setup, agent and verify; again for each
//! `continue`).
//!
//! An agent runs as the user and may run `git` with any arguments anywhere; fanout cannot stop
//! it from moving the user's branch, but it can notice and say so loudly, with the old values
//! kept so the user can put them back. Fanout's own branches (`refs/heads/fanout/...`) are left
//! out: supervisors commit to them all the time, and commits an agent makes on its own branch
//! (aider does) are part of its attempt. The user may of course change these things
//! themselves while an agent runs; the report says what changed, not who did it.

use crate::error::{IoContext, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One thing outside the attempt that changed during a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutsideChange {
    /// `HEAD`, `index`, `refs/heads/main`, `refs/tags/v1`, `refs/stash`.
    pub what: String,
    /// The old value (a commit id, `ref: refs/heads/main`, an index digest), None if it did
    /// not exist.
    pub before: Option<String>,
    pub after: Option<String>,
    /// What happened and how to undo it, in the user's words.
    pub message: String,
    /// Which run of the attempt (1, then one more per `continue`).
    pub run: usize,
}

/// The user's git state that an attempt must not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserGitState {
    head: Option<String>,
    refs: BTreeMap<String, String>,
    stash_entries: usize,
    index: Option<String>,
    index_path: PathBuf,
}

/// Read the state of the user's repository: `git_dir` is the user's own git folder (the
/// common one for a plain checkout), `common_dir` the shared one.
pub fn capture(git_dir: &Path, common_dir: &Path) -> Result<UserGitState> {
    let repo = git2::Repository::open_bare(common_dir)?;
    let mut refs = BTreeMap::new();
    for r in repo.references()?.flatten() {
        let Some(name) = r.name() else { continue };
        let ours = name.starts_with("refs/heads/fanout/");
        let watched = name.starts_with("refs/heads/")
            || name.starts_with("refs/tags/")
            || name == "refs/stash";
        if ours || !watched {
            continue;
        }
        let value = match r.target() {
            Some(id) => id.to_string(),
            None => format!("ref: {}", r.symbolic_target().unwrap_or_default()),
        };
        refs.insert(name.to_string(), value);
    }
    let stash_entries = repo.reflog("refs/stash").map(|l| l.len()).unwrap_or(0);
    let head = std::fs::read_to_string(git_dir.join("HEAD"))
        .ok()
        .map(|s| s.trim_end().to_string());
    let index_path = git_dir.join("index");
    Ok(UserGitState {
        head,
        refs,
        stash_entries,
        index: index_digest(&index_path)?,
        index_path,
    })
}

/// The index's content (paths, modes, blobs, stages), not its stat data: `git status`
/// refreshing stat data is not a change.
fn index_digest(path: &Path) -> Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    use sha2::Digest;
    let index = git2::Index::open(path)?;
    let mut h = sha2::Sha256::new();
    for e in index.iter() {
        h.update(&e.path);
        h.update([0]);
        h.update(e.mode.to_be_bytes());
        h.update(e.id.as_bytes());
        h.update(e.flags.to_be_bytes());
    }
    let d = h.finalize();
    Ok(Some(
        d.iter().take(10).map(|b| format!("{b:02x}")).collect(),
    ))
}

fn short(v: &Option<String>) -> String {
    match v {
        None => "nothing".into(),
        Some(s) if s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit()) => s[..10].into(),
        Some(s) => s.clone(),
    }
}

/// A saved copy of the user's index, taken before a run (a hard link: git replaces the index
/// by renaming a new file over it, so the link keeps the old content for free).
pub fn save_index(state: &UserGitState, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    if !state.index_path.exists() {
        return Ok(());
    }
    if std::fs::hard_link(&state.index_path, to).is_err() {
        std::fs::copy(&state.index_path, to).at(&state.index_path)?;
    }
    Ok(())
}

/// What changed between `before` and `after`; `saved_index` is where the old index was kept.
pub fn changes(
    before: &UserGitState,
    after: &UserGitState,
    saved_index: &Path,
    run: usize,
) -> Vec<OutsideChange> {
    let mut out = Vec::new();
    let mut push = |what: &str, b: Option<String>, a: Option<String>, message: String| {
        out.push(OutsideChange {
            what: what.to_string(),
            before: b,
            after: a,
            message,
            run,
        })
    };
    if before.head != after.head {
        push(
            "HEAD",
            before.head.clone(),
            after.head.clone(),
            format!(
                "HEAD changed from {} to {} (restore: git symbolic-ref HEAD or git checkout)",
                short(&before.head),
                short(&after.head)
            ),
        );
    }
    let names: std::collections::BTreeSet<&String> =
        before.refs.keys().chain(after.refs.keys()).collect();
    for name in names {
        let b = before.refs.get(name).cloned();
        let a = after.refs.get(name).cloned();
        if b == a {
            continue;
        }
        let undo = match &b {
            Some(old) if !old.starts_with("ref:") => format!("git update-ref {name} {old}"),
            Some(_) => "see git reflog".to_string(),
            None => format!("git update-ref -d {name}"),
        };
        let what = match (&b, &a) {
            (None, _) => format!("{name} was created at {}", short(&a)),
            (_, None) => format!("{name} was deleted (it was at {})", short(&b)),
            _ => format!("{name} moved from {} to {}", short(&b), short(&a)),
        };
        push(name, b, a, format!("{what} (restore: {undo})"));
    }
    // A stash entry dropped or added below the top leaves refs/stash where it was.
    if before.stash_entries != after.stash_entries
        && before.refs.get("refs/stash") == after.refs.get("refs/stash")
    {
        push(
            "refs/stash",
            Some(before.stash_entries.to_string()),
            Some(after.stash_entries.to_string()),
            format!(
                "the stash went from {} to {} entries (see git reflog refs/stash)",
                before.stash_entries, after.stash_entries
            ),
        );
    }
    if before.index != after.index {
        push(
            "index",
            before.index.clone(),
            after.index.clone(),
            format!(
                "the index (staged changes) changed; the one from before is saved at {} (restore: cp {} {})",
                saved_index.display(),
                saved_index.display(),
                after.index_path.display()
            ),
        );
    }
    out
}
