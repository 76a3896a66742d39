//! `POST /api/v2/generic/incoming` as GoAlert's generic API: JSON, form or query
//! parameters; token in the query, the body or a bearer header.

use crate::helpers::{Reply, WRITER_TOKEN};
use crate::support::{fixture, spawn, App, GA_KEY, PD_KEY, UNKNOWN_KEY};
use reqwest::Method;

const PATH: &str = "/api/v2/generic/incoming";

async fn post(
    app: &App,
    query: &str,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Reply {
    let request = app
        .anonymous()
        .request(Method::POST, &format!("{PATH}{query}"));
    Reply::read(build(request).send().await.expect("sent")).await
}

#[tokio::test]
async fn a_json_post_with_the_token_in_the_query_opens_an_alert_on_the_keys_service() {
    let app = spawn().await;
    let reply = post(&app, &format!("?token={GA_KEY}"), |r| {
        r.json(&fixture("goalert_incoming.json"))
    })
    .await
    .expect(204);
    assert!(reply.text.is_empty());
    let alerts = app.alerts_of("ga-svc", reply.position_header()).await;
    assert_eq!(alerts.len(), 1);
    let alert = &alerts[0];
    assert_eq!(alert["summary"], "test");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["details"]["details"], "test");
    assert_eq!(alert["details"]["meta.example_key"], "example_value");

    let log = app.log().await;
    let triggered = log
        .iter()
        .find(|e| e["event"]["type"] == "alert_triggered")
        .unwrap();
    assert_eq!(triggered["metadata"]["actor"], "goalert:ga-svc");
    assert_eq!(triggered["metadata"]["source"], "goalert");
}

#[tokio::test]
async fn a_form_post_with_a_bearer_token_answers_like_goalert_and_deduplicates() {
    let app = spawn().await;
    let form = "summary=disk+full+on+db1&details=%2Fvar+at+99%25&dedup=disk-db1";
    let send = || {
        post(&app, "", |r| {
            r.bearer_auth(GA_KEY)
                .header("accept", "application/json")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
        })
    };
    let first = send().await.expect(200);
    assert_eq!(first.body["ServiceID"], "ga-svc");
    assert_eq!(first.body["IsNew"], true);
    let again = send().await.expect(200);
    assert_eq!(again.body["IsNew"], false);
    assert_eq!(again.body["AlertID"], first.body["AlertID"]);
    let alert = app
        .alert(
            first.body["AlertID"].as_str().unwrap(),
            again.position_header(),
        )
        .await;
    assert_eq!(alert["summary"], "disk full on db1");
    assert_eq!(alert["dedup_key"], "disk-db1");
    assert_eq!(alert["details"]["details"], "/var at 99%");
    assert_eq!(alert["repeat_count"], 1);
}

#[tokio::test]
async fn action_close_resolves_the_alert_matching_summary_and_details() {
    let app = spawn().await;
    // GoAlert's documented curl calls: everything in the query string.
    let opened = post(&app, &format!("?token={GA_KEY}&summary=test"), |r| {
        r.header("accept", "application/json")
    })
    .await
    .expect(200);
    let id = opened.str("AlertID");
    let closed = post(
        &app,
        &format!("?token={GA_KEY}&summary=test&action=close"),
        |r| r,
    )
    .await
    .expect(204);
    let alert = app.alert(&id, closed.position_header()).await;
    assert_eq!(alert["status"], "resolved");
    assert_eq!(alert["resolution"]["by"], "source");

    let head = app.head().await;
    post(
        &app,
        &format!("?token={GA_KEY}&summary=test&action=close"),
        |r| r,
    )
    .await
    .expect(204);
    assert_eq!(
        app.head().await,
        head,
        "closing a closed alert writes nothing"
    );

    let body = serde_json::json!({ "token": GA_KEY, "dedup": "job-7" });
    let open = post(&app, "", |r| {
        r.json(&serde_json::json!({ "token": GA_KEY, "summary": "job 7 failed", "dedup": "job-7" }))
    })
    .await
    .expect(204);
    let mut close = body.clone();
    close["action"] = "close".into();
    let closed = post(&app, "", |r| r.json(&close)).await.expect(204);
    assert!(closed.position_header() > open.position_header());
    let alerts = app.alerts_of("ga-svc", closed.position_header()).await;
    let job = alerts.iter().find(|a| a["dedup_key"] == "job-7").unwrap();
    assert_eq!(job["status"], "resolved");
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_and_nothing_is_written() {
    let app = spawn().await;
    let head = app.head().await;
    let body = fixture("goalert_incoming.json");
    for query in [
        String::new(),
        format!("?token={UNKNOWN_KEY}"),
        format!("?token={PD_KEY}"),
    ] {
        post(&app, &query, |r| r.json(&body))
            .await
            .expect_problem(401, "unauthorized");
    }
    for bearer in [WRITER_TOKEN, UNKNOWN_KEY] {
        post(&app, "", |r| r.bearer_auth(bearer).json(&body))
            .await
            .expect_problem(401, "unauthorized");
    }
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn bad_parameters_name_the_field_and_write_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    let token = format!("?token={GA_KEY}");
    let cases = [
        (format!("{token}&summary=x&severity=high"), "query.severity"),
        (format!("{token}&summary=x&action=open"), "action"),
        (format!("{token}&details=only"), "summary"),
        (
            format!("{token}&summary=x&dedup={}", "d".repeat(256)),
            "dedup",
        ),
        (format!("{token}&summary=x&meta=novalue"), "query.meta"),
    ];
    for (query, field) in cases {
        let reply = post(&app, &query, |r| r)
            .await
            .expect_problem(422, "validation");
        assert_eq!(reply.body["field"], field, "{reply:?}");
    }
    let reply = post(&app, &token, |r| {
        r.json(&serde_json::json!({ "summary": "x", "priority": 1 }))
    })
    .await
    .expect_problem(400, "malformed-body");
    assert!(reply.text.contains("priority"), "{reply:?}");
    post(&app, &token, |r| {
        r.header("content-type", "text/plain").body("summary=x")
    })
    .await
    .expect_problem(415, "unsupported-media-type");
    assert_eq!(app.head().await, head, "digest position unchanged");
}
