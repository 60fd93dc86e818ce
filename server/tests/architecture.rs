//! The architecture (docs/architecture.md), checked mechanically on the source files under
//! `server/src/`:
//!
//! 1. **No LSP type outside `src/lsp/`**: no path through an LSP crate (`tower_lsp_server`,
//!    `ls_types`, `lsp_types`, ..., and any dependency in Cargo.toml whose name holds `lsp`)
//!    in any other file.
//! 2. **Nothing prints outside `src/cli/` and `src/main.rs`**: no `print!`, `println!`,
//!    `eprint!`, `eprintln!` or `dbg!`, and no handle to the process's stdout or stderr
//!    (`io::stdout`, `io::stderr`, also tokio's), except the entries of [`ALLOWED_STDIO`],
//!    each with its reason and its exact count.
//! 3. **No import circles among the engine modules** (every module under `src/` but `cli/`
//!    and `lsp/`; a folder module such as `tasks/` is one node): module `a` depends on `b` for
//!    every `use crate::b...` (grouped imports `use crate::{b, c::d}` too) and every path
//!    `crate::b::...` in code. `#[cfg(test)]` modules are skipped: unit tests may use what
//!    they test with, and that is no part of the layering. The engine never imports a front
//!    end either.
//!
//! [`KNOWN_CIRCLES`] lists the circles allowed for now, each to be fixed. The test fails on
//! any other circle, reported as `a -> b -> c -> a`, and also when a known circle is gone (or
//! changed), so that the list only shrinks: when a circle is fixed, delete its entry; never
//! add one.
//!
//! Comments and string literals are blanked before anything is looked for, so a doc comment
//! about `println!` or a string holding `crate::x` counts for nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// Circles among engine modules that exist today and are being removed (issue 11), each as
/// the set of modules in one circle. Nothing may be added here.
const KNOWN_CIRCLES: &[&[&str]] = &[];

/// Handles to stdout/stderr outside the front ends that are not printing, each with how many
/// times it occurs in its file (exactly), and why.
const ALLOWED_STDIO: &[(&str, &str, usize, &str)] = &[
    (
        "supervisor.rs",
        "::stdout",
        1,
        "announce_ready: the supervisor's stdout is a pipe to the process that started it \
         (supervisor::spawn reads one line, `ready`), then pointed at /dev/null; never a reader's",
    ),
    (
        "lsp/mod.rs",
        "::stdout",
        1,
        "the language server's stdout carries the protocol (transport::serve), nothing else",
    ),
    (
        "lsp/mod.rs",
        "::stderr",
        1,
        "tracing's writer: the language server logs to stderr (and its log file)",
    ),
];

/// LSP crates, whether or not they are dependencies today (Cargo.toml's are added).
const LSP_CRATES: &[&str] = &[
    "tower_lsp",
    "tower_lsp_server",
    "lsp_types",
    "ls_types",
    "lsp_server",
    "async_lsp",
];

const PRINT_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

const FRONT_ENDS: &[&str] = &["cli", "lsp"];

// ---------------------------------------------------------------------------------------------
// The checks on the real tree

#[test]
fn no_lsp_type_outside_lsp() {
    let crates = lsp_crates(&std::fs::read_to_string(manifest_dir().join("Cargo.toml")).unwrap());
    let found = lsp_uses(&sources(), &crates);
    assert!(
        found.is_empty(),
        "LSP types outside src/lsp/ (the engine and the CLI know nothing of LSP):\n{}",
        found.join("\n")
    );
}

#[test]
fn nothing_prints_outside_the_cli() {
    let problems = printing(&sources(), ALLOWED_STDIO);
    assert!(
        problems.is_empty(),
        "printing outside src/cli/ and src/main.rs (return the text, or log with tracing):\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_import_circles_among_engine_modules() {
    let files = sources();
    let graph = engine_graph(&files);
    let mut problems = front_end_imports(&files);
    problems.extend(circle_problems(&graph, KNOWN_CIRCLES));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `src/`: (path relative to `src/` with '/' separators, text).
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<_> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect();
                out.push((rel.join("/"), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let root = manifest_dir().join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    assert!(out.iter().any(|(p, _)| p == "lib.rs"), "src/lib.rs read");
    out
}

// ---------------------------------------------------------------------------------------------
// What each check finds

/// The module a file belongs to: its first path component without `.rs` (`tasks/lexer.rs` is
/// `tasks`); None for the crate roots.
fn module_of(path: &str) -> Option<&str> {
    let first = path.split('/').next().unwrap();
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (!matches!(name, "lib" | "main")).then_some(name)
}

fn is_engine(path: &str) -> bool {
    module_of(path).is_some_and(|m| !FRONT_ENDS.contains(&m))
}

/// The LSP crates to look for: [`LSP_CRATES`] and every dependency of the manifest whose name
/// holds `lsp` (as a Rust identifier).
fn lsp_crates(manifest: &str) -> BTreeSet<String> {
    let mut crates: BTreeSet<String> = LSP_CRATES.iter().map(|c| c.to_string()).collect();
    let mut in_dependencies = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        } else if line.starts_with('[') {
            in_dependencies = line.trim_matches(['[', ']']).ends_with("dependencies");
        } else if let Some((name, _)) = line.split_once('=').filter(|_| in_dependencies) {
            let name = name.trim().replace('-', "_");
            if name.contains("lsp") {
                crates.insert(name);
            }
        }
    }
    crates
}

/// `file:line: crate` for each mention of an LSP crate outside `lsp/`.
fn lsp_uses(files: &[(String, String)], crates: &BTreeSet<String>) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in files.iter().filter(|(p, _)| module_of(p) != Some("lsp")) {
        let code = blank_comments_and_strings(text);
        for (at, word) in identifiers(&code) {
            if crates.contains(word) {
                found.push(format!("src/{path}:{}: {word}", line_of(&code, at)));
            }
        }
    }
    found
}

/// Printing outside `cli/` and `main.rs`: each print macro, and each stdout/stderr handle
/// beyond `allowed` (or an allowed count that is no longer right).
fn printing(files: &[(String, String)], allowed: &[(&str, &str, usize, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        if path == "main.rs" || module_of(path) == Some("cli") {
            continue;
        }
        let code = blank_comments_and_strings(text);
        for (at, word) in identifiers(&code) {
            let invoked = code[at + word.len()..]
                .trim_start()
                .strip_prefix('!')
                .is_some_and(|a| a.trim_start().starts_with(['(', '[', '{']));
            if PRINT_MACROS.contains(&word) && invoked {
                problems.push(format!("src/{path}:{}: {word}!", line_of(&code, at)));
            }
        }
        for (what, at) in &stdio_handles(&code) {
            let allowed_count = allowed
                .iter()
                .find(|(p, w, _, _)| p == path && w == what)
                .map(|(_, _, n, _)| *n);
            if allowed_count != Some(at.len()) {
                let lines: Vec<String> =
                    at.iter().map(|&a| line_of(&code, a).to_string()).collect();
                problems.push(format!(
                    "src/{path}:{}: {what} ({} in the file, allowed: {})",
                    lines.join(","),
                    at.len(),
                    allowed_count.unwrap_or(0)
                ));
            }
        }
    }
    for (path, what, count, _) in allowed {
        let still = files.iter().any(|(p, text)| {
            p == path && stdio_handles(&blank_comments_and_strings(text)).contains_key(what)
        });
        if !still {
            problems.push(format!(
                "src/{path}: no {what} any more: remove it from ALLOWED_STDIO (was {count})"
            ));
        }
    }
    problems
}

/// The offsets of each kind of stdout/stderr handle in `code`: a path ending in `stdout` or
/// `stderr` (`std::io::stdout()`, `tokio::io::stderr()`, `io::Stdout`), not a method or a
/// field (`command.stdout(...)`, `child.stdout`).
fn stdio_handles(code: &str) -> BTreeMap<&'static str, Vec<usize>> {
    let mut handles: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (at, word) in identifiers(code) {
        if !code[..at].trim_end().ends_with("::") {
            continue;
        }
        match word {
            "stdout" | "Stdout" => handles.entry("::stdout").or_default().push(at),
            "stderr" | "Stderr" => handles.entry("::stderr").or_default().push(at),
            _ => {}
        }
    }
    handles
}

/// Engine files that import a front end.
fn front_end_imports(files: &[(String, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files.iter().filter(|(p, _)| is_engine(p)) {
        for m in crate_imports(&skip_test_modules(&blank_comments_and_strings(text))) {
            if FRONT_ENDS.contains(&m.as_str()) {
                problems.push(format!("src/{path} imports the front end `{m}`"));
            }
        }
    }
    problems
}

/// Engine module -> the engine modules it imports (itself left out).
fn engine_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in files.iter().filter(|(p, _)| is_engine(p)) {
        let module = module_of(path).unwrap().to_string();
        let code = skip_test_modules(&blank_comments_and_strings(text));
        let imports = crate_imports(&code);
        graph.entry(module.clone()).or_default().extend(imports);
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for (module, deps) in graph.iter_mut() {
        deps.retain(|d| d != module && modules.contains(d));
    }
    graph
}

/// What is wrong with the circles of `graph`, given the known ones.
fn circle_problems(graph: &BTreeMap<String, BTreeSet<String>>, known: &[&[&str]]) -> Vec<String> {
    let groups = circles(graph);
    let known: Vec<BTreeSet<String>> = known
        .iter()
        .map(|c| c.iter().map(|m| m.to_string()).collect())
        .collect();
    let mut problems = Vec::new();
    for group in &groups {
        if !known.contains(group) {
            let names: Vec<&str> = group.iter().map(String::as_str).collect();
            problems.push(format!(
                "import circle: {} (modules in this circle: {})",
                shortest_cycle(graph, group).join(" -> "),
                names.join(", ")
            ));
        }
    }
    for circle in &known {
        if !groups.contains(circle) {
            let names: Vec<&str> = circle.iter().map(String::as_str).collect();
            problems.push(format!(
                "the known circle {} is gone or changed: update KNOWN_CIRCLES",
                names.join(" <-> ")
            ));
        }
    }
    problems
}

/// The modules of each circle: the strongly connected components of more than one module.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reaches = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&str, BTreeSet<String>> =
        graph.keys().map(|m| (m.as_str(), reaches(m))).collect();
    let mut groups: Vec<BTreeSet<String>> = Vec::new();
    for m in graph.keys() {
        if groups.iter().any(|g| g.contains(m)) || !reach[m.as_str()].contains(m) {
            continue;
        }
        let group: BTreeSet<String> = reach[m.as_str()]
            .iter()
            .filter(|other| reach[other.as_str()].contains(m))
            .cloned()
            .collect();
        groups.push(group);
    }
    groups
}

/// A shortest cycle through the first module of `group`, as `[a, b, c, a]`.
fn shortest_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    group: &BTreeSet<String>,
) -> Vec<String> {
    let start = group.iter().next().unwrap();
    let mut previous: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([start.as_str()]);
    while let Some(m) = queue.pop_front() {
        for d in graph[m].iter().filter(|d| group.contains(*d)) {
            if d == start {
                let mut path = vec![start.clone()];
                let mut at = m;
                while at != start {
                    path.push(at.to_string());
                    at = previous[at];
                }
                path.push(start.clone());
                path.reverse();
                return path;
            }
            if !previous.contains_key(d.as_str()) {
                previous.insert(d, m);
                queue.push_back(d);
            }
        }
    }
    unreachable!("{start} is in a circle")
}

// ---------------------------------------------------------------------------------------------
// Reading Rust, roughly but safely

/// The crate modules `code` (comments and strings blanked) names: `crate::x` in paths and
/// `use` lines, and each first name of a group `crate::{x, y::z}`.
fn crate_imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, word) in identifiers(code) {
        if word != "crate" {
            continue;
        }
        let Some(rest) = code[at + word.len()..].trim_start().strip_prefix("::") else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..matching_brace(group)];
            for item in split_top_level(inner) {
                if let Some((_, first)) = identifiers(item).next() {
                    if first != "self" {
                        found.insert(first.to_string());
                    }
                }
            }
        } else if let Some((0, name)) = identifiers(rest).next() {
            found.insert(name.to_string());
        }
    }
    found
}

/// The length of `s` up to the `}` closing a `{` just before it.
fn matching_brace(s: &str) -> usize {
    let mut depth = 1;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// `s` split at the commas outside braces.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut from) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[from..]);
    parts
}

/// Every identifier (or keyword) of `code` with its byte offset; `r#raw` ones without `r#`.
fn identifiers(code: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = code.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let b = bytes[i];
            if is_ident(b) && !b.is_ascii_digit() {
                let start = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                return Some((start, &code[start..i]));
            }
            if b.is_ascii_digit() {
                // A number (its suffix, `1u8`, is not an identifier).
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        None
    })
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

/// `code` with every `#[cfg(test)] mod x { ... }` blanked (comments and strings already are).
fn skip_test_modules(code: &str) -> String {
    let mut out = code.to_string();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let start = from + found;
        let after = start + "#[cfg(test)]".len();
        // Past any further attributes (`#[allow(...)]`) to the item.
        let mut item_at = after;
        loop {
            let rest = &out[item_at..];
            item_at += rest.len() - rest.trim_start().len();
            if !out[item_at..].starts_with("#[") {
                break;
            }
            item_at += out[item_at..]
                .find(']')
                .map_or(out.len() - item_at, |i| i + 1);
        }
        let item = &out[item_at..];
        let is_module = item
            .strip_prefix("pub ")
            .unwrap_or(item)
            .trim_start()
            .strip_prefix("mod ")
            .is_some();
        let open = out[item_at..].find(['{', ';']).map(|i| item_at + i);
        match open {
            Some(open) if is_module && out.as_bytes()[open] == b'{' => {
                // Up to and with the closing brace (or the end, if it is missing).
                let close = open + 1 + matching_brace(&out[open + 1..]);
                let end = (close + 1).min(out.len());
                let blank: String = out[start..end]
                    .chars()
                    .map(|c| if c == '\n' { '\n' } else { ' ' })
                    .collect();
                out.replace_range(start..end, &blank);
                from = start + blank.len();
            }
            _ => from = after,
        }
    }
    out
}

/// `text` with comments, string literals and character literals replaced by spaces (line
/// breaks kept, so offsets and lines stay). Lifetimes and labels (`'a`) stay.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident(chars[i - 1]);
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i).filter(|_| !prev_ident) {
            // r"..." / r#"..."# / br#"..."#: up to the quote followed by as many hashes.
            let open = chars[i..].iter().position(|&c| c == '"').unwrap() + i;
            for &c in &chars[i..=open] {
                blank(&mut out, c);
            }
            i = open + 1;
            while i < chars.len() {
                let closes =
                    chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                if closes {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' && !prev_ident {
            // A character literal ('x', '\n', '\u{1F600}', '\''), or a lifetime/label.
            let len = if next == Some('\\') {
                // After the backslash, at least one character, then the closing quote.
                let after = chars.get(i + 3..).unwrap_or_default();
                after
                    .iter()
                    .take(12)
                    .position(|&c| c == '\'')
                    .map(|p| p + 4)
            } else {
                (chars.get(i + 2) == Some(&'\'')).then_some(3)
            };
            match len {
                Some(len) => {
                    for &c in &chars[i..i + len] {
                        blank(&mut out, c);
                    }
                    i += len;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// If a raw string starts at `i` (`r"`, `r#"`, `br##"`...), its number of hashes.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars.get(j) == Some(&'b') || chars.get(j) == Some(&'c') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

// ---------------------------------------------------------------------------------------------
// The checker itself, on small made-up trees

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn imports_are_read_from_use_lines_groups_and_paths() {
    let code = blank_comments_and_strings(
        "use crate::a::X;\n\
         pub(crate) use crate::{b, c::{D, E}, self};\n\
         fn f() { crate::d::g(); let s = \"crate::e::h\"; } // crate::f\n\
         /* crate::g /* nested */ crate::h */ const C: char = '\"'; fn i<'a>(x: &'a str) { crate::i::j(x) }\n\
         const R: &str = r#\"crate::k \"quoted\" \"#; struct S(crate::l::T);\n",
    );
    let found: Vec<String> = crate_imports(&code).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "d", "i", "l"]);
}

#[test]
fn test_modules_are_skipped() {
    let code = skip_test_modules(&blank_comments_and_strings(
        "use crate::a;\n#[cfg(test)]\nmod tests {\n    use crate::b;\n    fn f() { if true { crate::c::d() } }\n}\n\
         fn g() { crate::e::f() }\n#[cfg(test)]\n#[allow(dead_code)]\nmod more { use crate::f; }\n\
         #[cfg(test)]\nfn helper() { crate::g::h(); let c = '\\''; }\n",
    ));
    let found: Vec<String> = crate_imports(&code).into_iter().collect();
    assert_eq!(found, ["a", "e", "g"]);
}

#[test]
fn circles_are_reported_as_paths_and_known_ones_must_still_exist() {
    let files = tree(&[
        ("a.rs", "use crate::b::X;"),
        ("b.rs", "fn f() { crate::c::g() }"),
        ("c.rs", "use crate::{a, d};"),
        ("d.rs", "use crate::e;"),
        ("e.rs", "use crate::d;"),
        ("f/mod.rs", "mod g;"),
        ("f/g.rs", "use crate::a; use super::h;"),
        ("cli/mod.rs", "use crate::a;"),
        ("lib.rs", "pub mod a;"),
    ]);
    let graph = engine_graph(&files);
    assert_eq!(
        graph.len(),
        6,
        "f/ is one node, cli/ and lib.rs none: {graph:?}"
    );
    assert_eq!(
        circle_problems(&graph, &[&["d", "e"], &["x", "y"]]),
        [
            "import circle: a -> b -> c -> a (modules in this circle: a, b, c)",
            "the known circle x <-> y is gone or changed: update KNOWN_CIRCLES",
        ]
    );
    assert!(circle_problems(&graph, &[&["a", "b", "c"], &["d", "e"]]).is_empty());
}

#[test]
fn the_engine_may_not_import_a_front_end() {
    let files = tree(&[
        ("a.rs", "fn f() { crate::lsp::x() }"),
        ("lsp/mod.rs", "use crate::a;"),
    ]);
    assert_eq!(
        front_end_imports(&files),
        ["src/a.rs imports the front end `lsp`"]
    );
}

#[test]
fn printing_and_lsp_types_are_found_outside_their_places() {
    let files = tree(&[
        (
            "a.rs",
            "fn f() {\n    println!(\"x\");\n    // eprintln!(\"in a comment\")\n}\n",
        ),
        (
            "b.rs",
            "fn f() { let _ = std::io::stderr(); child.stdout.take(); cmd.stdout(x); }",
        ),
        ("c.rs", "fn f() { let _ = tokio::io::stdout(); }"),
        ("cli/mod.rs", "fn f() { println!(\"fine\"); }"),
        ("main.rs", "fn main() { eprintln!(\"fine\"); }"),
        (
            "d.rs",
            "use tower_lsp_server::ls_types::Url; const S: &str = \"lsp_types\";",
        ),
        (
            "lsp/server.rs",
            "use tower_lsp_server::LanguageServer; fn f() { dbg!(1); }",
        ),
    ]);
    assert_eq!(
        printing(
            &files,
            &[
                ("c.rs", "::stdout", 1, "why"),
                ("e.rs", "::stdout", 1, "gone")
            ]
        ),
        [
            "src/a.rs:2: println!",
            "src/b.rs:1: ::stderr (1 in the file, allowed: 0)",
            "src/lsp/server.rs:1: dbg!",
            "src/e.rs: no ::stdout any more: remove it from ALLOWED_STDIO (was 1)",
        ]
    );
    let crates =
        lsp_crates("[dependencies]\nfoo = \"1\"\nmy-lsp-kit = \"2\"\n[dev-dependencies]\n");
    assert!(crates.contains("my_lsp_kit") && !crates.contains("foo"));
    assert_eq!(
        lsp_uses(&files, &crates),
        ["src/d.rs:1: tower_lsp_server", "src/d.rs:1: ls_types"]
    );
}
