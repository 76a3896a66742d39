//! `Idempotency-Key`: a retried POST gets the first answer and writes nothing.

use crate::helpers::{spawn_app, trigger_body, Api, Reply};
use serde_json::Value;

async fn trigger_keyed(api: &Api, key: &str, body: &Value) -> Reply {
    let request = api
        .request(reqwest::Method::POST, "/v1/alerts")
        .header("idempotency-key", key)
        .json(body);
    Reply::read(request.send().await.expect("the request is sent")).await
}

/// A body without a dedup key: every trigger that is not replayed opens a new alert.
fn fresh_alert(summary: &str) -> Value {
    let mut body = trigger_body("idem", "unused", "warning");
    body.as_object_mut().unwrap().remove("dedup_key");
    body["summary"] = summary.into();
    body
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_first_answer_and_writes_once() {
    let app = spawn_app().await;
    let before = app.head_position().await;
    let body = fresh_alert("retried");

    let first = trigger_keyed(&app, "key-1", &body).await.expect(201);
    let second = trigger_keyed(&app, "key-1", &body).await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.text, first.text);
    assert_eq!(app.head_position().await, before + 1);

    let reused = trigger_keyed(&app, "key-1", &fresh_alert("something else")).await;
    reused.expect_problem(422, "idempotency-key-reused");
    assert_eq!(app.head_position().await, before + 1);

    let other = trigger_keyed(&app, "key-2", &body).await.expect(201);
    assert_ne!(other.str("alert_id"), first.str("alert_id"));
    assert_eq!(app.head_position().await, before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_requests_with_one_key_write_once() {
    let app = spawn_app().await;
    let before = app.head_position().await;
    let body = fresh_alert("stampede");

    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let api = app.api();
            let body = body.clone();
            tokio::spawn(async move { trigger_keyed(&api, "stampede-key", &body).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.expect("the request task did not panic"));
    }

    assert!(replies.iter().all(|r| r.status == 201), "{replies:?}");
    assert!(replies.iter().all(|r| r.text == replies[0].text));
    assert_eq!(app.head_position().await, before + 1);
}
