//! Index files of sealed segments: written when a segment is sealed, read on open
//! instead of scanning the segment, and never trusted when missing, damaged, or
//! belonging to another segment (the segment is scanned and the index written again).

use super::EmbeddedHarness;
use crate::support::notes;
use alert_ledger::store::embedded::format::sealed::with_checksum;
use alert_ledger::store::embedded::index_path;
use alert_ledger::store::{Direction, EventStore, ExpectedVersion, NewEvent};
use alert_ledger::verify::verify_data_dir;
use projections::RecordedEvent;
use std::path::Path;

/// A log of several 64 KiB segments over four streams, closed; with every event.
async fn sealed_log() -> (EmbeddedHarness, Vec<RecordedEvent>) {
    let h = EmbeddedHarness::with(|o| o.segment_size = 64 * 1024);
    for i in 0..240 {
        let stream = format!("alert-{}", i % 4);
        h.store
            .append(&stream, ExpectedVersion::Any, notes("sealed", 1 + i % 5))
            .await
            .expect("append");
    }
    assert!(h.segment(4).exists(), "at least four segments");
    let all = h.store.read_all(0, 10_000).await.expect("read_all");
    h.close().await;
    (h, all)
}

fn sealed_count(h: &EmbeddedHarness) -> u64 {
    (1..).take_while(|s| h.segment(s + 1).exists()).count() as u64
}

/// Reopens, and checks that the log reads back whole, stream by stream too, and that
/// appends continue each stream at its next version.
async fn reopens_whole(
    h: &EmbeddedHarness,
    all: &[RecordedEvent],
) -> alert_ledger::store::embedded::OpenReport {
    let store = h.open_again().expect("reopen");
    let report = store.open_report();
    assert_eq!(store.read_all(0, 10_000).await.expect("read_all"), all);
    for s in 0..4 {
        let stream = format!("alert-{s}");
        let events = store
            .read_stream(&stream, 0, Direction::Forward, 10_000)
            .await
            .expect("read_stream");
        let expected: Vec<_> = all.iter().filter(|e| e.stream == stream).cloned().collect();
        assert_eq!(events, expected, "{stream}");
        let next = store
            .append(
                &stream,
                ExpectedVersion::Exact(events.len() as u64 - 1),
                notes("after", 1),
            )
            .await
            .expect("the stream continues at its next version");
        assert_eq!(next.stream_version, events.len() as u64);
    }
    store.close().await.expect("close");
    report
}

#[tokio::test]
async fn sealed_segments_get_an_index_and_open_without_being_scanned() {
    let (h, all) = sealed_log().await;
    let sealed = sealed_count(&h);
    for sequence in 1..=sealed {
        assert!(
            index_path(h.dir.path(), sequence).exists(),
            "index of segment {sequence}"
        );
    }
    assert!(
        !index_path(h.dir.path(), sealed + 1).exists(),
        "the segment being written has no index"
    );
    let report = reopens_whole(&h, &all).await;
    assert_eq!(report.segments_from_index, sealed);
    assert_eq!(
        report.segments_scanned, 1,
        "only the last segment is scanned"
    );
    let verified = verify_data_dir(h.dir.path(), |_| {}).expect("verifies");
    assert_eq!(verified.events_checked, all.len() as u64 + 4);
}

/// Damages the index file at the first path (the second is another segment's index).
type Damage = fn(&Path, &Path);

#[tokio::test]
async fn a_missing_truncated_flipped_or_foreign_index_is_rebuilt_from_its_segment() {
    let damages: [(&str, Damage); 6] = [
        ("deleted", |idx, _| {
            std::fs::remove_file(idx).expect("delete")
        }),
        ("truncated", |idx, _| {
            let bytes = std::fs::read(idx).expect("read");
            std::fs::write(idx, &bytes[..bytes.len() / 2]).expect("truncate");
        }),
        ("flipped", |idx, _| {
            let mut bytes = std::fs::read(idx).expect("read");
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x04;
            std::fs::write(idx, bytes).expect("flip");
        }),
        ("from another segment", |idx, other| {
            std::fs::copy(other, idx).expect("copy");
        }),
        ("of the previous format (version 1)", |idx, _| {
            let bytes = std::fs::read(idx).expect("read");
            let mut body = bytes[..bytes.len() - 4].to_vec();
            body[8..12].copy_from_slice(&1u32.to_le_bytes());
            std::fs::write(idx, with_checksum(&body)).expect("rewrite");
        }),
        ("crash while writing it", |idx, _| {
            std::fs::remove_file(idx).expect("delete");
            std::fs::write(idx.with_extension("idx.tmp"), b"half an index").expect("tmp");
        }),
    ];
    for (name, damage) in damages {
        let (h, all) = sealed_log().await;
        let sealed = sealed_count(&h);
        let target = index_path(h.dir.path(), 2);
        let original = std::fs::read(&target).expect("read index");
        damage(&target, &index_path(h.dir.path(), 1));
        let report = reopens_whole(&h, &all).await;
        assert_eq!(report.segments_from_index, sealed - 1, "{name}");
        assert_eq!(
            report.segments_scanned, 2,
            "{name}: the damaged one and the last"
        );
        assert_eq!(
            std::fs::read(&target).expect("rebuilt index"),
            original,
            "{name}: the index is written again, as it was"
        );
        assert!(!target.with_extension("idx.tmp").exists(), "{name}");
        let again = h.open_again().expect("reopen");
        assert_eq!(
            again.open_report().segments_scanned,
            1,
            "{name}: trusted again"
        );
        again.close().await.expect("close");
    }
}

#[tokio::test]
async fn an_event_id_from_a_sealed_segment_is_still_recognised_after_reopen() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 64 * 1024);
    let first: Vec<NewEvent> = notes("first", 1);
    let original = h
        .store
        .append("alert-idem", ExpectedVersion::NoStream, first.clone())
        .await
        .expect("append");
    for i in 0..200 {
        h.store
            .append(
                &format!("alert-{}", i % 3),
                ExpectedVersion::Any,
                notes("fill", 3),
            )
            .await
            .expect("fill");
    }
    assert!(h.segment(3).exists());
    h.close().await;
    let store = h.open_again().expect("reopen");
    assert!(store.open_report().segments_from_index >= 2);
    let replayed = store
        .append("alert-idem", ExpectedVersion::NoStream, first)
        .await
        .expect("an idempotent re-append answers the original result");
    assert_eq!(replayed.first_position, original.first_position);
    store.close().await.expect("close");
}

#[tokio::test]
async fn an_incremental_verify_starts_at_the_digest_through_the_indexes() {
    use alert_ledger::store::Head;
    use alert_ledger::verify::{verify_segments, Target};
    let (h, all) = sealed_log().await;
    let digest_record = &all[all.len() * 3 / 4];
    let digest = Head {
        position: digest_record.position,
        hash: digest_record.hash,
    };
    let head = all.last().expect("events").position;
    // Damage a record of the first segment, long before the digest.
    let first = h.segment(1);
    let mut bytes = std::fs::read(&first).expect("read");
    let (offset, len) = super::record_frames(&first)[3];
    bytes[offset + len - 5] ^= 0x01;
    std::fs::write(&first, bytes).expect("write");

    let after = Target::After {
        digest,
        up_to: None,
    };
    let report = verify_segments(h.dir.path(), after, |_| {}).expect("what came after verifies");
    assert_eq!(report.from_position, digest.position);
    assert_eq!(report.events_checked, head - digest.position + 1);
    assert_eq!(report.head.position, head);
    assert!(
        report.segments < sealed_count(&h) + 1,
        "the segments before the digest's are not read"
    );
    let whole = verify_data_dir(h.dir.path(), |_| {}).expect_err("a whole walk finds it");
    assert_eq!(whole.position(), Some(4));

    let forged = Target::After {
        digest: Head {
            position: digest.position,
            hash: all[0].hash,
        },
        up_to: None,
    };
    let refused = verify_segments(h.dir.path(), forged, |_| {}).expect_err("a forged digest");
    assert_eq!(refused.position(), Some(digest.position));
}

#[tokio::test]
async fn segments_cut_under_accept_data_loss_lose_their_index_and_new_ones_get_their_own() {
    use alert_ledger::store::embedded::{EmbeddedStore, RecoveryMode};
    let (h, all) = sealed_log().await;
    let sealed = sealed_count(&h);
    // Damage segment 2's header: it and every later segment go to cut/.
    let second = h.segment(2);
    let mut bytes = std::fs::read(&second).expect("read");
    bytes[3] ^= 0xff;
    std::fs::write(&second, bytes).expect("write");
    let refused = h
        .open_again()
        .err()
        .expect("damage to acknowledged events refuses");
    assert!(refused.to_string().contains("lost"), "{refused}");

    let mut options = h.options.clone();
    options.recovery = RecoveryMode::AcceptDataLoss;
    let store = EmbeddedStore::open(options).expect("accept-data-loss opens");
    for sequence in 2..=sealed {
        assert!(
            !index_path(h.dir.path(), sequence).exists(),
            "index {sequence} removed"
        );
    }
    assert!(
        index_path(h.dir.path(), 1).exists(),
        "segment 1 keeps its index"
    );
    let after_cut = store.read_all(0, 10_000).await.expect("read_all");
    let (loss, kept) = after_cut.split_last().expect("the loss record");
    assert!(!kept.is_empty() && kept.len() < all.len());
    assert_eq!(kept, &all[..kept.len()], "segment 1 is kept as it was");
    assert!(
        matches!(loss.event, projections::Event::DataLossRecorded { .. }),
        "{:?}",
        loss.event
    );
    for i in 0..240 {
        store
            .append(
                &format!("alert-{}", i % 4),
                ExpectedVersion::Any,
                notes("again", 1 + i % 5),
            )
            .await
            .expect("appends continue");
    }
    let before = store.read_all(0, 10_000).await.expect("read_all");
    assert_eq!(&before[..after_cut.len()], &after_cut[..]);
    store.close().await.expect("close");
    let reopened = h.open_again().expect("reopens");
    assert!(
        reopened.open_report().segments_from_index >= 2,
        "the new segments are indexed"
    );
    assert_eq!(reopened.open_report().segments_scanned, 1);
    assert_eq!(
        reopened.read_all(0, 10_000).await.expect("read_all"),
        before
    );
    reopened.close().await.expect("close");
    verify_data_dir(h.dir.path(), |_| {}).expect("the cut log verifies");
}

#[tokio::test]
async fn many_streams_read_back_through_the_sealed_segments_directories_and_filters() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 256 * 1024);
    let streams = 700;
    for round in 0..3 {
        for s in 0..streams {
            if (s + round) % 3 == 0 {
                continue;
            }
            h.store
                .append(
                    &format!("alert-{s}"),
                    ExpectedVersion::Any,
                    notes("many", 1),
                )
                .await
                .expect("append");
        }
    }
    assert!(h.segment(3).exists(), "at least two sealed segments");
    let all = h.store.read_all(0, 100_000).await.expect("read_all");
    h.close().await;
    let store = h.open_again().expect("reopen");
    assert!(store.open_report().segments_from_index >= 2);
    assert_eq!(store.read_all(0, 100_000).await.expect("read_all"), all);
    for s in 0..streams {
        let stream = format!("alert-{s}");
        let expected: Vec<_> = all.iter().filter(|e| e.stream == stream).cloned().collect();
        let forward = store
            .read_stream(&stream, 0, Direction::Forward, 100)
            .await
            .expect("read_stream");
        assert_eq!(forward, expected, "{stream}");
        let backward = store
            .read_stream(&stream, u64::MAX, Direction::Backward, 1)
            .await
            .expect("read_stream backward");
        assert_eq!(backward.first(), expected.last(), "{stream}");
        assert_eq!(
            store.stream_version(&stream).await.expect("version"),
            Some(expected.len() as u64 - 1),
            "{stream}"
        );
    }
    for s in streams..streams + 200 {
        let stream = format!("alert-{s}");
        assert!(store
            .read_stream(&stream, 0, Direction::Forward, 10)
            .await
            .expect("read_stream")
            .is_empty());
        store
            .append(&stream, ExpectedVersion::NoStream, notes("new", 1))
            .await
            .expect("a stream no sealed segment holds starts at version 0");
    }
    store.close().await.expect("close");
}

#[tokio::test]
async fn an_index_that_points_a_stream_at_another_streams_record_fails_the_read_not_silently() {
    use alert_ledger::store::embedded::format::sealed::SealedIndex;
    let (h, _) = sealed_log().await;
    let target = index_path(h.dir.path(), 2);
    let mut index = SealedIndex::decode(&std::fs::read(&target).expect("read")).expect("decode");
    let stolen = index.streams[1].positions[0];
    index.streams[0].positions[0] = stolen;
    let victim = index.streams[0].stream.clone();
    std::fs::write(&target, index.encode()).expect("rewrite with a valid checksum");
    let store = h
        .open_again()
        .expect("the open checks the file, not every position");
    let err = store
        .read_stream(&victim, 0, Direction::Forward, 10_000)
        .await
        .expect_err("a record of another stream is refused");
    assert!(err.to_string().contains("belongs to"), "{err}");
    store.close().await.expect("close");
}
