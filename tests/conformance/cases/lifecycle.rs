//! Large streams, reopening and closing.

use crate::support::{notes, Harness};
use alert_ledger::store::{Direction, ExpectedVersion, StoreError};

pub async fn a_stream_of_100k_events_reads_back_completely_in_both_directions(
    h: &mut impl Harness,
) {
    let store = h.store();
    const TOTAL: u64 = 100_000;
    const PER_APPEND: usize = 1_000;
    for chunk in 0..TOTAL / PER_APPEND as u64 {
        let expected = match chunk {
            0 => ExpectedVersion::NoStream,
            n => ExpectedVersion::Exact(n * PER_APPEND as u64 - 1),
        };
        store
            .append("alert-big", expected, notes("big", PER_APPEND))
            .await
            .expect("append");
    }
    let mut next = 0;
    while next < TOTAL {
        let page = store
            .read_stream("alert-big", next, Direction::Forward, 10_000)
            .await
            .expect("read");
        assert!(!page.is_empty(), "stream ends early at {next}");
        for event in &page {
            assert_eq!(event.stream_version, next);
            assert_eq!(event.position, next + 1);
            next += 1;
        }
    }
    let all = store.read_all(1, TOTAL as usize).await.expect("read_all");
    assert!(
        all.iter().map(|e| e.position).eq(1..=TOTAL),
        "$all returns every position once, in order"
    );
    drop(all);
    let tail = store
        .read_stream("alert-big", u64::MAX, Direction::Backward, 3)
        .await
        .expect("read");
    let versions: Vec<u64> = tail.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, vec![TOTAL - 1, TOTAL - 2, TOTAL - 3]);
    assert_eq!(
        store.stream_version("alert-big").await.expect("version"),
        Some(TOTAL - 1)
    );
}

pub async fn reopening_after_close_preserves_positions_hashes_and_versions(h: &mut impl Harness) {
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
    let before = store.read_all(1, 1000).await.expect("read_all");
    let head = store.head().await.expect("head");
    let version = store.stream_version("sync-1").await.expect("version");
    let store = h.reopen().await;
    assert_eq!(store.read_all(1, 1000).await.expect("read_all"), before);
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
    assert_eq!(next.first_position, head.position + 1);
    let appended = store.read_all(next.first_position, 1).await.expect("read");
    assert_eq!(
        appended[0].prev_hash, head.hash,
        "the chain continues across reopen"
    );
}

pub async fn calls_after_close_fail_with_closed(h: &mut impl Harness) {
    let store = h.store();
    store
        .append("alert-c", ExpectedVersion::Any, notes("c", 2))
        .await
        .expect("append");
    store.close().await.expect("close");
    let append = store
        .append("alert-c", ExpectedVersion::Any, notes("late", 1))
        .await
        .unwrap_err();
    assert!(matches!(append, StoreError::Closed), "{append:?}");
    let read = store.read_all(1, 10).await.unwrap_err();
    assert!(matches!(read, StoreError::Closed), "{read:?}");
}
