//! The postgres backend: the conformance suite on a fresh database per test
//! (`alert_ledger_test_<random>`, dropped afterwards), plus commit-order and chain
//! verification tests. The server comes from `ALERT_LEDGER_TEST_PG`
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`). Every test here is
//! `#[ignore = "needs ALERT_LEDGER_TEST_PG"]`: plain `cargo test` reports it ignored;
//! `cargo test --test conformance -- --ignored postgres` runs them, and then a missing
//! variable or an unreachable server fails them.

mod commit_order;
mod guarded;
mod import;
mod interleavings;
mod recent;
mod verify;

use crate::support::Harness;

#[path = "../../support/test_database.rs"]
mod test_database;
use alert_ledger::store::postgres::{PostgresOptions, PostgresStore};
use alert_ledger::store::EventStore;
use futures_util::future::BoxFuture;
use std::sync::Arc;
pub use test_database::TestDatabase;

/// A store on its own database, dropped with the harness.
pub struct PostgresHarness {
    pub db: TestDatabase,
    pub store: Arc<PostgresStore>,
}

impl PostgresHarness {
    /// A fresh database and store; panics without a server ([`TestDatabase::create`]).
    pub async fn fresh() -> PostgresHarness {
        let db = TestDatabase::create().await;
        let store = Arc::new(db.connect().await);
        PostgresHarness { db, store }
    }
}

impl Harness for PostgresHarness {
    fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    fn reopen(&mut self) -> BoxFuture<'_, Arc<dyn EventStore>> {
        Box::pin(async move {
            self.store.close().await.expect("close");
            self.store = Arc::new(self.db.connect().await);
            self.store.clone() as Arc<dyn EventStore>
        })
    }
}

crate::conformance_suite!(
    #[ignore = "needs ALERT_LEDGER_TEST_PG"]
    PostgresHarness::fresh().await
);

impl TestDatabase {
    /// Options for a store on this database.
    pub fn options(&self) -> PostgresOptions {
        PostgresOptions::new(&self.url).expect("test URL parses")
    }

    /// A store on this database with default options.
    pub async fn connect(&self) -> PostgresStore {
        PostgresStore::connect_with(self.options())
            .await
            .expect("connect")
    }

    /// A plain client on this database, for raw SQL.
    pub async fn client(&self) -> tokio_postgres::Client {
        test_database::client(&self.url).await
    }
}
