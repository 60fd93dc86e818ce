//! `workspace/executeCommand`: one function per command. Each parses its one JSON object
//! argument (a bad field answers InvalidParams naming it), runs the engine on a blocking
//! thread, and translates the result.

use super::convert::{self, path_of};
use super::server::Backend;
use crate::error::Error as EngineError;
use crate::lookup::Target;
use crate::repo::RepoPaths;
use crate::state::{AttemptRecord, StateDir};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::ls_types::{
    ApplyWorkspaceEditParams, MessageActionItem, MessageType, ShowDocumentParams, Uri,
};

pub async fn execute(b: &Backend, command: &str, arg: Value) -> Result<Value> {
    let result = match command {
        "fanout.try" => try_fork(b, parse(command, arg)?).await,
        "fanout.status" => status(b).await,
        "fanout.diff" => diff(b, parse(command, arg)?).await,
        "fanout.attemptText" => attempt_text(b, parse(command, arg)?).await,
        "fanout.openDiff" => open_diff(b, parse(command, arg)?).await,
        "fanout.accept" => accept(b, parse(command, arg)?).await,
        "fanout.discard" => stop(b, parse(command, arg)?, true).await,
        "fanout.cancel" => stop(b, parse(command, arg)?, false).await,
        "fanout.log" => log(b, parse(command, arg)?).await,
        "fanout.continue" => continue_(b, parse(command, arg)?).await,
        other => Err(Error::invalid_params(format!("unknown command: {other}"))),
    };
    if let Err(e) = &result {
        tracing::warn!("{command}: {}", e.message);
    }
    result
}

fn parse<T: DeserializeOwned>(command: &str, arg: Value) -> Result<T> {
    if !arg.is_object() {
        return Err(Error::invalid_params(format!(
            "{command}: the argument must be a JSON object"
        )));
    }
    serde_path_to_error::deserialize(arg).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." {
            Error::invalid_params(format!("{command}: {inner}"))
        } else {
            Error::invalid_params(format!("{command}: field `{path}`: {inner}"))
        }
    })
}

/// Engine errors the user caused are InvalidParams; the rest are internal errors. Either way
/// the message is the engine's one line.
fn engine(e: EngineError) -> Error {
    use EngineError::*;
    let code = match &e {
        NotARepository(_)
        | NoTask { .. }
        | LineOutOfRange(..)
        | UnknownAgent(..)
        | AgentNotFound { .. }
        | NoAgents(_)
        | UnknownId(_)
        | AmbiguousId(..)
        | NotAnAttempt(..)
        | BadCount { .. }
        | Invalid(_) => ErrorCode::InvalidParams,
        _ => ErrorCode::InternalError,
    };
    Error {
        code,
        message: e.to_string().into(),
        data: None,
    }
}

/// Run engine work on a blocking thread; a panic there answers an error instead of taking
/// the server down.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> crate::error::Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(engine),
        Err(e) => Err(Error {
            code: ErrorCode::InternalError,
            message: format!("internal error: {e}").into(),
            data: None,
        }),
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error {
        code: ErrorCode::InternalError,
        message: e.to_string().into(),
        data: None,
    })
}

/// The file a URI names and its repository, or a clear error.
fn file_in_repo(b: &Backend, uri: &Uri) -> Result<(RepoPaths, String)> {
    let path = path_of(uri).map_err(Error::invalid_params)?;
    let repo = b.repo_for(&path).ok_or_else(|| {
        Error::invalid_params(format!("not a git repository: {}", path.display()))
    })?;
    let rel = repo.relative(&path).map_err(engine)?;
    Ok((repo, rel))
}

/// Find an attempt by id (or unique prefix) in any repository this server knows.
async fn find_attempt(b: &Backend, id: &str) -> Result<(RepoPaths, AttemptRecord)> {
    let (repo, target) = find_target(b, id).await?;
    match target {
        Target::Attempt(a) => Ok((repo, *a)),
        Target::Fanout(_, mut attempts) if attempts.len() == 1 => Ok((repo, attempts.remove(0))),
        Target::Fanout(f, attempts) => Err(engine(EngineError::NotAnAttempt(
            f.id,
            attempts
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ))),
    }
}

async fn find_target(b: &Backend, id: &str) -> Result<(RepoPaths, Target)> {
    let repos = b.known_repos();
    if repos.is_empty() {
        return Err(Error::invalid_params("no git repository in this workspace"));
    }
    let id = id.to_string();
    blocking(move || {
        let mut last = EngineError::UnknownId(id.clone());
        for repo in repos {
            match crate::lookup::resolve(&StateDir::new(repo.state_dir.clone()), &id) {
                Ok(t) => return Ok((repo, t)),
                Err(EngineError::UnknownId(_)) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TryArgs {
    uri: Uri,
    line: u32,
    count: Option<usize>,
    agents: Option<Vec<String>>,
    prompt: Option<String>,
}

async fn try_fork(b: &Backend, args: TryArgs) -> Result<Value> {
    let (repo, rel) = file_in_repo(b, &args.uri)?;
    let overlays = b.docs.overlays(&repo);
    ask_trust(b, &repo).await;
    let settings = b.settings.read().unwrap().clone();
    let req = crate::fork::ForkRequest {
        file: rel,
        line: args.line as usize + 1,
        count: args.count,
        agents: args.agents.unwrap_or_default(),
        prompt: args.prompt,
        overlays,
    };
    let repo2 = repo.clone();
    let result =
        blocking(move || crate::fork::fork(&repo2, &user_config(&settings)?, &req)).await?;
    b.live.poke(&repo.workdir);
    for w in &result.warnings {
        b.client
            .show_message(MessageType::WARNING, format!("fanout: {w}"))
            .await;
    }
    to_value(result)
}

/// The user's config with the editor's settings on top.
fn user_config(settings: &super::server::Settings) -> crate::error::Result<crate::config::Config> {
    let mut config = crate::config::Config::load_user()?;
    if settings.attempts.is_some() {
        config.attempts = settings.attempts;
    }
    if settings.agents.as_ref().is_some_and(|a| !a.is_empty()) {
        config.agents = settings.agents.clone();
    }
    Ok(config)
}

/// Ask the user, once per content of the file, whether to trust the repository's
/// `.fanout.toml` commands (Trust / Ignore). Editing the file asks again.
pub async fn ask_trust(b: &Backend, repo: &RepoPaths) {
    let workdir = repo.workdir.clone();
    let Ok(Some(file)) = blocking(move || crate::repo_config::RepoConfigFile::load(&workdir)).await
    else {
        return;
    };
    if file.trusted || !file.config.has_commands() || !b.trust_asked.insert(file.sha256.clone()) {
        return;
    }
    // Escaped: a control sequence in the file must not be able to hide a command here.
    let commands: Vec<String> = file
        .config
        .commands()
        .iter()
        .map(|c| crate::text::escape_line(c).into_owned())
        .collect();
    let message = format!(
        "fanout: {} wants to run commands in each attempt:\n{}\nTrust this file?",
        crate::text::escape_line(&file.path.display().to_string()),
        commands.join("\n")
    );
    let actions = vec![
        MessageActionItem {
            title: "Trust".into(),
            properties: Default::default(),
        },
        MessageActionItem {
            title: "Ignore".into(),
            properties: Default::default(),
        },
    ];
    match b
        .client
        .show_message_request(MessageType::WARNING, message, Some(actions))
        .await
    {
        Ok(Some(choice)) if choice.title == "Trust" => {
            if let Err(e) = blocking(move || file.trust()).await {
                b.client
                    .show_message(
                        MessageType::ERROR,
                        format!("fanout: could not record trust: {}", e.message),
                    )
                    .await;
            }
        }
        _ => tracing::info!(
            "{} left untrusted: its commands are ignored",
            file.path.display()
        ),
    }
}

/// The status report of the workspace's repository. Outside a repository there is nothing to
/// report, which is not an error: the answer has the report's shape with no repository and
/// no fanouts (clients ask at startup, whatever the folder). Forking there is an error.
async fn status(b: &Backend) -> Result<Value> {
    let Some(repo) = primary_repo(b) else {
        return Ok(json!({"repo": null, "fanouts": []}));
    };
    let report = blocking(move || crate::status::report(&repo)).await?;
    to_value(report)
}

fn primary_repo(b: &Backend) -> Option<RepoPaths> {
    let roots = b.roots.read().unwrap().clone();
    roots
        .iter()
        .find_map(|r| b.repo_for(r))
        .or_else(|| b.known_repos().into_iter().next())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptArgs {
    attempt: String,
    uri: Option<Uri>,
}

/// The relative path of an optional `uri` inside `repo`.
fn only_path(repo: &RepoPaths, uri: Option<&Uri>) -> Result<Option<String>> {
    uri.map(|u| {
        let path = path_of(u).map_err(Error::invalid_params)?;
        repo.relative(&path).map_err(engine)
    })
    .transpose()
}

async fn diff(b: &Backend, args: AttemptArgs) -> Result<Value> {
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let only = only_path(&repo, args.uri.as_ref())?;
    let overlays = b.docs.overlays(&repo);
    let report =
        blocking(move || crate::inspect::diff(&repo, &a, &overlays, only.as_deref())).await?;
    to_value(report)
}

async fn attempt_text(b: &Backend, args: AttemptArgs) -> Result<Value> {
    let uri = args
        .uri
        .clone()
        .ok_or_else(|| Error::invalid_params("fanout.attemptText: missing field `uri`"))?;
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let rel = only_path(&repo, Some(&uri))?.unwrap_or_default();
    let bytes = blocking(move || crate::inspect::attempt_file(&repo, &a, &rel)).await?;
    Ok(match bytes {
        Some(b) => json!({"text": String::from_utf8_lossy(&b), "exists": true}),
        None => json!({"text": "", "exists": false}),
    })
}

async fn open_diff(b: &Backend, args: AttemptArgs) -> Result<Value> {
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let only = only_path(&repo, args.uri.as_ref())?;
    let overlays = b.docs.overlays(&repo);
    let out = crate::repo::data_dir()
        .join("diffs")
        .join(format!("{}.diff", a.id));
    let out2 = out.clone();
    blocking(move || {
        let report = crate::inspect::diff(&repo, &a, &overlays, only.as_deref())?;
        crate::state::write_atomic(&out2, report.diff.as_bytes())
    })
    .await?;
    if b.caps().show_document {
        if let Some(uri) = convert::uri_of(&out) {
            let shown = b
                .client
                .show_document(ShowDocumentParams {
                    uri,
                    external: Some(false),
                    take_focus: Some(true),
                    selection: None,
                })
                .await;
            if let Err(e) = shown {
                tracing::warn!("showDocument failed: {}", e.message);
            }
        }
    }
    Ok(json!({"path": out}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptArgs {
    attempt: String,
}

/// What the blocking part of an accept found: a reason to stop, or a plan whose disk part is
/// already carried out (uncommitted) and whose text part is for the editor.
enum Prepared {
    Conflicts(Vec<String>),
    Refused(Vec<crate::apply::Refusal>),
    Nothing,
    Ready {
        changes: usize,
        editor: Vec<crate::merge::FileChange>,
        disk_paths: Vec<String>,
        /// The disk part, carried out but not committed; it holds the repository's lock.
        txn: Box<crate::apply::Transaction>,
    },
}

async fn accept(b: &Backend, args: AcceptArgs) -> Result<Value> {
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let overlays = b.docs.overlays(&repo);
    let repo2 = repo.clone();
    let support = b.caps().edit;
    let prepared = blocking(move || {
        crate::inspect::ensure_readable(&a)?;
        let lock = crate::apply::lock(&repo2)?;
        if let Some(note) = lock.recover()? {
            tracing::info!("{}: {note}", repo2.workdir.display());
        }
        let open: std::collections::HashSet<Vec<u8>> = overlays
            .iter()
            .map(|o| o.path.as_bytes().to_vec())
            .collect();
        let plan = crate::inspect::merge_plan(&repo2, &a, &overlays, false)?;
        if !plan.conflicts.is_empty() {
            return Ok(Prepared::Conflicts(plan.conflicts_lossy()));
        }
        if plan.changes.is_empty() {
            return Ok(Prepared::Nothing);
        }
        // The whole plan, the editor's part included, must pass the disk's checks before
        // anything is sent or written.
        let mut refused =
            crate::apply::check(&repo2, &plan.changes, &|p| open.contains(p))?;
        let (editor, disk) = convert::split(&plan, support);
        for c in disk.iter().filter(|c| open.contains(&c.path)) {
            let why = convert::not_text(c, &plan).unwrap_or("the editor cannot create or delete files");
            refused.push(crate::apply::Refusal {
                path: c.path.clone(),
                reason: format!(
                    "is open in the editor and cannot be changed as a text edit ({why}); close it and accept again"
                ),
            });
        }
        if !refused.is_empty() {
            return Ok(Prepared::Refused(refused));
        }
        let disk_paths = disk.iter().map(|c| c.path_lossy()).collect();
        let beside: Vec<Vec<u8>> = editor.iter().map(|c| c.path.clone()).collect();
        let txn = Box::new(crate::apply::begin(lock, &disk, &beside)?);
        Ok(Prepared::Ready {
            changes: plan.changes.len(),
            editor,
            disk_paths,
            txn,
        })
    })
    .await?;
    let (changes, editor, disk_paths, txn) = match prepared {
        Prepared::Conflicts(conflicts) => {
            return Ok(json!({"applied": false, "conflicts": conflicts}))
        }
        Prepared::Refused(refused) => {
            let paths: Vec<String> = refused.iter().map(|r| r.path_lossy()).collect();
            let lines: Vec<String> = refused.iter().map(|r| r.line()).collect();
            return Ok(json!({
                "applied": false,
                "conflicts": paths,
                "refused": refused,
                "reason": format!("nothing was applied: {}", lines.join("; ")),
            }));
        }
        Prepared::Nothing => return Ok(json!({"applied": true, "changes": 0})),
        Prepared::Ready {
            changes,
            editor,
            disk_paths,
            txn,
        } => (changes, editor, disk_paths, txn),
    };
    if editor.is_empty() {
        blocking(move || txn.commit()).await?;
        return Ok(json!({"applied": true, "changes": changes, "onDisk": disk_paths}));
    }
    let versions = |uri: &Uri| b.docs.version(uri);
    let edit = convert::workspace_edit(&editor, &repo.workdir, &versions, b.caps().edit);
    let response = b
        .client
        .send_request::<ApplyWorkspaceEdit>(ApplyWorkspaceEditParams {
            label: Some(format!("fanout: accept {}", args.attempt)),
            edit,
        })
        .await;
    // The disk part stands or falls with the editor's.
    let refusal = match response {
        Ok(r) if r.applied => None,
        Ok(r) => Some(
            r.failure_reason
                .unwrap_or_else(|| "the editor refused the edit".into()),
        ),
        Err(e) => {
            blocking(move || txn.rollback()).await?;
            return Err(Error {
                code: ErrorCode::InternalError,
                message: format!("workspace/applyEdit failed: {}", e.message).into(),
                data: None,
            });
        }
    };
    if let Some(reason) = refusal {
        blocking(move || txn.rollback()).await?;
        return Ok(json!({"applied": false, "conflicts": [], "reason": reason}));
    }
    blocking(move || txn.commit()).await?;
    Ok(json!({"applied": true, "changes": changes, "onDisk": disk_paths}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StopArgs {
    attempt: Option<String>,
    fanout: Option<String>,
    /// Discard even attempts whose worktrees hold changes their branches do not.
    force: Option<bool>,
}

async fn stop(b: &Backend, args: StopArgs, discard: bool) -> Result<Value> {
    let name = if discard {
        "fanout.discard"
    } else {
        "fanout.cancel"
    };
    let id = args.attempt.or(args.fanout).ok_or_else(|| {
        Error::invalid_params(format!("{name}: missing field `attempt` (or `fanout`)"))
    })?;
    let (repo, target) = find_target(b, &id).await?;
    let attempts = match target {
        Target::Attempt(a) => vec![*a],
        Target::Fanout(_, a) => a,
    };
    let repo2 = repo.clone();
    let force = args.force.unwrap_or(false);
    let (ids, failed) = blocking(move || {
        let states = StateDir::new(repo2.state_dir.clone());
        let mut ids = Vec::new();
        let mut failed = Vec::new();
        // One attempt's failure does not stop the others; each is reported.
        for a in &attempts {
            let acted = if discard {
                crate::cleanup::discard(&repo2, &states, a, force).map(|_| true)
            } else {
                crate::cleanup::cancel(&states, a).map(|c| c.was_running)
            };
            match acted {
                Ok(true) => ids.push(a.id.clone()),
                Ok(false) => {}
                Err(e) => failed.push(json!({"attempt": a.id, "error": e.to_string()})),
            }
        }
        Ok((ids, failed))
    })
    .await?;
    b.live.poke(&repo.workdir);
    Ok(json!({"attempts": ids, "failed": failed}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogArgs {
    attempt: String,
    tail: Option<usize>,
}

async fn log(b: &Backend, args: LogArgs) -> Result<Value> {
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let text = blocking(move || {
        crate::inspect::log(&StateDir::new(repo.state_dir.clone()), &a, args.tail)
    })
    .await?;
    Ok(json!({"text": text}))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContinueArgs {
    attempt: String,
    prompt: String,
}

async fn continue_(b: &Backend, args: ContinueArgs) -> Result<Value> {
    let (repo, a) = find_attempt(b, &args.attempt).await?;
    let settings = b.settings.read().unwrap().clone();
    let id = a.id.clone();
    let repo2 = repo.clone();
    blocking(move || {
        crate::followup::continue_attempt(&repo2, &user_config(&settings)?, &a, &args.prompt)
    })
    .await?;
    b.live.poke(&repo.workdir);
    Ok(json!({"attempt": id}))
}
