//! Moving a ledger between backends: an export of the embedded log imported into an
//! empty PostgreSQL database holds the same events at the same positions with the same
//! chain, verifies, and takes appends after it; an import that does not continue the
//! stored log writes nothing.

use super::TestDatabase;
use crate::support::note;
use alert_ledger::export::{export, import, ExportRange};
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::{EventStore, ExpectedVersion};

/// An embedded log of 300 events over 7 streams, some appended several at a time.
async fn embedded_log(dir: &std::path::Path) -> EmbeddedStore {
    let mut options = EmbeddedOptions::new(dir);
    options.segment_size = 4 * 1024 * 1024;
    let store = EmbeddedStore::open(options).expect("open");
    for i in 0..100 {
        let events = (0..1 + i % 3).map(|_| note("moved")).collect();
        store
            .append(&format!("alert-{}", i % 7), ExpectedVersion::Any, events)
            .await
            .expect("append");
    }
    store
}

async fn exported(store: &dyn EventStore) -> Vec<u8> {
    let mut out = Vec::new();
    export(store, &ExportRange::default(), &mut out, |_, _| {})
        .await
        .expect("export");
    out
}

#[tokio::test]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn an_embedded_export_imported_into_postgres_keeps_positions_and_chain() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let embedded = embedded_log(dir.path()).await;
    let ndjson = exported(&embedded).await;
    let postgres = db.connect().await;

    let imported = import(&postgres, ndjson.as_slice(), |_| {})
        .await
        .expect("import");
    let head = embedded.head().await.unwrap();
    assert_eq!(imported, head.position);
    assert_eq!(postgres.head().await.unwrap(), head, "same head and hash");
    assert_eq!(
        postgres.read_all(1, 10_000).await.unwrap(),
        embedded.read_all(1, 10_000).await.unwrap(),
        "every event, envelope and hash is the same"
    );
    assert_eq!(postgres.verify().await.expect("verifies"), head);
    assert_eq!(exported(&postgres).await, ndjson, "exports are identical");

    // Appends continue the imported log, and the stream versions continue.
    let next = postgres
        .append("alert-0", ExpectedVersion::Any, vec![note("after")])
        .await
        .unwrap();
    assert_eq!(next.first_position, head.position + 1);
    let last_version = embedded
        .read_stream(
            "alert-0",
            0,
            alert_ledger::store::Direction::Forward,
            10_000,
        )
        .await
        .unwrap()
        .last()
        .unwrap()
        .stream_version;
    assert_eq!(next.stream_version, last_version + 1);

    // The same export again does not continue the log: refused, nothing written.
    let again = import(&postgres, ndjson.as_slice(), |_| {}).await;
    assert!(again.is_err(), "a second import was accepted");
    assert_eq!(postgres.head().await.unwrap().position, head.position + 1);
    embedded.close().await.unwrap();
    postgres.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn an_edited_export_is_refused_by_its_hash_and_nothing_is_written() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let embedded = embedded_log(dir.path()).await;
    let ndjson = String::from_utf8(exported(&embedded).await).unwrap();
    let edited = ndjson.replacen("moved", "MOVED", 1);
    assert_ne!(edited, ndjson);
    let postgres = db.connect().await;
    let refused = import(&postgres, edited.as_bytes(), |_| {}).await;
    let message = refused
        .expect_err("an edited export was imported")
        .to_string();
    assert!(message.contains("chain hash"), "{message}");
    assert_eq!(
        postgres.head().await.unwrap().position,
        0,
        "nothing written"
    );
    embedded.close().await.unwrap();
    postgres.close().await.unwrap();
}
