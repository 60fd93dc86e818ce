//! fanout: fork one coding task into N agent attempts in isolated git worktrees.
//!
//! The engine (everything but `cli` and `lsp`) knows nothing of LSP or of the terminal;
//! the CLI and the language server are two front ends that only translate.

pub mod tasks;
