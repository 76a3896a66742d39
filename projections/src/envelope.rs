//! The envelope every stored event travels in: identity, place in its stream and in
//! `$all`, the time the store recorded it, who caused it, and the hash-chain link.

use crate::Event;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A position in `$all`, the single global order. The first event is at 1;
/// 0 means "before the first event".
pub type Position = u64;

/// A stream's version: the 0-based index of an event within its stream.
pub type StreamVersion = u64;

/// A SHA-256 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash that the first record of a log links to.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(DIGITS[(byte >> 4) as usize] as char);
            out.push(DIGITS[(byte & 0xf) as usize] as char);
        }
        out
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(raw: &str) -> Option<Hash> {
        let bytes = raw.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Hash(out))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Hash::from_hex(&raw).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// Who and what caused an event. Everything here is optional context for auditors;
/// no fold decides anything from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The person or service account (token name) that issued the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Ties together every event caused by one request or workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Uuid>,
    /// The event (or request) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    /// The integration the event arrived through (`api`, `alertmanager`, `pagerduty`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A reference to one event by its place in its stream. Stream versions are known when a
/// decision is made (global positions are not yet), so a cause is always nameable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventRef {
    /// The stream holding the event.
    pub stream: String,
    /// The event's version within that stream.
    pub version: StreamVersion,
}

/// An event as the store recorded it: the payload plus the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Unique id chosen by the writer; the idempotency key of an append.
    pub event_id: Uuid,
    /// The stream the event belongs to (`alert-…`, `sync-…`, `task-…`, `message-…`).
    pub stream: String,
    /// 0-based index within `stream`.
    pub stream_version: StreamVersion,
    /// Position in `$all` (1-based, gap-free in the embedded and postgres stores).
    pub position: Position,
    /// When the store made the event durable; the only clock a fold ever sees.
    pub recorded_at: DateTime<Utc>,
    /// Version of the payload shape of this event type (see `Event::schema_version`).
    pub schema_version: u16,
    /// Actor, correlation, causation and source.
    pub metadata: Metadata,
    /// The domain fact.
    pub event: Event,
    /// Hash of the record before this one in `$all` (`GENESIS` for the first).
    pub prev_hash: Hash,
    /// Hash of this record's content chained to `prev_hash`.
    pub hash: Hash,
}

impl RecordedEvent {
    /// This event as a reference other events can name.
    pub fn reference(&self) -> EventRef {
        EventRef {
            stream: self.stream.clone(),
            version: self.stream_version,
        }
    }
}

/// The category of a stream: the part of its name before the first `-`.
pub fn category(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(head, _)| head)
}
