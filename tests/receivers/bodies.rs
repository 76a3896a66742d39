//! Every receiver takes only a JSON object as its JSON body (issue 13): an array, which
//! serde would read field by field, or a scalar is refused and writes nothing. And a
//! list that repeats an id in a receiver's payload is harmless.

use crate::helpers::Reply;
use crate::support::{fixture, pd_fixture, spawn, App, GA_KEY, PD_KEY};
use reqwest::Method;
use serde_json::{json, Value};

/// JSON bodies that are not objects, whatever the route.
const OTHERS: [&str; 5] = [r#""summary""#, "42", "true", "null", "[]"];

/// The non-object bodies to try on a route whose valid body is `valid` and whose
/// decoder reads `fields` in this order: the values of `valid` as a positional array
/// (what serde would fill a struct from), `valid` wrapped in an array, then [`OTHERS`].
fn not_objects(valid: &Value, fields: &[&str]) -> Vec<String> {
    let positional: Vec<&Value> = fields.iter().map(|field| &valid[field]).collect();
    let mut bodies = vec![json!(positional).to_string(), json!([valid]).to_string()];
    bodies.extend(OTHERS.map(str::to_owned));
    bodies
}

/// Alertmanager's fields, in the receiver's order.
const ALERTMANAGER_FIELDS: [&str; 10] = [
    "version",
    "groupKey",
    "truncatedAlerts",
    "status",
    "receiver",
    "groupLabels",
    "commonLabels",
    "commonAnnotations",
    "externalURL",
    "alerts",
];

/// POSTs `body` as `application/json` to `path`, with the writer token when `writer`.
async fn post_raw(app: &App, path: &str, body: &str, writer: bool) -> Reply {
    let api = if writer {
        app.writer()
    } else {
        app.anonymous()
    };
    let request = api
        .request(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_owned());
    Reply::read(request.send().await.expect("the request is sent")).await
}

#[tokio::test]
async fn alertmanager_refuses_a_body_that_is_not_an_object_as_malformed_and_writes_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    for body in not_objects(&fixture("alertmanager_firing.json"), &ALERTMANAGER_FIELDS) {
        let reply = post_raw(&app, "/v1/integrations/alertmanager", &body, true)
            .await
            .expect_problem(400, "malformed-body");
        assert!(reply.str("detail").contains("JSON object"), "{reply:?}");
    }
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn pagerduty_refuses_a_body_that_is_not_an_object_in_its_own_shape_and_writes_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    let refused = json!({
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["body must be a JSON object"]
    });
    for body in not_objects(
        &pd_fixture("pagerduty_trigger.json", PD_KEY),
        &["routing_key", "event_action", "dedup_key", "payload"],
    ) {
        let reply = post_raw(&app, "/v2/enqueue", &body, false)
            .await
            .expect(400);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.body, refused, "{body}");
    }
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn goalert_refuses_a_json_body_that_is_not_an_object_as_malformed_and_writes_nothing() {
    let app = spawn().await;
    let head = app.head().await;
    let path = format!("/api/v2/generic/incoming?token={GA_KEY}");
    for body in not_objects(
        &fixture("goalert_incoming.json"),
        &["token", "summary", "details", "action", "dedup", "meta"],
    ) {
        let reply = post_raw(&app, &path, &body, false)
            .await
            .expect_problem(400, "malformed-body");
        assert!(reply.str("detail").contains("JSON object"), "{reply:?}");
    }
    assert_eq!(app.head().await, head);
}

#[tokio::test]
async fn an_alertmanager_group_that_lists_one_alert_twice_records_a_trigger_and_a_repeat() {
    let app = spawn().await;
    let mut notification = fixture("alertmanager_firing.json");
    let first = notification["alerts"][0].clone();
    notification["alerts"] = json!([first, first]);

    let reply = app
        .writer()
        .post("/v1/integrations/alertmanager", &notification)
        .await
        .expect(200);

    let actions: Vec<&Value> = reply.body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .map(|a| &a["action"])
        .collect();
    assert_eq!(actions, [&json!("triggered"), &json!("deduplicated")]);
    let ready = app.get("/readyz").await.expect(200);
    assert_eq!(ready.body["fold_errors"], 0, "{ready:?}");
}
