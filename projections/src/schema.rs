//! Event schema versions and the upcasting path from older payload shapes.
//!
//! Stored records carry `(event_type, schema_version)`. [`decode`] reads the current
//! shape directly and routes older shapes through their upcaster, so a fold only ever
//! sees today's [`Event`]. An unknown type or a version newer than this build is an
//! error, never a skip: skipping would silently change a view.

use crate::event::{Event, Severity};
use crate::ids::{AlertId, DedupKey, ServiceName};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Why a stored payload could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum SchemaError<E: std::fmt::Display> {
    /// The type tag is not one this build knows (written by a newer build, or damaged).
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    /// The type is known but its version is newer than this build understands.
    #[error(
        "event type `{event_type}` version {version} is newer than this build (knows {known})"
    )]
    UnknownVersion {
        /// The type tag.
        event_type: String,
        /// The stored version.
        version: u16,
        /// The newest version this build reads.
        known: u16,
    },
    /// The payload did not match the shape of its type and version.
    #[error("payload does not match its type: {0}")]
    Payload(E),
}

/// The newest version of `event_type` this build understands.
pub fn current_version(event_type: &str) -> Option<u16> {
    Event::TYPES
        .iter()
        .find(|(name, _)| *name == event_type)
        .map(|(_, version)| *version)
}

/// Decodes a stored payload of `event_type` at `version` into today's [`Event`].
pub fn decode<'de, D: Deserializer<'de>>(
    event_type: &str,
    version: u16,
    payload: D,
) -> Result<Event, SchemaError<D::Error>> {
    let known = current_version(event_type)
        .ok_or_else(|| SchemaError::UnknownType(event_type.to_owned()))?;
    if version > known || version == 0 {
        return Err(SchemaError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
            known,
        });
    }
    if version == known {
        return Event::deserialize(payload).map_err(SchemaError::Payload);
    }
    match (event_type, version) {
        ("alert_triggered", 1) => AlertTriggeredV1::deserialize(payload)
            .map(Event::from)
            .map_err(SchemaError::Payload),
        _ => Err(SchemaError::UnknownVersion {
            event_type: event_type.to_owned(),
            version,
            known,
        }),
    }
}

/// `alert_triggered` as version 1 wrote it: the one-line text was called
/// `description`, and alerts had no details, resource, channels or escalation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTriggeredV1 {
    #[serde(rename = "type")]
    _type: String,
    alert_id: AlertId,
    service: ServiceName,
    dedup_key: DedupKey,
    description: String,
    severity: Severity,
}

impl From<AlertTriggeredV1> for Event {
    fn from(v1: AlertTriggeredV1) -> Event {
        Event::AlertTriggered {
            alert_id: v1.alert_id,
            service: v1.service,
            dedup_key: v1.dedup_key,
            summary: v1.description,
            severity: v1.severity,
            details: BTreeMap::new(),
            resource: None,
            channels: Vec::new(),
            escalation_secs: Vec::new(),
            escalation_channels: Vec::new(),
            escalation_repeat: 0,
        }
    }
}
