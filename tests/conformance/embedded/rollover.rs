//! Segment rollover with small segments.

use super::EmbeddedHarness;
use crate::support::notes;
use alert_ledger::store::{Direction, EventStore, ExpectedVersion, StoreError};
use alert_ledger::verify::verify_data_dir;

#[tokio::test]
async fn small_segments_roll_over_and_preserve_every_event_across_reopen() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 64 * 1024);
    for i in 0..240 {
        let stream = format!("alert-{}", i % 4);
        h.store
            .append(&stream, ExpectedVersion::Any, notes("roll", 1 + i % 5))
            .await
            .expect("append");
    }
    assert!(h.segment(3).exists(), "several segments were written");
    let all = h.store.read_all(0, 10_000).await.expect("read_all");
    assert_eq!(all.len(), 720);
    let positions: Vec<u64> = all.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=720).collect::<Vec<_>>());
    let stream = h
        .store
        .read_stream("alert-2", 0, Direction::Forward, 10_000)
        .await
        .expect("read_stream");
    let versions: Vec<u64> = stream.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (0..stream.len() as u64).collect::<Vec<_>>());
    h.close().await;
    let reopened = h.open_again().expect("reopen");
    assert_eq!(reopened.read_all(0, 10_000).await.expect("read_all"), all);
    reopened.close().await.expect("close");
    let report = verify_data_dir(h.dir.path(), |_| {}).expect("verifies");
    assert_eq!(report.events_checked, 720);
    assert!(report.segments >= 3);
}

#[tokio::test]
async fn an_append_larger_than_a_segment_is_refused_and_smaller_ones_continue() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 64 * 1024);
    let err = h
        .store
        .append("alert-huge", ExpectedVersion::Any, notes("huge", 400))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Unavailable(reason) if reason.contains("exceeds")),
        "{err:?}"
    );
    let ok = h
        .store
        .append("alert-huge", ExpectedVersion::NoStream, notes("small", 2))
        .await
        .expect("append");
    assert_eq!(ok.first_position, 1);
}
