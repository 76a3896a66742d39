//! Keeps the views up to date with the log in the view file, rebuilds them, and
//! answers "as of" questions.
//!
//! The views live in one SQLite file (`<data-dir>/views.sqlite3`, [`sqlite`]): each
//! batch of events is folded by the pure folds of the `projections` crate over the
//! rows it touches, and its rows and checkpoint commit in one transaction, so a crash
//! loses at most the batch in flight and a restart replays only what the file has not
//! seen. [`ViewsHandle`] owns the writer and the readers and publishes the last
//! applied position on a watch channel, which `min_position` reads wait on.
//! [`catch_up`] replays the tail before the service binds; [`run`] then follows the
//! log's durable head for as long as the service lives.
//!
//! # Layout
//! - [`queries`]: [`ViewQueries`], the typed reads every caller outside this module
//!   makes (through [`ViewsHandle::current`] or [`ViewsHandle::at`]).
//! - [`sqlite`]: the view file (schema, batches, queries, checks, builds).
//! - [`rebuild`]: offline and online rebuilds (a fresh file beside the live one,
//!   renamed into place).
//! - [`history`]: which position a time names.
//! - [`health`]: what the checks of the file found, for `/readyz` and metrics.
//! - [`stats`]: trends (MTTA, MTTR per service per day) and channel health, for the
//!   console.
//! - [`apply_thread`]: the lower-priority thread batches are folded on.

pub mod apply_thread;
pub mod health;
pub mod history;
pub mod queries;
pub mod rebuild;
pub mod sqlite;
pub mod stats;

pub use queries::ViewQueries;

use crate::store::{EventStore, StoreError};
use health::ViewHealth;
use projections::views::RoutingView;
use projections::{Position, RecordedEvent};
use sqlite::{ViewFile, Writer};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// Events read from the log per page while replaying or following.
pub const PAGE: usize = 4096;

/// Most events the follower folds in one batch (one transaction) when the views trail
/// the log. Every page a batch dirties is written whole to the write-ahead log at
/// commit, and the views' indexes are keyed by random ids, so a batch dirties about as
/// many pages as it has row changes until it covers most of the indexes' pages: the
/// larger the batch, the more changes share each page written.
pub const FOLLOW_BATCH: usize = 65_536;

/// After a batch smaller than [`LINGER_BELOW`], the follower waits this long before the
/// next one, so a trickle of single-event appends becomes one commit, not one each:
/// every commit writes every page it touched (the row, its indexes, the checkpoint) to
/// the write-ahead log.
pub const LINGER: Duration = Duration::from_millis(2);

/// See [`LINGER`].
pub const LINGER_BELOW: usize = 256;

/// The name of the view file in the data directory.
pub const VIEW_FILE: &str = "views.sqlite3";

/// From this many events, an empty view file is built with the rebuild's bulk settings
/// before the service starts, rather than by following the log batch by batch.
pub const BULK_BUILD_FROM: Position = 50_000;

/// The views as they are now or as of a past position, answering [`ViewQueries`].
/// Every answer from one `Current` reflects the same position; drop it before any
/// `.await` (it holds a read transaction and is not `Send`).
pub type Current<'a> = sqlite::Reading<'a>;

/// The live views and how far they have got.
pub struct ViewsHandle {
    file: ViewFile,
    writer: Arc<tokio::sync::Mutex<Option<Writer>>>,
    applied: watch::Sender<Position>,
    fold_errors: AtomicU64,
    following: AtomicBool,
    health: Mutex<ViewHealth>,
    /// Routing as of the applied position, replaced by the follower (before it
    /// publishes the position) whenever a batch changed it: every trigger routes its
    /// alert and the scheduler checks task rules per alert, without a read of the file.
    routing: std::sync::RwLock<Arc<RoutingView>>,
    /// Where the follower's batches are folded and committed.
    apply_thread: apply_thread::ApplyThread,
    /// Status of the current or last online rebuild.
    pub rebuild: rebuild::RebuildSlot,
}

impl ViewsHandle {
    /// Opens (or creates) the view file at `path` and checks it against `store`
    /// (`sqlite::open`): a refused file is moved aside and rebuilt; one that proves a
    /// loss refuses the start unless `accept_loss`. An empty file over a log of at
    /// least `bulk_build_from` events is built in bulk first.
    pub async fn open(
        store: &Arc<dyn EventStore>,
        path: &Path,
        accept_loss: bool,
        bulk_build_from: Position,
    ) -> Result<Arc<Self>, StoreError> {
        let mut opened = sqlite::open::open(path, store.as_ref(), accept_loss).await?;
        if opened.writer.resident().position == 0 {
            let head = store.head().await?.position;
            if head >= bulk_build_from.max(1) {
                opened.writer = bulk_build(store, path, opened.writer, head).await?;
            }
        }
        let position = opened.writer.resident().position;
        let health = ViewHealth {
            opened_at_position: position,
            set_aside: opened.set_aside,
            ..ViewHealth::default()
        };
        let (applied, _) = watch::channel(position);
        let routing = std::sync::RwLock::new(Arc::new(opened.writer.resident().routing.clone()));
        Ok(Arc::new(ViewsHandle {
            file: ViewFile::new(path.to_owned()),
            writer: Arc::new(tokio::sync::Mutex::new(Some(opened.writer))),
            applied,
            fold_errors: AtomicU64::new(0),
            following: AtomicBool::new(false),
            health: Mutex::new(health),
            routing,
            apply_thread: apply_thread::ApplyThread::spawn("alert-ledger-views")
                .map_err(|e| StoreError::io("start the views thread", e))?,
            rebuild: rebuild::RebuildSlot::default(),
        }))
    }

    /// The view file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The current views, to ask [`ViewQueries`] of.
    pub fn current(&self) -> Current<'_> {
        self.file.read(None)
    }

    /// The views as they were once the event at `position` was applied (at most the
    /// applied position: wait for it first). An indexed read, not a replay.
    pub fn at(&self, position: Position) -> Current<'_> {
        self.file.read(Some(position))
    }

    /// The routing (channels, routes, policies, task rules) as of the applied position:
    /// what `current().routing()` answers, without a read of the file.
    pub fn routing(&self) -> Arc<RoutingView> {
        self.routing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn publish_routing(&self, routing: RoutingView) {
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
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

    /// What the checks of the file found.
    pub fn health(&self) -> ViewHealth {
        let mut health = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        health.read_errors = self.file.read_errors();
        health
    }

    fn update_health(&self, change: impl FnOnce(&mut ViewHealth)) {
        change(&mut self.health.lock().unwrap_or_else(|p| p.into_inner()));
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

    /// Folds a page of events into the file on the views thread (one transaction).
    async fn apply(&self, events: Vec<RecordedEvent>) -> Result<(), StoreError> {
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(());
        };
        let mut writer = self.writer.clone().lock_owned().await;
        let (outcome, routing) = self
            .apply_thread
            .run(move || {
                let Some(live) = writer.as_mut() else {
                    return (Err(rusqlite::Error::InvalidQuery), None);
                };
                let before = live.resident().routing_changes;
                let outcome = live.apply(&events);
                let changed = live.resident().routing_changes != before;
                let routing = changed.then(|| live.resident().routing.clone());
                drop(writer);
                (outcome, routing)
            })
            .await
            .ok_or_else(|| {
                StoreError::io(
                    "fold a batch",
                    std::io::Error::other("the views thread panicked"),
                )
            })?;
        let failed = outcome.map_err(|e| sqlite::open::sqlite_error("write the view file", e))?;
        if let Some(routing) = routing {
            self.publish_routing(routing);
        }
        self.fold_errors.fetch_add(failed, Ordering::Relaxed);
        self.applied.send_replace(last);
        Ok(())
    }

    /// Closes the file after the follower stopped: its write-ahead log is copied into
    /// it and removed, and pooled connections are closed (reads after this reopen).
    pub async fn close(&self) {
        let writer = self.writer.lock().await.take();
        let _gate = self.file.close_for_swap();
        if let Some(writer) = writer {
            if let Err(err) = writer.close() {
                tracing::warn!(%err, "view file not checkpointed at close; the next open replays its write-ahead log");
            }
        }
    }
}

/// Builds an empty view file from the log up to `head` with the rebuild's bulk
/// settings (a fresh file beside it, renamed into place; nothing reads it yet).
async fn bulk_build(
    store: &Arc<dyn EventStore>,
    path: &Path,
    empty: Writer,
    head: Position,
) -> Result<Writer, StoreError> {
    tracing::info!(events = head, file = %path.display(), "the view file is empty: building it from the log");
    let started = std::time::Instant::now();
    let fresh = sqlite::build::fresh_path(path);
    let (built, failed) = sqlite::build::build(store.clone(), &fresh, head, |_| {}).await?;
    let live = path.to_owned();
    tokio::task::spawn_blocking(move || {
        rebuild::swap(Some(empty), built, &fresh, &live)?;
        let _ = sqlite::build::remove_with_companions(&rebuild::previous_path(&live));
        Writer::open(&live).map_err(|e| sqlite::open::sqlite_error("open the view file", e))
    })
    .await
    .map_err(|e| StoreError::io("build the view file", std::io::Error::other(e)))?
    .inspect(|_| {
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            events = head,
            failed,
            seconds,
            events_per_sec = head as f64 / seconds.max(1e-9),
            "view file built"
        );
    })
}

/// [`catch_up`]; when the view file itself fails while it does (a damaged page the
/// checks at open could not see), the file is moved aside and built again from the log,
/// and the service starts (the log line, metric and `/readyz` say so).
pub async fn catch_up_or_rebuild(
    store: &Arc<dyn EventStore>,
    views: &ViewsHandle,
) -> Result<u64, StoreError> {
    match catch_up(store.as_ref(), views).await {
        Err(StoreError::Unavailable(ref detail))
            if detail.to_string().contains("write the view file") =>
        {
            tracing::error!(%detail, "VIEW FILE REFUSED: a write failed while catching up; moving it aside and building it again");
        }
        other => return other,
    }
    let path = views.path().to_owned();
    let (mut writer, gate) = (views.writer.lock().await, views.file.close_for_swap());
    writer.take();
    drop(gate);
    let refused = sqlite::open::Refused::Unreadable("a write failed while catching up".into());
    let aside = sqlite::open::move_aside(&path, store.as_ref(), refused, false).await?;
    let head = store.head().await?.position;
    let empty =
        Writer::open(&path).map_err(|e| sqlite::open::sqlite_error("create the view file", e))?;
    let built = bulk_build(store, &path, empty, head).await?;
    let position = built.resident().position;
    views.publish_routing(built.resident().routing.clone());
    *writer = Some(built);
    drop(writer);
    views.update_health(|h| {
        h.set_aside = Some(aside);
        h.opened_at_position = 0;
    });
    views.applied.send_replace(position);
    catch_up(store.as_ref(), views)
        .await
        .map(|more| position + more)
}

/// Replays the log from the views' position to the current head.
/// Returns the number of events applied.
pub async fn catch_up(store: &dyn EventStore, views: &ViewsHandle) -> Result<u64, StoreError> {
    let head = store.head().await?.position;
    let mut applied = 0;
    while views.applied() < head {
        let mut page = store.read_all(views.applied() + 1, PAGE).await?;
        page.retain(|event| event.position <= head);
        if page.is_empty() {
            break;
        }
        applied += page.len() as u64;
        views.apply(page).await?;
    }
    Ok(applied)
}

/// Follows the log's durable head until `shutdown` completes (never past it: the
/// views must not reflect an event a crash could still take back). A read or write
/// failure is logged and retried after a pause; the views never skip an event.
pub async fn run(
    store: Arc<dyn EventStore>,
    views: Arc<ViewsHandle>,
    shutdown: impl Future<Output = ()>,
) {
    follow(store, views, shutdown, FOLLOW_BATCH).await
}

/// [`run`] folding at most `batch` events per transaction (tests use tiny batches to
/// cross batch boundaries and the read-ahead often).
pub async fn follow(
    store: Arc<dyn EventStore>,
    views: Arc<ViewsHandle>,
    shutdown: impl Future<Output = ()>,
    batch: usize,
) {
    views.following.store(true, Ordering::Relaxed);
    tokio::pin!(shutdown);
    let checkpointer = tokio::spawn(checkpoint_loop(views.clone()));
    let mut head = store.watch_head();
    let mut ahead = None;
    let mut retry = Retry::default();
    loop {
        let target = *head.borrow_and_update();
        if views.applied() < target {
            let step = follow_step(store.as_ref(), &views, (target, batch), &mut ahead).await;
            let pause = match step {
                Ok(events) => {
                    retry.succeeded();
                    (events < LINGER_BELOW).then_some(LINGER)
                }
                Err(err) => {
                    let pause = retry.failed();
                    tracing::error!(%err, retry_in_ms = pause.as_millis() as u64, "views cannot follow the log; retrying");
                    Some(pause)
                }
            };
            let Some(pause) = pause else { continue };
            tokio::select! {
                _ = tokio::time::sleep(pause) => continue,
                _ = &mut shutdown => break,
            }
        }
        tokio::select! {
            changed = head.changed() => if changed.is_err() { break },
            _ = &mut shutdown => break,
        }
    }
    checkpointer.abort();
    // Leave the file at the durable head: the next start replays nothing.
    if let Err(err) = catch_up(store.as_ref(), &views).await {
        tracing::error!(%err, "views could not reach the head before stopping; the next start replays the rest");
    }
    views.following.store(false, Ordering::Relaxed);
}

/// The follower's pause after a failed batch: [`Retry::FIRST`], doubled after each
/// failure in a row up to [`Retry::LAST`], and back to the first after a success. A
/// transient error (a busy or briefly unreadable file) then costs milliseconds of lag,
/// and one that lasts does not fill the log with a line per millisecond.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
}

impl Retry {
    const FIRST: Duration = Duration::from_millis(50);
    const LAST: Duration = Duration::from_secs(1);

    fn failed(&mut self) -> Duration {
        let pause = Self::FIRST.saturating_mul(1 << self.failures.min(5));
        self.failures = self.failures.saturating_add(1);
        pause.min(Self::LAST)
    }

    fn succeeded(&mut self) {
        self.failures = 0;
    }
}

/// Folds the next batch of at most `batch` events up to `target`; returns how many it
/// folded.
///
/// When the batch is full and the log goes on, the batch after it is read while this
/// one folds (on the views thread) and kept in `ahead` for the next step: a catch-up
/// then costs the fold's time, not the fold's and the read's.
async fn follow_step(
    store: &dyn EventStore,
    views: &ViewsHandle,
    (target, batch): (Position, usize),
    ahead: &mut Option<Vec<RecordedEvent>>,
) -> Result<usize, StoreError> {
    let from = views.applied() + 1;
    let mut page = match ahead.take() {
        Some(page) if page.first().is_some_and(|e| e.position == from) => page,
        _ => store.read_all(from, batch).await?,
    };
    page.retain(|event| event.position <= target);
    let events = page.len();
    let next = page.last().map_or(from, |e| e.position + 1);
    if events == batch && next <= target {
        let (applied, read) = tokio::join!(views.apply(page), store.read_all(next, batch));
        applied?;
        *ahead = read.ok();
    } else {
        views.apply(page).await?;
    }
    Ok(events)
}

/// How often the write-ahead log is copied into the view file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Copies the view file's write-ahead log into the file every [`CHECKPOINT_EVERY`], off
/// the follower's path (commits never checkpoint themselves).
async fn checkpoint_loop(views: Arc<ViewsHandle>) {
    loop {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        let handle = views.clone();
        let done = tokio::task::spawn_blocking(move || handle.file.checkpoint()).await;
        if let Ok(Err(err)) = done {
            tracing::warn!(%err, "view file checkpoint failed; retrying");
        }
    }
}

#[cfg(test)]
mod retry_tests {
    use super::Retry;
    use std::time::Duration;

    #[test]
    fn the_pause_after_a_failure_doubles_up_to_a_second_and_a_success_resets_it() {
        let mut retry = Retry::default();
        let pauses: Vec<u128> = (0..8).map(|_| retry.failed().as_millis()).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
        retry.succeeded();
        assert_eq!(retry.failed(), Duration::from_millis(50));
    }
}
