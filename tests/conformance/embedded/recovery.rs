//! Opening a damaged log. The durable-end witness decides: an unacknowledged torn write
//! (after the witness) is moved aside into `cut/`; damage to acknowledged events, a log
//! shorter than its witness, or a log the witness was not written for refuses the open
//! naming the position and changes nothing; `accept-data-loss` cuts and records it.
//!
//! A torn write is made for real: the witness is saved before an append and put back
//! after it, which is the state a crash between the data `fdatasync` and the witness
//! update leaves, and then the unacknowledged record is damaged.

use super::{edit_file, record_frames, EmbeddedHarness};
use crate::support::{note, notes};
use alert_ledger::store::embedded::format::{decode_frame, Frame, Record};
use alert_ledger::store::embedded::{RecoveryMode, CUT_DIR, WITNESS_FILE};
use alert_ledger::store::{EventStore, ExpectedVersion, StoreError};
use alert_ledger::verify::verify_data_dir;
use projections::Event;
use std::path::PathBuf;

async fn harness_with_single_appends(count: usize, mode: RecoveryMode) -> EmbeddedHarness {
    let h = EmbeddedHarness::with(|o| {
        o.segment_size = 1024 * 1024;
        o.recovery = mode;
    });
    append_notes(&h, count).await;
    h.close().await;
    h
}

async fn append_notes(h: &EmbeddedHarness, count: usize) {
    for i in 0..count {
        h.store
            .append(
                "alert-e",
                ExpectedVersion::Any,
                vec![note(&format!("e{i}"))],
            )
            .await
            .expect("append");
    }
}

/// `count` acknowledged appends, then one more whose witness update is undone: the
/// state after a crash between the last batch's `fdatasync` and its witness record.
async fn harness_with_unwitnessed_last(count: usize, mode: RecoveryMode) -> EmbeddedHarness {
    let h = EmbeddedHarness::with(|o| {
        o.segment_size = 1024 * 1024;
        o.recovery = mode;
    });
    append_notes(&h, count).await;
    let witness = std::fs::read(witness_path(&h)).expect("read witness");
    append_notes(&h, 1).await;
    h.close().await;
    std::fs::write(witness_path(&h), witness).expect("restore witness");
    h
}

fn witness_path(h: &EmbeddedHarness) -> PathBuf {
    h.dir.path().join(WITNESS_FILE)
}

fn cut_files(h: &EmbeddedHarness) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(h.dir.path().join(CUT_DIR)) else {
        return Vec::new();
    };
    entries.map(|e| e.expect("entry").path()).collect()
}

#[track_caller]
fn assert_lost_at(err: StoreError, expected_position: u64, mentions: &str) {
    match err {
        StoreError::AcknowledgedLoss { position, detail } => {
            assert_eq!(position, expected_position, "{detail}");
            assert!(detail.contains(mentions), "{detail}");
        }
        other => panic!("expected AcknowledgedLoss, got {other:?}"),
    }
}

#[tokio::test]
async fn a_torn_write_after_the_witness_is_moved_aside_and_appends_continue() {
    let h = harness_with_unwitnessed_last(9, RecoveryMode::TolerateTornTail).await;
    let (offset, len) = record_frames(&h.segment(1))[9];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 30..offset + len].fill(0)
    });
    let torn = std::fs::read(h.segment(1)).expect("read")[offset..offset + len - 30].to_vec();
    let store = h
        .open_again()
        .expect("an unacknowledged torn write does not stop the open");
    assert_eq!(store.head().await.expect("head").position, 9);
    let next = store
        .append("alert-e", ExpectedVersion::Exact(8), vec![note("after")])
        .await
        .expect("appends continue");
    assert_eq!(next.first_position, 10);
    store.close().await.expect("close");
    let cut = cut_files(&h);
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(std::fs::read(&cut[0]).expect("cut file"), torn);
    let report = verify_data_dir(h.dir.path(), |_| {}).expect("the log verifies");
    assert_eq!(report.events_checked, 10);
}

#[tokio::test]
async fn a_whole_record_after_the_witness_is_kept() {
    let h = harness_with_unwitnessed_last(9, RecoveryMode::TolerateTornTail).await;
    let store = h.open_again().expect("open");
    assert_eq!(store.head().await.expect("head").position, 10);
    store.close().await.expect("close");
    assert!(cut_files(&h).is_empty());
}

#[tokio::test]
async fn a_partial_record_written_after_the_last_one_is_moved_aside() {
    let h = harness_with_single_appends(5, RecoveryMode::TolerateTornTail).await;
    let (offset, len) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| {
        let copy = bytes[offset..offset + len / 2].to_vec();
        bytes[offset + len..offset + len + copy.len()].copy_from_slice(&copy);
    });
    let store = h.open_again().expect("open");
    assert_eq!(store.head().await.expect("head").position, 5);
    store.close().await.expect("close");
    assert_eq!(record_frames(&h.segment(1)).len(), 5);
    assert_eq!(cut_files(&h).len(), 1);
    verify_data_dir(h.dir.path(), |_| {}).expect("the log verifies");
}

#[tokio::test]
async fn an_unacknowledged_append_cut_short_is_rolled_back_whole() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 1024 * 1024);
    h.store
        .append("alert-w", ExpectedVersion::NoStream, notes("single", 2))
        .await
        .expect("append");
    let witness = std::fs::read(witness_path(&h)).expect("read witness");
    h.store
        .append("alert-w", ExpectedVersion::Exact(1), notes("triple", 3))
        .await
        .expect("append");
    h.close().await;
    std::fs::write(witness_path(&h), witness).expect("restore witness");
    let (offset, len) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 10..offset + len].fill(0)
    });
    let store = h.open_again().expect("open");
    assert_eq!(store.head().await.expect("head").position, 2);
    assert_eq!(
        store.stream_version("alert-w").await.expect("version"),
        Some(1)
    );
}

#[tokio::test]
async fn strict_recovery_refuses_even_an_unacknowledged_torn_write_and_changes_nothing() {
    let h = harness_with_unwitnessed_last(9, RecoveryMode::Strict).await;
    let (offset, len) = record_frames(&h.segment(1))[9];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 30..offset + len].fill(0)
    });
    let before = std::fs::read(h.segment(1)).expect("read");
    let err = h.open_again().err().expect("strict mode refuses");
    assert!(
        matches!(err, StoreError::Corrupt { position: 10, offset: o, .. } if o == offset as u64),
        "{err:?}"
    );
    assert_eq!(std::fs::read(h.segment(1)).expect("read"), before);
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_acknowledged_record_refuses_and_changes_nothing() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[9];
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let before = std::fs::read(h.segment(1)).expect("read");
    let err = h.open_again().err().expect("acknowledged damage refuses");
    assert_lost_at(err, 10, "checksum");
    assert_eq!(std::fs::read(h.segment(1)).expect("read"), before);
    assert!(cut_files(&h).is_empty());
    let message = h.open_again().err().expect("refuses again").to_string();
    assert!(
        message.contains("position 10") && message.contains("--recovery accept-data-loss"),
        "{message}"
    );
}

#[tokio::test]
async fn a_flipped_byte_in_an_earlier_record_refuses_naming_segment_offset_and_position() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let err = h.open_again().err().expect("mid-log corruption is fatal");
    assert_lost_at(err.clone(), 3, "checksum");
    let detail = err.to_string();
    assert!(
        detail.contains("0000000001.seg") && detail.contains(&format!("byte {offset}")),
        "{detail}"
    );
}

#[tokio::test]
async fn a_zeroed_length_in_the_middle_of_the_log_is_corruption_not_the_end() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[3];
    edit_file(&h.segment(1), |bytes| bytes[offset..offset + 4].fill(0));
    let err = h.open_again().err().expect("fatal");
    assert_lost_at(err, 4, "position 10");
}

#[tokio::test]
async fn a_segment_truncated_in_the_middle_of_a_record_refuses() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, len) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| bytes.truncate(offset + len / 2));
    let err = h.open_again().err().expect("a shortened log refuses");
    assert_lost_at(err, 5, "witness records position 10");
}

#[tokio::test]
async fn bytes_zeroed_from_a_record_to_the_end_refuse() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| bytes[offset..].fill(0));
    let err = h
        .open_again()
        .err()
        .expect("a zeroed tail of acknowledged events refuses");
    assert_lost_at(err, 5, "the log ends at position 4");
}

#[tokio::test]
async fn a_body_edit_with_a_recomputed_checksum_refuses() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, len) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| {
        let Ok(Frame::Record(record)) = decode_frame(&bytes[offset..offset + len]) else {
            panic!("a record");
        };
        let mut body = record.body.to_vec();
        let at = body.iter().position(|b| *b == b'e').expect("an e");
        body[at] = b'f';
        let mut frame = Vec::new();
        Record {
            body: &body,
            ..record
        }
        .encode_into(&mut frame);
        bytes[offset..offset + len].copy_from_slice(&frame);
    });
    let err = h.open_again().err().expect("an edit is refused at open");
    assert_lost_at(err, 3, "hash mismatch");
}

#[tokio::test]
async fn a_log_the_witness_was_not_written_for_refuses() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let other = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    std::fs::copy(other.segment(1), h.segment(1)).expect("swap the log");
    let err = h.open_again().err().expect("another log refuses");
    assert_lost_at(err, 10, "differs from the durable-end witness");
}

#[tokio::test]
async fn another_log_with_a_torn_tail_is_refused_not_cut() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let other = harness_with_single_appends(11, RecoveryMode::TolerateTornTail).await;
    std::fs::copy(other.segment(1), h.segment(1)).expect("swap the log");
    let (offset, len) = record_frames(&h.segment(1))[10];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 30..offset + len].fill(0)
    });
    let err = h.open_again().err().expect("another log refuses");
    assert_lost_at(err, 10, "differs from the durable-end witness");
    assert!(cut_files(&h).is_empty());
}

#[tokio::test]
async fn a_damaged_witness_refuses() {
    let h = harness_with_single_appends(3, RecoveryMode::TolerateTornTail).await;
    edit_file(&witness_path(&h), |bytes| {
        bytes[20] ^= 1;
        bytes[512 + 20] ^= 1;
    });
    let err = h.open_again().err().expect("a damaged witness refuses");
    assert_lost_at(err, 4, "is damaged");
}

#[tokio::test]
async fn a_clean_log_without_a_witness_opens_and_gets_one() {
    let h = harness_with_single_appends(3, RecoveryMode::TolerateTornTail).await;
    std::fs::remove_file(witness_path(&h)).expect("remove witness");
    let store = h.open_again().expect("an older log opens");
    assert_eq!(store.head().await.expect("head").position, 3);
    store.close().await.expect("close");
    let (offset, _) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let err = h
        .open_again()
        .err()
        .expect("the new witness protects position 3");
    assert_lost_at(err, 3, "witness records position 3");
}

#[tokio::test]
async fn damage_without_a_witness_refuses_rather_than_guess() {
    let h = harness_with_single_appends(3, RecoveryMode::TolerateTornTail).await;
    std::fs::remove_file(witness_path(&h)).expect("remove witness");
    let (offset, len) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 30..offset + len].fill(0)
    });
    let err = h
        .open_again()
        .err()
        .expect("no witness to tell a torn write");
    assert_lost_at(err, 3, "no durable-end witness");
}

#[tokio::test]
async fn accept_data_loss_cuts_at_the_damage_moves_the_rest_aside_and_records_the_loss() {
    let h = harness_with_single_appends(10, RecoveryMode::AcceptDataLoss).await;
    let (offset, _) = record_frames(&h.segment(1))[2];
    let original = std::fs::read(h.segment(1)).expect("read");
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let store = h.open_again().expect("the operator accepted the loss");
    let head = store.head().await.expect("head").position;
    assert_eq!(head, 3, "two intact events, then the loss record");
    let recorded = store.read_all(3, 10).await.expect("read");
    let Event::DataLossRecorded {
        first_lost_position,
        witness_position,
        detail,
        moved_aside,
        cut_bytes,
        ..
    } = &recorded[0].event
    else {
        panic!("expected the loss record, got {:?}", recorded[0].event);
    };
    assert_eq!((*first_lost_position, *witness_position), (3, 10));
    assert!(detail.contains("checksum"), "{detail}");
    assert_eq!(recorded[0].stream, "ledger");
    let kept = std::fs::read(h.dir.path().join(&moved_aside[0])).expect("cut file");
    assert_eq!(kept.len() as u64, *cut_bytes);
    let mut expected = original[offset..offset + kept.len()].to_vec();
    expected[120] ^= 0x01;
    assert_eq!(
        kept, expected,
        "the cut bytes are kept as they were on disk"
    );
    let next = store
        .append("alert-e", ExpectedVersion::Any, vec![note("after")])
        .await
        .expect("append");
    assert_eq!(next.first_position, 4);
    store.close().await.expect("close");
    verify_data_dir(h.dir.path(), |_| {}).expect("the cut log verifies");
    let again = h.open_again().expect("the next open is clean");
    assert_eq!(again.head().await.expect("head").position, 4);
}
