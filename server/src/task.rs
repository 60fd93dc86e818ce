//! The task model: one task found in a file, and its short label. Finding tasks is
//! `tasks`; this module knows nothing of files or comments.

/// The marker of a TASKS.md checkbox item.
pub const CHECKBOX: &str = "- [ ]";
/// The marker of a plan: the goal a lead agent breaks into a task list (`fanout plan`).
pub const PLAN: &str = "plan";
/// Longest task text shown in a label.
const LABEL_CHARS: usize = 100;

/// One task found in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Task {
    /// Path relative to the scanned root, '/' separators (or the name given to scan_text).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// "TODO", "FIXME", "XXX", "HACK", "- [ ]" for a TASKS.md item, or "plan" for a plan's
    /// goal.
    pub marker: String,
    /// The task's text after the marker, trimmed of comment closers (`*/`, `-->`) and of a
    /// leading ':' or '(owner):' etc.; may be empty.
    pub text: String,
}

impl Task {
    /// A short human label: "TODO: handle empty input".
    pub fn label(&self) -> String {
        let text = crate::text::shorten(&self.text, LABEL_CHARS + 1);
        match (self.marker.as_str(), text.is_empty()) {
            (_, true) => self.marker.clone(),
            (CHECKBOX, false) => format!("{CHECKBOX} {text}"),
            (marker, false) => format!("{marker}: {text}"),
        }
    }
}
