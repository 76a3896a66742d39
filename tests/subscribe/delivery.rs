//! What a subscriber receives: every position once and in order across the switch
//! from catch-up to live, resumption after `Last-Event-ID`, filters, `from=end`,
//! heartbeats, the subscriber gauge and shutdown.

use crate::support::{note, spawn, spawn_with, sync, Frame};
use projections::ids::SyncId;
use projections::Event;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_from_one_gets_every_position_once_in_order_across_catch_up_and_live() {
    let app = spawn().await;
    app.append_notes("alert-a", 50).await;
    let mut reader = app.subscribe("from=1", &[]).await;
    let (ids, last) = tokio::join!(reader.ids(100), app.append_notes("alert-a", 50));
    assert_eq!(last, 100);
    assert_eq!(ids, (1..=100).collect::<Vec<u64>>());
    app.append_notes("alert-a", 1).await;
    assert_eq!(reader.event().await.0, 101, "live delivery continues");
    drop(reader);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_carries_its_position_type_and_the_recorded_event_as_json() {
    let app = spawn().await;
    app.append("sync-s1", vec![sync("s1")]).await;
    let mut reader = app.subscribe("from=1", &[]).await;
    let (id, event, data) = reader.event().await;
    assert_eq!((id, event.as_str()), (1, "sync_registered"));
    assert_eq!(data["position"], 1);
    assert_eq!(data["stream"], "sync-s1");
    assert_eq!(data["stream_version"], 0);
    assert_eq!(data["event"]["type"], "sync_registered");
    assert_eq!(data["event"]["sync_id"], "s1");
    assert!(data["hash"].is_string() && data["recorded_at"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_resumes_right_after_it_even_when_from_says_otherwise() {
    let app = spawn().await;
    app.append_notes("alert-a", 20).await;
    let mut first = app.subscribe("from=1", &[]).await;
    assert_eq!(first.ids(10).await, (1..=10).collect::<Vec<u64>>());
    drop(first);
    for query in ["from=1", "from=end", ""] {
        let mut again = app.subscribe(query, &[("Last-Event-ID", "10")]).await;
        assert_eq!(again.starts_after, 10, "{query}");
        assert_eq!(
            again.ids(10).await,
            (11..=20).collect::<Vec<u64>>(),
            "{query}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_deliver_only_matching_events_with_their_global_positions() {
    // (filter, expected positions, a later event that matches it)
    let cases: [(&str, &[u64], (&str, Event)); 6] = [
        ("category=alert", &[1, 3, 5], ("alert-c", note("7"))),
        ("stream=alert-a", &[1, 5], ("alert-a", note("7"))),
        ("type=sync_registered", &[2, 4], ("sync-s3", sync("s3"))),
        (
            "type=note_added&category=task",
            &[6],
            ("task-t2", note("7")),
        ),
        (
            "type=sync_registered,note_added&stream=alert-b",
            &[3],
            ("alert-b", note("7")),
        ),
        (
            "type=sync_registered&type=note_added",
            &[1, 2, 3, 4, 5, 6],
            ("sync-s3", sync("s3")),
        ),
    ];
    for (filter, expected, (stream, later)) in cases {
        let app = spawn().await;
        // 1 alert-a note, 2 sync-s1, 3 alert-b note, 4 sync-s2, 5 alert-a note, 6 task-t1 note.
        app.append("alert-a", vec![note("1")]).await;
        app.append("sync-s1", vec![sync("s1")]).await;
        app.append("alert-b", vec![note("3")]).await;
        app.append("sync-s2", vec![sync("s2")]).await;
        app.append("alert-a", vec![note("5")]).await;
        app.append("task-t1", vec![note("6")]).await;
        let mut reader = app.subscribe(&format!("from=1&{filter}"), &[]).await;
        assert_eq!(reader.ids(expected.len()).await, expected, "{filter}");
        // Nothing else matched: the next event delivered is a new matching one.
        let unmatched = Event::SyncDeleted {
            sync_id: SyncId::parse("s1").unwrap(),
        };
        app.append("other-z", vec![unmatched]).await;
        let fresh = app.append(stream, vec![later]).await;
        let (id, _, data) = reader.event().await;
        assert_eq!(
            (id, fresh),
            (8, 8),
            "{filter}: the next event is the new one"
        );
        assert_eq!(data["position"], 8);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_from_or_with_from_end_only_events_appended_after_the_request_arrive() {
    let app = spawn().await;
    app.append_notes("alert-a", 5).await;
    let mut default = app.subscribe("", &[]).await;
    let mut end = app.subscribe("from=end&category=alert", &[]).await;
    assert_eq!((default.starts_after, end.starts_after), (5, 5));
    let new = app.append("alert-a", vec![note("new")]).await;
    assert_eq!(new, 6);
    assert_eq!(default.event().await.0, 6);
    assert_eq!(end.event().await.0, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_subscription_receives_heartbeat_comments_at_the_configured_interval() {
    let app = spawn_with(|config| config.heartbeat = Duration::from_millis(100)).await;
    let mut reader = app.subscribe("from=end", &[]).await;
    for _ in 0..3 {
        assert_eq!(reader.frame().await, Frame::Comment("heartbeat".into()));
    }
    app.append("alert-a", vec![note("after")]).await;
    assert_eq!(reader.event().await.0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscriber_gauge_counts_open_subscriptions_and_drops_when_they_close() {
    let app = spawn().await;
    assert_eq!(app.subscribers(), 0);
    let first = app.subscribe("from=end", &[]).await;
    let second = app.subscribe("from=1", &[]).await;
    assert_eq!(app.subscribers(), 2);
    drop(first);
    drop(second);
    // The server notices a closed connection on its next write: a heartbeat or event.
    app.append("alert-a", vec![note("wake")]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.subscribers() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gauge still {}",
            app.subscribers()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_ends_open_subscriptions_instead_of_waiting_for_them() {
    let app = spawn().await;
    let mut reader = app.subscribe("from=end", &[]).await;
    let stopped = tokio::spawn(app.stop());
    assert!(reader.ends_within(Duration::from_secs(5)).await);
    stopped.await.unwrap().expect("the server stops cleanly");
}
