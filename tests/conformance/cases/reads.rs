//! Reading streams and `$all`, positions and the hash chain.

use crate::support::{label_of, note, notes, Harness};
use alert_ledger::store::{Direction, ExpectedVersion};
use projections::Hash;

fn versions(events: &[projections::RecordedEvent]) -> Vec<u64> {
    events.iter().map(|e| e.stream_version).collect()
}

pub async fn reading_a_stream_forward_and_backward_respects_from_and_limit(h: &mut impl Harness) {
    let store = h.store();
    for i in 0..10 {
        store
            .append(
                "alert-r",
                ExpectedVersion::Any,
                vec![note(&format!("r{i}"))],
            )
            .await
            .expect("append");
        store
            .append("alert-other", ExpectedVersion::Any, vec![note("noise")])
            .await
            .expect("append");
    }
    let read = |from, direction, limit| store.read_stream("alert-r", from, direction, limit);
    let all = read(0, Direction::Forward, 100).await.expect("read");
    assert_eq!(versions(&all), (0..10).collect::<Vec<_>>());
    assert!(all.iter().all(|e| e.stream == "alert-r"));
    assert_eq!(label_of(&all[3].event), "r3");
    let page = read(4, Direction::Forward, 3).await.expect("read");
    assert_eq!(versions(&page), vec![4, 5, 6]);
    let back = read(u64::MAX, Direction::Backward, 3).await.expect("read");
    assert_eq!(versions(&back), vec![9, 8, 7]);
    let back_from = read(2, Direction::Backward, 10).await.expect("read");
    assert_eq!(versions(&back_from), vec![2, 1, 0]);
    assert!(read(10, Direction::Forward, 5)
        .await
        .expect("read")
        .is_empty());
    assert!(read(0, Direction::Forward, 0)
        .await
        .expect("read")
        .is_empty());
}

pub async fn reading_a_missing_stream_returns_nothing(h: &mut impl Harness) {
    let store = h.store();
    store
        .append("alert-present", ExpectedVersion::Any, vec![note("a")])
        .await
        .expect("append");
    let forward = store
        .read_stream("alert-absent", 0, Direction::Forward, 10)
        .await
        .expect("read");
    let backward = store
        .read_stream("alert-absent", u64::MAX, Direction::Backward, 10)
        .await
        .expect("read");
    assert!(forward.is_empty() && backward.is_empty());
    assert_eq!(
        store.stream_version("alert-absent").await.expect("version"),
        None
    );
}

pub async fn reading_all_from_any_position_returns_the_events_from_there_in_order(
    h: &mut impl Harness,
) {
    let store = h.store();
    for i in 0..25 {
        let stream = format!("task-{}", i % 3);
        store
            .append(&stream, ExpectedVersion::Any, notes(&format!("t{i}"), 2))
            .await
            .expect("append");
    }
    for from in [0u64, 1, 2, 17, 33, 49, 50] {
        let page = store.read_all(from, 1000).await.expect("read_all");
        let positions: Vec<u64> = page.iter().map(|e| e.position).collect();
        let expected: Vec<u64> = (from.max(1)..=50).collect();
        assert_eq!(positions, expected, "from {from}");
    }
    assert!(store.read_all(51, 10).await.expect("read_all").is_empty());
    let limited = store.read_all(10, 7).await.expect("read_all");
    assert_eq!(limited.first().map(|e| e.position), Some(10));
    assert_eq!(limited.len(), 7);
}

pub async fn positions_are_gap_free_and_hashes_chain_from_genesis(h: &mut impl Harness) {
    let store = h.store();
    for i in 0..30 {
        let stream = format!("alert-{}", i % 4);
        store
            .append(&stream, ExpectedVersion::Any, notes("c", 1 + i % 3))
            .await
            .expect("append");
    }
    let all = store.read_all(1, 10_000).await.expect("read_all");
    let mut link = Hash::GENESIS;
    for (i, event) in all.iter().enumerate() {
        assert_eq!(event.position, i as u64 + 1, "gap-free positions");
        assert_eq!(
            event.prev_hash, link,
            "position {} links to its predecessor",
            event.position
        );
        assert_ne!(event.hash, event.prev_hash);
        link = event.hash;
    }
    let head = store.head().await.expect("head");
    assert_eq!((head.position, head.hash), (all.len() as u64, link));
}

pub async fn head_reports_the_last_position_and_hash_and_the_watch_follows_it(
    h: &mut impl Harness,
) {
    let store = h.store();
    let empty = store.head().await.expect("head");
    assert_eq!((empty.position, empty.hash), (0, Hash::GENESIS));
    let mut watch = store.watch_head();
    assert_eq!(*watch.borrow_and_update(), 0);
    let result = store
        .append("alert-h", ExpectedVersion::Any, notes("h", 3))
        .await
        .expect("append");
    tokio::time::timeout(std::time::Duration::from_secs(5), watch.changed())
        .await
        .expect("the watch moves")
        .expect("the watch is open");
    assert_eq!(*watch.borrow(), result.last_position);
    let head = store.head().await.expect("head");
    let last = store.read_all(3, 1).await.expect("read_all");
    assert_eq!(head.position, 3);
    assert_eq!(head.hash, last[0].hash);
}
