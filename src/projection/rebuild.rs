//! Rebuilding views from the log: offline (`alert-ledger rebuild`) and online (beside
//! the live views, which keep serving; swapped in atomically once caught up).
//!
//! The follower applies pages under the views' write lock, so "the rebuilt views have
//! reached the live position" is checked and the swap made under that same lock: no
//! event can slip between the check and the swap.

use super::{apply_all, ViewsHandle, PAGE};
use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use projections::views::Views;
use projections::Position;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A view that can be rebuilt on its own, or all of them.
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

    /// Moves this view (or all of them) from `fresh` into `live`.
    fn swap_into(self, live: &mut Views, fresh: Views) {
        match self {
            ProjectionName::All => *live = fresh,
            ProjectionName::Alerts => live.alerts = fresh.alerts,
            ProjectionName::Messages => live.messages = fresh.messages,
            ProjectionName::Alarms => live.alarms = fresh.alarms,
            ProjectionName::Tasks => live.tasks = fresh.tasks,
            ProjectionName::Syncs => live.syncs = fresh.syncs,
        }
    }
}

/// Where a rebuild is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildState {
    /// Replaying beside the live views.
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
        let outcome = rebuild_online(store.as_ref(), &views, projection).await;
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

async fn rebuild_online(
    store: &dyn EventStore,
    views: &ViewsHandle,
    projection: ProjectionName,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut fresh = Views::default();
    let mut failed = 0;
    loop {
        let live = views.applied();
        if fresh.position >= live {
            let swapped = views.write(|current| {
                if current.position != fresh.position {
                    return Err(Box::new(fresh));
                }
                projection.swap_into(current, fresh);
                Ok(())
            });
            match swapped {
                Ok(()) => {
                    tracing::info!(
                        projection = projection.as_str(),
                        position = live,
                        "rebuilt views swapped in"
                    );
                    views.history.clear();
                    return Ok(());
                }
                Err(back) => fresh = *back,
            }
        }
        let page = store.read_all(fresh.position + 1, PAGE).await?;
        if page.is_empty() {
            tokio::task::yield_now().await;
            continue;
        }
        failed += apply_all(&mut fresh, &page);
        let rate = fresh.position as f64 / started.elapsed().as_secs_f64().max(1e-9);
        views.rebuild.update(|status| {
            status.position = fresh.position;
            status.target = views.applied();
            status.fold_errors = failed;
            status.events_per_sec = rate;
        });
    }
}

/// Replays the whole log into fresh views (offline rebuild). `progress` gets the
/// position reached and the head after every page. Returns the views and how many
/// events did not fold.
pub async fn replay_all(
    store: &dyn EventStore,
    mut progress: impl FnMut(Position, Position),
) -> Result<(Views, u64), StoreError> {
    let head = store.head().await?.position;
    let mut views = Views::default();
    let mut failed = 0;
    while views.position < head {
        let page = store.read_all(views.position + 1, PAGE).await?;
        if page.is_empty() {
            break;
        }
        failed += apply_all(&mut views, &page);
        progress(views.position, head);
    }
    Ok((views, failed))
}
