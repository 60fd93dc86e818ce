//! Tests of task finding (`fanout::tasks`): comment syntaxes, strings, TASKS.md and tree
//! scanning on real git repositories.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use fanout::tasks::{scan_text, scan_tree, task_at, Task};

/// The tasks of `text` as (line, marker, text) triples, for compact assertions.
fn found(file: &str, text: &str) -> Vec<(usize, String, String)> {
    scan_text(file, text)
        .into_iter()
        .map(|task| (task.line, task.marker, task.text))
        .collect()
}

fn triple(line: usize, marker: &str, text: &str) -> (usize, String, String) {
    (line, marker.to_string(), text.to_string())
}

/// Asserts that `file` holding `text` has exactly one task, on `line`, with `marker` and
/// `task_text`.
#[track_caller]
fn assert_one(file: &str, text: &str, line: usize, marker: &str, task_text: &str) {
    assert_eq!(
        found(file, text),
        vec![triple(line, marker, task_text)],
        "in {file}:\n{text}"
    );
}

#[test]
fn slash_family() {
    for file in [
        "a.c", "a.h", "a.cpp", "a.java", "a.js", "a.ts", "a.tsx", "a.go", "a.rs", "a.swift",
        "a.kt", "a.cs", "a.scala", "a.dart", "a.php", "a.scss", "a.zig", "a.proto",
    ] {
        assert_one(
            file,
            "x = 1;\ny = 2; // TODO: handle empty input\n",
            2,
            "TODO",
            "handle empty input",
        );
        assert_one(file, "/* FIXME leak */ free(p);\n", 1, "FIXME", "leak");
    }
}

#[test]
fn hash_family() {
    for file in [
        "a.py",
        "a.rb",
        "a.sh",
        "a.pl",
        "a.r",
        "a.yaml",
        "a.yml",
        "a.toml",
        "Makefile",
        "Dockerfile",
        "a.ex",
        "a.nim",
        "a.cmake",
        "a.php",
        "a.tf",
        "a.jl",
        "a.ps1",
    ] {
        assert_one(
            file,
            "x = 1\n# TODO: handle empty input\n",
            2,
            "TODO",
            "handle empty input",
        );
    }
    assert_one(
        "a.py",
        "def f():  # HACK - temporary\n",
        1,
        "HACK",
        "temporary",
    );
    assert_one("a.sh", "echo ${#arr[@]} # XXX count\n", 1, "XXX", "count");
}

#[test]
fn dash_semicolon_percent_families() {
    for file in ["a.lua", "a.sql", "a.hs", "a.adb", "a.elm", "a.vhd"] {
        assert_one(
            file,
            "x = 1 -- TODO: handle empty input\n",
            1,
            "TODO",
            "handle empty input",
        );
    }
    for file in [
        "a.lisp", "a.clj", "a.scm", "a.el", "a.asm", "a.ini", "a.rkt",
    ] {
        assert_one(
            file,
            "(a)\n;; TODO: handle empty input\n",
            2,
            "TODO",
            "handle empty input",
        );
    }
    for file in ["a.tex", "a.erl", "a.m", "a.bib"] {
        assert_one(
            file,
            "x\n% TODO: handle empty input\n",
            2,
            "TODO",
            "handle empty input",
        );
    }
    // TeX's escaped percent sign is text, not a comment.
    assert!(found("a.tex", "50\\% TODO not a comment\n").is_empty());
}

#[test]
fn markup_and_other_families() {
    for file in ["a.html", "a.xml", "a.md", "a.vue", "a.svelte", "a.svg"] {
        assert_one(
            file,
            "<p>\n<!-- TODO: handle empty input -->\n</p>\n",
            2,
            "TODO",
            "handle empty input",
        );
    }
    assert_one(
        "a.css",
        "a { /* TODO: handle empty input */ }\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.ml",
        "let x = 1 (* TODO: handle empty input *)\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.vim",
        "set nu\n\" TODO: handle empty input\n",
        2,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.f90",
        "x = 1 ! TODO: handle empty input\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.bat",
        "@echo off\nREM TODO: handle empty input\n",
        2,
        "TODO",
        "handle empty input",
    );
    assert_one("a.cmd", ":: FIXME: quoting\n", 1, "FIXME", "quoting");
    assert_one(
        "a.vb",
        "x = 1 ' TODO: handle empty input\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.pas",
        "x := 1; { TODO: handle empty input }\n",
        1,
        "TODO",
        "handle empty input",
    );
}

#[test]
fn unknown_languages_and_shebangs() {
    assert_one("notes.xyz", "x\n// TODO: one\n", 2, "TODO", "one");
    assert_one("notes.xyz", "# TODO: two\n", 1, "TODO", "two");
    assert_one("notes.xyz", "/* TODO: three */\n", 1, "TODO", "three");
    // Conservative: `#` glued to a word is not a comment in an unknown language.
    assert!(found("notes.xyz", "issue#TODO\n").is_empty());
    // A script without extension is known by its interpreter.
    assert_one(
        "bin/run",
        "#!/usr/bin/env python3\ns = '#'  # TODO: x\n",
        2,
        "TODO",
        "x",
    );
    assert_one("bin/run", "#!/bin/sh\necho hi # TODO: y\n", 2, "TODO", "y");
    // Only comments count: a marker in plain code is not a task.
    assert!(found("a.c", "int TODO = 1;\n").is_empty());
}

#[test]
fn block_comments_span_lines() {
    let c = "int x;\n/*\n * Explains x.\n * TODO: handle empty input\n */\nint y; /* FIXME\n   XXX: second */ int z;\n";
    assert_eq!(
        found("a.c", c),
        vec![
            triple(4, "TODO", "handle empty input"),
            triple(6, "FIXME", ""),
            triple(7, "XXX", "second"),
        ]
    );
    // After a block comment closes, code resumes: this marker is not in a comment.
    assert!(found("a.c", "/* a\n */ TODO();\n").is_empty());
    // Nested comments (Rust) close only at the matching closer.
    let rust = "/* outer /* inner */\n TODO: still a comment */\nTODO();\n";
    assert_eq!(
        found("a.rs", rust),
        vec![triple(2, "TODO", "still a comment")]
    );
    assert!(found("a.rs", "/* /* /* */ */ */ TODO();\n").is_empty());
    // A long line of openers is lexed in linear time; the comment is still open after it.
    let openers = format!("/*{}\n// TODO: still inside\n", "/*".repeat(200_000));
    assert_eq!(
        found("a.rs", &openers),
        vec![triple(2, "TODO", "still inside")]
    );
    // Other block syntaxes spanning lines.
    assert_one("a.html", "<!--\n  TODO: doc\n-->\n", 2, "TODO", "doc");
    assert_one(
        "a.hs",
        "{-\n  FIXME: laziness\n-}\n",
        2,
        "FIXME",
        "laziness",
    );
    assert_one("a.lua", "--[[\n  HACK: global\n]]\n", 2, "HACK", "global");
    assert_one("a.ml", "(*\n * TODO: types *)\n", 2, "TODO", "types");
}

#[test]
fn strings_hide_markers() {
    assert!(found("a.c", "puts(\"// TODO not a comment\");\n").is_empty());
    assert!(found("a.c", "puts(\"/* TODO */\");\n").is_empty());
    assert!(found("a.py", "s = '# TODO not a comment'\n").is_empty());
    assert!(found("a.js", "const s = `\n// TODO inside a template\n`;\n").is_empty());
    assert!(found("a.py", "s = \"\"\"\n# TODO inside a docstring\n\"\"\"\n").is_empty());
    // An escaped quote does not end the string.
    assert!(found("a.c", "s = \"\\\" // TODO\";\n").is_empty());
    // A comment after a string still counts.
    assert_one("a.c", "puts(\"//\"); // TODO: real\n", 1, "TODO", "real");
    assert_one(
        "a.c",
        "c = '\"'; // TODO: after char\n",
        1,
        "TODO",
        "after char",
    );
    // Rust lifetimes are not character literals.
    assert_one(
        "a.rs",
        "fn f<'a>(x: &'a str) {} // TODO: lifetimes\n",
        1,
        "TODO",
        "lifetimes",
    );
    assert_one(
        "a.rs",
        "let c = '\\''; // TODO: quote char\n",
        1,
        "TODO",
        "quote char",
    );
    // An unterminated single-line string does not swallow the following lines.
    assert_one(
        "a.c",
        "s = \"oops\n// TODO: next line\n",
        2,
        "TODO",
        "next line",
    );
}

#[test]
fn markers_are_whole_upper_case_words() {
    for comment in [
        "// todo: lower",
        "// TODOS",
        "// TODOLIST x",
        "// XXXX",
        "// HACKER",
        "// MYTODO",
    ] {
        assert!(found("a.c", comment).is_empty(), "{comment}");
    }
    // Prose mentioning a marker mid-comment is not a task; a marker written as a label is.
    assert!(found("a.c", "// see the XXX placeholder\n").is_empty());
    assert_one("a.c", "// parse. TODO: errors\n", 1, "TODO", "errors");
    assert_one(
        "a.c",
        "// TODO(bob): handle empty input\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one(
        "a.c",
        "// FIXME - handle empty input\n",
        1,
        "FIXME",
        "handle empty input",
    );
    assert_one(
        "a.c",
        "//TODO handle empty input\n",
        1,
        "TODO",
        "handle empty input",
    );
    assert_one("a.c", "/// @TODO document\n", 1, "TODO", "document");
    assert_one("a.c", "// TODO\n", 1, "TODO", "");
    assert_one(
        "a.c",
        "/* XXX: closers trimmed */\n",
        1,
        "XXX",
        "closers trimmed",
    );
    assert_one(
        "a.py",
        "# TODO: $(touch /tmp/pwned); rm -rf ~\n",
        1,
        "TODO",
        "$(touch /tmp/pwned); rm -rf ~",
    );
}

#[test]
fn tasks_md_items() {
    let md = "# Tasks\n\n- [ ] write docs\n- [x] done\n* [ ] star item\n  - [ ] nested\n- [X] also done\n<!-- TODO: from a comment -->\n<!--\n- [ ] commented out\n-->\n- [ ]\nnot - [ ] an item\n";
    assert_eq!(
        found("TASKS.md", md),
        vec![
            triple(3, "- [ ]", "write docs"),
            triple(5, "- [ ]", "star item"),
            triple(6, "- [ ]", "nested"),
            triple(8, "TODO", "from a comment"),
            triple(12, "- [ ]", ""),
        ]
    );
    // Any directory, any case; other Markdown files have no checkbox tasks.
    assert_eq!(found("docs/tasks.md", "- [ ] a\n").len(), 1);
    assert_eq!(found("sub/Tasks.MD", "- [ ] a\n").len(), 1);
    assert!(found("README.md", "- [ ] a\n").is_empty());
}

#[test]
fn task_at_a_line() {
    let c = "/*\n TODO: in block\n*/\nint x; // FIXME: here\n";
    let task = task_at("src/a.c", c, 2).expect("task on line 2");
    assert_eq!(task.text, "in block");
    assert_eq!(task.file, "src/a.c");
    assert_eq!(
        task_at("src/a.c", c, 4).map(|t| t.marker),
        Some("FIXME".to_string())
    );
    assert_eq!(task_at("src/a.c", c, 1), None);
    assert_eq!(task_at("src/a.c", c, 99), None);
}

#[test]
fn labels() {
    let task = |marker: &str, text: &str| Task {
        file: "a".into(),
        line: 1,
        marker: marker.into(),
        text: text.into(),
    };
    assert_eq!(
        task("TODO", "handle empty input").label(),
        "TODO: handle empty input"
    );
    assert_eq!(task("FIXME", "").label(), "FIXME");
    assert_eq!(task("- [ ]", "write docs").label(), "- [ ] write docs");
    let long = task("TODO", &"é".repeat(300)).label();
    assert!(long.chars().count() < 120 && long.ends_with('…'), "{long}");
}

#[test]
fn crlf_bom_and_serde() {
    assert_one("a.c", "\u{feff}// TODO: bom\r\nx;\r\n", 1, "TODO", "bom");
    let task = &scan_text("a.c", "// TODO: x\n")[0];
    let json = serde_json::to_string(task).unwrap();
    assert_eq!(&serde_json::from_str::<Task>(&json).unwrap(), task);
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

fn write(root: &Path, path: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, contents).unwrap();
}

#[test]
fn scan_tree_of_a_git_repository() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, ".gitignore", "target/\n*.log\n");
    write(
        root,
        "target/debug/gen.rs",
        "// TODO: ignored by .gitignore\n",
    );
    write(root, "build.log", "# TODO: ignored by pattern\n");
    write(root, ".ignore", "vendor/\n");
    write(root, "vendor/lib.c", "// TODO: ignored by .ignore\n");
    write(root, ".git/info/exclude", "private.py\n");
    write(root, "private.py", "# TODO: ignored by git exclude\n");
    write(root, ".git/hooks/x.sample", "# TODO: inside .git\n");
    write(
        root,
        "src/main.rs",
        "fn main() {}\n// TODO: handle empty input\n// FIXME: b\n",
    );
    write(root, "src/blob.bin", b"\0\0// TODO: binary\n");
    write(root, "src/latin1.c", b"// TODO: caf\xe9 au lait\nint x;\n");
    write(
        root,
        "dir with spaces/ñandú 文件.py",
        "# XXX: unicode path\n",
    );
    write(root, "TASKS.md", "- [ ] ship it\n- [x] done\n");
    write(
        root,
        ".github/workflows/ci.yml",
        "# HACK: hidden dirs are scanned\n",
    );
    let huge = format!("// TODO: too big\n{}", "x".repeat(5 << 20));
    write(root, "huge.c", huge);

    let tasks = scan_tree(root).unwrap();
    let got: Vec<(&str, usize, &str, &str)> = tasks
        .iter()
        .map(|t| (t.file.as_str(), t.line, t.marker.as_str(), t.text.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                ".github/workflows/ci.yml",
                1,
                "HACK",
                "hidden dirs are scanned"
            ),
            ("TASKS.md", 1, "- [ ]", "ship it"),
            ("dir with spaces/ñandú 文件.py", 1, "XXX", "unicode path"),
            ("src/latin1.c", 1, "TODO", "caf\u{fffd} au lait"),
            ("src/main.rs", 2, "TODO", "handle empty input"),
            ("src/main.rs", 3, "FIXME", "b"),
        ]
    );
    // A subdirectory or a single file can be scanned too; paths stay relative to it.
    let src = scan_tree(&root.join("src")).unwrap();
    assert_eq!(
        src.iter().map(|t| t.file.as_str()).collect::<Vec<_>>(),
        ["latin1.c", "main.rs", "main.rs"]
    );
    let one = scan_tree(&root.join("src/main.rs")).unwrap();
    assert_eq!(one.len(), 2);
    assert_eq!(one[0].file, "main.rs");
}

#[test]
fn scan_tree_of_a_missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let error = scan_tree(&dir.path().join("nope")).unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
}

/// Times `scan_tree` on a generated 100,000-file tree. Run with
/// `cargo test --release -p fanout --test tasks -- --ignored --nocapture`.
#[test]
#[ignore = "slow: generates 100,000 files"]
fn scan_tree_100k_files() {
    const DIRS: usize = 1_000;
    const FILES_PER_DIR: usize = 100;
    let dir = tempfile::tempdir_in("/tmp").unwrap();
    let root = dir.path();
    let started = Instant::now();
    for d in 0..DIRS {
        let sub = root.join(format!("pkg{d}/src"));
        fs::create_dir_all(&sub).unwrap();
        for f in 0..FILES_PER_DIR {
            // One file in ten has a task; all look like ordinary source.
            let body = match f % 10 {
                0 => format!(
                    "fn f{f}() {{\n    let s = \"// TODO no\";\n    // TODO: task {d}/{f}\n}}\n"
                ),
                _ => {
                    format!("/// Does {f}.\nfn f{f}(x: &str) -> usize {{\n    x.len() + {d}\n}}\n")
                }
            };
            fs::write(sub.join(format!("m{f}.rs")), body).unwrap();
        }
    }
    println!(
        "generated {} files in {:?}",
        DIRS * FILES_PER_DIR,
        started.elapsed()
    );

    for run in ["cold-ish", "warm"] {
        let started = Instant::now();
        let tasks = scan_tree(root).unwrap();
        let elapsed = started.elapsed();
        println!("scan_tree ({run}): {} tasks in {elapsed:?}", tasks.len());
        assert_eq!(tasks.len(), DIRS * FILES_PER_DIR / 10);
        assert!(elapsed.as_secs() < 30, "took {elapsed:?}");
    }
}
