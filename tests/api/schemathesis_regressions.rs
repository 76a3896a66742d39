//! Server bugs Schemathesis found by fuzzing the running service against
//! `/openapi.json` (`.ci/schemathesis`), one test per bug, so they stay fixed.

use crate::helpers::{spawn_app, trigger_body};

/// Found as `GET /v1/alarms?min_position=4918` on a log of 74 events: the read waited
/// and answered 503 "not caught up" with `Retry-After`, though no retry could ever
/// succeed (no write has that position). Bad input must be a 4xx naming the field.
#[tokio::test]
async fn a_min_position_beyond_the_log_head_is_a_422_naming_the_parameter_not_a_503() {
    let app = spawn_app().await;
    let alert = app
        .trigger(&trigger_body("regress", "beyond-head", "info"))
        .await
        .expect(201);
    let head = alert.position();
    let id = alert.str("alert_id");

    for path in [
        format!("/v1/alerts?min_position={}", head + 1),
        format!("/v1/alerts/{id}?min_position=4918"),
        format!("/v1/alerts/{id}/history?min_position=4918"),
        "/v1/alarms?min_position=4918".to_owned(),
        "/v1/messages?min_position=1499516".to_owned(),
        "/v1/routing?min_position=754".to_owned(),
        "/v1/tasks?min_position=1323&host=u".to_owned(),
        "/v1/syncs?min_position=18446744073709551615".to_owned(),
    ] {
        let reply = app.get(&path).await.expect_problem(422, "validation");
        assert_eq!(
            reply.body["field"], "query.min_position",
            "{path}: {reply:?}"
        );
    }

    // A position the log has is still waited for and answered.
    app.list_alerts(&format!("min_position={head}"))
        .await
        .expect(200);
}

/// Found by `--checks all` (positive data): the document refused `null` for fields the
/// server reads as `Option` (a trigger's `resource` and `dedup_key`, a task's `task_id`
/// and `alert_id`, a route's `policy`); the server took it as "not given". The derived
/// document now says so; this keeps the server's side of it.
#[tokio::test]
async fn null_is_the_same_as_leaving_an_optional_field_out() {
    let app = spawn_app().await;
    let mut body = trigger_body("regress", "unused", "info");
    body["resource"] = serde_json::Value::Null;
    body["dedup_key"] = serde_json::Value::Null;
    app.trigger(&body).await.expect(201);
    let task = serde_json::json!({
        "task_id": null, "alert_id": null, "script": "true", "hosts": ["h1"], "timeout_secs": 5
    });
    app.post("/v1/tasks", &task).await.expect(201);
    let route = serde_json::json!({ "channels": [], "policy": null });
    app.post("/v1/services/regress/route", &route)
        .await
        .expect(200);
}

/// Acknowledge and escalate take an object without fields (the type their schema is
/// derived from): `resolved_by` there is an unknown field, named, and nothing is written.
#[tokio::test]
async fn acknowledge_refuses_resolved_by_naming_it() {
    let app = spawn_app().await;
    let alert = app
        .trigger(&trigger_body("regress", "ack-fields", "info"))
        .await
        .expect(201);
    let id = alert.str("alert_id");
    let written = alert.position();
    for action in ["acknowledge", "escalate"] {
        let reply = app
            .post(
                &format!("/v1/alerts/{id}/{action}"),
                &serde_json::json!({ "resolved_by": "source" }),
            )
            .await
            .expect_problem(400, "malformed-body");
        assert_eq!(reply.body["field"], "resolved_by", "{reply:?}");
    }
    let status = app
        .get(&format!("/v1/alerts/{id}?min_position={written}"))
        .await
        .expect(200);
    assert_eq!(status.position_header(), written, "nothing was written");
    assert_eq!(status.body["status"], "triggered");
    app.post(
        &format!("/v1/alerts/{id}/acknowledge"),
        &serde_json::json!({}),
    )
    .await
    .expect(200);
}
