//! The event store: one trait, one module per backend, one conformance suite
//! (`tests/conformance/`) that every backend passes.
//!
//! # Layout
//! - [`EventStore`]: append with an expected version, read a stream either way, read
//!   `$all` from a position, watch the head.
//! - [`append_check`]: the one append check every backend calls before it writes:
//!   expected version against the stream's last version, and a replay of the same
//!   event ids answered with the original result (reused ids: `IdempotencyMismatch`).
//! - `handoff`: the queue from callers to the single writer task of the PostgreSQL and
//!   KurrentDB backends (an append and its oneshot reply, close).
//! - [`subscription`]: catch-up-then-live reading of `$all`, built only on `read_all` and
//!   the head watch, so every backend gets the same no-gap/no-duplicate switch.
//! - [`embedded`]: the default backend, a segmented append-only log in a data directory.
//! - [`postgres`]: one `events` table on PostgreSQL, shared by many service instances.
//! - [`kurrentdb`]: KurrentDB/EventStoreDB streams; positions follow commit positions
//!   (ordered, not gap-free: docs/adr/0008-kurrentdb.md).
//!
//! Positions are 1-based and assigned in commit order: a reader that has seen position
//! `p` never later sees an event below `p` appear.

pub mod append_check;
pub mod embedded;
mod handoff;
pub mod kurrentdb;
pub mod postgres;
pub mod subscription;
pub mod verify;

use futures_util::future::BoxFuture;
use projections::{Event, Hash, Metadata, Position, RecordedEvent, StreamVersion};
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

/// An event a writer wants to append; the store adds positions, time and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The idempotency key: re-appending an id that is already stored writes nothing.
    pub event_id: Uuid,
    /// The domain fact.
    pub event: Event,
    /// Actor, correlation, causation, source.
    pub metadata: Metadata,
}

/// What the writer believes the stream's last version to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "version")]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(StreamVersion),
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AppendResult {
    /// Global position of the first appended event.
    pub first_position: Position,
    /// Global position of the last appended event: what a writer waits for to read its write.
    pub last_position: Position,
    /// The stream's version after the append (the version of its last event).
    pub stream_version: StreamVersion,
}

/// Which way to read a stream (`forward` or `backward` in a query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Oldest first, starting at the given version.
    Forward,
    /// Newest first, starting at the given version (`u64::MAX` for the end).
    Backward,
}

/// The newest record of the log: what a digest commits to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Head {
    /// Position of the last event (0 when the log is empty).
    pub position: Position,
    /// Chain hash of the last event (`Hash::GENESIS` when empty).
    pub hash: Hash,
}

/// Failures of a store call. Domain rejections never appear here.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The stream was not at the expected version.
    ///
    /// ### Handling
    /// Reload the stream, decide again and retry (bounded); surface as HTTP 409.
    #[error("stream {stream}: expected {expected:?}, found {actual:?}")]
    Conflict {
        /// The stream written to.
        stream: String,
        /// What the writer expected.
        expected: ExpectedVersion,
        /// The stream's actual last version (`None`: no stream).
        actual: Option<StreamVersion>,
    },
    /// Some of the event ids were already stored, but not as this exact append.
    ///
    /// ### Handling
    /// A client bug (reused ids); HTTP 422.
    #[error("event {event_id} was already appended as part of a different write")]
    IdempotencyMismatch {
        /// The first reused id.
        event_id: Uuid,
    },
    /// The store could not make the write durable or could not read (disk, network).
    /// Nothing was acknowledged.
    ///
    /// ### Handling
    /// HTTP 503 with `Retry-After`; the caller may retry with the same event ids.
    #[error("storage unavailable: {0}")]
    Unavailable(Arc<str>),
    /// The log is damaged at a known place. Never retried; the operator must act
    /// (see docs/operations.md).
    #[error("log corrupt in {segment} at byte {offset} (position {position}): {reason}")]
    Corrupt {
        /// The segment file (or table) holding the bad record.
        segment: String,
        /// Byte offset of the bad record in the segment.
        offset: u64,
        /// The position the bad record should have had.
        position: Position,
        /// What check failed.
        reason: String,
    },
    /// Events that were acknowledged are damaged or missing, or the log is not the one
    /// a witness of it (the durable-end checkpoint, the view file's checkpoint) was written for.
    /// Nothing was changed on disk.
    ///
    /// ### Handling
    /// Never retried. Restore the data directory from a backup, or start once with
    /// `--recovery accept-data-loss` (docs/operations.md, "Damage and recovery").
    #[error("acknowledged events lost from position {position}: {detail}. Restore the data directory from a backup, or start once with --recovery accept-data-loss to continue from position {position} (cut bytes are kept under cut/ and the loss is recorded in the log)")]
    AcknowledgedLoss {
        /// The first position that does not hold what was acknowledged there.
        position: Position,
        /// What disagreed: the damage or the witness, with segment and byte offset.
        detail: String,
    },
    /// A stored record could not be decoded into a known event (e.g. an event type this
    /// build does not know). Never skipped silently.
    #[error("cannot decode event at position {position}: {reason}")]
    Decode {
        /// The record's position.
        position: Position,
        /// Why it could not be decoded.
        reason: String,
    },
    /// The store was closed.
    #[error("store is closed")]
    Closed,
}

impl From<crate::codec::DecodeError> for StoreError {
    fn from(err: crate::codec::DecodeError) -> Self {
        StoreError::Decode {
            position: err.position,
            reason: err.reason,
        }
    }
}

impl StoreError {
    /// Wraps an IO error as `Unavailable`, keeping its text for the log.
    pub fn io(context: &str, err: std::io::Error) -> StoreError {
        StoreError::Unavailable(format!("{context}: {err}").into())
    }
}

/// Acknowledged events that an operator chose to give up (`--recovery
/// accept-data-loss`). Recorded in the log as a `data_loss_recorded` event on the
/// `ledger` stream before anything else is served, so the loss stays on the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataLoss {
    /// The first position that no longer holds what was acknowledged there.
    pub first_lost_position: Position,
    /// The last position the witness records as acknowledged (0 if none).
    pub witness_position: Position,
    /// Which witness disagreed, by name.
    pub witness: String,
    /// What recovery found.
    pub detail: String,
    /// Files under the data directory that hold the cut bytes.
    pub moved_aside: Vec<String>,
    /// How many bytes were cut.
    pub cut_bytes: u64,
}

impl DataLoss {
    /// The stream that records losses.
    pub const STREAM: &'static str = "ledger";

    /// The event that records this loss.
    pub fn to_event(&self) -> NewEvent {
        NewEvent {
            event_id: Uuid::new_v4(),
            event: Event::DataLossRecorded {
                first_lost_position: self.first_lost_position,
                witness_position: self.witness_position,
                witness: self.witness.clone(),
                detail: self.detail.clone(),
                moved_aside: self.moved_aside.clone(),
                cut_bytes: self.cut_bytes,
            },
            metadata: Metadata {
                actor: Some("alert-ledger recovery".into()),
                source: Some("recovery".into()),
                ..Metadata::default()
            },
        }
    }
}

/// An append-only event log with streams and one global order.
///
/// Methods return boxed futures so the service can hold any backend as
/// `Arc<dyn EventStore>` chosen at runtime from `--store`.
pub trait EventStore: Send + Sync + 'static {
    /// Appends `events` to `stream` atomically if the stream is at `expected`.
    /// Acknowledged only once durable. Re-sending an append whose event ids are all
    /// stored already as that same append returns the original result and writes nothing.
    fn append<'a>(
        &'a self,
        stream: &'a str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<AppendResult, StoreError>>;

    /// Up to `limit` events of `stream` starting at version `from`, in `direction`.
    /// A stream that does not exist reads as empty.
    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>>;

    /// Up to `limit` events of `$all` with position `>= from`, in position order.
    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>>;

    /// The last version of `stream`, `None` if it does not exist.
    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamVersion>, StoreError>>;

    /// Whether reading a stream costs a round trip to a server. Then a command on a
    /// stream this process has not seen appends as if the stream were new and reads it
    /// only when that conflicts ([`crate::commands`]); on the embedded store a read of
    /// a stream that does not exist is answered from memory, so it reads first.
    fn remote_reads(&self) -> bool {
        false
    }

    /// The newest record's position and chain hash.
    fn head(&self) -> BoxFuture<'_, Result<Head, StoreError>>;

    /// A watch that changes whenever the durable head position moves.
    fn watch_head(&self) -> watch::Receiver<Position>;

    /// The stored records themselves (bodies and chain hashes, never re-encoded): the
    /// input of the Merkle tree ([`crate::merkle`]) and of inclusion proofs, and what
    /// [`crate::store::verify`] walks on a server backend (PostgreSQL; the embedded log
    /// is verified from its segment files, which also have CRCs and a witness to check).
    /// `None` by default: KurrentDB's records are not read this way yet.
    fn raw_log(
        &self,
    ) -> BoxFuture<'_, Result<Option<Box<dyn crate::store::verify::RawLog>>, StoreError>> {
        Box::pin(async { Ok(None) })
    }

    /// Flushes and stops accepting appends; later calls fail with `Closed`.
    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}
