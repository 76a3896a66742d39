//! The record decoder must never panic, whatever bytes a damaged or hostile segment
//! holds: frames, segment headers, the torn-tail scan, the body codec and the
//! durable-end witness file.

#![no_main]

use alert_ledger::codec::{decode_body, decode_index_fields};
use alert_ledger::store::embedded::format::{
    decode_frame, find_valid_frame, Frame, SegmentHeader, Witness,
};
use libfuzzer_sys::fuzz_target;
use projections::Hash;

fuzz_target!(|data: &[u8]| {
    let _ = SegmentHeader::decode(data);
    let _ = Witness::newest(data);
    let _ = find_valid_frame(data);
    let mut rest = data;
    while let Ok(Frame::Record(record)) = decode_frame(rest) {
        let _ = decode_index_fields(record.body);
        let _ = decode_body(record.body, 1, record.prev_hash, record.hash);
        rest = &rest[record.frame_len()..];
    }
    let _ = decode_body(data, 1, Hash::GENESIS, Hash::GENESIS);
});
