//! Failed attempts: retries with backoff, permanent answers, timeouts, channels
//! that are gone. Every attempt must be in the message's stream.

use crate::receiver::{closed_url, Answer, Receiver};
use crate::{
    message, message_events, one_message, route, service_with_channel, spawn_ledger, types,
    wait_for_state,
};
use serde_json::Value;
use std::time::Duration;

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test]
async fn a_receiver_that_refuses_connections_is_retried_then_abandoned_after_the_last_attempt() {
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    let service = service_with_channel(api, "down", "webhook", &closed_url().await).await;
    let id = one_message(api, &service, "k").await;

    let row = wait_for_state(api, &id, "abandoned").await;
    assert_eq!(row["attempts"], 3);
    let events = message_events(api, &id).await;
    assert_eq!(
        types(&events),
        [
            "message_claimed",
            "delivery_attempted",
            "message_failed",
            "message_claimed",
            "delivery_attempted",
            "message_failed",
            "message_claimed",
            "delivery_attempted",
            "message_abandoned",
        ]
    );
    let attempts: Vec<u64> = of_type(&events, "delivery_attempted")
        .iter()
        .map(|e| e["attempt"].as_u64().unwrap())
        .collect();
    assert_eq!(attempts, [1, 2, 3]);
    for failed in of_type(&events, "message_failed") {
        let error = failed["error"].as_str().unwrap();
        assert!(error.starts_with("connection failed"), "{error}");
        assert!(
            failed["retry_at"].is_string(),
            "a retry is scheduled: {failed}"
        );
    }
    let reason = events.last().unwrap()["reason"].as_str().unwrap();
    assert!(
        reason.contains("gave up after 3 attempts") && reason.contains("connection failed"),
        "{reason}"
    );
    assert!(
        !reason.contains("127.0.0.1"),
        "errors leave the URL out: {reason}"
    );
    assert_eq!(row["last_error"].as_str(), Some(reason));
    ledger.stop().await;
}

#[tokio::test]
async fn a_slow_receiver_times_out_the_attempt_and_the_message_waits_to_be_retried() {
    let receiver = Receiver::start().await;
    // A backoff long enough to see the message waiting for its retry.
    let ledger = spawn_ledger(|config| {
        config.dispatch.backoff.base = Duration::from_millis(2_000);
        config.dispatch.backoff.max = Duration::from_millis(2_000);
    })
    .await;
    let api = &ledger.api;
    receiver.script("/slow", [Answer::Slow(Duration::from_secs(3))]);
    let service = service_with_channel(api, "slow", "webhook", &receiver.url("/slow")).await;
    let id = one_message(api, &service, "k").await;

    let waiting = wait_for_state(api, &id, "failed_will_retry").await;
    assert_eq!(waiting["attempts"], 1);
    assert_eq!(waiting["last_error"], "timed out after 500 ms");
    let retry_at: chrono::DateTime<chrono::Utc> = waiting["next_attempt_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_at > chrono::Utc::now() - chrono::Duration::seconds(1));

    let delivered = wait_for_state(api, &id, "delivered").await;
    assert_eq!(delivered["attempts"], 2);
    let got = receiver.requests("/slow");
    assert_eq!(got.len(), 2);
    assert!(got[1].at >= retry_at, "the retry waited for its time");
    ledger.stop().await;
}

#[tokio::test]
async fn a_server_error_then_success_is_delivered_on_the_second_attempt() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    receiver.script("/flaky", [Answer::Status(500)]);
    let service = service_with_channel(api, "flaky", "webhook", &receiver.url("/flaky")).await;
    let id = one_message(api, &service, "k").await;

    let row = wait_for_state(api, &id, "delivered").await;
    assert_eq!(row["attempts"], 2);
    assert_eq!(
        row["last_error"],
        "HTTP 500 Internal Server Error; body: scripted 500"
    );
    let events = message_events(api, &id).await;
    let delivered = of_type(&events, "message_delivered");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["attempt"], 2);
    let got = receiver.requests("/flaky");
    assert_eq!(got.len(), 2);
    for (n, request) in got.iter().enumerate() {
        assert_eq!(request.header("idempotency-key"), Some(id.as_str()));
        assert_eq!(
            request.header("x-ledger-attempt"),
            Some(&*(n + 1).to_string())
        );
    }
    ledger.stop().await;
}

#[tokio::test]
async fn gone_abandons_the_message_at_once() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    receiver.script("/gone", [Answer::Status(410)]);
    let service = service_with_channel(api, "gone", "webhook", &receiver.url("/gone")).await;
    let id = one_message(api, &service, "k").await;

    let row = wait_for_state(api, &id, "abandoned").await;
    assert_eq!(row["attempts"], 1);
    let events = message_events(api, &id).await;
    assert_eq!(
        types(&events),
        ["message_claimed", "delivery_attempted", "message_abandoned"]
    );
    let reason = events[2]["reason"].as_str().unwrap();
    assert!(reason.starts_with("HTTP 410 Gone"), "{reason}");
    assert_eq!(receiver.requests("/gone").len(), 1);
    ledger.stop().await;
}

#[tokio::test]
async fn a_client_error_is_permanent_but_too_many_requests_is_retried() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    receiver.script("/bad", [Answer::Status(400)]);
    receiver.script("/busy", [Answer::TooMany(0), Answer::Status(408)]);
    let bad = service_with_channel(api, "bad", "webhook", &receiver.url("/bad")).await;
    let busy = service_with_channel(api, "busy", "webhook", &receiver.url("/busy")).await;
    let bad_id = one_message(api, &bad, "k").await;
    let busy_id = one_message(api, &busy, "k").await;

    let abandoned = wait_for_state(api, &bad_id, "abandoned").await;
    assert_eq!(abandoned["attempts"], 1);
    let reason = abandoned["last_error"].as_str().unwrap();
    assert!(reason.starts_with("HTTP 400 Bad Request"), "{reason}");
    let delivered = wait_for_state(api, &busy_id, "delivered").await;
    assert_eq!(delivered["attempts"], 3);
    ledger.stop().await;
}

#[tokio::test]
async fn a_message_whose_channel_was_removed_is_abandoned_without_sending() {
    let receiver = Receiver::start().await;
    // This instance does not send, so the message is still pending when the channel goes.
    let quiet = spawn_ledger(|config| config.dispatch.enabled = false).await;
    let api = &quiet.api;
    let service = service_with_channel(api, "old", "webhook", &receiver.url("/old")).await;
    let id = one_message(api, &service, "k").await;
    assert_eq!(message(api, &id).await.body["state"], "pending");
    // A channel a route still names cannot be removed: route the service elsewhere.
    route(api, &service, &[]).await;
    api.send(reqwest::Method::DELETE, "/v1/channels/old-webhook", None)
        .await
        .expect(200);
    let data_dir = quiet.stop().await;

    let ledger = crate::spawn_ledger_in(data_dir, |_| {}).await;
    let row = wait_for_state(&ledger.api, &id, "abandoned").await;
    assert_eq!(row["attempts"], 0);
    assert_eq!(row["last_error"], "channel old-webhook was removed");
    let events = message_events(&ledger.api, &id).await;
    assert_eq!(types(&events), ["message_abandoned"]);
    assert!(receiver.requests("/old").is_empty(), "nothing was sent");
    ledger.stop().await;
}

#[tokio::test]
async fn a_channel_removed_while_a_retry_waits_abandons_the_message_without_another_attempt() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|config| {
        config.dispatch.backoff.base = Duration::from_secs(30);
        config.dispatch.backoff.max = Duration::from_secs(30);
    })
    .await;
    let api = &ledger.api;
    receiver.script("/retiring", [Answer::Status(503)]);
    let service =
        service_with_channel(api, "retiring", "webhook", &receiver.url("/retiring")).await;
    let id = one_message(api, &service, "k").await;
    wait_for_state(api, &id, "failed_will_retry").await;
    route(api, &service, &[]).await;
    api.send(
        reqwest::Method::DELETE,
        "/v1/channels/retiring-webhook",
        None,
    )
    .await
    .expect(200);

    let row = wait_for_state(api, &id, "abandoned").await;
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["last_error"], "channel retiring-webhook was removed");
    assert_eq!(receiver.requests("/retiring").len(), 1);
    ledger.stop().await;
}
