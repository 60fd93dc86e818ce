//! Hunk-level accept: an attempt's change in hunks with stable ids, accepting some of them,
//! and hunks of two attempts combined, with the edit agent making known changes at known lines.

use crate::common::{hunk_with, TestEnv};
use serde_json::{json, Value};

/// 20 numbered lines: changes at lines 2, 10 and 18 are three hunks apart.
fn base() -> String {
    (1..=20).map(|i| format!("line {i}\n")).collect()
}

fn with(text: &str, replacements: &[(&str, &str)]) -> String {
    replacements
        .iter()
        .fold(text.to_string(), |t, (a, b)| t.replace(a, b))
}

/// Attempt 1 changes lines 2 and 18 of a.txt and adds b.txt; attempt 2 changes line 2
/// (differently) and line 10.
fn two_attempts() -> (TestEnv, String, Vec<String>) {
    let b = base();
    let spec = json!({
        "1": {"a.txt": with(&b, &[("line 2\n", "line two by 1\n"), ("line 18\n", "line 18\nline 18.5 by 1\n")]),
              "b.txt": "new file of 1\n"},
        "2": {"a.txt": with(&b, &[("line 2\n", "line 2 by 2\n"), ("line 10\n", "line ten by 2\n")])},
    });
    let env = TestEnv::new(&[("a.txt", &b), ("keep.txt", "untouched\n")]).with_edit_agent(&spec);
    let (fanout, attempts) = env.try_task(
        "a.txt",
        1,
        &["-n", "2", "--agent", "edit", "--prompt", "change a.txt"],
    );
    env.wait_all_finished();
    (env, fanout, attempts)
}

fn hunks(env: &TestEnv, id: &str) -> Vec<Value> {
    env.json(&["hunks", id, "--json"])["hunks"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn hunks_have_stable_ids_and_ranges_and_diff_marks_them() {
    let (env, _fanout, attempts) = two_attempts();
    let list = hunks(&env, &attempts[0]);
    assert_eq!(list.len(), 3, "{list:#?}");
    assert_eq!(
        list,
        hunks(&env, &attempts[0]),
        "listing again gives the same"
    );
    let a_top = list.iter().find(|h| h["path"] == "a.txt").unwrap();
    assert_eq!(
        (
            &a_top["kind"],
            &a_top["old_start"],
            &a_top["old_lines"],
            &a_top["new_lines"]
        ),
        (&json!("lines"), &json!(1), &json!(5), &json!(5)),
        "{a_top:#}"
    );
    let new_file = list.iter().find(|h| h["path"] == "b.txt").unwrap();
    assert_eq!(new_file["kind"], "file", "{new_file:#}");
    assert_eq!(new_file["text"], "new file\n");
    let bottom = hunk_with(&list, "line 18.5 by 1");
    assert_eq!(
        list.iter().find(|h| h["id"] == bottom.as_str()).unwrap()["old_start"],
        16
    );

    // Every @@ line of the diff names its hunk; the plain listing shows the same ids.
    let diff = env.ok(&["diff", &attempts[0]]);
    for h in list.iter().filter(|h| h["path"] == "a.txt") {
        let id = h["id"].as_str().unwrap();
        let head = h["text"].as_str().unwrap().lines().next().unwrap();
        assert!(
            diff.contains(&format!("{head} hunk {id}\n")),
            "{id}: {diff}"
        );
    }
    let plain = env.ok(&["hunks", &attempts[0]]);
    assert!(
        plain.contains(&bottom) && plain.contains("lines 16-20 → 16-21"),
        "{plain}"
    );

    // A fanout lists every attempt's hunks, each with its attempt.
    let all = hunks(&env, &attempts[0][..attempts[0].len() - 2]);
    assert_eq!(all.len(), 5, "{all:#?}");
    assert_eq!(
        all.iter()
            .filter(|h| h["attempt"] == attempts[1].as_str())
            .count(),
        2
    );
}

#[test]
fn accepting_some_hunks_writes_only_them_byte_for_byte() {
    let (env, _fanout, attempts) = two_attempts();
    let list = hunks(&env, &attempts[0]);
    let bottom = hunk_with(&list, "line 18.5 by 1");
    let out = env.ok(&["accept", &attempts[0], "--hunks", &bottom]);
    assert!(out.contains("modified   a.txt"), "{out}");
    assert_eq!(
        env.read("a.txt"),
        with(&base(), &[("line 18\n", "line 18\nline 18.5 by 1\n")]),
        "only the chosen hunk; line 2 stays as it was"
    );
    assert!(!env.path("b.txt").exists(), "the new file was not chosen");
    assert_eq!(env.read("keep.txt"), "untouched\n");
    // The same hunk again: the file has it already.
    let again = env.ok(&["accept", &attempts[0], "--hunks", &bottom]);
    assert!(again.contains("nothing to apply"), "{again}");
    // A whole-file hunk: the new file, exactly.
    let new_file = hunk_with(&list, "new file");
    env.ok(&["accept", &attempts[0], "--hunks", &new_file[..6]]);
    assert_eq!(env.read("b.txt"), "new file of 1\n");
}

#[test]
fn hunks_of_two_attempts_combine_into_one_file() {
    let (env, fanout, attempts) = two_attempts();
    let bottom_of_1 = hunk_with(&hunks(&env, &attempts[0]), "line 18.5 by 1");
    let middle_of_2 = hunk_with(&hunks(&env, &attempts[1]), "line ten by 2");
    let both = with(
        &base(),
        &[
            ("line 10\n", "line ten by 2\n"),
            ("line 18\n", "line 18\nline 18.5 by 1\n"),
        ],
    );

    // One after the other: the second merges onto the file holding the first.
    env.ok(&["accept", &attempts[0], "--hunks", &bottom_of_1]);
    env.ok(&["accept", &attempts[1], "--hunks", &middle_of_2]);
    assert_eq!(env.read("a.txt"), both);

    // Or in one accept of the fanout, each hunk taken from the attempt that has it.
    env.write("a.txt", &base());
    let ids = format!("{middle_of_2},{bottom_of_1}");
    env.ok(&["accept", &fanout, "--hunks", &ids]);
    assert_eq!(env.read("a.txt"), both);
}

#[test]
fn conflicting_hunk_choices_write_nothing() {
    let (env, fanout, attempts) = two_attempts();
    let list1 = hunks(&env, &attempts[0]);
    let top_of_1 = hunk_with(&list1, "line two by 1");
    let bottom_of_1 = hunk_with(&list1, "line 18.5 by 1");
    let top_of_2 = hunk_with(&hunks(&env, &attempts[1]), "line 2 by 2");
    let before = env.user_state();

    // Two chosen hunks change line 2: refused whole, with the one that would fit.
    let ids = format!("{bottom_of_1},{top_of_1},{top_of_2}");
    let err = env.fails(&["accept", &fanout, "--hunks", &ids]);
    assert!(
        err.contains(&top_of_1) && err.contains(&top_of_2) && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(env.user_state(), before);

    // One after the other: the second conflicts with the file as the first left it.
    env.ok(&["accept", &attempts[0], "--hunks", &top_of_1]);
    let after_first = env.user_state();
    let out = env.fanout(&["accept", &attempts[1], "--hunks", &top_of_2]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("conflicts") && err.contains("a.txt"), "{err}");
    assert_eq!(env.user_state(), after_first);

    // An id no attempt has, in the user's words.
    let err = env.fails(&["accept", &attempts[0], "--hunks", "0000ffff"]);
    assert!(err.contains("has no hunk 0000ffff"), "{err}");
    assert!(err.contains("fanout hunks"), "{err}");
    assert_eq!(env.user_state(), after_first);
}
