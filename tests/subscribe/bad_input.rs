//! Refused subscriptions: every bad parameter is a 422 problem naming it, and a
//! missing token is a 401 when tokens are configured.

use crate::support::{spawn, spawn_with};

const READER: &str = "reader-token-0123456789abcdef";

/// A query, request headers, and the field the problem must name.
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

async fn problem(response: reqwest::Response) -> (u16, String, serde_json::Value) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    let body = response.json().await.expect("a JSON problem");
    (status, content_type, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_refused_with_a_problem_naming_the_parameter() {
    let app = spawn().await;
    let cases: [Case; 9] = [
        ("from=abc", &[], "query.from"),
        ("from=-1", &[], "query.from"),
        ("limit=5", &[], "query.limit"),
        ("type=alert_triggered,nope", &[], "query.type"),
        ("type=", &[], "query.type"),
        ("category=alert-x", &[], "query.category"),
        ("stream=", &[], "query.stream"),
        (
            "from=1",
            &[("Last-Event-ID", "ten")],
            "header.Last-Event-ID",
        ),
        ("", &[("Last-Event-ID", "-3")], "header.Last-Event-ID"),
    ];
    for (query, headers, field) in cases {
        let (status, content_type, body) = problem(app.open(query, headers).await).await;
        assert_eq!(status, 422, "{query} {headers:?}: {body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(body["type"], "urn:alert-ledger:problem:validation");
        assert_eq!(body["field"], field, "{query} {headers:?}: {body}");
    }
    assert_eq!(
        app.subscribers(),
        0,
        "no refused request counts as a subscriber"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_configured_a_subscription_needs_a_reader_token() {
    let app = spawn_with(|config| {
        config.tokens = Some(format!("reader auditor {READER}"));
    })
    .await;
    let (status, _, body) = problem(app.open("from=1", &[]).await).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["type"], "urn:alert-ledger:problem:unauthorized");
    let wrong = app
        .open(
            "from=1",
            &[("authorization", "Bearer wrong-token-0123456789abcdef")],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let bearer = format!("Bearer {READER}");
    let ok = app.open("from=1", &[("authorization", &bearer)]).await;
    assert_eq!(ok.status(), 200);
}
