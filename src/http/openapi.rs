//! The OpenAPI 3.1 document served at `/openapi.json`, built from the route table
//! below. A test checks that every route the router serves is listed here.

use serde_json::{json, Map, Value};

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    role: Option<&'static str>,
    summary: &'static str,
    body: Option<fn() -> Value>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    role: Option<&'static str>,
    summary: &'static str,
    body: Option<fn() -> Value>,
) -> Operation {
    Operation {
        method,
        path,
        role,
        summary,
        body,
    }
}

const READER: Option<&str> = Some("reader");
const WRITER: Option<&str> = Some("writer");
const ADMIN: Option<&str> = Some("admin");

/// Every operation the service serves.
const OPERATIONS: &[Operation] = &[
    op(
        "post",
        "/v1/alerts",
        WRITER,
        "Trigger an alert (201 new, 200 recorded as a repeat)",
        Some(trigger_body),
    ),
    op(
        "get",
        "/v1/alerts",
        READER,
        "List alerts, newest first",
        None,
    ),
    op("get", "/v1/alerts/{id}", READER, "One alert's status", None),
    op(
        "post",
        "/v1/alerts/{id}/acknowledge",
        WRITER,
        "Acknowledge an open alert",
        Some(lifecycle_body),
    ),
    op(
        "post",
        "/v1/alerts/{id}/resolve",
        WRITER,
        "Resolve an open alert",
        Some(lifecycle_body),
    ),
    op(
        "post",
        "/v1/alerts/{id}/escalate",
        WRITER,
        "Escalate an open alert one step",
        Some(lifecycle_body),
    ),
    op(
        "post",
        "/v1/alerts/{id}/notes",
        WRITER,
        "Add a note to an alert's log",
        Some(note_body),
    ),
    op(
        "get",
        "/v1/alerts/{id}/history",
        READER,
        "An alert's events (its log)",
        None,
    ),
    op(
        "get",
        "/v1/alarms",
        READER,
        "Active alarms grouped by resource and service",
        None,
    ),
    op("get", "/v1/messages", READER, "Outgoing messages", None),
    op(
        "get",
        "/v1/messages/{id}",
        READER,
        "One outgoing message",
        None,
    ),
    op(
        "post",
        "/v1/syncs",
        WRITER,
        "Register a resource that owns alarms",
        Some(sync_body),
    ),
    op("get", "/v1/syncs", READER, "Registered resources", None),
    op(
        "delete",
        "/v1/syncs/{id}",
        WRITER,
        "Delete a resource, resolving its alarms",
        None,
    ),
    op(
        "post",
        "/v1/tasks",
        WRITER,
        "Create a self-healing task",
        Some(task_body),
    ),
    op(
        "get",
        "/v1/tasks",
        READER,
        "Tasks, optionally for one host",
        None,
    ),
    op(
        "get",
        "/v1/tasks/{id}",
        READER,
        "One task with per-host state",
        None,
    ),
    op(
        "post",
        "/v1/tasks/{id}/hosts/{host}/start",
        WRITER,
        "An agent started the task on a host",
        None,
    ),
    op(
        "post",
        "/v1/tasks/{id}/hosts/{host}/result",
        WRITER,
        "A host's exit code and output tail",
        Some(result_body),
    ),
    op(
        "post",
        "/v1/tasks/{id}/cancel",
        WRITER,
        "Cancel a task",
        Some(cancel_body),
    ),
    op("post", "/v1/channels", WRITER, "Create or update a notification channel (webhook or Slack)", Some(channel_body)),
    op("delete", "/v1/channels/{id}", WRITER, "Remove a channel; its pending messages are abandoned", None),
    op("post", "/v1/services/{service}/route", WRITER, "Set a service's channels and escalation policy", Some(route_body)),
    op("post", "/v1/policies", WRITER, "Create or replace an escalation policy", Some(policy_body)),
    op("post", "/v1/task-rules", ADMIN, "Create or replace a rule that creates tasks from alerts", Some(task_rule_body)),
    op("delete", "/v1/task-rules/{id}", ADMIN, "Remove a task rule", None),
    op("get", "/v1/routing", READER, "Channels, service routes, policies and task rules", None),
    op(
        "get",
        "/v1/streams/{stream}",
        READER,
        "Raw events of one stream",
        None,
    ),
    op("get", "/v1/events", READER, "A page of $all", None),
    op(
        "get",
        "/v1/subscribe",
        READER,
        "Server-Sent Events over $all: catch-up then live; from, stream, category, type; Last-Event-ID resumes",
        None,
    ),
    op(
        "get",
        "/v1/ledger/digest",
        READER,
        "Head position and hash of the ledger",
        None,
    ),
    op("post", "/v1/ledger/verify", ADMIN, "Verify CRCs and the hash chain up to the head or a digest", Some(digest_body)),
    op("get", "/v1/admin/projections", ADMIN, "Projection status, lag, snapshot and rebuild progress", None),
    op("post", "/v1/admin/projections/{name}/rebuild", ADMIN, "Rebuild a view online (all, alerts, messages, alarms, tasks, syncs)", None),
    op(
        "post",
        "/v1/integrations/alertmanager",
        WRITER,
        "Prometheus Alertmanager webhook (version 4): firing triggers, resolved resolves",
        Some(crate::receivers::alertmanager::schema),
    ),
    op(
        "post",
        "/v2/enqueue",
        None,
        "PagerDuty Events API v2: trigger, acknowledge, resolve; the routing_key authorises (answers in PagerDuty's shapes)",
        Some(crate::receivers::pagerduty::schema),
    ),
    op(
        "post",
        "/api/v2/generic/incoming",
        None,
        "GoAlert generic API: summary, details, dedup, action=close; a GoAlert integration token authorises",
        None,
    ),
    op("get", "/livez", None, "Liveness", None),
    op(
        "get",
        "/readyz",
        None,
        "Readiness: 200 when caught up",
        None,
    ),
    op("get", "/metrics", None, "Prometheus metrics", None),
    op("get", "/openapi.json", None, "This document", None),
];

/// Every (method, path) documented, for the route-coverage test.
pub fn documented_routes() -> Vec<(&'static str, &'static str)> {
    OPERATIONS.iter().map(|o| (o.method, o.path)).collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let entry = paths
            .entry(operation.path)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        let mut entry = entry;
        entry.insert(operation.method.to_owned(), describe(operation));
        paths.insert(operation.path.to_owned(), Value::Object(entry));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "alert-ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An append-only, tamper-evident ledger of alerts. Every view is a fold over the log; every response carries X-Ledger-Position."
        },
        "servers": [{ "url": "http://127.0.0.1:8470" }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Problem": problem_schema() }
        }
    })
}

fn describe(operation: &Operation) -> Value {
    let mut out = json!({
        "summary": operation.summary,
        "operationId": operation_id(operation),
        "parameters": parameters(operation.path),
        "responses": responses(operation),
    });
    if let Some(role) = operation.role {
        out["security"] = json!([{ "bearer": [] }]);
        out["x-required-role"] = json!(role);
    }
    if let Some(body) = operation.body {
        let required = !matches!(operation.path, p if p.ends_with("/acknowledge") || p.ends_with("/resolve") || p.ends_with("/escalate") || p.ends_with("/verify"));
        out["requestBody"] = json!({
            "required": required,
            "content": { "application/json": { "schema": body() } }
        });
    }
    crate::receivers::describe_operation(operation.path, &mut out);
    out
}

fn operation_id(operation: &Operation) -> String {
    let path: String = operation
        .path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{}{}", operation.method, path.trim_end_matches('_'))
}

fn parameters(path: &str) -> Value {
    let params: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
        .collect();
    Value::Array(params)
}

fn responses(operation: &Operation) -> Value {
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    let mut out = json!({
        "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } },
        "400": { "description": "Malformed request", "content": problem.clone() },
        "404": { "description": "Not found", "content": problem.clone() },
        "422": { "description": "A field failed validation", "content": problem.clone() },
        "503": { "description": "Not caught up or storage unavailable", "content": problem.clone() }
    });
    if operation.role.is_some() {
        out["401"] =
            json!({ "description": "Missing or unknown token", "content": problem.clone() });
        out["403"] = json!({ "description": "Role too low", "content": problem.clone() });
    }
    if operation.method == "post" {
        out["201"] = json!({ "description": "Created", "content": { "application/json": { "schema": { "type": "object" } } } });
        out["409"] =
            json!({ "description": "Refused in the current state", "content": problem.clone() });
        out["413"] = json!({ "description": "Body too large", "content": problem.clone() });
        out["415"] = json!({ "description": "Not application/json", "content": problem });
    }
    if operation.path == "/metrics" {
        out["200"] = json!({ "description": "OK", "content": { "text/plain": { "schema": { "type": "string" } } } });
    }
    if operation.path == "/v1/subscribe" {
        out["200"] = json!({ "description": "An event stream: `id:` position, `event:` type, `data:` the recorded event as JSON", "content": { "text/event-stream": { "schema": { "type": "string" } } } });
    }
    out
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": { "type": "string" },
            "title": { "type": "string" },
            "status": { "type": "integer" },
            "detail": { "type": "string" },
            "field": { "type": "string" }
        }
    })
}

fn text(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max })
}

fn trigger_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["service", "summary", "severity"],
        "properties": {
            "service": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" },
            "dedup_key": text(255),
            "summary": text(1024),
            "severity": { "enum": ["critical", "error", "warning", "info"] },
            "details": { "type": "object", "maxProperties": 64, "additionalProperties": { "type": "string", "maxLength": 4096 } },
            "resource": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" },
            "channels": { "type": "array", "maxItems": 16, "items": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" } },
            "escalation_secs": { "type": "array", "maxItems": 16, "items": { "type": "integer", "minimum": 0, "maximum": 4294967295u64 } }
        }
    })
}

fn lifecycle_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": { "resolved_by": { "enum": ["person", "source"] } }
    })
}

fn note_body() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["text"], "properties": { "text": text(10_000) } })
}

fn sync_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "name"],
        "properties": {
            "id": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" },
            "name": text(256)
        }
    })
}

fn task_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["script", "hosts", "timeout_secs"],
        "properties": {
            "task_id": { "type": "string", "format": "uuid" },
            "script": text(65_536),
            "args": { "type": "array", "maxItems": 64, "items": { "type": "string", "maxLength": 4096 } },
            "hosts": { "type": "array", "minItems": 1, "maxItems": 256, "uniqueItems": true, "items": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,253}$" } },
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": 86400 },
            "alert_id": { "type": "string", "format": "uuid" }
        }
    })
}

fn result_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["exit_code"],
        "properties": {
            "exit_code": { "type": "integer", "minimum": -2147483648i64, "maximum": 2147483647 },
            "output_tail": { "type": "string", "maxLength": 16384 }
        }
    })
}

fn cancel_body() -> Value {
    json!({ "type": "object", "additionalProperties": false, "required": ["reason"], "properties": { "reason": text(1024) } })
}

fn digest_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["position", "head_hash"],
        "properties": {
            "position": { "type": "integer", "minimum": 1 },
            "head_hash": { "type": "string", "pattern": "^[0-9a-fA-F]{64}$" },
            "recorded_at": { "type": ["string", "null"] }
        }
    })
}

fn id_pattern() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" })
}

fn channel_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "name", "kind", "url"],
        "properties": {
            "id": id_pattern(),
            "name": text(256),
            "kind": { "enum": ["webhook", "slack"] },
            "url": { "type": "string", "pattern": "^https?://[^\\s]{1,2040}$" }
        }
    })
}

fn route_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "channels": { "type": "array", "maxItems": 16, "items": id_pattern() },
            "policy": id_pattern()
        }
    })
}

fn policy_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "name", "steps"],
        "properties": {
            "id": id_pattern(),
            "name": text(256),
            "steps": {
                "type": "array", "minItems": 1, "maxItems": 16,
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["delay_secs"],
                    "properties": {
                        "delay_secs": { "type": "integer", "minimum": 0, "maximum": 86400 },
                        "channels": { "type": "array", "maxItems": 16, "items": id_pattern() }
                    }
                }
            },
            "repeat": { "type": "integer", "minimum": 0, "maximum": 16 }
        }
    })
}

fn task_rule_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "service", "min_severity", "script", "hosts", "timeout_secs"],
        "properties": {
            "id": id_pattern(),
            "service": id_pattern(),
            "min_severity": { "enum": ["critical", "error", "warning", "info"] },
            "script": text(65_536),
            "args": { "type": "array", "maxItems": 64, "items": { "type": "string", "maxLength": 4096 } },
            "hosts": { "type": "array", "minItems": 1, "maxItems": 256, "items": { "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,253}$" } },
            "timeout_secs": { "type": "integer", "minimum": 1, "maximum": 86400 }
        }
    })
}
