//! At most one open alert per (service, dedup key), even under concurrent triggers.

use crate::helpers::{spawn_app, trigger_body};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_triggers_with_one_dedup_key_open_exactly_one_alert() {
    let app = spawn_app().await;
    let body = trigger_body("search", "index-stale", "critical");

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let api = app.api();
            let body = body.clone();
            tokio::spawn(async move { api.trigger(&body).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the request task did not panic"));
    }

    let created = replies.iter().filter(|r| r.status == 201).count();
    let repeated = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        (created, repeated),
        (1, 199),
        "statuses: {:?}",
        statuses(&replies)
    );
    let alert_id = replies[0].str("alert_id");
    assert!(replies.iter().all(|r| r.str("alert_id") == alert_id));
    let newest = replies.iter().map(|r| r.position()).max().unwrap();

    let open = app
        .list_alerts(&format!(
            "status=triggered&service=search&min_position={newest}"
        ))
        .await
        .expect(200);
    let items = open.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{open:?}");
    assert_eq!(items[0]["id"], alert_id.as_str());
    assert_eq!(items[0]["repeat_count"], 199);

    let history = app.history_types(&alert_id, newest).await;
    assert_eq!(history.len(), 200);
    assert_eq!(history[0], "alert_triggered");
    assert!(history[1..].iter().all(|t| t == "trigger_repeated"));
}

fn statuses(replies: &[crate::helpers::Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}
