//! Injected disk faults: nothing is acknowledged that is not durable, the head never
//! runs ahead of the disk, and the log stays valid once the fault clears.

use super::EmbeddedHarness;
use crate::support::{note, notes};
use alert_ledger::io::{FaultInjector, FaultyFileSystem, RealFileSystem};
use alert_ledger::store::{EventStore, ExpectedVersion, StoreError};
use alert_ledger::verify::verify_data_dir;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

fn faulty_harness() -> (EmbeddedHarness, FaultInjector) {
    let (fs, faults) = FaultyFileSystem::new(Arc::new(RealFileSystem));
    let h = EmbeddedHarness::with(|o| {
        o.segment_size = 1024 * 1024;
        o.fs = fs;
    });
    (h, faults)
}

fn assert_unavailable(result: Result<alert_ledger::store::AppendResult, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}

async fn reopened_positions(h: &EmbeddedHarness) -> Vec<u64> {
    h.close().await;
    let store = h.open_again().expect("the log reopens");
    let events = store.read_all(1, 100_000).await.expect("read_all");
    store.close().await.expect("close");
    verify_data_dir(h.dir.path(), |_| {}).expect("the log verifies");
    events.iter().map(|e| e.position).collect()
}

#[tokio::test]
async fn an_fsync_failure_refuses_the_batch_and_the_head_does_not_move() {
    let (h, faults) = faulty_harness();
    h.store
        .append("alert-f", ExpectedVersion::NoStream, notes("ok", 3))
        .await
        .expect("append");
    let head = h.store.head().await.expect("head");
    let mut watch = h.store.watch_head();
    watch.borrow_and_update();
    faults.fail_next_syncs(1);
    let failed = notes("lost", 5);
    assert_unavailable(
        h.store
            .append("alert-f", ExpectedVersion::Exact(2), failed.clone())
            .await,
    );
    assert_eq!(faults.injected(), 1);
    assert_eq!(h.store.head().await.expect("head"), head);
    assert_eq!(h.store.stream_version("alert-f").await.expect("v"), Some(2));
    assert!(h.store.read_all(4, 10).await.expect("read").is_empty());
    assert!(
        !watch.has_changed().expect("watch open"),
        "the head watch did not move"
    );
    let retried = h
        .store
        .append(
            "alert-f",
            ExpectedVersion::Exact(2),
            vec![failed[0].clone()],
        )
        .await
        .expect("appends work once the fault clears");
    assert_eq!(retried.first_position, 4);
    assert_eq!(h.store.stats().failed_batches, 1);
    assert_eq!(reopened_positions(&h).await, vec![1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_in_a_failed_batch_are_all_refused_and_none_is_stored() {
    let (h, faults) = faulty_harness();
    faults.fail_next_syncs(1);
    let (acknowledged, refused) = concurrent_notes(&h, 16, 2).await;
    assert!(!refused.is_empty(), "the failed batch refused its appends");
    let stored: HashSet<Uuid> = h
        .store
        .read_all(1, 1000)
        .await
        .expect("read")
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(
        stored, acknowledged,
        "exactly the acknowledged events are stored"
    );
    let positions = reopened_positions(&h).await;
    assert_eq!(
        positions,
        (1..=acknowledged.len() as u64).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_failed_large_batch_followed_by_a_small_one_leaves_no_stale_records() {
    let (h, faults) = faulty_harness();
    h.store
        .append("alert-s", ExpectedVersion::Any, notes("first", 1))
        .await
        .expect("append");
    faults.fail_next_syncs(1);
    assert_unavailable(
        h.store
            .append("alert-s", ExpectedVersion::Any, notes("big", 200))
            .await,
    );
    h.store
        .append("alert-s", ExpectedVersion::Any, vec![note("small")])
        .await
        .expect("append");
    assert_eq!(reopened_positions(&h).await, vec![1, 2]);
}

#[tokio::test]
async fn a_short_write_refuses_the_append_and_the_retry_succeeds() {
    let (h, faults) = faulty_harness();
    faults.short_next_writes(1);
    let events = notes("short", 3);
    assert_unavailable(
        h.store
            .append("alert-w", ExpectedVersion::NoStream, events.clone())
            .await,
    );
    assert!(faults.injected() >= 1);
    let result = h
        .store
        .append("alert-w", ExpectedVersion::NoStream, events)
        .await
        .expect("the retry succeeds");
    assert_eq!((result.first_position, result.last_position), (1, 3));
    assert_eq!(reopened_positions(&h).await, vec![1, 2, 3]);
}

#[tokio::test]
async fn a_full_disk_refuses_appends_until_space_returns() {
    let (h, faults) = faulty_harness();
    faults.set_disk_full(true);
    let events = notes("full", 2);
    for _ in 0..3 {
        assert_unavailable(
            h.store
                .append("alert-d", ExpectedVersion::Any, events.clone())
                .await,
        );
    }
    assert_eq!(h.store.head().await.expect("head").position, 0);
    faults.set_disk_full(false);
    let result = h
        .store
        .append("alert-d", ExpectedVersion::Any, events)
        .await
        .expect("space is back");
    assert_eq!(result.last_position, 2);
    assert_eq!(reopened_positions(&h).await, vec![1, 2]);
}

/// Appends `calls` concurrent calls of `per_call` notes each and returns the ids of the
/// acknowledged and of the refused ones.
async fn concurrent_notes(
    h: &EmbeddedHarness,
    calls: usize,
    per_call: usize,
) -> (HashSet<Uuid>, HashSet<Uuid>) {
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let events = notes(&format!("c{i}"), per_call);
                let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
                let result = store
                    .append(&format!("task-{i}"), ExpectedVersion::Any, events)
                    .await;
                (ids, result)
            })
        })
        .collect();
    let (mut acknowledged, mut refused) = (HashSet::new(), HashSet::new());
    for task in tasks {
        let (ids, result) = task.await.expect("task");
        match result {
            Ok(_) => acknowledged.extend(ids),
            Err(StoreError::Unavailable(_)) => refused.extend(ids),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    (acknowledged, refused)
}

/// Batches over a mebibyte are written in parts before their sync (the writer's early
/// writes). A fault in any part, or in the sync after them, must still refuse exactly
/// the batch's appends, store none of them, and leave a log that reopens gap-free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_batch_written_in_parts_is_all_or_nothing_under_faults() {
    #[derive(Debug)]
    enum Fault {
        None,
        Sync,
        ShortWrite,
        DiskFull,
    }
    for fault in [Fault::None, Fault::Sync, Fault::ShortWrite, Fault::DiskFull] {
        let (fs, faults) = FaultyFileSystem::new(Arc::new(RealFileSystem));
        let h = EmbeddedHarness::with(|o| {
            o.segment_size = 64 * 1024 * 1024;
            o.early_write_bytes = 4096;
            o.fs = fs;
        });
        let (calls, per_call) = (24, 300);
        match fault {
            Fault::None => {}
            Fault::Sync => faults.fail_next_syncs(1),
            Fault::ShortWrite => faults.short_next_writes(1),
            Fault::DiskFull => faults.set_disk_full(true),
        }
        let (acknowledged, refused) = match fault {
            Fault::DiskFull => {
                let clear = tokio::spawn(async move {
                    while faults.injected() == 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    faults.set_disk_full(false);
                });
                let outcome = concurrent_notes(&h, calls, per_call).await;
                clear.await.expect("clear");
                outcome
            }
            _ => concurrent_notes(&h, calls, per_call).await,
        };
        assert_eq!(acknowledged.len() + refused.len(), calls * per_call);
        let stats = h.store.stats();
        match fault {
            Fault::None => {
                assert!(refused.is_empty());
                assert!(
                    stats.batches < calls as u64,
                    "some batch held several calls, so was written in parts: {stats:?}"
                );
            }
            // A failed part is written again by the batch's own write, which may then
            // succeed: either outcome is right as long as the log agrees with it.
            Fault::ShortWrite | Fault::DiskFull => {}
            Fault::Sync => {
                assert!(!refused.is_empty(), "{fault:?} refused a batch")
            }
        }
        let stored: HashSet<Uuid> = h
            .store
            .read_all(1, 100_000)
            .await
            .expect("read")
            .iter()
            .map(|e| e.event_id)
            .collect();
        assert_eq!(stored, acknowledged, "exactly the acknowledged are stored");
        let positions = reopened_positions(&h).await;
        assert_eq!(
            positions,
            (1..=acknowledged.len() as u64).collect::<Vec<_>>()
        );
    }
}
