use super::*;
use crate::store::NewEvent;
use projections::ids::AlertId;
use projections::{Event, Metadata};
use uuid::Uuid;

fn note() -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event: Event::NoteAdded {
            alert_id: AlertId(Uuid::from_u128(7)),
            text: "note".into(),
        },
        metadata: Metadata::default(),
    }
}

/// `events` as the stream's records at revisions 0.. and commit positions 100, 200, …,
/// newest first (as the writer reads them).
fn newest_first(events: &[NewEvent]) -> Vec<Record> {
    let mut records: Vec<Record> = events
        .iter()
        .enumerate()
        .map(|(i, event)| Record {
            stream: "alert-k".into(),
            event_type: "note_added".into(),
            event_id: event.event_id,
            revision: i as u64,
            commit: 100 * (i as u64 + 1),
            data: Vec::new(),
            custom_metadata: Vec::new(),
        })
        .collect();
    records.reverse();
    records
}

fn asked(expected: ExpectedVersion, events: &[NewEvent]) -> append_check::Request<'_> {
    append_check::Request {
        stream: "alert-k",
        expected,
        events,
    }
}

#[test]
fn a_re_sent_append_answers_with_the_original_positions_and_revision() {
    let stored: Vec<NewEvent> = (0..3).map(|_| note()).collect();
    let records = newest_first(&stored);
    let verdict = check(asked(ExpectedVersion::Exact(0), &stored[1..]), &records);
    assert_eq!(
        verdict.unwrap(),
        Verdict::Replay(AppendResult {
            first_position: mapping::to_position(200),
            last_position: mapping::to_position(300),
            stream_version: 2,
        })
    );
}

#[test]
fn ids_re_sent_out_of_order_or_mixed_with_new_ones_are_a_mismatch_on_the_oldest() {
    let stored: Vec<NewEvent> = (0..3).map(|_| note()).collect();
    let records = newest_first(&stored);
    let reversed = vec![stored[2].clone(), stored[1].clone()];
    let mixed = vec![stored[2].clone(), note()];
    for (events, named) in [(reversed, stored[1].event_id), (mixed, stored[2].event_id)] {
        match check(asked(ExpectedVersion::Any, &events), &records) {
            Err(StoreError::IdempotencyMismatch { event_id }) => assert_eq!(event_id, named),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn new_events_are_written_after_the_newest_revision_if_it_is_expected() {
    let records = newest_first(&[note(), note()]);
    let new = vec![note()];
    assert_eq!(
        check(asked(ExpectedVersion::Exact(1), &new), &records).unwrap(),
        Verdict::Write(Some(1))
    );
    assert_eq!(
        check(asked(ExpectedVersion::NoStream, &new), &[]).unwrap(),
        Verdict::Write(None)
    );
    match check(asked(ExpectedVersion::Exact(0), &new), &records) {
        Err(StoreError::Conflict { actual, .. }) => assert_eq!(actual, Some(1)),
        other => panic!("{other:?}"),
    }
}
