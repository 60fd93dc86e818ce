//! The server's state: what the client supports, the editor's settings, the open buffers,
//! and one engine [`Workspace`] per repository, opened once.

use super::documents::Documents;
use super::live::Live;
use crate::workspace::{EditorCan, Overrides, Workspace};
use dashmap::DashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use tower_lsp_server::Client;

/// What the client said it supports, read once at initialize.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientCaps {
    pub lens_refresh: bool,
    pub work_done_progress: bool,
    pub show_document: bool,
    /// `documentChanges` in WorkspaceEdits (versioned edits, resource operations).
    pub document_changes: bool,
    pub editor: EditorCan,
    /// `experimental.fanoutFinished`: it takes `fanout/finished` instead of a showMessage.
    pub finished_notification: bool,
}

/// Settings from initializationOptions / didChangeConfiguration. `attempts` and `agents` go
/// over the configuration files, merged by the engine ([`Overrides`]).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    pub attempts: Option<usize>,
    pub agents: Option<Vec<String>>,
    pub log_level: Option<String>,
    /// Fill each repository's pool of warm worktrees in the background whenever none of its
    /// attempts runs (off by default: it writes checkouts while you work).
    pub warm_pool: Option<bool>,
}

impl Settings {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            attempts: self.attempts,
            agents: self.agents.clone().filter(|a| !a.is_empty()),
        }
    }
}

pub struct Backend {
    pub client: Client,
    pub docs: Documents,
    pub caps: OnceLock<ClientCaps>,
    pub settings: RwLock<Settings>,
    /// Workspace folders, in the client's order.
    pub roots: RwLock<Vec<PathBuf>>,
    pub repos: Arc<Repos>,
    pub live: Arc<Live>,
    /// `.fanout.toml` contents (by hash) the user was already asked to trust.
    pub trust_asked: dashmap::DashSet<String>,
}

/// The repositories this server knows, each opened once.
pub struct Repos {
    /// The repository of each folder looked up so far (None: not in a repository).
    of_dir: DashMap<PathBuf, Option<Arc<Workspace>>>,
    /// Each repository seen, by working tree.
    all: DashMap<PathBuf, Arc<Workspace>>,
    live: Arc<Live>,
}

impl Repos {
    /// The repository containing `path`, if any, opened once and watched from then on.
    /// It runs git and reads files: call it on a blocking thread.
    pub fn find(&self, path: &Path) -> Option<Arc<Workspace>> {
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent()?.to_path_buf()
        };
        if let Some(known) = self.of_dir.get(&dir) {
            return known.clone();
        }
        let found = match Workspace::open(&dir) {
            Ok(ws) => {
                for note in ws.notes() {
                    tracing::info!("{}: {note}", ws.workdir().display());
                }
                let ws = self
                    .all
                    .entry(ws.workdir().to_path_buf())
                    .or_insert_with(|| Arc::new(ws))
                    .clone();
                self.live.watch(Arc::clone(&ws));
                Some(ws)
            }
            Err(_) => None,
        };
        self.of_dir.insert(dir, found.clone());
        found
    }

    /// Every repository known: the workspace folders' and the open documents'.
    pub fn known(&self) -> Vec<Arc<Workspace>> {
        let mut all: Vec<Arc<Workspace>> = self.all.iter().map(|w| w.clone()).collect();
        all.sort_by(|a, b| a.workdir().cmp(b.workdir()));
        all
    }
}

impl Backend {
    pub fn new(client: Client) -> Backend {
        let live = Live::new(client.clone());
        Backend {
            repos: Arc::new(Repos {
                of_dir: DashMap::new(),
                all: DashMap::new(),
                live: Arc::clone(&live),
            }),
            live,
            client,
            docs: Documents::default(),
            caps: OnceLock::new(),
            settings: RwLock::new(Settings::default()),
            roots: RwLock::new(Vec::new()),
            trust_asked: dashmap::DashSet::new(),
        }
    }

    pub fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }

    pub fn overrides(&self) -> Overrides {
        self.settings.read().unwrap().overrides()
    }

    /// The repository containing `path`, if any (looked up on a blocking thread).
    pub async fn workspace_for(&self, path: &Path) -> Option<Arc<Workspace>> {
        let path = path.to_path_buf();
        let repos = Arc::clone(&self.repos);
        tokio::task::spawn_blocking(move || repos.find(&path))
            .await
            .ok()
            .flatten()
    }

    /// The repository of the first workspace folder that has one, else any known one.
    pub async fn primary_workspace(&self) -> Option<Arc<Workspace>> {
        let roots = self.roots.read().unwrap().clone();
        let repos = Arc::clone(&self.repos);
        tokio::task::spawn_blocking(move || {
            roots
                .iter()
                .find_map(|r| repos.find(r))
                .or_else(|| repos.known().into_iter().next())
        })
        .await
        .ok()
        .flatten()
    }
}
