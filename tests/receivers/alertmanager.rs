//! `POST /v1/integrations/alertmanager` with Alertmanager's version 4 payload.

use crate::support::{fixture, spawn, App};
use serde_json::Value;

const PATH: &str = "/v1/integrations/alertmanager";

/// Breaks one field of a valid notification.
type Mutation = fn(&mut Value);

async fn notify(app: &App, body: &Value) -> crate::helpers::Reply {
    app.writer().post(PATH, body).await
}

#[tokio::test]
async fn a_firing_group_of_two_opens_two_alerts_mapped_from_labels_and_annotations() {
    let app = spawn().await;
    let reply = notify(&app, &fixture("alertmanager_firing.json"))
        .await
        .expect(200);
    let outcomes = reply.body["alerts"].as_array().expect("alerts");
    assert_eq!(outcomes.len(), 2, "{reply:?}");
    assert!(
        outcomes.iter().all(|o| o["action"] == "triggered"),
        "{reply:?}"
    );
    let position = reply.position();
    assert_eq!(reply.position_header(), position);

    let shop = app
        .alert(outcomes[0]["alert_id"].as_str().unwrap(), position)
        .await;
    assert_eq!(shop["service"], "shop-frontend", "label service wins");
    assert_eq!(shop["dedup_key"], "1a30ba71cca2921f", "the fingerprint");
    assert_eq!(
        shop["summary"],
        "BlackBox Probe Failure: https://shop.example.org"
    );
    assert_eq!(shop["severity"], "critical");
    assert_eq!(shop["status"], "triggered");
    assert_eq!(
        shop["details"]["labels.instance"],
        "https://shop.example.org"
    );
    assert_eq!(
        shop["details"]["annotations.description"],
        "Instance https://shop.example.org has been down for over 5m."
    );
    assert!(shop["details"]["generatorURL"]
        .as_str()
        .unwrap()
        .starts_with("http://prometheus.example.org:9090/graph"));

    let api = app
        .alert(outcomes[1]["alert_id"].as_str().unwrap(), position)
        .await;
    assert_eq!(api["service"], "http_checks", "no service label: the job");
    assert_eq!(
        api["summary"], "Instance https://api.example.org has been down for over 5m.",
        "no summary annotation: the description"
    );
    assert_ne!(shop["id"], api["id"]);

    let log = app.log().await;
    let triggered: Vec<&Value> = log
        .iter()
        .filter(|e| e["event"]["type"] == "alert_triggered")
        .collect();
    assert_eq!(triggered.len(), 2);
    for event in triggered {
        assert_eq!(event["metadata"]["source"], "alertmanager");
        assert_eq!(
            event["metadata"]["actor"], "ingest",
            "the writer token's name"
        );
    }
}

#[tokio::test]
async fn the_same_group_again_is_recorded_as_repeats_on_the_open_alerts() {
    let app = spawn().await;
    let body = fixture("alertmanager_firing.json");
    let first = notify(&app, &body).await.expect(200);
    let again = notify(&app, &body).await.expect(200);
    for (a, b) in first.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(again.body["alerts"].as_array().unwrap())
    {
        assert_eq!(b["action"], "deduplicated", "{again:?}");
        assert_eq!(a["alert_id"], b["alert_id"]);
    }
    let alerts = app.alerts_of("shop-frontend", again.position()).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["repeat_count"], 1);
}

#[tokio::test]
async fn a_resolved_alert_is_resolved_by_the_source_and_a_second_resolution_writes_nothing() {
    let app = spawn().await;
    let fired = notify(&app, &fixture("alertmanager_firing.json"))
        .await
        .expect(200);
    let resolved = notify(&app, &fixture("alertmanager_resolved.json"))
        .await
        .expect(200);
    let outcome = &resolved.body["alerts"][0];
    assert_eq!(outcome["action"], "resolved", "{resolved:?}");
    assert_eq!(outcome["alert_id"], fired.body["alerts"][0]["alert_id"]);
    let alert = app
        .alert(outcome["alert_id"].as_str().unwrap(), resolved.position())
        .await;
    assert_eq!(alert["status"], "resolved");
    assert_eq!(alert["resolution"]["by"], "source");
    let other = app
        .alert(
            fired.body["alerts"][1]["alert_id"].as_str().unwrap(),
            resolved.position(),
        )
        .await;
    assert_eq!(
        other["status"], "triggered",
        "only the resolved alert closes"
    );

    let head = app.head().await;
    let again = notify(&app, &fixture("alertmanager_resolved.json"))
        .await
        .expect(200);
    assert_eq!(again.body["alerts"][0]["action"], "not_open");
    assert_eq!(again.body["alerts"][0]["alert_id"], Value::Null);
    assert_eq!(app.head().await, head, "nothing written");

    let refired = notify(&app, &fixture("alertmanager_firing.json"))
        .await
        .expect(200);
    assert_eq!(
        refired.body["alerts"][0]["action"], "triggered",
        "a new alert after resolve"
    );
    assert_ne!(refired.body["alerts"][0]["alert_id"], outcome["alert_id"]);
}

#[tokio::test]
async fn an_alert_without_fingerprint_is_keyed_by_its_labels() {
    let app = spawn().await;
    let mut body = fixture("alertmanager_firing.json");
    let alerts = body["alerts"].as_array_mut().unwrap();
    alerts.truncate(1);
    alerts[0].as_object_mut().unwrap().remove("fingerprint");
    alerts[0]["labels"]["severity"] = "page".into();
    let first = notify(&app, &body).await.expect(200);
    let key = first.body["alerts"][0]["dedup_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("labels:"), "{key}");
    let again = notify(&app, &body).await.expect(200);
    assert_eq!(again.body["alerts"][0]["action"], "deduplicated");
    assert_eq!(again.body["alerts"][0]["dedup_key"], key.as_str());
    let alert = app
        .alert(
            first.body["alerts"][0]["alert_id"].as_str().unwrap(),
            again.position(),
        )
        .await;
    assert_eq!(alert["severity"], "critical", "page maps to critical");
}

#[tokio::test]
async fn an_invalid_notification_names_the_field_and_writes_nothing() {
    let app = spawn().await;
    notify(&app, &fixture("alertmanager_firing.json"))
        .await
        .expect(200);
    let head = app.head().await;
    let mutations: [(&str, Mutation); 6] = [
        ("version", |b| b["version"] = "3".into()),
        ("alerts[1].status", |b| {
            b["alerts"][1]["status"] = "pending".into()
        }),
        ("alerts[0].labels.service", |b| {
            b["alerts"][0]["labels"]["service"] = "shop frontend".into()
        }),
        ("alerts", |b| b["alerts"] = serde_json::json!([])),
        ("alerts[1].annotations.summary", |b| {
            b["alerts"][1]["annotations"] = serde_json::json!({});
            b["alerts"][1]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("alertname");
        }),
        ("status", |b| b["status"] = "pending".into()),
    ];
    for (field, mutate) in mutations {
        let mut body = fixture("alertmanager_firing.json");
        // A changed first alert proves that nothing of a bad notification is written.
        body["alerts"][0]["fingerprint"] = "ffffffffffffffff".into();
        mutate(&mut body);
        let reply = notify(&app, &body).await.expect_problem(422, "validation");
        assert_eq!(reply.body["field"], field, "{reply:?}");
    }
    let mut wrong_type = fixture("alertmanager_firing.json");
    wrong_type["alerts"][1]["labels"]["instance"] = 42.into();
    let reply = notify(&app, &wrong_type)
        .await
        .expect_problem(400, "malformed-body");
    assert_eq!(
        reply.body["field"], "alerts[1].labels.instance",
        "{reply:?}"
    );
    let mut missing = fixture("alertmanager_firing.json");
    missing.as_object_mut().unwrap().remove("alerts");
    let reply = notify(&app, &missing)
        .await
        .expect_problem(400, "malformed-body");
    assert!(reply.text.contains("alerts"), "{reply:?}");
    assert_eq!(app.head().await, head, "digest position unchanged");
}

#[tokio::test]
async fn the_webhook_needs_a_writer_token() {
    let app = spawn().await;
    let body = fixture("alertmanager_firing.json");
    app.anonymous()
        .post(PATH, &body)
        .await
        .expect_problem(401, "unauthorized");
    app.with_token(Some(crate::helpers::READER_TOKEN))
        .post(PATH, &body)
        .await
        .expect_problem(403, "forbidden");
}
