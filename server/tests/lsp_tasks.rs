//! The task list workflow through `fanout lsp`, as an editor drives it: the lenses of an open
//! TASKS.md (`Plan tasks…`, `Run all K tasks`, then `Integrate`, each item's state, the
//! integration and its accept), the commands they run, and accepting the integration as one
//! edit of the open buffer that checks the boxes.

mod common;

use common::cli::fixture;
use common::lsp_client::LspClient;
use common::TestEnv;
use serde_json::{json, Value};

const TASKS: &str =
    "# Game\n\n- [ ] Board\n  Touches: board.py\n- [ ] Search\n  Touches: search.py\n";

fn team_env() -> TestEnv {
    let env = TestEnv::named("proj", &[("TASKS.md", TASKS), ("README.md", "# game\n")]);
    let agent = fixture("agents/team-agent").display().to_string();
    let path = env.base().join("config/fanout/config.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("agents = [\"fake\"]", "agents = [\"team\"]\nattempts = 2");
    let text = text.replacen("attempts = 3\n", "", 1)
        + &format!("\n[agent.team]\ncommand = [\"python3\", \"{agent}\", \"{{prompt_file}}\"]\n");
    std::fs::write(&path, text).unwrap();
    let spec = env.base().join("team-spec.json");
    std::fs::write(
        &spec,
        json!({"Board": {"board.py": "BOARD = {attempt}\n"}, "Search": {"search.py": "S = 1\n"}})
            .to_string(),
    )
    .unwrap();
    env.with("TEAM_AGENT_SPEC", &spec.display().to_string())
}

/// (line, title, command, argument) of each lens of `uri`, in line then column order.
fn lenses(client: &mut LspClient, uri: &str) -> Vec<(u32, String, String, Value)> {
    let result = client
        .request(
            "textDocument/codeLens",
            json!({"textDocument": {"uri": uri}}),
        )
        .expect("codeLens");
    let mut out: Vec<(u32, u32, String, String, Value)> = result
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|l| {
            (
                l["range"]["start"]["line"].as_u64().unwrap() as u32,
                l["range"]["start"]["character"].as_u64().unwrap() as u32,
                l["command"]["title"].as_str().unwrap().to_string(),
                l["command"]["command"].as_str().unwrap().to_string(),
                l["command"]["arguments"][0].clone(),
            )
        })
        .collect();
    out.sort_by_key(|l| (l.0, l.1));
    out.into_iter()
        .map(|(l, _, t, c, a)| (l, t, c, a))
        .collect()
}

fn titles_on(lenses: &[(u32, String, String, Value)], line: u32) -> Vec<String> {
    lenses
        .iter()
        .filter(|l| l.0 == line)
        .map(|l| l.1.clone())
        .collect()
}

fn lens<'a>(
    lenses: &'a [(u32, String, String, Value)],
    title: &str,
) -> &'a (u32, String, String, Value) {
    lenses
        .iter()
        .find(|l| l.1.starts_with(title))
        .unwrap_or_else(|| panic!("a lens {title:?} in {lenses:#?}"))
}

#[test]
fn a_task_list_runs_integrates_and_is_accepted_from_its_lenses() {
    let env = team_env();
    let mut client = env.start_server(&[]);
    client.initialize(
        &env.repo,
        json!({"workspace": {"applyEdit": true, "workspaceEdit": {"documentChanges": true}}}),
        Value::Null,
    );
    let uri = env.uri("TASKS.md");
    client.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": TASKS}}),
    );

    // Before any run: the list's lenses on its first line, then each item's Try.
    let ls = lenses(&mut client, &uri);
    assert_eq!(
        titles_on(&ls, 0),
        ["Plan tasks…", "Run all 2 tasks (2 approaches each)"]
    );
    assert_eq!(titles_on(&ls, 2), ["Try 2 approaches"]);
    // The plan lens carries no goal: a client must ask for one.
    let plan = lens(&ls, "Plan tasks…").clone();
    let e = client.execute(&plan.2, plan.3.clone()).unwrap_err();
    assert!(e.message.contains("prompt"), "{e:?}");

    // Run all: one fanout per item.
    let run = lens(&ls, "Run all").clone();
    assert_eq!(run.2, "fanout.tryAll");
    let started = client
        .execute(&run.2, run.3.clone())
        .expect("fanout.tryAll");
    assert_eq!(
        started["started"].as_array().unwrap().len(),
        2,
        "{started:#}"
    );
    let note = client.wait_for("both items ready to integrate", |m| {
        m.is("fanout/status")
            && m.params["batches"][0]["items"]
                .as_array()
                .is_some_and(|items| {
                    items.len() == 2
                        && items.iter().all(|i| {
                            i["label"]
                                .as_str()
                                .unwrap_or("")
                                .contains("ready to integrate")
                        })
                })
    });
    assert_eq!(note.params["batches"][0]["file"], "TASKS.md");

    let ls = lenses(&mut client, &uri);
    let item = titles_on(&ls, 2);
    assert!(
        item.iter()
            .any(|t| t.starts_with("★ ") && t.ends_with("ready to integrate")),
        "{item:?}"
    );
    let integrate = lens(&ls, "Integrate (2 items: 2 ready)").clone();
    let report = client
        .execute(&integrate.2, integrate.3.clone())
        .expect("fanout.integrate");
    let outcomes: Vec<&str> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["merged", "merged"], "{report:#}");
    let attempt = report["attempt"].as_str().unwrap().to_string();

    client.wait_for("the integration in the status", |m| {
        m.is("fanout/status") && m.params["batches"][0]["integration"]["merged"] == 2
    });
    let ls = lenses(&mut client, &uri);
    let shown = lens(&ls, "integration: 2 of 2 merged");
    assert_eq!(shown.2, "fanout.openDiff");
    assert_eq!(shown.3["attempt"], attempt.as_str());
    assert!(titles_on(&ls, 2).iter().any(|t| t.starts_with("✓ merged")));
    let accept = lens(&ls, "Accept the integration").clone();

    // Accepting it: one edit of the open TASKS.md checks both boxes; the new files come too.
    let mark = client.mark();
    let result = client.execute(&accept.2, accept.3.clone()).expect("accept");
    assert_eq!(result["applied"], true, "{result}");
    let request = client.wait_for_after(mark, "the accept's edit", |m| m.is("workspace/applyEdit"));
    let ops = request.params["edit"]["documentChanges"]
        .as_array()
        .unwrap()
        .clone();
    let tasks_edit = ops
        .iter()
        .find(|o| o["textDocument"]["uri"] == uri.as_str())
        .unwrap_or_else(|| panic!("an edit of TASKS.md in {ops:#?}"));
    let new_texts: String = tasks_edit["edits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["newText"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(new_texts.matches("- [x]").count(), 2, "{tasks_edit:#}");
    // A client without file operations: the server wrote the new files itself.
    assert_eq!(
        result["onDisk"],
        json!(["board.py", "search.py"]),
        "{result}"
    );
    assert_eq!(env.read("board.py").trim_end().len(), "BOARD = 1".len());

    env.discard_all();
    let status = client.shutdown_and_exit();
    assert_eq!(status.code(), Some(0), "{}", client.stderr());
    assert!(client.framing_errors().is_empty());
}
