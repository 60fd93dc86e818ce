//! The LanguageServer implementation: capabilities, document sync, lenses, and dispatch of
//! executeCommand to `commands`. Handlers run concurrently, so document changes are applied
//! synchronously before any await, and engine work goes to blocking threads.

use super::documents::Documents;
use super::live::Live;
use super::{commands, convert, lenses};
use crate::repo::RepoPaths;
use dashmap::DashMap;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

/// What the client said it supports, read once at initialize.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCaps {
    pub lens_refresh: bool,
    pub work_done_progress: bool,
    pub show_document: bool,
    pub edit: convert::EditSupport,
}

/// Settings from initializationOptions / didChangeConfiguration; they override the user config.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub attempts: Option<usize>,
    pub agents: Option<Vec<String>>,
    pub log_level: Option<String>,
}

pub struct Backend {
    pub client: Client,
    pub docs: Documents,
    pub caps: OnceLock<ClientCaps>,
    pub settings: RwLock<Settings>,
    /// Workspace folders, in the client's order.
    pub roots: RwLock<Vec<PathBuf>>,
    /// Repository of each folder looked up so far (None: not in a repository).
    repo_of_dir: DashMap<PathBuf, Option<RepoPaths>>,
    pub live: Arc<Live>,
    /// `.fanout.toml` contents (by hash) the user was already asked to trust.
    pub trust_asked: dashmap::DashSet<String>,
    /// The user config's attempt count, with the config file's modification time.
    user_attempts: std::sync::Mutex<Option<(std::time::SystemTime, usize)>>,
}

pub const COMMANDS: [&str; 10] = [
    "fanout.try",
    "fanout.status",
    "fanout.diff",
    "fanout.attemptText",
    "fanout.openDiff",
    "fanout.accept",
    "fanout.discard",
    "fanout.cancel",
    "fanout.log",
    "fanout.continue",
];

impl Backend {
    pub fn new(client: Client) -> Backend {
        Backend {
            live: Live::new(client.clone()),
            client,
            docs: Documents::default(),
            caps: OnceLock::new(),
            settings: RwLock::new(Settings::default()),
            roots: RwLock::new(Vec::new()),
            repo_of_dir: DashMap::new(),
            trust_asked: dashmap::DashSet::new(),
            user_attempts: std::sync::Mutex::new(None),
        }
    }

    pub fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }

    /// The repository containing `path`, if any; watched from the first time it is seen.
    pub fn repo_for(&self, path: &Path) -> Option<RepoPaths> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()?.to_path_buf()
        };
        if let Some(known) = self.repo_of_dir.get(&dir) {
            return known.clone();
        }
        let found = RepoPaths::discover(&dir).ok();
        if let Some(repo) = &found {
            // An accept interrupted there (killed, power lost) is rolled back first.
            match crate::apply::recover(repo) {
                Ok(Some(note)) => tracing::info!("{}: {note}", repo.workdir.display()),
                Ok(None) => {}
                Err(e) => tracing::warn!("{}: recovering an accept: {e}", repo.workdir.display()),
            }
            self.live.watch(repo.clone());
        }
        self.repo_of_dir.insert(dir, found.clone());
        found
    }

    /// Every repository known to this server: the workspace folders' and the open documents'.
    pub fn known_repos(&self) -> Vec<RepoPaths> {
        self.live.repos()
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = &params.capabilities;
        let ws = caps.workspace.as_ref();
        let edit = ws.and_then(|w| w.workspace_edit.as_ref());
        let resource_ops = edit.and_then(|e| e.resource_operations.as_ref());
        let _ = self.caps.set(ClientCaps {
            lens_refresh: ws
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|c| c.refresh_support)
                .unwrap_or(false),
            work_done_progress: caps
                .window
                .as_ref()
                .and_then(|w| w.work_done_progress)
                .unwrap_or(false),
            show_document: caps
                .window
                .as_ref()
                .and_then(|w| w.show_document.as_ref())
                .map(|s| s.support)
                .unwrap_or(false),
            edit: convert::EditSupport {
                document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
                // Resource operations exist only inside documentChanges.
                create_and_delete: edit.and_then(|e| e.document_changes).unwrap_or(false)
                    && resource_ops.is_some_and(|ops| {
                        ops.contains(&ResourceOperationKind::Create)
                            && ops.contains(&ResourceOperationKind::Delete)
                    }),
            },
        });
        self.live.set_caps(self.caps());
        if let Some(opts) = params.initialization_options.clone() {
            self.apply_settings(opts);
        }
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| convert::path_of(&f.uri).ok())
            .collect();
        #[allow(deprecated)]
        if roots.is_empty() {
            if let Some(p) = params
                .root_uri
                .as_ref()
                .and_then(|u| convert::path_of(u).ok())
            {
                roots.push(p);
            }
        }
        for root in &roots {
            if self.repo_for(root).is_none() {
                tracing::info!("{} is not in a git repository: lenses only", root.display());
            }
        }
        *self.roots.write().unwrap() = roots;
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        ..Default::default()
                    },
                )),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
                    work_done_progress_options: WorkDoneProgressOptions {
                        work_done_progress: Some(true),
                    },
                }),
                ..Default::default()
            },
            server_info: Some(ServerInfo {
                name: "fanout".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        self.live.start();
        tracing::info!("fanout lsp ready");
    }

    async fn shutdown(&self) -> Result<()> {
        self.live.stop();
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.docs.open(doc.uri.clone(), &doc.text, doc.version);
        if let Ok(path) = convert::path_of(&doc.uri) {
            self.repo_for(&path);
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // Synchronous, before any await: changes apply in the order they arrived.
        if let Err(e) = self.docs.change(
            &params.text_document.uri,
            params.text_document.version,
            params.content_changes,
        ) {
            tracing::warn!("{e}");
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.docs.close(&params.text_document.uri);
    }

    async fn did_save(&self, _: DidSaveTextDocumentParams) {}

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let settings = params
            .settings
            .get("fanout")
            .cloned()
            .unwrap_or(params.settings);
        self.apply_settings(settings);
        self.live.refresh_lenses().await;
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        let Ok(path) = convert::path_of(&uri) else {
            return Ok(None);
        };
        let repo = self.repo_for(&path);
        let rel = repo.as_ref().and_then(|r| r.relative(&path).ok());
        let name = rel.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let tasks = match self.docs.tasks(&uri, &name) {
            Some(tasks) => tasks,
            None => match std::fs::read(&path) {
                Ok(b) => crate::tasks::scan_text(&name, &String::from_utf8_lossy(&b)),
                Err(_) => return Ok(None),
            },
        };
        let report = repo.as_ref().and_then(|r| self.live.report(&r.workdir));
        let attempts = self.attempts_setting();
        Ok(Some(lenses::lenses(
            &tasks,
            uri.as_str(),
            rel.as_deref(),
            report.as_ref(),
            attempts,
        )))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let arg = match params.arguments.as_slice() {
            [one] => one.clone(),
            [] => Value::Object(Default::default()),
            _ => {
                return Err(Error::invalid_params(format!(
                    "{}: expected one JSON object argument",
                    params.command
                )))
            }
        };
        commands::execute(self, &params.command, arg)
            .await
            .map(Some)
    }
}

impl Backend {
    fn apply_settings(&self, value: Value) {
        match serde_json::from_value::<Settings>(value) {
            Ok(s) => {
                if let Some(level) = &s.log_level {
                    super::set_log_level(level);
                }
                *self.settings.write().unwrap() = s;
            }
            Err(e) => tracing::warn!("ignoring fanout settings: {e}"),
        }
    }

    /// The attempt count lenses offer: the editor's setting, else the user config's.
    pub fn attempts_setting(&self) -> usize {
        if let Some(n) = self.settings.read().unwrap().attempts {
            return n;
        }
        // Asked on every code lens request: re-read config.toml only when it changed.
        let path = crate::config::Config::user_path();
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut cached = self.user_attempts.lock().unwrap();
        match *cached {
            Some((when, n)) if Some(when) == mtime => n,
            _ => {
                let n = crate::config::Config::load_user()
                    .map(|c| c.attempts())
                    .unwrap_or(crate::config::DEFAULT_ATTEMPTS);
                *cached = mtime.map(|m| (m, n));
                n
            }
        }
    }
}
