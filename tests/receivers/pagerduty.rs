//! `POST /v2/enqueue` with PagerDuty Events API v2 payloads; answers in PagerDuty's
//! shapes.

use crate::support::{pd_fixture, spawn, App, GA_KEY, PD_HASHED_KEY, PD_KEY, UNKNOWN_KEY};
use serde_json::{json, Value};

async fn enqueue(app: &App, body: &Value) -> crate::helpers::Reply {
    app.anonymous().post("/v2/enqueue", body).await
}

fn processed(dedup_key: &str) -> Value {
    json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key })
}

#[tokio::test]
async fn trigger_acknowledge_and_resolve_round_trip_with_pagerdutys_answers() {
    let app = spawn().await;
    let trigger = enqueue(&app, &pd_fixture("pagerduty_trigger.json", PD_KEY))
        .await
        .expect(202);
    assert_eq!(trigger.body, processed("samplekeyhere"));
    assert_eq!(trigger.header("content-type"), Some("application/json"));
    let alerts = app.alerts_of("pd-svc", trigger.position_header()).await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert["summary"], "Example alert on host1.example.com");
    assert_eq!(alert["severity"], "info");
    assert_eq!(alert["dedup_key"], "samplekeyhere");
    assert_eq!(alert["details"]["component"], "postgres");
    assert_eq!(alert["details"]["custom_details.ping time"], "1500ms");
    assert_eq!(alert["details"]["custom_details.load avg"], "0.75");
    assert_eq!(alert["details"]["links[0]"], "https://example.com/");
    let id = alert["id"].as_str().unwrap().to_owned();

    let ack = enqueue(&app, &pd_fixture("pagerduty_acknowledge.json", PD_KEY))
        .await
        .expect(202);
    assert_eq!(ack.body, processed("samplekeyhere"));
    let acked = app.alert(&id, ack.position_header()).await;
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "pagerduty:pd-svc");

    let resolve = enqueue(&app, &pd_fixture("pagerduty_resolve.json", PD_KEY))
        .await
        .expect(202);
    assert_eq!(resolve.body, processed("samplekeyhere"));
    let resolved = app.alert(&id, resolve.position_header()).await;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolution"]["by"], "source");

    let log = app.log().await;
    let ours: Vec<&Value> = log
        .iter()
        .filter(|e| e["metadata"]["source"] == "pagerduty")
        .collect();
    assert!(ours.len() >= 3, "{log:?}");
    assert!(ours
        .iter()
        .all(|e| e["metadata"]["actor"] == "pagerduty:pd-svc"));
}

#[tokio::test]
async fn a_repeat_trigger_lands_on_the_open_alert_and_the_hashed_key_names_its_service() {
    let app = spawn().await;
    let event = pd_fixture("pagerduty_trigger.json", PD_HASHED_KEY);
    enqueue(&app, &event).await.expect(202);
    let again = enqueue(&app, &event).await.expect(202);
    assert_eq!(again.body, processed("samplekeyhere"));
    let alerts = app.alerts_of("pd-other", again.position_header()).await;
    assert_eq!(alerts.len(), 1, "one open alert per (service, dedup key)");
    assert_eq!(alerts[0]["repeat_count"], 1);
    assert!(app
        .alerts_of("pd-svc", again.position_header())
        .await
        .is_empty());
}

#[tokio::test]
async fn a_trigger_without_dedup_key_gets_one_and_it_resolves_the_alert() {
    let app = spawn().await;
    let mut event = pd_fixture("pagerduty_trigger.json", PD_KEY);
    event.as_object_mut().unwrap().remove("dedup_key");
    let reply = enqueue(&app, &event).await.expect(202);
    let key = reply.str("dedup_key");
    assert_eq!(key.len(), 32, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    let other = enqueue(&app, &event).await.expect(202).str("dedup_key");
    assert_ne!(key, other, "every keyless trigger opens a new alert");

    let mut resolve = pd_fixture("pagerduty_resolve.json", PD_KEY);
    resolve["dedup_key"] = key.clone().into();
    let resolved = enqueue(&app, &resolve).await.expect(202);
    let alerts = app.alerts_of("pd-svc", resolved.position_header()).await;
    let by_key = |k: &str| alerts.iter().find(|a| a["dedup_key"] == k).unwrap()["status"].clone();
    assert_eq!(by_key(&key), "resolved");
    assert_eq!(by_key(&other), "triggered");
}

#[tokio::test]
async fn acknowledge_or_resolve_without_an_open_alert_is_accepted_and_writes_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    for name in ["pagerduty_acknowledge.json", "pagerduty_resolve.json"] {
        let reply = enqueue(&app, &pd_fixture(name, PD_KEY)).await.expect(202);
        assert_eq!(reply.body, processed("samplekeyhere"));
    }
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn an_unknown_or_missing_routing_key_is_refused_and_nothing_is_written() {
    let app = spawn().await;
    let head = app.head().await;
    let invalid_key = json!({
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"]
    });
    for key in [UNKNOWN_KEY, GA_KEY] {
        let reply = enqueue(&app, &pd_fixture("pagerduty_trigger.json", key))
            .await
            .expect(400);
        assert_eq!(reply.body, invalid_key, "a goalert token is no routing key");
    }
    let mut missing = pd_fixture("pagerduty_trigger.json", PD_KEY);
    missing.as_object_mut().unwrap().remove("routing_key");
    let reply = enqueue(&app, &missing).await.expect(400);
    assert_eq!(
        reply.body["errors"],
        json!(["'routing_key' is missing or blank"])
    );
    // A bearer token is no routing key either.
    let reply = app.writer().post("/v2/enqueue", &missing).await.expect(400);
    assert_eq!(reply.body["status"], "invalid event");
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn an_invalid_event_lists_every_bad_field_in_pagerdutys_shape_and_writes_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    let mut event = pd_fixture("pagerduty_trigger.json", PD_KEY);
    event["payload"]["severity"] = "fatal".into();
    event["payload"].as_object_mut().unwrap().remove("source");
    event["payload"]["summary"] = "x".repeat(1025).into();
    let reply = enqueue(&app, &event).await.expect(400);
    assert_eq!(reply.body["status"], "invalid event");
    assert_eq!(reply.body["message"], "Event object is invalid");
    let errors: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    for field in [
        "'payload.summary'",
        "'payload.source'",
        "'payload.severity'",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{field} in {errors:?}"
        );
    }

    let cases = [
        (json!({ "event_action": "snooze" }), "'event_action'"),
        (
            json!({ "dedup_key": null, "event_action": "resolve" }),
            "'dedup_key'",
        ),
        (json!({ "dedup_key": "k".repeat(256) }), "'dedup_key'"),
        (json!({ "payload": "text" }), "'payload'"),
        (
            json!({ "links": [{ "text": "no href" }] }),
            "'links[0].href'",
        ),
    ];
    for (patch, field) in cases {
        let mut event = pd_fixture("pagerduty_trigger.json", PD_KEY);
        for (name, value) in patch.as_object().unwrap() {
            event[name] = value.clone();
        }
        let reply = enqueue(&app, &event).await.expect(400);
        let errors = reply.body["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e.as_str().unwrap().starts_with(field)),
            "{field} in {reply:?}"
        );
    }
    let reply = app
        .anonymous()
        .request(reqwest::Method::POST, "/v2/enqueue")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let reply = crate::helpers::Reply::read(reply).await.expect(400);
    assert_eq!(reply.body["status"], "invalid event");
    assert_eq!(app.head().await, head, "digest position unchanged");
}

async fn enqueue_keyed(app: &App, key: &str, body: &Value) -> crate::helpers::Reply {
    let request = app
        .anonymous()
        .request(reqwest::Method::POST, "/v2/enqueue")
        .header("idempotency-key", key)
        .json(body);
    crate::helpers::Reply::read(request.send().await.expect("the request is sent")).await
}

#[tokio::test]
async fn idempotency_key_refusals_on_enqueue_answer_in_pagerdutys_shape_as_documented() {
    let app = spawn().await;
    let event = pd_fixture("pagerduty_trigger.json", PD_KEY);
    let first = enqueue_keyed(&app, "pd-retry-1", &event).await.expect(202);
    let head = app.head().await;
    let again = enqueue_keyed(&app, "pd-retry-1", &event).await.expect(202);
    assert_eq!(again.text, first.text, "a retry gets the first answer");

    let mut other = event.clone();
    other["payload"]["summary"] = "another event".into();
    let reused = enqueue_keyed(&app, "pd-retry-1", &other).await.expect(422);
    assert_eq!(reused.header("content-type"), Some("application/json"));
    assert_eq!(reused.body["status"], "invalid event", "{reused:?}");
    assert_eq!(
        reused.body["message"],
        "Idempotency-Key was already used for a different event"
    );
    assert_eq!(
        reused.body["errors"],
        json!(["Idempotency-Key was already used for a different request"])
    );
    let malformed = enqueue_keyed(&app, "key with spaces", &event)
        .await
        .expect(400);
    assert_eq!(malformed.header("content-type"), Some("application/json"));
    assert_eq!(malformed.body["status"], "invalid event");
    let errors = malformed.body["errors"].to_string();
    assert!(errors.contains("'header.Idempotency-Key'"), "{errors}");
    assert_eq!(app.head().await, head, "the refusals wrote nothing");

    let document = app.get("/openapi.json").await.expect(200).body;
    let responses = &document["paths"]["/v2/enqueue"]["post"]["responses"];
    for status in ["400", "408", "413", "422", "503"] {
        let content = responses[status]["content"].as_object();
        let media: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
        assert_eq!(media, ["application/json"], "{status}: {responses}");
        assert_eq!(
            responses[status]["content"]["application/json"]["schema"]["required"],
            json!(["status", "message", "errors"]),
            "{status} is PagerDuty's error shape"
        );
    }
}
