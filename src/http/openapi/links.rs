//! OpenAPI links from the answers that create something to the operations on it, so
//! clients (and Schemathesis' stateful phase) can follow an alert, task, resource,
//! channel, rule or consumer group from the write that made it.

use serde_json::{json, Map, Value};

/// Where the id of what a write created is found in its answer.
const ALERT_ID: &str = "$response.body#/alert_id";
const ID: &str = "$response.body#/id";
const NAME: &str = "$response.body#/name";

/// The operations a write's answer leads to: (method, path, path parameter values).
fn targets(method: &str, path: &str) -> Vec<(&'static str, &'static str, Value)> {
    let alert = json!({ "id": ALERT_ID });
    let id = json!({ "id": ID });
    let host = json!({ "id": ID, "host": "$request.body#/hosts/0" });
    match (method, path) {
        ("post", "/v1/alerts") => vec![
            ("get", "/v1/alerts/{id}", alert.clone()),
            ("get", "/v1/alerts/{id}/history", alert.clone()),
            ("post", "/v1/alerts/{id}/acknowledge", alert.clone()),
            ("post", "/v1/alerts/{id}/escalate", alert.clone()),
            ("post", "/v1/alerts/{id}/notes", alert.clone()),
            ("post", "/v1/alerts/{id}/resolve", alert),
        ],
        ("post", "/v1/tasks") => vec![
            ("get", "/v1/tasks/{id}", id.clone()),
            ("post", "/v1/tasks/{id}/hosts/{host}/start", host.clone()),
            ("post", "/v1/tasks/{id}/hosts/{host}/result", host),
            ("post", "/v1/tasks/{id}/cancel", id),
        ],
        ("post", "/v1/syncs") => vec![("delete", "/v1/syncs/{id}", id)],
        ("post", "/v1/channels") => vec![("delete", "/v1/channels/{id}", id)],
        ("post", "/v1/task-rules") => vec![("delete", "/v1/task-rules/{id}", id)],
        ("post", "/v1/consumers") => {
            let name = json!({ "name": NAME });
            vec![
                ("get", "/v1/consumers/{name}", name.clone()),
                ("delete", "/v1/consumers/{name}", name),
            ]
        }
        _ => Vec::new(),
    }
}

/// The `links` of a 2xx answer of `method path`, if it creates something.
pub fn links(method: &str, path: &str) -> Option<Value> {
    let targets = targets(method, path);
    if targets.is_empty() {
        return None;
    }
    let links: Map<String, Value> = targets
        .into_iter()
        .map(|(method, path, parameters)| {
            let operation_id = super::operation_id(method, path);
            let link = json!({ "operationId": operation_id, "parameters": parameters });
            (operation_id, link)
        })
        .collect();
    Some(Value::Object(links))
}
