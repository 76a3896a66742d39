//! Positions follow commit order across instances: an append that commits late never
//! leaves a hole a reader has already passed.

use super::TestDatabase;
use crate::support::{label_of, note};
use alert_ledger::store::postgres::{PostgresStore, APPEND_LOCK};
use alert_ledger::store::subscription::Subscription;
use alert_ledger::store::{EventStore, ExpectedVersion};
use std::sync::Arc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(30);

/// Waits until some transaction on this database holds an advisory lock.
async fn until_append_lock_is_held(db: &TestDatabase) {
    let client = db.client().await;
    loop {
        let held: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                 WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
                &[],
            )
            .await
            .expect("pg_locks")
            .get(0);
        if held > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn a_slow_committer_keeps_the_earlier_position_and_a_subscriber_on_another_instance_sees_both_in_order(
) {
    let db = TestDatabase::create().await;
    let mut slow_options = db.options();
    slow_options.commit_delay = Some(Duration::from_millis(1500));
    let slow = PostgresStore::connect_with(slow_options)
        .await
        .expect("slow");
    let fast = db.connect().await;
    // The subscriber's instance never polls: only NOTIFY from the others can wake it.
    let mut reader_options = db.options();
    reader_options.poll_interval = Duration::from_secs(3600);
    let reader: Arc<dyn EventStore> = Arc::new(
        PostgresStore::connect_with(reader_options)
            .await
            .expect("reader"),
    );
    let mut subscription = Subscription::new(reader.clone(), 1);

    let slow_append = tokio::spawn({
        let slow = slow.clone();
        async move {
            slow.append("alert-slow", ExpectedVersion::NoStream, vec![note("slow")])
                .await
        }
    });
    until_append_lock_is_held(&db).await;
    let fast_result = fast
        .append("alert-fast", ExpectedVersion::NoStream, vec![note("fast")])
        .await
        .expect("fast append");
    // Checked in the database at the moment the fast append is acknowledged (comparing
    // the two tasks' wake-up times instead raced on a loaded machine).
    let slow_committed: i64 = db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM events WHERE stream = 'alert-slow'",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    let slow_result = slow_append.await.expect("slow task").expect("slow append");

    assert_eq!(slow_result.first_position, 1, "the first to lock gets 1");
    assert_eq!(fast_result.first_position, 2, "the second waits and gets 2");
    assert_eq!(
        slow_committed, 1,
        "the fast append is acknowledged only after the slow one committed"
    );
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(PATIENCE, subscription.next())
            .await
            .expect("NOTIFY wakes the subscriber")
            .expect("open")
            .expect("no read error");
        seen.push(event);
    }
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    let labels: Vec<String> = seen.iter().map(|e| label_of(&e.event)).collect();
    assert_eq!(positions, vec![1, 2]);
    assert_eq!(labels, vec!["slow", "fast"]);
    assert_eq!(
        seen[1].prev_hash, seen[0].hash,
        "the chain follows commit order"
    );
    for store in [&slow, &fast] {
        store.close().await.expect("close");
    }
    reader.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn an_append_waits_while_another_transaction_holds_the_append_lock() {
    let db = TestDatabase::create().await;
    let store = db.connect().await;
    let mut holder = db.client().await;
    let tx = holder.transaction().await.expect("begin");
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
        .await
        .expect("lock");
    let append = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append("alert-w", ExpectedVersion::Any, vec![note("waits")])
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !append.is_finished(),
        "an append cannot complete while the lock is held"
    );
    tx.commit().await.expect("release");
    let result = tokio::time::timeout(PATIENCE, append)
        .await
        .expect("append proceeds once the lock is released")
        .expect("task")
        .expect("append");
    assert_eq!(result.first_position, 1);
    store.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn concurrent_appends_through_three_instances_form_one_gap_free_chain() {
    let db = TestDatabase::create().await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(db.connect().await);
    }
    let writers: Vec<_> = stores
        .iter()
        .enumerate()
        .flat_map(|(s, store)| {
            (0..4).map(move |w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for _ in 0..25 {
                        store
                            .append(
                                &format!("task-{s}-{w}"),
                                ExpectedVersion::Any,
                                vec![note("c")],
                            )
                            .await
                            .expect("append");
                    }
                })
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let all = stores[0].read_all(1, 1000).await.expect("read_all");
    assert!(all.iter().map(|e| e.position).eq(1..=300));
    for pair in all.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let head = stores[1].verify().await.expect("chain verifies");
    assert_eq!(head.position, 300);
    for store in &stores {
        store.close().await.expect("close");
    }
}
