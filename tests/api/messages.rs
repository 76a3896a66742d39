//! Error messages name the real cause: an alert resolved by its resource's deletion
//! says so, and a missing field is named in the problem's `field`.

use crate::helpers::{spawn_app, trigger_body};
use serde_json::json;

#[tokio::test]
async fn acting_on_an_alert_its_resources_deletion_resolved_says_the_resource_was_deleted() {
    let app = spawn_app().await;
    app.register_sync("db-1", "primary database")
        .await
        .expect(201);
    let mut body = trigger_body("db", "disk-full", "critical");
    body["resource"] = json!("db-1");
    let alert_id = app.trigger(&body).await.expect(201).str("alert_id");
    app.delete_sync("db-1").await.expect(200);
    let head = app.head_position().await;

    for path in ["acknowledge", "resolve", "escalate"] {
        let refused = app
            .post_empty(&format!("/v1/alerts/{alert_id}/{path}"))
            .await
            .expect_problem(409, "alert-resolved");
        assert_eq!(
            refused.body["detail"],
            format!(
                "alert {alert_id} was resolved when its resource db-1 was deleted; alarms can no longer be raised on that resource"
            ),
            "{path}"
        );
    }
    assert_eq!(app.head_position().await, head, "nothing was written");

    // A person's resolution still reads as before.
    let other = app
        .trigger(&trigger_body("db", "latency", "warning"))
        .await
        .expect(201)
        .str("alert_id");
    app.resolve(&other).await.expect(200);
    let refused = app.ack(&other).await.expect_problem(409, "alert-resolved");
    assert_eq!(
        refused.body["detail"],
        format!("alert {other} is already resolved; a new trigger opens a new alert")
    );
}

#[tokio::test]
async fn a_missing_required_field_is_a_400_naming_the_field_with_its_path() {
    let app = spawn_app().await;
    let head = app.head_position().await;
    let mut no_summary = trigger_body("checkout", "missing", "warning");
    no_summary.as_object_mut().unwrap().remove("summary");
    let cases = [
        ("/v1/alerts", no_summary, "summary"),
        (
            "/v1/policies",
            json!({ "id": "p", "name": "p", "steps": [{ "delay_secs": 1 }, { "channels": [] }] }),
            "steps[1].delay_secs",
        ),
        (
            "/v1/tasks",
            json!({ "script": "true", "hosts": ["h1"] }),
            "timeout_secs",
        ),
        ("/v1/syncs", json!({ "name": "no id" }), "id"),
    ];
    for (path, body, field) in cases {
        let reply = app
            .post(path, &body)
            .await
            .expect_problem(400, "malformed-body");
        assert_eq!(reply.body["field"], field, "{path}: {reply:?}");
        let detail = reply.body["detail"].as_str().unwrap();
        let name = field.rsplit('.').next().unwrap();
        assert!(
            detail.starts_with(&format!("malformed request body: missing field `{name}`")),
            "{path}: {detail}"
        );
    }
    assert_eq!(app.head_position().await, head, "nothing was written");
}
