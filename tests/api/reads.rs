//! Reads: alert pages and filters, raw streams, pages of `$all`, `min_position`.

use crate::helpers::{spawn_app, spawn_app_with, trigger_body, Api};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn paging_alerts_walks_every_alert_newest_first_even_while_new_ones_arrive() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    let mut last = 0;
    for i in 0..7 {
        let reply = app
            .trigger(&trigger_body("pager", &format!("key-{i}"), "info"))
            .await
            .expect(201);
        last = reply.position();
        created.push(reply.str("alert_id"));
    }

    let mut seen = Vec::new();
    let mut query = format!("limit=2&min_position={last}");
    for page_number in 0.. {
        assert!(page_number < 10, "paging never ended: {seen:?}");
        let page = app.list_alerts(&query).await.expect(200);
        let items = ids(&page.body);
        assert!(items.len() <= 2);
        seen.extend(items);
        // A newer alert between pages must not shift what the cursor points at.
        app.trigger(&trigger_body(
            "pager",
            &format!("late-{page_number}"),
            "info",
        ))
        .await
        .expect(201);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }

    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());
}

/// The alert each listed message is about, and the positions that queued them.
fn message_alerts(page: &Value) -> (Vec<String>, Vec<u64>) {
    let items = page["items"].as_array().expect("items");
    let alerts = items
        .iter()
        .map(|m| m["alert_id"].as_str().expect("alert_id").to_owned())
        .collect();
    let queued = items
        .iter()
        .map(|m| m["queued_position"].as_u64().expect("queued_position"))
        .collect();
    (alerts, queued)
}

#[tokio::test]
async fn paging_messages_walks_every_message_newest_first_even_while_new_ones_arrive() {
    let app = spawn_app().await;
    let channel =
        json!({"id": "ops", "name": "ops", "kind": "webhook", "url": "http://127.0.0.1:9/"});
    app.post("/v1/channels", &channel).await.expect(201);
    let with_channel = |key: &str| {
        let mut body = trigger_body("pager", key, "info");
        body["channels"] = json!(["ops"]);
        body
    };
    let mut created = Vec::new();
    let mut positions = Vec::new();
    for i in 0..5 {
        let reply = app
            .trigger(&with_channel(&format!("key-{i}")))
            .await
            .expect(201);
        positions.push(reply.position());
        created.push(reply.str("alert_id"));
    }
    let last = *positions.last().expect("five triggers");

    let mut seen = Vec::new();
    let mut queued = Vec::new();
    let mut query = format!("limit=2&state=pending&channel=ops&min_position={last}");
    for page_number in 0.. {
        assert!(page_number < 10, "paging never ended: {seen:?}");
        let page = app.get(&format!("/v1/messages?{query}")).await.expect(200);
        let (alerts, at) = message_alerts(&page.body);
        assert!(alerts.len() <= 2, "{page:?}");
        seen.extend(alerts);
        queued.extend(at);
        // A message queued between pages must not shift what the cursor points at.
        app.trigger(&with_channel(&format!("late-{page_number}")))
            .await
            .expect(201);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&state=pending&channel=ops&cursor={cursor}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    assert!(
        queued.windows(2).all(|w| w[0] > w[1]),
        "queued positions descend: {queued:?}"
    );

    // As of the third trigger: the three messages queued by then, newest first.
    let page = app
        .get(&format!("/v1/messages?limit=2&as_of={}", positions[2]))
        .await
        .expect(200);
    let (alerts, _) = message_alerts(&page.body);
    assert_eq!(alerts, [created[2].clone(), created[1].clone()]);
    let cursor = page.body["next_cursor"].as_str().expect("a second page");
    let page = app
        .get(&format!(
            "/v1/messages?limit=2&as_of={}&cursor={cursor}",
            positions[2]
        ))
        .await
        .expect(200);
    let (alerts, _) = message_alerts(&page.body);
    assert_eq!(alerts, [created[0].clone()]);
    assert!(page.body["next_cursor"].is_null(), "{page:?}");

    let bad = app.get("/v1/messages?cursor=not-a-position").await;
    let bad = bad.expect_problem(422, "validation");
    assert_eq!(bad.body["field"], "query.cursor");
}

#[tokio::test]
async fn alert_filters_select_by_status_service_severity_and_resource() {
    let app = spawn_app().await;
    app.register_sync("db-1", "primary database")
        .await
        .expect(201);
    let a = app
        .trigger(&trigger_body("db", "replication", "critical"))
        .await
        .expect(201)
        .str("alert_id");
    let mut on_db = trigger_body("db", "connections", "warning");
    on_db["resource"] = json!("db-1");
    let b = app.trigger(&on_db).await.expect(201).str("alert_id");
    let c = app
        .trigger(&trigger_body("web", "5xx", "critical"))
        .await
        .expect(201)
        .str("alert_id");
    let last = app.ack(&b).await.expect(200).position();

    let query = |q: &str| format!("{q}&min_position={last}");
    let check = |expected: Vec<&String>, page: Value| {
        let got = ids(&page);
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(got, expected);
    };
    check(
        vec![&a],
        app.list_alerts(&query("status=triggered&service=db"))
            .await
            .expect(200)
            .body,
    );
    check(
        vec![&b],
        app.list_alerts(&query("status=acknowledged"))
            .await
            .expect(200)
            .body,
    );
    check(
        vec![&c, &a],
        app.list_alerts(&query("severity=critical"))
            .await
            .expect(200)
            .body,
    );
    check(
        vec![&b],
        app.list_alerts(&query("resource=db-1"))
            .await
            .expect(200)
            .body,
    );
    check(
        vec![],
        app.list_alerts(&query("status=resolved"))
            .await
            .expect(200)
            .body,
    );
    let bad = app
        .list_alerts("status=sleeping")
        .await
        .expect_problem(422, "validation");
    assert_eq!(bad.body["field"], "query.status");
}

#[tokio::test]
async fn a_stream_reads_forward_and_backward_and_all_pages_through_the_whole_log() {
    let app = spawn_app().await;
    let body = trigger_body("queue", "backlog", "error");
    let first = app.trigger(&body).await.expect(201);
    let alert_id = first.str("alert_id");
    for _ in 0..4 {
        app.trigger(&body).await.expect(200);
    }
    // The views may trail the writes (a busy machine): read them once they hold the
    // alert.
    let stream = app
        .get_alert(&alert_id, first.position())
        .await
        .expect(200)
        .str("stream");

    let versions = |reply: &Value| -> Vec<u64> {
        reply["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["stream_version"].as_u64().unwrap())
            .collect()
    };
    let forward = app.get(&format!("/v1/streams/{stream}")).await.expect(200);
    assert_eq!(versions(&forward.body), [0, 1, 2, 3, 4]);
    assert!(forward.body["next"].is_null());
    let backward = app
        .get(&format!("/v1/streams/{stream}?direction=backward&limit=2"))
        .await
        .expect(200);
    assert_eq!(versions(&backward.body), [4, 3]);
    assert_eq!(backward.body["next"], 2);
    let middle = app
        .get(&format!("/v1/streams/{stream}?from=1&limit=2"))
        .await
        .expect(200);
    assert_eq!(versions(&middle.body), [1, 2]);
    assert_eq!(middle.body["next"], 3);

    app.trigger(&trigger_body("queue", "other", "info"))
        .await
        .expect(201);
    let head = app.head_position().await;
    let mut positions = Vec::new();
    let mut from = 1;
    loop {
        let page = app
            .get(&format!("/v1/events?from={from}&limit=2"))
            .await
            .expect(200);
        let events = page.body["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        positions.extend(events.iter().map(|e| e["position"].as_u64().unwrap()));
        match page.body["next"].as_u64() {
            Some(next) => from = next,
            None => break,
        }
        assert!(positions.len() < 100, "paging $all never ended");
    }
    assert_eq!(positions, (1..=head).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_read_for_a_position_beyond_the_head_is_refused_at_once_naming_the_parameter() {
    // Long enough that a wait would show: a position no write has cannot be waited for.
    let app = spawn_app_with(|config| config.read_wait = Duration::from_secs(5)).await;
    let head = app
        .trigger(&trigger_body("far", "future", "info"))
        .await
        .expect(201)
        .position();

    let started = Instant::now();
    let reply = app
        .list_alerts(&format!("min_position={}", head + 1))
        .await
        .expect_problem(422, "validation");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "it did not wait"
    );
    assert_eq!(reply.body["field"], "query.min_position", "{reply:?}");
    app.list_alerts(&format!("min_position={head}"))
        .await
        .expect(200);
}

#[tokio::test]
async fn every_response_carries_the_ledger_position() {
    let app = spawn_app().await;
    let written = app
        .trigger(&trigger_body("pos", "one", "info"))
        .await
        .expect(201)
        .position();
    let id = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
    let paths = [
        "/v1/alerts".to_owned(),
        format!("/v1/alerts/{id}"),
        "/v1/alarms".to_owned(),
        "/v1/messages".to_owned(),
        "/v1/syncs".to_owned(),
        "/v1/tasks".to_owned(),
        "/v1/events".to_owned(),
        "/v1/streams/alert-x".to_owned(),
        "/v1/ledger/digest".to_owned(),
        "/v1/alerts?bogus=1".to_owned(),
        "/no/such/route".to_owned(),
        "/livez".to_owned(),
        "/readyz".to_owned(),
        "/metrics".to_owned(),
        "/openapi.json".to_owned(),
    ];
    for path in paths {
        let reply = get_settled(&app, &path, written).await;
        assert!(
            reply.position_header() >= written,
            "{path}: X-Ledger-Position {} < {written}",
            reply.position_header()
        );
    }
}

/// `path` once the views have applied `position` (so the header can be compared).
async fn get_settled(api: &Api, path: &str, position: u64) -> crate::helpers::Reply {
    api.list_alerts(&format!("min_position={position}"))
        .await
        .expect(200);
    api.get(path).await
}
