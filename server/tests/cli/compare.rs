//! `fanout compare`: a fanout's attempts side by side, with the edit agent making known
//! changes: two attempts the same byte for byte, two the same but for whitespace and a
//! comment, and both pairs touching the same line.

use crate::common::TestEnv;
use serde_json::{json, Value};

fn base() -> String {
    (1..=20).map(|i| format!("v{i} = {i}\n")).collect()
}

fn four_attempts() -> (TestEnv, String) {
    let b = base();
    let one = b.replace("v2 = 2\n", "v2 = 200\n") + "v21 = 21\n";
    let two = b.replace("v2 = 2\n", "v2 = 22\n");
    let four = b.replace("v2 = 2\n", "v2  =  22   # the answer\n");
    let spec = json!({
        "1": {"code.py": one, "notes.txt": "one\n"},
        "2": {"code.py": two},
        "3": {"code.py": one, "notes.txt": "one\n"},
        "4": {"code.py": four},
    });
    let env = TestEnv::new(&[("code.py", &b)]).with_edit_agent(&spec);
    let (fanout, _) = env.try_task(
        "code.py",
        1,
        &["-n", "4", "--agent", "edit", "--prompt", "change v2"],
    );
    env.wait_all_finished();
    (env, fanout)
}

/// The column of attempt `n` in a comparison (attempts come in rank order).
fn column(c: &Value, n: u64) -> usize {
    c["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["n"] == n)
        .unwrap()
}

#[test]
fn compare_shows_files_overlaps_and_the_same_changes() {
    let (env, fanout) = four_attempts();
    let c = env.json(&["compare", &fanout, "--json"]);
    assert_eq!(c["fanout"], fanout.as_str());
    assert_eq!(c["attempts"].as_array().unwrap().len(), 4);
    let files = c["files"].as_array().unwrap();
    assert_eq!(
        files.iter().map(|f| f["path"].clone()).collect::<Vec<_>>(),
        [json!("code.py"), json!("notes.txt")]
    );
    let code = &files[0]["cells"];
    assert_eq!(code[column(&c, 1)], json!({"additions": 2, "deletions": 1}));
    assert_eq!(code[column(&c, 2)], json!({"additions": 1, "deletions": 1}));
    assert_eq!(files[1]["cells"][column(&c, 2)], Value::Null);
    assert_eq!(
        files[1]["cells"][column(&c, 3)],
        json!({"additions": 1, "deletions": 0})
    );

    // Every pair that changes v2 differently overlaps on line 2; #1 and #3 make one change.
    let overlaps: Vec<(u64, u64)> = c["overlaps"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|o| {
            assert_eq!(o["path"], "code.py");
            assert_eq!(o["lines"], json!([2, 2]), "{o}");
        })
        .map(|o| {
            (
                o["attempts"][0].as_u64().unwrap(),
                o["attempts"][1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(overlaps, [(1, 2), (1, 4), (2, 3), (2, 4), (3, 4)]);
    assert_eq!(
        c["clusters"],
        json!([{"attempts": [1, 3], "identical": true}, {"attempts": [2, 4], "identical": false}])
    );
    for a in c["attempts"].as_array().unwrap() {
        assert_eq!(a["exit_code"], 0, "{a:#}");
        assert!(a["elapsed_secs"].is_u64(), "{a:#}");
    }

    let text = env.ok(&["compare", &fanout]);
    for expected in [
        "code.py",
        "+2 −1",
        "touching the same lines:",
        "#1 and #2: code.py line 2",
        "#1 #3 (identical)",
        "#2 #4 (the same but for whitespace and comments)",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
    let err = env.fails(&["compare", "nosuchid"]);
    assert!(
        err.contains("unknown attempt or fanout 'nosuchid'"),
        "{err}"
    );
}
