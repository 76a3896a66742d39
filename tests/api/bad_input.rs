//! Every rejected request is an RFC 9457 problem naming the field, and writes nothing.

use crate::helpers::{assert_problem_shape, spawn_app_with, trigger_body, Reply};
use reqwest::Method;
use serde_json::json;
use std::panic::AssertUnwindSafe;

/// One bad request and what the client must see.
struct Case {
    name: &'static str,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    field: Option<&'static str>,
}

fn json_case(
    name: &'static str,
    body: serde_json::Value,
    status: u16,
    field: &'static str,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: "/v1/alerts".into(),
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        status,
        field: Some(field),
    }
}

fn raw_case(
    name: &'static str,
    content_type: Option<&'static str>,
    body: &[u8],
    status: u16,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: "/v1/alerts".into(),
        content_type,
        body: body.to_vec(),
        status,
        field: None,
    }
}

fn get_case(name: &'static str, path: &str, field: &'static str) -> Case {
    Case {
        name,
        method: Method::GET,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        status: 422,
        field: Some(field),
    }
}

fn with(field: &str, value: serde_json::Value) -> serde_json::Value {
    let mut body = trigger_body("bad", "input", "warning");
    body[field] = value;
    body
}

fn cases() -> Vec<Case> {
    let mut unknown = trigger_body("bad", "input", "warning");
    unknown["colour"] = json!("red");
    let valid = serde_json::to_vec(&trigger_body("bad", "input", "warning")).unwrap();
    let mut trailing = valid.clone();
    trailing.extend_from_slice(b" {}");
    let mut oversize = trigger_body("bad", "input", "warning");
    oversize["details"] = json!({ "padding": "x".repeat(8 * 1024) });
    vec![
        json_case("unknown field", unknown, 400, "colour"),
        json_case("wrong type", with("severity", json!(5)), 400, "severity"),
        json_case("empty summary", with("summary", json!("")), 422, "summary"),
        json_case(
            "blank service",
            with("service", json!("   ")),
            422,
            "service",
        ),
        json_case(
            "service with a space",
            with("service", json!("my service")),
            422,
            "service",
        ),
        json_case(
            "unknown severity",
            with("severity", json!("meh")),
            422,
            "severity",
        ),
        Case {
            status: 413,
            field: None,
            ..json_case("oversize body", oversize, 413, "")
        },
        raw_case("non-JSON content type", Some("text/plain"), &valid, 415),
        raw_case("no content type", None, &valid, 415),
        raw_case(
            "invalid JSON",
            Some("application/json"),
            b"{\"service\": ",
            400,
        ),
        raw_case("trailing garbage", Some("application/json"), &trailing, 400),
        Case {
            path: "/v1/alerts/not-a-uuid/acknowledge".into(),
            field: Some("path.id"),
            status: 422,
            ..raw_case("bad UUID in path", None, b"", 422)
        },
        get_case("unknown query parameter", "/v1/alerts?x=1", "query.x"),
        get_case("limit zero", "/v1/alerts?limit=0", "query.limit"),
        get_case("limit not a number", "/v1/events?limit=lots", "query.limit"),
    ]
}

#[tokio::test]
async fn every_bad_request_is_a_problem_naming_the_field_and_writes_nothing() {
    let app = spawn_app_with(|config| config.body_limit = 4 * 1024).await;
    app.trigger(&trigger_body("good", "before", "info"))
        .await
        .expect(201);
    let before = app.head_position().await;

    let mut failures = Vec::new();
    for case in cases() {
        let mut request = app.request(case.method.clone(), &case.path);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if !case.body.is_empty() {
            request = request.body(case.body.clone());
        }
        let reply = Reply::read(request.send().await.expect("the request is sent")).await;
        if let Err(why) = std::panic::catch_unwind(AssertUnwindSafe(|| check(&case, &reply))) {
            let why = why
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "assertion failed".into());
            failures.push(format!("{}: {why}", case.name));
        }
        assert_eq!(
            app.head_position().await,
            before,
            "{}: the log advanced",
            case.name
        );
        app.get("/livez").await.expect(200);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(case: &Case, reply: &Reply) {
    assert_eq!(reply.status.as_u16(), case.status, "{reply:?}");
    assert_problem_shape(reply);
    if let Some(field) = case.field {
        assert_eq!(reply.body["field"], field, "field of {reply:?}");
    }
}

#[tokio::test]
async fn a_method_the_route_does_not_serve_is_a_405_problem_that_writes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let before = app.head_position().await;
    let body = trigger_body("bad", "method", "warning");

    let reply = app.send(Method::PUT, "/v1/alerts", Some(&body)).await;

    assert_eq!(app.head_position().await, before);
    let reply = reply.expect(405);
    assert!(reply.header("allow").is_some(), "{reply:?}");
    assert_problem_shape(&reply);
}
