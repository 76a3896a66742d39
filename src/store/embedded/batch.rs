//! One group commit's worth of appends, and the admission check each append passes
//! before it is encoded: the shared [`append_check`] (idempotent replay, duplicate ids,
//! expected version) against the durable index plus the batch.

use super::index::{IdEntry, IdIndex, Index};
use super::writer::AppendRequest;
use crate::store::append_check::{self, Run, Stored};
use crate::store::{AppendResult, Head, StoreError};
use chrono::{DateTime, Utc};
use projections::{RecordedEvent, StreamVersion};
use std::collections::HashMap;
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
    /// How much of `bytes` the writer has already written to the file (not yet synced:
    /// a large batch is written in parts while the rest is encoded).
    pub(super) written_early: usize,
    pub(super) records: Vec<Staged>,
    pub(super) streams: Vec<String>,
    pub(super) versions: HashMap<String, StreamVersion>,
    pub(super) ids: HashMap<Uuid, usize>,
    pub(super) replies: Vec<Reply>,
    /// The batch's events as recorded with their bodies' lengths, for the tail once
    /// the batch is durable.
    pub(super) recorded: Vec<(RecordedEvent, usize)>,
    pub(super) head: Head,
    pub(super) appends: u64,
    pub(super) recorded_at: DateTime<Utc>,
}

impl Batch {
    /// An empty batch after `head`, encoding into `bytes` (emptied; a buffer kept from
    /// an earlier batch, so its pages are not faulted in and grown again each time).
    pub(super) fn new(head: Head, mut bytes: Vec<u8>) -> Batch {
        bytes.clear();
        Batch {
            bytes,
            written_early: 0,
            records: Vec::new(),
            streams: Vec::new(),
            versions: HashMap::new(),
            ids: HashMap::new(),
            replies: Vec::new(),
            recorded: Vec::new(),
            head,
            appends: 0,
            recorded_at: Utc::now(),
        }
    }
}

/// The writer's verdict on one append before encoding it: write it (with the stream's
/// current last version) or answer with the original result.
pub(super) use crate::store::append_check::Verdict as Check;

/// Decides whether `request` is written, replayed or refused, against the durable
/// `index` and `ids` plus what `batch` already holds ([`append_check::check`]).
pub(super) fn check(
    index: &Index,
    ids: &IdIndex,
    batch: &Batch,
    request: &AppendRequest,
) -> Result<Check, StoreError> {
    let stored = stored_ids(index, ids, batch, request)?;
    let current = match batch.versions.get(request.stream.as_str()) {
        Some(version) => Some(*version),
        None => index.stream_version(&request.stream)?,
    };
    append_check::check(
        append_check::Request {
            stream: &request.stream,
            expected: request.expected,
            events: &request.events,
        },
        append_check::Log {
            current,
            head: batch.head.position,
            stored: &stored,
            run: Run::Positions,
        },
    )
}

/// The request's ids that are already stored (durably or earlier in this batch), in
/// request order, each with where it is and whether that is in the requested stream.
/// A durable candidate from the window is read back from the log and must carry the
/// whole id.
fn stored_ids(
    index: &Index,
    ids: &IdIndex,
    batch: &Batch,
    request: &AppendRequest,
) -> Result<Vec<Stored>, StoreError> {
    let mut found = Vec::new();
    for event in &request.events {
        if let Some(&i) = batch.ids.get(&event.event_id) {
            let staged = &batch.records[i];
            let same_stream = batch.streams[staged.append] == request.stream;
            found.push(stored(event.event_id, staged.entry, same_stream));
            continue;
        }
        for position in ids.candidates(&event.event_id) {
            let Some(fields) = index.record_fields(position)? else {
                continue;
            };
            if fields.event_id == event.event_id {
                let entry = IdEntry {
                    position,
                    stream_version: fields.stream_version,
                };
                found.push(stored(
                    event.event_id,
                    entry,
                    fields.stream == request.stream,
                ));
                break;
            }
        }
    }
    Ok(found)
}

fn stored(event_id: Uuid, entry: IdEntry, in_stream: bool) -> Stored {
    Stored {
        event_id,
        position: entry.position,
        stream_version: entry.stream_version,
        in_stream,
    }
}
