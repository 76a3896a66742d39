//! References to configuration are checked when they are written (ADR 0009): a route,
//! policy step or trigger that names a channel or policy that does not exist is a 422
//! naming the entry, and a channel that a route or step still names cannot be removed.
//! Nothing is written on refusal.

use crate::helpers::{spawn_app, trigger_body, Api, Reply};
use reqwest::Method;
use serde_json::{json, Value};

async fn channel(api: &Api, id: &str) -> Reply {
    let body = json!({ "id": id, "name": id, "kind": "webhook", "url": "http://127.0.0.1:9/hook" });
    api.post("/v1/channels", &body).await
}

async fn remove_channel(api: &Api, id: &str) -> Reply {
    api.send(Method::DELETE, &format!("/v1/channels/{id}"), None)
        .await
}

async fn policy(api: &Api, id: &str, steps: Value) -> Reply {
    let body = json!({ "id": id, "name": id, "steps": steps });
    api.post("/v1/policies", &body).await
}

async fn route(api: &Api, service: &str, body: Value) -> Reply {
    api.post(&format!("/v1/services/{service}/route"), &body)
        .await
}

/// Asserts a 422 `unknown-reference` problem naming `field`, whose detail says what
/// it names and why that does not do.
#[track_caller]
fn assert_unknown(reply: Reply, field: &str, detail: &str) {
    let reply = reply.expect_problem(422, "unknown-reference");
    assert_eq!(reply.body["field"], field, "{reply:?}");
    assert_eq!(reply.body["detail"], detail, "{reply:?}");
}

#[tokio::test]
async fn a_route_naming_an_unknown_channel_or_policy_is_refused_naming_the_field_and_writes_nothing(
) {
    let app = spawn_app().await;
    channel(&app, "oncall").await.expect(201);
    let before = app.head_position().await;

    let refused = route(&app, "payments", json!({ "channels": ["oncall", "pager"] })).await;
    assert_unknown(
        refused,
        "channels[1]",
        "channels[1] names channel pager, which does not exist; create it first",
    );
    let refused = route(&app, "payments", json!({ "policy": "db-oncall" })).await;
    assert_unknown(
        refused,
        "policy",
        "policy names policy db-oncall, which does not exist; create it first",
    );
    assert_eq!(app.head_position().await, before, "nothing was written");
    let routing = app.get("/v1/routing").await.expect(200);
    assert_eq!(routing.body["services"], json!({}));

    policy(&app, "db-oncall", json!([{ "delay_secs": 60 }]))
        .await
        .expect(200);
    route(
        &app,
        "payments",
        json!({ "channels": ["oncall"], "policy": "db-oncall" }),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn a_policy_step_naming_an_unknown_channel_is_refused_naming_the_step_entry() {
    let app = spawn_app().await;
    channel(&app, "oncall").await.expect(201);
    let before = app.head_position().await;

    let steps = json!([
        { "delay_secs": 60, "channels": ["oncall"] },
        { "delay_secs": 300, "channels": ["oncall", "lead"] }
    ]);
    let refused = policy(&app, "db-oncall", steps).await;

    assert_unknown(
        refused,
        "steps[1].channels[1]",
        "steps[1].channels[1] names channel lead, which does not exist; create it first",
    );
    assert_eq!(app.head_position().await, before, "nothing was written");
}

#[tokio::test]
async fn a_trigger_naming_an_unknown_or_removed_channel_is_refused_naming_the_entry() {
    let app = spawn_app().await;
    channel(&app, "oncall").await.expect(201);
    channel(&app, "retired").await.expect(201);
    remove_channel(&app, "retired").await.expect(200);
    let before = app.head_position().await;

    let mut body = trigger_body("payments", "latency", "error");
    body["channels"] = json!(["oncall", "pager"]);
    assert_unknown(
        app.trigger(&body).await,
        "channels[1]",
        "channels[1] names channel pager, which does not exist; create it first",
    );
    body["channels"] = json!(["retired"]);
    assert_unknown(
        app.trigger(&body).await,
        "channels[0]",
        "channels[0] names channel retired, which was removed; a removed channel cannot be named again",
    );
    assert_eq!(app.head_position().await, before, "nothing was written");
    let alerts = app.list_alerts("service=payments").await.expect(200);
    assert_eq!(alerts.body["items"], json!([]));

    body["channels"] = json!(["oncall"]);
    app.trigger(&body).await.expect(201);
}

#[tokio::test]
async fn removing_a_channel_a_route_or_policy_step_still_names_is_a_409_naming_them() {
    let app = spawn_app().await;
    channel(&app, "oncall").await.expect(201);
    let steps = json!([{ "delay_secs": 0 }, { "delay_secs": 60, "channels": ["oncall"] }]);
    policy(&app, "db-oncall", steps).await.expect(200);
    route(&app, "payments", json!({ "channels": ["oncall"] }))
        .await
        .expect(200);
    let before = app.head_position().await;

    let refused = remove_channel(&app, "oncall")
        .await
        .expect_problem(409, "channel-in-use");

    assert_eq!(
        refused.body["detail"],
        "channel oncall is still named by the route of service payments and steps[1] of policy db-oncall; remove it from those first"
    );
    assert_eq!(app.head_position().await, before, "nothing was written");
    let routing = app.get("/v1/routing").await.expect(200);
    assert_eq!(routing.body["channels"]["oncall"]["removed"], false);

    route(&app, "payments", json!({ "channels": [] }))
        .await
        .expect(200);
    policy(&app, "db-oncall", json!([{ "delay_secs": 0 }]))
        .await
        .expect(200);
    remove_channel(&app, "oncall").await.expect(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_route_and_the_removal_of_its_channel_racing_on_one_instance_never_leave_a_dangling_route(
) {
    let app = spawn_app().await;
    for round in 0..20 {
        let id = format!("racer-{round}");
        channel(&app, &id).await.expect(201);
        let (routed, removed) = tokio::join!(
            route(&app, "racing", json!({ "channels": [id] })),
            remove_channel(&app, &id)
        );
        let routing = app
            .get(&format!(
                "/v1/routing?min_position={}",
                app.head_position().await
            ))
            .await
            .expect(200);
        let named = routing.body["services"]["racing"]["channels"]
            .as_array()
            .is_some_and(|c| c.contains(&json!(id)));
        let gone = routing.body["channels"][&id]["removed"] == true;
        assert!(
            !(named && gone),
            "round {round}: the route names removed channel {id} ({routed:?}, {removed:?})"
        );
        // Exactly one of the two won.
        assert_ne!(
            routed.status.is_success(),
            removed.status.is_success(),
            "round {round}: {routed:?} {removed:?}"
        );
        route(&app, "racing", json!({ "channels": [] }))
            .await
            .expect(200);
    }
}
