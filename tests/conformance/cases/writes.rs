//! Appends: expected versions, conflicts and idempotency.

use crate::support::{note, notes, Harness};
use alert_ledger::store::{Direction, ExpectedVersion, StoreError};

pub async fn two_writers_with_the_same_expected_version_exactly_one_wins(h: &mut impl Harness) {
    let store = h.store();
    for round in 0..20 {
        let stream = format!("alert-race{round}");
        store
            .append(&stream, ExpectedVersion::NoStream, vec![note("first")])
            .await
            .expect("first append");
        let (a, b) = tokio::join!(
            store.append(&stream, ExpectedVersion::Exact(0), vec![note("a")]),
            store.append(&stream, ExpectedVersion::Exact(0), vec![note("b")]),
        );
        let (winner, loser) = match (a, b) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("round {round}: expected exactly one winner, got {other:?}"),
        };
        assert_eq!(winner.stream_version, 1);
        match loser {
            StoreError::Conflict {
                stream: s,
                expected,
                actual,
            } => {
                assert_eq!(s, stream);
                assert_eq!(expected, ExpectedVersion::Exact(0));
                assert_eq!(actual, Some(1));
            }
            other => panic!("round {round}: loser got {other:?}, not Conflict"),
        }
        let events = store
            .read_stream(&stream, 0, Direction::Forward, 10)
            .await
            .expect("read");
        assert_eq!(events.len(), 2, "round {round}: the loser wrote nothing");
    }
}

pub async fn no_stream_expectation_fails_once_the_stream_exists(h: &mut impl Harness) {
    let store = h.store();
    let created = store
        .append("task-1", ExpectedVersion::NoStream, vec![note("a")])
        .await
        .expect("creates the stream");
    assert_eq!(created.stream_version, 0);
    let err = store
        .append("task-1", ExpectedVersion::NoStream, vec![note("b")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                actual: Some(0),
                expected: ExpectedVersion::NoStream,
                ..
            }
        ),
        "{err:?}"
    );
}

pub async fn exact_expectation_must_match_the_last_version(h: &mut impl Harness) {
    let store = h.store();
    let err = store
        .append("sync-a", ExpectedVersion::Exact(0), vec![note("a")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { actual: None, .. }),
        "{err:?}"
    );
    store
        .append("sync-a", ExpectedVersion::NoStream, notes("a", 2))
        .await
        .expect("create");
    let err = store
        .append("sync-a", ExpectedVersion::Exact(0), vec![note("stale")])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                actual: Some(1),
                ..
            }
        ),
        "{err:?}"
    );
    let result = store
        .append("sync-a", ExpectedVersion::Exact(1), vec![note("fresh")])
        .await
        .expect("matching version appends");
    assert_eq!(result.stream_version, 2);
    assert_eq!(
        store.stream_version("sync-a").await.expect("version"),
        Some(2)
    );
}

pub async fn any_expectation_appends_whatever_the_stream_holds(h: &mut impl Harness) {
    let store = h.store();
    let first = store
        .append("message-1", ExpectedVersion::Any, notes("a", 3))
        .await
        .expect("append to a new stream");
    assert_eq!(
        (
            first.first_position,
            first.last_position,
            first.stream_version
        ),
        (1, 3, 2)
    );
    let second = store
        .append("message-1", ExpectedVersion::Any, vec![note("b")])
        .await
        .expect("append to an existing stream");
    assert_eq!(
        (
            second.first_position,
            second.last_position,
            second.stream_version
        ),
        (4, 4, 3)
    );
}

pub async fn re_appending_the_same_events_writes_nothing_and_returns_the_original_result(
    h: &mut impl Harness,
) {
    let store = h.store();
    store
        .append("alert-x", ExpectedVersion::NoStream, vec![note("before")])
        .await
        .expect("first");
    let events = notes("batch", 3);
    let original = store
        .append("alert-x", ExpectedVersion::Exact(0), events.clone())
        .await
        .expect("original");
    store
        .append("alert-y", ExpectedVersion::Any, vec![note("other")])
        .await
        .expect("other stream");
    let head = store.head().await.expect("head");
    let replayed = store
        .append("alert-x", ExpectedVersion::Exact(0), events.clone())
        .await
        .expect("a retry with the same ids succeeds");
    assert_eq!(replayed, original);
    let replayed_any = store
        .append("alert-x", ExpectedVersion::Any, events)
        .await
        .expect("whatever the expectation");
    assert_eq!(replayed_any, original);
    assert_eq!(
        store.head().await.expect("head"),
        head,
        "nothing was written"
    );
    let stream = store
        .read_stream("alert-x", 0, Direction::Forward, 100)
        .await
        .expect("read");
    assert_eq!(stream.len(), 4);
}

pub async fn reusing_some_event_ids_in_another_append_is_an_idempotency_mismatch(
    h: &mut impl Harness,
) {
    let store = h.store();
    let events = notes("a", 2);
    store
        .append("alert-m", ExpectedVersion::Any, events.clone())
        .await
        .expect("original");
    let reused = events[1].event_id;
    let mixed = vec![events[1].clone(), note("new")];
    let err = store
        .append("alert-m", ExpectedVersion::Any, mixed)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyMismatch { event_id } if event_id == reused),
        "{err:?}"
    );
    let other_stream = store
        .append("alert-n", ExpectedVersion::Any, events)
        .await
        .unwrap_err();
    assert!(
        matches!(other_stream, StoreError::IdempotencyMismatch { .. }),
        "{other_stream:?}"
    );
    assert_eq!(store.head().await.expect("head").position, 2);
}
