//! The postgres backend: the conformance suite on a fresh database per test
//! (`alert_ledger_test_<random>`, dropped afterwards), plus commit-order and chain
//! verification tests. The server comes from `ALERT_LEDGER_TEST_PG`
//! (e.g. `postgres://postgres@127.0.0.1:5432/postgres`); without it every test here
//! prints that it was skipped and returns.

mod commit_order;
mod verify;

use crate::support::Harness;
use alert_ledger::store::postgres::{PostgresOptions, PostgresStore};
use alert_ledger::store::EventStore;
use futures_util::future::BoxFuture;
use std::io::Write;
use std::sync::Arc;

/// The variable naming the server to create test databases on.
pub const SERVER_VAR: &str = "ALERT_LEDGER_TEST_PG";

/// A store on its own database, dropped with the harness.
pub struct PostgresHarness {
    pub db: TestDatabase,
    pub store: Arc<PostgresStore>,
}

impl PostgresHarness {
    /// A fresh database and store, or `None` (after saying so) without a server.
    pub async fn fresh() -> Option<PostgresHarness> {
        let db = TestDatabase::create().await?;
        let store = Arc::new(db.connect().await);
        Some(PostgresHarness { db, store })
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

crate::conformance_suite!(match PostgresHarness::fresh().await {
    Some(harness) => harness,
    None => return,
});

/// A database created for one test and dropped (with `FORCE`) when this is dropped.
pub struct TestDatabase {
    server: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Creates `alert_ledger_test_<random>` on the server in `ALERT_LEDGER_TEST_PG`, or
    /// prints "SKIPPED" to stderr and returns `None` if the variable is unset.
    pub async fn create() -> Option<TestDatabase> {
        let Ok(server) = std::env::var(SERVER_VAR) else {
            // Straight to stderr, not `eprintln!`: the test harness would swallow that.
            let _ = writeln!(std::io::stderr(), "SKIPPED: {SERVER_VAR} not set");
            return None;
        };
        let name = format!("alert_ledger_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server, &format!("CREATE DATABASE {name}")).await;
        let url = database_url(&server, &name);
        Some(TestDatabase { server, name, url })
    }

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
        client(&self.url).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(admin(&server, &sql));
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// `server` with its database replaced by `name`.
fn database_url(server: &str, name: &str) -> String {
    let (base, query) = server.split_once('?').unwrap_or((server, ""));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    }
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {url}: {err}"));
    tokio::spawn(connection);
    client
}

async fn admin(server: &str, sql: &str) {
    client(server)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}
