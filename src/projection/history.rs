//! Which position a time names, for `as_of=<time>`: the views as of a position are an
//! indexed read of the view file ([`ViewsHandle::at`](super::ViewsHandle::at)).

use crate::store::{EventStore, StoreError};
use chrono::{DateTime, Utc};
use projections::Position;

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
