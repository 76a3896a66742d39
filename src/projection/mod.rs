//! Keeps the in-memory views up to date with the log, snapshots them, rebuilds them,
//! and answers "as of" questions.
//!
//! [`ViewsHandle`] owns the views behind a `std::sync::RwLock` (never held across an
//! `.await`: readers copy out what they need) and publishes the last applied position
//! on a watch channel, which `min_position` reads wait on. [`catch_up`] replays the
//! log before the service binds; [`run`] then follows the head for as long as the
//! service lives, writing a snapshot every N events or T seconds.
//!
//! # Layout
//! - [`queries`]: [`ViewQueries`], the typed reads every caller outside this module
//!   makes (through [`ViewsHandle::current`] or the past views of [`history`]).
//! - [`rebuild`]: online rebuild beside the live views, swapped in when caught up.
//! - [`history`]: views as of a past position or time.
//! - `load`: the snapshot to start from, checked as a witness of the log.

pub mod history;
mod load;
pub mod queries;
pub mod rebuild;

pub use load::load_snapshot;
pub use queries::ViewQueries;

use crate::snapshot::{self, SnapshotDir};
use crate::store::{EventStore, StoreError};
use projections::views::Views;
use projections::{Position, RecordedEvent};
use serde::Serialize;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Events read from the log per page while replaying or following.
pub const PAGE: usize = 4096;

/// When to write snapshots.
#[derive(Debug, Clone)]
pub struct SnapshotPolicy {
    /// Where.
    pub dir: SnapshotDir,
    /// After this many events since the last snapshot.
    pub every_events: u64,
    /// After this long since the last snapshot, if anything changed.
    pub every: Duration,
}

/// The last snapshot written or loaded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotInfo {
    /// Its position.
    pub position: Position,
    /// Its file.
    pub file: Option<PathBuf>,
    /// When it was written or loaded (RFC 3339).
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// The last snapshot failure, if the latest attempt failed.
    pub last_error: Option<String>,
}

/// The live views as they are now, answering [`ViewQueries`] (from
/// [`ViewsHandle::current`]). Every answer from one `Current` reflects the same position.
pub struct Current<'a>(RwLockReadGuard<'a, Views>);

impl std::ops::Deref for Current<'_> {
    type Target = dyn ViewQueries;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The live views and how far they have got.
pub struct ViewsHandle {
    views: RwLock<Views>,
    applied: watch::Sender<Position>,
    fold_errors: AtomicU64,
    following: AtomicBool,
    snapshot: Mutex<SnapshotInfo>,
    /// Status of the current or last online rebuild.
    pub rebuild: rebuild::RebuildSlot,
    /// Cache of the last views built for an `as_of` read.
    pub history: history::HistoryCache,
}

impl ViewsHandle {
    /// Wraps views that already reflect `views.position`.
    pub fn new(views: Views) -> Arc<Self> {
        let (applied, _) = watch::channel(views.position);
        Arc::new(ViewsHandle {
            views: RwLock::new(views),
            applied,
            fold_errors: AtomicU64::new(0),
            following: AtomicBool::new(false),
            snapshot: Mutex::new(SnapshotInfo::default()),
            rebuild: rebuild::RebuildSlot::default(),
            history: history::HistoryCache::default(),
        })
    }

    /// The current views, to ask [`ViewQueries`] of. Each answer is a copy; the views
    /// stay read-locked until the value returned is dropped, so drop it before any
    /// `.await` (it is not `Send`, so an async task cannot keep it across one).
    pub fn current(&self) -> Current<'_> {
        Current(
            self.views
                .read()
                .unwrap_or_else(|poison| poison.into_inner()),
        )
    }

    /// Runs `read` against the current views. Keep it short and synchronous.
    fn read<R>(&self, read: impl FnOnce(&Views) -> R) -> R {
        let views = self
            .views
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        read(&views)
    }

    /// Runs `write` with the views locked for writing (swaps by the rebuild).
    fn write<R>(&self, write: impl FnOnce(&mut Views) -> R) -> R {
        let mut views = self
            .views
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        write(&mut views)
    }

    /// The last applied position.
    pub fn applied(&self) -> Position {
        *self.applied.borrow()
    }

    /// How many events failed to fold since start.
    pub fn fold_errors(&self) -> u64 {
        self.fold_errors.load(Ordering::Relaxed)
    }

    /// Whether the follower task is running.
    pub fn is_following(&self) -> bool {
        self.following.load(Ordering::Relaxed)
    }

    /// The last snapshot written or loaded.
    pub fn snapshot_info(&self) -> SnapshotInfo {
        self.snapshot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until the views have applied `position`, at most `timeout`.
    /// Returns the applied position on timeout.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), Position> {
        let mut rx = self.applied.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|applied| *applied >= position))
            .await
            .is_ok_and(|changed| changed.is_ok());
        if reached {
            Ok(())
        } else {
            Err(self.applied())
        }
    }

    /// Applies a page of events in order under one write lock.
    fn apply(&self, events: &[RecordedEvent]) {
        let Some(last) = events.last() else { return };
        let failed = self.write(|views| apply_all(views, events));
        self.fold_errors.fetch_add(failed, Ordering::Relaxed);
        self.applied.send_replace(last.position);
    }

    /// Writes a snapshot of the current views. Serialising happens on a blocking
    /// thread under the read lock; the follower waits for it.
    pub async fn write_snapshot(
        self: &Arc<Self>,
        store: &dyn EventStore,
        dir: &SnapshotDir,
    ) -> anyhow::Result<Position> {
        let handle = self.clone();
        let (position, body) = tokio::task::spawn_blocking(move || {
            handle.read(|views| snapshot::encode(views).map(|body| (views.position, body)))
        })
        .await??;
        let hash = match position {
            0 => projections::Hash::GENESIS,
            p => snapshot::hash_at(store, p)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the log has no position {p}"))?,
        };
        let dir = dir.clone();
        let path = tokio::task::spawn_blocking(move || dir.write(position, hash, &body)).await??;
        tracing::info!(position, file = %path.display(), "snapshot written");
        self.record_snapshot(position, Some(path), None);
        Ok(position)
    }

    fn record_snapshot(&self, position: Position, file: Option<PathBuf>, error: Option<String>) {
        let mut info = self.snapshot.lock().unwrap_or_else(|p| p.into_inner());
        if error.is_none() {
            info.position = position;
            info.file = file;
            info.at = Some(chrono::Utc::now());
        }
        info.last_error = error;
    }
}

/// Applies `events` to `views`, logging each event that does not fold; returns how
/// many did not.
pub fn apply_all(views: &mut Views, events: &[RecordedEvent]) -> u64 {
    let mut failed = 0;
    for event in events {
        if let Err(err) = views.apply(event) {
            failed += 1;
            tracing::warn!(position = event.position, %err, "event not applied to views");
        }
    }
    failed
}

/// Replays the log from the views' position to the current head.
/// Returns the number of events applied.
pub async fn catch_up(store: &dyn EventStore, views: &ViewsHandle) -> Result<u64, StoreError> {
    let head = store.head().await?.position;
    let mut applied = 0;
    while views.applied() < head {
        let page = store.read_all(views.applied() + 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        applied += page.len() as u64;
        views.apply(&page);
    }
    Ok(applied)
}

/// Follows the log until `shutdown` completes, snapshotting by `policy`. A read
/// failure is logged and retried after a pause; the views never skip an event.
pub async fn run(
    store: Arc<dyn EventStore>,
    views: Arc<ViewsHandle>,
    policy: Option<SnapshotPolicy>,
    shutdown: impl Future<Output = ()>,
) {
    views.following.store(true, Ordering::Relaxed);
    tokio::pin!(shutdown);
    let mut head = store.watch_head();
    // Counted from the last durable snapshot, not from where this process started: a
    // service that is killed before it ever shuts down cleanly (a crash loop) still
    // reaches a snapshot once the replayed tail is long enough, so its start time stops
    // growing with the log.
    let mut last_snapshot = (views.snapshot_info().position, Instant::now());
    if let Some(policy) = &policy {
        maybe_snapshot(&store, &views, policy, &mut last_snapshot).await;
    }
    loop {
        let target = *head.borrow_and_update();
        if views.applied() < target {
            match store.read_all(views.applied() + 1, PAGE).await {
                Ok(page) => {
                    views.apply(&page);
                    if let Some(policy) = &policy {
                        maybe_snapshot(&store, &views, policy, &mut last_snapshot).await;
                    }
                    continue;
                }
                Err(err) => {
                    tracing::error!(%err, "views cannot read the log; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = &mut shutdown => break,
                    }
                }
            }
        }
        let tick = match &policy {
            Some(policy) => policy.every,
            None => Duration::from_secs(3600),
        };
        tokio::select! {
            changed = head.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep(tick) => {
                if let Some(policy) = &policy {
                    maybe_snapshot(&store, &views, policy, &mut last_snapshot).await;
                }
            }
            _ = &mut shutdown => break,
        }
    }
    views.following.store(false, Ordering::Relaxed);
}

async fn maybe_snapshot(
    store: &Arc<dyn EventStore>,
    views: &Arc<ViewsHandle>,
    policy: &SnapshotPolicy,
    last: &mut (Position, Instant),
) {
    let applied = views.applied();
    // A snapshot holds the views' read lock while it encodes them, which takes longer
    // as the views grow (seconds past a million events: the follower waits, and so do
    // writes that read their own result). So the event interval grows with the log:
    // at least `every_events`, and at least half the position of the last snapshot,
    // which keeps the total encoding work proportional to the log, not quadratic.
    let interval = policy.every_events.max(last.0 / 2);
    let due = applied.saturating_sub(last.0) >= interval
        || (applied > last.0 && last.1.elapsed() >= policy.every);
    if !due {
        return;
    }
    match views.write_snapshot(store.as_ref(), &policy.dir).await {
        Ok(position) => *last = (position, Instant::now()),
        Err(err) => {
            tracing::error!(%err, "snapshot failed; the views keep running from the log");
            views.record_snapshot(applied, None, Some(err.to_string()));
            *last = (last.0, Instant::now());
        }
    }
}
