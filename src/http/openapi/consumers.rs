//! The consumer-group part of the document: the answers of `/v1/consumers…` (the request bodies are derived: [`super::bodies`]). Registered in [`super::schemas`]
//! and the route table.

use super::schemas::{nullable_time, object, position, reference, time};
use serde_json::{json, Value};

fn filter() -> Value {
    json!({
        "type": "object",
        "properties": {
            "stream": { "type": "string" },
            "category": { "type": "string" },
            "event_types": { "type": "array", "items": { "type": "string" } }
        }
    })
}

fn member_row() -> Value {
    object(
        &["member", "partitions", "reading"],
        json!({
            "member": { "type": "string" },
            "partitions": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
            "reading": { "type": "boolean" }
        }),
    )
}

/// One group with checkpoint, lag and members (`ConsumerGroup`).
pub fn group() -> Value {
    object(
        &[
            "name",
            "filter",
            "partitions",
            "member_timeout_secs",
            "start_after",
            "checkpoints",
            "created_at",
            "created_position",
            "acked_at",
            "last_position",
            "checkpoint",
            "lag",
            "head",
            "members",
        ],
        json!({
            "name": { "type": "string" },
            "filter": filter(),
            "partitions": { "type": "integer", "minimum": 1 },
            "member_timeout_secs": { "type": "integer", "minimum": 1 },
            "start_after": position(),
            "checkpoints": { "type": "array", "items": position(), "description": "Per partition, every event at or before this position is acknowledged" },
            "created_at": time(),
            "created_position": position(),
            "acked_at": nullable_time(),
            "last_position": position(),
            "checkpoint": position(),
            "lag": position(),
            "head": position(),
            "members": { "type": "array", "items": member_row(), "description": "Members reading from this instance" }
        }),
    )
}

/// `GET /v1/consumers`.
pub fn list() -> Value {
    object(
        &["items"],
        json!({ "items": { "type": "array", "items": reference("ConsumerGroup") } }),
    )
}

/// `POST /v1/consumers/{name}/ack`.
pub fn acked() -> Value {
    let moved = object(
        &["partition", "position"],
        json!({ "partition": { "type": "integer", "minimum": 0 }, "position": position() }),
    );
    object(
        &["checkpoints", "checkpoint", "position"],
        json!({
            "checkpoints": { "type": "array", "items": moved, "description": "The partitions whose checkpoint moved, and where to" },
            "checkpoint": position(),
            "position": position()
        }),
    )
}

/// A page of events handed to a member.
pub fn page() -> Value {
    object(
        &["group", "member", "read_to", "partitions", "events"],
        json!({
            "group": { "type": "string" },
            "member": { "type": "string" },
            "read_to": { "type": "integer", "minimum": 0, "description": "The log was read up to here for this member: acknowledge it once the events are done" },
            "partitions": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
            "events": { "type": "array", "items": reference("RecordedEvent") }
        }),
    )
}
