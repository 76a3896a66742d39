//! The writer's two paths (docs/adr/0006-postgres-positions.md): a batch is decided
//! from what the writer already knows and checked by the database in the same flight,
//! unless the writer does not know where the log ends; a batch the database refuses is
//! decided again under the lock, and answered from what the database holds.

use super::TestDatabase;
use crate::support::note;
use alert_ledger::store::{EventStore, ExpectedVersion, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn a_lone_instance_reads_the_log_for_its_first_batch_only() {
    let db = TestDatabase::create().await;
    let store = db.connect().await;
    for (i, expected) in [
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(0),
        ExpectedVersion::Exact(1),
    ]
    .into_iter()
    .enumerate()
    {
        let result = store
            .append("alert-lone", expected, vec![note("lone")])
            .await
            .expect("append");
        assert_eq!(result.first_position, i as u64 + 1);
    }
    store
        .append(
            "alert-other",
            ExpectedVersion::NoStream,
            vec![note("other")],
        )
        .await
        .expect("a new stream");
    assert_eq!(store.batches(), 4);
    assert_eq!(store.batches_decided_under_lock(), 1, "only the first");
    assert_eq!(store.batches_refused(), 0);
    store.verify().await.expect("the chain verifies");
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn a_stream_behind_or_past_the_expected_version_is_refused_by_the_database_and_answered_as_a_conflict(
) {
    let db = TestDatabase::create().await;
    let store = db.connect().await;
    store
        .append("alert-c", ExpectedVersion::NoStream, vec![note("0")])
        .await
        .expect("first");
    store
        .append("alert-c", ExpectedVersion::Exact(0), vec![note("1")])
        .await
        .expect("second");
    let behind = store
        .append("alert-c", ExpectedVersion::Exact(7), vec![note("behind")])
        .await;
    let past = store
        .append("alert-c", ExpectedVersion::Exact(0), vec![note("past")])
        .await;
    let exists = store
        .append("alert-c", ExpectedVersion::NoStream, vec![note("exists")])
        .await;
    for refused in [behind, past, exists] {
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict {
                    actual: Some(1),
                    ..
                })
            ),
            "{refused:?}"
        );
    }
    assert_eq!(store.batches_refused(), 3, "each one refused by the guard");
    let next = store
        .append("alert-c", ExpectedVersion::Exact(1), vec![note("2")])
        .await
        .expect("the right version still appends");
    assert_eq!((next.first_position, next.stream_version), (3, 2));
    let head = store.verify().await.expect("the chain verifies");
    assert_eq!(head.position, 3);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn after_another_instance_appends_the_next_batch_continues_its_chain() {
    let db = TestDatabase::create().await;
    let first = db.connect().await;
    let second = db.connect().await;
    for (i, store) in [&first, &second, &first, &second, &first]
        .into_iter()
        .enumerate()
    {
        let result = store
            .append(
                &format!("alert-turn-{i}"),
                ExpectedVersion::NoStream,
                vec![note("turn")],
            )
            .await
            .expect("append");
        assert_eq!(result.first_position, i as u64 + 1);
    }
    let all = first.read_all(1, 10).await.expect("read");
    assert!(all.iter().map(|e| e.position).eq(1..=5));
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    assert_eq!(second.verify().await.expect("verifies").position, 5);
    for store in [&first, &second] {
        store.close().await.expect("close");
    }
}
