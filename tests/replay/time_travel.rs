//! Views as they were at a past position or time.

use crate::helpers::{spawn_app_with, trigger_body};
use crate::workload::all_views;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_is_triggered_as_of_before_its_ack_and_acknowledged_after() {
    let app = spawn_app_with(|_| {}).await;
    let triggered = app
        .trigger(&trigger_body("web", "5xx", "error"))
        .await
        .expect(201);
    let id = triggered.str("alert_id");
    let before_ack = triggered.position();
    // Give the clock a visible step between the trigger and the ack.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let after_ack = app.ack(&id).await.expect(200).position();
    for i in 0..5 {
        app.trigger(&trigger_body("web", &format!("other-{i}"), "info"))
            .await
            .expect(201);
    }

    let then = app
        .get(&format!("/v1/alerts/{id}?as_of={before_ack}"))
        .await
        .expect(200);
    assert_eq!(then.body["status"], "triggered");
    assert_eq!(then.position_header(), before_ack);
    let later = app
        .get(&format!("/v1/alerts/{id}?as_of={after_ack}"))
        .await
        .expect(200);
    assert_eq!(later.body["status"], "acknowledged");
    let by_time = app
        .get(&format!(
            "/v1/alerts/{id}?as_of={}",
            between.to_rfc3339().replace('+', "%2B")
        ))
        .await
        .expect(200);
    assert_eq!(by_time.body["status"], "triggered");
    assert_eq!(by_time.position_header(), before_ack);

    let listed = app
        .get(&format!("/v1/alerts?as_of={before_ack}"))
        .await
        .expect(200);
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "later alerts did not exist yet"
    );
    let history = app
        .get(&format!("/v1/alerts/{id}/history?as_of={before_ack}"))
        .await
        .expect(200);
    let types: Vec<&str> = history.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["alert_triggered"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_as_of_the_head_equal_the_live_views_and_beyond_the_head_is_refused() {
    let app = spawn_app_with(|_| {}).await;
    let head = crate::workload::write_history(&app, 5).await;
    let live = all_views(&app, &format!("min_position={head}")).await;
    assert_eq!(all_views(&app, &format!("as_of={head}")).await, live);
    let refused = app.get(&format!("/v1/alarms?as_of={}", head + 100)).await;
    let refused = refused.expect_problem(422, "validation");
    assert_eq!(refused.body["field"], "query.as_of");
    let bad = app.get("/v1/alarms?as_of=yesterday").await;
    bad.expect_problem(422, "validation");
    app.stop().await;
}
