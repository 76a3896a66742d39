//! The relational peer: GoAlert's alert tables in PostgreSQL, one transaction per
//! operation, driven by the same mix and concurrency as the ledger.
//!
//! - trigger: upsert the alert by (service, dedup key) — GoAlert clears `dedup_key`
//!   when an alert closes, so the unique key only binds open alerts — insert its log
//!   row (`created` or `duplicate_suppressed`), and for a new alert insert the
//!   notification (the ledger, too, queues messages only for a new alert);
//! - acknowledge / resolve: insert the log row, update the alert, insert the
//!   status-update message naming that log row (`om_status_update_log_id`).
//!
//! The bench creates its own database and drops it at the end.

use crate::mix::{details, Op, Target, CHANNEL, SERVICE, SUMMARY};
use anyhow::Context;
use futures_util::future::BoxFuture;
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Statement};

const SCHEMA: &str = r#"
CREATE TYPE enum_alert_status AS ENUM ('triggered', 'active', 'closed');
CREATE TYPE enum_alert_log_event AS ENUM ('created', 'duplicate_suppressed', 'acknowledged', 'closed');
CREATE TYPE enum_outgoing_messages_type AS ENUM ('alert_notification', 'alert_status_update');
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    service_id TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT 'generic',
    status enum_alert_status NOT NULL DEFAULT 'triggered',
    summary TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '',
    dedup_key TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT idx_no_alert_duplicates UNIQUE (service_id, dedup_key)
);
CREATE TABLE alert_logs (
    id BIGSERIAL PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    timestamp TIMESTAMPTZ NOT NULL DEFAULT now(),
    event enum_alert_log_event NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_alert_logs_alert_id ON alert_logs (alert_id);
CREATE TABLE outgoing_messages (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    message_type enum_outgoing_messages_type NOT NULL,
    alert_id BIGINT REFERENCES alerts (id) ON DELETE CASCADE,
    alert_log_id BIGINT REFERENCES alert_logs (id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL,
    last_status TEXT NOT NULL DEFAULT 'pending',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT om_status_update_log_id
        CHECK (message_type != 'alert_status_update' OR alert_log_id IS NOT NULL)
);
CREATE INDEX idx_om_alert_id ON outgoing_messages (alert_id);
"#;

/// Connections kept free for other users of the shared server.
const RESERVED: usize = 10;

struct Prepared {
    upsert: Statement,
    log: Statement,
    ack: Statement,
    close: Statement,
    message: Statement,
}

struct Connection {
    client: Client,
    sql: Prepared,
}

/// A pool of connections to the bench database, one per worker up to what the server
/// allows.
pub struct Peer {
    connections: Vec<Mutex<Connection>>,
}

/// A throwaway database on the server at `admin_url`, dropped by [`Database::drop_now`].
pub struct Database {
    admin_url: String,
    name: String,
    /// The URL of the bench database.
    pub url: String,
}

async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {url} (set --pg-url)"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// An empty database of its own (no schema) for the ledger's postgres backend; the
/// backend creates its tables on start. Returns its URL; drop it with [`drop_database`].
pub async fn empty_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let admin = connect(admin_url).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok(with_dbname(admin_url, name))
}

/// Drops database `name`, closing its connections.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    connect(admin_url)
        .await?
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    Ok(())
}

impl Database {
    /// Creates a fresh database with the GoAlert-style schema.
    pub async fn create(admin_url: &str) -> anyhow::Result<Database> {
        let name = format!("alert_ledger_bench_{}", std::process::id());
        let admin = connect(admin_url).await?;
        // Two calls: a multi-statement batch runs as one transaction, which
        // CREATE/DROP DATABASE refuse.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await?;
        let url = with_dbname(admin_url, &name);
        connect(&url).await?.batch_execute(SCHEMA).await?;
        Ok(Database {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }

    /// Empties the tables between repeats, so each repeat starts alike.
    pub async fn truncate(&self) -> anyhow::Result<()> {
        connect(&self.url)
            .await?
            .batch_execute("TRUNCATE outgoing_messages, alert_logs, alerts RESTART IDENTITY")
            .await?;
        Ok(())
    }

    /// Drops the database.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        connect(&self.admin_url)
            .await?
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

/// `url` with its database name replaced by `name`.
fn with_dbname(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Peer {
    /// Opens up to `workers` connections (fewer if the server's `max_connections`
    /// does not allow them; workers then share connections, as a pool would).
    pub async fn connect(db: &Database, workers: usize) -> anyhow::Result<Peer> {
        let probe = connect(&db.url).await?;
        let max: usize = probe
            .query_one("SHOW max_connections", &[])
            .await?
            .get::<_, String>(0)
            .parse()?;
        let used: i64 = probe
            .query_one("SELECT count(*) FROM pg_stat_activity", &[])
            .await?
            .get(0);
        drop(probe);
        let room = max.saturating_sub(used as usize + RESERVED).max(1);
        let mut connections = Vec::new();
        for _ in 0..workers.min(room) {
            let client = connect(&db.url).await?;
            let sql = prepare(&client).await?;
            connections.push(Mutex::new(Connection { client, sql }));
        }
        Ok(Peer { connections })
    }

    /// How many connections the pool holds.
    pub fn size(&self) -> usize {
        self.connections.len()
    }

    async fn run(&self, worker: usize, op: &Op) -> anyhow::Result<String> {
        let mut guard = self.connections[worker % self.connections.len()]
            .lock()
            .await;
        let Connection { client, sql } = &mut *guard;
        let tx = client.transaction().await?;
        let id = match op {
            Op::Trigger { key, n } => {
                let row = tx
                    .query_one(&sql.upsert, &[&SERVICE, &SUMMARY, &details(*n), key])
                    .await?;
                let (id, inserted): (i64, bool) = (row.get(0), row.get(1));
                let event = if inserted {
                    "created"
                } else {
                    "duplicate_suppressed"
                };
                let log: i64 = tx.query_one(&sql.log, &[&id, &event]).await?.get(0);
                if inserted {
                    let kind = "alert_notification";
                    tx.execute(&sql.message, &[&kind, &id, &log, &CHANNEL])
                        .await?;
                }
                id
            }
            Op::Acknowledge(id) | Op::Resolve(id) => {
                let id: i64 = id.parse()?;
                let (event, update) = match op {
                    Op::Acknowledge(_) => ("acknowledged", &sql.ack),
                    _ => ("closed", &sql.close),
                };
                let log: i64 = tx.query_one(&sql.log, &[&id, &event]).await?.get(0);
                tx.execute(update, &[&id]).await?;
                let kind = "alert_status_update";
                tx.execute(&sql.message, &[&kind, &id, &log, &CHANNEL])
                    .await?;
                id
            }
        };
        tx.commit().await?;
        Ok(id.to_string())
    }
}

async fn prepare(client: &Client) -> anyhow::Result<Prepared> {
    Ok(Prepared {
        upsert: client
            .prepare(
                "INSERT INTO alerts (service_id, summary, details, dedup_key) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (service_id, dedup_key) DO UPDATE SET summary = EXCLUDED.summary \
                 RETURNING id, (xmax = 0)",
            )
            .await?,
        log: client
            .prepare(
                "INSERT INTO alert_logs (alert_id, event) VALUES ($1, $2::text::enum_alert_log_event) RETURNING id",
            )
            .await?,
        ack: client
            .prepare("UPDATE alerts SET status = 'active' WHERE id = $1 AND status = 'triggered'")
            .await?,
        close: client
            .prepare(
                "UPDATE alerts SET status = 'closed', dedup_key = NULL WHERE id = $1 AND status != 'closed'",
            )
            .await?,
        message: client
            .prepare(
                "INSERT INTO outgoing_messages (message_type, alert_id, alert_log_id, channel_id) \
                 VALUES ($1::text::enum_outgoing_messages_type, $2, $3, $4)",
            )
            .await?,
    })
}

impl Target for Peer {
    fn execute<'a>(&'a self, worker: usize, op: &'a Op) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(self.run(worker, op))
    }
}

#[cfg(test)]
mod tests {
    use super::with_dbname;

    #[test]
    fn the_database_name_in_a_url_is_replaced() {
        assert_eq!(
            with_dbname("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_dbname("postgres://u@h/x?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(with_dbname("postgres://u@h", "b"), "postgres://u@h/b");
    }
}
