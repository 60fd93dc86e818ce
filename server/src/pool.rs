//! The pool of warm worktrees: finished attempts' worktrees kept per repository for the next
//! fork to reuse, so a fork writes only what differs and keeps the build output.
//!
//! Layout, beside the attempts' worktrees in `<worktree root>/<repo>/`:
//! - `.pool/<slot>/`: a pooled worktree, still a proper git worktree (admin folder
//!   `<common dir>/worktrees/fanout-pool-<slot>`, HEAD detached at the commit it last held,
//!   so `git worktree list` shows it and no branch is kept for it);
//! - `.pool/<slot>.json`: its size and when it was pooled. A slot counts (and can be claimed)
//!   only once this record exists: it is written last when pooling and removed first when
//!   claiming, so a slot without one is a step that died, which [`repair`] removes.
//!
//! Invariants:
//! - Nothing of anyone's is in the pool. A worktree is pooled only by discard (after it
//!   collected the worktree's changes onto the attempt's branch or was told to throw them
//!   away), by gc (the same discard) and by the supervisor for an attempt that changed
//!   nothing. Reuse therefore wipes what it finds, and trusts nothing in the worktree: files
//!   are kept only when their stat data matches the index fanout wrote, the `.git` file is
//!   rewritten, never read, and symlinks are never followed (`checkout::reuse_worktrees`).
//! - Every change of the pool (pooling, claiming, trimming, repairing) runs under the
//!   repository's git-ops lock (`gitlock`), so two fanout commands never take the same slot;
//!   `warm` additionally holds `.pool/.lock` while it creates slots, and `repair` skips a pool
//!   that is being warmed.
//! - Removal is a rename into the trash (`trash`), never a delete in the caller's time.

use crate::checkout::{KeepIgnored, WorktreeSpec};
use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::gitlock::GitOps;
use crate::ids::now_secs;
use crate::state::AttemptRecord;
use crate::trash::POOL;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The pool's limits and reuse settings, from the user config.
#[derive(Debug, Clone)]
pub struct Limits {
    pub size: usize,
    pub max_bytes: u64,
    pub keep_ignored: crate::config::KeepIgnored,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            size: config.pool_size(),
            max_bytes: config.pool_max_bytes(),
            keep_ignored: config.keep_ignored(),
        }
    }

    /// The user's limits (the defaults when the config cannot be read: the error shows
    /// where it matters, when forking).
    pub fn of_user() -> Limits {
        Limits::of(&Config::load_user().unwrap_or_default())
    }

    fn keep(&self) -> KeepIgnored {
        match &self.keep_ignored {
            crate::config::KeepIgnored::All(true) => KeepIgnored::All,
            crate::config::KeepIgnored::All(false) => KeepIgnored::None,
            crate::config::KeepIgnored::Globs(globs) => {
                let mut set = globset::GlobSetBuilder::new();
                for g in globs {
                    if let Ok(g) = globset::Glob::new(g) {
                        set.add(g);
                    }
                }
                set.build()
                    .map(KeepIgnored::Matching)
                    .unwrap_or(KeepIgnored::None)
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotRecord {
    bytes: u64,
    pooled_at: u64,
}

/// One pooled worktree.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub pooled_at: u64,
}

/// How many worktrees a pool holds and their disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PoolSummary {
    pub worktrees: usize,
    pub bytes: u64,
}

/// One repository's pool.
#[derive(Debug, Clone)]
pub struct Pool {
    /// `<worktree root>/<repo>/.pool`
    dir: PathBuf,
    common_dir: PathBuf,
}

impl Pool {
    /// The pool beside the worktrees in `repo_root` (`<worktree root>/<repo>`).
    pub fn at(common_dir: &Path, repo_root: &Path) -> Pool {
        Pool {
            dir: repo_root.join(POOL),
            common_dir: common_dir.to_path_buf(),
        }
    }

    /// The pool beside an attempt's worktree.
    pub fn of_worktree(common_dir: &Path, worktree: &Path) -> Option<Pool> {
        Some(Pool::at(common_dir, worktree.parent()?))
    }

    fn admin(&self, id: &str) -> PathBuf {
        self.common_dir
            .join("worktrees")
            .join(format!("fanout-pool-{id}"))
    }

    fn slot_path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The claimable slots, most recently pooled first.
    pub fn slots(&self) -> Vec<Slot> {
        let mut out: Vec<Slot> = list(&self.dir)
            .into_iter()
            .filter_map(|(path, name)| {
                let id = name.strip_suffix(".json")?.to_string();
                let rec: SlotRecord = crate::state::read_json(&path).ok()?;
                let slot = self.slot_path(&id);
                (slot.is_dir() && self.admin(&id).is_dir()).then_some(Slot {
                    id,
                    path: slot,
                    bytes: rec.bytes,
                    pooled_at: rec.pooled_at,
                })
            })
            .collect();
        out.sort_by(|a, b| b.pooled_at.cmp(&a.pooled_at).then(a.id.cmp(&b.id)));
        out
    }

    pub fn summary(&self) -> PoolSummary {
        let slots = self.slots();
        PoolSummary {
            worktrees: slots.len(),
            bytes: slots.iter().map(|s| s.bytes).sum(),
        }
    }

    fn new_id(&self) -> String {
        loop {
            let id = crate::ids::new_fanout_id();
            if !self.slot_path(&id).exists() && !self.admin(&id).exists() {
                return id;
            }
        }
    }

    /// Take a slot out of the pool for good: its record first (it stops counting), then its
    /// folder into the trash and its admin folder.
    fn drop_slot(&self, id: &str) -> Result<()> {
        let _ = std::fs::remove_file(self.record_path(id));
        crate::trash::put(&self.slot_path(id))?;
        let admin = self.admin(id);
        if admin.exists() {
            std::fs::remove_dir_all(&admin).at(&admin)?;
        }
        Ok(())
    }
}

/// Where a finished attempt's worktree went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    /// Into the pool, for the next fork.
    Pooled,
    /// Into the trash (the pool was full, off, or the worktree unfit): being deleted.
    Trashed,
}

/// Remove an attempt's worktree, admin folder and branch, keeping the worktree in the pool
/// when it fits. The caller has made sure nothing in the worktree is anyone's (see the
/// module's invariants). The trash, if used, is the caller's to empty (`trash::empty_later`).
pub fn retire(common_dir: &Path, limits: &Limits, a: &AttemptRecord) -> Result<Retired> {
    let repo = git2::Repository::open_bare(common_dir)?;
    let admin = common_dir.join("worktrees").join(&a.worktree_name);
    let branch_ref = format!("refs/heads/{}", a.branch);
    let pool = Pool::of_worktree(common_dir, &a.worktree);
    let id = pool.as_ref().map(Pool::new_id).unwrap_or_default();
    let pool_admin = pool.as_ref().map(|p| p.admin(&id));
    let admins: Vec<PathBuf> = std::iter::once(admin.clone())
        .chain(pool_admin.clone())
        .collect();
    let _ops = GitOps::begin(common_dir, std::slice::from_ref(&branch_ref), &admins)?;
    let tip = repo.refname_to_id(&branch_ref).ok();
    let bytes = a
        .disk_bytes
        .unwrap_or_else(|| crate::checkout::disk_usage(&a.worktree));
    let fits = |pool: &Pool| {
        let now = pool.summary();
        limits.size > 0
            && now.worktrees < limits.size
            && now.bytes.saturating_add(bytes) <= limits.max_bytes
    };
    let poolable = std::fs::symlink_metadata(&a.worktree).is_ok_and(|m| m.is_dir())
        && admin.is_dir()
        && tip.is_some_and(|t| crate::checkout::writes_plainly(&repo, t));
    let pooled = match (&pool, pool_admin, tip) {
        (Some(pool), Some(pool_admin), Some(tip)) if poolable && fits(pool) => {
            move_into_pool(pool, &id, &admin, &pool_admin, a, tip, bytes).is_ok()
        }
        _ => false,
    };
    if !pooled {
        crate::trash::put(&a.worktree)?;
        if admin.exists() {
            std::fs::remove_dir_all(&admin).at(&admin)?;
        }
    }
    if let Ok(mut b) = repo.find_reference(&branch_ref) {
        b.delete()?;
    }
    Ok(if pooled {
        Retired::Pooled
    } else {
        Retired::Trashed
    })
}

fn move_into_pool(
    pool: &Pool,
    id: &str,
    admin: &Path,
    pool_admin: &Path,
    a: &AttemptRecord,
    tip: git2::Oid,
    bytes: u64,
) -> Result<()> {
    std::fs::create_dir_all(&pool.dir).at(&pool.dir)?;
    let slot = pool.slot_path(id);
    std::fs::rename(admin, pool_admin).at(admin)?;
    crate::fault::point("pool.admin-moved");
    if let Err(e) = std::fs::rename(&a.worktree, &slot) {
        // Put the admin folder back: the caller trashes the worktree the usual way.
        let _ = std::fs::rename(pool_admin, admin);
        return Err(e).at(&a.worktree);
    }
    crate::fault::point("pool.worktree-moved");
    crate::checkout::link(pool_admin, &slot, &tip.to_string())?;
    crate::state::write_json_atomic(
        &pool.record_path(id),
        &SlotRecord {
            bytes,
            pooled_at: now_secs(),
        },
    )?;
    crate::fault::point("pool.pooled");
    Ok(())
}

/// Give up to `specs.len()` pooled worktrees the names and paths of the first specs (most
/// recently pooled first). Returns how many; the rest are the caller's to create. The
/// claimed ones are still to be brought to the new commit ([`provide`] does it all).
fn claim(pool: &Pool, specs: &[WorktreeSpec]) -> Result<usize> {
    let slots = pool.slots();
    if slots.is_empty() {
        return Ok(0);
    }
    let admin_root = pool.common_dir.join("worktrees");
    let mut admins: Vec<PathBuf> = slots.iter().map(|s| pool.admin(&s.id)).collect();
    admins.extend(specs.iter().map(|s| admin_root.join(&s.name)));
    let _ops = GitOps::begin(&pool.common_dir, &[], &admins)?;
    let mut claimed = 0;
    // Listed again under the lock: another command may have taken some meanwhile.
    for slot in pool.slots() {
        let Some(spec) = specs.get(claimed) else {
            break;
        };
        // The record goes first: from here on nobody else can take this slot.
        if std::fs::remove_file(pool.record_path(&slot.id)).is_err() {
            continue;
        }
        crate::fault::point("pool.claimed");
        let admin = admin_root.join(&spec.name);
        if std::fs::rename(&slot.path, &spec.path).is_err() {
            let _ = pool.drop_slot(&slot.id);
            continue;
        }
        if std::fs::rename(pool.admin(&slot.id), &admin).is_err() {
            // No admin folder to go with it: it is no worktree any more.
            let _ = crate::trash::put(&spec.path);
            continue;
        }
        claimed += 1;
    }
    Ok(claimed)
}

/// Provide the worktrees of `specs` at `commit`: pooled ones reused first, the rest checked
/// out fresh. On failure nothing of the specs is left (the caller's intent covers a kill).
pub fn provide(
    repo: &git2::Repository,
    repo_root: &Path,
    limits: &Limits,
    commit: git2::Oid,
    specs: &[WorktreeSpec],
) -> Result<ProvideReport> {
    let pool = Pool::at(repo.commondir(), repo_root);
    let reused = if crate::checkout::writes_plainly(repo, commit) {
        claim(&pool, specs)?
    } else {
        0
    };
    let (old, new) = specs.split_at(reused);
    let result = crate::checkout::reuse_worktrees(repo, commit, old, &limits.keep())
        .and_then(|r| crate::checkout::create_worktrees(repo, commit, new).map(|_| r));
    match result {
        Ok(files) => Ok(ProvideReport {
            reused,
            fresh: new.len(),
            written: files.iter().map(|r| r.written).sum(),
        }),
        Err(e) => {
            crate::checkout::remove_worktrees(repo, old);
            Err(e)
        }
    }
}

/// What [`provide`] did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProvideReport {
    /// Worktrees taken from the pool.
    pub reused: usize,
    /// Worktrees checked out fresh.
    pub fresh: usize,
    /// Files written into the reused ones.
    pub written: usize,
}

/// What `fanout warm` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WarmReport {
    pub created: usize,
    pub pool: PoolSummary,
}

/// Fill the pool with `n` more worktrees of the repository's HEAD (default: up to the pool's
/// size), within its limits.
pub fn warm(
    common_dir: &Path,
    repo_root: &Path,
    limits: &Limits,
    n: Option<usize>,
) -> Result<WarmReport> {
    let pool = Pool::at(common_dir, repo_root);
    std::fs::create_dir_all(&pool.dir).at(&pool.dir)?;
    let _warming = crate::state::try_lock_exclusive(&pool.dir.join(".lock"))?.ok_or_else(|| {
        Error::Invalid("the pool is being warmed by another fanout command".into())
    })?;
    let repo = git2::Repository::open(common_dir)?;
    let head = repo
        .head()
        .ok()
        .and_then(|h| h.peel_to_commit().ok())
        .ok_or_else(|| {
            Error::Invalid("nothing to warm from: the repository has no commit yet".into())
        })?;
    let room = limits.size.saturating_sub(pool.summary().worktrees);
    let want = n.unwrap_or(room).min(room);
    let mut created = 0;
    for _ in 0..want {
        if pool.summary().bytes >= limits.max_bytes {
            break;
        }
        let id = pool.new_id();
        let spec = WorktreeSpec {
            name: format!("fanout-pool-{id}"),
            path: pool.slot_path(&id),
            branch: format!("fanout/pool-warm/{id}"),
        };
        crate::checkout::create_worktrees(&repo, head.id(), std::slice::from_ref(&spec))?;
        crate::fault::point("pool.warm-created");
        let bytes = crate::checkout::disk_usage(&spec.path);
        let branch_ref = format!("refs/heads/{}", spec.branch);
        let _ops = GitOps::begin(
            common_dir,
            std::slice::from_ref(&branch_ref),
            &[pool.admin(&id)],
        )?;
        crate::checkout::link(&pool.admin(&id), &spec.path, &head.id().to_string())?;
        if let Ok(mut b) = repo.find_reference(&branch_ref) {
            b.delete()?;
        }
        crate::state::write_json_atomic(
            &pool.record_path(&id),
            &SlotRecord {
                bytes,
                pooled_at: now_secs(),
            },
        )?;
        created += 1;
    }
    Ok(WarmReport {
        created,
        pool: pool.summary(),
    })
}

/// What `gc` did to the pool.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrimReport {
    /// Pooled worktrees removed (over the limits, older than the gc age, or broken).
    pub removed: usize,
    pub bytes_freed: u64,
    /// Folders a crash left in the trash, being emptied now.
    pub trash_left: usize,
}

/// Bring the pool within its limits (dropping the oldest first, and any pooled longer ago
/// than `max_age_secs`), remove what a killed pooling, claim or warm left (slots without a
/// record or admin folder, admin folders without a slot, warm branches), and start emptying
/// the trash.
pub fn trim(
    common_dir: &Path,
    repo_root: &Path,
    limits: &Limits,
    max_age_secs: u64,
) -> Result<TrimReport> {
    let pool = Pool::at(common_dir, repo_root);
    let trash = repo_root.join(crate::trash::TRASH);
    let mut report = TrimReport {
        trash_left: crate::trash::entries(&trash).len(),
        ..TrimReport::default()
    };
    // A pool being warmed is left alone (its half-made slot is no leftover).
    let warming = match crate::state::try_lock_exclusive(&pool.dir.join(".lock")) {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => None,
        Err(_) => None, // no pool folder: nothing pooled
    };
    if pool.dir.is_dir() && warming.is_some() {
        let _ops = GitOps::begin(common_dir, &[], &[])?;
        repair(&pool, &mut report)?;
        let now = now_secs();
        let mut kept = PoolSummary::default();
        for slot in pool.slots() {
            let old = now.saturating_sub(slot.pooled_at) >= max_age_secs;
            let fits = kept.worktrees < limits.size
                && kept.bytes.saturating_add(slot.bytes) <= limits.max_bytes;
            if fits && !old {
                kept.worktrees += 1;
                kept.bytes += slot.bytes;
                continue;
            }
            pool.drop_slot(&slot.id)?;
            report.removed += 1;
            report.bytes_freed += slot.bytes;
        }
    }
    if warming.is_some() && pool.slots().is_empty() {
        // An empty pool leaves no folder behind (this fails if anything is in it).
        let _ = std::fs::remove_file(pool.dir.join(".lock"));
        let _ = std::fs::remove_dir(&pool.dir);
    }
    drop(warming);
    if !crate::trash::entries(&trash).is_empty() {
        crate::trash::empty_later(&trash);
    } else {
        let _ = std::fs::remove_dir(repo_root); // only if empty
    }
    Ok(report)
}

/// Remove the leftovers of pool operations that died (under the git-ops lock).
fn repair(pool: &Pool, report: &mut TrimReport) -> Result<()> {
    let live: std::collections::HashSet<String> = pool.slots().into_iter().map(|s| s.id).collect();
    for (path, name) in list(&pool.dir) {
        // A record half written by a killed pooling (no pool writer runs now: lock held).
        if name.starts_with('.') && name.ends_with(".tmp") {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        if name.starts_with('.') || name.ends_with(".json") {
            continue;
        }
        if !live.contains(&name) && path.is_dir() {
            pool.drop_slot(&name)?;
            report.removed += 1;
        }
    }
    for (path, name) in list(&pool.dir) {
        if let Some(id) = name.strip_suffix(".json") {
            if !live.contains(id) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    for (path, name) in list(&pool.common_dir.join("worktrees")) {
        if let Some(id) = name.strip_prefix("fanout-pool-") {
            if !live.contains(id) && !pool.slot_path(id).exists() {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    let repo = git2::Repository::open_bare(&pool.common_dir)?;
    let warm_branches: Vec<String> = repo
        .references_glob("refs/heads/fanout/pool-warm/*")?
        .flatten()
        .filter_map(|r| r.name().map(str::to_string))
        .collect();
    for name in warm_branches {
        if let Ok(mut r) = repo.find_reference(&name) {
            let _ = r.delete();
        }
    }
    Ok(())
}

fn list(dir: &Path) -> Vec<(PathBuf, String)> {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .filter_map(|e| Some((e.path(), e.file_name().to_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
