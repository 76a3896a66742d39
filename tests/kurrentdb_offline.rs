//! The kurrentdb backend without a server: a refused connection is a plain
//! `Unavailable`, never a panic, also in a process that already uses reqwest's rustls
//! (the `eventstore` 4.0.0 crypto-provider panic, docs/adr/0008-kurrentdb.md).

use alert_ledger::config::StoreLocation;
use alert_ledger::store::kurrentdb::KurrentStore;
use alert_ledger::store::StoreError;
use std::time::Duration;

/// A port nothing listens on.
const REFUSED: &str =
    "kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=2&discoveryInterval=50";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_unavailable_next_to_reqwest_rustls() {
    // An https-capable reqwest client first, as the dispatcher builds one at startup.
    let before = reqwest::Client::builder().use_rustls_tls().build();
    assert!(before.is_ok(), "{before:?}");
    let opened = tokio::time::timeout(Duration::from_secs(60), KurrentStore::connect(REFUSED))
        .await
        .expect("gives up in time");
    match opened {
        Err(StoreError::Unavailable(text)) => assert!(text.contains("kurrentdb"), "{text}"),
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("connected to a closed port"),
    }
    // And reqwest still builds TLS clients after the kurrentdb client installed its
    // provider.
    let after = reqwest::Client::builder().use_rustls_tls().build();
    assert!(after.is_ok(), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esdb_and_kurrentdb_urls_open_the_kurrentdb_backend() {
    for url in [
        "esdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=50",
        "kurrentdb://127.0.0.1:1?tls=false&maxDiscoverAttempts=1&discoveryInterval=50",
    ] {
        let location = StoreLocation::parse(Some(url)).expect("accepted");
        let dir = tempfile::tempdir().expect("dir");
        let err = tokio::time::timeout(
            Duration::from_secs(60),
            alert_ledger::startup::open_store(&location, dir.path(), Default::default(), 1 << 20),
        )
        .await
        .expect("gives up in time")
        .err()
        .expect("no server");
        let text = format!("{err:#}");
        assert!(text.contains("cannot open the kurrentdb store"), "{text}");
    }
}
