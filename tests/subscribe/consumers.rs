//! Durable consumer groups end to end: each event to one member, acknowledgements in
//! the ledger, at least once across a restart and a member that stops, and refusals
//! that name the field.

use crate::support::{note, spawn, SseReader, TestApp};
use alert_ledger::config::ServeConfig;
use alert_ledger::startup::Application;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;

/// Creates a group and returns its answer.
async fn create(client: &reqwest::Client, address: &str, body: Value) -> reqwest::Response {
    client
        .post(format!("{address}/v1/consumers"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// One long-poll page for `member` (no waiting).
async fn page(client: &reqwest::Client, address: &str, group: &str, member: &str) -> Value {
    let response = client
        .get(format!(
            "{address}/v1/consumers/{group}/events?member={member}&limit=1000&wait=0"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "page for {member}");
    response.json().await.unwrap()
}

/// Acknowledges up to `position` for `member`.
async fn ack(
    client: &reqwest::Client,
    address: &str,
    group: &str,
    member: &str,
    position: u64,
) -> reqwest::Response {
    client
        .post(format!("{address}/v1/consumers/{group}/ack"))
        .json(&json!({"member": member, "position": position}))
        .send()
        .await
        .unwrap()
}

/// `GET address+path`, which must answer 200 with JSON.
async fn get_json(client: &reqwest::Client, address: &str, path: &str) -> Value {
    let response = client.get(format!("{address}{path}")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

async fn status(client: &reqwest::Client, address: &str, group: &str) -> Value {
    get_json(client, address, &format!("/v1/consumers/{group}")).await
}

/// (position, stream) of every event of a page.
fn handed(page: &Value) -> Vec<(u64, String)> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["position"].as_u64().unwrap(),
                e["stream"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Appends one note to each of `streams` streams, `rounds` times; returns positions.
async fn append_round_robin(app_append: &TestApp, streams: usize, rounds: usize) -> Vec<u64> {
    let mut positions = Vec::new();
    for round in 0..rounds {
        for s in 0..streams {
            let position = app_append
                .append(&format!("alert-s{s}"), vec![note(&format!("{round}"))])
                .await;
            positions.push(position);
        }
    }
    positions
}

#[tokio::test]
async fn each_event_goes_to_one_member_and_acks_bring_the_lag_to_zero() {
    let app = spawn().await;
    let (client, address) = (&app.client, app.address.as_str());
    let created = create(
        client,
        address,
        json!({"name": "billing", "category": "alert", "partitions": 8}),
    )
    .await;
    assert_eq!(created.status(), 201);
    // Both members join before anything is appended, so they share the partitions.
    assert!(handed(&page(client, address, "billing", "a").await).is_empty());
    assert!(handed(&page(client, address, "billing", "b").await).is_empty());
    let positions = append_round_robin(&app, 24, 5).await;
    app.append("sync-x", vec![note("not in the category")])
        .await;

    let (page_a, page_b) = (
        page(client, address, "billing", "a").await,
        page(client, address, "billing", "b").await,
    );
    let (got_a, got_b) = (handed(&page_a), handed(&page_b));
    assert!(!got_a.is_empty() && !got_b.is_empty(), "both members work");
    let all: BTreeSet<u64> = got_a.iter().chain(&got_b).map(|(p, _)| *p).collect();
    assert_eq!(
        all.len(),
        got_a.len() + got_b.len(),
        "no event to both members"
    );
    assert_eq!(
        all,
        positions.iter().copied().collect(),
        "every event, once"
    );
    let streams_a: BTreeSet<&String> = got_a.iter().map(|(_, s)| s).collect();
    assert!(
        got_b.iter().all(|(_, s)| !streams_a.contains(s)),
        "a stream's events stay with one member"
    );
    for (member, got) in [("a", &got_a), ("b", &got_b)] {
        let mut in_order = got.clone();
        in_order.sort();
        assert_eq!(&in_order, got, "{member} is handed events in log order");
    }

    let last_a = got_a.last().unwrap().0;
    let acked = ack(client, address, "billing", "a", last_a).await;
    assert_eq!(acked.status(), 200);
    let acked: Value = acked.json().await.unwrap();
    assert!(
        !acked["checkpoints"].as_array().unwrap().is_empty(),
        "{acked}"
    );
    let last_b = got_b.last().unwrap().0;
    assert_eq!(
        ack(client, address, "billing", "b", last_b).await.status(),
        200
    );
    let group = status(client, address, "billing").await;
    let head = group["head"].as_u64().unwrap();
    assert!(
        group["checkpoint"].as_u64().unwrap() >= *positions.last().unwrap(),
        "{group}"
    );
    assert!(group["lag"].as_u64().unwrap() <= head - positions.last().unwrap());
    assert_eq!(group["members"].as_array().unwrap().len(), 2, "{group}");

    // The checkpoint is in the ledger: the group's stream holds the acks.
    let stream = get_json(client, address, "/v1/streams/consumer-billing").await;
    let types: Vec<&str> = stream["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["consumer_group_created", "consumer_acked", "consumer_acked"]
    );
    let metrics = client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("alert_ledger_consumer_lag_positions{group=\"billing\"}"),
        "lag per group is exported"
    );
    app.stop().await.unwrap();
}

/// A server on `data_dir`, stopped by sending on the returned channel.
async fn serve(data_dir: &Path) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), data_dir);
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(async move {
            let _ = rx.await;
        })
        .await
        .expect("the server runs");
    });
    (address, tx, server)
}

async fn append_notes_over_http(client: &reqwest::Client, address: &str, count: usize) {
    for i in 0..count {
        let response = client
            .post(format!("{address}/v1/alerts"))
            .json(&json!({
                "service": "payments",
                "dedup_key": format!("k{i}"),
                "summary": "disk full",
                "severity": "warning"
            }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
    }
}

#[tokio::test]
async fn a_page_without_waiting_holds_what_was_acknowledged_before_it() {
    let app = spawn().await;
    let (client, address) = (&app.client, app.address.as_str());
    let body = json!({"name": "own-writes", "category": "alert", "partitions": 1});
    assert_eq!(create(client, address, body).await.status(), 201);
    for round in 0..40 {
        let position = app
            .append("alert-own", vec![note(&format!("{round}"))])
            .await;
        let got = handed(&page(client, address, "own-writes", "m").await);
        assert!(
            got.iter().any(|(p, _)| *p == position),
            "round {round}: the event at {position}, acknowledged before the read, is not in {got:?}"
        );
    }
}

#[tokio::test]
async fn what_was_not_acknowledged_is_handed_again_after_a_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let (address, stop, server) = serve(data_dir.path()).await;
    let body = json!({"name": "pager", "types": ["alert_triggered"], "from": "start"});
    assert_eq!(create(&client, &address, body).await.status(), 201);
    append_notes_over_http(&client, &address, 30).await;
    let first = handed(&page(&client, &address, "pager", "worker-1").await);
    assert_eq!(first.len(), 30, "every trigger");
    let done = first[11].0;
    assert_eq!(
        ack(&client, &address, "pager", "worker-1", done)
            .await
            .status(),
        200
    );
    stop.send(()).unwrap();
    server.await.unwrap();

    let (address, stop, server) = serve(data_dir.path()).await;
    let again = handed(&page(&client, &address, "pager", "worker-1").await);
    assert_eq!(again, first[12..], "exactly what was not acknowledged");
    let same_settings = json!({"name": "pager", "types": ["alert_triggered"]});
    assert_eq!(
        create(&client, &address, same_settings).await.status(),
        200,
        "creating it again with the same settings changes nothing"
    );
    stop.send(()).unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_member_that_stops_reading_leaves_what_it_did_not_acknowledge_to_the_others() {
    let app = spawn().await;
    let (client, address) = (&app.client, app.address.as_str());
    let body =
        json!({"name": "jobs", "partitions": 4, "member_timeout_secs": 1, "category": "alert"});
    assert_eq!(create(client, address, body).await.status(), 201);
    page(client, address, "jobs", "a").await;
    page(client, address, "jobs", "b").await;
    let positions = append_round_robin(&app, 16, 3).await;
    // A page holds what the member could read when it was asked (appends are durable
    // before a member can be handed them): read again, from the checkpoint, until the
    // two pages hold every appended event, so `got_a` is all that a had.
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        got_a = handed(&page(client, address, "jobs", "a").await);
        got_b = handed(&page(client, address, "jobs", "b").await);
        if got_a.len() + got_b.len() == positions.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        got_a.len() + got_b.len(),
        positions.len(),
        "a {got_a:?} b {got_b:?}"
    );
    assert!(!got_a.is_empty() && !got_b.is_empty());
    ack(client, address, "jobs", "b", got_b.last().unwrap().0).await;
    // a goes away without acknowledging; b keeps reading and, after a's timeout,
    // is handed what a had. (b acknowledges nothing more, so each of its pages starts
    // at the checkpoint: a page read while a's partitions moved may hold part of them,
    // the next one holds all.)
    let mut again = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        again = handed(&page(client, address, "jobs", "b").await);
        assert!(
            again.iter().all(|e| got_a.contains(e)),
            "b is handed only what a had: {again:?}"
        );
        if again.len() == got_a.len() {
            break;
        }
    }
    assert_eq!(again, got_a, "a's unacknowledged events, in order, to b");
    let all: BTreeSet<u64> = got_b.iter().chain(&again).map(|(p, _)| *p).collect();
    assert_eq!(all, positions.iter().copied().collect());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_event_stream_member_is_handed_frames_and_resumes_after_its_ack() {
    let app = spawn().await;
    let (client, address) = (&app.client, app.address.as_str());
    let body = json!({"name": "live", "stream": "alert-one", "from": "start"});
    assert_eq!(create(client, address, body).await.status(), 201);
    app.append_notes("alert-one", 5).await;
    app.append_notes("alert-two", 5).await;
    let response = client
        .get(format!("{address}/v1/consumers/live/events?member=m1"))
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut reader = SseReader::new(response);
    let ids = reader.ids(5).await;
    assert_eq!(ids.len(), 5);
    let last = app.append_notes("alert-one", 1).await;
    assert_eq!(reader.next_id().await, last, "live after catch-up");
    drop(reader);
    assert_eq!(
        ack(client, address, "live", "m1", ids[2]).await.status(),
        200
    );
    let rest = handed(&page(client, address, "live", "m1").await);
    let positions: Vec<u64> = rest.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        positions,
        [ids[3], ids[4], last],
        "the unacknowledged, again"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn bad_consumer_requests_are_refused_naming_the_field_and_write_nothing() {
    let app = spawn().await;
    let (client, address) = (&app.client, app.address.as_str());
    let cases = [
        (json!({"name": "x", "partitions": 0}), "partitions"),
        (json!({"name": "x", "partitions": 300}), "partitions"),
        (json!({"name": "x", "types": ["nope"]}), "types[0]"),
        (json!({"name": "x", "category": "a-b"}), "category"),
        (json!({"name": "x", "stream": "consumer-y"}), "stream"),
        (json!({"name": "x", "from": -3}), "from"),
        (
            json!({"name": "x", "member_timeout_secs": 0}),
            "member_timeout_secs",
        ),
        (json!({"name": "bad name"}), "name"),
    ];
    let head_before = app.store.head().await.unwrap().position;
    for (body, field) in cases {
        let response = create(client, address, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["field"], field, "{body}: {problem}");
    }
    assert_eq!(
        app.store.head().await.unwrap().position,
        head_before,
        "nothing written"
    );

    let body = json!({"name": "g", "partitions": 2});
    assert_eq!(create(client, address, body).await.status(), 201);
    let other = json!({"name": "g", "partitions": 3});
    assert_eq!(create(client, address, other).await.status(), 409);
    page(client, address, "g", "m").await;
    let head = app.store.head().await.unwrap().position;
    let beyond = ack(client, address, "g", "m", head + 100).await;
    assert_eq!(beyond.status(), 422);
    let problem: Value = beyond.json().await.unwrap();
    assert_eq!(problem["field"], "position", "{problem}");
    let stranger = ack(client, address, "g", "nobody", head).await;
    assert_eq!(stranger.status(), 422);
    let problem: Value = stranger.json().await.unwrap();
    assert_eq!(problem["field"], "member", "{problem}");
    let no_member = client
        .get(format!("{address}/v1/consumers/g/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_member.status(), 422);
    let problem: Value = no_member.json().await.unwrap();
    assert_eq!(problem["field"], "query.member");
    let missing = page_status(client, address, "nothing-here").await;
    assert_eq!(missing, 404);
    assert_eq!(
        app.store.head().await.unwrap().position,
        head,
        "nothing written"
    );

    let deleted = client
        .delete(format!("{address}/v1/consumers/g"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(page_status(client, address, "g").await, 404);
    let list = get_json(client, address, "/v1/consumers").await;
    assert_eq!(list["items"], json!([]));
    app.stop().await.unwrap();
}

async fn page_status(client: &reqwest::Client, address: &str, group: &str) -> u16 {
    client
        .get(format!(
            "{address}/v1/consumers/{group}/events?member=m&wait=0"
        ))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
