//! What the contract refuses is refused, names the field and writes nothing (issue 13):
//! a list of ids that names one id twice, and a body that is not a JSON object.

use crate::helpers::{route_table, spawn_app, trigger_body, Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Creates webhook channels, so that only the repeat can be at fault.
async fn channels(app: &TestApp, ids: &[&str]) {
    for id in ids {
        let body =
            json!({ "id": id, "name": id, "kind": "webhook", "url": "http://127.0.0.1:9/hook" });
        app.post("/v1/channels", &body).await.expect(201);
    }
}

/// Sends `body` to `path` and asserts a 422 validation problem naming `field`, with
/// the log head where it was.
async fn refused_naming(app: &TestApp, path: &str, body: Value, field: &str) -> Reply {
    let before = app.head_position().await;
    let reply = app
        .post(path, &body)
        .await
        .expect_problem(422, "validation");
    assert_eq!(reply.body["field"], field, "field of {reply:?}");
    assert_eq!(
        app.head_position().await,
        before,
        "{path}: the log advanced"
    );
    reply
}

/// Events the views refused since start, as `/readyz` reports them.
async fn fold_errors(app: &TestApp) -> u64 {
    let ready = app.get("/readyz").await.expect(200);
    ready.body["fold_errors"].as_u64().expect("fold_errors")
}

#[tokio::test]
async fn a_trigger_naming_a_channel_twice_is_a_422_naming_the_repeat_and_writes_nothing() {
    let app = spawn_app().await;
    channels(&app, &["x", "pager", "email"]).await;
    let mut body = trigger_body("payments", "disk", "critical");

    body["channels"] = json!(["x", "x"]);
    let reply = refused_naming(&app, "/v1/alerts", body.clone(), "channels[1]").await;
    assert!(
        reply.str("detail").contains("channels[0]"),
        "the detail names the entry it repeats: {reply:?}"
    );
    body["channels"] = json!(["pager", "email", "x", "email"]);
    refused_naming(&app, "/v1/alerts", body.clone(), "channels[3]").await;

    let listed = app.list_alerts("service=payments").await.expect(200);
    assert_eq!(listed.body["items"], json!([]), "no alert was opened");
    body["channels"] = json!(["pager", "email"]);
    app.trigger(&body).await.expect(201);
    assert_eq!(fold_errors(&app).await, 0);
}

#[tokio::test]
async fn a_repeat_trigger_naming_a_channel_twice_is_refused_too() {
    let app = spawn_app().await;
    channels(&app, &["x"]).await;
    let mut body = trigger_body("payments", "disk", "critical");
    app.trigger(&body).await.expect(201);

    body["channels"] = json!(["x", "x"]);
    refused_naming(&app, "/v1/alerts", body, "channels[1]").await;
}

#[tokio::test]
async fn a_route_naming_a_channel_twice_is_a_422_naming_the_repeat() {
    let app = spawn_app().await;
    channels(&app, &["pager", "email"]).await;
    let body = json!({ "channels": ["pager", "email", "email"] });
    refused_naming(&app, "/v1/services/payments/route", body, "channels[2]").await;
}

#[tokio::test]
async fn a_policy_step_naming_a_channel_twice_is_a_422_naming_the_step_and_the_repeat() {
    let app = spawn_app().await;
    channels(&app, &["pager", "email"]).await;
    let body = json!({
        "id": "standard", "name": "Standard",
        "steps": [
            { "delay_secs": 60, "channels": ["pager"] },
            { "delay_secs": 60, "channels": ["pager", "email", "pager"] }
        ]
    });
    refused_naming(&app, "/v1/policies", body, "steps[1].channels[2]").await;
}

#[tokio::test]
async fn a_task_naming_a_host_twice_is_a_422_naming_the_repeat() {
    let app = spawn_app().await;
    let body =
        json!({ "script": "true", "hosts": ["web-1", "web-2", "web-1"], "timeout_secs": 60 });
    refused_naming(&app, "/v1/tasks", body, "hosts[2]").await;
}

#[tokio::test]
async fn a_task_rule_naming_a_host_twice_is_a_422_naming_the_repeat() {
    let app = spawn_app().await;
    let body = json!({
        "id": "restart", "service": "payments", "min_severity": "critical",
        "script": "true", "hosts": ["web-1", "web-1"], "timeout_secs": 5
    });
    refused_naming(&app, "/v1/task-rules", body, "hosts[1]").await;
}

/// Every `channels` and `hosts` list of a request body, by where it is.
fn id_lists<'a>(at: String, schema: &'a Value, found: &mut Vec<(String, &'a Value)>) {
    match schema {
        Value::Object(object) => {
            for (name, value) in object {
                if matches!(name.as_str(), "channels" | "hosts") && value["type"] == "array" {
                    found.push((format!("{at}.{name}"), value));
                }
                id_lists(format!("{at}.{name}"), value, found);
            }
        }
        Value::Array(items) => {
            for item in items {
                id_lists(at.clone(), item, found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_says_every_list_of_channels_or_hosts_is_unique() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut found = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        id_lists(path.clone(), &operations["post"]["requestBody"], &mut found);
    }
    let paths: Vec<&str> = found.iter().map(|(at, _)| at.as_str()).collect();
    for (at, list) in &found {
        assert_eq!(list["uniqueItems"], true, "{at} of {paths:?}");
    }
    for route in ["/v1/alerts", "/v1/tasks", "/v1/task-rules", "/v1/policies"] {
        let listed = paths
            .iter()
            .filter(|p| p.starts_with(&format!("{route}.")))
            .count();
        assert!(listed > 0, "no id list found for {route} in {paths:?}");
    }
}

/// JSON bodies that are not objects.
const NOT_OBJECTS: [&str; 7] = [
    r#"["svc","key","summary","critical"]"#,
    "[]",
    r#""summary""#,
    "42",
    "true",
    "null",
    " \n [{}]",
];

#[tokio::test]
async fn an_array_body_on_post_alerts_is_a_400_malformed_body_and_opens_no_alert() {
    let app = spawn_app().await;
    let before = app.head_position().await;
    let reply = Reply::read(
        app.request(Method::POST, "/v1/alerts")
            .header("content-type", "application/json")
            .body(NOT_OBJECTS[0])
            .send()
            .await
            .expect("the request is sent"),
    )
    .await
    .expect_problem(400, "malformed-body");

    assert!(reply.body.get("field").is_none(), "{reply:?}");
    assert!(reply.str("detail").contains("JSON object"), "{reply:?}");
    assert_eq!(app.head_position().await, before);
    let listed = app.list_alerts("service=svc").await.expect(200);
    assert_eq!(listed.body["items"], json!([]));
}

#[tokio::test]
async fn every_post_that_takes_a_json_body_refuses_one_that_is_not_an_object_and_writes_nothing() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let before = app.head_position().await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for route in route_table() {
        let content = &document["paths"][route.template]["post"]["requestBody"]["content"];
        // PagerDuty and GoAlert are keyed by an integration key: tests/receivers.
        if route.method != Method::POST || route.integration_key || content.is_null() {
            continue;
        }
        checked += 1;
        for body in NOT_OBJECTS {
            let request = app
                .request(Method::POST, &route.path)
                .header("content-type", "application/json")
                .body(body);
            let reply = Reply::read(request.send().await.expect("the request is sent")).await;
            let kind = reply.body["type"].as_str().unwrap_or("");
            if reply.status != 400 || kind != "urn:alert-ledger:problem:malformed-body" {
                failures.push(format!("{} {body}: {reply:?}", route.path));
            }
        }
    }
    assert!(checked >= 15, "only {checked} routes take a JSON body");
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(app.head_position().await, before, "the log advanced");
}
