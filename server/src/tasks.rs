//! Finding tasks: TODO-style markers in comments and unchecked items in TASKS.md.
//!
//! A task is a line whose comment starts with `TODO`, `FIXME`, `XXX` or `HACK` (or holds one
//! written as a label, `TODO:` / `TODO(bob)`), or an unchecked `- [ ]` item in a TASKS.md file.
//! Comments are found by a small per-language lexer ([`Syntax`]) that knows line comments,
//! (possibly nested) block comments spanning lines, and string literals, so that
//! `"// TODO"` in a string is not a task. It is deliberately approximate: it never fails and
//! never needs a parser, and errs towards missing a task rather than inventing one.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::{ensure, Context};
use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkBuilder, WalkState};

/// One task found in a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Task {
    /// Path relative to the scanned root, '/' separators (or the name given to scan_text).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// "TODO", "FIXME", "XXX", "HACK", or "- [ ]" for a TASKS.md item.
    pub marker: String,
    /// The task's text after the marker, trimmed of comment closers (`*/`, `-->`) and of a
    /// leading ':' or '(owner):' etc.; may be empty.
    pub text: String,
}

impl Task {
    /// A short human label: "TODO: handle empty input".
    pub fn label(&self) -> String {
        let text = crate::labels::shorten(&self.text, LABEL_CHARS + 1);
        match (self.marker.as_str(), text.is_empty()) {
            (_, true) => self.marker.clone(),
            (CHECKBOX, false) => format!("{CHECKBOX} {text}"),
            (marker, false) => format!("{marker}: {text}"),
        }
    }
}

/// All tasks in one file's text. `file` is used for the language (by extension / file name)
/// and copied into each Task.
pub fn scan_text(file: &str, text: &str) -> Vec<Task> {
    tasks_by_line(file, text).collect()
}

/// The task on 1-based `line`, if that line holds one.
pub fn task_at(file: &str, text: &str, line: usize) -> Option<Task> {
    // Lines before `line` must still be lexed: they may open a block comment or string.
    tasks_by_line(file, text)
        .take_while(|task| task.line <= line)
        .find(|task| task.line == line)
}

/// Every task under `root`, respecting .gitignore / .ignore / git excludes, skipping binary
/// and very large files and never descending into `.git`. Sorted by file then line.
pub fn scan_tree(root: &Path) -> anyhow::Result<Vec<Task>> {
    ensure!(
        root.exists(),
        "no such file or directory: {}",
        root.display()
    );
    // Resolve symlinks and `..` once so that every walked path strips cleanly.
    let root = root
        .canonicalize()
        .with_context(|| format!("cannot read {}", root.display()))?;
    let found = Mutex::new(Vec::new());
    walker(&root).build_parallel().visit(&mut Collector {
        root: &root,
        found: &found,
    });
    let mut tasks = found.into_inner().unwrap_or_else(PoisonError::into_inner);
    tasks.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(tasks)
}

/// The marker of a TASKS.md checkbox item.
const CHECKBOX: &str = "- [ ]";
/// Comment markers, upper case only: lower-case "todo" is usually prose.
const MARKERS: [&str; 4] = ["TODO", "FIXME", "XXX", "HACK"];
/// Longer files are generated or data, not code anyone leaves TODOs in.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// How much of a file is checked for a NUL byte to call it binary (as git does).
const BINARY_PROBE_BYTES: usize = 8 << 10;
/// Version-control directories, never walked.
const VCS_DIRS: [&str; 4] = [".git", ".hg", ".svn", ".jj"];
/// Longest task text shown in a label.
const LABEL_CHARS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Tree walking

/// The walker: gitignore rules apply even outside a git repository (a checked-out tarball
/// still means them), hidden files are scanned (`.github/workflows` holds tasks too), but
/// version-control directories are not.
fn walker(root: &Path) -> WalkBuilder {
    let mut builder = WalkBuilder::new(root);
    builder
        .hidden(false)
        .require_git(false)
        .follow_links(false)
        .filter_entry(|entry| !VCS_DIRS.iter().any(|dir| entry.file_name() == *dir));
    builder
}

/// Hands each walker thread a [`FileScanner`] that writes into the shared result.
struct Collector<'a> {
    root: &'a Path,
    found: &'a Mutex<Vec<Task>>,
}

impl<'a> ParallelVisitorBuilder<'a> for Collector<'a> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 'a> {
        Box::new(FileScanner {
            root: self.root,
            found: self.found,
            local: Vec::new(),
        })
    }
}

/// Scans the files one walker thread is given. Tasks are kept locally and handed over once,
/// when the thread is done, so threads never contend for the lock per file.
struct FileScanner<'a> {
    root: &'a Path,
    found: &'a Mutex<Vec<Task>>,
    local: Vec<Task>,
}

impl ParallelVisitor for FileScanner<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        // An unreadable entry (permissions, a file deleted mid-walk) is skipped, not fatal:
        // a task list with one file missing beats no task list.
        if let Ok(entry) = entry {
            if entry.file_type().is_some_and(|kind| kind.is_file()) {
                self.local.extend(scan_file(self.root, entry.path()));
            }
        }
        WalkState::Continue
    }
}

impl Drop for FileScanner<'_> {
    fn drop(&mut self) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        found.append(&mut self.local);
    }
}

/// The tasks of one file on disk; none if it cannot be read or is binary or too large.
fn scan_file(root: &Path, path: &Path) -> Vec<Task> {
    let name = relative_name(root, path);
    match read_text(path) {
        // Most files hold no marker at all: a substring check spares lexing them.
        Some(text) if is_tasks_md(&name) || MARKERS.iter().any(|m| text.contains(m)) => {
            scan_text(&name, &text)
        }
        _ => Vec::new(),
    }
}

/// `path` relative to `root` with '/' separators on every platform; the file's own name
/// when `root` is the file itself.
fn relative_name(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let relative = if relative.as_os_str().is_empty() {
        Path::new(path.file_name().unwrap_or(path.as_os_str()))
    } else {
        relative
    };
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The file's text, decoded lossily; `None` for unreadable, oversized or binary files.
fn read_text(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    if file.metadata().ok()?.len() > MAX_FILE_BYTES {
        return None;
    }
    let mut bytes = Vec::new();
    // The file may grow between the size check and the read: never read more than the limit.
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
    let probe = &bytes[..bytes.len().min(BINARY_PROBE_BYTES)];
    if bytes.len() as u64 > MAX_FILE_BYTES || probe.contains(&0) {
        return None;
    }
    Some(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

// ---------------------------------------------------------------------------------------------
// Scanning one file

/// The tasks of `text`, in line order, lexed lazily so `task_at` can stop early.
fn tasks_by_line<'a>(file: &'a str, text: &'a str) -> impl Iterator<Item = Task> + 'a {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let tasks_md = is_tasks_md(file);
    let mut lexer = Lexer::new(syntax_for(file, text));
    text.lines().enumerate().filter_map(move |(index, line)| {
        let starts_in_code = lexer.in_code();
        let comment_task = lexer.line(line);
        // A checkbox counts only outside comments: a commented-out item is not a task.
        let checkbox = (tasks_md && starts_in_code)
            .then(|| checkbox_text(line))
            .flatten()
            .map(|text| (CHECKBOX, text.to_string()));
        let (marker, text) = checkbox.or(comment_task)?;
        Some(Task {
            file: file.to_string(),
            line: index + 1,
            marker: marker.to_string(),
            text,
        })
    })
}

/// Whether `file` names a TASKS.md file, in any directory and any letter case.
fn is_tasks_md(file: &str) -> bool {
    base_name(file).eq_ignore_ascii_case("tasks.md")
}

/// The text of an unchecked Markdown task-list item (`- [ ] text`, `* [ ] text`).
fn checkbox_text(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = ["- [ ]", "* [ ]", "+ [ ]"]
        .iter()
        .find_map(|item| rest.strip_prefix(item))?;
    // "- [ ]x" is not an item in Markdown.
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim())
}

/// The marker and cleaned-up text of the task in one comment's body, if any.
///
/// The marker must be the comment's first word (after decoration such as `///`, ` * `,
/// `;;`), or elsewhere be written as a label (`TODO:`, `FIXME(bob)`): prose like
/// "see the XXX placeholder" is not a task.
fn find_marker(comment: &str) -> Option<(&'static str, String)> {
    let body = comment.trim_start_matches(is_decoration);
    let (marker, rest) = marker_at(body).or_else(|| labelled_marker(body))?;
    Some((marker, task_text(rest)))
}

/// Characters that decorate a comment before its first word: `///`, `//!`, ` * `, `;;;`,
/// `--|`, `#'`, `%%`, `@TODO`.
fn is_decoration(c: char) -> bool {
    c.is_whitespace() || "/*#!-;%|\"'=~+<>:@".contains(c)
}

/// The marker `s` starts with, as a whole word, and the text after it.
fn marker_at(s: &str) -> Option<(&'static str, &str)> {
    MARKERS.iter().find_map(|marker| {
        let rest = s.strip_prefix(marker)?;
        (!rest.starts_with(is_word_char)).then_some((*marker, rest))
    })
}

/// A marker later in the comment, as a whole word directly followed by ':' or '('.
fn labelled_marker(body: &str) -> Option<(&'static str, &str)> {
    let mut previous = ' ';
    body.char_indices().find_map(|(at, c)| {
        let after_word_break = !is_word_char(previous);
        previous = c;
        let (marker, rest) = marker_at(&body[at..]).filter(|_| after_word_break)?;
        rest.starts_with([':', '(']).then_some((marker, rest))
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The text after a marker without its `(owner)`, separators and comment closers:
/// `(bob): handle empty input */` becomes `handle empty input`.
fn task_text(rest: &str) -> String {
    let mut text = rest;
    if let Some(owner) = text.strip_prefix('(') {
        text = owner.split_once(')').map_or(text, |(_, after)| after);
    }
    text = text.trim_start_matches(|c: char| c.is_whitespace() || ":-–—!".contains(c));
    // The lexer already cuts at a block comment's end; this catches closers it could not
    // know, e.g. in files of an unknown language.
    const CLOSERS: [&str; 5] = ["*/", "-->", "*)", "-}", "|#"];
    loop {
        text = text.trim_end();
        match CLOSERS.iter().find_map(|closer| text.strip_suffix(closer)) {
            Some(shorter) => text = shorter,
            None => return text.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comment syntax per language

/// Where a line comment may start.
#[derive(Clone, Copy)]
enum At {
    Anywhere,
    /// At the start of the line or after whitespace: shell `$#` and YAML `a#b` are not comments.
    AfterSpace,
    /// Only as the line's first non-blank text: Vim `"`, Dockerfile `#`, batch `REM`.
    LineStart,
}

struct LineComment {
    /// Matched ignoring ASCII case (for batch `REM`).
    prefix: &'static str,
    at: At,
}

struct Quote {
    open: &'static str,
    close: &'static str,
    /// Whether the string may continue on the next line (`"""`, template literals).
    multiline: bool,
    /// Whether a backslash escapes the next character.
    escapes: bool,
}

/// How comments and strings are written in one language family.
struct Syntax {
    line: &'static [LineComment],
    block: &'static [(&'static str, &'static str)],
    /// Whether block comments nest (Rust, Swift, Haskell, OCaml, ...).
    nested: bool,
    /// Longest first where one opener starts another (`"""` before `"`).
    quotes: &'static [Quote],
    /// Whether `'` opens a character literal (`'x'`, `'\n'`) but may also stand alone
    /// (Rust lifetimes, Haskell primes, MATLAB transpose).
    char_literals: bool,
}

const fn anywhere(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::Anywhere,
    }
}

const fn after_space(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::AfterSpace,
    }
}

const fn line_start(prefix: &'static str) -> LineComment {
    LineComment {
        prefix,
        at: At::LineStart,
    }
}

const fn quote(open: &'static str, close: &'static str) -> Quote {
    Quote {
        open,
        close,
        multiline: false,
        escapes: true,
    }
}

const fn multiline(open: &'static str, close: &'static str) -> Quote {
    Quote {
        open,
        close,
        multiline: true,
        escapes: true,
    }
}

const fn raw(open: &'static str, close: &'static str, multiline: bool) -> Quote {
    Quote {
        open,
        close,
        multiline,
        escapes: false,
    }
}

const DQ: Quote = quote("\"", "\"");
const SQ: Quote = quote("'", "'");
const TRIPLE_DQ: Quote = multiline("\"\"\"", "\"\"\"");
const TRIPLE_SQ: Quote = multiline("'''", "'''");
const C_BLOCK: (&str, &str) = ("/*", "*/");
const HTML_BLOCK: (&str, &str) = ("<!--", "-->");

const fn syntax(
    line: &'static [LineComment],
    block: &'static [(&'static str, &'static str)],
    quotes: &'static [Quote],
) -> Syntax {
    Syntax {
        line,
        block,
        nested: false,
        quotes,
        char_literals: false,
    }
}

impl Syntax {
    const fn nested(mut self) -> Self {
        self.nested = true;
        self
    }

    const fn char_literals(mut self) -> Self {
        self.char_literals = true;
        self
    }
}

// The `//` family.
const C: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[DQ]).char_literals();
const JAVA: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[TRIPLE_DQ, DQ]).char_literals();
const KOTLIN: Syntax = JAVA.nested();
const JS: Syntax = syntax(
    &[anywhere("//")],
    &[C_BLOCK],
    &[DQ, SQ, multiline("`", "`")],
);
const GO: Syntax =
    syntax(&[anywhere("//")], &[C_BLOCK], &[DQ, raw("`", "`", true)]).char_literals();
const RUST: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[multiline("\"", "\"")])
    .nested()
    .char_literals();
const DART: Syntax = syntax(
    &[anywhere("//")],
    &[C_BLOCK],
    &[TRIPLE_DQ, TRIPLE_SQ, DQ, SQ],
);
const PHP: Syntax = syntax(&[anywhere("//"), anywhere("#")], &[C_BLOCK], &[DQ, SQ]);
const CSS: Syntax = syntax(&[], &[C_BLOCK], &[DQ, SQ]);
const SCSS: Syntax = syntax(&[anywhere("//")], &[C_BLOCK], &[DQ, SQ]);
const HCL: Syntax = syntax(&[anywhere("#"), anywhere("//")], &[C_BLOCK], &[DQ]);
/// `.m` is Objective-C or MATLAB; `%` outside strings is a comment in one and the
/// modulo operator (never followed by a marker) in the other.
const OBJC_OR_MATLAB: Syntax =
    syntax(&[anywhere("//"), anywhere("%")], &[C_BLOCK], &[DQ]).char_literals();
const FSHARP: Syntax = syntax(&[anywhere("//")], &[("(*", "*)")], &[TRIPLE_DQ, DQ]).char_literals();
const PASCAL: Syntax = syntax(
    &[anywhere("//")],
    &[("{", "}"), ("(*", "*)")],
    &[raw("'", "'", false)],
);

// The `#` family.
const PYTHON: Syntax = syntax(&[anywhere("#")], &[], &[TRIPLE_DQ, TRIPLE_SQ, DQ, SQ]);
const RUBY: Syntax = syntax(&[anywhere("#")], &[], &[DQ, SQ]);
const SHELL: Syntax = syntax(&[after_space("#")], &[], &[DQ, SQ]);
/// R, Make, CMake, Tcl, awk, GraphQL, ...
const HASH: Syntax = syntax(&[anywhere("#")], &[], &[DQ, SQ]);
/// YAML plain scalars often hold apostrophes ("it's"), so only `"` is taken as a string.
const YAML: Syntax = syntax(&[after_space("#")], &[], &[DQ]);
const TOML: Syntax = syntax(
    &[anywhere("#")],
    &[],
    &[TRIPLE_DQ, raw("'''", "'''", true), DQ, raw("'", "'", false)],
);
const DOCKERFILE: Syntax = syntax(&[line_start("#")], &[], &[]);
const ELIXIR: Syntax = syntax(&[anywhere("#")], &[], &[TRIPLE_DQ, DQ, SQ]);
const NIM: Syntax = syntax(&[anywhere("#")], &[("#[", "]#")], &[TRIPLE_DQ, DQ])
    .nested()
    .char_literals();
const JULIA: Syntax = syntax(&[anywhere("#")], &[("#=", "=#")], &[TRIPLE_DQ, DQ])
    .nested()
    .char_literals();
const POWERSHELL: Syntax = syntax(&[anywhere("#")], &[("<#", "#>")], &[DQ, SQ]);
const COFFEE: Syntax = syntax(&[anywhere("#")], &[("###", "###")], &[DQ, SQ]);
const NIX: Syntax = syntax(&[anywhere("#")], &[C_BLOCK], &[DQ]);
/// ini, .gitignore, .editorconfig, .properties: comments are whole lines.
const CONFIG: Syntax = syntax(&[line_start("#"), line_start(";")], &[], &[]);

// The `--` family.
const LUA: Syntax = syntax(
    &[anywhere("--")],
    &[("--[[", "]]")],
    &[multiline("[[", "]]"), DQ, SQ],
);
const SQL: Syntax = syntax(&[anywhere("--")], &[C_BLOCK], &[SQ, DQ]);
const HASKELL: Syntax = syntax(&[anywhere("--")], &[("{-", "-}")], &[DQ])
    .nested()
    .char_literals();
const ADA: Syntax = syntax(&[anywhere("--")], &[], &[DQ]).char_literals();

// The `;` and `%` families.
const LISP: Syntax = syntax(&[anywhere(";")], &[("#|", "|#")], &[DQ]).nested();
const ASM: Syntax = syntax(
    &[anywhere(";"), anywhere("#"), anywhere("//")],
    &[C_BLOCK],
    &[DQ],
);
const TEX: Syntax = syntax(&[anywhere("%")], &[], &[]);
const ERLANG: Syntax = syntax(&[anywhere("%")], &[], &[DQ]);
const MATLAB: Syntax = syntax(&[anywhere("%")], &[("%{", "%}")], &[DQ]).char_literals();

// Markup.
const MARKUP: Syntax = syntax(&[], &[HTML_BLOCK], &[]);
/// Text holds apostrophes and URLs, so no strings, and `//` only after whitespace (in scripts).
const HTML: Syntax = syntax(&[after_space("//")], &[HTML_BLOCK], &[]);
const VUE: Syntax = syntax(&[after_space("//")], &[HTML_BLOCK, C_BLOCK], &[]);

// Single-purpose syntaxes.
const OCAML: Syntax = syntax(&[], &[("(*", "*)")], &[DQ]).nested().char_literals();
const VIM: Syntax = syntax(&[line_start("\""), line_start("#")], &[], &[SQ]);
const FORTRAN: Syntax = syntax(
    &[anywhere("!")],
    &[],
    &[raw("\"", "\"", false), raw("'", "'", false)],
);
const BATCH: Syntax = syntax(
    &[
        line_start("rem "),
        line_start("rem\t"),
        line_start("@rem "),
        line_start("::"),
    ],
    &[],
    &[],
);
const VISUAL_BASIC: Syntax = syntax(
    &[anywhere("'"), line_start("rem ")],
    &[],
    &[raw("\"", "\"", false)],
);
/// Unknown languages: the commonest comment forms, line comments only after whitespace.
const UNKNOWN: Syntax =
    syntax(&[after_space("//"), after_space("#")], &[C_BLOCK], &[DQ]).char_literals();

/// The syntax of `file`, by its name, then its extension, then a `#!` line.
fn syntax_for(file: &str, text: &str) -> &'static Syntax {
    let name = base_name(file).to_ascii_lowercase();
    syntax_by_name(&name)
        .or_else(|| extension(&name).and_then(syntax_by_extension))
        .or_else(|| syntax_by_shebang(text))
        .unwrap_or(&UNKNOWN)
}

/// The extension of a file name; a dotfile's leading dot does not start one (`.bashrc`).
fn extension(name: &str) -> Option<&str> {
    let name = name.strip_prefix('.').unwrap_or(name);
    name.rsplit_once('.').map(|(_, extension)| extension)
}

/// The last component of a '/' (or '\\') separated path.
fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

/// Files known by their whole (lower-cased) name.
fn syntax_by_name(name: &str) -> Option<&'static Syntax> {
    Some(match name {
        "makefile" | "gnumakefile" | "bsdmakefile" | "cmakelists.txt" | "justfile" => &HASH,
        "dockerfile" | "containerfile" => &DOCKERFILE,
        _ if name.starts_with("dockerfile.") || name.ends_with(".dockerfile") => &DOCKERFILE,
        "rakefile" | "gemfile" | "podfile" | "vagrantfile" | "brewfile" | "guardfile"
        | "fastfile" | "appfile" => &RUBY,
        "jenkinsfile" => &DART,
        "build" | "workspace" | "build.bazel" | "workspace.bazel" | "tiltfile" | "snakefile"
        | "sconstruct" | "sconscript" => &PYTHON,
        ".bashrc" | ".bash_profile" | ".bash_logout" | ".profile" | ".zshrc" | ".zshenv"
        | ".zprofile" | ".envrc" | "pkgbuild" | "apkbuild" => &SHELL,
        ".vimrc" | "_vimrc" | ".gvimrc" | ".exrc" => &VIM,
        ".gitignore" | ".gitattributes" | ".gitmodules" | ".gitconfig" | ".dockerignore"
        | ".npmignore" | ".ignore" | ".editorconfig" | ".env" | "codeowners"
        | "requirements.txt" => &CONFIG,
        _ => return None,
    })
}

/// Files known by their (lower-cased) extension.
fn syntax_by_extension(extension: &str) -> Option<&'static Syntax> {
    Some(match extension {
        "c" | "h" | "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "inl"
        | "ino" | "cu" | "cuh" | "cs" | "mm" | "glsl" | "vert" | "frag" | "hlsl" | "wgsl"
        | "metal" | "v" | "sv" | "svh" | "vh" | "proto" | "thrift" | "zig" | "odin" | "sol"
        | "move" | "cairo" | "gleam" | "prisma" | "d" | "hx" | "vala" | "pde" | "json"
        | "jsonc" | "json5" | "jsonnet" | "libsonnet" => &C,
        "java" => &JAVA,
        "kt" | "kts" | "scala" | "sc" | "sbt" | "swift" => &KOTLIN,
        "js" | "mjs" | "cjs" | "jsx" | "ts" | "mts" | "cts" | "tsx" | "as" => &JS,
        "go" => &GO,
        "rs" => &RUST,
        "dart" | "groovy" | "gradle" | "gvy" => &DART,
        "php" | "phtml" => &PHP,
        "css" => &CSS,
        "scss" | "sass" | "less" | "styl" => &SCSS,
        "tf" | "tfvars" | "hcl" => &HCL,
        "m" => &OBJC_OR_MATLAB,
        "fs" | "fsi" | "fsx" => &FSHARP,
        "pas" | "dpr" | "lpr" => &PASCAL,
        "py" | "pyi" | "pyw" | "pyx" | "pxd" | "bzl" | "star" | "gyp" | "gypi" => &PYTHON,
        "rb" | "rake" | "gemspec" | "ru" | "podspec" | "cr" => &RUBY,
        // Shells and Perl, where `$#` and `s#a#b#` are not comments.
        "sh" | "bash" | "zsh" | "ksh" | "fish" | "bats" | "ebuild" | "eclass" | "pl" | "pm"
        | "t" | "raku" | "rakumod" => &SHELL,
        "r" | "cmake" | "mk" | "mak" | "make" | "tcl" | "awk" | "sed" | "jq" | "graphql"
        | "gql" | "pp" | "nginx" => &HASH,
        "yaml" | "yml" => &YAML,
        "toml" => &TOML,
        "ex" | "exs" => &ELIXIR,
        "nim" | "nims" | "nimble" => &NIM,
        "jl" => &JULIA,
        "ps1" | "psm1" | "psd1" => &POWERSHELL,
        "coffee" => &COFFEE,
        "nix" => &NIX,
        "ini" | "cfg" | "conf" | "properties" | "desktop" | "service" | "gitignore" => &CONFIG,
        "lua" => &LUA,
        "sql" | "pls" | "plsql" | "pgsql" | "psql" | "mysql" => &SQL,
        "hs" | "purs" | "elm" | "agda" | "idr" => &HASKELL,
        "adb" | "ads" | "ada" | "vhd" | "vhdl" => &ADA,
        "lisp" | "lsp" | "cl" | "el" | "clj" | "cljs" | "cljc" | "edn" | "scm" | "ss" | "rkt"
        | "fnl" | "sld" => &LISP,
        "asm" | "s" | "nasm" => &ASM,
        "tex" | "sty" | "cls" | "bib" | "dtx" | "ltx" => &TEX,
        "erl" | "hrl" | "escript" => &ERLANG,
        "mat" | "mlx" => &MATLAB,
        "html" | "htm" | "xhtml" => &HTML,
        "xml" | "xsd" | "xsl" | "xslt" | "svg" | "plist" | "xaml" | "csproj" | "vbproj"
        | "fsproj" | "props" | "targets" | "resx" | "wsdl" | "md" | "markdown" | "mdx" => &MARKUP,
        "vue" | "svelte" | "astro" => &VUE,
        "ml" | "mli" | "mll" | "mly" => &OCAML,
        "vim" => &VIM,
        "f" | "for" | "f77" | "f90" | "f95" | "f03" | "f08" => &FORTRAN,
        "bat" | "cmd" => &BATCH,
        "vb" | "vbs" | "bas" | "vba" => &VISUAL_BASIC,
        _ => return None,
    })
}

/// Scripts without an extension, by their interpreter: `#!/usr/bin/env python3`.
fn syntax_by_shebang(text: &str) -> Option<&'static Syntax> {
    let command = text.lines().next()?.strip_prefix("#!")?;
    let mut words = command.split_whitespace();
    let mut program = base_name(words.next()?);
    if program == "env" {
        program = words.find(|word| !word.starts_with('-'))?;
    }
    let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match program {
        "python" | "pypy" => &PYTHON,
        "ruby" => &RUBY,
        "node" | "deno" | "bun" => &JS,
        "lua" | "luajit" => &LUA,
        "php" => &PHP,
        // Shells, perl, Rscript, awk and every other `#!` interpreter comment with `#`.
        _ => &SHELL,
    })
}

// ---------------------------------------------------------------------------------------------
// The lexer

/// What the lexer is inside of at a given point.
#[derive(Clone, Copy)]
enum State {
    Code,
    /// In block comment `pair` of the syntax, `depth` levels deep.
    Block {
        pair: usize,
        depth: usize,
    },
    /// In string `quote` of the syntax.
    Str {
        quote: usize,
    },
}

/// What the lexer meets next in code.
enum Token {
    /// A line comment whose body starts at the given byte offset.
    LineComment(usize),
    /// A block comment or string opener, with the offset just past it.
    Block(usize, usize),
    Str(usize, usize),
}

/// Lexes a file line by line, carrying block comments and multi-line strings across lines.
struct Lexer {
    syntax: &'static Syntax,
    state: State,
}

impl Lexer {
    fn new(syntax: &'static Syntax) -> Self {
        Lexer {
            syntax,
            state: State::Code,
        }
    }

    fn in_code(&self) -> bool {
        matches!(self.state, State::Code)
    }

    /// Lexes one line and returns the first task in its comments, if any.
    fn line(&mut self, line: &str) -> Option<(&'static str, String)> {
        let mut found = None;
        let mut at = 0;
        while at < line.len() {
            at = match self.state {
                State::Block { pair, depth } => {
                    let (comment_end, next) = self.block_step(line, at, pair, depth);
                    found = found.or_else(|| find_marker(&line[at..comment_end]));
                    next
                }
                State::Str { quote } => self.string_end(line, at, quote),
                State::Code => match self.next_token(line, at) {
                    Some(Token::LineComment(body)) => {
                        found = found.or_else(|| find_marker(&line[body..]));
                        line.len()
                    }
                    Some(Token::Block(pair, next)) => {
                        self.state = State::Block { pair, depth: 1 };
                        next
                    }
                    Some(Token::Str(quote, next)) => {
                        self.state = State::Str { quote };
                        next
                    }
                    None => line.len(),
                },
            };
        }
        // An unterminated single-line string is a lexing mistake or a language quirk: it
        // must not swallow the rest of the file.
        if let State::Str { quote } = self.state {
            if !self.syntax.quotes[quote].multiline {
                self.state = State::Code;
            }
        }
        found
    }

    /// In a block comment from `at`: updates the nesting state and returns where this
    /// stretch of comment text ends and where lexing goes on.
    fn block_step(&mut self, line: &str, at: usize, pair: usize, depth: usize) -> (usize, usize) {
        let (open, close) = self.syntax.block[pair];
        let rest = &line[at..];
        let open_at = rest.find(open).filter(|_| self.syntax.nested);
        // Look for the closer only up to the next opener (or one overlapping it), which keeps
        // a line with many openers linear. The bound falls within the ASCII opener.
        let close_limit = open_at.map_or(rest.len(), |open_at| {
            (open_at + close.len() - 1).min(rest.len())
        });
        let close_at = rest[..close_limit].find(close);
        match (open_at, close_at) {
            (Some(open_at), close_at) if close_at.is_none_or(|close_at| open_at < close_at) => {
                self.state = State::Block {
                    pair,
                    depth: depth + 1,
                };
                (at + open_at, at + open_at + open.len())
            }
            (_, Some(close_at)) => {
                self.state = match depth {
                    1 => State::Code,
                    _ => State::Block {
                        pair,
                        depth: depth - 1,
                    },
                };
                (at + close_at, at + close_at + close.len())
            }
            _ => (line.len(), line.len()),
        }
    }

    /// In a string from `at`: returns the offset past its closing quote, leaving the string
    /// state, or the line's end if the string goes on.
    fn string_end(&mut self, line: &str, at: usize, quote: usize) -> usize {
        let quote = &self.syntax.quotes[quote];
        let bytes = line.as_bytes();
        let mut i = at;
        // Byte-wise is safe: quotes are ASCII, which never occurs inside a UTF-8 sequence.
        while i < bytes.len() {
            if quote.escapes && bytes[i] == b'\\' {
                i += 2;
            } else if bytes[i..].starts_with(quote.close.as_bytes()) {
                self.state = State::Code;
                return i + quote.close.len();
            } else {
                i += 1;
            }
        }
        line.len()
    }

    /// The first comment or string opener in code from `at`.
    fn next_token(&self, line: &str, mut at: usize) -> Option<Token> {
        let syntax = self.syntax;
        while let Some(c) = line[at..].chars().next() {
            let rest = &line[at..];
            // Block openers first: Lua's `--[[` also starts like its line comment `--`.
            if let Some(pair) = syntax
                .block
                .iter()
                .position(|(open, _)| rest.starts_with(open))
            {
                return Some(Token::Block(pair, at + syntax.block[pair].0.len()));
            }
            if let Some(comment) = syntax.line.iter().find(|comment| {
                starts_with_ignore_case(rest, comment.prefix) && allowed(comment.at, line, at)
            }) {
                return Some(Token::LineComment(at + comment.prefix.len()));
            }
            if let Some(quote) = syntax
                .quotes
                .iter()
                .position(|quote| rest.starts_with(quote.open))
            {
                return Some(Token::Str(quote, at + syntax.quotes[quote].open.len()));
            }
            at += match c {
                // An escaped character is never an opener: TeX `\%`, shell `\#`, Lisp `#\;`.
                '\\' => 1 + rest[1..].chars().next().map_or(0, char::len_utf8),
                '\'' if syntax.char_literals => char_literal_len(rest).unwrap_or(1),
                _ => c.len_utf8(),
            };
        }
        None
    }
}

/// Whether a line comment may start at byte `at` of `line`.
fn allowed(at_rule: At, line: &str, at: usize) -> bool {
    match at_rule {
        At::Anywhere => true,
        At::AfterSpace => at == 0 || line.as_bytes()[at - 1].is_ascii_whitespace(),
        At::LineStart => line[..at].trim().is_empty(),
    }
}

fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The length of a character literal at the start of `s` (`'x'`, `'\n'`, `'\u{1F600}'`),
/// or `None` if the `'` stands alone (a lifetime, a prime, a transpose).
fn char_literal_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('\'')?;
    let end = match body.strip_prefix('\\') {
        // An escape: `'\''` or up to a short sequence such as `\u{10FFFF}`.
        Some(escape) => {
            let first = escape.chars().next()?.len_utf8();
            1 + first
                + escape[first..]
                    .char_indices()
                    .take(10)
                    .find(|&(_, c)| c == '\'')?
                    .0
        }
        None => body.chars().next()?.len_utf8(),
    };
    body[end..].starts_with('\'').then_some(1 + end + 1)
}
