//! Keeps the in-memory views up to date with the log.
//!
//! [`ViewsHandle`] owns the views behind a `std::sync::RwLock` (never held across an
//! `.await`: readers copy out what they need) and publishes the last applied position
//! on a watch channel, which `min_position` reads wait on. [`catch_up`] replays the
//! log before the service binds; [`run`] then follows the head for as long as the
//! service lives.

use crate::store::{EventStore, StoreError};
use projections::views::Views;
use projections::{Position, RecordedEvent};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Events read from the log per page while replaying or following.
const PAGE: usize = 4096;

/// The live views and how far they have got.
pub struct ViewsHandle {
    views: RwLock<Views>,
    applied: watch::Sender<Position>,
    fold_errors: AtomicU64,
    following: AtomicBool,
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
        })
    }

    /// Runs `read` against the current views. Keep it short and synchronous.
    pub fn read<R>(&self, read: impl FnOnce(&Views) -> R) -> R {
        let views = self
            .views
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        read(&views)
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
        {
            let mut views = self
                .views
                .write()
                .unwrap_or_else(|poison| poison.into_inner());
            for event in events {
                if let Err(err) = views.apply(event) {
                    self.fold_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(position = event.position, %err, "event not applied to views");
                }
            }
        }
        self.applied.send_replace(last.position);
    }
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

/// Follows the log until `shutdown` completes. A read failure is logged and retried
/// after a pause; the views never skip an event.
pub async fn run(
    store: Arc<dyn EventStore>,
    views: Arc<ViewsHandle>,
    shutdown: impl Future<Output = ()>,
) {
    views.following.store(true, Ordering::Relaxed);
    tokio::pin!(shutdown);
    let mut head = store.watch_head();
    loop {
        let target = *head.borrow_and_update();
        if views.applied() < target {
            match store.read_all(views.applied() + 1, PAGE).await {
                Ok(page) => {
                    views.apply(&page);
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
        tokio::select! {
            changed = head.changed() => if changed.is_err() { break },
            _ = &mut shutdown => break,
        }
    }
    views.following.store(false, Ordering::Relaxed);
}
