//! Rendering a merge plan as a unified diff, with per-file line counts, the way git prints
//! one: modes (`new file mode 100755`, `old mode` / `new mode`), symlinks as their target
//! (mode 120000), binary files as "Binary files ... differ", and paths quoted git's way so a
//! newline or an escape sequence in a file name never splits or hides a line.

use crate::merge::{is_link, ChangeKind, FileChange, MergePlan};
use crate::text::quote_path;
use serde::Serialize;
use similar::TextDiff;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDiffStat {
    /// The path as text (invalid UTF-8 replaced), for JSON.
    pub path: String,
    /// The path as git has it, for printing (quoted with [`quote_path`]).
    #[serde(skip)]
    pub raw_path: Vec<u8>,
    pub status: ChangeKind,
    pub additions: usize,
    pub deletions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub diff: String,
    pub files: Vec<FileDiffStat>,
}

/// The unified diff (git style headers) of every change in the plan, optionally of one path.
pub fn render(plan: &MergePlan, only: Option<&str>) -> DiffReport {
    let mut diff = String::new();
    let mut files = Vec::new();
    for c in plan
        .changes
        .iter()
        .filter(|c| only.is_none_or(|p| p.as_bytes() == c.path.as_slice()))
    {
        let (additions, deletions) = match (c.old_mode, c.new_mode) {
            // A symlink becoming a file or the other way round: git shows the old one
            // deleted and the new one added.
            (Some(o), Some(n)) if is_link(o) != is_link(n) => {
                let (_, d) = section(&mut diff, &c.path, c.old.as_deref(), Some(o), None, None);
                let (a, _) = section(&mut diff, &c.path, None, None, c.new.as_deref(), Some(n));
                (a, d)
            }
            _ => section(
                &mut diff,
                &c.path,
                c.old.as_deref(),
                c.old_mode,
                c.new.as_deref(),
                c.new_mode,
            ),
        };
        files.push(stat(c, additions, deletions));
    }
    DiffReport { diff, files }
}

fn stat(c: &FileChange, additions: usize, deletions: usize) -> FileDiffStat {
    FileDiffStat {
        path: c.path_lossy(),
        raw_path: c.path.clone(),
        status: c.kind,
        additions,
        deletions,
    }
}

/// `prefix` + `path`, quoted as git quotes it.
fn side(prefix: &str, path: &[u8]) -> String {
    let mut p = prefix.as_bytes().to_vec();
    p.extend_from_slice(path);
    quote_path(&p).into_owned()
}

/// One `diff --git` section; returns its (additions, deletions).
fn section(
    diff: &mut String,
    path: &[u8],
    old: Option<&[u8]>,
    old_mode: Option<u32>,
    new: Option<&[u8]>,
    new_mode: Option<u32>,
) -> (usize, usize) {
    let (qa, qb) = (side("a/", path), side("b/", path));
    diff.push_str(&format!("diff --git {qa} {qb}\n"));
    match (old_mode, new_mode) {
        (None, Some(n)) => diff.push_str(&format!("new file mode {n:06o}\n")),
        (Some(o), None) => diff.push_str(&format!("deleted file mode {o:06o}\n")),
        (Some(o), Some(n)) if o != n => {
            diff.push_str(&format!("old mode {o:06o}\nnew mode {n:06o}\n"))
        }
        _ => {}
    }
    if old.is_some() && old == new {
        return (0, 0); // the mode alone changed
    }
    let a = if old.is_some() {
        qa
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        qb
    } else {
        "/dev/null".into()
    };
    match (
        as_text(old.unwrap_or_default()),
        as_text(new.unwrap_or_default()),
    ) {
        (Some(o), Some(n)) => {
            let td = TextDiff::from_lines(o, n);
            let mut adds = 0;
            let mut dels = 0;
            for op in td.ops() {
                for change in td.iter_changes(op) {
                    match change.tag() {
                        similar::ChangeTag::Insert => adds += 1,
                        similar::ChangeTag::Delete => dels += 1,
                        similar::ChangeTag::Equal => {}
                    }
                }
            }
            diff.push_str(
                &td.unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
                    .to_string(),
            );
            (adds, dels)
        }
        _ => {
            diff.push_str(&format!("Binary files {a} and {b} differ\n"));
            (0, 0)
        }
    }
}

/// Text if it looks like text: valid UTF-8 with no NUL byte.
pub fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{MODE_EXEC, MODE_FILE, MODE_LINK};

    fn change(path: &[u8], old: Option<(&[u8], u32)>, new: Option<(&[u8], u32)>) -> FileChange {
        FileChange {
            path: path.to_vec(),
            kind: match (old, new) {
                (None, _) => ChangeKind::Added,
                (_, None) => ChangeKind::Deleted,
                _ => ChangeKind::Modified,
            },
            old: old.map(|o| o.0.to_vec()),
            new: new.map(|n| n.0.to_vec()),
            old_mode: old.map(|o| o.1),
            new_mode: new.map(|n| n.1),
        }
    }

    fn render_one(c: FileChange) -> String {
        render(
            &MergePlan {
                changes: vec![c],
                conflicts: vec![],
            },
            None,
        )
        .diff
    }

    #[test]
    fn modes_symlinks_binaries_and_odd_names_show_as_git_shows_them() {
        assert_eq!(
            render_one(change(
                b"run.sh",
                Some((b"x\n", MODE_FILE)),
                Some((b"x\n", MODE_EXEC))
            )),
            "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
        );
        let link = render_one(change(b"latest", None, Some((b"run.sh", MODE_LINK))));
        assert!(
            link.starts_with("diff --git a/latest b/latest\nnew file mode 120000\n--- /dev/null\n+++ b/latest\n@@ -0,0 +1 @@\n+run.sh\n"),
            "{link}"
        );
        assert!(
            render_one(change(b"new.sh", None, Some((b"echo\n", MODE_EXEC))))
                .contains("new file mode 100755\n")
        );
        assert!(render_one(change(
            b"b.bin",
            Some((b"\0\x01", MODE_FILE)),
            Some((b"\0\x02", MODE_FILE))
        ))
        .contains("Binary files a/b.bin and b/b.bin differ\n"));
        let odd = render_one(change(b"\x1b[31mred\nx", None, Some((b"t\n", MODE_FILE))));
        assert!(
            odd.starts_with("diff --git \"a/\\033[31mred\\nx\" \"b/\\033[31mred\\nx\"\n"),
            "{odd}"
        );
        assert!(!odd.contains('\x1b'), "{odd}");
        // A symlink replaced by a file: deleted, then added.
        let typechange = render_one(change(
            b"l",
            Some((b"t", MODE_LINK)),
            Some((b"t\n", MODE_FILE)),
        ));
        assert!(
            typechange.contains("deleted file mode 120000\n")
                && typechange.contains("new file mode 100644\n"),
            "{typechange}"
        );
    }
}
