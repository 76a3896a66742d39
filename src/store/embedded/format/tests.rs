use super::*;

fn frame(body: &[u8], last: bool) -> Vec<u8> {
    let mut out = Vec::new();
    Record {
        last_of_append: last,
        prev_hash: Hash([1; 32]),
        hash: Hash([2; 32]),
        body,
    }
    .encode_into(&mut out);
    out
}

#[test]
fn a_record_round_trips_through_its_frame() {
    let bytes = frame(b"{\"x\":1}", true);
    let Ok(Frame::Record(record)) = decode_frame(&bytes) else {
        panic!("expected a record");
    };
    assert_eq!(record.body, b"{\"x\":1}");
    assert!(record.last_of_append);
    assert_eq!(record.frame_len(), bytes.len());
}

#[test]
fn a_frame_cut_short_is_incomplete() {
    let bytes = frame(b"{\"x\":1}", true);
    assert_eq!(
        decode_frame(&bytes[..bytes.len() - 1]),
        Err(FrameError::Incomplete)
    );
    assert_eq!(decode_frame(&bytes[..2]), Err(FrameError::Incomplete));
}

#[test]
fn a_flipped_byte_anywhere_in_a_frame_is_corrupt() {
    let bytes = frame(b"{\"x\":1}", false);
    for at in 4..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        assert!(
            matches!(decode_frame(&damaged), Err(FrameError::Corrupt { .. })),
            "byte {at}"
        );
    }
}

#[test]
fn zeros_mark_the_end_of_written_data() {
    assert_eq!(decode_frame(&[0; 100]), Ok(Frame::End));
    assert_eq!(decode_frame(&[]), Ok(Frame::End));
}

#[test]
fn a_valid_frame_is_found_after_garbage_and_zeros() {
    let mut buf = vec![0u8; 1000];
    buf[10] = 0x55;
    buf.extend(frame(b"{}", true));
    buf.extend([0u8; 50]);
    assert_eq!(find_valid_frame(&buf), Some(1000));
    assert_eq!(find_valid_frame(&buf[1001..]), None);
}

#[test]
fn a_segment_header_round_trips_and_rejects_damage() {
    let header = SegmentHeader {
        version: FormatVersion::CURRENT,
        sequence: 42,
    };
    let mut bytes = header.encode();
    assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
    bytes[20] ^= 1;
    assert!(SegmentHeader::decode(&bytes).is_err());
}

fn witness(sequence: u64, position: u64) -> Witness {
    Witness {
        sequence,
        position,
        segment: 3,
        end_offset: 4096,
        hash: Hash([9; 32]),
    }
}

#[test]
fn a_witness_round_trips_through_its_slot() {
    let w = witness(7, 200);
    assert_eq!(Witness::decode(&w.encode()), Some(w));
}

#[test]
fn a_witness_slot_with_any_flipped_data_byte_is_refused() {
    let bytes = witness(7, 200).encode();
    for i in 0..WITNESS_DATA_LEN {
        let mut damaged = bytes;
        damaged[i] ^= 0x10;
        assert_eq!(Witness::decode(&damaged), None, "byte {i}");
    }
}

#[test]
fn the_newer_valid_slot_wins_and_a_torn_slot_falls_back_to_the_other() {
    let older = witness(4, 100);
    let newer = witness(5, 150);
    let mut file = vec![0u8; 2 * WITNESS_SLOT_LEN];
    file[older.slot_offset() as usize..][..WITNESS_SLOT_LEN].copy_from_slice(&older.encode());
    file[newer.slot_offset() as usize..][..WITNESS_SLOT_LEN].copy_from_slice(&newer.encode());
    assert_eq!(Witness::newest(&file), Some(newer));
    file[newer.slot_offset() as usize + 30] ^= 1;
    assert_eq!(Witness::newest(&file), Some(older));
    assert_eq!(Witness::newest(&[0u8; 2 * WITNESS_SLOT_LEN]), None);
}
