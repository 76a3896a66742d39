//! Parameters: the path parameters of each template, the query parameters each
//! handler accepts (derived from the handler's query struct: any other name is refused
//! with a 422 problem naming `query.<name>`), and the headers the service reads.

use crate::http::query::{documented, schema, ViewAt};
use serde_json::{json, Value};
use utoipa::openapi::path::Parameter;
use utoipa::openapi::{RefOr, Schema};
use utoipa::{IntoParams, PartialSchema};

/// The query parameters of an operation.
pub type Query = fn() -> Vec<Parameter>;

/// No query parameters.
pub fn none() -> Vec<Parameter> {
    Vec::new()
}

/// The parameters of a route's query struct.
pub fn of<T: IntoParams>() -> Vec<Parameter> {
    documented::<T>()
}

/// A read over the views: its own parameters, then `min_position` and `as_of`.
pub fn viewed<T: IntoParams>() -> Vec<Parameter> {
    let mut params = documented::<T>();
    params.extend(documented::<ViewAt>());
    params
}

fn host() -> Value {
    as_json(schema::Host::schema())
}

fn name_pattern() -> Value {
    as_json(schema::Name::schema())
}

fn uuid() -> Value {
    as_json(schema::Uuid::schema())
}

fn as_json(schema: RefOr<Schema>) -> Value {
    serde_json::to_value(schema).unwrap_or_else(|err| panic!("a schema: {err}"))
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
pub fn parameters(method: &str, path: &str, query: Query) -> Value {
    let mut out: Vec<Value> = path
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": path_schema(path, name) }))
        .collect();
    out.extend(query().iter().map(|param| {
        serde_json::to_value(param).unwrap_or_else(|err| panic!("a query parameter: {err}"))
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
