//! The alert lifecycle as a client sees it, and the messages it queues.

use crate::helpers::{spawn_app, trigger_body};
use serde_json::json;

#[tokio::test]
async fn an_alert_goes_from_triggered_to_acknowledged_to_resolved_and_a_new_trigger_opens_a_new_alert(
) {
    let app = spawn_app().await;
    let body = trigger_body("checkout", "disk-full", "critical");

    let first = app.trigger(&body).await.expect(201);
    let alert_id = first.str("alert_id");
    assert_eq!(first.body["deduplicated"], false);
    assert_eq!(first.position_header(), first.position());

    let repeat = app.trigger(&body).await.expect(200);
    assert_eq!(repeat.str("alert_id"), alert_id);
    assert_eq!(repeat.body["deduplicated"], true);
    assert!(repeat.position() > first.position());

    let ack = app.ack(&alert_id).await.expect(200);
    assert_eq!(ack.body["changed"], true);
    let seen = app.get_alert(&alert_id, ack.position()).await.expect(200);
    assert_eq!(seen.body["status"], "acknowledged");
    assert_eq!(seen.body["repeat_count"], 1);

    let again = app.ack(&alert_id).await.expect(200);
    assert_eq!(again.body["changed"], false);

    let escalated = app.escalate(&alert_id).await.expect(200);
    let seen = app
        .get_alert(&alert_id, escalated.position())
        .await
        .expect(200);
    assert_eq!(seen.body["escalation_step"], 1);

    let resolved = app.resolve(&alert_id).await.expect(200);
    let seen = app
        .get_alert(&alert_id, resolved.position())
        .await
        .expect(200);
    assert_eq!(seen.body["status"], "resolved");

    app.ack(&alert_id)
        .await
        .expect_problem(409, "alert-resolved");

    let note = app.note(&alert_id, "post-incident: disk cleaned").await;
    let note = note.expect(200);
    assert_eq!(note.body["changed"], true);

    let reopened = app.trigger(&body).await.expect(201);
    assert_ne!(reopened.str("alert_id"), alert_id);
    assert_eq!(reopened.body["deduplicated"], false);

    let history = app.history_types(&alert_id, reopened.position()).await;
    assert_eq!(
        history,
        [
            "alert_triggered",
            "trigger_repeated",
            "alert_acknowledged",
            "alert_escalated",
            "alert_resolved",
            "note_added",
        ]
    );
}

#[tokio::test]
async fn an_unknown_alert_is_a_404_problem_and_a_malformed_id_names_the_path_field() {
    let app = spawn_app().await;
    let unknown = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";

    app.get_alert(unknown, 0)
        .await
        .expect_problem(404, "not-found");
    app.ack(unknown).await.expect_problem(404, "not-found");
    app.history(unknown, 0)
        .await
        .expect_problem(404, "not-found");

    let bad = app
        .ack("not-a-uuid")
        .await
        .expect_problem(422, "validation");
    assert_eq!(bad.body["field"], "path.id");
    let bad = app.get("/v1/alerts/not-a-uuid").await;
    let bad = bad.expect_problem(422, "validation");
    assert_eq!(bad.body["field"], "path.id");
}

#[tokio::test]
async fn a_trigger_with_two_channels_queues_two_new_alert_messages_caused_by_the_trigger() {
    let app = spawn_app().await;
    for id in ["a", "b"] {
        let channel =
            json!({"id": id, "name": id, "kind": "webhook", "url": "http://127.0.0.1:9/"});
        app.post("/v1/channels", &channel).await.expect(201);
    }
    let mut body = trigger_body("payments", "latency", "error");
    body["channels"] = json!(["a", "b"]);

    let created = app.trigger(&body).await.expect(201);
    let alert_id = created.str("alert_id");
    let alert = app
        .get_alert(&alert_id, created.position())
        .await
        .expect(200);
    let stream = alert.str("stream");

    let page = app
        .get(&format!(
            "/v1/messages?alert_id={alert_id}&min_position={}",
            created.position()
        ))
        .await
        .expect(200);
    let items = page.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{page:?}");
    let mut channels: Vec<&str> = items
        .iter()
        .map(|m| m["channel"].as_str().unwrap())
        .collect();
    channels.sort();
    assert_eq!(channels, ["a", "b"]);
    for message in items {
        assert_eq!(message["kind"], "new_alert");
        assert_eq!(message["state"], "pending");
        assert_eq!(message["alert_id"], alert_id.as_str());
        assert_eq!(message["cause"], json!({ "stream": stream, "version": 0 }));
        let id = message["id"].as_str().unwrap();
        let one = app.get(&format!("/v1/messages/{id}")).await.expect(200);
        assert_eq!(&one.body, message);
    }

    let ack = app.ack(&alert_id).await.expect(200);
    let page = app
        .get(&format!(
            "/v1/messages?alert_id={alert_id}&min_position={}",
            ack.position()
        ))
        .await
        .expect(200);
    let items = page.body["items"].as_array().expect("items");
    let acked: Vec<_> = items
        .iter()
        .filter(|m| m["kind"] == "acknowledged")
        .collect();
    assert_eq!(acked.len(), 2, "{page:?}");
    assert!(acked.iter().all(|m| m["state"] == "pending"));

    let unknown = "9a7b3c2d-1e0f-4a5b-8c6d-7e8f9a0b1c2d";
    app.get(&format!("/v1/messages/{unknown}"))
        .await
        .expect_problem(404, "not-found");
}
