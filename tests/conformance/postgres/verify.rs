//! `PostgresStore::verify` accepts an intact table and names the first tampered row.

use super::TestDatabase;
use crate::support::note;
use alert_ledger::store::{EventStore, ExpectedVersion, StoreError};

async fn fifty_events(db: &TestDatabase) -> alert_ledger::store::postgres::PostgresStore {
    let store = db.connect().await;
    for i in 0..50 {
        store
            .append(
                &format!("alert-{}", i % 4),
                ExpectedVersion::Any,
                vec![note("v")],
            )
            .await
            .expect("append");
    }
    store
}

#[tokio::test]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn verify_accepts_an_intact_table_and_reports_its_head() {
    let db = TestDatabase::create().await;
    let store = fifty_events(&db).await;
    let head = store.verify().await.expect("verifies");
    assert_eq!(head, store.head().await.expect("head"));
    assert_eq!(head.position, 50);
}

#[tokio::test]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn verify_names_the_row_whose_body_was_edited() {
    let db = TestDatabase::create().await;
    let store = fifty_events(&db).await;
    db.client()
        .await
        .execute(
            "UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'),
                 'conformance', 'tampered!!!'), 'UTF8') WHERE position = 17",
            &[],
        )
        .await
        .expect("tamper");
    match store.verify().await {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, 17),
        other => panic!("expected Corrupt at 17, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn verify_names_the_first_missing_position() {
    let db = TestDatabase::create().await;
    let store = fifty_events(&db).await;
    db.client()
        .await
        .execute("DELETE FROM events WHERE position = 30", &[])
        .await
        .expect("delete");
    match store.verify().await {
        Err(StoreError::Corrupt { position, .. }) => assert_eq!(position, 30),
        other => panic!("expected Corrupt at 30, got {other:?}"),
    }
}
