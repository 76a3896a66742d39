//! The index file decoder of sealed segments must never panic, whatever bytes a damaged
//! or hostile index file holds; past its checksum (which the target also recomputes, so
//! the fuzzer reaches the parser behind it) anything it accepts must encode back to an
//! index that decodes to the same thing.

#![no_main]

use alert_ledger::store::embedded::format::sealed::{with_checksum, SealedIndex};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SealedIndex::decode(data);
    if let Ok(index) = SealedIndex::decode(&with_checksum(data)) {
        assert_eq!(SealedIndex::decode(&index.encode()), Ok(index));
    }
});
