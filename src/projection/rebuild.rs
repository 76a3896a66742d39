//! Rebuilding the views from the log: offline (`alert-ledger rebuild`) and online
//! (while the service runs). Either way a fresh file is built beside the live one
//! (`views.sqlite3.rebuild`, bulk settings), caught up, and renamed into place; the
//! live file serves until the swap and is kept as `views.sqlite3.previous` until the
//! new one passes its page check.
//!
//! Online, the tail and the swap happen under the writer's lock (the follower waits),
//! so no event can slip between "caught up" and the swap; readers are held at the
//! file's gate only while the files are renamed.

use super::sqlite::build::{self, fresh_path, remove_with_companions};
use super::sqlite::open::sqlite_error;
use super::sqlite::Writer;
use super::{ViewsHandle, PAGE};
use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use projections::Position;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A view that can be named for a rebuild. The views share one file and one
/// checkpoint, so every name rebuilds the whole file; the names stay so scripts and
/// the API keep their paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectionName {
    /// Every view.
    All,
    /// Alert status.
    Alerts,
    /// Outgoing messages.
    Messages,
    /// Active alarms.
    Alarms,
    /// Tasks.
    Tasks,
    /// Resources.
    Syncs,
}

impl ProjectionName {
    /// The views one by one.
    pub const EACH: [ProjectionName; 5] = [
        ProjectionName::Alerts,
        ProjectionName::Messages,
        ProjectionName::Alarms,
        ProjectionName::Tasks,
        ProjectionName::Syncs,
    ];

    /// Parses the name used in paths (`all`, `alerts`, ...).
    pub fn parse(raw: &str) -> Option<ProjectionName> {
        std::iter::once(ProjectionName::All)
            .chain(Self::EACH)
            .find(|name| name.as_str() == raw)
    }

    /// The name used in paths.
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectionName::All => "all",
            ProjectionName::Alerts => "alerts",
            ProjectionName::Messages => "messages",
            ProjectionName::Alarms => "alarms",
            ProjectionName::Tasks => "tasks",
            ProjectionName::Syncs => "syncs",
        }
    }
}

/// Where a rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildState {
    /// Building a fresh file beside the live one.
    Running,
    /// Caught up and swapped in.
    Swapped,
    /// Stopped with an error; the live views were left as they were.
    Failed,
}

/// Progress of the current or last online rebuild.
#[derive(Debug, Clone, Serialize)]
pub struct RebuildStatus {
    /// What is being rebuilt.
    pub projection: ProjectionName,
    /// Where it is.
    pub state: RebuildState,
    /// The position the fresh views have reached.
    pub position: Position,
    /// The live position when last checked.
    pub target: Position,
    /// Events that did not fold during the rebuild.
    pub fold_errors: u64,
    /// Replay speed so far.
    pub events_per_sec: f64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it swapped or failed.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Holds the one rebuild that may run at a time.
#[derive(Debug, Default)]
pub struct RebuildSlot(Mutex<Option<RebuildStatus>>);

impl RebuildSlot {
    /// The current or last rebuild.
    pub fn status(&self) -> Option<RebuildStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut RebuildStatus)) {
        if let Some(status) = self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            change(status);
        }
    }

    /// Claims the slot; `Err` with the running rebuild when one is running.
    fn claim(
        &self,
        projection: ProjectionName,
        target: Position,
    ) -> Result<RebuildStatus, RebuildStatus> {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(current) = slot.as_ref().filter(|s| s.state == RebuildState::Running) {
            return Err(current.clone());
        }
        let status = RebuildStatus {
            projection,
            state: RebuildState::Running,
            position: 0,
            target,
            fold_errors: 0,
            events_per_sec: 0.0,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
        };
        *slot = Some(status.clone());
        Ok(status)
    }
}

/// Starts an online rebuild of `projection` in the background. `Err` carries the
/// rebuild that is already running.
pub fn start(
    store: Arc<dyn EventStore>,
    views: Arc<ViewsHandle>,
    projection: ProjectionName,
) -> Result<RebuildStatus, RebuildStatus> {
    let status = views.rebuild.claim(projection, views.applied())?;
    tokio::spawn(async move {
        let outcome = rebuild_online(store, &views).await;
        views.rebuild.update(|status| {
            status.finished_at = Some(Utc::now());
            match outcome {
                Ok(()) => status.state = RebuildState::Swapped,
                Err(err) => {
                    tracing::error!(%err, projection = projection.as_str(), "rebuild failed");
                    status.state = RebuildState::Failed;
                    status.error = Some(err.to_string());
                }
            }
        });
    });
    Ok(status)
}

/// Where the replaced file is kept until its successor passes the page check.
pub fn previous_path(live: &Path) -> PathBuf {
    PathBuf::from(format!("{}.previous", live.display()))
}

async fn rebuild_online(
    store: Arc<dyn EventStore>,
    views: &Arc<ViewsHandle>,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let live = views.path().to_owned();
    let fresh = fresh_path(&live);
    let reporter = views.clone();
    let progress = move |position: Position| {
        let rate = position as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let target = reporter.applied();
        reporter.rebuild.update(|status| {
            status.position = position;
            status.target = target;
            status.events_per_sec = rate;
        });
    };
    let (mut writer, mut failed) =
        build::build(store.clone(), &fresh, views.applied(), progress).await?;
    let mut live_writer = views.writer.clone().lock_owned().await;
    let target = live_writer.as_ref().map_or(0, |w| w.resident().position);
    while writer.resident().position < target {
        let mut page = store.read_all(writer.resident().position + 1, PAGE).await?;
        page.retain(|event| event.position <= target);
        if page.is_empty() {
            break;
        }
        let (back, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = writer.apply(&page);
            (writer, outcome)
        })
        .await
        .map_err(|e| StoreError::io("fold a rebuild", std::io::Error::other(e)))?;
        writer = back;
        failed += outcome.map_err(|e| sqlite_error("build the view file", e))?;
    }
    views.rebuild.update(|status| status.fold_errors = failed);
    let handle = views.clone();
    let swap_live = live.clone();
    tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
        let _gate = handle.file.close_for_swap();
        let old = live_writer.take();
        let swapped = swap(old, writer, &fresh, &swap_live);
        *live_writer = Writer::open(&swap_live).ok();
        swapped
    })
    .await
    .map_err(|e| StoreError::io("swap the view file", std::io::Error::other(e)))??;
    tracing::info!(
        position = target,
        events_per_sec = target as f64 / started.elapsed().as_secs_f64().max(1e-9),
        "rebuilt view file swapped in"
    );
    let checked = check_and_drop_previous(&live).await;
    views.update_health(|h| h.deep_check = super::health::checked_now(checked));
    Ok(())
}

/// Closes both files and renames the fresh one into place, keeping the live one as
/// the previous file.
pub(super) fn swap(
    old: Option<Writer>,
    fresh: Writer,
    fresh_path: &Path,
    live: &Path,
) -> Result<(), StoreError> {
    fresh
        .close()
        .map_err(|e| sqlite_error("close the rebuilt view file", e))?;
    if let Some(old) = old {
        old.close()
            .map_err(|e| sqlite_error("close the live view file", e))?;
    }
    let previous = previous_path(live);
    remove_with_companions(&previous)
        .map_err(|e| StoreError::io("remove the previous view file", e))?;
    if live.exists() {
        std::fs::rename(live, &previous)
            .map_err(|e| StoreError::io("keep the previous view file", e))?;
    }
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", live.display()));
    }
    std::fs::rename(fresh_path, live)
        .map_err(|e| StoreError::io("rename the rebuilt view file", e))?;
    if let Some(dir) = live.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| StoreError::io("sync the data directory", e))?;
    }
    Ok(())
}

/// Page-checks the new live file; removes the previous one once it passed.
async fn check_and_drop_previous(live: &Path) -> Result<(), String> {
    let path = live.to_owned();
    let checked = tokio::task::spawn_blocking(move || super::health::quick_check(&path))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match &checked {
        Ok(()) => {
            let _ = remove_with_companions(&previous_path(live));
        }
        Err(detail) => {
            tracing::error!(%detail, "the rebuilt view file failed its page check; the previous one is kept")
        }
    }
    checked
}

/// Rebuilds the view file at `live` from the whole log (the service must not be
/// running). `progress` gets the position reached and the head after every batch.
/// Returns the position reached and how many events did not fold.
pub async fn rebuild_offline(
    store: Arc<dyn EventStore>,
    live: &Path,
    mut progress: impl FnMut(Position, Position) + Send + 'static,
) -> Result<(Position, u64), StoreError> {
    let head = store.head().await?.position;
    let fresh = fresh_path(live);
    let (writer, failed) = build::build(store, &fresh, head, move |p| progress(p, head)).await?;
    let position = writer.resident().position;
    let live_path = live.to_owned();
    tokio::task::spawn_blocking(move || swap(None, writer, &fresh, &live_path))
        .await
        .map_err(|e| StoreError::io("swap the view file", std::io::Error::other(e)))??;
    if let Err(detail) = check_and_drop_previous(live).await {
        return Err(StoreError::io(
            "check the rebuilt view file",
            std::io::Error::other(detail),
        ));
    }
    Ok((position, failed))
}
