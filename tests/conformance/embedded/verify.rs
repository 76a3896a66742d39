//! `verify` names the first bad position for every kind of tampering.

use super::{edit_file, record_frames, EmbeddedHarness};
use crate::support::note;
use alert_ledger::store::embedded::format::{decode_frame, Frame, Record};
use alert_ledger::store::{EventStore, ExpectedVersion};
use alert_ledger::verify::{verify_against_digest, verify_data_dir, VerifyFailure};

/// A closed log of 200 single-event appends over several 64 KiB segments.
async fn closed_log() -> EmbeddedHarness {
    let h = EmbeddedHarness::with(|o| o.segment_size = 64 * 1024);
    for i in 0..200 {
        h.store
            .append(
                &format!("alert-{}", i % 3),
                ExpectedVersion::Any,
                vec![note("v")],
            )
            .await
            .expect("append");
    }
    h.close().await;
    h
}

#[track_caller]
fn assert_broken_at(result: Result<alert_ledger::verify::VerifyReport, VerifyFailure>, at: u64) {
    match result {
        Err(failure) => assert_eq!(failure.position(), Some(at), "{failure}"),
        Ok(report) => panic!("expected a failure at {at}, got {report:?}"),
    }
}

#[tokio::test]
async fn verify_accepts_an_intact_log_and_reports_its_head() {
    let h = closed_log().await;
    let mut last_progress = 0;
    let report = verify_data_dir(h.dir.path(), |n| last_progress = n).expect("verifies");
    assert_eq!(report.events_checked, 200);
    assert_eq!(last_progress, 200);
    assert!(report.segments >= 2);
    let store = h.open_again().expect("open");
    assert_eq!(store.head().await.expect("head"), report.head);
}

#[tokio::test]
async fn verify_names_the_record_with_an_edited_byte() {
    let h = closed_log().await;
    let (offset, _) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| bytes[offset + 150] ^= 0x20);
    assert_broken_at(verify_data_dir(h.dir.path(), |_| {}), 5);
}

#[tokio::test]
async fn verify_names_an_edited_record_even_when_its_checksum_was_recomputed() {
    let h = closed_log().await;
    let (offset, len) = record_frames(&h.segment(1))[4];
    edit_file(&h.segment(1), |bytes| {
        let frame = bytes[offset..offset + len].to_vec();
        let Ok(Frame::Record(record)) = decode_frame(&frame) else {
            panic!("record 5 decodes");
        };
        let forged_body = String::from_utf8(record.body.to_vec())
            .expect("utf-8")
            .replace("conformance", "conformancf");
        let mut forged = Vec::new();
        Record {
            body: forged_body.as_bytes(),
            ..record
        }
        .encode_into(&mut forged);
        bytes[offset..offset + len].copy_from_slice(&forged);
    });
    let failure = verify_data_dir(h.dir.path(), |_| {}).unwrap_err();
    assert_eq!(failure.position(), Some(5));
    assert!(failure.to_string().contains("hash"), "{failure}");
}

#[tokio::test]
async fn verify_names_the_position_of_a_deleted_record() {
    let h = closed_log().await;
    let (offset, len) = record_frames(&h.segment(1))[6];
    edit_file(&h.segment(1), |bytes| {
        bytes.drain(offset..offset + len);
    });
    assert_broken_at(verify_data_dir(h.dir.path(), |_| {}), 7);
}

#[tokio::test]
async fn verify_names_the_first_of_two_swapped_records() {
    let h = closed_log().await;
    let frames = record_frames(&h.segment(1));
    let ((a, a_len), (b, b_len)) = (frames[9], frames[10]);
    edit_file(&h.segment(1), |bytes| {
        let first = bytes[a..a + a_len].to_vec();
        let second = bytes[b..b + b_len].to_vec();
        let swapped = [second, first].concat();
        bytes[a..b + b_len].copy_from_slice(&swapped);
    });
    assert_broken_at(verify_data_dir(h.dir.path(), |_| {}), 10);
}

#[tokio::test]
async fn verify_names_a_truncation_in_the_middle_of_a_segment() {
    let h = closed_log().await;
    let (offset, _) = record_frames(&h.segment(1))[20];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(h.segment(1))
        .expect("open");
    file.set_len(offset as u64 + 40).expect("truncate");
    assert_broken_at(verify_data_dir(h.dir.path(), |_| {}), 21);
}

#[tokio::test]
async fn verify_against_a_digest_accepts_its_hash_and_names_a_different_one() {
    let h = closed_log().await;
    let store = h.open_again().expect("open");
    let at_50 = store.read_all(50, 1).await.expect("read")[0].hash;
    let head = store.head().await.expect("head");
    store.close().await.expect("close");
    verify_against_digest(h.dir.path(), 50, at_50, |_| {}).expect("the digest holds");
    verify_against_digest(h.dir.path(), head.position, head.hash, |_| {}).expect("head digest");
    assert_broken_at(verify_against_digest(h.dir.path(), 51, at_50, |_| {}), 51);
    assert_broken_at(verify_against_digest(h.dir.path(), 500, at_50, |_| {}), 500);
}
