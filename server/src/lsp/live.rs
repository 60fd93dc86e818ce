//! Live status: the server watches each repository's state folder (inotify, through `notify`)
//! and re-reads the status when anything changes, whoever changed it (this server, the CLI,
//! another editor, a supervisor), plus once a second to notice supervisors that died without
//! a word. On each change it sends `fanout/status`, asks the client to refresh code lenses,
//! reports work-done progress per running fanout, and announces finished fanouts.

use super::state::ClientCaps;
use crate::workspace::Workspace;
use crate::workspace::{AttemptState, FanoutStatus, StatusReport};
use dashmap::DashMap;
use notify::Watcher;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::Client;

/// `fanout/status` (server to client), typed in `proto`.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = crate::proto::StatusNotification;
    const METHOD: &'static str = crate::proto::StatusNotification::METHOD;
}

/// `fanout/finished` (server to client), for clients that asked for it.
pub enum FinishedNotification {}

impl Notification for FinishedNotification {
    type Params = crate::proto::FinishedNotification;
    const METHOD: &'static str = crate::proto::FinishedNotification::METHOD;
}

pub struct Live {
    client: Client,
    caps: RwLock<ClientCaps>,
    repos: DashMap<PathBuf, Arc<Workspace>>,
    reports: DashMap<PathBuf, StatusReport>,
    tx: UnboundedSender<PathBuf>,
    rx: Mutex<Option<UnboundedReceiver<PathBuf>>>,
    watchers: Mutex<Vec<notify::RecommendedWatcher>>,
    stopped: AtomicBool,
    publish: tokio::sync::Mutex<Published>,
    /// The `warmPool` setting: fill a repository's pool when it goes idle.
    warm_at_idle: AtomicBool,
    /// Repositories whose pool is being filled now, or was since they last ran attempts.
    warmed: DashMap<PathBuf, ()>,
}

/// What the client has been told so far.
#[derive(Default)]
struct Published {
    /// Per fanout, the progress token while it runs, and the last message sent on it.
    progress: HashMap<String, (ProgressToken, String)>,
    /// Fanouts seen unfinished, whose end is still to be announced.
    unfinished: HashSet<String>,
    /// Every fanout seen so far, finished or not.
    seen: HashSet<String>,
    /// Repositories whose fanouts were looked at once: a fanout that appears in one of them
    /// later is new, and announced even if it is already finished when first seen.
    looked: HashSet<PathBuf>,
    last_lens_refresh: Option<Instant>,
    /// Per attempt, how many of its outside changes the user was warned about.
    outside_warned: HashMap<String, usize>,
}

/// What a look at a fanout tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum News {
    /// It still runs.
    Unfinished,
    /// It has just finished: announce it.
    Finished,
    /// Finished before, or before the server first looked: nothing to say.
    Nothing,
}

impl Published {
    /// Records a look at a fanout. A fanout is announced once: when it is seen finished after
    /// being seen unfinished, or when it first appears already finished in a repository the
    /// server had looked at before (it ran between two looks).
    fn news(&mut self, fanout: &str, unfinished: bool, first_look: bool) -> News {
        let new = self.seen.insert(fanout.to_string()) && !first_look;
        if unfinished {
            self.unfinished.insert(fanout.to_string());
            News::Unfinished
        } else if self.unfinished.remove(fanout) || new {
            News::Finished
        } else {
            News::Nothing
        }
    }
}

impl Live {
    pub fn new(client: Client) -> Arc<Live> {
        let (tx, rx) = unbounded_channel();
        Arc::new(Live {
            client,
            caps: RwLock::new(ClientCaps::default()),
            repos: DashMap::new(),
            reports: DashMap::new(),
            tx,
            rx: Mutex::new(Some(rx)),
            watchers: Mutex::new(Vec::new()),
            stopped: AtomicBool::new(false),
            publish: tokio::sync::Mutex::new(Published::default()),
            warm_at_idle: AtomicBool::new(false),
            warmed: DashMap::new(),
        })
    }

    pub fn set_caps(&self, caps: ClientCaps) {
        *self.caps.write().unwrap() = caps;
    }

    pub fn report(&self, workdir: &Path) -> Option<StatusReport> {
        self.reports.get(workdir).map(|r| r.clone())
    }

    /// Start watching a repository's state folder (once per repository).
    pub fn watch(&self, repo: Arc<Workspace>) {
        if self.repos.contains_key(repo.workdir()) {
            return;
        }
        let fanouts = repo.records_folder();
        let _ = std::fs::create_dir_all(&fanouts);
        let tx = self.tx.clone();
        let workdir = repo.workdir().to_path_buf();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| changes_state(&e)) {
                let _ = tx.send(workdir.clone());
            }
        });
        match watcher {
            Ok(mut w) => match w.watch(&fanouts, notify::RecursiveMode::Recursive) {
                Ok(()) => self.watchers.lock().unwrap().push(w),
                Err(e) => tracing::warn!("cannot watch {}: {e}; polling only", fanouts.display()),
            },
            Err(e) => tracing::warn!("no file watcher: {e}; polling only"),
        }
        let _ = self.tx.send(repo.workdir().to_path_buf());
        self.repos.insert(repo.workdir().to_path_buf(), repo);
    }

    /// Re-read a repository's status now (after this server changed something).
    pub fn poke(&self, workdir: &Path) {
        let _ = self.tx.send(workdir.to_path_buf());
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.watchers.lock().unwrap().clear();
    }

    /// Run the watch loop in the background.
    pub fn start(self: &Arc<Self>) {
        let Some(mut rx) = self.rx.lock().unwrap().take() else {
            return;
        };
        let live = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while !live.stopped.load(Ordering::SeqCst) {
                let mut dirty: HashSet<PathBuf> = HashSet::new();
                tokio::select! {
                    Some(dir) = rx.recv() => {
                        dirty.insert(dir);
                        // Coalesce a burst of file events (a write is several) into one read.
                        let settle = tokio::time::sleep(Duration::from_millis(3));
                        tokio::pin!(settle);
                        loop {
                            tokio::select! {
                                Some(d) = rx.recv() => { dirty.insert(d); }
                                _ = &mut settle => break,
                            }
                        }
                    }
                    _ = tick.tick() => {
                        dirty.extend(live.repos.iter().map(|r| r.key().clone()));
                    }
                }
                for workdir in dirty {
                    live.refresh(&workdir).await;
                }
            }
        });
    }

    async fn refresh(&self, workdir: &Path) {
        let Some(repo) = self.repos.get(workdir).map(|r| r.clone()) else {
            return;
        };
        let report = match tokio::task::spawn_blocking(move || repo.status()).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return tracing::warn!("status of {}: {e}", workdir.display()),
            Err(e) => return tracing::warn!("status task failed: {e}"),
        };
        self.warm_if_idle(workdir, &report);
        let old = self.reports.insert(workdir.to_path_buf(), report.clone());
        let changed = old.as_ref().map(signature) != Some(signature(&report));
        let mut published = self.publish.lock().await;
        if changed {
            self.send_status().await;
            self.warn_outside_changes(&mut published, &report).await;
            self.progress(&mut published, &report).await;
            self.refresh_lenses_now(&mut published).await;
        } else if report.counts().active() > 0
            && published
                .last_lens_refresh
                .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
        {
            // Running attempts' lenses show elapsed time: refresh them now and then.
            self.refresh_lenses_now(&mut published).await;
        }
    }

    async fn send_status(&self) {
        let mut fanouts: Vec<crate::proto::Fanout> = Vec::new();
        let mut batches: Vec<crate::proto::Batch> = Vec::new();
        let mut counts = crate::workspace::Counts::default();
        for r in self.reports.iter() {
            counts.add(r.counts());
            fanouts.extend(r.fanouts.iter().map(crate::proto::Fanout::from));
            batches.extend(r.batches.iter().map(crate::proto::Batch::from));
        }
        self.client
            .send_notification::<StatusNotification>(crate::proto::StatusNotification {
                counts: counts.into(),
                fanouts,
                batches,
            })
            .await;
    }

    pub fn set_warm_at_idle(&self, on: bool) {
        self.warm_at_idle.store(on, Ordering::Relaxed);
    }

    /// With `warmPool` on: once per idle period of a repository (none of its attempts running
    /// or queued), fill its pool in the background, so that the next try starts from warm
    /// worktrees. Attempts running again start a new period.
    fn warm_if_idle(&self, workdir: &Path, report: &StatusReport) {
        if report.counts().active() > 0 {
            self.warmed.remove(workdir);
            return;
        }
        if !self.warm_at_idle.load(Ordering::Relaxed) || self.warmed.contains_key(workdir) {
            return;
        }
        let Some(repo) = self.repos.get(workdir).map(|r| r.clone()) else {
            return;
        };
        self.warmed.insert(workdir.to_path_buf(), ());
        let workdir = workdir.to_path_buf();
        tokio::task::spawn_blocking(move || match repo.warm(None) {
            Ok(r) => tracing::info!("warmed {} worktree(s) of {}", r.created, workdir.display()),
            Err(e) => tracing::warn!("warming the pool of {}: {e}", workdir.display()),
        });
    }

    pub async fn refresh_lenses(&self) {
        let mut published = self.publish.lock().await;
        self.refresh_lenses_now(&mut published).await;
    }

    async fn refresh_lenses_now(&self, published: &mut Published) {
        published.last_lens_refresh = Some(Instant::now());
        if self.caps.read().unwrap().lens_refresh {
            if let Err(e) = self.client.code_lens_refresh().await {
                tracing::debug!("codeLens/refresh: {}", e.message);
            }
        }
    }

    /// Work-done progress per running fanout, and a message when one finishes. Fanouts that
    /// had already finished when the server first looked are not announced; one that appears
    /// later is, even if it finished between two looks.
    async fn progress(&self, published: &mut Published, report: &StatusReport) {
        let progress_ok = self.caps.read().unwrap().work_done_progress;
        let first_look = published.looked.insert(report.repo.clone());
        // An integration is no run of agents to announce: `fanout integrate` answers itself.
        for f in report
            .fanouts
            .iter()
            .filter(|f| f.task.marker != crate::workspace::INTEGRATE)
        {
            let total = f.attempts.len();
            let done = f.attempts.iter().filter(|a| a.state.is_finished()).count();
            let message = format!("{done}/{total} done");
            let news = published.news(&f.id, done < total, first_look);
            if news == News::Unfinished {
                if progress_ok {
                    self.progress_step(published, f, &message, done * 100 / total.max(1))
                        .await;
                }
            } else if news == News::Finished {
                if let Some((token, _)) = published.progress.remove(&f.id) {
                    self.send_progress(
                        token,
                        WorkDoneProgress::End(WorkDoneProgressEnd {
                            message: Some(message),
                        }),
                    )
                    .await;
                }
                let ok = f
                    .attempts
                    .iter()
                    .filter(|a| a.state == AttemptState::Succeeded)
                    .count();
                let message = format!(
                    "fanout: {ok} of {total} attempts succeeded for \"{}\"",
                    crate::text::escape_line(&f.task.label())
                );
                if self.caps.read().unwrap().finished_notification {
                    self.client
                        .send_notification::<FinishedNotification>(
                            crate::proto::FinishedNotification {
                                fanout: f.id.clone(),
                                task: (&f.task).into(),
                                total,
                                succeeded: ok,
                                best: f.best.clone(),
                                message,
                            },
                        )
                        .await;
                } else {
                    self.client.show_message(MessageType::INFO, message).await;
                }
            }
        }
    }

    /// A run that changed the user's HEAD, index, branches or stash is said loudly, once.
    async fn warn_outside_changes(&self, published: &mut Published, report: &StatusReport) {
        for a in report.fanouts.iter().flat_map(|f| &f.attempts) {
            let warned = published.outside_warned.entry(a.id.clone()).or_insert(0);
            for c in a.outside_changes.iter().skip(*warned) {
                self.client
                    .show_message(
                        MessageType::WARNING,
                        format!(
                            "fanout: outside attempt {} while it ran: {}",
                            a.id,
                            crate::text::escape_line(&c.message)
                        ),
                    )
                    .await;
            }
            *warned = a.outside_changes.len();
        }
    }

    async fn progress_step(
        &self,
        published: &mut Published,
        f: &FanoutStatus,
        message: &str,
        percentage: usize,
    ) {
        match published.progress.get_mut(&f.id) {
            // Only news is reported: the same count again is not.
            Some((_, last)) if last == message => {}
            Some((token, last)) => {
                *last = message.to_string();
                let token = token.clone();
                let report = WorkDoneProgressReport {
                    cancellable: Some(false),
                    message: Some(message.into()),
                    percentage: Some(percentage as u32),
                };
                self.send_progress(token, WorkDoneProgress::Report(report))
                    .await;
            }
            None => {
                let token = ProgressToken::String(format!("fanout/{}", f.id));
                if self
                    .client
                    .create_work_done_progress(token.clone())
                    .await
                    .is_err()
                {
                    return;
                }
                published
                    .progress
                    .insert(f.id.clone(), (token.clone(), message.to_string()));
                let begin = WorkDoneProgressBegin {
                    title: "fanout".into(),
                    cancellable: Some(false),
                    message: Some(message.into()),
                    percentage: Some(percentage as u32),
                };
                self.send_progress(token, WorkDoneProgress::Begin(begin))
                    .await;
            }
        }
    }

    async fn send_progress(&self, token: ProgressToken, value: WorkDoneProgress) {
        self.client
            .send_notification::<notification::Progress>(ProgressParams {
                token,
                value: ProgressParamsValue::WorkDone(value),
            })
            .await;
    }
}

/// What, when it changes, is worth telling the client: each attempt's state and result.
/// Whether a file event can change the status. Agents' logs live outside the watched folder;
/// what remains to drop is readers touching the liveness locks.
fn changes_state(event: &notify::Event) -> bool {
    use notify::event::ModifyKind;
    use notify::EventKind::{Access, Modify};
    if matches!(event.kind, Access(_)) {
        return false;
    }
    let only_logs = !event.paths.is_empty()
        && event
            .paths
            .iter()
            .all(|p| p.file_name().is_some_and(|n| n == "lock"));
    !(only_logs
        && matches!(
            event.kind,
            Modify(ModifyKind::Data(_)) | Modify(ModifyKind::Any) | Modify(ModifyKind::Metadata(_))
        ))
}

/// Per attempt, its id and everything editors show of it except the clock: a status is sent
/// when this changes (state, phase, what the agent does, verify, best, ...), not every second
/// of a running attempt's elapsed time (editors ask for that when they show it).
type AttemptSignature = (String, String);

fn signature(r: &StatusReport) -> Vec<AttemptSignature> {
    let mut sig: Vec<_> = r
        .fanouts
        .iter()
        .flat_map(|f| f.attempts.iter().map(move |a| (f, a)))
        .map(|(f, a)| {
            let shown = format!(
                "{:?} {:?} {:?} {:?} {:?} {} {} {:?} {:?} {:?} {:?} {} {} {} {:?} {:?}",
                a.state,
                a.phase,
                a.exit_code,
                a.error,
                a.diffstat.map(|d| (d.files, d.additions, d.deletions)),
                a.worktree_present,
                a.outside_changes.len(),
                a.doing(),
                a.verify.as_ref().map(|v| v.passed),
                a.same_as,
                a.discard,
                a.can_accept,
                a.can_diff,
                f.best.as_deref() == Some(a.id.as_str()),
                a.accepted_at,
                a.judge_rank,
            );
            (a.id.clone(), shown)
        })
        .chain(r.fanouts.iter().filter_map(|f| {
            let review = f.review.as_ref()?;
            Some((review.id.clone(), format!("review {:?}", review.state)))
        }))
        .chain(
            r.batches
                .iter()
                .map(|b| (b.id.clone(), format!("run {b:?}"))),
        )
        .collect();
    sig.sort();
    sig
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fanout_is_announced_once_when_it_finishes() {
        let mut p = Published::default();
        assert_eq!(p.news("a", true, true), News::Unfinished);
        assert_eq!(p.news("a", false, false), News::Finished);
        assert_eq!(p.news("a", false, false), News::Nothing, "only once");
    }

    #[test]
    fn fanouts_done_before_the_first_look_are_not_announced() {
        let mut p = Published::default();
        assert_eq!(p.news("old", false, true), News::Nothing);
        assert_eq!(p.news("old", false, false), News::Nothing);
    }

    #[test]
    fn a_fanout_that_ran_between_two_looks_is_announced() {
        let mut p = Published::default();
        assert_eq!(p.news("old", false, true), News::Nothing);
        assert_eq!(p.news("quick", false, false), News::Finished);
        assert_eq!(p.news("quick", false, false), News::Nothing);
    }
}
