//! Finding tasks in one file's text: TODO/FIXME/XXX/HACK in comments, found by a small
//! lexer that follows line comments, (possibly nested) block comments and strings across
//! lines with the file's [`Syntax`], and unchecked `- [ ]` items in TASKS.md files.

use super::languages::{base_name, syntax_for, At, Syntax};
use crate::task::{Task, CHECKBOX};

/// Comment markers, upper case only: lower-case "todo" is usually prose.
pub(super) const MARKERS: [&str; 4] = ["TODO", "FIXME", "XXX", "HACK"];

/// The tasks of `text`, in line order, lexed lazily so `task_at` can stop early.
pub(super) fn tasks_by_line<'a>(file: &'a str, text: &'a str) -> impl Iterator<Item = Task> + 'a {
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

/// `text` without its comments, in `file`'s language (lines kept, strings kept).
pub(super) fn without_comments(file: &str, text: &str) -> String {
    let mut lexer = Lexer::new(syntax_for(file, text));
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        lexer.line_with_code(line, &mut |code| out.push_str(code));
        out.push('\n');
    }
    out
}

/// Whether `file` names a TASKS.md file, in any directory and any letter case.
pub(super) fn is_tasks_md(file: &str) -> bool {
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
    /// A line comment: where it starts and where its body starts (byte offsets).
    LineComment(usize, usize),
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
        self.line_with_code(line, &mut |_| {})
    }

    /// Lexes one line: the first task in its comments, if any; `code` gets every stretch of
    /// the line that is not comment (strings included).
    fn line_with_code(
        &mut self,
        line: &str,
        code: &mut dyn FnMut(&str),
    ) -> Option<(&'static str, String)> {
        let mut found = None;
        let mut at = 0;
        while at < line.len() {
            at = match self.state {
                State::Block { pair, depth } => {
                    let (comment_end, next) = self.block_step(line, at, pair, depth);
                    found = found.or_else(|| find_marker(&line[at..comment_end]));
                    next
                }
                State::Str { quote } => {
                    let end = self.string_end(line, at, quote);
                    code(&line[at..end]);
                    end
                }
                State::Code => match self.next_token(line, at) {
                    Some(Token::LineComment(start, body)) => {
                        code(&line[at..start]);
                        found = found.or_else(|| find_marker(&line[body..]));
                        line.len()
                    }
                    Some(Token::Block(pair, next)) => {
                        code(&line[at..next - self.syntax.block[pair].0.len()]);
                        self.state = State::Block { pair, depth: 1 };
                        next
                    }
                    Some(Token::Str(quote, next)) => {
                        code(&line[at..next]);
                        self.state = State::Str { quote };
                        next
                    }
                    None => {
                        code(&line[at..]);
                        line.len()
                    }
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
                return Some(Token::LineComment(at, at + comment.prefix.len()));
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
