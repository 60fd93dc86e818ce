//! Rendering a merge plan as a unified diff, with per-file line counts, the way git prints
//! one: modes (`new file mode 100755`, `old mode` / `new mode`), symlinks as their target
//! (mode 120000), binary files as "Binary files ... differ", and paths quoted git's way so a
//! newline or an escape sequence in a file name never splits or hides a line.
//!
//! The line diff itself ([`LineDiff`]) is imara-diff's Myers algorithm (with git's
//! heuristics) and git's slider post-processing (the indent heuristic), on lines cut as
//! editors cut them; `hunks` and the language server's minimal edits use the same one.
//! Myers, not imara-diff's Histogram: on the benchmark's file (10,000 lines, every tenth
//! changed) Histogram took 22 ms and Myers 0.9 ms (`similar`'s Myers: 13.7 ms).

use crate::merge::{is_link, ChangeKind, FileChange, MergePlan};
use crate::text::quote_path;
use imara_diff::{Algorithm, Diff, InternedInput};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;

/// Lines of context around a change, as `git diff` shows it. It also decides what one hunk
/// is (`hunks`): changes closer than twice this are one hunk.
pub const CONTEXT: usize = 3;

/// Ids to show on a diff's `@@` lines (`@@ -1,4 +1,5 @@ hunk 3fa2b1c0`): per path, each
/// hunk's id and its changed lines (`+line`, `-line`). A `@@` hunk of the diff carries the
/// ids of the hunks whose changed lines are all among its own, so the marks hold when the
/// diff is against files that moved on since the fork.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    by_path: HashMap<Vec<u8>, PathMarks>,
}

#[derive(Debug, Clone, Default)]
struct PathMarks {
    /// (id, changed lines), in the order added.
    hunks: Vec<(String, Vec<String>)>,
    /// The hunks by their first changed line: a hunk can be among a diff hunk's lines only
    /// if its first line is, so only those are tried (a file of 1,000 hunks would otherwise
    /// try every hunk for each of its 1,000 diff hunks).
    by_first: HashMap<String, Vec<usize>>,
}

impl Marks {
    pub fn add(&mut self, path: &[u8], id: &str, changed: &[String]) {
        if let Some(first) = changed.first() {
            let marks = self.by_path.entry(path.to_vec()).or_default();
            marks
                .by_first
                .entry(first.clone())
                .or_default()
                .push(marks.hunks.len());
            marks.hunks.push((id.to_string(), changed.to_vec()));
        }
    }

    /// Whether any hunk of `path` is marked.
    fn has(&self, path: &[u8]) -> bool {
        self.by_path.contains_key(path)
    }

    /// The ids of the not yet `used` hunks of `path` whose changed lines are all in `lines`,
    /// taken in the order they were added, each taking its lines from those left.
    fn take(&self, path: &[u8], lines: &[String], used: &mut HashSet<usize>) -> Vec<&str> {
        let Some(marks) = self.by_path.get(path) else {
            return Vec::new();
        };
        let mut have: HashMap<&str, usize> = HashMap::new();
        for l in lines {
            *have.entry(l.as_str()).or_default() += 1;
        }
        let mut candidates: Vec<usize> = have
            .keys()
            .filter_map(|l| marks.by_first.get(*l))
            .flatten()
            .copied()
            .filter(|i| !used.contains(i))
            .collect();
        candidates.sort_unstable();
        let mut ids = Vec::new();
        for i in candidates {
            let (id, changed) = &marks.hunks[i];
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
                used.insert(i);
                ids.push(id.as_str());
            }
        }
        ids
    }
}

/// Lines as editors (LSP) cut them: each ends at `\n`, `\r\n` or a lone `\r`, its ending
/// kept; the last one may have none.
pub fn split_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
    let mut start = 0;
    let mut i = 0;
    while let Some(k) = memchr::memchr2(b'\n', b'\r', &bytes[i..]) {
        let at = i + k;
        let end = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
            at + 2
        } else {
            at + 1
        };
        lines.push(&text[start..end]);
        start = end;
        i = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Old lines `old` replaced by new lines `new` (0-based line indices; either may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    pub old: Range<usize>,
    pub new: Range<usize>,
}

/// Changes close enough to show as one `@@` hunk: the lines it covers on each side, context
/// included, and its changes (indices into [`LineDiff::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub old: Range<usize>,
    pub new: Range<usize>,
    pub changes: Range<usize>,
}

/// The line diff of two texts: imara-diff's Myers with git's indent heuristic for where an
/// ambiguous change goes.
pub struct LineDiff<'a> {
    pub old: Vec<&'a str>,
    pub new: Vec<&'a str>,
    pub changes: Vec<LineChange>,
}

impl<'a> LineDiff<'a> {
    pub fn new(old: &'a str, new: &'a str) -> LineDiff<'a> {
        let (old, new) = (split_lines(old), split_lines(new));
        let mut input = InternedInput::default();
        input.update_before(old.iter().copied());
        input.update_after(new.iter().copied());
        let mut diff = Diff::compute(Algorithm::Myers, &input);
        diff.postprocess_lines(&input);
        let changes = diff
            .hunks()
            .map(|h| LineChange {
                old: h.before.start as usize..h.before.end as usize,
                new: h.after.start as usize..h.after.end as usize,
            })
            .collect();
        LineDiff { old, new, changes }
    }

    /// The changes grouped as `git diff` groups them with `context` lines around each:
    /// changes at most twice `context` lines apart share a hunk.
    pub fn groups(&self, context: usize) -> Vec<Group> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut prev_end = 0;
        while i < self.changes.len() {
            let mut j = i;
            while j + 1 < self.changes.len()
                && self.changes[j + 1].old.start - self.changes[j].old.end <= 2 * context
            {
                j += 1;
            }
            let (first, last) = (&self.changes[i], &self.changes[j]);
            let lead = (first.old.start - prev_end).min(context);
            let next = self
                .changes
                .get(j + 1)
                .map_or(self.old.len(), |c| c.old.start);
            let trail = (next - last.old.end).min(context);
            out.push(Group {
                old: first.old.start - lead..last.old.end + trail,
                new: first.new.start - lead..last.new.end + trail,
                changes: i..j + 1,
            });
            prev_end = last.old.end;
            i = j + 1;
        }
        out
    }

    /// The `@@ -1,4 +1,5 @@` line of a group (no newline).
    pub fn header(&self, g: &Group) -> String {
        format!("@@ -{} +{} @@", Span(&g.old), Span(&g.new))
    }

    /// A group's lines as a unified diff shows them (` `, `-`, `+`), each on its own line,
    /// a line without an ending followed by `\ No newline at end of file`.
    pub fn write_lines(&self, out: &mut String, g: &Group) {
        let line = |out: &mut String, tag: char, l: &str| {
            out.push(tag);
            out.push_str(l);
            if !l.ends_with(['\n', '\r']) {
                out.push_str("\n\\ No newline at end of file\n");
            }
        };
        let mut at = g.old.start;
        for c in &self.changes[g.changes.clone()] {
            for l in &self.old[at..c.old.start] {
                line(out, ' ', l);
            }
            for l in &self.old[c.old.clone()] {
                line(out, '-', l);
            }
            for l in &self.new[c.new.clone()] {
                line(out, '+', l);
            }
            at = c.old.end;
        }
        for l in &self.old[at..g.old.end] {
            line(out, ' ', l);
        }
    }

    /// A group's changed lines, `-line` then `+line` per change: what marks match.
    pub fn changed(&self, g: &Group) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.changes[g.changes.clone()] {
            out.extend(self.old[c.old.clone()].iter().map(|l| format!("-{l}")));
            out.extend(self.new[c.new.clone()].iter().map(|l| format!("+{l}")));
        }
        out
    }

    /// (additions, deletions) of a group.
    pub fn counts(&self, g: &Group) -> (usize, usize) {
        self.changes[g.changes.clone()]
            .iter()
            .fold((0, 0), |(a, d), c| (a + c.new.len(), d + c.old.len()))
    }
}

/// A `@@` range: 1-based start and count, the count left out when 1, the start the line
/// before when the count is 0.
struct Span<'r>(&'r Range<usize>);

impl std::fmt::Display for Span<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.len() {
            1 => write!(f, "{}", self.0.start + 1),
            0 => write!(f, "{},0", self.0.start),
            n => write!(f, "{},{n}", self.0.start + 1),
        }
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
            let ld = LineDiff::new(o, n);
            let (mut adds, mut dels) = (0, 0);
            let mut used = HashSet::new();
            let marked = marks.has(path);
            for (i, g) in ld.groups(CONTEXT).iter().enumerate() {
                if i == 0 {
                    let _ = writeln!(diff, "--- {a}\n+++ {b}");
                }
                let (ga, gd) = ld.counts(g);
                adds += ga;
                dels += gd;
                diff.push_str(&ld.header(g));
                if marked {
                    let ids = marks.take(path, &ld.changed(g), &mut used);
                    if !ids.is_empty() {
                        let _ = write!(diff, " hunk {}", ids.join(","));
                    }
                }
                diff.push('\n');
                ld.write_lines(diff, g);
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

    use crate::test_rng::Rng;

    /// An old text and a new one made from it by random deletions, insertions and
    /// replacements; `unique`: every line different (then the diff is unambiguous).
    fn texts(rng: &mut Rng, unique: bool) -> (String, String) {
        let ending = ["\n", "\r\n", "\r"][rng.below(3) as usize];
        let n = rng.below(60) as usize;
        let line = |rng: &mut Rng, tag: &str, i: usize| {
            if unique {
                format!("{tag} {i}{ending}")
            } else {
                format!(
                    "{}{ending}",
                    ["a", "b", "}", "", "    x"][rng.below(5) as usize]
                )
            }
        };
        let old: Vec<String> = (0..n).map(|i| line(rng, "old", i)).collect();
        let mut new = Vec::new();
        for (i, l) in old.iter().enumerate() {
            match rng.below(10) {
                0 => {}
                1 => new.push(line(rng, "new", i)),
                2 => {
                    new.push(line(rng, "new", i));
                    new.push(l.clone());
                }
                _ => new.push(l.clone()),
            }
        }
        let (mut old, mut new) = (old.concat(), new.concat());
        // Sometimes no ending on the last line, on either side.
        if rng.below(4) == 0 && old.ends_with(ending) {
            old.truncate(old.len() - ending.len());
        }
        if rng.below(4) == 0 && new.ends_with(ending) {
            new.truncate(new.len() - ending.len());
        }
        (old, new)
    }

    fn unified(ld: &LineDiff) -> String {
        let mut out = String::new();
        for g in ld.groups(CONTEXT) {
            out.push_str(&ld.header(&g));
            out.push('\n');
            ld.write_lines(&mut out, &g);
        }
        out
    }

    #[test]
    fn hunks_print_byte_for_byte_as_similar_printed_them() {
        // With every line different there is one right diff, whatever the algorithm: then
        // the hunks, their grouping, `@@` numbers and "No newline" notes must be similar's
        // (what diff and hunks used before imara-diff), so hunk ids did not change.
        let mut rng = Rng(7);
        for _ in 0..500 {
            let (old, new) = texts(&mut rng, true);
            let theirs = similar::TextDiff::from_lines(&old, &new)
                .unified_diff()
                .context_radius(CONTEXT)
                .to_string();
            assert_eq!(
                unified(&LineDiff::new(&old, &new)),
                theirs,
                "{old:?} -> {new:?}"
            );
        }
    }

    #[test]
    fn changes_turn_the_old_text_into_the_new_one() {
        let mut rng = Rng(11);
        for unique in [false, true] {
            for _ in 0..500 {
                let (old, new) = texts(&mut rng, unique);
                let ld = LineDiff::new(&old, &new);
                assert_eq!(ld.old.concat(), old);
                let mut out = String::new();
                let mut at = 0;
                for c in &ld.changes {
                    out.push_str(&ld.old[at..c.old.start].concat());
                    out.push_str(&ld.new[c.new.clone()].concat());
                    at = c.old.end;
                }
                out.push_str(&ld.old[at..].concat());
                assert_eq!(out, new, "{old:?} -> {new:?}");
                // Groups cover every change once, in order, with the context within bounds.
                let groups = ld.groups(CONTEXT);
                let covered: Vec<usize> = groups.iter().flat_map(|g| g.changes.clone()).collect();
                assert_eq!(covered, (0..ld.changes.len()).collect::<Vec<_>>());
                for g in &groups {
                    assert!(g.old.end <= ld.old.len() && g.new.end <= ld.new.len());
                }
            }
        }
    }

    #[test]
    fn lines_end_where_editors_end_them() {
        assert_eq!(split_lines("a\nb\r\nc\rd"), ["a\n", "b\r\n", "c\r", "d"]);
        assert_eq!(split_lines(""), Vec::<&str>::new());
        assert_eq!(split_lines("\r\r\n\n"), ["\r", "\r\n", "\n"]);
        assert_eq!(split_lines("x\u{2028}y\u{0C}"), ["x\u{2028}y\u{0C}"]);
    }

    #[test]
    fn marks_find_each_hunk_once_among_many() {
        let mut m = Marks::default();
        let sig = |i: usize| vec![format!("-line {i}\n"), format!("+line {i} changed\n")];
        for i in 0..1000 {
            m.add(b"f", &format!("id{i}"), &sig(i));
        }
        let mut used = HashSet::new();
        // A diff hunk holding hunks 5 and 7 (and a line of its own) carries both ids.
        let mut lines = sig(7);
        lines.extend(sig(5));
        lines.push("+mine\n".into());
        assert_eq!(m.take(b"f", &lines, &mut used), ["id5", "id7"]);
        assert!(m.take(b"f", &sig(5), &mut used).is_empty(), "used once");
        assert_eq!(m.take(b"f", &sig(999), &mut used), ["id999"]);
        assert!(m.take(b"g", &sig(1), &mut used).is_empty());
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
