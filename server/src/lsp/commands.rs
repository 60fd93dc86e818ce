//! `workspace/executeCommand`: one function per [`Command`]. Each parses its one JSON object
//! argument into its `proto` params (a bad field answers InvalidParams naming it), calls the
//! engine's [`Workspace`] on a blocking thread, and answers its `proto` result.

use super::state::Backend;
use super::to_proto::{self, path_of};
use crate::error::Error as EngineError;
use crate::proto::{self, Command};
use crate::workspace::{AttemptRecord, EditorAccept, ForkRequest, Workspace};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::ls_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::ls_types::{
    ApplyWorkspaceEditParams, MessageActionItem, MessageType, ShowDocumentParams, Uri,
};

pub async fn execute(b: &Backend, command: &str, arg: Value) -> Result<Value> {
    let Some(cmd) = Command::from_name(command) else {
        return Err(Error::invalid_params(format!("unknown command: {command}")));
    };
    let result = match cmd {
        Command::Try => answer(try_fork(b, parse(command, arg)?).await),
        Command::Status => answer(status(b).await),
        Command::Diff => answer(diff(b, parse(command, arg)?).await),
        Command::AttemptText => answer(attempt_text(b, parse(command, arg)?).await),
        Command::OpenDiff => answer(open_diff(b, parse(command, arg)?).await),
        Command::Accept => answer(accept(b, parse(command, arg)?).await),
        Command::Discard => answer(stop(b, parse(command, arg)?, true).await),
        Command::Cancel => answer(stop(b, parse(command, arg)?, false).await),
        Command::Log => answer(log(b, parse(command, arg)?).await),
        Command::Continue => answer(continue_(b, parse(command, arg)?).await),
        Command::Agents => answer(agents(b, parse(command, arg)?).await),
        Command::Config => answer(config(b, parse(command, arg)?).await),
        Command::Hunks => answer(hunks(b, parse(command, arg)?).await),
        Command::Compare => answer(compare(b, parse(command, arg)?).await),
        Command::Review => answer(review(b, parse(command, arg)?).await),
        Command::Synthesize => answer(synthesize(b, parse(command, arg)?).await),
        Command::Plan => answer(plan(b, parse(command, arg)?).await),
        Command::TryAll => answer(try_all(b, parse(command, arg)?).await),
        Command::Integrate => answer(integrate(b, parse(command, arg)?).await),
    };
    if let Err(e) = &result {
        tracing::warn!("{command}: {}", e.message);
    }
    result
}

fn answer<T: serde::Serialize>(r: Result<T>) -> Result<Value> {
    serde_json::to_value(r?).map_err(|e| Error {
        code: ErrorCode::InternalError,
        message: e.to_string().into(),
        data: None,
    })
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
    let code = if e.is_users() {
        ErrorCode::InvalidParams
    } else {
        ErrorCode::InternalError
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

fn uri(s: &str) -> Result<Uri> {
    s.parse::<Uri>()
        .map_err(|_| Error::invalid_params(format!("not a URI: {s}")))
}

/// The file a URI names and its repository, or a clear error.
async fn file_in_repo(b: &Backend, u: &str) -> Result<(Arc<Workspace>, String)> {
    let path = path_of(&uri(u)?).map_err(Error::invalid_params)?;
    let ws = b.workspace_for(&path).await.ok_or_else(|| {
        Error::invalid_params(format!("not a git repository: {}", path.display()))
    })?;
    let rel = ws.relative(&path).map_err(engine)?;
    Ok((ws, rel))
}

/// The repository whose records know `id` (an attempt, a fanout, or a unique prefix), among
/// every repository this server knows; `f` runs there on a blocking thread.
async fn in_repo_of<T: Send + 'static>(
    b: &Backend,
    id: &str,
    f: impl Fn(&Workspace, &str) -> crate::error::Result<T> + Send + 'static,
) -> Result<(Arc<Workspace>, T)> {
    let all = b.repos.known();
    if all.is_empty() {
        return Err(Error::invalid_params("no git repository in this workspace"));
    }
    let id = id.to_string();
    blocking(move || {
        let mut last = EngineError::UnknownId(id.clone());
        for ws in all {
            match f(&ws, &id) {
                Ok(t) => return Ok((ws, t)),
                Err(EngineError::UnknownId(_)) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    })
    .await
}

async fn find_attempt(b: &Backend, id: &str) -> Result<(Arc<Workspace>, AttemptRecord)> {
    in_repo_of(b, id, |ws, id| ws.attempt(id)).await
}

async fn try_fork(b: &Backend, p: proto::TryParams) -> Result<proto::TryResult> {
    let (ws, rel) = file_in_repo(b, &p.uri).await?;
    let buffers = b.docs.overlays(&ws);
    ask_trust(b, &ws).await;
    let overrides = b.overrides();
    let req = ForkRequest {
        file: rel,
        line: p.line as usize + 1,
        count: p.count,
        agents: p.agents.unwrap_or_default(),
        prompt: p.prompt,
        overlays: buffers,
        ..Default::default()
    };
    let ws2 = Arc::clone(&ws);
    let result = blocking(move || ws2.try_fork(req, &overrides)).await?;
    b.live.poke(ws.workdir());
    for w in &result.warnings {
        b.client
            .show_message(MessageType::WARNING, format!("fanout: {w}"))
            .await;
    }
    Ok(result.into())
}

async fn warn_all(b: &Backend, warnings: &[String]) {
    for w in warnings {
        b.client
            .show_message(MessageType::WARNING, format!("fanout: {w}"))
            .await;
    }
}

/// The repository of `uri`, else the workspace's first.
async fn repo_of(b: &Backend, u: Option<&str>) -> Result<Arc<Workspace>> {
    if let Some(u) = u {
        let path = path_of(&uri(u)?).map_err(Error::invalid_params)?;
        return b.workspace_for(&path).await.ok_or_else(|| {
            Error::invalid_params(format!("not a git repository: {}", path.display()))
        });
    }
    b.repos
        .known()
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid_params("no git repository in this workspace"))
}

async fn plan(b: &Backend, p: proto::PlanParams) -> Result<proto::TryResult> {
    let (ws, file) = match &p.uri {
        Some(u) => {
            let (ws, rel) = file_in_repo(b, u).await?;
            (ws, Some(rel))
        }
        None => (repo_of(b, None).await?, None),
    };
    let buffers = b.docs.overlays(&ws);
    ask_trust(b, &ws).await;
    let overrides = b.overrides();
    let ws2 = Arc::clone(&ws);
    let result = blocking(move || {
        ws2.plan(
            &p.prompt,
            file.as_deref(),
            p.agent.as_deref(),
            buffers,
            &overrides,
        )
    })
    .await?;
    b.live.poke(ws.workdir());
    warn_all(b, &result.warnings).await;
    Ok(result.into())
}

async fn try_all(b: &Backend, p: proto::TryAllParams) -> Result<proto::TryAllResult> {
    let (ws, rel) = file_in_repo(b, &p.uri).await?;
    let buffers = b.docs.overlays(&ws);
    ask_trust(b, &ws).await;
    let overrides = b.overrides();
    let req = crate::workspace::BatchRequest {
        file: rel,
        count: p.count,
        agents: p.agents.unwrap_or_default(),
        overlays: buffers,
    };
    let ws2 = Arc::clone(&ws);
    let started = blocking(move || ws2.try_all(req, &overrides)).await?;
    b.live.poke(ws.workdir());
    warn_all(b, &started.warnings).await;
    Ok((&started).into())
}

async fn integrate(b: &Backend, p: proto::IntegrateParams) -> Result<proto::IntegrateResult> {
    let ws = repo_of(b, p.uri.as_deref()).await?;
    let batch = match (&p.batch, &p.uri) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(u)) => Some(file_in_repo(b, u).await?.1),
        (None, None) => None,
    };
    let req = crate::workspace::IntegrateRequest {
        batch,
        picks: p
            .picks
            .unwrap_or_default()
            .into_iter()
            .map(|pick| (pick.item, pick.attempt))
            .collect(),
        rebuild: p.rebuild.unwrap_or(false),
    };
    let overrides = b.overrides();
    let ws2 = Arc::clone(&ws);
    let report = blocking(move || ws2.integrate(req, &overrides)).await?;
    b.live.poke(ws.workdir());
    Ok((&report).into())
}

/// Ask the user, once per content of the file, whether to trust the repository's
/// `.fanout.toml` commands (Trust / Ignore). Editing the file asks again.
pub async fn ask_trust(b: &Backend, ws: &Arc<Workspace>) {
    let ws2 = Arc::clone(ws);
    let Ok(Some(request)) = blocking(move || ws2.trust_request()).await else {
        return;
    };
    if !request.needs_asking() || !b.trust_asked.insert(request.sha256.clone()) {
        return;
    }
    // The commands come escaped: a control sequence cannot hide one here.
    let message = format!(
        "fanout: {} wants to run commands in each attempt:\n{}\nTrust this file?",
        crate::text::escape_line(&request.path.display().to_string()),
        request.commands.join("\n")
    );
    let actions = ["Trust", "Ignore"]
        .iter()
        .map(|t| MessageActionItem {
            title: t.to_string(),
            properties: Default::default(),
        })
        .collect();
    match b
        .client
        .show_message_request(MessageType::WARNING, message, Some(actions))
        .await
    {
        Ok(Some(choice)) if choice.title == "Trust" => {
            if let Err(e) = blocking(move || request.trust()).await {
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
            request.path.display()
        ),
    }
}

/// The status of the workspace's repository. Outside a repository there is nothing to
/// report, which is not an error: the answer has the report's shape with no repository and
/// no fanouts (clients ask at startup, whatever the folder). Forking there is an error.
async fn status(b: &Backend) -> Result<proto::Status> {
    let Some(ws) = b.primary_workspace().await else {
        return Ok(proto::Status::none());
    };
    let report = blocking(move || ws.status()).await?;
    Ok((&report).into())
}

/// The relative path of an optional `uri` inside the repository.
fn only_path(ws: &Workspace, u: Option<&str>) -> Result<Option<String>> {
    u.map(|u| {
        let path = path_of(&uri(u)?).map_err(Error::invalid_params)?;
        ws.relative(&path).map_err(engine)
    })
    .transpose()
}

async fn diff(b: &Backend, p: proto::AttemptParams) -> Result<proto::DiffResult> {
    let (ws, a) = find_attempt(b, &p.attempt).await?;
    let only = only_path(&ws, p.uri.as_deref())?;
    let buffers = b.docs.overlays(&ws);
    let report = blocking(move || ws.diff(&a, &buffers, only.as_deref())).await?;
    Ok(report.into())
}

async fn hunks(b: &Backend, p: proto::HunksParams) -> Result<proto::HunksResult> {
    let (ws, _) = in_repo_of(b, &p.attempt, |ws, id| ws.target(id)).await?;
    let only = only_path(&ws, p.uri.as_deref())?;
    let id = p.attempt;
    let listed = blocking(move || ws.hunks(&id, only.as_deref())).await?;
    Ok(proto::HunksResult::from(listed.as_slice()))
}

async fn compare(b: &Backend, p: proto::FanoutParams) -> Result<proto::CompareResult> {
    let (_, c) = in_repo_of(b, &p.fanout, |ws, id| ws.compare(id)).await?;
    Ok((&c).into())
}

/// Start a run in a fanout (`ws.review` or `ws.synthesize`) in the repository that knows it.
async fn start_in_fanout(
    b: &Backend,
    p: proto::ReviewParams,
    start: fn(
        &Workspace,
        &str,
        Option<&str>,
        &crate::workspace::Overrides,
    ) -> crate::error::Result<AttemptRecord>,
) -> Result<AttemptRecord> {
    let overrides = b.overrides();
    let agent = p.agent;
    let (ws, rec) = in_repo_of(b, &p.fanout, move |ws, id| {
        ws.target(id)?;
        start(ws, id, agent.as_deref(), &overrides)
    })
    .await?;
    b.live.poke(ws.workdir());
    Ok(rec)
}

/// Start a review; the verdict arrives with `fanout/status`.
async fn review(b: &Backend, p: proto::ReviewParams) -> Result<proto::ReviewResult> {
    let rec = start_in_fanout(b, p, Workspace::review).await?;
    Ok(proto::ReviewResult {
        review: rec.id,
        agent: rec.agent,
    })
}

async fn synthesize(b: &Backend, p: proto::ReviewParams) -> Result<proto::SynthesizeResult> {
    let rec = start_in_fanout(b, p, Workspace::synthesize).await?;
    let from = match rec.role {
        crate::workspace::Role::Synthesis { from } => from,
        _ => Vec::new(),
    };
    Ok(proto::SynthesizeResult {
        attempt: rec.id,
        from,
    })
}

async fn attempt_text(b: &Backend, p: proto::AttemptParams) -> Result<proto::AttemptTextResult> {
    let u = p
        .uri
        .ok_or_else(|| Error::invalid_params("fanout.attemptText: missing field `uri`"))?;
    let (ws, a) = find_attempt(b, &p.attempt).await?;
    let rel = only_path(&ws, Some(&u))?.unwrap_or_default();
    let bytes = blocking(move || ws.attempt_file(&a, &rel)).await?;
    Ok(match bytes {
        Some(b) => proto::AttemptTextResult {
            text: String::from_utf8_lossy(&b).into_owned(),
            exists: true,
        },
        None => proto::AttemptTextResult {
            text: String::new(),
            exists: false,
        },
    })
}

async fn open_diff(b: &Backend, p: proto::AttemptParams) -> Result<proto::OpenDiffResult> {
    let (ws, a) = find_attempt(b, &p.attempt).await?;
    let only = only_path(&ws, p.uri.as_deref())?;
    let buffers = b.docs.overlays(&ws);
    let out = blocking(move || ws.write_diff(&a, &buffers, only.as_deref())).await?;
    if b.caps().show_document {
        if let Some(uri) = to_proto::uri_of(&out) {
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
    Ok(proto::OpenDiffResult { path: out })
}

/// Accept: the engine checks the whole plan and writes its disk part (uncommitted); the
/// text part goes to the editor as one undoable edit; the disk part is committed when the
/// editor applied it and rolled back otherwise.
async fn accept(b: &Backend, p: proto::AcceptParams) -> Result<proto::AcceptResult> {
    let hunks = p.hunks.clone();
    let (ws, choice) =
        in_repo_of(b, &p.attempt, move |ws, id| ws.choice(id, hunks.as_deref())).await?;
    let buffers = b.docs.overlays(&ws);
    let caps = b.caps();
    let ws2 = Arc::clone(&ws);
    let (prepared, recovered) =
        blocking(move || ws2.accept_for_editor(&choice, &buffers, caps.editor)).await?;
    if let Some(note) = recovered {
        tracing::info!("{}: {note}", ws.workdir().display());
    }
    let (changes, editor, disk_paths, txn) = match prepared {
        EditorAccept::Conflicts(conflicts) => {
            let reason = format!(
                "nothing was applied: {} conflict with your changes: {}",
                if conflicts.len() == 1 {
                    "1 file would"
                } else {
                    "files would"
                },
                conflicts.join(", ")
            );
            return Ok(proto::AcceptResult {
                applied: false,
                conflicts: Some(conflicts),
                reason: Some(reason),
                ..Default::default()
            });
        }
        EditorAccept::Refused(refused) => {
            let lines: Vec<String> = refused.iter().map(|r| r.line()).collect();
            return Ok(proto::AcceptResult {
                applied: false,
                conflicts: Some(refused.iter().map(|r| r.path_lossy()).collect()),
                refused: Some(refused.iter().map(proto::Refused::from).collect()),
                reason: Some(format!("nothing was applied: {}", lines.join("; "))),
                ..Default::default()
            });
        }
        EditorAccept::Nothing => {
            return Ok(proto::AcceptResult {
                applied: true,
                changes: Some(0),
                ..Default::default()
            })
        }
        EditorAccept::Ready {
            changes,
            editor,
            disk_paths,
            txn,
        } => (changes, editor, disk_paths, txn),
    };
    let done = proto::AcceptResult {
        applied: true,
        changes: Some(changes),
        on_disk: Some(disk_paths),
        ..Default::default()
    };
    if editor.is_empty() {
        blocking(move || txn.commit()).await?;
        // The attempt is marked accepted now: have the watcher look again.
        b.live.poke(ws.workdir());
        return Ok(done);
    }
    let versions = |uri: &Uri| b.docs.version(uri);
    let edit = to_proto::workspace_edit(&editor, ws.workdir(), &versions, caps.document_changes);
    let response = b
        .client
        .send_request::<ApplyWorkspaceEdit>(ApplyWorkspaceEditParams {
            label: Some(format!("fanout: accept {}", p.attempt)),
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
        return Ok(proto::AcceptResult {
            applied: false,
            conflicts: Some(Vec::new()),
            reason: Some(reason),
            ..Default::default()
        });
    }
    blocking(move || txn.commit()).await?;
    b.live.poke(ws.workdir());
    Ok(done)
}

async fn stop(b: &Backend, p: proto::StopParams, discard: bool) -> Result<proto::StopResult> {
    let name = if discard {
        Command::Discard
    } else {
        Command::Cancel
    };
    let id = p.attempt.or(p.fanout).ok_or_else(|| {
        Error::invalid_params(format!(
            "{}: missing field `attempt` (or `fanout`)",
            name.name()
        ))
    })?;
    let force = p.force.unwrap_or(false);
    let (ws, report) = in_repo_of(b, &id, move |ws, id| {
        // An unknown id is looked for in the next repository; once found, stop there.
        ws.target(id)?;
        ws.stop(&[id.to_string()], discard, force)
    })
    .await?;
    b.live.poke(ws.workdir());
    Ok(proto::StopResult::of(report, discard))
}

async fn log(b: &Backend, p: proto::LogParams) -> Result<proto::LogResult> {
    let (ws, a) = find_attempt(b, &p.attempt).await?;
    let text = blocking(move || ws.log(&a, p.tail)).await?;
    Ok(proto::LogResult { text })
}

async fn continue_(b: &Backend, p: proto::ContinueParams) -> Result<proto::ContinueResult> {
    let overrides = b.overrides();
    let prompt = p.prompt;
    let (ws, a) = in_repo_of(b, &p.attempt, move |ws, id| {
        ws.attempt(id)?;
        ws.continue_(id, &prompt, &overrides)
    })
    .await?;
    b.live.poke(ws.workdir());
    Ok(proto::ContinueResult { attempt: a.id })
}

/// The folder `fanout.agents` and `fanout.config` answer for: the file's, else the first
/// workspace folder's.
fn folder_of(b: &Backend, p: &proto::WhereParams) -> Result<Option<std::path::PathBuf>> {
    match &p.uri {
        Some(u) => Ok(Some(path_of(&uri(u)?).map_err(Error::invalid_params)?)),
        None => Ok(b.roots.read().unwrap().first().cloned()),
    }
}

async fn agents(b: &Backend, p: proto::WhereParams) -> Result<proto::AgentsResult> {
    let dir = folder_of(b, &p)?;
    let overrides = b.overrides();
    let report = blocking(move || crate::workspace::agents(dir.as_deref(), &overrides)).await?;
    Ok(report.into())
}

async fn config(b: &Backend, p: proto::WhereParams) -> Result<proto::ConfigResult> {
    let dir = folder_of(b, &p)?;
    let overrides = b.overrides();
    let report =
        blocking(move || Ok(crate::workspace::config_report(dir.as_deref(), &overrides))).await?;
    Ok(report.into())
}
