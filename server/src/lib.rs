//! fanout: fork one coding task into N agent attempts in isolated git worktrees.
//!
//! The engine (everything but `cli` and `lsp`) knows nothing of LSP or of the terminal;
//! the CLI and the language server are two front ends that only translate.

pub mod accept;
pub mod activity;
pub mod agents;
pub mod apply;
pub mod attempt_env;
pub mod attempt_repo;
pub mod batch;
pub mod checkout;
pub mod cleanup;
pub mod cli;
pub mod compare;
pub mod compare_view;
pub mod config;
pub mod diff;
pub mod error;
pub mod fault;
pub mod followup;
pub mod fork;
pub mod gitlock;
pub mod hunks;
pub mod ids;
pub mod inspect;
pub mod labels;
pub mod launch;
pub mod lookup;
pub mod lsp;
pub mod merge;
pub mod outside;
pub mod pool;
pub mod process;
pub mod prompt;
pub mod proto;
pub mod queue;
pub mod repo;
pub mod repo_config;
pub mod review;
pub mod run_record;
pub mod snapshot;
pub mod state;
pub mod status;
pub mod supervisor;
pub mod task;
pub mod tasklist;
pub mod tasks;
#[cfg(test)]
mod test_rng;
pub mod text;
pub mod toml_errors;
pub mod trash;
pub mod workspace;
