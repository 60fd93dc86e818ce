//! A task list (TASKS.md) as a plan: its checkbox items, what each says below its line, and
//! the order they depend on (`after:`); and checking an item's box.
//!
//! The format, as `fanout plan` asks a lead to write it and as people write it by hand:
//!
//! ```markdown
//! ## Game engine
//!
//! - [ ] MCTS search
//!   Done when: `cargo test mcts` passes; 1,000 playouts under a second.
//!   Touches: src/mcts.rs (new), `pub fn search(&State) -> Move`
//! - [ ] Self-play loop
//!   after: MCTS search, Network
//! ```
//!
//! An item is a `- [ ]` line (or `* [ ]`, `+ [ ]`; `[x]` when done); the lines below it up to
//! the next item or heading are its body. A body line (or the end of the item's own line, in
//! parentheses) `after: A, B` names the items it depends on, each by its title (or the start
//! of it, letter case and punctuation aside) or by its number in the list (`after: 1`).

use crate::error::{Error, Result};

/// One checkbox item of a task list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// 1-based line of its checkbox.
    pub line: usize,
    /// Its text after the checkbox, without an inline `(after: ...)`.
    pub title: String,
    pub checked: bool,
    /// The lines below it (acceptance criteria, files it touches), trimmed.
    pub body: Vec<String>,
    /// What its `after:` says, one entry per name, as written.
    pub after_names: Vec<String>,
    /// The items it depends on, as indices into the list (resolved by [`parse`]).
    pub after: Vec<usize>,
}

/// Every checkbox item of `text`, with dependencies resolved. An `after:` naming no item, or a
/// circle of dependencies, is an error naming the line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Item>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut items: Vec<Item> = Vec::new();
    let mut in_fence = false;
    // Whether lines now belong to the last item (a heading ends it).
    let mut in_item = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some((checked, rest)) = checkbox(line) {
            let (title, inline) = split_inline_after(rest);
            items.push(Item {
                line: i + 1,
                title: title.to_string(),
                checked,
                body: Vec::new(),
                after_names: inline.map(names).unwrap_or_default(),
                after: Vec::new(),
            });
            in_item = true;
            continue;
        }
        if trimmed.starts_with('#') {
            in_item = false;
            continue;
        }
        let Some(item) = items.last_mut().filter(|_| in_item && !trimmed.is_empty()) else {
            continue;
        };
        if let Some(list) = after_line(trimmed) {
            item.after_names.extend(names(list));
        } else {
            item.body.push(trimmed.to_string());
        }
    }
    resolve(file, &mut items)?;
    Ok(items)
}

/// `- [ ] text` → (false, "text"); `- [x] text` → (true, "text").
fn checkbox(line: &str) -> Option<(bool, &str)> {
    let rest = line.trim_start();
    let rest = ["- [", "* [", "+ ["]
        .iter()
        .find_map(|p| rest.strip_prefix(p))?;
    let mut chars = rest.chars();
    let mark = chars.next()?;
    let rest = chars.as_str().strip_prefix(']')?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    match mark {
        ' ' => Some((false, rest.trim())),
        'x' | 'X' => Some((true, rest.trim())),
        _ => None,
    }
}

/// An item's title from its text after the checkbox: without an inline `(after: ...)`.
pub fn title_of(text: &str) -> String {
    split_inline_after(text.trim()).0.to_string()
}

/// "Self-play (after: MCTS)" → ("Self-play", Some("MCTS")).
fn split_inline_after(text: &str) -> (&str, Option<&str>) {
    if let Some(open) = text.rfind('(') {
        if let Some(inner) = text[open + 1..].strip_suffix(')') {
            if let Some(list) = after_line(inner.trim()) {
                return (text[..open].trim_end(), Some(list));
            }
        }
    }
    (text, None)
}

/// The list of an `after: A, B` (or `depends on: ...`) line, if it is one.
fn after_line(line: &str) -> Option<&str> {
    let line = line.trim_start_matches(['-', '*', '+', ' ']);
    let lower = line.to_ascii_lowercase();
    ["after:", "depends on:", "after"]
        .iter()
        .find(|p| lower.starts_with(*p) && (p.ends_with(':') || lower[p.len()..].starts_with(':')))
        .map(|p| {
            let rest = &line[p.len()..];
            rest.strip_prefix(':').unwrap_or(rest).trim()
        })
}

fn names(list: &str) -> Vec<String> {
    list.split([',', ';'])
        .map(|n| n.trim().trim_matches('`').trim().to_string())
        .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("none") && n != "-")
        .collect()
}

/// Lower case letters and digits, single spaces: for matching names as people write them.
fn normalized(text: &str) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_lowercase());
    }
    out
}

fn resolve(file: &str, items: &mut [Item]) -> Result<()> {
    let titles: Vec<String> = items.iter().map(|i| normalized(&i.title)).collect();
    for k in 0..items.len() {
        let mut after = Vec::new();
        for name in items[k].after_names.clone() {
            let wanted = normalized(name.trim_start_matches('#'));
            let by_number = wanted
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=items.len()).contains(n))
                .map(|n| n - 1);
            let by_title = titles.iter().position(|t| *t == wanted).or_else(|| {
                let starting: Vec<usize> = (0..titles.len())
                    .filter(|&j| !wanted.is_empty() && titles[j].starts_with(&wanted))
                    .collect();
                (starting.len() == 1).then(|| starting[0])
            });
            let Some(j) = by_number.or(by_title).filter(|&j| j != k) else {
                return Err(Error::Invalid(format!(
                    "{file}:{}: `after: {name}` names no other item of the list (name an item by its title, or by its number from 1)",
                    items[k].line
                )));
            };
            if !after.contains(&j) {
                after.push(j);
            }
        }
        items[k].after = after;
    }
    // A circle would wait forever.
    fn visit(
        k: usize,
        items: &[Item],
        marks: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        match marks[k] {
            2 => return None,
            1 => {
                let from = path.iter().position(|&p| p == k).unwrap_or(0);
                return Some(path[from..].to_vec());
            }
            _ => {}
        }
        marks[k] = 1;
        path.push(k);
        for &j in &items[k].after {
            if let Some(circle) = visit(j, items, marks, path) {
                return Some(circle);
            }
        }
        path.pop();
        marks[k] = 2;
        None
    }
    let mut marks = vec![0u8; items.len()];
    for k in 0..items.len() {
        if let Some(circle) = visit(k, items, &mut marks, &mut Vec::new()) {
            let lines: Vec<String> = circle
                .iter()
                .map(|&j| format!("line {} ({})", items[j].line, items[j].title))
                .collect();
            return Err(Error::Invalid(format!(
                "{file}: the items' `after:` go round in a circle: {}",
                lines.join(" → ")
            )));
        }
    }
    Ok(())
}

/// `text` with the box of the unchecked item titled `title` checked: the one on `line` if it
/// still is that item, else the nearest such item. None when no unchecked item has that title
/// (it was checked, renamed or removed since).
pub fn check_box(text: &str, line: usize, title: &str) -> Option<String> {
    let wanted = normalized(split_inline_after(title).0);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let matches = |l: &str| {
        checkbox(l).is_some_and(|(checked, rest)| {
            !checked && normalized(split_inline_after(rest).0) == wanted
        })
    };
    let at = (0..lines.len())
        .filter(|&i| matches(lines[i]))
        .min_by_key(|&i| (i + 1).abs_diff(line))?;
    let target = lines[at];
    let open = target.find('[')?;
    let mut out = String::with_capacity(text.len());
    for (i, l) in lines.iter().enumerate() {
        if i == at {
            out.push_str(&target[..open]);
            out.push_str("[x]");
            out.push_str(&target[open + 3..]);
        } else {
            out.push_str(l);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "# Plan\n\n## Engine\n\n- [ ] MCTS search\n  Done when: tests pass\n  Touches: src/mcts.rs\n- [x] Board type\n- [ ] Network (after: board)\n* [ ] Self-play loop\n  after: MCTS search, `Network`\n\n## Later\n\nNot part of any item.\n";

    #[test]
    fn items_bodies_and_dependencies() {
        let items = parse("TASKS.md", LIST).unwrap();
        let titles: Vec<&str> = items.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(
            titles,
            ["MCTS search", "Board type", "Network", "Self-play loop"]
        );
        assert_eq!(items[0].line, 5);
        assert_eq!(
            items[0].body,
            ["Done when: tests pass", "Touches: src/mcts.rs"]
        );
        assert!(items[1].checked);
        assert_eq!(items[2].after, [1]);
        assert_eq!(items[3].after, [0, 2]);
        assert!(items[3].body.is_empty(), "{:?}", items[3].body);
    }

    #[test]
    fn unknown_names_and_circles_are_errors_naming_the_line() {
        let e = parse("TASKS.md", "- [ ] a\n  after: nothing like it\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("TASKS.md:1") && e.contains("nothing like it"),
            "{e}"
        );
        let e = parse("TASKS.md", "- [ ] a\n  after: b\n- [ ] b\n  after: 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("circle"), "{e}");
        // Numbers count from 1.
        let items = parse("T.md", "- [ ] a\n- [ ] b\n  after: #1\n").unwrap();
        assert_eq!(items[1].after, [0]);
    }

    #[test]
    fn checking_a_box_finds_the_item_even_if_it_moved() {
        let text = "- [ ] one\n- [ ] two (after: one)\n";
        assert_eq!(
            check_box(text, 2, "two").unwrap(),
            "- [ ] one\n- [x] two (after: one)\n"
        );
        let moved = format!("- [ ] new first\n{text}");
        assert_eq!(
            check_box(&moved, 1, "one").unwrap(),
            "- [ ] new first\n- [x] one\n- [ ] two (after: one)\n"
        );
        assert_eq!(check_box("- [x] one\n", 1, "one"), None);
    }
}
