use super::*;
use projections::ids::AlertId;
use projections::{Event, Metadata};

fn notes(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|i| NewEvent {
            event_id: Uuid::new_v4(),
            event: Event::NoteAdded {
                alert_id: AlertId(Uuid::from_u128(7)),
                text: format!("note {i}"),
            },
            metadata: Metadata::default(),
        })
        .collect()
}

fn request(expected: ExpectedVersion, events: &[NewEvent]) -> Request<'_> {
    Request {
        stream: "alert-a",
        expected,
        events,
    }
}

/// A log whose stream `alert-a` ends at `current`, with nothing of the request stored.
fn log(current: Option<StreamVersion>) -> Log<'static> {
    Log {
        current,
        head: 10,
        stored: &[],
        run: Run::Positions,
    }
}

/// `events` stored in `alert-a` at positions `first..` and versions `version..`.
fn stored_at(events: &[NewEvent], first: Position, version: StreamVersion) -> Vec<Stored> {
    events
        .iter()
        .enumerate()
        .map(|(i, event)| Stored {
            event_id: event.event_id,
            position: first + i as u64,
            stream_version: version + i as u64,
            in_stream: true,
        })
        .collect()
}

#[track_caller]
fn assert_mismatch(result: Result<Verdict, StoreError>, expected_id: Uuid) {
    match result {
        Err(StoreError::IdempotencyMismatch { event_id }) => assert_eq!(event_id, expected_id),
        other => panic!("expected a mismatch on {expected_id}, got {other:?}"),
    }
}

#[test]
fn any_writes_to_a_new_or_an_existing_stream() {
    let events = notes(1);
    for current in [None, Some(0), Some(41)] {
        let verdict = check(request(ExpectedVersion::Any, &events), log(current));
        assert_eq!(verdict.unwrap(), Verdict::Write(current));
    }
}

#[test]
fn no_stream_writes_only_when_the_stream_does_not_exist() {
    let events = notes(1);
    let fresh = check(request(ExpectedVersion::NoStream, &events), log(None));
    assert_eq!(fresh.unwrap(), Verdict::Write(None));
    let existing = check(request(ExpectedVersion::NoStream, &events), log(Some(0)));
    assert!(
        matches!(
            existing,
            Err(StoreError::Conflict { ref stream, expected: ExpectedVersion::NoStream, actual: Some(0) })
                if stream == "alert-a"
        ),
        "{existing:?}"
    );
}

#[test]
fn exact_writes_only_at_that_version() {
    let events = notes(1);
    let at = check(request(ExpectedVersion::Exact(3), &events), log(Some(3)));
    assert_eq!(at.unwrap(), Verdict::Write(Some(3)));
    for current in [None, Some(2), Some(4)] {
        let off = check(request(ExpectedVersion::Exact(3), &events), log(current));
        assert!(
            matches!(
                off,
                Err(StoreError::Conflict { expected: ExpectedVersion::Exact(3), actual, .. })
                    if actual == current
            ),
            "{off:?}"
        );
    }
}

#[test]
fn an_append_of_no_events_answers_past_the_head_and_writes_nothing() {
    let verdict = check(request(ExpectedVersion::Exact(4), &[]), log(Some(4)));
    assert_eq!(
        verdict.unwrap(),
        Verdict::Replay(AppendResult {
            first_position: 11,
            last_position: 10,
            stream_version: 4,
        })
    );
    let conflict = check(request(ExpectedVersion::NoStream, &[]), log(Some(4)));
    assert!(matches!(conflict, Err(StoreError::Conflict { .. })));
}

#[test]
fn a_full_replay_returns_the_original_result_whatever_it_expected() {
    let events = notes(3);
    let stored = stored_at(&events, 5, 1);
    for expected in [
        ExpectedVersion::Exact(0),
        ExpectedVersion::NoStream,
        ExpectedVersion::Any,
    ] {
        for run in [Run::Positions, Run::Versions] {
            let log = Log {
                current: Some(9),
                head: 20,
                stored: &stored,
                run,
            };
            let verdict = check(request(expected, &events), log);
            assert_eq!(
                verdict.unwrap(),
                Verdict::Replay(AppendResult {
                    first_position: 5,
                    last_position: 7,
                    stream_version: 3,
                })
            );
        }
    }
}

#[test]
fn a_partial_replay_is_a_mismatch_naming_the_first_stored_id() {
    let original = notes(2);
    let mixed = vec![original[1].clone(), notes(1).remove(0)];
    let stored = stored_at(&original[1..], 2, 1);
    let log = Log {
        stored: &stored,
        ..log(Some(1))
    };
    assert_mismatch(
        check(request(ExpectedVersion::Any, &mixed), log),
        original[1].event_id,
    );
}

#[test]
fn ids_stored_in_another_stream_are_a_mismatch() {
    let events = notes(2);
    let mut stored = stored_at(&events, 1, 0);
    for s in &mut stored {
        s.in_stream = false;
    }
    let log = Log {
        stored: &stored,
        ..log(None)
    };
    assert_mismatch(
        check(request(ExpectedVersion::Any, &events), log),
        events[0].event_id,
    );
}

#[test]
fn ids_from_two_appends_are_a_mismatch_where_positions_are_gap_free() {
    let events = notes(2);
    let mut stored = stored_at(&events, 1, 0);
    // Another stream's event landed between the two.
    stored[1].position = 3;
    let gap_free = Log {
        stored: &stored,
        ..log(Some(1))
    };
    assert_mismatch(
        check(request(ExpectedVersion::Any, &events), gap_free),
        events[0].event_id,
    );
    // Where positions have gaps anyway, consecutive versions are one run.
    let sparse = Log {
        run: Run::Versions,
        ..gap_free
    };
    assert_eq!(
        check(request(ExpectedVersion::Any, &events), sparse).unwrap(),
        Verdict::Replay(AppendResult {
            first_position: 1,
            last_position: 3,
            stream_version: 1,
        })
    );
}

#[test]
fn ids_stored_in_another_order_are_a_mismatch() {
    let events = notes(2);
    let reversed = vec![events[1].clone(), events[0].clone()];
    let stored = stored_at(&events, 1, 0);
    for run in [Run::Positions, Run::Versions] {
        let log = Log {
            stored: &stored,
            run,
            ..log(Some(1))
        };
        assert_mismatch(
            check(request(ExpectedVersion::Any, &reversed), log),
            events[0].event_id,
        );
    }
}

#[test]
fn an_id_given_twice_in_one_append_is_a_mismatch() {
    let events = notes(2);
    let twice = vec![events[0].clone(), events[1].clone(), events[0].clone()];
    assert_mismatch(
        check(request(ExpectedVersion::Any, &twice), log(None)),
        events[0].event_id,
    );
}

#[test]
fn a_replay_is_checked_before_the_expected_version() {
    let events = notes(1);
    let stored = stored_at(&events, 4, 0);
    let log = Log {
        stored: &stored,
        ..log(Some(7))
    };
    let verdict = check(request(ExpectedVersion::NoStream, &events), log);
    assert!(matches!(verdict, Ok(Verdict::Replay(_))), "{verdict:?}");
}
