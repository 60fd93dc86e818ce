//! The `fanout` command line: clap definitions and one function per command. Everything it
//! does is a call to the engine's facade ([`Workspace`] and the functions beside it); this
//! module only parses arguments and prints.

mod demo;
mod status_view;

use crate::error::{Error, Result};
use crate::text::escape_line;
use crate::workspace::{Overrides, Workspace};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "fanout",
    version,
    about = "Fork one coding task into N AI-agent attempts in isolated git worktrees, then keep the best."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// List the tasks (TODO/FIXME/XXX/HACK comments, `- [ ]` items in TASKS.md) in a tree.
    Tasks {
        /// Folder or file to scan (default: the current folder).
        path: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Fork the task at FILE:LINE into N attempts, one agent each, and return at once; or,
    /// with --all, every unchecked item of a task list.
    Try {
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        file: Option<PathBuf>,
        /// 1-based line of the task.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        line: Option<usize>,
        /// Fork every unchecked `- [ ]` item of the task list (default TASKS.md), a fanout of
        /// N attempts each; items with `after:` wait until `fanout integrate` has merged what
        /// they need.
        #[arg(long, value_name = "TASKS.md", num_args = 0..=1, default_missing_value = "TASKS.md")]
        all: Option<PathBuf>,
        /// Number of attempts (default: one per --agent, else the config's `attempts`).
        #[arg(short = 'n', long = "count")]
        count: Option<usize>,
        /// Agent for the attempts, repeated to rotate: --agent claude --agent codex:gpt-5.
        /// NAME:MODEL picks the model.
        #[arg(long = "agent")]
        agents: Vec<String>,
        /// Agents with counts, one attempt each: --agents claude:3,codex:2 (after any --agent).
        #[arg(long = "agents", value_name = "LIST")]
        agent_counts: Option<String>,
        /// Instructions replacing the task's text (also lets you fork a line with no task).
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Let a lead agent break a goal into a task list (TASKS.md): one attempt whose diff you
    /// read and accept like any other; then `fanout try --all`.
    Plan {
        /// The goal to plan.
        #[arg(long)]
        prompt: String,
        /// The lead's agent (default: the config's `lead`, else the roster's first).
        #[arg(long)]
        agent: Option<String>,
        /// The task list to write or extend.
        #[arg(long, default_value = "TASKS.md")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Merge each task list item's chosen attempt (your --pick, else the best) into one
    /// integration branch, verifying after each merge; start the items that waited for them.
    /// Accept the integration like an attempt.
    Integrate {
        /// The task list run: its id, or the task list's path (default: the latest run).
        #[arg(long = "tasks", value_name = "RUN|TASKS.md")]
        batch: Option<String>,
        /// Choose an item's attempt: ITEM=ATTEMPT, the item by number from 1 or title.
        #[arg(long = "pick", value_name = "ITEM=ATTEMPT")]
        picks: Vec<String>,
        /// Start again from the snapshot even if the integration branch has your own commits.
        #[arg(long)]
        rebuild: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show every fanout of the repository and its attempts.
    Status {
        #[arg(long)]
        json: bool,
        /// Redraw live until every attempt has finished.
        #[arg(long)]
        watch: bool,
    },
    /// Print an attempt's change as a unified diff against your current working tree.
    Diff {
        attempt: String,
        /// Only the files and their line counts.
        #[arg(long)]
        stat: bool,
    },
    /// List an attempt's hunks (or every attempt's of a fanout): id, file, line ranges.
    Hunks {
        /// An attempt, or a fanout for all of its attempts.
        attempt: String,
        #[arg(long)]
        json: bool,
    },
    /// A fanout's attempts side by side: files and +/- per attempt, lines two attempts both
    /// change, attempts that made the same change, verify, exit, size, time, tokens, cost.
    Compare {
        fanout: String,
        #[arg(long)]
        json: bool,
    },
    /// Let a judge agent rank a fanout's attempts (all of them together), wait for its verdict
    /// and print it. Running it again replaces the verdict.
    Review {
        fanout: String,
        /// The judge's agent profile (default: config `judge`, else the roster's first).
        #[arg(long)]
        agent: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Add one more attempt to a fanout that combines the best of its attempts: its prompt
    /// holds the task, every attempt's diff, verify results and the judge's verdict.
    Synthesize {
        fanout: String,
        /// Its agent profile (default: the roster's first).
        #[arg(long)]
        agent: Option<String>,
    },
    /// Print an attempt's agent output (control characters shown escaped).
    Log {
        attempt: String,
        /// Keep printing as the agent writes, until the attempt ends.
        #[arg(short, long)]
        follow: bool,
        /// Print the output exactly as the agent wrote it, escape sequences included.
        #[arg(long)]
        raw: bool,
    },
    /// Apply an attempt's change to your working tree (3-way merge; never touches HEAD or the index).
    Accept {
        /// An attempt; with --hunks, also a fanout (each hunk is taken from the attempt that has it).
        attempt: String,
        /// Only these hunks (ids from `fanout hunks`, comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "ID,ID")]
        hunks: Option<Vec<String>>,
        /// On conflicts: abort (default, nothing is written) or write conflict markers.
        #[arg(long, value_enum, default_value_t = ConflictMode::Abort)]
        conflicts: ConflictMode,
    },
    /// Stop attempts if running and remove their worktrees and branches.
    Discard {
        #[arg(required = true)]
        ids: Vec<String>,
        /// Remove them even if their worktrees hold changes their branches do not.
        #[arg(long)]
        force: bool,
    },
    /// Stop running attempts, keeping their worktrees and branches.
    Cancel {
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Remove finished attempts older than the configured age, prune stale worktree records.
    Gc {
        /// Age, e.g. 7d, 12h, 30m (default: config `gc_age`, else 7d).
        #[arg(long)]
        older_than: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Fill the pool of warm worktrees ahead of time, so the next `fanout try` reuses them.
    Warm {
        /// How many to add (default: up to the pool's size, config `pool`).
        #[arg(short = 'n', long = "count")]
        count: Option<usize>,
    },
    /// Send a follow-up to one finished attempt: its agent runs again in the same worktree.
    Continue {
        attempt: String,
        #[arg(long)]
        prompt: String,
    },
    /// Name the best attempt of a fanout (verify passed > exited 0 > smaller change > faster).
    Best {
        fanout: String,
        #[arg(long)]
        json: bool,
    },
    /// List every agent profile: where it comes from, its binary and version, the argv it runs.
    Agents {
        #[arg(long)]
        json: bool,
    },
    /// Review the repository's .fanout.toml and trust it to run its commands.
    Trust {
        /// Trust without asking (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// A first run with no setup: a throwaway repository, a task forked into 3 demo attempts.
    Demo {
        /// Keep going without pausing between steps (for scripts).
        #[arg(long)]
        no_watch: bool,
    },
    /// Print a shell completion script: `fanout completions bash > ~/.local/share/bash-completion/completions/fanout`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (fanout.1 and one per command, fanout-try.1, ...) into a folder:
    /// `fanout man ~/.local/share/man/man1`, then `man fanout`.
    Man {
        /// The folder to write them to (created if needed).
        dir: PathBuf,
    },
    /// The language server, over stdio.
    Lsp {
        /// Accepted for clients that pass it (VS Code); stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
    #[command(name = "__supervise", hide = true)]
    Supervise { dir: PathBuf },
    #[command(name = "__demo-agent", hide = true)]
    DemoAgent,
    #[command(name = "__empty-trash", hide = true)]
    EmptyTrash { dir: PathBuf },
}

impl Command {
    /// Commands whose output a reader pipes into `head`, `less` and the like. Not the
    /// language server (its client going away is handled as end of input) nor the supervisor.
    pub fn prints_to_a_reader(&self) -> bool {
        !matches!(
            self,
            Command::Lsp { .. }
                | Command::Supervise { .. }
                | Command::DemoAgent
                | Command::EmptyTrash { .. }
        )
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ConflictMode {
    Abort,
    Markers,
}

/// Run a command; Ok(code) is the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Tasks { path, json } => tasks(path, json),
        Command::Try {
            file,
            line,
            all,
            count,
            mut agents,
            agent_counts,
            prompt,
            json,
        } => {
            if let Some(list) = agent_counts {
                agents.extend(crate::agents::expand_counts(&list)?);
            }
            match (all, file, line) {
                (Some(list), _, _) => {
                    if prompt.is_some() {
                        return Err(Error::Invalid(
                            "--prompt does not go with --all: each item is its own prompt".into(),
                        ));
                    }
                    try_all(list, count, agents, json)
                }
                (None, Some(file), Some(line)) => try_fork(file, line, count, agents, prompt, json),
                _ => Err(Error::Invalid(
                    "say which task: --file FILE --line N, or --all".into(),
                )),
            }
        }
        Command::Plan {
            prompt,
            agent,
            file,
            json,
        } => plan(&prompt, agent.as_deref(), &file, json),
        Command::Integrate {
            batch,
            picks,
            rebuild,
            json,
        } => integrate(batch, &picks, rebuild, json),
        Command::Status { json, watch } => status(json, watch),
        Command::Diff { attempt, stat } => diff(&attempt, stat),
        Command::Log {
            attempt,
            follow,
            raw,
        } => log(&attempt, follow, raw),
        Command::Hunks { attempt, json } => hunks(&attempt, json),
        Command::Compare { fanout, json } => compare(&fanout, json),
        Command::Synthesize { fanout, agent } => synthesize(&fanout, agent.as_deref()),
        Command::Review {
            fanout,
            agent,
            json,
        } => review(&fanout, agent.as_deref(), json),
        Command::Accept {
            attempt,
            hunks,
            conflicts,
        } => accept(&attempt, hunks.as_deref(), conflicts),
        Command::Discard { ids, force } => discard_or_cancel(&ids, true, force),
        Command::Cancel { ids } => discard_or_cancel(&ids, false, false),
        Command::Gc { older_than, json } => gc(older_than, json),
        Command::Continue { attempt, prompt } => continue_attempt(&attempt, &prompt),
        Command::Best { fanout, json } => best(&fanout, json),
        Command::Agents { json } => agents(json),
        Command::Trust { yes } => trust(yes),
        Command::Demo { no_watch } => demo::run(no_watch),
        Command::Completions { shell } => {
            let mut cmd = documented_command();
            clap_complete::generate(shell, &mut cmd, "fanout", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir } => man_pages(&dir),
        Command::Lsp { .. } => crate::lsp::serve(),
        Command::Supervise { dir } => crate::supervisor::run(&dir).map(|_| 0),
        Command::DemoAgent => demo::agent(),
        Command::Warm { count } => warm(count),
        Command::EmptyTrash { dir } => {
            crate::workspace::empty_trash(&dir);
            Ok(0)
        }
    }
}

/// The command line as users see it, for completions and the man page: without the hidden
/// internal commands (`__supervise`, `__demo-agent`), which the generators would list.
fn documented_command() -> clap::Command {
    let full = <Cli as clap::CommandFactory>::command();
    let mut cmd = clap::Command::new("fanout")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd.subcommands(full.get_subcommands().filter(|c| !c.is_hide_set()).cloned())
}

/// `fanout.1` and `fanout-<command>.1` for every documented command, in `dir`.
fn man_pages(dir: &std::path::Path) -> Result<i32> {
    use crate::error::IoContext;
    std::fs::create_dir_all(dir).at(dir)?;
    let top = documented_command();
    let mut pages = vec![("fanout".to_string(), top.clone())];
    for sub in top.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("fanout-{}", sub.get_name());
        // The page is `fanout-try` (as the top page's list names it); its synopsis says
        // `fanout try`, the command as typed.
        let typed = format!("fanout {}", sub.get_name());
        let page = sub
            .clone()
            .name(name.clone())
            .bin_name(typed)
            .version(env!("CARGO_PKG_VERSION"));
        pages.push((name, page));
    }
    for (name, cmd) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut bytes = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut bytes)
            .map_err(|e| Error::Invalid(format!("rendering {name}.1: {e}")))?;
        std::fs::write(&path, bytes).at(&path)?;
        println!("{}", crate::text::quote_path_str(&path.to_string_lossy()));
    }
    Ok(0)
}

/// The repository of the current folder. What opening it did (an interrupted accept rolled
/// back) is said on stderr, whatever the command.
fn here() -> Result<Workspace> {
    let ws = Workspace::open_here()?;
    for note in ws.notes() {
        eprintln!("fanout: {}", escape_line(note));
    }
    Ok(ws)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?
    );
    Ok(0)
}

fn tasks(path: Option<PathBuf>, json: bool) -> Result<i32> {
    let root = path.unwrap_or_else(|| PathBuf::from("."));
    let found = crate::workspace::tasks(&root)?;
    if json {
        return print_json(&found);
    }
    for t in &found {
        println!(
            "{}:{}: {}",
            crate::text::quote_path_str(&t.file),
            t.line,
            escape_line(&t.label())
        );
    }
    Ok(0)
}

fn try_fork(
    file: PathBuf,
    line: usize,
    count: Option<usize>,
    agents: Vec<String>,
    prompt: Option<String>,
    json: bool,
) -> Result<i32> {
    let ws = here()?;
    let rel = ws.relative(&file)?;
    let req = crate::workspace::ForkRequest {
        file: rel,
        line,
        count,
        agents,
        prompt,
        ..Default::default()
    };
    let result = ws.try_fork(req, &Overrides::default())?;
    for w in &result.warnings {
        eprintln!("fanout: warning: {w}");
    }
    if json {
        return print_json(&result);
    }
    println!(
        "fanout {} started {} attempt{}: {}",
        result.fanout,
        result.attempts.len(),
        if result.attempts.len() == 1 { "" } else { "s" },
        result.attempts.join(" ")
    );
    println!(
        "watch them with `fanout status --watch`; see one with `fanout diff {}`",
        result.attempts[0]
    );
    Ok(0)
}

fn try_all(list: PathBuf, count: Option<usize>, agents: Vec<String>, json: bool) -> Result<i32> {
    let ws = here()?;
    let file = ws.relative(&list)?;
    let req = crate::workspace::BatchRequest {
        file,
        count,
        agents,
        overlays: vec![],
    };
    let started = ws.try_all(req, &Overrides::default())?;
    for w in &started.warnings {
        eprintln!("fanout: warning: {}", escape_line(w));
    }
    if json {
        return print_json(&crate::proto::TryAllResult::from(&started));
    }
    println!(
        "task list run {} of {}: {} item{} started, {} waiting",
        started.batch,
        escape_line(&started.file),
        started.started.len(),
        if started.started.len() == 1 { "" } else { "s" },
        started.waiting.len()
    );
    for (title, r) in &started.started {
        println!(
            "  - [ ] {}: fanout {} ({})",
            escape_line(title),
            r.fanout,
            r.attempts.join(" ")
        );
    }
    for (title, after) in &started.waiting {
        println!(
            "  - [ ] {}: waits for {}",
            escape_line(title),
            escape_line(&after.join(", "))
        );
    }
    for (title, error) in &started.failed {
        println!(
            "  - [ ] {}: could not start ({}); `fanout integrate` tries again",
            escape_line(title),
            escape_line(error)
        );
    }
    println!(
        "watch them with `fanout status --watch`; when they are done, `fanout integrate` merges the best of each{}",
        if started.waiting.is_empty() {
            ""
        } else {
            " and starts the items that wait"
        }
    );
    Ok(0)
}

fn plan(goal: &str, agent: Option<&str>, file: &std::path::Path, json: bool) -> Result<i32> {
    let ws = here()?;
    let rel = ws.relative(file)?;
    let result = ws.plan(goal, Some(&rel), agent, vec![], &Overrides::default())?;
    for w in &result.warnings {
        eprintln!("fanout: warning: {}", escape_line(w));
    }
    if json {
        return print_json(&result);
    }
    let id = &result.attempts[0];
    println!("fanout {} started the lead: {id}", result.fanout);
    println!(
        "when it is done, read its plan with `fanout diff {id}`, take it with `fanout accept {id}`, then run every item with `fanout try --all {}`",
        crate::text::quote_path_str(&rel)
    );
    Ok(0)
}

fn integrate(batch: Option<String>, picks: &[String], rebuild: bool, json: bool) -> Result<i32> {
    let ws = here()?;
    let picks = picks
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(i, a)| (i.trim().to_string(), a.trim().to_string()))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "--pick {p}: write ITEM=ATTEMPT, like --pick 2=7f3a9c-1"
                    ))
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let report = ws.integrate(
        crate::workspace::IntegrateRequest {
            batch,
            picks,
            rebuild,
        },
        &Overrides::default(),
    )?;
    if json {
        return print_json(&crate::proto::IntegrateResult::from(&report));
    }
    println!(
        "integration {} of {} (branch {}){}",
        report.attempt,
        escape_line(&report.file),
        report.branch,
        if report.rebuilt {
            ", started again from the snapshot"
        } else {
            ""
        }
    );
    if report.recovered {
        println!("  (an integrate killed mid-way was undone first)");
    }
    let mut problems = false;
    for item in &report.items {
        let what = &item.text;
        problems |= matches!(
            item.outcome,
            crate::workspace::Outcome::Conflicted { .. }
                | crate::workspace::Outcome::VerifyBroke { .. }
        );
        println!(
            "  {}. {}: {}",
            item.number,
            escape_line(&item.title),
            escape_line(what)
        );
        if let crate::workspace::Outcome::VerifyBroke { tail, .. } = &item.outcome {
            for l in tail.iter().rev().take(5).rev() {
                println!("       | {}", escape_line(l));
            }
        }
    }
    println!(
        "see it with `fanout diff {a}`; take it with `fanout accept {a}` (it checks the merged items' boxes){}",
        if problems {
            "; for a conflict or a broken verify, choose another attempt with --pick ITEM=ATTEMPT, synthesize one (`fanout synthesize FANOUT`), or merge by hand in the integration's worktree, then integrate again"
        } else {
            ""
        },
        a = report.attempt
    );
    Ok(0)
}

fn status(json: bool, watch: bool) -> Result<i32> {
    let ws = here()?;
    if json && !watch {
        return print_json(&crate::proto::Status::from(&ws.status()?));
    }
    if !watch {
        let color = std::io::stdout().is_terminal();
        print!("{}", status_view::render(&ws.status()?, color));
        return Ok(0);
    }
    watch_until_done(&ws, None)
}

/// Redraw the status until every attempt (of `only`, if given) has finished.
fn watch_until_done(ws: &Workspace, only: Option<&str>) -> Result<i32> {
    let tty = std::io::stdout().is_terminal();
    let mut last = String::new();
    let mut drawn_lines = 0;
    loop {
        let mut report = ws.status()?;
        if let Some(id) = only {
            report.fanouts.retain(|f| f.id == id);
        }
        let text = status_view::render(&report, tty);
        if text != last {
            let mut out = std::io::stdout().lock();
            if tty {
                // Redraw in place: back up over the previous drawing and clear below it, so
                // what the terminal showed before stays. Lines are cut to the width so each
                // takes exactly one row.
                if drawn_lines > 0 {
                    let _ = write!(out, "\x1b[{drawn_lines}F\x1b[J");
                }
                let fitted = status_view::fit_to_width(&text, terminal_width());
                drawn_lines = fitted.lines().count();
                let _ = write!(out, "{fitted}");
            } else {
                let _ = write!(out, "{text}");
            }
            let _ = out.flush();
            last = text;
        }
        let running = report
            .fanouts
            .iter()
            .flat_map(|f| &f.attempts)
            .any(|a| !a.state.is_finished());
        if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The terminal's width in columns (80 when it cannot be told).
fn terminal_width() -> usize {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        size.ws_col as usize
    } else {
        80
    }
}

fn diff(attempt: &str, stat: bool) -> Result<i32> {
    let ws = here()?;
    let a = ws.readable_attempt(attempt)?;
    let report = ws.diff(&a, &[], None)?;
    // Said on stderr: stdout stays a patch.
    let changed = a.diffstat.is_some_and(|d| d.files > 0);
    let note = match (a.accepted_at, report.files.is_empty()) {
        (Some(at), true) => Some(format!(
            "{} was accepted at {}: your files already have its change",
            a.id,
            crate::labels::clock(at)
        )),
        (Some(at), false) => Some(format!(
            "{} was accepted at {}; your files have changed since: this is what accepting it again would do",
            a.id,
            crate::labels::clock(at)
        )),
        (None, true) if changed => Some(format!(
            "{}: nothing to show: your files already have its change",
            a.id
        )),
        (None, true) => Some(format!("{} changed nothing", a.id)),
        (None, false) => None,
    };
    if let Some(note) = note {
        eprintln!("fanout: {note}");
    }
    if stat {
        for f in &report.files {
            let status = serde_json::to_value(f.status).unwrap_or_default();
            println!(
                "{:>5} {:>5}  {} ({})",
                format!("+{}", f.additions),
                format!("-{}", f.deletions),
                crate::text::quote_path(&f.raw_path),
                status.as_str().unwrap_or_default()
            );
        }
        println!("{} file(s) changed", report.files.len());
    } else {
        print!("{}", report.diff);
    }
    Ok(0)
}

/// Agent output for the terminal: as written with `raw`, else with control characters escaped
/// (an agent's output must not be able to drive the user's terminal).
fn write_log(out: &mut impl Write, bytes: &[u8], raw: bool) {
    if raw {
        let _ = out.write_all(bytes);
    } else {
        let _ = out.write_all(crate::text::escape_bytes_lines(bytes).as_bytes());
    }
}

fn log(attempt: &str, follow: bool, raw: bool) -> Result<i32> {
    let ws = here()?;
    let a = ws.attempt(attempt)?;
    let mut out = std::io::stdout().lock();
    ws.follow_log(&a, follow, &mut |bytes| {
        write_log(&mut out, bytes, raw);
        let _ = out.flush();
    })?;
    Ok(0)
}

fn synthesize(id: &str, agent: Option<&str>) -> Result<i32> {
    let ws = here()?;
    let a = ws.synthesize(id, agent, &Overrides::default())?;
    let from = match &a.role {
        crate::workspace::Role::Synthesis { from } => from
            .iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    println!(
        "{} ({}) is combining {from}; `fanout status --watch` to follow it",
        a.id,
        escape_line(&a.agent)
    );
    Ok(0)
}

fn review(id: &str, agent: Option<&str>, json: bool) -> Result<i32> {
    let ws = here()?;
    let started = ws.review(id, agent, &Overrides::default())?;
    if !json {
        eprintln!(
            "fanout: {} is reviewing the attempts of {}...",
            escape_line(&started.agent),
            started.fanout
        );
    }
    let f = loop {
        let f = ws.fanout_status(&started.fanout)?;
        if f.review.as_ref().is_none_or(|r| r.state.is_finished()) {
            break f;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let review = f.review.as_ref();
    if json {
        print_json(&serde_json::json!({
            "review": review.map(crate::proto::Review::from),
            "verdict": f.verdict.as_ref().map(crate::proto::Verdict::from),
        }))?;
    }
    let succeeded = review.is_some_and(|r| r.state == crate::workspace::AttemptState::Succeeded);
    let Some(v) = f.verdict.as_ref().filter(|_| succeeded) else {
        let (state, why) = review
            .map(|r| (r.state.as_str(), r.error.clone().unwrap_or_default()))
            .unwrap_or(("gone", String::new()));
        eprintln!(
            "fanout: the review of {} {state}: {}",
            f.id,
            escape_line(&why)
        );
        if let Some(r) = review {
            eprintln!("fanout: the judge's output is in {}", r.log.display());
        }
        return Ok(1);
    };
    if json {
        return Ok(0);
    }
    println!(
        "verdict of {} on fanout {}: best #{}",
        escape_line(&v.agent),
        f.id,
        v.verdict.best
    );
    for (i, n) in v.verdict.ranking.iter().enumerate() {
        let id = f
            .attempts
            .iter()
            .find(|a| a.n == *n)
            .map(|a| a.id.clone())
            .unwrap_or_default();
        let Some(j) = v.verdict.judged(*n) else {
            continue;
        };
        println!("{}. #{n} {id}  {}", i + 1, escape_line(&j.summary));
        for s in &j.strengths {
            println!("     + {}", escape_line(s));
        }
        for r in &j.risks {
            println!("     ! {}", escape_line(r));
        }
    }
    if !v.verdict.combine.is_empty() {
        let hunks: Vec<String> = v.verdict.combine.iter().map(|c| c.hunk.clone()).collect();
        println!("worth combining:");
        for c in &v.verdict.combine {
            let why = c.why.as_deref().map(escape_line).unwrap_or_default();
            println!("  hunk {} of #{}  {why}", escape_line(&c.hunk), c.attempt);
        }
        println!(
            "(take them with `fanout accept {} --hunks {}`)",
            f.id,
            escape_line(&hunks.join(","))
        );
    }
    Ok(0)
}

fn compare(id: &str, json: bool) -> Result<i32> {
    let ws = here()?;
    let c = ws.compare(id)?;
    if json {
        return print_json(&crate::proto::CompareResult::from(&c));
    }
    print!("{}", crate::workspace::render_comparison(&c));
    Ok(0)
}

fn hunks(id: &str, json: bool) -> Result<i32> {
    let ws = here()?;
    let listed = ws.hunks(id, None)?;
    if json {
        return print_json(&crate::proto::HunksResult::from(listed.as_slice()));
    }
    for l in &listed {
        if listed.len() > 1 {
            println!("{}:", l.attempt);
        }
        if l.hunks.is_empty() {
            println!("  (no changes)");
        }
        for h in &l.hunks {
            let lines = |start: usize, count: usize| match count {
                0 => "-".to_string(),
                1 => format!("{start}"),
                n => format!("{start}-{}", start + n - 1),
            };
            let what = match h.kind {
                crate::workspace::HunkKind::Lines => format!(
                    "lines {} → {}",
                    lines(h.old_start, h.old_lines),
                    lines(h.new_start, h.new_lines)
                ),
                crate::workspace::HunkKind::File => escape_line(h.text.trim_end()).into_owned(),
            };
            println!(
                "  {}  {}  {:>4} {:>4}  {what}",
                h.id,
                crate::text::quote_path(&h.path),
                format!("+{}", h.additions),
                format!("-{}", h.deletions),
            );
        }
    }
    Ok(0)
}

fn accept(id: &str, hunks: Option<&[String]>, conflicts: ConflictMode) -> Result<i32> {
    let ws = here()?;
    let choice = ws.choice(id, hunks)?;
    let label = choice.label();
    let markers = conflicts == ConflictMode::Markers;
    let done = ws.accept_to_disk(&choice, markers)?;
    if let Some(note) = &done.recovered {
        eprintln!("fanout: {note}");
    }
    let plan = &done.plan;
    if !done.applied {
        let conflicted = !plan.conflicts.is_empty() && !markers;
        eprintln!(
            "fanout: {} {}; nothing was written:",
            label,
            if conflicted {
                "conflicts with your current files"
            } else {
                "cannot be accepted as your files are now"
            }
        );
        if conflicted {
            for c in &plan.conflicts {
                eprintln!("  {}", crate::text::quote_path(c));
            }
        }
        for r in &done.refused {
            eprintln!("  {}", r.line());
        }
        if conflicted {
            eprintln!("(rerun with --conflicts markers to write conflict markers)");
        }
        return Ok(1);
    }
    if plan.changes.is_empty() {
        println!(
            "{}: nothing to apply (your files already have its change)",
            label
        );
        return Ok(0);
    }
    for c in &plan.changes {
        let what = if c.mode_only() {
            "mode".to_string()
        } else {
            format!("{:?}", c.kind).to_lowercase()
        };
        println!("{what:<10} {}", c.display_path());
    }
    if !plan.conflicts.is_empty() {
        println!(
            "{} file(s) have conflict markers to resolve",
            plan.conflicts.len()
        );
    }
    println!(
        "accepted {} into your working tree (not committed; `git diff` shows it)",
        label
    );
    Ok(0)
}

fn discard_or_cancel(ids: &[String], discard: bool, force: bool) -> Result<i32> {
    let ws = here()?;
    // The facade resolves every id first: a typo leaves nothing half done. Then one
    // attempt's failure does not stop the others; each is reported.
    let report = ws.stop(ids, discard, force)?;
    let stopped = |n: usize| match n {
        0 => String::new(),
        n => format!(" (stopped {n} process(es) it left running)"),
    };
    let mut freed = 0;
    for d in &report.done {
        if discard {
            freed += d.bytes_freed;
            let pooled = if d.pooled {
                " (its worktree went to the pool, for the next fork)"
            } else {
                ""
            };
            println!(
                "discarded {}{}{pooled}",
                d.attempt,
                stopped(d.stopped_processes)
            );
        } else if d.was_running {
            println!("cancelled {}{}", d.attempt, stopped(d.stopped_processes));
        } else {
            println!("{} had already finished ({})", d.attempt, d.state.as_str());
        }
    }
    for f in &report.failed {
        eprintln!("fanout: {}: {}", f.attempt, escape_line(&f.error));
    }
    if discard {
        println!("freed {}", crate::labels::bytes(freed));
    }
    Ok(if report.failed.is_empty() { 0 } else { 1 })
}

fn gc(older_than: Option<String>, json: bool) -> Result<i32> {
    let ws = here()?;
    let report = ws.gc(older_than.as_deref())?;
    let code = if report.failed.is_empty() { 0 } else { 1 };
    if json {
        print_json(&report)?;
        return Ok(code);
    }
    for id in &report.removed {
        println!("removed {id}");
    }
    for f in &report.failed {
        eprintln!("fanout: kept {}: {}", f.attempt, escape_line(&f.error));
    }
    for what in &report.swept {
        println!("removed {} (no record owned it)", escape_line(what));
    }
    for name in &report.pruned_worktrees {
        println!("pruned stale worktree record {name}");
    }
    if report.pooled > 0 {
        println!(
            "kept {} worktree(s) in the pool for the next fork",
            report.pooled
        );
    }
    if report.pool.removed > 0 {
        println!(
            "trimmed the pool by {} worktree(s) ({})",
            report.pool.removed,
            crate::labels::bytes(report.pool.bytes_freed)
        );
    }
    if report.pool.trash_left > 0 {
        println!(
            "emptying {} folder(s) an earlier removal left in the trash",
            report.pool.trash_left
        );
    }
    println!("reclaimed {}", crate::labels::bytes(report.bytes_freed));
    Ok(code)
}

fn warm(count: Option<usize>) -> Result<i32> {
    let ws = here()?;
    let report = ws.warm(count)?;
    println!(
        "warmed {} worktree(s); the pool holds {} ({})",
        report.created,
        report.pool.worktrees,
        crate::labels::bytes(report.pool.bytes)
    );
    Ok(0)
}

fn continue_attempt(attempt: &str, prompt: &str) -> Result<i32> {
    let ws = here()?;
    let a = ws.continue_(attempt, prompt, &Overrides::default())?;
    println!(
        "{} is running again with your follow-up; `fanout status --watch` to follow it",
        a.id
    );
    Ok(0)
}

fn best(fanout: &str, json: bool) -> Result<i32> {
    let ws = here()?;
    let best = ws.best(fanout)?;
    if json {
        let attempt = best.best.as_ref().map(crate::proto::Attempt::from);
        return print_json(&serde_json::json!({"fanout": best.fanout, "best": attempt}));
    }
    match &best.best {
        Some(a) => {
            println!("{}", a.id);
            Ok(0)
        }
        None => {
            eprintln!(
                "fanout: no best attempt for {} yet: {}",
                best.fanout,
                if best.running {
                    "attempts are still running"
                } else {
                    "no attempt succeeded with a change"
                }
            );
            Ok(1)
        }
    }
}

fn agents(json: bool) -> Result<i32> {
    let cwd = std::env::current_dir().ok();
    let report = crate::workspace::agents(cwd.as_deref(), &Overrides::default())?;
    if let Some(w) = &report.warning {
        eprintln!("fanout: warning: {}", escape_line(w));
    }
    let roster = report.roster;
    let found = report.agents;
    if json {
        return print_json(&serde_json::json!({"roster": roster, "agents": found}));
    }
    for d in &found {
        let mark = if d.usable { "✓" } else { "✗" };
        let version = d.version.as_deref().unwrap_or("-");
        println!(
            "{mark} {:<13} {:<10} {}",
            escape_line(&d.name),
            d.source,
            escape_line(version)
        );
        println!("    {}", crate::workspace::show_argv(&d.argv));
        if let Some(note) = &d.note {
            println!("    {}", escape_line(note));
        }
    }
    println!(
        "roster: {}",
        if roster.is_empty() {
            "(none: configure `agents` or install an agent CLI)".to_string()
        } else {
            roster.join(", ")
        }
    );
    Ok(0)
}

fn trust(yes: bool) -> Result<i32> {
    let ws = here()?;
    let Some(file) = ws.trust_request()? else {
        return Err(Error::Invalid(format!(
            "{} has no {}",
            ws.workdir().display(),
            crate::workspace::REPO_CONFIG_FILE
        )));
    };
    if file.trusted {
        println!(
            "{} is already trusted (sha256 {})",
            file.path.display(),
            file.short_sha()
        );
        return Ok(0);
    }
    println!(
        "{} would run, in each attempt's worktree:",
        file.path.display()
    );
    if file.commands.is_empty() {
        println!("  (no commands)");
    }
    // Escaped by the facade: a control sequence in the file cannot hide a command here.
    for c in &file.commands {
        println!("  {c}");
    }
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Error::Invalid(
                "not a terminal to ask on: rerun with --yes to trust it".into(),
            ));
        }
        print!("Trust this exact file? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            println!("not trusted; its commands stay ignored");
            return Ok(1);
        }
    }
    file.trust()?;
    println!(
        "trusted {} (sha256 {}); editing it revokes the trust",
        file.path.display(),
        file.short_sha()
    );
    Ok(0)
}
