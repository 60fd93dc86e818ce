//! One view of a fanout's attempts side by side (`fanout compare`, `fanout.compare`): which
//! files each changed and by how much, which attempts touched the same lines, which made
//! the same change (byte for byte, or once whitespace and comments are left out: an
//! extension of the status's `same_as`), each attempt's verify, exit, size, time, tokens
//! and cost, and the judge's verdict once there is one.

use crate::error::Result;
use crate::hunks::Hunk;
use crate::repo::RepoPaths;
use crate::state::AttemptRecord;
use crate::status::{AttemptStatus, FanoutStatus};
use sha1::{Digest, Sha1};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Comparison {
    pub fanout: FanoutStatus,
    /// Every file any attempt changed, with one cell per attempt of `fanout.attempts` (in
    /// rank order): None where that attempt left the file alone.
    pub files: Vec<FileRow>,
    /// Pairs of attempts whose changes touch the same lines of a file.
    pub overlaps: Vec<Overlap>,
    /// Groups of two or more attempts that made the same change.
    pub clusters: Vec<Cluster>,
}

#[derive(Debug, Clone)]
pub struct FileRow {
    pub path: Vec<u8>,
    pub cells: Vec<Option<Cell>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub additions: usize,
    pub deletions: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub path: Vec<u8>,
    /// The two attempts, by number, the lower first.
    pub attempts: (usize, usize),
    /// The snapshot's lines both change, 1-based and inclusive (the span of both changes).
    pub lines: (usize, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Attempt numbers, ascending.
    pub attempts: Vec<usize>,
    /// Byte for byte the same result; false: the same once whitespace and comments are
    /// left out.
    pub identical: bool,
}

/// Compare the attempts of `fanout` (its status, ranked) from their records.
pub fn compare(
    paths: &RepoPaths,
    fanout: FanoutStatus,
    records: &[AttemptRecord],
) -> Result<Comparison> {
    let repo = paths.open()?;
    // The hunks of each attempt that has files to show, by attempt number.
    let mut hunks: BTreeMap<usize, Vec<Hunk>> = BTreeMap::new();
    let mut trees: BTreeMap<usize, git2::Oid> = BTreeMap::new();
    for a in records {
        if crate::inspect::ensure_readable(a).is_err() || a.discard.is_some() {
            continue;
        }
        let b = repo
            .find_commit(git2::Oid::from_str(&a.base_commit)?)?
            .tree_id();
        let tree = crate::inspect::attempt_tree(&repo, a)?;
        let list = crate::hunks::of_trees(&repo, b, tree)?;
        if !list.is_empty() {
            trees.insert(a.n, tree);
            hunks.insert(a.n, list);
        }
    }
    let files = file_rows(&fanout.attempts, &hunks);
    let overlaps = overlaps(&hunks);
    let clusters = clusters(&repo, &trees, &files)?;
    Ok(Comparison {
        fanout,
        files,
        overlaps,
        clusters,
    })
}

fn file_rows(attempts: &[AttemptStatus], hunks: &BTreeMap<usize, Vec<Hunk>>) -> Vec<FileRow> {
    let mut rows: BTreeMap<Vec<u8>, Vec<Option<Cell>>> = BTreeMap::new();
    for (i, a) in attempts.iter().enumerate() {
        for h in hunks.get(&a.n).into_iter().flatten() {
            let cells = rows
                .entry(h.path.clone())
                .or_insert_with(|| vec![None; attempts.len()]);
            let cell = cells[i].get_or_insert(Cell {
                additions: 0,
                deletions: 0,
            });
            cell.additions += h.additions;
            cell.deletions += h.deletions;
        }
    }
    rows.into_iter()
        .map(|(path, cells)| FileRow { path, cells })
        .collect()
}

fn overlaps(hunks: &BTreeMap<usize, Vec<Hunk>>) -> Vec<Overlap> {
    let numbers: Vec<&usize> = hunks.keys().collect();
    let mut out: Vec<Overlap> = Vec::new();
    for (i, a) in numbers.iter().enumerate() {
        for b in &numbers[i + 1..] {
            for ha in &hunks[a] {
                for hb in hunks[b]
                    .iter()
                    .filter(|hb| ha.overlaps(hb) && hb.id != ha.id)
                {
                    let (ra, rb) = (ha.changed_lines(), hb.changed_lines());
                    let start = ra.start.min(rb.start) + 1;
                    let end = ra.end.max(rb.end).max(start);
                    out.push(Overlap {
                        path: ha.path.clone(),
                        attempts: (**a, **b),
                        lines: (start, end),
                    });
                }
            }
        }
    }
    out
}

/// Attempts grouped by their result, first as it is, then with whitespace and comments
/// left out of every file any attempt changed.
fn clusters(
    repo: &git2::Repository,
    trees: &BTreeMap<usize, git2::Oid>,
    files: &[FileRow],
) -> Result<Vec<Cluster>> {
    let mut by_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (n, tree) in trees {
        let tree = repo.find_tree(*tree)?;
        let mut h = Sha1::new();
        for f in files {
            h.update((f.path.len() as u64).to_le_bytes());
            h.update(&f.path);
            let normalized = normalized_file(repo, &tree, &f.path)?;
            h.update((normalized.len() as u64).to_le_bytes());
            h.update(&normalized);
        }
        let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        by_key.entry(key).or_default().push(*n);
    }
    let mut out: Vec<Cluster> = by_key
        .into_values()
        .filter(|members| members.len() > 1)
        .map(|attempts| Cluster {
            identical: attempts.iter().all(|n| trees[n] == trees[&attempts[0]]),
            attempts,
        })
        .collect();
    out.sort_by(|a, b| a.attempts.cmp(&b.attempts));
    Ok(out)
}

/// A file of `tree` as compared: text without comments and whitespace; other content as it
/// is; absent as a marker no content can be.
fn normalized_file(repo: &git2::Repository, tree: &git2::Tree, path: &[u8]) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let entry = match tree.get_path(std::path::Path::new(std::ffi::OsStr::from_bytes(path))) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(b"\0absent".to_vec()),
        Err(e) => return Err(e.into()),
    };
    let blob = repo.find_blob(entry.id())?;
    let name = String::from_utf8_lossy(path);
    Ok(match crate::diff::as_text(blob.content()) {
        Some(text) => crate::tasks::without_comments(&name, text)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .into_bytes(),
        None => blob.content().to_vec(),
    })
}
