//! Position-relative forms of the cases that assume a fresh, gap-free, 1-based `$all`:
//! each takes its positions from what the store answered, never from constants, so it
//! holds on KurrentDB (commit positions: strictly increasing in `$all` order, with
//! gaps, shared with every other test on the server) as well as on the embedded and
//! postgres backends, where all of them run too.
//!
//! Not restated: cross-stream reuse of event ids (KurrentDB's idempotency is per
//! stream; docs/adr/0008-kurrentdb.md) and the chain from genesis (the chain runs
//! through every writer's events on the server, so a namespace sees links, not a
//! whole chain).

use crate::support::{note, notes, Harness};
use alert_ledger::store::subscription::{EventFilter, Subscription};
use alert_ledger::store::{Direction, ExpectedVersion};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

pub async fn any_expectation_appends_and_positions_grow_across_appends(h: &mut impl Harness) {
    let store = h.store();
    let first = store
        .append("message-1", ExpectedVersion::Any, notes("a", 3))
        .await
        .expect("append to a new stream");
    assert_eq!(first.stream_version, 2);
    assert!(first.first_position < first.last_position);
    let second = store
        .append("message-1", ExpectedVersion::Any, vec![note("b")])
        .await
        .expect("append to an existing stream");
    assert_eq!(second.stream_version, 3);
    assert_eq!(second.first_position, second.last_position);
    assert!(second.first_position > first.last_position);
    let all = store
        .read_all(first.first_position, 100)
        .await
        .expect("read_all");
    let positions: Vec<_> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), 4);
    assert_eq!(positions[0], first.first_position);
    assert_eq!(positions[2], first.last_position);
    assert_eq!(positions[3], second.first_position);
}

pub async fn reading_all_from_any_stored_position_returns_the_events_from_there_in_order(
    h: &mut impl Harness,
) {
    let store = h.store();
    for i in 0..25 {
        store
            .append(
                &format!("task-{}", i % 3),
                ExpectedVersion::Any,
                notes(&format!("t{i}"), 2),
            )
            .await
            .expect("append");
    }
    let all: Vec<u64> = store
        .read_all(0, 1000)
        .await
        .expect("read_all")
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(all.len(), 50);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
    for index in [0usize, 1, 16, 32, 48, 49] {
        let from = all[index];
        let page: Vec<u64> = store
            .read_all(from, 1000)
            .await
            .expect("read_all")
            .iter()
            .map(|e| e.position)
            .collect();
        assert_eq!(page, all[index..], "from the {index}th position");
    }
    let past = store.read_all(all[49] + 1, 10).await.expect("read_all");
    assert!(past.is_empty(), "nothing after the last event");
    let limited = store.read_all(all[9], 7).await.expect("read_all");
    let limited: Vec<u64> = limited.iter().map(|e| e.position).collect();
    assert_eq!(limited, all[9..16]);
}

pub async fn head_reports_the_last_event_and_the_watch_follows_appends(h: &mut impl Harness) {
    let store = h.store();
    let mut watch = store.watch_head();
    let _ = watch.borrow_and_update();
    let result = store
        .append("alert-h", ExpectedVersion::Any, notes("h", 3))
        .await
        .expect("append");
    tokio::time::timeout(PATIENCE, watch.wait_for(|p| *p >= result.last_position))
        .await
        .expect("the watch reaches the append")
        .expect("the watch is open");
    let head = store.head().await.expect("head");
    let last = store
        .read_stream("alert-h", 2, Direction::Forward, 1)
        .await
        .expect("read");
    assert_eq!(head.position, result.last_position);
    assert_eq!(head.hash, last[0].hash);
    assert_eq!(last[0].position, result.last_position);
}

pub async fn reopening_preserves_positions_hashes_and_versions_and_appends_continue(
    h: &mut impl Harness,
) {
    let store = h.store();
    for i in 0..12 {
        store
            .append(
                &format!("sync-{}", i % 3),
                ExpectedVersion::Any,
                notes("p", 1 + i % 2),
            )
            .await
            .expect("append");
    }
    let before = store.read_all(0, 1000).await.expect("read_all");
    let head = store.head().await.expect("head");
    let version = store.stream_version("sync-1").await.expect("version");
    let store = h.reopen().await;
    assert_eq!(store.read_all(0, 1000).await.expect("read_all"), before);
    assert_eq!(store.head().await.expect("head"), head);
    assert_eq!(
        store.stream_version("sync-1").await.expect("version"),
        version
    );
    let version = version.expect("sync-1 exists");
    let next = store
        .append("sync-1", ExpectedVersion::Exact(version), notes("after", 1))
        .await
        .expect("appends continue");
    assert!(next.first_position > head.position);
    assert_eq!(next.stream_version, version + 1);
}

pub async fn a_long_stream_reads_back_completely_in_both_directions(h: &mut impl Harness) {
    let store = h.store();
    const EVENTS: u64 = 20_000;
    for chunk in 0..EVENTS / 500 {
        store
            .append(
                "alert-long",
                ExpectedVersion::Any,
                notes(&format!("c{chunk}"), 500),
            )
            .await
            .expect("append");
    }
    let mut forward = Vec::new();
    let mut from = 0;
    loop {
        let page = store
            .read_stream("alert-long", from, Direction::Forward, 4096)
            .await
            .expect("read");
        let Some(last) = page.last() else { break };
        from = last.stream_version + 1;
        forward.extend(page);
    }
    assert_eq!(forward.len() as u64, EVENTS);
    assert!(forward
        .iter()
        .enumerate()
        .all(|(i, e)| e.stream_version == i as u64));
    assert!(forward.windows(2).all(|w| w[0].position < w[1].position));
    let backward = store
        .read_stream("alert-long", EVENTS - 1, Direction::Backward, 4096)
        .await
        .expect("read");
    assert_eq!(backward.len(), 4096);
    assert_eq!(backward[0].stream_version, EVENTS - 1);
    assert!(backward
        .windows(2)
        .all(|w| w[0].stream_version == w[1].stream_version + 1));
}

pub async fn a_filtered_subscription_from_a_stored_position_delivers_only_matching_events(
    h: &mut impl Harness,
) {
    let store = h.store();
    let mut even = Vec::new();
    for i in 0..20 {
        let stream = if i % 2 == 0 { "alert-even" } else { "task-odd" };
        let result = store
            .append(stream, ExpectedVersion::Any, vec![note("f")])
            .await
            .expect("append");
        if i % 2 == 0 {
            even.push(result.first_position);
        }
    }
    let filter = EventFilter {
        category: Some("alert".into()),
        event_types: vec!["note_added".into()],
        ..EventFilter::default()
    };
    // From the third matching event on.
    let mut subscription = Subscription::new(store.clone(), even[2]).with_filter(filter);
    let mut seen = Vec::new();
    while seen.len() < even.len() - 2 {
        let event = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .expect("events keep coming")
            .expect("open")
            .expect("no error");
        assert_eq!(event.stream, "alert-even");
        seen.push(event.position);
    }
    assert_eq!(seen, even[2..]);
}
