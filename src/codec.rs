//! The record body: the bytes every backend stores for one event and hashes into the
//! chain.
//!
//! A body is a JSON object of the envelope fields, in this order: `event_id`, `stream`,
//! `stream_version`, `position`, `recorded_at`, `event_type`, `schema_version`,
//! `metadata`, `event` (the payload, itself tagged with `type`). The hashes are *not*
//! part of the body: they are stored beside it, and
//! `hash = SHA-256(prev_hash || body)` ([`chain_hash`]).
//!
//! Decoding reads `event_type` and `schema_version` before the payload (the encoder
//! writes them first) and hands the payload straight to [`projections::schema::decode`]
//! in the same pass, so older shapes are upcast and unknown types are a
//! [`DecodeError`], never skipped (the store reports it as `StoreError::Decode`).
use chrono::{DateTime, Utc};
use projections::schema::{self, SchemaError};
use projections::{Event, Hash, Metadata, Position, RecordedEvent, StreamVersion};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use uuid::Uuid;

/// A body that cannot be encoded or decoded at `position`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot decode event at position {position}: {reason}")]
pub struct DecodeError {
    /// Where the record was found (or was to be written).
    pub position: Position,
    /// What is wrong with it.
    pub reason: String,
}

/// The envelope fields of one event, borrowed for encoding. `M` and `E` are the
/// metadata's and the payload's types: [`Metadata`] and [`Event`], or their JSON
/// already encoded ([`EncodedPayload`]), which serializes to the same bytes; `T`,
/// the time's: a `DateTime<Utc>`, or its JSON encoded once for a whole batch.
#[derive(Debug, Serialize)]
pub struct BodyRef<'a, M: ?Sized = Metadata, E: ?Sized = Event, T = DateTime<Utc>> {
    /// The idempotency key.
    pub event_id: Uuid,
    /// The stream the event belongs to.
    pub stream: &'a str,
    /// 0-based index within the stream.
    pub stream_version: StreamVersion,
    /// Position in `$all`.
    pub position: Position,
    /// When the store recorded it.
    pub recorded_at: T,
    /// The payload's type tag (repeated outside the payload so decoding can pick the
    /// schema before reading it).
    pub event_type: &'a str,
    /// The payload's shape version.
    pub schema_version: u16,
    /// Actor, correlation, causation, source.
    pub metadata: &'a M,
    /// The payload.
    pub event: &'a E,
}

/// An event's metadata and payload encoded as JSON ahead of its envelope, so the part
/// of a body that does not depend on where the event lands can be encoded by the
/// caller, in parallel, instead of by a store's single writer.
#[derive(Debug)]
pub struct EncodedPayload {
    /// The metadata's JSON.
    pub metadata: Box<RawValue>,
    /// The payload's JSON.
    pub event: Box<RawValue>,
}

/// `time` as JSON, exactly as a body holds it (every event of a batch carries the
/// batch's time: encoded once, not once per event).
pub fn encode_time(time: &DateTime<Utc>) -> Result<Box<RawValue>, DecodeError> {
    encode_part(time)
}

impl EncodedPayload {
    /// Encodes `metadata` and `event` exactly as [`encode_body`] would inside a body.
    pub fn new(metadata: &Metadata, event: &Event) -> Result<EncodedPayload, DecodeError> {
        Ok(EncodedPayload {
            metadata: encode_part(metadata)?,
            event: encode_part(event)?,
        })
    }
}

/// One part of a body encoded ahead of it (its position is not known yet: 0).
fn encode_part<T: Serialize + ?Sized>(part: &T) -> Result<Box<RawValue>, DecodeError> {
    serde_json::value::to_raw_value(part).map_err(|err| DecodeError {
        position: 0,
        reason: format!("cannot encode event: {err}"),
    })
}

/// Appends the body of `fields` to `out`.
pub fn encode_body<M, E, T>(
    out: &mut Vec<u8>,
    fields: &BodyRef<'_, M, E, T>,
) -> Result<(), DecodeError>
where
    M: Serialize + ?Sized,
    E: Serialize + ?Sized,
    T: Serialize,
{
    serde_json::to_writer(out, fields).map_err(|err| DecodeError {
        position: fields.position,
        reason: format!("cannot encode event: {err}"),
    })
}

/// `SHA-256(prev_hash || body)`: the link of one record into the chain.
pub fn chain_hash(prev_hash: &Hash, body: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.0);
    hasher.update(body);
    Hash(hasher.finalize().into())
}

/// Decodes a stored body into the event it records, attaching the stored hashes.
/// `position` is where the record was found; a body claiming another position is
/// reported as a decode error rather than silently trusted.
pub fn decode_body(
    body: &[u8],
    position: Position,
    prev_hash: Hash,
    hash: Hash,
) -> Result<RecordedEvent, DecodeError> {
    let decoded: DecodedBody = serde_json::from_slice(body).map_err(|err| DecodeError {
        position,
        reason: err.to_string(),
    })?;
    if decoded.position != position {
        return Err(DecodeError {
            position,
            reason: format!("record claims position {}", decoded.position),
        });
    }
    Ok(RecordedEvent {
        event_id: decoded.event_id,
        stream: decoded.stream,
        stream_version: decoded.stream_version,
        position: decoded.position,
        recorded_at: decoded.recorded_at,
        schema_version: decoded.schema_version,
        metadata: decoded.metadata,
        event: decoded.event,
        prev_hash,
        hash,
    })
}

/// The fields recovery and verification need from a body, without decoding the payload.
#[derive(Debug, Deserialize)]
pub struct IndexFields<'a> {
    /// The idempotency key.
    pub event_id: Uuid,
    /// The stream (borrowed unless the name contains escapes).
    #[serde(borrow)]
    pub stream: Cow<'a, str>,
    /// 0-based index within the stream.
    pub stream_version: StreamVersion,
    /// Position in `$all`.
    pub position: Position,
}

/// Reads the index fields of a body, skipping the payload.
pub fn decode_index_fields(body: &[u8]) -> Result<IndexFields<'_>, serde_json::Error> {
    serde_json::from_slice(body)
}

struct DecodedBody {
    event_id: Uuid,
    stream: String,
    stream_version: StreamVersion,
    position: Position,
    recorded_at: DateTime<Utc>,
    schema_version: u16,
    metadata: Metadata,
    event: Event,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    EventId,
    Stream,
    StreamVersion,
    Position,
    RecordedAt,
    EventType,
    SchemaVersion,
    Metadata,
    Event,
    #[serde(other)]
    Unknown,
}

impl<'de> Deserialize<'de> for DecodedBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(BodyVisitor)
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = DecodedBody;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event record body")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DecodedBody, A::Error> {
        let mut event_id = None;
        let mut stream = None;
        let mut stream_version = None;
        let mut position = None;
        let mut recorded_at = None;
        let mut event_type: Option<Cow<'de, str>> = None;
        let mut schema_version = None;
        let mut metadata = None;
        let mut event = None;
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::EventId => event_id = Some(map.next_value()?),
                Field::Stream => stream = Some(map.next_value()?),
                Field::StreamVersion => stream_version = Some(map.next_value()?),
                Field::Position => position = Some(map.next_value()?),
                Field::RecordedAt => recorded_at = Some(map.next_value()?),
                Field::EventType => event_type = Some(map.next_value::<BorrowedText>()?.0),
                Field::SchemaVersion => schema_version = Some(map.next_value()?),
                Field::Metadata => metadata = Some(map.next_value()?),
                Field::Event => {
                    let (Some(event_type), Some(version)) = (&event_type, schema_version) else {
                        return Err(de::Error::custom(
                            "payload precedes its event_type and schema_version",
                        ));
                    };
                    event = Some(map.next_value_seed(PayloadSeed {
                        event_type,
                        version,
                    })?);
                }
                Field::Unknown => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |name: &'static str| de::Error::missing_field(name);
        Ok(DecodedBody {
            event_id: event_id.ok_or_else(|| missing("event_id"))?,
            stream: stream.ok_or_else(|| missing("stream"))?,
            stream_version: stream_version.ok_or_else(|| missing("stream_version"))?,
            position: position.ok_or_else(|| missing("position"))?,
            recorded_at: recorded_at.ok_or_else(|| missing("recorded_at"))?,
            schema_version: schema_version.ok_or_else(|| missing("schema_version"))?,
            metadata: metadata.unwrap_or_default(),
            event: event.ok_or_else(|| missing("event"))?,
        })
    }
}

/// A string that borrows from the input when it can.
struct BorrowedText<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for BorrowedText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cow::<'de, str>::deserialize(d).map(BorrowedText)
    }
}

/// Decodes the payload with the schema its `event_type` and `schema_version` name.
struct PayloadSeed<'a> {
    event_type: &'a str,
    version: u16,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_> {
    type Value = Event;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Event, D::Error> {
        let event = schema::decode(self.event_type, self.version, d).map_err(|err| match err {
            SchemaError::Payload(inner) => inner,
            other => de::Error::custom(other),
        })?;
        if event.event_type() != self.event_type {
            return Err(de::Error::custom(format!(
                "payload of type `{}` stored as `{}`",
                event.event_type(),
                self.event_type
            )));
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests;
