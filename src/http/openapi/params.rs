//! Parameters: the path parameters of each template, the query parameters each
//! handler accepts (any other is refused with a 422 problem naming `query.<name>`),
//! and the headers the service reads.

use serde_json::{json, Value};

/// A query parameter a route accepts.
#[derive(Clone, Copy)]
pub struct Query {
    name: &'static str,
    required: bool,
    schema: fn() -> Value,
    description: &'static str,
}

pub const fn q(name: &'static str, schema: fn() -> Value, description: &'static str) -> Query {
    Query {
        name,
        required: false,
        schema,
        description,
    }
}

/// A query parameter the route cannot answer without.
const fn required(query: Query) -> Query {
    Query {
        required: true,
        ..query
    }
}

fn position() -> Value {
    json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn name_pattern() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$" })
}

fn host() -> Value {
    json!({ "type": "string", "pattern": "^[A-Za-z0-9._:-]{1,253}$" })
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn limit_1000() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 1000, "default": 100 })
}

fn limit_10000() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": 10_000, "default": 100 })
}

fn as_of() -> Value {
    json!({
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            { "type": "string", "format": "date-time" }
        ]
    })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// Empty, or without a letter or digit: no filter.
fn search() -> Value {
    json!({ "type": "string", "maxLength": 256 })
}

fn severity() -> Value {
    json!({ "enum": ["critical", "error", "warning", "info"] })
}

/// `min_position` and `as_of`: every read over the views takes them, but not both at
/// once (a past view has nothing to wait for): the server answers a 422 naming
/// `query.as_of`, and both descriptions say so.
const MIN_POSITION: Query = q(
    "min_position",
    position,
    "Wait (at most --read-wait-ms) until the views reflect this position; 503 with Retry-After if they do not; a position after the head is a 422. Not with as_of: giving both is a 422 naming query.as_of",
);
const AS_OF: Query = q(
    "as_of",
    as_of,
    "The views as they were at a log position or an RFC 3339 time (not after the head). Not with min_position: giving both is a 422 naming query.as_of",
);

/// Reads over the views.
pub const VIEW: &[Query] = &[MIN_POSITION, AS_OF];

/// `GET /v1/alerts`.
pub const ALERTS: &[Query] = &[
    q(
        "status",
        || json!({ "enum": ["triggered", "acknowledged", "resolved"] }),
        "Only alerts in this status",
    ),
    q(
        "service",
        || json!({ "type": "string" }),
        "Only this service's alerts",
    ),
    q(
        "resource",
        || json!({ "type": "string" }),
        "Only alerts owned by this resource",
    ),
    q("severity", severity, "Only alerts of this severity"),
    q(
        "since",
        time,
        "Only alerts opened at or after this RFC 3339 time",
    ),
    q("until", time, "Only alerts opened before this RFC 3339 time"),
    q(
        "q",
        search,
        "Full-text search over summary and details: every word must match; a trailing * makes a word a prefix; words without a letter or digit are left out, and no word at all is no filter. Current text only: not with as_of (a 422 naming query.q)",
    ),
    q("limit", limit_1000, "Page size"),
    q("cursor", position, "`next_cursor` of the previous page"),
    MIN_POSITION,
    AS_OF,
];

/// `GET /v1/messages`.
pub const MESSAGES: &[Query] = &[
    q(
        "state",
        || json!({ "enum": ["pending", "claimed", "delivered", "failed_will_retry", "abandoned"] }),
        "Only messages in this delivery state",
    ),
    q("alert_id", uuid, "Only this alert's messages"),
    q(
        "channel",
        || json!({ "type": "string" }),
        "Only messages to this channel",
    ),
    q("limit", limit_1000, "Page size"),
    q("cursor", uuid, "`next_cursor` of the previous page"),
    MIN_POSITION,
    AS_OF,
];

/// `GET /v1/alarms`.
pub const ALARMS: &[Query] = &[
    q(
        "service",
        || json!({ "type": "string" }),
        "Only this service's alarms",
    ),
    q(
        "resource",
        || json!({ "type": "string" }),
        "Only alarms on this resource",
    ),
    q("severity", severity, "Only alarms of this severity"),
    q(
        "acknowledged",
        boolean,
        "Only acknowledged (true) or unacknowledged (false) alarms",
    ),
    MIN_POSITION,
    AS_OF,
];

/// `GET /v1/syncs`.
pub const SYNCS: &[Query] = &[
    q(
        "deleted",
        boolean,
        "Only deleted (true) or live (false) resources",
    ),
    q("limit", limit_1000, "Page size"),
    q("cursor", name_pattern, "`next_cursor` of the previous page"),
    MIN_POSITION,
    AS_OF,
];

/// `GET /v1/tasks`.
pub const TASKS: &[Query] = &[
    q("host", host, "Only tasks that run on this host"),
    q(
        "pending",
        boolean,
        "Only unfinished tasks (with host: the host's run is unfinished)",
    ),
    q("alert_id", uuid, "Only tasks started for this alert"),
    q("limit", limit_1000, "Page size"),
    q("cursor", uuid, "`next_cursor` of the previous page"),
    MIN_POSITION,
    AS_OF,
];

/// `GET /v1/streams/{stream}`.
pub const STREAM: &[Query] = &[
    q(
        "from",
        position,
        "First stream version (default: 0 forward, the last backward)",
    ),
    q(
        "direction",
        || json!({ "enum": ["forward", "backward"], "default": "forward" }),
        "Reading direction",
    ),
    q("limit", limit_10000, "Page size"),
];

fn tree_size() -> Value {
    json!({ "type": "integer", "minimum": 1, "maximum": u64::MAX })
}

/// `GET /v1/ledger/proof/inclusion`.
pub const INCLUSION: &[Query] = &[
    required(q("position", tree_size, "The event's position (at most tree_size)")),
    q("tree_size", tree_size, "The tree to prove it in, e.g. a saved digest's tree_size (default: the tree now; at most the head)"),
];

/// `GET /v1/ledger/proof/consistency`.
pub const CONSISTENCY: &[Query] = &[
    required(q(
        "from",
        tree_size,
        "The earlier tree's size, e.g. an older digest's tree_size (at most to)",
    )),
    q(
        "to",
        tree_size,
        "The later tree's size (default: the tree now; at most the head)",
    ),
];

/// `GET /v1/events`.
pub const EVENTS: &[Query] = &[
    q("from", position, "First position (default 1)"),
    q("limit", limit_10000, "Page size"),
];

/// `GET /v1/subscribe`.
pub const SUBSCRIBE: &[Query] = &[
    q(
        "from",
        || json!({ "anyOf": [{ "type": "integer", "minimum": 0, "maximum": u64::MAX }, { "const": "end" }], "default": "end" }),
        "The first position delivered, or `end`: only events appended after the request",
    ),
    q("stream", stream_filter, "Only this exact stream"),
    q(
        "category",
        || json!({ "type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F-]*$" }),
        "Only streams named `<category>-…`",
    ),
    q(
        "type",
        event_types,
        "Only these event types (repeated or comma-separated)",
    ),
];

fn stream_filter() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*$" })
}

/// Every event type this build knows, as an array of them.
pub(super) fn event_types() -> Value {
    let types: Vec<&str> = projections::Event::TYPES.iter().map(|(t, _)| *t).collect();
    json!({ "type": "array", "items": { "enum": types } })
}

/// The schema of a path parameter, by the name it has in the template.
fn path_schema(path: &str, name: &str) -> Value {
    match (path, name) {
        ("/v1/streams/{stream}", _) => json!({ "type": "string", "minLength": 1 }),
        (_, "host") => host(),
        (p, "name") if p.starts_with("/v1/consumers/") => name_pattern(),
        (_, "name") => {
            json!({ "enum": ["all", "alerts", "messages", "alarms", "tasks", "syncs"] })
        }
        (p, "id")
            if p.starts_with("/v1/alerts/")
                || p.starts_with("/v1/messages/")
                || p.starts_with("/v1/tasks/") =>
        {
            uuid()
        }
        _ => name_pattern(),
    }
}

/// Path parameters, then query parameters, then `Idempotency-Key` on POSTs and
/// `Last-Event-ID` on the subscription.
pub fn parameters(method: &str, path: &str, query: &[Query]) -> Value {
    let mut out: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_schema(path, name) }))
        .collect();
    out.extend(query.iter().map(|p| {
        let mut param = json!({
            "name": p.name,
            "in": "query",
            "required": p.required,
            "schema": (p.schema)(),
            "description": p.description,
        });
        if p.name == "type" {
            param["style"] = json!("form");
            param["explode"] = json!(true);
        }
        param
    }));
    if method == "post" {
        out.push(idempotency_key());
    }
    if path == "/v1/subscribe" {
        out.push(json!({
            "name": "Last-Event-ID",
            "in": "header",
            "required": false,
            "description": "The position of the last event received; delivery resumes after it (overrides from)",
            "schema": { "type": "string", "pattern": "^\\s*[0-9]*\\s*$" }
        }));
    }
    Value::Array(out)
}

/// The `Idempotency-Key` header every POST takes.
pub fn idempotency_key() -> Value {
    json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "A retry with the same key, credentials, path and body gets the first response again and writes nothing; the same key with another body is a 422",
        "schema": { "type": "string", "pattern": "^[!-~]{1,255}$" }
    })
}
