//! Text helpers at the ground floor: shortening labels, and making text that came from a
//! repository, a file name or an agent safe to show.
//!
//! Anything a stranger wrote (task text, file names, agent output, `.fanout.toml`) may hold
//! escape sequences that move the cursor, recolour or hide lines, or bidirectional controls
//! that reorder what a reader sees. Before such text reaches a terminal, an editor's message
//! or a lens title, its control characters are shown as visible escapes instead.

use std::borrow::Cow;

/// `text` cut to at most `max` characters, the last of them an ellipsis when cut.
pub fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", text[..cut].trim_end()),
        _ => text.to_string(),
    }
}

/// Characters that change how a terminal or a text view shows what follows: C0 controls,
/// DEL, C1 controls, line and paragraph separators, and the bidirectional overrides and
/// isolates ("Trojan Source").
pub fn is_unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}'
        | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
        | '\u{feff}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// One line of untrusted text, safe to print: every control character (newlines included,
/// so the text can never split a line of output) shown as an escape (`\x1b`, `\n`, `\u{202e}`).
pub fn escape_line(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &[])
}

/// Untrusted text of several lines (an agent's log, a multi-line message): like
/// [`escape_line`] but newlines and tabs stay as they are.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_keeping(text, &['\n', '\t'])
}

fn escape_keeping<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text
        .chars()
        .any(|c| is_unsafe_char(c) && !keep.contains(&c))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe_char(c) && !keep.contains(&c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes that may not be UTF-8 (agent output, file contents) as safe multi-line text:
/// invalid sequences as `\xNN`, controls escaped, newlines and tabs kept.
pub fn escape_bytes_lines(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape_lines(chunk.valid()));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path as git quotes it (`core.quotePath=false`): as it is when it is plain printable
/// UTF-8, else in double quotes with C-style escapes (`\t`, `\n`, `\"`, `\\`, and other
/// bytes as three octal digits), so a newline or an escape sequence in a file name never
/// splits or hides a line, and `git apply` still reads the result.
pub fn quote_path(path: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(path) {
        if !s
            .chars()
            .any(|c| is_unsafe_char(c) || c == '"' || c == '\\')
        {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(path.len() + 2);
    out.push('"');
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{b}' => out.push_str("\\v"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if is_unsafe_char(c) => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\{b:03o}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\{b:03o}"));
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// `word` as one word for a POSIX shell, to print in a command the user may paste: as it is
/// when it holds only characters no shell treats specially, else in single quotes. Control
/// characters are shown escaped (such a command cannot be pasted as it is, but it cannot
/// drive the terminal either).
pub fn shell_word(word: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return Cow::Borrowed(word);
    }
    let quoted = format!("'{}'", word.replace('\'', r"'\''"));
    Cow::Owned(escape_line(&quoted).into_owned())
}

/// [`quote_path`] of a path held as a `str` (paths the engine keeps as text).
pub fn quote_path_str(path: &str) -> Cow<'_, str> {
    quote_path(path.as_bytes())
}

/// A duration as people write it, in seconds: `7d`, `12h`, `30m`, `90s`, `2w` (a bare number
/// is seconds). The error says what is wrong with it.
pub fn parse_duration(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let (num, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration '{text}': write e.g. 7d, 12h, 30m, 90s"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => {
            return Err(format!(
                "bad duration '{text}': the unit is s, m, h, d or w"
            ))
        }
    };
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_with_an_ellipsis() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
    }

    #[test]
    fn escapes_what_could_hide_or_split_a_line() {
        assert_eq!(escape_line("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_line("a\x1b[31mred\x1b[0m\nb\u{202e}c\u{9b}"),
            "a\\x1b[31mred\\x1b[0m\\nb\\u{202e}c\\x9b"
        );
        assert_eq!(escape_lines("one\n\ttwo\x07"), "one\n\ttwo\\x07");
        assert_eq!(escape_bytes_lines(b"ok\n\xff\x1b"), "ok\n\\xff\\x1b");
    }

    #[test]
    fn quotes_paths_like_git() {
        assert_eq!(quote_path(b"src/lib.rs"), "src/lib.rs");
        assert_eq!(quote_path("dé.txt".as_bytes()), "dé.txt");
        assert_eq!(quote_path(b"a\nb"), "\"a\\nb\"");
        assert_eq!(quote_path(b"\x1b[2Jx"), "\"\\033[2Jx\"");
        assert_eq!(quote_path(b"bad\xff"), "\"bad\\377\"");
        assert_eq!(quote_path(b"q\"b\\"), "\"q\\\"b\\\\\"");
    }

    #[test]
    fn shell_words_paste_as_one_word() {
        assert_eq!(
            shell_word("/tmp/fanout-demo-1/greeter"),
            "/tmp/fanout-demo-1/greeter"
        );
        assert_eq!(shell_word("/my dir/it's"), "'/my dir/it'\\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a\x1bb"), "'a\\x1bb'");
    }
}
