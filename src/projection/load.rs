//! The snapshot a service starts from, and what a refused one proves: a snapshot is a
//! witness of the log it was built from.

use super::ViewsHandle;
use crate::snapshot::{SnapshotDir, SnapshotRejected};
use crate::store::{DataLoss, EventStore, ExpectedVersion, StoreError};
use projections::views::Views;
use projections::Position;
use std::sync::Arc;

/// Loads the newest snapshot the log confirms and returns views to start from.
///
/// A snapshot is a witness of the log it was built from: one ahead of the log (the log
/// lost events it had) or whose hash differs from the log's at its position (the log
/// was rewritten or replaced) refuses the start with
/// [`StoreError::AcknowledgedLoss`], unless `accept_loss` (`--recovery
/// accept-data-loss`): then the file is set aside as `*.snap.refused` and the
/// disagreement is recorded in the log as a `data_loss_recorded` event. A snapshot that
/// is merely unreadable or of an older format is skipped with a warning.
pub async fn load_snapshot(
    store: &dyn EventStore,
    dir: &SnapshotDir,
    accept_loss: bool,
) -> Result<Arc<ViewsHandle>, StoreError> {
    let (found, refused) = dir.newest_valid(store, Position::MAX).await?;
    for (path, reason) in &refused {
        let Some(loss) = snapshot_loss(store, path, reason).await? else {
            tracing::warn!(file = %path.display(), %reason, "snapshot ignored; replaying instead");
            continue;
        };
        if !accept_loss {
            return Err(StoreError::AcknowledgedLoss {
                position: loss.first_lost_position,
                detail: loss.detail,
            });
        }
        record_snapshot_loss(store, path, loss).await?;
    }
    let Some(snapshot) = found else {
        if !refused.is_empty() {
            tracing::warn!("no usable snapshot: replaying the whole log");
        }
        return Ok(ViewsHandle::new(Views::default()));
    };
    tracing::info!(file = %snapshot.path.display(), position = snapshot.position, "snapshot loaded");
    let handle = ViewsHandle::new(snapshot.views);
    handle.record_snapshot(snapshot.position, Some(snapshot.path), None);
    Ok(handle)
}

/// The loss a refused snapshot proves, if its reason is one (ahead of the log, or
/// taken from another log).
async fn snapshot_loss(
    store: &dyn EventStore,
    path: &std::path::Path,
    reason: &SnapshotRejected,
) -> Result<Option<DataLoss>, StoreError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let head = store.head().await?.position;
    let (first_lost_position, witness_position, detail) = match reason {
        SnapshotRejected::AheadOfLog { snapshot, head } => (
            head + 1,
            *snapshot,
            format!(
                "the views snapshot {name} reflects position {snapshot}, but the log ends at position {head}"
            ),
        ),
        SnapshotRejected::OtherLog { position } => (
            *position,
            *position,
            format!(
                "the log's chain hash at position {position} differs from the views snapshot {name}: the log was rewritten or is not the one the views were built from (log head {head})"
            ),
        ),
        SnapshotRejected::Corrupt(_) | SnapshotRejected::OldFormat { .. } => return Ok(None),
    };
    Ok(Some(DataLoss {
        first_lost_position,
        witness_position,
        witness: format!("views snapshot {name}"),
        detail,
        moved_aside: Vec::new(),
        cut_bytes: 0,
    }))
}

/// Sets a refused snapshot aside and records the disagreement in the log.
async fn record_snapshot_loss(
    store: &dyn EventStore,
    path: &std::path::Path,
    loss: DataLoss,
) -> Result<(), StoreError> {
    let aside = path.with_extension("snap.refused");
    std::fs::rename(path, &aside).map_err(|e| StoreError::io("set a refused snapshot aside", e))?;
    let written = store
        .append(
            DataLoss::STREAM,
            ExpectedVersion::Any,
            vec![loss.to_event()],
        )
        .await?;
    tracing::error!(
        file = %aside.display(),
        position = written.first_position,
        detail = %loss.detail,
        "recovery accept-data-loss: snapshot set aside; the disagreement is recorded in the log"
    );
    Ok(())
}
