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
