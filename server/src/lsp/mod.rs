//! The language server (`fanout lsp`): one front end over the engine. It translates LSP into
//! engine calls and engine results into LSP; it holds the open buffers and the latest status.
//!
//! - `server`: the LanguageServer trait, dispatch only.
//! - `state`: the server's state (`Backend`, `Settings`, `ClientCaps`), one engine
//!   `Workspace` per repository.
//! - `documents`: open buffers under incremental sync.
//! - `commands`: one function per `workspace/executeCommand` command, typed by `proto`.
//! - `live`: watching the state folder; `fanout/status`, `fanout/finished`, progress, lens
//!   refresh, messages.
//! - `to_proto`: every translation between engine and LSP types (URIs, lenses, edits).
//! - `transport`: the framing layer between stdio and tower-lsp-server (malformed input is
//!   answered there and never stops the server).

mod commands;
mod documents;
mod live;
mod server;
mod state;
mod to_proto;
mod transport;

use tower_lsp_server::{LspService, Server};

/// Run the language server on stdin/stdout until the client exits.
pub fn serve() -> crate::error::Result<i32> {
    init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| crate::error::Error::Invalid(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let (service, socket) = LspService::new(state::Backend::new);
        // tower-lsp-server reads and writes the framing layer's pipes, never stdio itself:
        // its own read loop stops at the first frame it cannot decode.
        transport::serve(tokio::io::stdin(), tokio::io::stdout(), |input, output| {
            Server::new(input, output, socket).serve(service)
        })
        .await;
    });
    tracing::info!("fanout lsp exiting");
    // Attempts keep running: their supervisors are detached on purpose.
    Ok(0)
}

/// Logs go to stderr and to `<data dir>/logs/lsp.log`, never to stdout (the protocol's).
/// Level from FANOUT_LOG (e.g. `debug`, `fanout=trace`), default `info`; an editor's
/// `logLevel` setting changes it while running unless FANOUT_LOG is set.
fn init_logging() {
    use tracing_subscriber::prelude::*;
    let from_env = tracing_subscriber::EnvFilter::try_from_env("FANOUT_LOG").ok();
    let env_set = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let log_dir = crate::workspace::data_dir().join("logs");
    let file = std::fs::create_dir_all(&log_dir)
        .and_then(|_| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log_dir.join("lsp.log"))
        })
        .ok()
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_writer(std::sync::Mutex::new(f))
                .with_ansi(false)
        });
    if tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init()
        .is_ok()
        && !env_set
    {
        let _ = LOG_LEVEL.set(handle);
    }
}

type FilterHandle =
    tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Set when the level may follow the editor's setting (FANOUT_LOG not set).
static LOG_LEVEL: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// Follow the editor's `logLevel` (`error`, `warn`, `info`, `debug`, `trace`).
pub(crate) fn set_log_level(level: &str) {
    let Some(handle) = LOG_LEVEL.get() else {
        return;
    };
    match tracing_subscriber::EnvFilter::try_new(level) {
        Ok(filter) => {
            let _ = handle.reload(filter);
            tracing::info!("log level set to {level}");
        }
        Err(e) => tracing::warn!("ignoring log level '{level}': {e}"),
    }
}
