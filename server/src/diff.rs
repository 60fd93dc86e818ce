//! Rendering a merge plan as a unified diff, with per-file line counts.

use crate::merge::{ChangeKind, MergePlan};
use serde::Serialize;
use similar::TextDiff;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileDiffStat {
    pub path: String,
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
        .filter(|c| only.is_none_or(|p| p == c.path))
    {
        let old = c.old.as_deref().unwrap_or_default();
        let new = c.new.as_deref().unwrap_or_default();
        let a = if c.old.is_some() {
            format!("a/{}", c.path)
        } else {
            "/dev/null".into()
        };
        let b = if c.new.is_some() {
            format!("b/{}", c.path)
        } else {
            "/dev/null".into()
        };
        diff.push_str(&format!("diff --git a/{0} b/{0}\n", c.path));
        match c.kind {
            ChangeKind::Added => diff.push_str("new file mode 100644\n"),
            ChangeKind::Deleted => diff.push_str("deleted file mode 100644\n"),
            _ => {}
        }
        let (additions, deletions) = match (as_text(old), as_text(new)) {
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
        };
        files.push(FileDiffStat {
            path: c.path.clone(),
            status: c.kind,
            additions,
            deletions,
        });
    }
    DiffReport { diff, files }
}

/// Text if it looks like text: valid UTF-8 with no NUL byte.
fn as_text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}
