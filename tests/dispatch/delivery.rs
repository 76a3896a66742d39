//! Successful deliveries: bodies, headers, signatures, receipts, metrics.

use crate::receiver::Receiver;
use crate::{
    message_events, one_message, service_with_channel, spawn_ledger, types, wait_for_state, SECRET,
};
use alert_ledger::dispatch::sign;
use std::time::Duration;

#[tokio::test]
async fn a_webhook_is_delivered_once_with_its_body_idempotency_key_and_a_signature_that_verifies() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    let service = service_with_channel(api, "checkout", "webhook", &receiver.url("/hook")).await;
    let (alert, ids) = crate::trigger(api, &service, "disk-full").await;
    let id = &ids[0];

    let row = wait_for_state(api, id, "delivered").await;
    assert_eq!(row["attempts"], 1);
    assert!(
        row["receipt"].as_str().unwrap().starts_with("HTTP 200 OK"),
        "{row}"
    );

    let got = receiver.requests("/hook");
    assert_eq!(got.len(), 1, "exactly one request");
    let request = &got[0];
    assert_eq!(request.header("idempotency-key"), Some(id.as_str()));
    assert_eq!(request.header("x-ledger-message-id"), Some(id.as_str()));
    assert_eq!(request.header("x-ledger-attempt"), Some("1"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    let timestamp: i64 = request
        .header("x-ledger-timestamp")
        .unwrap()
        .parse()
        .unwrap();
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let expected = sign::signature(SECRET.as_bytes(), timestamp, &request.body);
    assert_eq!(
        request.header("x-ledger-signature"),
        Some(expected.as_str())
    );
    let forged = sign::signature(b"another-secret", timestamp, &request.body);
    assert_ne!(request.header("x-ledger-signature"), Some(forged.as_str()));

    let body = request.json();
    assert_eq!(body["schema"], "alert-ledger.webhook.v1");
    assert_eq!(body["message_id"], id.as_str());
    assert_eq!(body["kind"], "new_alert");
    assert_eq!(body["channel"], "checkout-webhook");
    assert_eq!(body["attempt"], 1);
    assert_eq!(body["alert"]["id"], alert.as_str());
    assert_eq!(body["alert"]["service"], "checkout");
    assert_eq!(body["alert"]["dedup_key"], "disk-full");
    assert_eq!(body["alert"]["summary"], "checkout disk-full is unhappy");
    assert_eq!(body["alert"]["severity"], "critical");
    assert_eq!(body["alert"]["status"], "triggered");
    assert!(body["cause"]["stream"]
        .as_str()
        .unwrap()
        .starts_with("alert-"));
    assert!(body["cause"]["version"].is_u64());
    assert_eq!(body["links"]["alert"], format!("/v1/alerts/{alert}"));
    assert_eq!(
        body["links"]["deliveries"],
        format!("/v1/streams/message-{id}")
    );

    let events = message_events(api, id).await;
    assert_eq!(
        types(&events),
        ["message_claimed", "delivery_attempted", "message_delivered"]
    );
    // Nothing else is sent later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests("/hook").len(), 1);
    ledger.stop().await;
}

#[tokio::test]
async fn a_slack_channel_gets_slacks_text_and_blocks_shape() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|config| {
        config.dispatch.public_url = Some("https://ledger.example/".into());
    })
    .await;
    let api = &ledger.api;
    let service = service_with_channel(api, "payments", "slack", &receiver.url("/slack")).await;
    let body = serde_json::json!({
        "service": service,
        "dedup_key": "latency",
        "summary": "p99 > 2s & <rising>",
        "severity": "error",
    });
    let reply = api.trigger(&body).await.expect(201);
    let alert = reply.str("alert_id");
    let got = crate::helpers::eventually("a Slack post", Duration::from_secs(10), || async {
        receiver.requests("/slack").first().cloned()
    })
    .await;

    let body = got.json();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("New alert"), "{text}");
    assert!(
        text.contains("[ERROR]") && text.contains("payments"),
        "{text}"
    );
    assert!(
        text.contains("p99 &gt; 2s &amp; &lt;rising&gt;"),
        "escaped: {text}"
    );
    let blocks = body["blocks"].as_array().expect("blocks");
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[1]["type"], "context");
    let context = blocks[1]["elements"][0]["text"].as_str().unwrap();
    assert!(
        context.contains(&format!(
            "<https://ledger.example/v1/alerts/{alert}|{alert}>"
        )),
        "{context}"
    );
    assert!(body.get("schema").is_none(), "not the webhook body");
    assert!(got.header("x-ledger-signature").is_some());
    ledger.stop().await;
}

#[tokio::test]
async fn delivery_outcomes_and_latency_are_in_the_metrics() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    let service = service_with_channel(api, "search", "webhook", &receiver.url("/hook")).await;
    receiver.script("/hook", [crate::receiver::Answer::Status(503)]);
    let id = one_message(api, &service, "cpu").await;
    wait_for_state(api, &id, "delivered").await;

    // The dispatcher counts an outcome once its append returns, which can be just after
    // the views show it: wait for the count rather than read it once.
    let delivered =
        r#"alert_ledger_dispatch_attempts_total{channel="webhook",outcome="delivered"} 1"#;
    let text =
        crate::helpers::eventually("the delivered count", Duration::from_secs(10), || async {
            let text = api.get("/metrics").await.expect(200).text;
            text.lines().any(|l| l == delivered).then_some(text)
        })
        .await;
    let has = |line: &str| text.lines().any(|l| l == line);
    assert!(
        has(r#"alert_ledger_dispatch_attempts_total{channel="webhook",outcome="failed"} 1"#),
        "{text}"
    );
    assert!(has(
        r#"alert_ledger_dispatch_duration_seconds_count{channel="webhook"} 2"#
    ));
    assert!(has(
        r#"alert_ledger_delivery_latency_seconds_count{channel="webhook"} 1"#
    ));
    ledger.stop().await;
}

#[tokio::test]
async fn an_acknowledgement_is_delivered_as_its_own_message() {
    let receiver = Receiver::start().await;
    let ledger = spawn_ledger(|_| {}).await;
    let api = &ledger.api;
    let service = service_with_channel(api, "billing", "webhook", &receiver.url("/hook")).await;
    let (alert, ids) = crate::trigger(api, &service, "queue").await;
    wait_for_state(api, &ids[0], "delivered").await;
    api.ack(&alert).await.expect(200);

    let acks =
        crate::helpers::eventually("the acknowledgement", Duration::from_secs(10), || async {
            let got = receiver.requests("/hook");
            (got.len() == 2).then_some(got)
        })
        .await;
    let body = acks[1].json();
    assert_eq!(body["kind"], "acknowledged");
    assert_eq!(body["alert"]["status"], "acknowledged");
    assert_ne!(body["message_id"], ids[0].as_str());
    ledger.stop().await;
}
