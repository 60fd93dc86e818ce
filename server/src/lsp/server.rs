//! The LanguageServer implementation: capabilities, document sync, lenses, and dispatch of
//! executeCommand to `commands`. Handlers run concurrently, so document changes are applied
//! synchronously before any await; git and file I/O go to blocking threads.

use super::state::{Backend, ClientCaps, Settings};
use super::{commands, to_proto};
use crate::proto::Command;
use crate::workspace::EditorCan;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::LanguageServer;

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
            document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
            editor: EditorCan {
                // Resource operations exist only inside documentChanges.
                create_and_delete: edit.and_then(|e| e.document_changes).unwrap_or(false)
                    && resource_ops.is_some_and(|ops| {
                        ops.contains(&ResourceOperationKind::Create)
                            && ops.contains(&ResourceOperationKind::Delete)
                    }),
            },
            finished_notification: caps
                .experimental
                .as_ref()
                .and_then(|e| e.get("fanoutFinished"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        });
        self.live.set_caps(self.caps());
        if let Some(opts) = params.initialization_options.clone() {
            self.apply_settings(opts);
        }
        let mut roots: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| to_proto::path_of(&f.uri).ok())
            .collect();
        #[allow(deprecated)]
        if roots.is_empty() {
            if let Some(p) = params
                .root_uri
                .as_ref()
                .and_then(|u| to_proto::path_of(u).ok())
            {
                roots.push(p);
            }
        }
        // Finding the folders' repositories runs git: on a blocking thread.
        let repos = Arc::clone(&self.repos);
        let folders = roots.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for root in &folders {
                if repos.find(root).is_none() {
                    tracing::info!("{} is not in a git repository: lenses only", root.display());
                }
            }
        })
        .await;
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
                    commands: Command::names(),
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
        if let Ok(path) = to_proto::path_of(&doc.uri) {
            self.workspace_for(&path).await;
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
        let Ok(path) = to_proto::path_of(&uri) else {
            return Ok(None);
        };
        let ws = self.workspace_for(&path).await;
        let rel = ws.as_ref().and_then(|w| w.relative(&path).ok());
        let name = rel.clone().unwrap_or_else(|| {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let open = self.docs.tasks(&uri, &name);
        let overrides = self.overrides();
        let ws2 = ws.clone();
        // A closed file is read, and the count reads the configuration files: off the
        // async threads.
        let looked = tokio::task::spawn_blocking(move || {
            let tasks = match open {
                Some(tasks) => tasks,
                None => match std::fs::read(&path) {
                    Ok(b) => crate::workspace::tasks_in_text(&name, &String::from_utf8_lossy(&b)),
                    Err(_) => return None,
                },
            };
            let count = match &ws2 {
                Some(w) => w.effective_attempts(&overrides),
                None => crate::workspace::effective_attempts_outside(&overrides),
            };
            Some((tasks, count))
        })
        .await
        .ok()
        .flatten();
        let Some((tasks, count)) = looked else {
            return Ok(None);
        };
        let report = ws.as_ref().and_then(|w| self.live.report(w.workdir()));
        Ok(Some(to_proto::lenses(
            &tasks,
            uri.as_str(),
            rel.as_deref(),
            report.as_ref(),
            count,
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
                self.live.set_warm_at_idle(s.warm_pool.unwrap_or(false));
                *self.settings.write().unwrap() = s;
            }
            Err(e) => tracing::warn!("ignoring fanout settings: {e}"),
        }
    }
}
