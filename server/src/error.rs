//! The engine's typed errors. Front ends turn them into one-line messages (CLI) or
//! JSON-RPC errors (LSP); each says what was wrong in the user's terms.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not a git repository: {0}")]
    NotARepository(PathBuf),
    #[error("{file}:{line}: no task on this line (no TODO/FIXME/XXX/HACK comment or `- [ ]` item); pass --prompt to say what to do")]
    NoTask { file: String, line: usize },
    #[error("{0}: line {1} is past the end of the file ({2} lines)")]
    LineOutOfRange(String, usize, usize),
    #[error("unknown agent '{0}' (known: {1})")]
    UnknownAgent(String, String),
    #[error("agent '{agent}': {}", missing_program(program))]
    AgentNotFound { agent: String, program: String },
    #[error("no agents configured: pass --agent NAME or set `agents` in {0}")]
    NoAgents(PathBuf),
    #[error("unknown attempt or fanout '{0}' (see `fanout status`)")]
    UnknownId(String),
    #[error("'{0}' is ambiguous: it matches {1}")]
    AmbiguousId(String, String),
    #[error("'{0}' names a fanout, not one attempt: pick one of {1}")]
    NotAnAttempt(String, String),
    #[error("worktree root {0} is not writable: {1}")]
    WorktreeRootNotWritable(PathBuf, std::io::Error),
    #[error("the attempt count must be between 1 and {max}, got {got}")]
    BadCount { got: usize, max: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error("config {path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("attempt {0} was discarded")]
    Discarded(String),
    #[error("{id} has changes that are not in its result: {files}; they are now committed to its branch, so `fanout diff {id}` shows them; discard again to remove them, or pass --force")]
    UncollectedWork { id: String, files: String },
}

impl Error {
    /// Whether the user caused it (a wrong id, line, agent or count; bad input), as opposed
    /// to the machine (I/O, git). The language server answers the first as InvalidParams.
    pub fn is_users(&self) -> bool {
        use Error::*;
        matches!(
            self,
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
                | Invalid(_)
        )
    }
}

/// Why `program` cannot be run, in the user's words: a path that is not there (or not
/// executable), or a name not on PATH.
pub fn missing_program(program: &str) -> String {
    if program.contains('/') {
        let p = std::path::Path::new(program);
        if p.exists() {
            format!("{program} is not an executable file")
        } else {
            format!("{program} not found")
        }
    } else {
        format!("{program} not found on PATH")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attach the path an I/O error happened on, so messages name the file.
pub trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
