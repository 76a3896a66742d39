//! The snapshot decoder must never panic on a damaged or foreign file, and a body it
//! accepts must survive the writer: encoding the decoded views into a new file and
//! decoding that gives the same views (a snapshot the service writes, it can read).
//!
//! The input is tried twice: as a whole file (header, checksum, body), and as a bare
//! body behind a valid header, since random bytes almost never pass the SHA-256.

#![no_main]

use alert_ledger::snapshot::{decode, decode_views, encode, encode_file};
use libfuzzer_sys::fuzz_target;
use projections::views::Views;
use projections::Hash;

fuzz_target!(|data: &[u8]| {
    if let Ok(snapshot) = decode(data) {
        assert_eq!(snapshot.views.position, snapshot.position);
        survives_the_writer(&snapshot.views, snapshot.hash);
    }
    if let Ok(views) = decode_views(data) {
        let file = encode_file(views.position, Hash::GENESIS, data);
        let snapshot = decode(&file).expect("a body that decodes, behind a valid header");
        assert!(snapshot.views == views);
        survives_the_writer(&views, Hash::GENESIS);
    }
});

fn survives_the_writer(views: &Views, hash: Hash) {
    let body = encode(views).expect("decoded views encode");
    let again = decode(&encode_file(views.position, hash, &body)).expect("written views decode");
    assert!(
        again.views == *views,
        "views changed through encode and decode"
    );
    assert_eq!(again.hash, hash);
}
