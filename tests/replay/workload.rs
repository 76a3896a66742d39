//! A small incident history that touches every view, and a way to read every view.

use crate::helpers::{trigger_body, Api};
use serde_json::{json, Value};

/// Writes a resource, two channels, alerts (with those channels and repeats), acks,
/// resolves, notes, a task with results and the resource's deletion. Returns the head
/// position afterwards.
pub async fn write_history(api: &Api, rounds: usize) -> u64 {
    api.register_sync("db-cluster", "Primary database cluster")
        .await
        .expect(201);
    for (id, kind) in [("oncall", "webhook"), ("slack", "slack")] {
        let channel = json!({"id": id, "name": id, "kind": kind, "url": "http://127.0.0.1:9/hook"});
        let created = api.post("/v1/channels", &channel).await;
        assert!(created.status.is_success(), "{created:?}");
    }
    for round in 0..rounds {
        let mut body = trigger_body("payments", &format!("key-{round}"), "critical");
        body["channels"] = json!(["oncall", "slack"]);
        if round.is_multiple_of(3) {
            body["resource"] = json!("db-cluster");
        }
        let id = api.trigger(&body).await.expect(201).str("alert_id");
        api.trigger(&body).await.expect(200);
        if round.is_multiple_of(2) {
            api.ack(&id).await.expect(200);
        }
        if round % 4 == 1 {
            api.note(&id, "looked at it").await.expect(200);
            api.resolve(&id).await.expect(200);
        }
    }
    let task =
        json!({"script": "systemctl restart app", "hosts": ["h1", "h2"], "timeout_secs": 60});
    let task_id = api.post("/v1/tasks", &task).await.expect(201).str("id");
    let result = json!({"exit_code": 0, "output_tail": "restarted"});
    api.post(&format!("/v1/tasks/{task_id}/hosts/h1/result"), &result)
        .await
        .expect(200);
    api.delete_sync("db-cluster").await.expect(200);
    api.head_position().await
}

/// Every view, read at `min_position` (or `as_of` when `query` says so).
pub async fn all_views(api: &Api, query: &str) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/v1/alerts",
        "/v1/alarms",
        "/v1/messages",
        "/v1/tasks",
        "/v1/syncs",
    ] {
        let separator = if path == "/v1/alerts" || path == "/v1/messages" {
            "&limit=1000"
        } else {
            ""
        };
        let reply = api
            .get(&format!("{path}?{query}{separator}"))
            .await
            .expect(200);
        out.insert(path.to_owned(), reply.body);
    }
    Value::Object(out)
}
