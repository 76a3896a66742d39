//! The OpenAPI 3.1 document served at `/openapi.json`, built from the route table
//! below. A test checks that every route the router serves is listed here; the CI
//! step `.ci/schemathesis` fuzzes the running service against it.
//!
//! # Layout
//! - this file: the route table (role, body, query, answers per operation) and the
//!   assembly of the document.
//! - [`params`]: path and header parameters; query parameters derived from the
//!   handlers' query structs.
//! - [`bodies`]: request body schemas, derived from the types the handlers parse.
//! - [`links`]: from the answers that create something to the operations on it.
//! - [`schemas`]: response schemas (`#/components/schemas`) of the views and commands.
//! - [`ops`]: response schemas of the operational and admin answers.
//! - [`consumers`]: bodies, parameters and answers of the consumer-group routes.

mod bodies;
mod consumers;
mod links;
mod ops;
mod params;
mod schemas;

use crate::app::configuration::{ChannelBody, PolicyBody, RouteBody, TaskRuleBody};
use crate::app::consumers::ConsumerBody;
use crate::app::syncs::SyncBody;
use crate::app::tasks::{CancelBody, ResultBody, TaskBody};
use crate::app::trigger::TriggerRequest;
use crate::http::admin::DigestBody;
use crate::http::alerts::AlertsQuery;
use crate::http::alerts::{NoFields, NoteBody, ResolveBody};
use crate::http::consumers::{AckBody, MemberQuery};
use crate::http::proofs::{ConsistencyQuery, InclusionQuery};
use crate::http::query::ViewAt;
use crate::http::reads::{AlarmsQuery, EventsQuery, MessagesQuery, StreamQuery};
use crate::http::receivers::alertmanager::Notification;
use crate::http::resources::{SyncsQuery, TasksQuery};
use crate::http::subscribe::SubscribeQuery;
use params::Query;
use serde_json::{json, Map, Value};

/// A documented non-problem answer.
#[derive(Clone, Copy)]
enum Reply {
    /// `application/json` with this component schema.
    Json(&'static str),
    /// A page of events: JSON, or NDJSON with `Accept: application/x-ndjson`.
    Events,
    /// `text/event-stream`.
    Sse,
    /// A member's page of events as JSON, or its event stream with
    /// `Accept: text/event-stream`.
    MemberEvents,
    /// Prometheus text.
    Text,
}

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    role: Option<&'static str>,
    summary: &'static str,
    /// The body schema and whether a body is required (`MaybeJson` routes take none).
    body: Option<(bool, fn() -> Value)>,
    query: Query,
    replies: &'static [(u16, &'static str, Reply)],
    /// The problem+json statuses this operation can answer.
    errors: &'static [u16],
}

const READER: Option<&str> = Some("reader");
const WRITER: Option<&str> = Some("writer");
const ADMIN: Option<&str> = Some("admin");

const REQUIRED: bool = true;
const OPTIONAL: bool = false;

/// Reads: auth, query validation, `min_position` waits and store reads.
const READ: &[u16] = &[401, 403, 422, 503];
/// Reads of one thing by id.
const READ_ONE: &[u16] = &[401, 403, 404, 422, 503];
/// Commands with a JSON body (the idempotency layer adds 413 and 422 to every POST).
const WRITE: &[u16] = &[400, 401, 403, 408, 409, 413, 415, 422, 503];
/// Commands on something named in the path.
const WRITE_ONE: &[u16] = &[400, 401, 403, 404, 408, 409, 413, 415, 422, 503];
/// Deletions (no body).
const DELETE: &[u16] = &[401, 403, 404, 409, 422, 503];

const ALERT_RESULT: &[(u16, &str, Reply)] = &[(200, "Done", Reply::Json("AlertCommandResult"))];
const WRITE_RESULT: &[(u16, &str, Reply)] = &[(
    200,
    "Done (`changed: false` when nothing changed)",
    Reply::Json("WriteResult"),
)];
const CREATED: &[(u16, &str, Reply)] = &[
    (201, "Created", Reply::Json("WriteResult")),
    (
        200,
        "Already there: updated, or unchanged",
        Reply::Json("WriteResult"),
    ),
];

/// Every operation the service serves.
const OPERATIONS: &[Operation] = &[
    Operation { method: "post", path: "/v1/alerts", role: WRITER, summary: "Trigger an alert (201 new, 200 recorded as a repeat)", body: Some((REQUIRED, bodies::of::<TriggerRequest>)), query: params::none, replies: &[(201, "A new alert was opened", Reply::Json("AlertCommandResult")), (200, "Recorded as a repeat on the open alert", Reply::Json("AlertCommandResult"))], errors: WRITE },
    Operation { method: "get", path: "/v1/alerts", role: READER, summary: "List alerts, newest first", body: None, query: params::viewed::<AlertsQuery>, replies: &[(200, "A page of alerts", Reply::Json("AlertPage"))], errors: READ },
    Operation { method: "get", path: "/v1/alerts/{id}", role: READER, summary: "One alert's status", body: None, query: params::of::<ViewAt>, replies: &[(200, "The alert", Reply::Json("Alert"))], errors: READ_ONE },
    Operation { method: "post", path: "/v1/alerts/{id}/acknowledge", role: WRITER, summary: "Acknowledge an open alert", body: Some((OPTIONAL, bodies::of::<NoFields>)), query: params::none, replies: ALERT_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/alerts/{id}/resolve", role: WRITER, summary: "Resolve an open alert", body: Some((OPTIONAL, bodies::of::<ResolveBody>)), query: params::none, replies: ALERT_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/alerts/{id}/escalate", role: WRITER, summary: "Escalate an open alert one step", body: Some((OPTIONAL, bodies::of::<NoFields>)), query: params::none, replies: ALERT_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/alerts/{id}/notes", role: WRITER, summary: "Add a note to an alert's log", body: Some((REQUIRED, bodies::of::<NoteBody>)), query: params::none, replies: ALERT_RESULT, errors: WRITE_ONE },
    Operation { method: "get", path: "/v1/alerts/{id}/history", role: READER, summary: "An alert's events (its log)", body: None, query: params::of::<ViewAt>, replies: &[(200, "The alert's events, oldest first", Reply::Json("History"))], errors: READ_ONE },
    Operation { method: "get", path: "/v1/alarms", role: READER, summary: "Active alarms grouped by resource and service, alerts inline", body: None, query: params::viewed::<AlarmsQuery>, replies: &[(200, "Active alarms", Reply::Json("Alarms"))], errors: READ },
    Operation { method: "get", path: "/v1/messages", role: READER, summary: "Outgoing messages", body: None, query: params::viewed::<MessagesQuery>, replies: &[(200, "A page of messages", Reply::Json("MessagePage"))], errors: READ },
    Operation { method: "get", path: "/v1/messages/{id}", role: READER, summary: "One outgoing message", body: None, query: params::of::<ViewAt>, replies: &[(200, "The message", Reply::Json("Message"))], errors: READ_ONE },
    Operation { method: "post", path: "/v1/syncs", role: WRITER, summary: "Register a resource that owns alarms", body: Some((REQUIRED, bodies::of::<SyncBody>)), query: params::none, replies: CREATED, errors: WRITE },
    Operation { method: "get", path: "/v1/syncs", role: READER, summary: "Registered resources", body: None, query: params::viewed::<SyncsQuery>, replies: &[(200, "Resources, deleted ones included", Reply::Json("SyncPage"))], errors: READ },
    Operation { method: "delete", path: "/v1/syncs/{id}", role: WRITER, summary: "Delete a resource, resolving its alarms", body: None, query: params::none, replies: WRITE_RESULT, errors: DELETE },
    Operation { method: "post", path: "/v1/tasks", role: WRITER, summary: "Create a self-healing task", body: Some((REQUIRED, bodies::of::<TaskBody>)), query: params::none, replies: CREATED, errors: WRITE },
    Operation { method: "get", path: "/v1/tasks", role: READER, summary: "Tasks, optionally for one host", body: None, query: params::viewed::<TasksQuery>, replies: &[(200, "Tasks", Reply::Json("TaskPage"))], errors: READ },
    Operation { method: "get", path: "/v1/tasks/{id}", role: READER, summary: "One task with per-host state", body: None, query: params::of::<ViewAt>, replies: &[(200, "The task", Reply::Json("Task"))], errors: READ_ONE },
    Operation { method: "post", path: "/v1/tasks/{id}/hosts/{host}/start", role: WRITER, summary: "An agent started the task on a host", body: Some((OPTIONAL, bodies::start)), query: params::none, replies: WRITE_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/tasks/{id}/hosts/{host}/result", role: WRITER, summary: "A host's exit code and output tail", body: Some((REQUIRED, bodies::of::<ResultBody>)), query: params::none, replies: WRITE_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/tasks/{id}/cancel", role: WRITER, summary: "Cancel a task", body: Some((REQUIRED, bodies::of::<CancelBody>)), query: params::none, replies: WRITE_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/channels", role: WRITER, summary: "Create or update a notification channel (webhook or Slack)", body: Some((REQUIRED, bodies::of::<ChannelBody>)), query: params::none, replies: CREATED, errors: WRITE },
    Operation { method: "delete", path: "/v1/channels/{id}", role: WRITER, summary: "Remove a channel; its pending messages are abandoned; 409 channel-in-use while a route or policy step names it", body: None, query: params::none, replies: WRITE_RESULT, errors: DELETE },
    Operation { method: "post", path: "/v1/services/{service}/route", role: WRITER, summary: "Set a service's channels and escalation policy (each must exist: 422 unknown-reference naming the entry)", body: Some((REQUIRED, bodies::of::<RouteBody>)), query: params::none, replies: WRITE_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/policies", role: WRITER, summary: "Create or replace an escalation policy (its steps' channels must exist: 422 unknown-reference naming the entry)", body: Some((REQUIRED, bodies::of::<PolicyBody>)), query: params::none, replies: WRITE_RESULT, errors: WRITE_ONE },
    Operation { method: "post", path: "/v1/task-rules", role: ADMIN, summary: "Create or replace a rule that creates tasks from alerts", body: Some((REQUIRED, bodies::of::<TaskRuleBody>)), query: params::none, replies: WRITE_RESULT, errors: WRITE },
    Operation { method: "delete", path: "/v1/task-rules/{id}", role: ADMIN, summary: "Remove a task rule", body: None, query: params::none, replies: WRITE_RESULT, errors: DELETE },
    Operation { method: "get", path: "/v1/routing", role: READER, summary: "Channels, service routes, policies and task rules", body: None, query: params::of::<ViewAt>, replies: &[(200, "The routing view", Reply::Json("Routing"))], errors: READ },
    Operation { method: "get", path: "/v1/streams/{stream}", role: READER, summary: "Raw events of one stream", body: None, query: params::of::<StreamQuery>, replies: &[(200, "A page of the stream (`next` is a stream version)", Reply::Events)], errors: READ },
    Operation { method: "get", path: "/v1/events", role: READER, summary: "A page of $all", body: None, query: params::of::<EventsQuery>, replies: &[(200, "A page of $all (`next` is a position)", Reply::Events)], errors: READ },
    Operation { method: "get", path: "/v1/subscribe", role: READER, summary: "Server-Sent Events over $all: catch-up then live; Last-Event-ID resumes", body: None, query: params::of::<SubscribeQuery>, replies: &[(200, "An event stream: `id:` position, `event:` type, `data:` the recorded event as JSON", Reply::Sse)], errors: READ },
    Operation { method: "post", path: "/v1/consumers", role: WRITER, summary: "Create a durable consumer group on a filter (201; 200 when it exists with the same settings; 409 with other settings)", body: Some((REQUIRED, bodies::of::<ConsumerBody>)), query: params::none, replies: &[(201, "Created", Reply::Json("ConsumerGroup")), (200, "Already there with these settings", Reply::Json("ConsumerGroup"))], errors: WRITE },
    Operation { method: "get", path: "/v1/consumers", role: READER, summary: "Consumer groups with checkpoint, lag and members", body: None, query: params::none, replies: &[(200, "The groups", Reply::Json("ConsumerList"))], errors: READ },
    Operation { method: "get", path: "/v1/consumers/{name}", role: READER, summary: "One consumer group with checkpoint, lag and members", body: None, query: params::none, replies: &[(200, "The group", Reply::Json("ConsumerGroup"))], errors: READ_ONE },
    Operation { method: "delete", path: "/v1/consumers/{name}", role: WRITER, summary: "Delete a consumer group", body: None, query: params::none, replies: WRITE_RESULT, errors: DELETE },
    Operation { method: "get", path: "/v1/consumers/{name}/events", role: READER, summary: "The next events for a member: the partitions it holds, from the group's checkpoint (a long-poll page, or an event stream with Accept: text/event-stream)", body: None, query: params::of::<MemberQuery>, replies: &[(200, "Events handed to the member", Reply::MemberEvents)], errors: READ_ONE },
    Operation { method: "post", path: "/v1/consumers/{name}/ack", role: WRITER, summary: "Acknowledge, cumulatively, what the member was handed up to a position (the checkpoint is an event in the ledger)", body: Some((REQUIRED, bodies::of::<AckBody>)), query: params::none, replies: &[(200, "What moved", Reply::Json("ConsumerAck"))], errors: WRITE_ONE },
    Operation { method: "get", path: "/v1/ledger/digest", role: READER, summary: "Head position and hash, Merkle tree size and root, signed with the digest key if there is one", body: None, query: params::none, replies: &[(200, "The digest", Reply::Json("Digest"))], errors: &[401, 403, 503] },
    Operation { method: "get", path: "/v1/ledger/proof/inclusion", role: READER, summary: "The audit path of one event in the Merkle tree of a given size, with the stored record (RFC 9162)", body: None, query: params::of::<InclusionQuery>, replies: &[(200, "The inclusion proof", Reply::Json("InclusionProof"))], errors: &[401, 403, 404, 422, 503] },
    Operation { method: "get", path: "/v1/ledger/proof/consistency", role: READER, summary: "The proof that a tree extends an earlier one (RFC 9162)", body: None, query: params::of::<ConsistencyQuery>, replies: &[(200, "The consistency proof", Reply::Json("ConsistencyProof"))], errors: &[401, 403, 404, 422, 503] },
    Operation { method: "post", path: "/v1/ledger/verify", role: ADMIN, summary: "Verify CRCs and the hash chain up to the head or a digest, or incrementally from a digest to the head", body: Some((OPTIONAL, bodies::of::<DigestBody>)), query: params::none, replies: &[(200, "What verification found (`ok: false` names the first bad position)", Reply::Json("VerifyOutcome"))], errors: &[400, 401, 403, 404, 413, 415, 422, 503] },
    Operation { method: "get", path: "/v1/admin/projections", role: ADMIN, summary: "Projection status, lag, the view file's health and rebuild progress", body: None, query: params::none, replies: &[(200, "Status", Reply::Json("ProjectionsStatus"))], errors: &[401, 403, 503] },
    Operation { method: "post", path: "/v1/admin/projections/{name}/rebuild", role: ADMIN, summary: "Rebuild a view online (all, alerts, messages, alarms, tasks, syncs)", body: None, query: params::none, replies: &[(202, "Started", Reply::Json("RebuildStatus"))], errors: &[401, 403, 404, 409, 413, 422] },
    Operation { method: "post", path: "/v1/integrations/alertmanager", role: WRITER, summary: "Prometheus Alertmanager webhook (version 4): firing triggers, resolved resolves", body: Some((REQUIRED, bodies::of::<Notification>)), query: params::none, replies: &[], errors: WRITE },
    Operation { method: "post", path: "/v2/enqueue", role: None, summary: "PagerDuty Events API v2: trigger, acknowledge, resolve; the routing_key authorises (answers in PagerDuty's shapes)", body: Some((REQUIRED, crate::http::receivers::pagerduty::schema)), query: params::none, replies: &[], errors: &[] },
    Operation { method: "post", path: "/api/v2/generic/incoming", role: None, summary: "GoAlert generic API: summary, details, dedup, action=close; a GoAlert integration token authorises", body: None, query: params::none, replies: &[], errors: &[400, 413, 422, 503] },
    Operation { method: "get", path: "/livez", role: None, summary: "Liveness", body: None, query: params::none, replies: &[(200, "Live", Reply::Json("Liveness"))], errors: &[] },
    Operation { method: "get", path: "/readyz", role: None, summary: "Readiness: 200 when caught up", body: None, query: params::none, replies: &[(200, "Ready", Reply::Json("Readiness")), (503, "Not ready, with the reason", Reply::Json("Readiness"))], errors: &[] },
    Operation { method: "get", path: "/metrics", role: None, summary: "Prometheus metrics", body: None, query: params::none, replies: &[(200, "Prometheus text format", Reply::Text)], errors: &[] },
    Operation { method: "get", path: "/openapi.json", role: None, summary: "This document", body: None, query: params::none, replies: &[(200, "The OpenAPI document", Reply::Json("OpenApiDocument"))], errors: &[] },
];

/// Every (method, path) documented, for the route-coverage test.
pub fn documented_routes() -> Vec<(&'static str, &'static str)> {
    OPERATIONS.iter().map(|o| (o.method, o.path)).collect()
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for operation in OPERATIONS {
        let entry = paths.entry(operation.path).or_insert_with(|| json!({}));
        entry[operation.method] = describe(operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "alert-ledger",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An append-only, tamper-evident ledger of alerts. Every view is a fold over the log; every response carries X-Ledger-Position. Unknown query parameters are refused with a 422 problem naming `query.<name>`."
        },
        "servers": [{ "url": "http://127.0.0.1:8470" }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "A token from --tokens-file or ALERT_LEDGER_TOKENS; roles reader < writer < admin" } },
            "schemas": schemas::components(),
            "headers": {
                "X-Ledger-Position": {
                    "description": "The log position the answer reflects",
                    "required": true,
                    "schema": { "type": "string", "pattern": "^[0-9]+$" }
                }
            }
        }
    })
}

fn describe(operation: &Operation) -> Value {
    let mut out = json!({
        "summary": operation.summary,
        "operationId": operation_id(operation.method, operation.path),
        "parameters": params::parameters(operation.method, operation.path, operation.query),
        "responses": responses(operation),
    });
    match operation.role {
        Some(role) => {
            out["security"] = json!([{ "bearer": [] }]);
            out["x-required-role"] = json!(role);
        }
        None => out["security"] = json!([]),
    }
    if let Some((required, body)) = operation.body {
        out["requestBody"] = json!({
            "required": required,
            "content": { "application/json": { "schema": body() } }
        });
    }
    crate::http::receivers::describe_operation(operation.path, &mut out);
    if operation.method == "post" {
        idempotency_layer(&mut out);
    }
    add_position_header(&mut out["responses"]);
    out
}

fn operation_id(method: &str, path: &str) -> String {
    let path: String = path
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("{method}{}", path.trim_end_matches('_'))
}

fn responses(operation: &Operation) -> Value {
    let mut out = Map::new();
    for &(status, description, reply) in operation.replies {
        let content = match reply {
            Reply::Json(name) => {
                json!({ "application/json": { "schema": schemas::reference(name) } })
            }
            Reply::Events => json!({
                "application/json": { "schema": schemas::reference("EventPage") },
                "application/x-ndjson": { "schema": { "type": "string", "description": "One recorded event per line; the next page's start in X-Ledger-Next" } }
            }),
            Reply::Sse => json!({ "text/event-stream": { "schema": { "type": "string" } } }),
            Reply::MemberEvents => json!({
                "application/json": { "schema": schemas::reference("ConsumerPage") },
                "text/event-stream": { "schema": { "type": "string", "description": "With Accept: text/event-stream: `id:` position, `event:` type, `data:` the recorded event, as long as the member reads" } }
            }),
            Reply::Text => json!({ "text/plain": { "schema": { "type": "string" } } }),
        };
        let mut response = json!({ "description": description, "content": content });
        if let Some(links) = links::links(operation.method, operation.path) {
            response["links"] = links;
        }
        out.insert(status.to_string(), response);
    }
    for &status in operation.errors {
        out.insert(status.to_string(), problem(status));
    }
    Value::Object(out)
}

fn problem(status: u16) -> Value {
    let description = match status {
        400 => "Malformed body: not JSON, a wrong type or an unknown field",
        401 => "Missing or unknown token",
        403 => "The token's role is too low",
        404 => "Nothing at this id",
        408 => "The body did not arrive within the body read timeout",
        409 => "Refused in the current state",
        413 => "Body larger than --body-limit",
        415 => "A body that is not application/json",
        422 => "A field, query parameter (unknown ones included) or header failed validation; `field` names it",
        503 => "Not caught up with min_position, or storage unavailable; retry after Retry-After",
        _ => "Error",
    };
    let mut out = json!({
        "description": description,
        "content": { "application/problem+json": { "schema": schemas::reference("Problem") } }
    });
    let header = |description: &str| json!({ "required": true, "description": description, "schema": { "type": "string" } });
    match status {
        401 => {
            out["headers"] = json!({ "WWW-Authenticate": header("Bearer realm=\"alert-ledger\"") })
        }
        503 => out["headers"] = json!({ "Retry-After": header("Seconds to wait") }),
        _ => {}
    }
    out
}

/// The idempotency layer runs in front of every POST, the receivers' included (whose
/// parameters and answers `describe_operation` may have replaced): each takes an
/// `Idempotency-Key`, and a bad or reused one is a 422 problem.
fn idempotency_layer(operation: &mut Value) {
    if let Some(parameters) = operation["parameters"].as_array_mut() {
        let header = params::idempotency_key();
        if !parameters.iter().any(|p| p["name"] == header["name"]) {
            parameters.push(header);
        }
    }
    if let Some(responses) = operation["responses"].as_object_mut() {
        responses.entry("422").or_insert_with(|| problem(422));
    }
}

/// Every response carries `X-Ledger-Position` (the service stamps it on all of them).
fn add_position_header(responses: &mut Value) {
    let Some(responses) = responses.as_object_mut() else {
        return;
    };
    for response in responses.values_mut() {
        if !response["headers"].is_object() {
            response["headers"] = json!({});
        }
        response["headers"]["X-Ledger-Position"] =
            json!({ "$ref": "#/components/headers/X-Ledger-Position" });
    }
}
