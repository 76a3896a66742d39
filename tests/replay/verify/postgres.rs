//! Verification of a ledger on PostgreSQL means what it means on the embedded store:
//! `alert-ledger verify --store postgres://…` prints the same `ok:` and
//! `digest matched:` lines and names a tampered row's position, and
//! `POST /v1/ledger/verify` on a service on PostgreSQL answers as it does on the
//! embedded store.
//!
//! Every test here needs a server: `#[ignore = "needs ALERT_LEDGER_TEST_PG"]`, run by
//! `cargo test --test replay -- --ignored` with `ALERT_LEDGER_TEST_PG` set; each creates
//! and drops a database of its own.

use super::{assert_ok_lines, ledger_verify};
use crate::helpers::{spawn_app_with, trigger_body, TestApp};
use alert_ledger::config::StoreLocation;
use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "../../support/test_database.rs"]
mod test_database;
use test_database::TestDatabase;

/// A service on `db` with four alerts, the second one's summary `TAMPER-TARGET`; the
/// app, the digest taken after the third alert, and the second alert's position.
async fn ledger_on(db: &TestDatabase) -> (TestApp, Value, u64) {
    let url = db.url.clone();
    let app = spawn_app_with(|config| config.store = StoreLocation::Url(url)).await;
    let mut target = 0;
    let mut digest = Value::Null;
    for i in 0..4 {
        let mut body = trigger_body("db", &format!("k{i}"), "error");
        if i == 1 {
            body["summary"] = json!("TAMPER-TARGET summary");
        }
        let position = app.trigger(&body).await.expect(201).position();
        match i {
            1 => target = position,
            2 => digest = app.get("/v1/ledger/digest").await.expect(200).body,
            _ => {}
        }
    }
    (app, digest, target)
}

/// Edits the body of the row holding `TAMPER-TARGET` in place; its position.
async fn tamper(db: &TestDatabase) -> u64 {
    let row = test_database::client(&db.url)
        .await
        .query_one(
            "UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'),
                 'TAMPER-TARGET', 'XAMPER-TARGET'), 'UTF8')
             WHERE convert_from(body, 'UTF8') LIKE '%TAMPER-TARGET%' RETURNING position",
            &[],
        )
        .await
        .expect("one row tampered");
    row.get::<_, i64>(0) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn verify_of_a_postgres_ledger_says_ok_says_the_digest_matched_and_names_a_tampered_row() {
    let db = TestDatabase::create().await;
    let (app, digest, target) = ledger_on(&db).await;
    let last = app.get("/v1/ledger/digest").await.expect(200).body;
    app.stop().await;
    let head = last["position"].as_u64().unwrap();
    let ok_prefix = format!("ok: {head} events in table events verified in ");
    let ok_suffix = format!(
        "; head position {head} hash {}",
        last["head_hash"].as_str().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("digest.json");
    std::fs::write(&saved, digest.to_string()).unwrap();
    let store = ["--store".as_ref(), db.url.as_ref()];

    assert_ok_lines(&ledger_verify(&store), &ok_prefix, &ok_suffix, None);
    let with_digest = [
        store[0],
        store[1],
        "--digest".as_ref(),
        saved.as_os_str(),
        "--full".as_ref(),
    ];
    assert_ok_lines(
        &ledger_verify(&with_digest),
        &ok_prefix,
        &ok_suffix,
        Some(&format!(
            "digest matched: position {} hash {}",
            digest["position"],
            digest["head_hash"].as_str().unwrap()
        )),
    );

    let incremental = ledger_verify(&with_digest[..4]);
    let stdout = String::from_utf8_lossy(&incremental.stdout);
    assert!(incremental.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "(positions {} to {head}, from the digest on; --full checks every record) in table events",
            digest["position"]
        )),
        "{stdout}"
    );

    assert_eq!(tamper(&db).await, target);
    for args in [&store[..], &with_digest[..]] {
        let refused = ledger_verify(args);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "log broken at position {target} (table events): content does not match its hash"
            )),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn the_admin_verify_route_of_a_service_on_postgres_checks_the_chain_and_digests() {
    let db = TestDatabase::create().await;
    let (app, digest, target) = ledger_on(&db).await;
    let head = app.head_position().await;

    let whole = app.post_empty("/v1/ledger/verify").await.expect(200);
    assert_eq!(whole.body["ok"], true, "{}", whole.text);
    assert_eq!(whole.body["events_checked"], head);
    let against = app.post("/v1/ledger/verify", &digest).await.expect(200);
    assert_eq!(against.body["ok"], true, "{}", against.text);
    assert_eq!(against.body["verified_to"]["position"], digest["position"]);
    assert_eq!(against.body["verified_to"]["hash"], digest["head_hash"]);
    let mut forged = digest.clone();
    forged["head_hash"] = json!("00".repeat(32));
    let refused = app.post("/v1/ledger/verify", &forged).await.expect(200);
    assert_eq!(refused.body["ok"], false);
    assert_eq!(refused.body["failure"]["position"], digest["position"]);

    assert_eq!(tamper(&db).await, target);
    let damaged = app.post_empty("/v1/ledger/verify").await.expect(200);
    assert_eq!(damaged.body["ok"], false, "{}", damaged.text);
    assert_eq!(damaged.body["failure"]["position"], target);
    assert_eq!(
        damaged.body["failure"]["reason"],
        "content does not match its hash"
    );
    app.stop().await;
}
