//! Pure translations between our store model and KurrentDB's, kept free of I/O so they
//! are unit-tested without a server (docs/adr/0008-kurrentdb.md).
//!
//! - Expected versions ↔ [`StreamState`]; stream versions are KurrentDB revisions 1:1.
//! - Positions: ours is `2 × commit + 1` (see [`to_position`]), so that both a position a
//!   reader was given and that position `+ 1` name an exact record boundary in `$all`.
//! - Records: event type = our event type; data = the codec body (the exact bytes that
//!   are hashed); custom metadata = [`ChainMetadata`] (our metadata, the chain sequence
//!   and both hashes in hex).
//! - Errors: wrong expected version → `Conflict`, transport failures → `Unavailable`.

use crate::codec::{self, BodyRef};
use crate::store::{ExpectedVersion, NewEvent, StoreError};
use chrono::{DateTime, Utc};
use kurrentdb::{CurrentRevision, StreamState};
use projections::{Hash, Metadata, Position, RecordedEvent, StreamVersion};
use serde::{Deserialize, Serialize};

/// Our expected version as the client's stream state.
pub fn to_stream_state(expected: ExpectedVersion) -> StreamState {
    match expected {
        ExpectedVersion::Any => StreamState::Any,
        ExpectedVersion::NoStream => StreamState::NoStream,
        ExpectedVersion::Exact(version) => StreamState::StreamRevision(version),
    }
}

/// The client's stream state as our expected version. `StreamExists` has no
/// counterpart (we never send it) and maps to `Any`.
pub fn from_stream_state(state: StreamState) -> ExpectedVersion {
    match state {
        StreamState::Any | StreamState::StreamExists => ExpectedVersion::Any,
        StreamState::NoStream => ExpectedVersion::NoStream,
        StreamState::StreamRevision(version) => ExpectedVersion::Exact(version),
    }
}

/// A stream's current revision as our "last version" (`None`: no stream).
pub fn from_current_revision(current: CurrentRevision) -> Option<StreamVersion> {
    match current {
        CurrentRevision::Current(revision) => Some(revision),
        CurrentRevision::NoStream => None,
    }
}

/// Our position for a record at `commit` in `$all`: `2 × commit + 1`.
///
/// Strictly increasing in the commit position, never 0 (0 still means "nothing yet"),
/// and odd, so `position + 1` (even) reads as "strictly after this record" without
/// pointing into the middle of a record on the server. Saturates for commit positions
/// beyond 2^63, which a transaction log does not reach.
pub fn to_position(commit: u64) -> Position {
    commit.saturating_mul(2).saturating_add(1)
}

/// Where in `$all` a read of "positions `>= from`" starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// The first record of `$all`.
    Start,
    /// The record at this commit position, included.
    At(u64),
    /// The record at this commit position is skipped; read the ones after it.
    After(u64),
}

/// The start of `read_all(from)`: odd `from` is a record's own position (read from it,
/// inclusive), even `from` is one past a record (read from that record, exclusive).
/// Positions 0 and 1 are the start of the log.
pub fn read_from(from: Position) -> ReadFrom {
    if from <= 1 {
        return ReadFrom::Start;
    }
    let commit = (from - 1) / 2;
    if from % 2 == 1 {
        ReadFrom::At(commit)
    } else {
        ReadFrom::After(commit)
    }
}

/// The client's `$all` position for a commit position (KurrentDB ≥ 20 writes each
/// event as its own record, so prepare = commit).
pub fn to_all_position(commit: u64) -> kurrentdb::Position {
    kurrentdb::Position {
        commit,
        prepare: commit,
    }
}

/// The chain fields carried in each event's custom metadata (a JSON object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainMetadata {
    /// Our metadata (also inside the body; repeated here for KurrentDB tooling).
    #[serde(default)]
    pub metadata: Metadata,
    /// The 1-based index of this record in the chain: the `position` the hashed body
    /// claims (the commit position is only known after the write).
    pub seq: u64,
    /// Hex of the previous record's hash (`GENESIS` for the first).
    pub prev_hash: String,
    /// Hex of `SHA-256(prev_hash || data)`.
    pub hash: String,
    /// KurrentDB's conventional correlation field, for projections and the UI.
    #[serde(
        rename = "$correlationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub correlation_id: Option<String>,
    /// KurrentDB's conventional causation field.
    #[serde(
        rename = "$causationId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub causation_id: Option<String>,
}

/// The end of the chain as this writer knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTip {
    /// Sequence of the last chained record (0: none).
    pub seq: u64,
    /// Its hash (`GENESIS`: none).
    pub hash: Hash,
}

impl ChainTip {
    /// The tip of an empty log.
    pub const GENESIS: ChainTip = ChainTip {
        seq: 0,
        hash: Hash::GENESIS,
    };
}

/// One event ready to be written: what goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    /// Our event id (KurrentDB's event id, its own idempotency key too).
    pub event_id: uuid::Uuid,
    /// Our event type.
    pub event_type: &'static str,
    /// The codec body: the event data, byte for byte what is hashed.
    pub data: Vec<u8>,
    /// [`ChainMetadata`] as JSON.
    pub custom_metadata: Vec<u8>,
    /// The chain hash of this record.
    pub hash: Hash,
}

/// Encodes `events` for `stream` starting at stream version `first_version`, chained
/// after `tip`; returns the records and the new tip.
pub fn encode_events(
    stream: &str,
    first_version: StreamVersion,
    recorded_at: DateTime<Utc>,
    tip: ChainTip,
    events: &[NewEvent],
) -> Result<(Vec<EncodedEvent>, ChainTip), StoreError> {
    let mut tip = tip;
    let mut out = Vec::with_capacity(events.len());
    for (offset, event) in events.iter().enumerate() {
        let seq = tip.seq + 1;
        let mut data = Vec::with_capacity(512);
        codec::encode_body(
            &mut data,
            &BodyRef {
                event_id: event.event_id,
                stream,
                stream_version: first_version + offset as u64,
                position: seq,
                recorded_at,
                event_type: event.event.event_type(),
                schema_version: event.event.schema_version(),
                metadata: &event.metadata,
                event: &event.event,
            },
        )?;
        let hash = codec::chain_hash(&tip.hash, &data);
        let chain = ChainMetadata {
            metadata: event.metadata.clone(),
            seq,
            prev_hash: tip.hash.to_hex(),
            hash: hash.to_hex(),
            correlation_id: event.metadata.correlation_id.map(|id| id.to_string()),
            causation_id: event.metadata.causation_id.map(|id| id.to_string()),
        };
        let custom_metadata = serde_json::to_vec(&chain).map_err(|err| StoreError::Decode {
            position: seq,
            reason: format!("cannot encode chain metadata: {err}"),
        })?;
        out.push(EncodedEvent {
            event_id: event.event_id,
            event_type: event.event.event_type(),
            data,
            custom_metadata,
            hash,
        });
        tip = ChainTip { seq, hash };
    }
    Ok((out, tip))
}

/// The fields of a stored KurrentDB record we decode (borrowed from the client's
/// `RecordedEvent`, so tests can build one without a server).
#[derive(Debug, Clone, Copy)]
pub struct StoredRecord<'a> {
    /// The stream id.
    pub stream: &'a str,
    /// KurrentDB's event type.
    pub event_type: &'a str,
    /// Revision in the stream.
    pub revision: u64,
    /// Commit position in `$all`.
    pub commit: u64,
    /// Event data.
    pub data: &'a [u8],
    /// Custom (user) metadata.
    pub custom_metadata: &'a [u8],
}

/// Whether a record was written by this service (system events and foreign events
/// carry no chain metadata and are skipped by readers of `$all`).
pub fn is_ours(record: &StoredRecord<'_>) -> bool {
    !record.stream.starts_with('$')
        && !record.event_type.starts_with('$')
        && serde_json::from_slice::<ChainMetadata>(record.custom_metadata).is_ok()
}

/// The chain tip a stored record ends at.
pub fn chain_tip(record: &StoredRecord<'_>) -> Result<ChainTip, StoreError> {
    let position = to_position(record.commit);
    let chain = chain_metadata(record, position)?;
    Ok(ChainTip {
        seq: chain.seq,
        hash: parse_hash(&chain.hash, position)?,
    })
}

fn chain_metadata(
    record: &StoredRecord<'_>,
    position: Position,
) -> Result<ChainMetadata, StoreError> {
    serde_json::from_slice(record.custom_metadata).map_err(|err| StoreError::Decode {
        position,
        reason: format!(
            "chain metadata of {}@{}: {err}",
            record.stream, record.revision
        ),
    })
}

fn parse_hash(hex: &str, position: Position) -> Result<Hash, StoreError> {
    Hash::from_hex(hex).ok_or_else(|| StoreError::Decode {
        position,
        reason: format!("bad hash `{hex}` in chain metadata"),
    })
}

/// Decodes a stored record into our event: the body through [`codec::decode_body`]
/// (at the chain sequence it was hashed with), then the position replaced by ours
/// (`2 × commit + 1`). The stream, revision and event type the server reports must
/// agree with the body.
pub fn decode_record(record: &StoredRecord<'_>) -> Result<RecordedEvent, StoreError> {
    let position = to_position(record.commit);
    let chain = chain_metadata(record, position)?;
    let prev_hash = parse_hash(&chain.prev_hash, position)?;
    let hash = parse_hash(&chain.hash, position)?;
    let mut event = codec::decode_body(record.data, chain.seq, prev_hash, hash).map_err(|err| {
        StoreError::Decode {
            position,
            reason: err.reason,
        }
    })?;
    let mismatch = |what: &str| StoreError::Decode {
        position,
        reason: format!("body disagrees with the server on the {what}"),
    };
    if event.stream != record.stream {
        return Err(mismatch("stream"));
    }
    if event.stream_version != record.revision {
        return Err(mismatch("stream revision"));
    }
    if event.event.event_type() != record.event_type {
        return Err(mismatch("event type"));
    }
    event.position = position;
    Ok(event)
}

/// Whether `record` still hashes to what its metadata claims (for `verify`).
pub fn hash_matches(record: &StoredRecord<'_>, prev: &Hash) -> Result<bool, StoreError> {
    let position = to_position(record.commit);
    let chain = chain_metadata(record, position)?;
    let claimed = parse_hash(&chain.hash, position)?;
    Ok(&parse_hash(&chain.prev_hash, position)? == prev
        && codec::chain_hash(prev, record.data) == claimed)
}

/// A client error as a store error. `WrongExpectedVersion` should be mapped with
/// [`conflict`] by the caller, which knows the stream; here it is `Unavailable` only as
/// a fallback.
pub fn map_error(context: &str, err: kurrentdb::Error) -> StoreError {
    use kurrentdb::Error;
    let text = match &err {
        Error::ConnectionClosed | Error::GrpcConnectionError(_) | Error::DeadlineExceeded => {
            format!("kurrentdb {context}: connection failed: {err}")
        }
        Error::ResourceDeleted => format!("kurrentdb {context}: stream was deleted"),
        Error::AccessDenied => format!("kurrentdb {context}: access denied (check credentials)"),
        Error::NotLeaderException(leader) => format!(
            "kurrentdb {context}: not the leader (leader is {}:{})",
            leader.host, leader.port
        ),
        _ => format!("kurrentdb {context}: {err}"),
    };
    StoreError::Unavailable(text.into())
}

/// The typed conflict for a wrong-expected-version answer.
pub fn conflict(stream: &str, expected: ExpectedVersion, current: CurrentRevision) -> StoreError {
    StoreError::Conflict {
        stream: stream.to_owned(),
        expected,
        actual: from_current_revision(current),
    }
}

/// Turns `kurrentdb://…` or `esdb://…` (ours) into the client's connection string:
/// the scheme becomes `kurrentdb` (`+discover` kept), everything else (credentials,
/// hosts, `?tls=false`, …) is passed on unchanged. Like the client, TLS is on unless
/// the URL says `tls=false`.
pub fn connection_string(url: &str) -> Result<String, StoreError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid_url(url))?;
    let scheme = match scheme {
        "kurrentdb" | "esdb" | "kdb" => "kurrentdb",
        "kurrentdb+discover" | "esdb+discover" | "kdb+discover" => "kurrentdb+discover",
        _ => return Err(invalid_url(url)),
    };
    if rest.is_empty() || rest.starts_with(['/', '?']) {
        return Err(invalid_url(url));
    }
    Ok(format!("{scheme}://{rest}"))
}

fn invalid_url(url: &str) -> StoreError {
    StoreError::Unavailable(
        format!("invalid kurrentdb URL `{url}`: expected kurrentdb://host:2113[?tls=false]").into(),
    )
}

#[cfg(test)]
mod tests;
