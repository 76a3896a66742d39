//! Views as they were at a past position or time (`as_of`): replayed from the newest
//! snapshot at or before that position (or from the start), then cached, so paging
//! through one past state replays once.

use super::{apply_all, PAGE};
use crate::snapshot::SnapshotDir;
use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use projections::views::Views;
use projections::Position;
use std::sync::{Arc, Mutex};

/// The last past views built.
#[derive(Debug, Default)]
pub struct HistoryCache(Mutex<Option<Arc<Views>>>);

impl HistoryCache {
    fn get(&self, position: Position) -> Option<Arc<Views>> {
        let cached = self.0.lock().unwrap_or_else(|p| p.into_inner());
        cached.as_ref().filter(|v| v.position == position).cloned()
    }

    fn put(&self, views: Arc<Views>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(views);
    }

    /// Forgets the cached views (after a rebuild changed how views are folded).
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The views exactly as they were once the event at `target` was applied.
pub async fn views_at(
    store: &dyn EventStore,
    cache: &HistoryCache,
    snapshots: Option<&SnapshotDir>,
    target: Position,
) -> Result<Arc<Views>, StoreError> {
    if let Some(cached) = cache.get(target) {
        return Ok(cached);
    }
    let mut views = match snapshots {
        Some(dir) => dir
            .newest_valid(store, target)
            .await?
            .0
            .map(|snapshot| snapshot.views)
            .unwrap_or_default(),
        None => Views::default(),
    };
    while views.position < target {
        let mut page = store.read_all(views.position + 1, PAGE).await?;
        page.retain(|event| event.position <= target);
        if page.is_empty() {
            break;
        }
        apply_all(&mut views, &page);
    }
    let views = Arc::new(views);
    cache.put(views.clone());
    Ok(views)
}

/// The position of the last event recorded at or before `time` (0 if none).
/// Relies on `recorded_at` never decreasing along the log, which every store
/// guarantees by recording time at append.
pub async fn position_at(
    store: &dyn EventStore,
    time: DateTime<Utc>,
) -> Result<Position, StoreError> {
    let head = store.head().await?.position;
    let (mut low, mut high) = (0, head);
    while low < high {
        let middle = low + (high - low).div_ceil(2);
        let recorded = store
            .read_all(middle, 1)
            .await?
            .first()
            .map(|event| event.recorded_at);
        match recorded {
            Some(at) if at <= time => low = middle,
            _ => high = middle - 1,
        }
    }
    Ok(low)
}
