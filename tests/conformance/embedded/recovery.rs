//! Opening a damaged log: torn tails are truncated, anything else is a hard error.

use super::{edit_file, record_frames, EmbeddedHarness};
use crate::support::{note, notes};
use alert_ledger::store::embedded::RecoveryMode;
use alert_ledger::store::{EventStore, ExpectedVersion, StoreError};
use alert_ledger::verify::verify_data_dir;

async fn harness_with_single_appends(count: usize, mode: RecoveryMode) -> EmbeddedHarness {
    let h = EmbeddedHarness::with(|o| {
        o.segment_size = 1024 * 1024;
        o.recovery = mode;
    });
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
    h.close().await;
    h
}

#[tokio::test]
async fn a_torn_record_at_the_tail_is_truncated_on_reopen_and_appends_continue() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, len) = record_frames(&h.segment(1))[9];
    edit_file(&h.segment(1), |bytes| {
        bytes[offset + len - 30..offset + len].fill(0)
    });
    let store = h.open_again().expect("a torn tail does not stop the open");
    assert_eq!(store.head().await.expect("head").position, 9);
    let next = store
        .append("alert-e", ExpectedVersion::Exact(8), vec![note("after")])
        .await
        .expect("appends continue");
    assert_eq!(next.first_position, 10);
    store.close().await.expect("close");
    let report = verify_data_dir(h.dir.path(), |_| {}).expect("the log verifies");
    assert_eq!(report.events_checked, 10);
}

#[tokio::test]
async fn a_partial_record_written_after_the_last_one_is_truncated() {
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
    verify_data_dir(h.dir.path(), |_| {}).expect("the log verifies");
}

#[tokio::test]
async fn an_append_cut_short_at_the_tail_is_rolled_back_whole() {
    let h = EmbeddedHarness::with(|o| o.segment_size = 1024 * 1024);
    h.store
        .append("alert-w", ExpectedVersion::NoStream, notes("single", 2))
        .await
        .expect("append");
    h.store
        .append("alert-w", ExpectedVersion::Exact(1), notes("triple", 3))
        .await
        .expect("append");
    h.close().await;
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
async fn strict_recovery_refuses_a_torn_tail_and_changes_nothing() {
    let h = harness_with_single_appends(10, RecoveryMode::Strict).await;
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
async fn a_flipped_byte_in_an_earlier_record_fails_open_naming_segment_offset_and_position() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let err = h.open_again().err().expect("mid-log corruption is fatal");
    match err {
        StoreError::Corrupt {
            segment,
            offset: at,
            position,
            reason,
        } => {
            assert_eq!(segment, "0000000001.seg");
            assert_eq!(at, offset as u64);
            assert_eq!(position, 3);
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn a_zeroed_length_in_the_middle_of_the_log_is_corruption_not_the_end() {
    let h = harness_with_single_appends(10, RecoveryMode::TolerateTornTail).await;
    let (offset, _) = record_frames(&h.segment(1))[3];
    edit_file(&h.segment(1), |bytes| bytes[offset..offset + 4].fill(0));
    let err = h.open_again().err().expect("fatal");
    assert!(
        matches!(err, StoreError::Corrupt { position: 4, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn truncate_after_corruption_mode_cuts_the_log_at_the_damage() {
    let h = harness_with_single_appends(10, RecoveryMode::TruncateAfterCorruption).await;
    let (offset, _) = record_frames(&h.segment(1))[2];
    edit_file(&h.segment(1), |bytes| bytes[offset + 120] ^= 0x01);
    let store = h.open_again().expect("the operator chose to cut the log");
    assert_eq!(store.head().await.expect("head").position, 2);
    let next = store
        .append("alert-e", ExpectedVersion::Any, vec![note("after")])
        .await
        .expect("append");
    assert_eq!(next.first_position, 3);
    store.close().await.expect("close");
    verify_data_dir(h.dir.path(), |_| {}).expect("the cut log verifies");
}
