//! Error messages name the real cause: an alert resolved by its resource's deletion
//! says so, and a missing field is named in the problem's `field`. The message list
//! comes in queue order, a page at a time.

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

#[tokio::test]
async fn messages_are_listed_oldest_queued_first_a_page_at_a_time_and_an_unknown_cursor_is_refused()
{
    let app = spawn_app().await;
    for id in ["a", "b"] {
        let channel =
            json!({"id": id, "name": id, "kind": "webhook", "url": "http://127.0.0.1:9/"});
        app.post("/v1/channels", &channel).await.expect(201);
    }
    // Six alerts, one after the other, each queueing a message on both channels: twelve
    // messages whose ids (hashes) are in no particular order.
    let mut alerts = Vec::new();
    let mut last = 0;
    for n in 0..6 {
        let mut body = trigger_body("payments", &format!("key-{n}"), "error");
        body["channels"] = json!(["a", "b"]);
        let created = app.trigger(&body).await.expect(201);
        last = created.position();
        alerts.push(created.str("alert_id"));
    }

    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!("/v1/messages?limit=5&min_position={last}{cursor}"))
            .await
            .expect(200);
        listed.extend(page.body["items"].as_array().expect("items").clone());
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(listed.len(), 12, "every message once: {listed:?}");
    let order: Vec<(String, String)> = listed
        .iter()
        .map(|m| {
            (
                m["queued_at"].as_str().unwrap().to_owned(),
                m["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "queue order: queued_at, then id");
    let by_alert: Vec<&str> = listed
        .iter()
        .map(|m| m["alert_id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = alerts
        .iter()
        .flat_map(|id| [id.as_str(), id.as_str()])
        .collect();
    assert_eq!(by_alert, expected, "the first alert's messages come first");

    // A filter keeps the same order.
    let on_b = app
        .get(&format!("/v1/messages?channel=b&min_position={last}"))
        .await
        .expect(200);
    let on_b: Vec<&str> = on_b.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(on_b, alerts.iter().map(String::as_str).collect::<Vec<_>>());

    let unknown = app
        .get("/v1/messages?cursor=00000000-0000-0000-0000-000000000001")
        .await
        .expect_problem(422, "validation");
    assert_eq!(unknown.body["field"], "query.cursor");
}
