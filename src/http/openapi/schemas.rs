//! Response schemas (`#/components/schemas`): the JSON the handlers produce, field for
//! field. Objects list every field the server always writes as `required`; fields that
//! are `Option` on the server are `["<type>", "null"]`, never left out.

use super::{bodies, consumers, ops};
use crate::merkle::check::{ConsistencyProof, InclusionProof};
use crate::merkle::digest::Digest;
use serde_json::{json, Map, Value};

/// Every component schema, by name.
pub fn components() -> Map<String, Value> {
    let named: [(&str, Value); 34] = [
        ("Problem", problem()),
        ("AlertCommandResult", alert_command_result()),
        ("WriteResult", write_result()),
        ("Alert", alert()),
        (
            "AlertPage",
            page("Alert", "next_cursor", json!(["string", "null"])),
        ),
        ("StatusChange", status_change()),
        ("EventRef", event_ref()),
        ("History", history()),
        ("RecordedEvent", recorded_event()),
        ("EventPage", page_of_events()),
        ("Alarms", alarms()),
        ("AlarmGroup", alarm_group()),
        ("AlarmItem", alarm_item()),
        ("Message", message()),
        (
            "MessagePage",
            page("Message", "next_cursor", json!(["string", "null"])),
        ),
        ("Sync", sync()),
        (
            "SyncPage",
            page("Sync", "next_cursor", json!(["string", "null"])),
        ),
        ("Task", task()),
        (
            "TaskPage",
            page("Task", "next_cursor", json!(["string", "null"])),
        ),
        ("TaskSpec", task_spec()),
        ("Routing", routing()),
        ("Digest", bodies::of::<Digest>()),
        ("InclusionProof", bodies::of::<InclusionProof>()),
        ("ConsistencyProof", bodies::of::<ConsistencyProof>()),
        ("VerifyOutcome", ops::verify_outcome()),
        ("ProjectionsStatus", ops::projections_status()),
        ("RebuildStatus", ops::rebuild_status()),
        (
            "Liveness",
            object(&["status"], json!({ "status": { "const": "live" } })),
        ),
        ("Readiness", ops::readiness()),
        ("ConsumerGroup", consumers::group()),
        ("ConsumerList", consumers::list()),
        ("ConsumerAck", consumers::acked()),
        ("ConsumerPage", consumers::page()),
        (
            "OpenApiDocument",
            json!({ "type": "object", "required": ["openapi", "paths"] }),
        ),
    ];
    named
        .into_iter()
        .map(|(name, schema)| (name.to_owned(), schema))
        .collect()
}

/// A reference to a component schema.
pub fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// An object with these required properties.
pub(super) fn object(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": properties })
}

pub(super) fn nullable(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

pub(super) fn position() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

pub(super) fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

pub(super) fn nullable_time() -> Value {
    json!({ "type": ["string", "null"], "format": "date-time" })
}

pub(super) fn hash() -> Value {
    json!({ "type": "string", "pattern": "^[0-9a-f]{64}$" })
}

fn severity() -> Value {
    json!({ "enum": ["critical", "error", "warning", "info"] })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn page(item: &str, cursor: &str, cursor_type: Value) -> Value {
    object(
        &["items", cursor],
        json!({
            "items": { "type": "array", "items": reference(item) },
            cursor: { "type": cursor_type, "description": "Pass as `cursor` for the next page; null on the last page" }
        }),
    )
}

fn problem() -> Value {
    json!({
        "type": "object",
        "description": "RFC 9457 problem details; `field` names the offending field (`summary`, `query.limit`, `path.id`, `header.Idempotency-Key`)",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string", "pattern": "^urn:alert-ledger:problem:[a-z-]+$" },
            "title": { "type": "string" },
            "status": { "type": "integer", "minimum": 400, "maximum": 599 },
            "detail": { "type": "string" },
            "field": { "type": "string" }
        }
    })
}

fn alert_command_result() -> Value {
    object(
        &["alert_id", "changed", "position"],
        json!({
            "alert_id": uuid(),
            "deduplicated": { "type": "boolean", "description": "Only on trigger: recorded as a repeat on an open alert" },
            "changed": { "type": "boolean" },
            "position": position()
        }),
    )
}

fn write_result() -> Value {
    object(
        &["id", "changed", "position"],
        json!({ "id": { "type": "string" }, "changed": { "type": "boolean" }, "position": position() }),
    )
}

fn alert() -> Value {
    object(
        &[
            "id",
            "stream",
            "service",
            "dedup_key",
            "summary",
            "severity",
            "status",
            "repeat_count",
            "escalation_step",
            "next_escalation_at",
            "resource",
            "channels",
            "details",
            "note_count",
            "resolution",
            "acknowledged_by",
            "created_at",
            "updated_at",
            "status_changes",
            "last_position",
        ],
        json!({
            "id": uuid(),
            "stream": { "type": "string" },
            "service": { "type": "string" },
            "dedup_key": { "type": "string" },
            "summary": { "type": "string" },
            "severity": severity(),
            "status": { "enum": ["triggered", "acknowledged", "resolved"] },
            "repeat_count": { "type": "integer", "minimum": 0 },
            "escalation_step": { "type": "integer", "minimum": 0 },
            "next_escalation_at": nullable_time(),
            "resource": nullable("string"),
            "channels": strings(),
            "details": { "type": "object", "additionalProperties": { "type": "string" } },
            "note_count": { "type": "integer", "minimum": 0 },
            "resolution": {
                "oneOf": [
                    { "type": "null" },
                    object(&["by"], json!({ "by": { "enum": ["person", "source"] } })),
                    object(&["by", "sync_id"], json!({ "by": { "const": "resource_deleted" }, "sync_id": { "type": "string" } }))
                ]
            },
            "acknowledged_by": nullable("string"),
            "created_at": time(),
            "updated_at": time(),
            "status_changes": { "type": "array", "items": reference("StatusChange") },
            "last_position": position()
        }),
    )
}

fn status_change() -> Value {
    object(
        &["status", "cause", "position", "at"],
        json!({
            "status": { "enum": ["triggered", "acknowledged", "resolved"] },
            "cause": reference("EventRef"),
            "position": position(),
            "at": time()
        }),
    )
}

fn event_ref() -> Value {
    object(
        &["stream", "version"],
        json!({ "stream": { "type": "string" }, "version": position() }),
    )
}

fn history() -> Value {
    object(
        &["alert_id", "events"],
        json!({ "alert_id": uuid(), "events": { "type": "array", "items": reference("RecordedEvent") } }),
    )
}

fn recorded_event() -> Value {
    let types: Vec<&str> = projections::Event::TYPES.iter().map(|(t, _)| *t).collect();
    object(
        &[
            "event_id",
            "stream",
            "stream_version",
            "position",
            "recorded_at",
            "schema_version",
            "metadata",
            "event",
            "prev_hash",
            "hash",
        ],
        json!({
            "event_id": uuid(),
            "stream": { "type": "string" },
            "stream_version": position(),
            "position": { "type": "integer", "minimum": 1 },
            "recorded_at": time(),
            "schema_version": { "type": "integer", "minimum": 0 },
            "metadata": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "actor": { "type": "string" },
                    "correlation_id": uuid(),
                    "causation_id": uuid(),
                    "source": { "type": "string" }
                }
            },
            "event": {
                "type": "object",
                "description": "The event, tagged by `type`; fields per type in docs/events.md",
                "required": ["type"],
                "properties": { "type": { "enum": types } }
            },
            "prev_hash": hash(),
            "hash": hash()
        }),
    )
}

fn page_of_events() -> Value {
    object(
        &["events", "next"],
        json!({
            "events": { "type": "array", "items": reference("RecordedEvent") },
            "next": { "type": ["integer", "null"], "minimum": 0, "description": "Where the next page starts; null at the end" }
        }),
    )
}

fn alarms() -> Value {
    let count = json!({ "type": "integer", "minimum": 0 });
    object(
        &["total", "acknowledged", "unacknowledged", "groups"],
        json!({
            "total": count,
            "acknowledged": count,
            "unacknowledged": count,
            "groups": { "type": "array", "items": reference("AlarmGroup") }
        }),
    )
}

fn alarm_item() -> Value {
    object(
        &["id", "summary", "severity", "status", "since"],
        json!({
            "id": uuid(),
            "summary": { "type": "string" },
            "severity": severity(),
            "status": { "enum": ["triggered", "acknowledged"] },
            "since": time()
        }),
    )
}

fn alarm_group() -> Value {
    object(
        &[
            "resource",
            "service",
            "counts",
            "acknowledged",
            "unacknowledged",
            "alerts",
            "items",
        ],
        json!({
            "resource": nullable("string"),
            "service": { "type": "string" },
            "counts": {
                "type": "object",
                "propertyNames": severity(),
                "additionalProperties": { "type": "integer", "minimum": 0 }
            },
            "acknowledged": { "type": "integer", "minimum": 0 },
            "unacknowledged": { "type": "integer", "minimum": 0 },
            "alerts": { "type": "array", "items": uuid() },
            "items": { "type": "array", "items": reference("AlarmItem") }
        }),
    )
}

fn message() -> Value {
    object(
        &[
            "id",
            "alert_id",
            "cause",
            "kind",
            "channel",
            "state",
            "attempts",
            "claimed_by",
            "lease_until",
            "next_attempt_at",
            "last_error",
            "receipt",
            "queued_at",
            "queued_position",
            "updated_at",
            "last_position",
        ],
        json!({
            "id": uuid(),
            "alert_id": uuid(),
            "cause": reference("EventRef"),
            "kind": { "enum": ["new_alert", "acknowledged", "escalated", "resolved"] },
            "channel": { "type": "string" },
            "state": { "enum": ["pending", "claimed", "delivered", "failed_will_retry", "abandoned"] },
            "attempts": { "type": "integer", "minimum": 0 },
            "claimed_by": nullable("string"),
            "lease_until": nullable_time(),
            "next_attempt_at": nullable_time(),
            "last_error": nullable("string"),
            "receipt": nullable("string"),
            "queued_at": time(),
            "queued_position": position(),
            "updated_at": time(),
            "last_position": position()
        }),
    )
}

fn sync() -> Value {
    object(
        &[
            "id",
            "name",
            "deleted",
            "registered_at",
            "deleted_at",
            "last_position",
        ],
        json!({
            "id": { "type": "string" },
            "name": { "type": "string" },
            "deleted": { "type": "boolean" },
            "registered_at": time(),
            "deleted_at": nullable_time(),
            "last_position": position()
        }),
    )
}

fn task_spec() -> Value {
    object(
        &["script", "args", "hosts", "timeout_secs"],
        json!({ "script": { "type": "string" }, "args": strings(), "hosts": strings(), "timeout_secs": { "type": "integer", "minimum": 1 } }),
    )
}

fn task() -> Value {
    let run = object(
        &[
            "state",
            "exit_code",
            "output_tail",
            "started_at",
            "finished_at",
        ],
        json!({
            "state": { "enum": ["waiting", "running", "succeeded", "failed", "timed_out", "cancelled"] },
            "exit_code": nullable("integer"),
            "output_tail": nullable("string"),
            "started_at": nullable_time(),
            "finished_at": nullable_time()
        }),
    );
    object(
        &[
            "id",
            "spec",
            "alert_id",
            "hosts",
            "cancel_reason",
            "created_at",
            "updated_at",
            "last_position",
        ],
        json!({
            "id": uuid(),
            "spec": reference("TaskSpec"),
            "alert_id": { "type": ["string", "null"], "format": "uuid" },
            "hosts": { "type": "object", "additionalProperties": run },
            "cancel_reason": nullable("string"),
            "created_at": time(),
            "updated_at": time(),
            "last_position": position()
        }),
    )
}

fn routing() -> Value {
    let map = |value: Value| json!({ "type": "object", "additionalProperties": value });
    let channel = object(
        &[
            "id",
            "name",
            "target",
            "removed",
            "updated_at",
            "last_position",
        ],
        json!({
            "id": { "type": "string" },
            "name": { "type": "string" },
            "target": object(&["kind", "url"], json!({ "kind": { "enum": ["webhook", "slack"] }, "url": { "type": "string" } })),
            "removed": { "type": "boolean" },
            "updated_at": time(),
            "last_position": position()
        }),
    );
    let route = object(
        &["channels", "policy"],
        json!({ "channels": strings(), "policy": nullable("string") }),
    );
    let step = object(
        &["delay_secs", "channels"],
        json!({ "delay_secs": { "type": "integer", "minimum": 0 }, "channels": strings() }),
    );
    let policy = object(
        &["name", "steps", "repeat"],
        json!({ "name": { "type": "string" }, "steps": { "type": "array", "items": step }, "repeat": { "type": "integer", "minimum": 0 } }),
    );
    let rule = object(
        &["id", "service", "min_severity", "template"],
        json!({ "id": { "type": "string" }, "service": { "type": "string" }, "min_severity": severity(), "template": reference("TaskSpec") }),
    );
    object(
        &["channels", "services", "policies", "rules"],
        json!({ "channels": map(channel), "services": map(route), "policies": map(policy), "rules": map(rule) }),
    )
}
