//! Locating the user's repository and the places fanout keeps things for it.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The user's repository as fanout sees it: where its files are and where fanout's state lives.
#[derive(Debug, Clone)]
pub struct RepoPaths {
    /// The working tree's top directory.
    pub workdir: PathBuf,
    /// The common git directory (shared by all worktrees): `.git` for a normal checkout.
    pub common_dir: PathBuf,
    /// This checkout's own git directory (its HEAD and index): the common one for a plain
    /// checkout, `<common>/worktrees/<name>` for a linked worktree of the user's.
    pub git_dir: PathBuf,
    /// `<common_dir>/fanout`: every front end and supervisor reads and writes state here.
    pub state_dir: PathBuf,
}

impl RepoPaths {
    /// Find the repository containing `path` (any directory or file inside it).
    pub fn discover(path: &Path) -> Result<RepoPaths> {
        let start = if path.is_file() {
            path.parent().unwrap_or(path)
        } else {
            path
        };
        let repo = git2::Repository::discover(start)
            .map_err(|_| Error::NotARepository(path.to_path_buf()))?;
        Self::of(&repo).ok_or_else(|| Error::NotARepository(path.to_path_buf()))
    }

    pub fn of(repo: &git2::Repository) -> Option<RepoPaths> {
        let workdir = repo.workdir()?.to_path_buf();
        let workdir = workdir.canonicalize().unwrap_or(workdir);
        let common_dir = repo.commondir().to_path_buf();
        let common_dir = common_dir.canonicalize().unwrap_or(common_dir);
        let git_dir = repo.path().to_path_buf();
        let git_dir = git_dir.canonicalize().unwrap_or(git_dir);
        Some(RepoPaths {
            git_dir,
            state_dir: common_dir.join("fanout"),
            workdir,
            common_dir,
        })
    }

    pub fn open(&self) -> Result<git2::Repository> {
        Ok(git2::Repository::open(&self.workdir)?)
    }

    /// A short, stable name for this repository, for folder names outside it:
    /// `<dirname>-<8 hex of the path's hash>`.
    pub fn short_name(&self) -> String {
        use sha2::Digest;
        let base = self
            .workdir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "repo".into());
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let hash = sha2::Sha256::digest(self.workdir.as_os_str().as_encoded_bytes());
        format!(
            "{base}-{:02x}{:02x}{:02x}{:02x}",
            hash[0], hash[1], hash[2], hash[3]
        )
    }

    /// A path relative to the working tree, with '/' separators, or an error naming it
    /// if it lies outside.
    pub fn relative(&self, path: &Path) -> Result<String> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::Io {
                    path: path.into(),
                    source: e,
                })?
                .join(path)
        };
        // Canonicalise the parent only: the file itself may not exist yet (an unsaved buffer).
        let abs = match (abs.parent(), abs.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .unwrap_or(parent.to_path_buf())
                .join(name),
            _ => abs,
        };
        let rel = abs.strip_prefix(&self.workdir).map_err(|_| {
            Error::Invalid(format!(
                "{} is outside the repository {}",
                path.display(),
                self.workdir.display()
            ))
        })?;
        Ok(rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/"))
    }
}

/// The user's data directory for fanout: `$XDG_DATA_HOME/fanout` (default `~/.local/share/fanout`).
pub fn data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".local/share")))
        .unwrap_or_else(std::env::temp_dir)
        .join("fanout")
}

/// The user's config directory for fanout: `$XDG_CONFIG_HOME/fanout` (default `~/.config/fanout`).
pub fn config_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config")))
        .unwrap_or_else(std::env::temp_dir)
        .join("fanout")
}
