//! Resources ("syncs") that own alarms, and self-healing tasks.

use crate::helpers::{spawn_app, trigger_body, Api};
use serde_json::{json, Value};

async fn trigger_on(api: &Api, service: &str, key: &str, severity: &str, resource: &str) -> u64 {
    let mut body = trigger_body(service, key, severity);
    body["resource"] = json!(resource);
    api.trigger(&body).await.expect(201).position()
}

#[tokio::test]
async fn deleting_a_sync_resolves_its_alarms_and_refuses_new_triggers_on_it() {
    let app = spawn_app().await;

    let registered = app.register_sync("web-1", "web frontend").await.expect(201);
    assert_eq!(registered.body["id"], "web-1");
    assert_eq!(registered.body["changed"], true);
    let again = app.register_sync("web-1", "web frontend").await.expect(200);
    assert_eq!(again.body["changed"], false);
    app.register_sync("web-1", "another name")
        .await
        .expect_problem(409, "sync-exists");

    trigger_on(&app, "nginx", "5xx", "critical", "web-1").await;
    trigger_on(&app, "nginx", "latency", "warning", "web-1").await;
    let loose = app
        .trigger(&trigger_body("nginx", "cert-expiry", "warning"))
        .await
        .expect(201);

    let alarms = app
        .get(&format!("/v1/alarms?min_position={}", loose.position()))
        .await
        .expect(200);
    assert_eq!(alarms.body["total"], 3);
    let groups = alarms.body["groups"].as_array().expect("groups");
    let on_sync = group(groups, Some("web-1"), "nginx");
    assert_eq!(on_sync["counts"]["critical"], 1);
    assert_eq!(on_sync["counts"]["warning"], 1);
    assert_eq!(on_sync["counts"]["error"], 0);
    let sync_alerts: Vec<String> = on_sync["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sync_alerts.len(), 2);
    let loose_group = group(groups, None, "nginx");
    assert_eq!(loose_group["counts"]["warning"], 1);

    let deleted = app.delete_sync("web-1").await.expect(200);
    let alarms = app
        .get(&format!("/v1/alarms?min_position={}", deleted.position()))
        .await
        .expect(200);
    assert_eq!(alarms.body["total"], 1, "{alarms:?}");
    let groups = alarms.body["groups"].as_array().unwrap();
    assert!(groups.iter().all(|g| g["resource"] != "web-1"));

    for alert_id in &sync_alerts {
        let alert = app
            .get_alert(alert_id, deleted.position())
            .await
            .expect(200);
        assert_eq!(alert.body["status"], "resolved");
        assert_eq!(alert.body["resolution"]["by"], "resource_deleted");
        assert_eq!(alert.body["resolution"]["sync_id"], "web-1");
        let history = app.history_types(alert_id, deleted.position()).await;
        assert_eq!(history.last().map(String::as_str), Some("sync_deleted"));
    }

    let mut on_deleted = trigger_body("nginx", "5xx-again", "critical");
    on_deleted["resource"] = json!("web-1");
    app.trigger(&on_deleted)
        .await
        .expect_problem(409, "resource-deleted");
    on_deleted["resource"] = json!("never-registered");
    app.trigger(&on_deleted)
        .await
        .expect_problem(422, "unknown-resource");

    let syncs = app.get("/v1/syncs").await.expect(200);
    let listed = syncs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "web-1")
        .cloned()
        .expect("the deleted sync is still listed");
    assert_eq!(listed["deleted"], true);
    app.delete_sync("never-registered")
        .await
        .expect_problem(404, "not-found");
}

fn group<'a>(groups: &'a [Value], resource: Option<&str>, service: &str) -> &'a Value {
    let resource = resource.map_or(Value::Null, |r| json!(r));
    groups
        .iter()
        .find(|g| g["resource"] == resource && g["service"] == service)
        .unwrap_or_else(|| panic!("no alarm group ({resource}, {service}) in {groups:?}"))
}

#[tokio::test]
async fn a_task_records_each_hosts_result_and_cancelling_it_cancels_the_remaining_hosts() {
    let app = spawn_app().await;
    let body = json!({
        "script": "/usr/local/bin/clean-disk",
        "args": ["--older-than", "7d"],
        "hosts": ["h1", "h2", "h3"],
        "timeout_secs": 300,
    });
    let created = app.post("/v1/tasks", &body).await.expect(201);
    let task_id = created.str("id");
    let tasks = format!("/v1/tasks/{task_id}");

    let task = app
        .get(&format!("{tasks}?min_position={}", created.position()))
        .await
        .expect(200);
    assert_eq!(task.body["spec"]["script"], "/usr/local/bin/clean-disk");
    for host in ["h1", "h2", "h3"] {
        assert_eq!(task.body["hosts"][host]["state"], "waiting");
    }
    let pending = pending_for(&app, "h1", created.position()).await;
    assert_eq!(pending, vec![task_id.clone()]);

    app.post_empty(&format!("{tasks}/hosts/h1/start"))
        .await
        .expect(200);
    let h1 = app
        .post(
            &format!("{tasks}/hosts/h1/result"),
            &json!({ "exit_code": 0, "output_tail": "freed 3 GiB" }),
        )
        .await
        .expect(200);
    let h2 = app
        .post(
            &format!("{tasks}/hosts/h2/result"),
            &json!({ "exit_code": 3, "output_tail": "permission denied" }),
        )
        .await
        .expect(200);
    let task = app
        .get(&format!("{tasks}?min_position={}", h2.position()))
        .await
        .expect(200);
    assert_eq!(task.body["hosts"]["h1"]["state"], "succeeded");
    assert_eq!(task.body["hosts"]["h1"]["exit_code"], 0);
    assert_eq!(task.body["hosts"]["h2"]["state"], "failed");
    assert_eq!(task.body["hosts"]["h2"]["exit_code"], 3);
    assert!(pending_for(&app, "h1", h1.position()).await.is_empty());
    assert_eq!(
        pending_for(&app, "h3", h2.position()).await,
        vec![task_id.clone()]
    );

    app.post(
        &format!("{tasks}/hosts/h9/result"),
        &json!({ "exit_code": 0 }),
    )
    .await
    .expect_problem(404, "not-found");
    app.post(
        &format!("{tasks}/hosts/h1/result"),
        &json!({ "exit_code": 1 }),
    )
    .await
    .expect_problem(409, "host-finished");

    let cancelled = app
        .post(
            &format!("{tasks}/cancel"),
            &json!({ "reason": "disk replaced" }),
        )
        .await
        .expect(200);
    let task = app
        .get(&format!("{tasks}?min_position={}", cancelled.position()))
        .await
        .expect(200);
    assert_eq!(task.body["hosts"]["h1"]["state"], "succeeded");
    assert_eq!(task.body["hosts"]["h2"]["state"], "failed");
    assert_eq!(task.body["hosts"]["h3"]["state"], "cancelled");
    assert!(pending_for(&app, "h3", cancelled.position())
        .await
        .is_empty());

    let unknown = "0e3a4c1a-0c1f-4d0b-9a53-3b1f8f0c2b7d";
    app.get(&format!("/v1/tasks/{unknown}"))
        .await
        .expect_problem(404, "not-found");
}

async fn pending_for(api: &Api, host: &str, min_position: u64) -> Vec<String> {
    let reply = api
        .get(&format!(
            "/v1/tasks?host={host}&pending=true&min_position={min_position}"
        ))
        .await
        .expect(200);
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect()
}
