//! Request body schemas. They are as strict as the handlers: unknown fields are
//! refused (`additionalProperties: false`, the structs deny unknown fields), text must
//! not be blank (`pattern: \S`), a field that is an `Option` on the server takes
//! `null`, and every limit is the constant the server's check reads
//! ([`crate::app::limits`], the ids' `MAX_LEN`).

use crate::app::limits;
use projections::ids::{DedupKey, HostName, ServiceName};
use serde_json::{json, Value};

/// Letters, digits and `. _ : -`: services, resources, channels, policies, rules.
pub fn name() -> Value {
    let pattern = format!("^[A-Za-z0-9._:-]{{1,{}}}$", ServiceName::MAX_LEN);
    json!({ "type": "string", "pattern": pattern })
}

/// A field the server parses as `Option`: `null` is the same as leaving it out.
fn or_null(mut schema: Value) -> Value {
    let kind = schema["type"].clone();
    schema["type"] = json!([kind, "null"]);
    schema
}

fn host() -> Value {
    let pattern = format!("^[A-Za-z0-9._:-]{{1,{}}}$", HostName::MAX_LEN);
    json!({ "type": "string", "pattern": pattern })
}

/// Non-blank text of at most `max` characters.
fn text(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

/// Hosts of a task or task rule: each at most once (a repeat is a 422 naming it).
fn hosts() -> Value {
    json!({ "type": "array", "minItems": 1, "maxItems": limits::HOSTS, "uniqueItems": true, "items": host() })
}

fn args() -> Value {
    json!({ "type": "array", "maxItems": limits::ARGS, "items": { "type": "string", "maxLength": limits::ARG_CHARS } })
}

/// Channels of a trigger, route or policy step: each at most once (a repeat is a 422
/// naming it).
fn channels() -> Value {
    json!({ "type": "array", "maxItems": limits::CHANNELS, "uniqueItems": true, "items": name() })
}

fn strict(required: &[&str], properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": required, "properties": properties })
}

/// `POST /v1/alerts`.
pub fn trigger() -> Value {
    strict(
        &["service", "summary", "severity"],
        json!({
            "service": name(),
            "dedup_key": { "type": ["string", "null"], "maxLength": DedupKey::MAX_LEN, "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$" },
            "summary": text(limits::SUMMARY_CHARS),
            "severity": { "enum": ["critical", "error", "warning", "info"] },
            "details": {
                "type": "object",
                "maxProperties": limits::DETAILS,
                "propertyNames": { "minLength": 1, "maxLength": limits::DETAIL_KEY_CHARS },
                "additionalProperties": { "type": "string", "maxLength": limits::DETAIL_VALUE_CHARS }
            },
            "resource": or_null(name()),
            "channels": channels(),
            "escalation_secs": { "type": "array", "maxItems": limits::ESCALATION_STEPS, "items": { "type": "integer", "minimum": 0, "maximum": u32::MAX } }
        }),
    )
}

/// Acknowledge and escalate: an optional empty object.
pub fn no_fields() -> Value {
    strict(&[], json!({}))
}

/// Resolve: who resolved it.
pub fn resolve() -> Value {
    strict(
        &[],
        json!({ "resolved_by": { "enum": ["person", "source", null], "default": "person" } }),
    )
}

/// `POST /v1/alerts/{id}/notes`.
pub fn note() -> Value {
    strict(&["text"], json!({ "text": text(limits::NOTE_CHARS) }))
}

/// `POST /v1/syncs`.
pub fn sync() -> Value {
    strict(
        &["id", "name"],
        json!({ "id": name(), "name": text(limits::DISPLAY_NAME_CHARS) }),
    )
}

/// `POST /v1/tasks`.
pub fn task() -> Value {
    strict(
        &["script", "hosts", "timeout_secs"],
        json!({
            "task_id": { "type": ["string", "null"], "format": "uuid" },
            "script": text(limits::SCRIPT_CHARS),
            "args": args(),
            "hosts": hosts(),
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": limits::TASK_TIMEOUT_SECS },
            "alert_id": { "type": ["string", "null"], "format": "uuid" }
        }),
    )
}

/// `POST /v1/tasks/{id}/hosts/{host}/start`: an optional object, its fields ignored.
pub fn start() -> Value {
    json!({ "type": "object" })
}

/// `POST /v1/tasks/{id}/hosts/{host}/result`.
pub fn result() -> Value {
    strict(
        &["exit_code"],
        json!({
            "exit_code": { "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX },
            "output_tail": { "type": "string", "maxLength": limits::OUTPUT_TAIL_CHARS }
        }),
    )
}

/// `POST /v1/tasks/{id}/cancel`.
pub fn cancel() -> Value {
    strict(&["reason"], json!({ "reason": text(limits::REASON_CHARS) }))
}

/// `POST /v1/ledger/verify`: a digest as `GET /v1/ledger/digest` returns it.
pub fn digest() -> Value {
    strict(
        &["position", "head_hash"],
        json!({
            "position": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
            "head_hash": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" },
            "recorded_at": { "type": ["string", "null"], "description": "Ignored" },
            "tree_size": { "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX, "description": "Ignored by the chain walk (alert-ledger check-proof and verify --digest use it)" },
            "root_hash": { "type": ["string", "null"], "description": "Ignored by the chain walk (any text)" },
            "signature": { "description": "Ignored by the chain walk" },
            "incremental": { "type": "boolean", "default": false, "description": "Check the digest's own record and every record after it up to the head, instead of every record up to the digest" }
        }),
    )
}

/// `POST /v1/channels`.
pub fn channel() -> Value {
    strict(
        &["id", "name", "kind", "url"],
        json!({
            "id": name(),
            "name": text(limits::DISPLAY_NAME_CHARS),
            "kind": { "enum": ["webhook", "slack"] },
            "url": { "type": "string", "maxLength": limits::URL_CHARS, "pattern": "^https?://[!-~]*$" }
        }),
    )
}

/// `POST /v1/services/{service}/route`.
pub fn route() -> Value {
    strict(
        &[],
        json!({ "channels": channels(), "policy": or_null(name()) }),
    )
}

/// `POST /v1/policies`.
pub fn policy() -> Value {
    let step = strict(
        &["delay_secs"],
        json!({ "delay_secs": { "type": "integer", "minimum": 0, "maximum": limits::STEP_DELAY_SECS }, "channels": channels() }),
    );
    strict(
        &["id", "name", "steps"],
        json!({
            "id": name(),
            "name": text(limits::DISPLAY_NAME_CHARS),
            "steps": { "type": "array", "minItems": 1, "maxItems": limits::POLICY_STEPS, "items": step },
            "repeat": { "type": "integer", "minimum": 0, "maximum": limits::POLICY_REPEATS }
        }),
    )
}

/// `POST /v1/task-rules`.
pub fn task_rule() -> Value {
    strict(
        &[
            "id",
            "service",
            "min_severity",
            "script",
            "hosts",
            "timeout_secs",
        ],
        json!({
            "id": name(),
            "service": name(),
            "min_severity": { "enum": ["critical", "error", "warning", "info"] },
            "script": text(limits::SCRIPT_CHARS),
            "args": args(),
            "hosts": hosts(),
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": limits::TASK_TIMEOUT_SECS }
        }),
    )
}
