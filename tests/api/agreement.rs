//! The OpenAPI document and the server agree where API fuzzing found them apart:
//! task-rule argument lengths, `as_of` with `min_position`, and whole-number floats
//! in integer fields.

use crate::helpers::{route_table, spawn_app, trigger_body, Api};
use serde_json::{json, Value};

/// The request body schema of `method path` in the served document.
fn body_schema<'a>(document: &'a Value, method: &str, path: &str) -> &'a Value {
    &document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
}

#[tokio::test]
async fn task_rules_refuse_an_argument_longer_than_the_documented_limit_as_tasks_do() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let limit = |path: &str| {
        body_schema(&document, "post", path)["properties"]["args"]["items"]["maxLength"]
            .as_u64()
            .unwrap_or_else(|| panic!("{path} documents no maxLength for args items"))
    };
    assert_eq!(limit("/v1/task-rules"), limit("/v1/tasks"));
    let max = limit("/v1/task-rules") as usize;
    let args = |last: usize| json!(["-v", "--", "x".repeat(last)]);
    let rule = |last: usize| {
        json!({
            "id": "restart-web", "service": "web", "min_severity": "critical",
            "script": "systemctl restart", "args": args(last), "hosts": ["h1"], "timeout_secs": 60
        })
    };
    let task = |last: usize| json!({ "script": "systemctl restart", "args": args(last), "hosts": ["h1"], "timeout_secs": 60 });
    let before = app.head_position().await;

    for (path, body) in [
        ("/v1/task-rules", rule(max + 1)),
        ("/v1/tasks", task(max + 1)),
    ] {
        let refused = app
            .post(path, &body)
            .await
            .expect_problem(422, "validation");
        assert_eq!(refused.body["field"], "args[2]", "{path}");
        assert_eq!(
            refused.body["detail"],
            format!("args[2]: must be at most {max} characters"),
            "{path}"
        );
    }
    assert_eq!(app.head_position().await, before, "nothing was written");

    app.post("/v1/task-rules", &rule(max)).await.expect(200);
    app.post("/v1/tasks", &task(max)).await.expect(201);
}

#[tokio::test]
async fn every_read_that_takes_as_of_and_min_position_documents_and_refuses_the_pair() {
    let app = spawn_app().await;
    let document = app.get("/openapi.json").await.expect(200).body;
    let mut checked = Vec::new();
    for route in route_table() {
        let method = route.method.as_str().to_lowercase();
        let operation = &document["paths"][route.template][method.as_str()];
        let parameters = operation["parameters"].as_array().expect("parameters");
        let description = |name: &str| {
            parameters
                .iter()
                .find(|p| p["in"] == "query" && p["name"] == name)
                .map(|p| p["description"].as_str().unwrap_or("").to_owned())
        };
        let (Some(min_position), Some(as_of)) = (description("min_position"), description("as_of"))
        else {
            continue;
        };
        for text in [&min_position, &as_of] {
            assert!(
                text.contains("giving both is a 422 naming query.as_of"),
                "{}: {text}",
                route.template
            );
        }
        assert!(
            operation["responses"]["422"]["content"]["application/problem+json"].is_object(),
            "{} documents no 422",
            route.template
        );
        let separator = if route.path.contains('?') { '&' } else { '?' };
        let path = format!("{}{separator}min_position=0&as_of=0", route.path);
        let refused = app
            .send(route.method.clone(), &path, None)
            .await
            .expect_problem(422, "validation");
        assert_eq!(refused.body["field"], "query.as_of", "{path}");
        assert_eq!(
            refused.body["detail"], "query.as_of: cannot be combined with min_position",
            "{path}"
        );
        checked.push(path);
    }
    assert!(checked.len() >= 9, "only {checked:?}");
}

async fn task_with(api: &Api, timeout_secs: Value) -> crate::helpers::Reply {
    let body = json!({ "script": "true", "hosts": ["h1"], "timeout_secs": timeout_secs });
    api.post("/v1/tasks", &body).await
}

#[tokio::test]
async fn whole_number_floats_are_accepted_in_every_integer_field_as_that_integer() {
    let app = spawn_app().await;

    let task = task_with(&app, json!(60.0)).await.expect(201);
    let id = task.str("id");
    let view = app
        .get(&format!("/v1/tasks/{id}?min_position={}", task.position()))
        .await
        .expect(200);
    assert_eq!(view.body["spec"]["timeout_secs"], json!(60));
    let result = json!({ "exit_code": 0.0, "output_tail": "ok" });
    let done = app
        .post(&format!("/v1/tasks/{id}/hosts/h1/result"), &result)
        .await
        .expect(200);
    let view = app
        .get(&format!("/v1/tasks/{id}?min_position={}", done.position()))
        .await
        .expect(200);
    assert_eq!(view.body["hosts"]["h1"]["exit_code"], json!(0));

    let policy = json!({ "id": "p", "name": "p", "steps": [{ "delay_secs": 5.0 }], "repeat": 1e0 });
    let set = app.post("/v1/policies", &policy).await.expect(200);
    let rule = json!({
        "id": "r", "service": "web", "min_severity": "critical", "script": "true",
        "hosts": ["h1"], "timeout_secs": 1.2e2
    });
    app.post("/v1/task-rules", &rule).await.expect(200);
    let routing = app
        .get(&format!("/v1/routing?min_position={}", set.position()))
        .await
        .expect(200);
    assert_eq!(
        routing.body["policies"]["p"],
        json!({ "name": "p", "steps": [{ "delay_secs": 5, "channels": [] }], "repeat": 1 })
    );

    let mut trigger = trigger_body("web", "slow", "warning");
    trigger["escalation_secs"] = json!([300.0, 6e2]);
    let opened = app.trigger(&trigger).await.expect(201);
    let history = app
        .history(&opened.str("alert_id"), opened.position())
        .await
        .expect(200);
    assert_eq!(
        history.body["events"][0]["event"]["escalation_secs"],
        json!([300, 600])
    );
}

#[tokio::test]
async fn a_fractional_number_in_an_integer_field_is_a_400_naming_the_field() {
    let app = spawn_app().await;
    let head = app.head_position().await;
    let refused = task_with(&app, json!(60.5))
        .await
        .expect_problem(400, "malformed-body");
    assert_eq!(refused.body["field"], "timeout_secs");
    let policy =
        json!({ "id": "p", "name": "p", "steps": [{ "delay_secs": 1 }, { "delay_secs": 0.25 }] });
    let refused = app
        .post("/v1/policies", &policy)
        .await
        .expect_problem(400, "malformed-body");
    assert_eq!(refused.body["field"], "steps[1].delay_secs");
    let mut trigger = trigger_body("web", "slow", "warning");
    trigger["escalation_secs"] = json!([60, 1e-1]);
    let refused = app
        .trigger(&trigger)
        .await
        .expect_problem(400, "malformed-body");
    assert_eq!(refused.body["field"], "escalation_secs[1]");
    assert_eq!(app.head_position().await, head, "nothing was written");
}
