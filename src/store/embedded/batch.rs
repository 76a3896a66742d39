//! One group commit's worth of appends, and the admission check each append passes
//! before it is encoded: idempotent replay, duplicate ids, expected version.

use super::index::{IdEntry, IdIndex, Index};
use super::writer::AppendRequest;
use crate::store::{AppendResult, ExpectedVersion, Head, StoreError};
use chrono::{DateTime, Utc};
use projections::StreamVersion;
use std::collections::{HashMap, HashSet};
use tokio::sync::oneshot;
use uuid::Uuid;

pub(super) type Reply = (
    oneshot::Sender<Result<AppendResult, StoreError>>,
    Result<AppendResult, StoreError>,
);

/// A record staged in the current batch.
pub(super) struct Staged {
    pub(super) event_id: Uuid,
    pub(super) append: usize,
    pub(super) entry: IdEntry,
    pub(super) offset_in_batch: usize,
}

/// Everything one group commit writes and answers.
pub(super) struct Batch {
    pub(super) bytes: Vec<u8>,
    pub(super) records: Vec<Staged>,
    pub(super) streams: Vec<String>,
    pub(super) versions: HashMap<String, StreamVersion>,
    pub(super) ids: HashMap<Uuid, usize>,
    pub(super) replies: Vec<Reply>,
    pub(super) head: Head,
    pub(super) appends: u64,
    pub(super) recorded_at: DateTime<Utc>,
}

impl Batch {
    pub(super) fn new(head: Head) -> Batch {
        Batch {
            bytes: Vec::new(),
            records: Vec::new(),
            streams: Vec::new(),
            versions: HashMap::new(),
            ids: HashMap::new(),
            replies: Vec::new(),
            head,
            appends: 0,
            recorded_at: Utc::now(),
        }
    }
}

/// The writer's verdict on one append before encoding it.
pub(super) enum Check {
    /// Write it; the stream's current last version.
    Write(Option<StreamVersion>),
    /// Already stored as this append: answer with the original result.
    Replay(AppendResult),
}

/// Decides whether `request` is written, replayed or refused, against the durable
/// `index` and `ids` plus what `batch` already holds.
pub(super) fn check(
    index: &Index,
    ids: &IdIndex,
    batch: &Batch,
    request: &AppendRequest,
) -> Result<Check, StoreError> {
    let found = stored_ids(index, ids, batch, request)?;
    if !found.is_empty() {
        return replay(&found, request.events.len());
    }
    let current = batch
        .versions
        .get(request.stream.as_str())
        .copied()
        .or_else(|| index.stream_version(&request.stream));
    let matches = match request.expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.is_none(),
        ExpectedVersion::Exact(version) => current == Some(version),
    };
    if !matches {
        return Err(StoreError::Conflict {
            stream: request.stream.clone(),
            expected: request.expected,
            actual: current,
        });
    }
    if request.events.is_empty() {
        return Ok(Check::Replay(AppendResult {
            first_position: batch.head.position + 1,
            last_position: batch.head.position,
            stream_version: current.unwrap_or(0),
        }));
    }
    Ok(Check::Write(current))
}

/// The request's ids that are already stored (durably or earlier in this batch), each
/// with where it is and whether that is in the requested stream. Refuses an id given
/// twice in one request.
fn stored_ids(
    index: &Index,
    ids: &IdIndex,
    batch: &Batch,
    request: &AppendRequest,
) -> Result<Vec<(Uuid, IdEntry, bool)>, StoreError> {
    let durable_stream = index.streams.get(request.stream.as_str());
    let mut seen = HashSet::with_capacity(request.events.len());
    let mut found = Vec::new();
    for event in &request.events {
        if !seen.insert(event.event_id) {
            return Err(StoreError::IdempotencyMismatch {
                event_id: event.event_id,
            });
        }
        if let Some(&i) = batch.ids.get(&event.event_id) {
            let staged = &batch.records[i];
            let same_stream = batch.streams[staged.append] == request.stream;
            found.push((event.event_id, staged.entry, same_stream));
        } else if let Some(entry) = ids.get(&event.event_id) {
            let same_stream = durable_stream
                .and_then(|positions| positions.get(entry.stream_version as usize))
                == Some(&entry.position);
            found.push((event.event_id, entry, same_stream));
        }
    }
    Ok(found)
}

/// Answers a re-append: every id stored, in this stream, consecutively and in order.
fn replay(found: &[(Uuid, IdEntry, bool)], requested: usize) -> Result<Check, StoreError> {
    let first = found[0].1;
    let consecutive = found
        .iter()
        .enumerate()
        .all(|(i, (_, entry, same_stream))| {
            *same_stream && entry.position == first.position + i as u64
        });
    if found.len() != requested || !consecutive {
        return Err(StoreError::IdempotencyMismatch {
            event_id: found[0].0,
        });
    }
    let last = found[found.len() - 1].1;
    Ok(Check::Replay(AppendResult {
        first_position: first.position,
        last_position: last.position,
        stream_version: last.stream_version,
    }))
}
