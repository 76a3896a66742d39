//! The schema, as embedded, idempotent migrations applied on every start.
//!
//! Each migration runs once, in its own transaction, recorded in `schema_migrations`.
//! Starts of several instances at once are serialised by an advisory lock, and every
//! statement is also written to be harmless if repeated (`IF NOT EXISTS`).

use super::pg_error;
use crate::store::StoreError;
use tokio_postgres::Client;

/// The advisory lock key that serialises migrations (distinct from the append lock).
const MIGRATION_LOCK: i64 = 0x616c_6c65_6467_0001;

/// `(version, SQL)`, in order. Append new versions; never edit an applied one.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE IF NOT EXISTS events (
         position       BIGINT PRIMARY KEY,
         stream         TEXT NOT NULL,
         stream_version BIGINT NOT NULL,
         event_id       UUID NOT NULL UNIQUE,
         body           BYTEA NOT NULL,
         prev_hash      BYTEA NOT NULL,
         hash           BYTEA NOT NULL,
         recorded_at    TIMESTAMPTZ NOT NULL,
         CONSTRAINT events_stream_version_key UNIQUE (stream, stream_version)
     )",
)];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i32 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the database's schema up to [`SCHEMA_VERSION`]. Refuses a database migrated
/// by a newer build.
pub async fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(pg_error)?;
    let applied: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .map_err(pg_error)?
        .get(0);
    let applied = applied.unwrap_or(0);
    if applied > SCHEMA_VERSION {
        return Err(StoreError::Unavailable(
            format!(
                "database schema is at version {applied}, newer than this build's {SCHEMA_VERSION}"
            )
            .into(),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > applied) {
        tx.batch_execute(sql).await.map_err(pg_error)?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING",
            &[version],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(version, "applied postgres schema migration");
    }
    tx.commit().await.map_err(pg_error)
}
