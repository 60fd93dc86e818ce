//! `fanout demo`: a newcomer's first run with nothing set up. It makes a throwaway repository
//! with a few TODOs, forks one into 3 attempts of a demo agent (fanout itself, run as
//! `fanout __demo-agent`, which edits the file differently in each attempt), shows the live
//! status, then the diffs.

use crate::config::{AgentProfile, Config};
use crate::error::{Error, IoContext, Result};
use crate::workspace::Workspace;
use std::path::Path;

const GREET_PY: &str = r#"def greet(name):
    # TODO: handle an empty or blank name
    return f"Hello, {name}!"


def farewell(name):
    # FIXME: this should be polite
    return "Bye " + name
"#;

const TASKS_MD: &str = "# Tasks\n\n- [x] say hello\n- [ ] say hello in French\n";

/// The three ways the demo agent does the task: a guard, a default, and a stricter version
/// with a test.
const VARIANTS: [&str; 3] = [
    "def greet(name):\n    if not name or not name.strip():\n        return \"Hello, world!\"\n    return f\"Hello, {name}!\"\n",
    "def greet(name):\n    name = (name or \"\").strip() or \"world\"\n    return f\"Hello, {name}!\"\n",
    "def greet(name):\n    if name is None or not name.strip():\n        raise ValueError(\"greet() needs a name\")\n    return f\"Hello, {name.strip()}!\"\n",
];

pub fn run(no_watch: bool) -> Result<i32> {
    let base = std::env::temp_dir().join(format!("fanout-demo-{}", crate::ids::new_fanout_id()));
    let repo_dir = base.join("greeter");
    std::fs::create_dir_all(&repo_dir).at(&repo_dir)?;
    println!(
        "fanout demo: a throwaway repository at {}",
        repo_dir.display()
    );
    std::fs::write(repo_dir.join("greet.py"), GREET_PY).at(repo_dir.join("greet.py"))?;
    std::fs::write(repo_dir.join("TASKS.md"), TASKS_MD).at(repo_dir.join("TASKS.md"))?;
    let repo = git2::Repository::init(&repo_dir)?;
    let mut index = repo.index()?;
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None)?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = git2::Signature::now("fanout demo", "demo@fanout.invalid")?;
    repo.commit(Some("HEAD"), &sig, &sig, "The greeter", &tree, &[])?;

    let ws = Workspace::open(&repo_dir)?;
    println!("\n$ fanout tasks");
    for t in crate::workspace::tasks(&repo_dir)? {
        println!("{}:{}: {}", t.file, t.line, t.label());
    }

    let exe = std::env::current_exe().map_err(|e| Error::Invalid(e.to_string()))?;
    let mut config = Config {
        attempts: Some(3),
        agents: Some(vec!["demo".into()]),
        worktree_root: Some(base.join("worktrees")),
        // The demo's agents only sleep a little: all three run at once whatever the cores.
        max_running: Some(3),
        ..Config::default()
    };
    config.agent.insert(
        "demo".into(),
        AgentProfile {
            command: vec![exe.to_string_lossy().into_owned(), "__demo-agent".into()],
            ..Default::default()
        },
    );
    println!("\n$ fanout try --file greet.py --line 2 -n 3 --agent demo");
    let req = crate::workspace::ForkRequest {
        file: "greet.py".into(),
        line: 2,
        count: Some(3),
        ..Default::default()
    };
    let result = ws.try_fork_with_config(req, &config)?;
    println!(
        "fanout {} started: {}\n",
        result.fanout,
        result.attempts.join(" ")
    );

    if no_watch {
        crate::process::wait_until(std::time::Duration::from_secs(120), || {
            ws.status()
                .map(|r| {
                    r.fanouts
                        .iter()
                        .flat_map(|f| &f.attempts)
                        .all(|a| a.state.is_finished())
                })
                .unwrap_or(true)
        });
        print!("{}", super::status_view::render(&ws.status()?, false));
    } else {
        super::watch_until_done(&ws, Some(&result.fanout))?;
    }

    let report = ws.status()?;
    let mut suggest = None;
    for f in &report.fanouts {
        let mut attempts = f.attempts.clone();
        attempts.sort_by_key(|a| a.n);
        for a in &attempts {
            println!(
                "\n$ fanout diff {}   # {} ({})",
                a.id,
                a.agent,
                a.state.as_str()
            );
            if !a.can_diff {
                println!("(it left no changes)");
                continue;
            }
            let rec = ws.attempt(&a.id)?;
            print!("{}", ws.diff(&rec, &[], None)?.diff);
        }
        if let Some(best) = &f.best {
            println!("\nbest by fanout's ranking: {best}");
        }
        // The best, else the first (in rank order) that can be accepted at all.
        suggest = f.best.clone().or_else(|| {
            f.attempts
                .iter()
                .find(|a| a.can_accept)
                .map(|a| a.id.clone())
        });
    }
    print!(
        "{}",
        next_steps(&repo_dir, &base, &result.fanout, suggest.as_deref())
    );
    Ok(0)
}

/// The demo's closing hints: commands that work as printed, pasted into a shell. They name
/// the binary that is running unless it is the `fanout` on PATH: after `cargo run`, no
/// `fanout` may be installed at all.
fn next_steps(repo_dir: &Path, base: &Path, fanout: &str, best: Option<&str>) -> String {
    let exe = std::env::current_exe().ok();
    let on_path = crate::agents::find_program("fanout")
        .and_then(|p| p.canonicalize().ok())
        .is_some_and(|p| exe.as_ref().and_then(|e| e.canonicalize().ok()) == Some(p));
    let program = match (&exe, on_path) {
        (Some(exe), false) => crate::text::shell_word(&exe.to_string_lossy()).into_owned(),
        _ => "fanout".to_string(),
    };
    let mut out = String::from("\nNext, in the demo repository (each line works as it is):\n");
    out.push_str(&format!(
        "  cd {}\n  {program} status\n",
        crate::text::shell_word(&repo_dir.to_string_lossy())
    ));
    if let Some(best) = best {
        out.push_str(&format!("  {program} accept {best}\n"));
    }
    out.push_str(&format!("  {program} discard {fanout}\n"));
    out.push_str(&match best {
        Some(best) => format!(
            "status shows every attempt; accept applies the best one ({best}) to the working tree\n(not committed: `git diff` shows it); discard removes the attempts, worktrees and branches.\n"
        ),
        None => "status shows every attempt; discard removes the attempts, worktrees and branches.\n"
            .to_string(),
    });
    if program != "fanout" {
        out.push_str(
            "(`cargo install --locked --path server` in fanout's clone puts `fanout` on your PATH)\n",
        );
    }
    out.push_str(&format!(
        "The demo repository and its worktrees live under {} (delete it when done).\n",
        crate::text::shell_word(&base.to_string_lossy())
    ));
    out
}

/// The demo agent: rewrites `greet` in the task's file, a different way per attempt.
pub fn agent() -> Result<i32> {
    let n: usize = std::env::var("FANOUT_ATTEMPT_NUMBER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let file = std::env::var("FANOUT_TASK_FILE").map_err(|_| {
        Error::Invalid("FANOUT_TASK_FILE is not set: the demo agent runs under fanout".into())
    })?;
    let variant = VARIANTS[(n - 1) % VARIANTS.len()];
    println!("demo agent {n}: reading {file}");
    // Pretend to think for a moment, a different time per attempt, so the live status has
    // something to show.
    std::thread::sleep(std::time::Duration::from_millis(700 + 600 * n as u64));
    let text = std::fs::read_to_string(&file).at(&file)?;
    let start = text
        .find("def greet(")
        .ok_or_else(|| Error::Invalid("no greet() in the task file".into()))?;
    let end = text[start..]
        .find("\n\n")
        .map(|i| start + i + 1)
        .unwrap_or(text.len());
    let new = format!("{}{}{}", &text[..start], variant, &text[end..]);
    std::fs::write(&file, new).at(&file)?;
    println!("demo agent {n}: rewrote greet()");
    if n.is_multiple_of(3) {
        let tests = Path::new("test_greet.py");
        std::fs::write(tests, "import pytest\nfrom greet import greet\n\n\ndef test_blank_name_is_refused():\n    with pytest.raises(ValueError):\n        greet(\"  \")\n").at(tests)?;
        println!("demo agent {n}: added test_greet.py");
    }
    Ok(0)
}
