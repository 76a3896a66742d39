//! The view queries a dashboard and an auditor use: alerts by time range and full
//! text, alarms split by acknowledgement with the alerts inline, and tasks and
//! resources a page at a time.

use crate::helpers::{spawn_app, trigger_body, TestApp};
use serde_json::{json, Value};

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The ids `GET /v1/alerts` lists for `query` once the views reach `head`.
async fn listed(app: &TestApp, head: u64, query: String) -> Vec<String> {
    let reply = app
        .get(&format!("/v1/alerts?min_position={head}&{query}"))
        .await
        .expect(200);
    ids(&reply.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_that_changes_the_summary_is_found_by_its_new_words_only() {
    let app = spawn_app().await;
    let mut first = trigger_body("storage", "disk", "critical");
    first["summary"] = json!("Disk full on db-7");
    first["details"] = json!({"mount": "/var/lib/postgresql"});
    let alert_id = app.trigger(&first).await.expect(201).str("alert_id");
    let mut repeat = first.clone();
    repeat["summary"] = json!("Inode exhaustion on db-7");
    let head = app.trigger(&repeat).await.expect(200).position();
    let find = |words: &str| listed(&app, head, format!("q={words}"));
    assert_eq!(
        find("inode").await,
        vec![alert_id.clone()],
        "the new summary"
    );
    assert_eq!(
        find("postgresql").await,
        vec![alert_id.clone()],
        "the details, which a repeat keeps"
    );
    assert_eq!(find("db").await, vec![alert_id.clone()], "once, not twice");
    assert!(find("disk").await.is_empty(), "the old summary is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_are_found_by_words_of_their_summary_and_details_and_by_when_they_opened() {
    let app = spawn_app().await;
    let mut disk = trigger_body("storage", "disk", "critical");
    disk["summary"] = json!("Disk full on db-7");
    disk["details"] = json!({"mount": "/var/lib/postgresql", "runbook": "cleanup-wal"});
    let disk = app.trigger(&disk).await.expect(201);
    let disk_id = disk.str("alert_id");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let between = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let mut latency = trigger_body("api", "latency", "warning");
    latency["summary"] = json!("p99 latency above 2s");
    let latency = app.trigger(&latency).await.expect(201);
    let latency_id = latency.str("alert_id");
    let head = latency.position();

    let find = |query: String| listed(&app, head, query);
    assert_eq!(find("q=disk".into()).await, vec![disk_id.clone()]);
    assert_eq!(
        find("q=DISK%20db".into()).await,
        vec![disk_id.clone()],
        "case folded, every word"
    );
    assert_eq!(
        find("q=postgresql".into()).await,
        vec![disk_id.clone()],
        "details are searched"
    );
    assert_eq!(
        find("q=lat*".into()).await,
        vec![latency_id.clone()],
        "a prefix"
    );
    assert!(
        find("q=disk%20latency".into()).await.is_empty(),
        "every word must match"
    );
    assert!(
        find("q=%22%29%28*".into()).await.is_empty(),
        "no words, no match, no error"
    );
    let since = between.to_rfc3339().replace('+', "%2B");
    assert_eq!(
        find(format!("since={since}")).await,
        vec![latency_id.clone()]
    );
    assert_eq!(find(format!("until={since}")).await, vec![disk_id.clone()]);

    let refused = app.get(&format!("/v1/alerts?q=disk&as_of={head}")).await;
    assert_eq!(
        refused.expect_problem(422, "validation").body["field"],
        "query.q"
    );
    let refused = app.get("/v1/alerts?since=yesterday").await;
    assert_eq!(
        refused.expect_problem(422, "validation").body["field"],
        "query.since"
    );
    let long = "a".repeat(257);
    let refused = app.get(&format!("/v1/alerts?q={long}")).await;
    assert_eq!(
        refused.expect_problem(422, "validation").body["field"],
        "query.q"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_split_by_acknowledgement_filtered_and_carry_their_alerts() {
    let app = spawn_app().await;
    app.register_sync("db-1", "database").await.expect(201);
    let mut on_db = trigger_body("payments", "replica-lag", "critical");
    on_db["resource"] = json!("db-1");
    let on_db = app.trigger(&on_db).await.expect(201).str("alert_id");
    let quiet = app
        .trigger(&trigger_body("payments", "queue", "warning"))
        .await
        .expect(201)
        .str("alert_id");
    let other = app
        .trigger(&trigger_body("search", "5xx", "error"))
        .await
        .expect(201)
        .str("alert_id");
    let head = app.ack(&quiet).await.expect(200).position();
    let resolved = app
        .trigger(&trigger_body("search", "gone", "info"))
        .await
        .expect(201)
        .str("alert_id");
    let head = head.max(app.resolve(&resolved).await.expect(200).position());

    let alarms = |query: &'static str| {
        let app = &app;
        async move {
            app.get(&format!("/v1/alarms?min_position={head}{query}"))
                .await
                .expect(200)
                .body
        }
    };
    let all = alarms("").await;
    assert_eq!(
        (
            all["total"].as_u64(),
            all["acknowledged"].as_u64(),
            all["unacknowledged"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
    let inline: Vec<&Value> = all["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["items"].as_array().unwrap())
        .collect();
    let db_item = inline
        .iter()
        .find(|i| i["id"] == on_db.as_str())
        .expect("inline");
    assert_eq!(db_item["summary"], "payments replica-lag is unhappy");
    assert_eq!(db_item["severity"], "critical");
    assert_eq!(db_item["status"], "triggered");
    // `since` is when the alert opened: the same instant, to the nanosecond, as the
    // alert's `created_at`.
    let opened = app.get_alert(&on_db, head).await.expect(200);
    assert_eq!(db_item["since"], opened.body["created_at"]);
    assert!(
        inline.iter().all(|i| i["id"] != resolved.as_str()),
        "resolved is no alarm"
    );

    let unacknowledged = alarms("&acknowledged=false").await;
    assert_eq!(unacknowledged["total"], 2);
    let acknowledged = alarms("&acknowledged=true").await;
    assert_eq!(acknowledged["groups"][0]["items"][0]["id"], quiet.as_str());
    let payments = alarms("&service=payments").await;
    assert_eq!(payments["total"], 2);
    let on_resource = alarms("&resource=db-1").await;
    assert_eq!(on_resource["groups"][0]["alerts"], json!([on_db]));
    let errors = alarms("&severity=error").await;
    assert_eq!(errors["groups"][0]["alerts"], json!([other]));
    let refused = app.get("/v1/alarms?acknowledged=maybe").await;
    assert_eq!(
        refused.expect_problem(422, "validation").body["field"],
        "query.acknowledged"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_and_resources_come_a_page_at_a_time() {
    let app = spawn_app().await;
    for id in ["r-1", "r-2", "r-3"] {
        app.register_sync(id, "resource").await.expect(201);
    }
    let alert = app
        .trigger(&trigger_body("api", "down", "critical"))
        .await
        .expect(201)
        .str("alert_id");
    let mut head = 0;
    for n in 0..3 {
        let mut task = json!({"script": "true", "hosts": ["h1"], "timeout_secs": 60});
        if n == 1 {
            task["alert_id"] = json!(alert);
        }
        head = app.post("/v1/tasks", &task).await.expect(201).position();
    }

    let first = app
        .get(&format!("/v1/syncs?limit=2&min_position={head}"))
        .await
        .expect(200);
    assert_eq!(ids(&first.body), ["r-1", "r-2"]);
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let rest = app
        .get(&format!("/v1/syncs?limit=2&cursor={cursor}"))
        .await
        .expect(200);
    assert_eq!(ids(&rest.body), ["r-3"]);
    assert!(rest.body["next_cursor"].is_null());

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let page = app
            .get(&format!(
                "/v1/tasks?host=h1&pending=true&limit=1&min_position={head}{query}"
            ))
            .await
            .expect(200);
        seen.extend(ids(&page.body));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "every pending task, one per page: {seen:?}");
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "in id order");
    let of_alert = app
        .get(&format!("/v1/tasks?alert_id={alert}&min_position={head}"))
        .await
        .expect(200);
    assert_eq!(of_alert.body["items"].as_array().unwrap().len(), 1);
    let refused = app.get("/v1/tasks?cursor=nope").await;
    assert_eq!(
        refused.expect_problem(422, "validation").body["field"],
        "query.cursor"
    );
    app.stop().await;
}
