//! Rendering a merge plan as a unified diff, with per-file line counts, the way git prints
//! one: modes (`new file mode 100755`, `old mode` / `new mode`), symlinks as their target
//! (mode 120000), binary files as "Binary files ... differ", and paths quoted git's way so a
//! newline or an escape sequence in a file name never splits or hides a line.

use crate::merge::{is_link, ChangeKind, FileChange, MergePlan};
use crate::text::quote_path;
use serde::Serialize;
use similar::TextDiff;
use std::collections::HashMap;

/// Lines of context around a change, as `git diff` shows it. It also decides what one hunk
/// is (`hunks`): changes closer than twice this are one hunk.
pub const CONTEXT: usize = 3;

/// Ids to show on a diff's `@@` lines (`@@ -1,4 +1,5 @@ hunk 3fa2b1c0`): per path, each
/// hunk's id and its changed lines (`+line`, `-line`). A `@@` hunk of the diff carries the
/// ids of the hunks whose changed lines are all among its own, so the marks hold when the
/// diff is against files that moved on since the fork.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    by_path: HashMap<Vec<u8>, Vec<(String, Vec<String>)>>,
}

impl Marks {
    pub fn add(&mut self, path: &[u8], id: &str, changed: &[String]) {
        if !changed.is_empty() {
            self.by_path
                .entry(path.to_vec())
                .or_default()
                .push((id.to_string(), changed.to_vec()));
        }
    }

    /// The ids of the not yet `used` hunks of `path` whose changed lines are all in `lines`.
    fn take(&self, path: &[u8], lines: &[String], used: &mut Vec<usize>) -> Vec<&str> {
        let Some(hunks) = self.by_path.get(path) else {
            return Vec::new();
        };
        let mut have: HashMap<&str, usize> = HashMap::new();
        for l in lines {
            *have.entry(l.as_str()).or_default() += 1;
        }
        let mut ids = Vec::new();
        for (i, (id, changed)) in hunks.iter().enumerate() {
            if used.contains(&i) {
                continue;
            }
            let mut left = have.clone();
            let inside = changed.iter().all(|l| match left.get_mut(l.as_str()) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    true
                }
                _ => false,
            });
            if inside {
                have = left;
                used.push(i);
                ids.push(id.as_str());
            }
        }
        ids
    }
}

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

/// The unified diff (git style headers) of every change in the plan, optionally of one path,
/// with `marks` on the `@@` lines.
pub fn render(plan: &MergePlan, only: Option<&str>, marks: &Marks) -> DiffReport {
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
                let (_, d) = section(
                    &mut diff,
                    &c.path,
                    (c.old.as_deref(), Some(o)),
                    (None, None),
                    marks,
                );
                let (a, _) = section(
                    &mut diff,
                    &c.path,
                    (None, None),
                    (c.new.as_deref(), Some(n)),
                    marks,
                );
                (a, d)
            }
            _ => section(
                &mut diff,
                &c.path,
                (c.old.as_deref(), c.old_mode),
                (c.new.as_deref(), c.new_mode),
                marks,
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

/// One `diff --git` section of `path` from `(content, mode)` to `(content, mode)`; returns
/// its (additions, deletions).
fn section(
    diff: &mut String,
    path: &[u8],
    (old, old_mode): (Option<&[u8]>, Option<u32>),
    (new, new_mode): (Option<&[u8]>, Option<u32>),
    marks: &Marks,
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
            let mut used = Vec::new();
            let mut ud = td.unified_diff();
            ud.context_radius(CONTEXT);
            for (i, hunk) in ud.iter_hunks().enumerate() {
                if i == 0 {
                    diff.push_str(&format!("--- {a}\n+++ {b}\n"));
                }
                let mut changed = Vec::new();
                for change in hunk.iter_changes() {
                    match change.tag() {
                        similar::ChangeTag::Insert => adds += 1,
                        similar::ChangeTag::Delete => dels += 1,
                        similar::ChangeTag::Equal => continue,
                    }
                    changed.push(format!("{}{}", change.tag(), change.value()));
                }
                let text = hunk.to_string();
                let ids = marks.take(path, &changed, &mut used);
                match text.split_once('\n') {
                    Some((head, rest)) if !ids.is_empty() => {
                        diff.push_str(&format!("{head} hunk {}\n{rest}", ids.join(",")));
                    }
                    _ => diff.push_str(&text),
                }
            }
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
            &Marks::default(),
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
