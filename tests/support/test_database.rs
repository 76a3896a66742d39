//! A PostgreSQL database of its own for one test: created on the server named by
//! `ALERT_LEDGER_TEST_PG` and dropped (with `FORCE`) when the value is dropped.
//!
//! Every test that uses it is marked `#[ignore = "needs ALERT_LEDGER_TEST_PG"]`, so a
//! plain `cargo test` reports it as ignored, not passed; `cargo test -- --ignored`
//! runs it, and then a missing variable or an unreachable server fails it.
//!
//! Shared by the PostgreSQL conformance suite and the two-instance test through
//! `#[path]`, so both create and drop databases the same way.

/// The variable naming the PostgreSQL server the tests may create databases on.
pub const SERVER_VAR: &str = "ALERT_LEDGER_TEST_PG";

/// A database created for one test.
pub struct TestDatabase {
    server: String,
    /// `alert_ledger_test_<random>`.
    pub name: String,
    /// The server URL with this database in it.
    pub url: String,
}

impl TestDatabase {
    /// Creates `alert_ledger_test_<random>` on the server named by
    /// `ALERT_LEDGER_TEST_PG`.
    ///
    /// # Panics
    /// When the variable is unset (the test was run explicitly, with `--ignored`,
    /// without a server) or the server refuses the connection or the `CREATE DATABASE`.
    pub async fn create() -> TestDatabase {
        let server = std::env::var(SERVER_VAR).unwrap_or_else(|_| {
            panic!(
                "{SERVER_VAR} is not set: this test needs a PostgreSQL server, e.g. \
                 {SERVER_VAR}=postgres://postgres@127.0.0.1:5432/postgres \
                 (without one, leave it ignored: plain `cargo test` does not run it)"
            )
        });
        let name = format!("alert_ledger_test_{}", uuid::Uuid::new_v4().simple());
        admin(&server, &format!("CREATE DATABASE {name}")).await;
        let url = database_url(&server, &name);
        TestDatabase { server, name, url }
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
pub fn database_url(server: &str, name: &str) -> String {
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

/// A plain client on `url`, its connection driven by a spawned task.
pub async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {url}: {err}"));
    tokio::spawn(connection);
    client
}

/// Runs `sql` on `server` (to create or drop databases).
async fn admin(server: &str, sql: &str) {
    client(server)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
}
