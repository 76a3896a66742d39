//! Request body schemas. They are as strict as the handlers: unknown fields are
//! refused (`additionalProperties: false`, the structs deny unknown fields), text must
//! not be blank (`pattern: \S`), and every limit the server checks is written here.

use serde_json::{json, Value};

/// Letters, digits and `. _ : -`: services, resources, channels, policies, rules.
pub fn name() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" })
}

fn host() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,253}$" })
}

/// Non-blank text of at most `max` characters.
fn text(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

/// Hosts of a task or task rule: each at most once (a repeat is a 422 naming it).
fn hosts() -> Value {
    json!({ "type": "array", "minItems": 1, "maxItems": 256, "uniqueItems": true, "items": host() })
}

fn args() -> Value {
    json!({ "type": "array", "maxItems": 64, "items": { "type": "string", "maxLength": 4096 } })
}

/// Channels of a trigger, route or policy step: each at most once (a repeat is a 422
/// naming it).
fn channels() -> Value {
    json!({ "type": "array", "maxItems": 16, "uniqueItems": true, "items": name() })
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
            "dedup_key": { "type": "string", "maxLength": 255, "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$" },
            "summary": text(1024),
            "severity": { "enum": ["critical", "error", "warning", "info"] },
            "details": {
                "type": "object",
                "maxProperties": 64,
                "propertyNames": { "minLength": 1, "maxLength": 128 },
                "additionalProperties": { "type": "string", "maxLength": 4096 }
            },
            "resource": name(),
            "channels": channels(),
            "escalation_secs": { "type": "array", "maxItems": 16, "items": { "type": "integer", "minimum": 0, "maximum": u32::MAX } }
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
        json!({ "resolved_by": { "enum": ["person", "source"], "default": "person" } }),
    )
}

/// `POST /v1/alerts/{id}/notes`.
pub fn note() -> Value {
    strict(&["text"], json!({ "text": text(10_000) }))
}

/// `POST /v1/syncs`.
pub fn sync() -> Value {
    strict(&["id", "name"], json!({ "id": name(), "name": text(256) }))
}

/// `POST /v1/tasks`.
pub fn task() -> Value {
    strict(
        &["script", "hosts", "timeout_secs"],
        json!({
            "task_id": { "type": "string", "format": "uuid" },
            "script": text(65_536),
            "args": args(),
            "hosts": hosts(),
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": 86_400 },
            "alert_id": { "type": "string", "format": "uuid" }
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
            "output_tail": { "type": "string", "maxLength": 16_384 }
        }),
    )
}

/// `POST /v1/tasks/{id}/cancel`.
pub fn cancel() -> Value {
    strict(&["reason"], json!({ "reason": text(1024) }))
}

/// `POST /v1/ledger/verify`: a digest as `GET /v1/ledger/digest` returns it.
pub fn digest() -> Value {
    strict(
        &["position", "head_hash"],
        json!({
            "position": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
            "head_hash": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" },
            "recorded_at": { "type": ["string", "null"], "description": "Ignored" },
            "tree_size": { "type": "integer", "minimum": 0, "maximum": u64::MAX, "description": "Ignored by the chain walk (alert-ledger check-proof and verify --digest use it)" },
            "root_hash": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$", "description": "Ignored by the chain walk" },
            "signature": { "type": "object", "description": "Ignored by the chain walk" },
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
            "name": text(256),
            "kind": { "enum": ["webhook", "slack"] },
            "url": { "type": "string", "maxLength": 2048, "pattern": "^https?://[!-~]*$" }
        }),
    )
}

/// `POST /v1/services/{service}/route`.
pub fn route() -> Value {
    strict(&[], json!({ "channels": channels(), "policy": name() }))
}

/// `POST /v1/policies`.
pub fn policy() -> Value {
    let step = strict(
        &["delay_secs"],
        json!({ "delay_secs": { "type": "integer", "minimum": 0, "maximum": 86_400 }, "channels": channels() }),
    );
    strict(
        &["id", "name", "steps"],
        json!({
            "id": name(),
            "name": text(256),
            "steps": { "type": "array", "minItems": 1, "maxItems": 16, "items": step },
            "repeat": { "type": "integer", "minimum": 0, "maximum": 16 }
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
            "script": text(65_536),
            "args": args(),
            "hosts": hosts(),
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": 86_400 }
        }),
    )
}
