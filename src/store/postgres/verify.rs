//! The `events` table as stored, for [`crate::store::verify`]: each row's body and hashes
//! exactly as written, plus the index columns reads go by. The checks themselves
//! (positions gap-free from 1, `prev_hash` links, `hash = SHA-256(prev_hash || body)`,
//! bodies that decode at their position, stream versions, columns that agree with the
//! body, digests) are the ones the embedded log's files pass.
//!
//! Read-only: opening a table for verification connects without migrating, so
//! pointing `alert-ledger verify` at the wrong database creates nothing there.

use super::{connect, pg_error, to_pg, PostgresStore};
use crate::store::verify::{verify_raw_log, RawLog, RawRecord, RowColumns, Target, VerifyFailure};
use crate::store::{Head, StoreError};
use futures_util::future::BoxFuture;
use projections::{Hash, Position};
use tokio_postgres::{Client, Config, Row, Statement};

/// The table verified.
const TABLE: &str = "events";

/// One connection reading the `events` table in position order.
pub struct EventRows {
    client: Client,
    page: Statement,
}

impl EventRows {
    /// Connects to `config`'s database (no migration) and prepares the page query.
    async fn open(config: &Config) -> Result<EventRows, StoreError> {
        let client = connect(config).await?;
        let page = client
            .prepare(
                "SELECT position, body, prev_hash, hash, event_id, stream, stream_version
                 FROM events WHERE position > $1 ORDER BY position LIMIT $2",
            )
            .await
            .map_err(|err| match err.code() {
                Some(code) if *code == tokio_postgres::error::SqlState::UNDEFINED_TABLE => {
                    StoreError::Unavailable(
                        "this database has no events table: is it an alert-ledger database?".into(),
                    )
                }
                _ => pg_error(err),
            })?;
        Ok(EventRows { client, page })
    }
}

impl RawLog for EventRows {
    fn records_after(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RawRecord>, StoreError>> {
        Box::pin(async move {
            let rows = self
                .client
                .query(&self.page, &[&to_pg(after), &to_pg(limit as u64)])
                .await
                .map_err(pg_error)?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                match raw_record(row) {
                    Ok(record) => records.push(record),
                    // The rows before it are checked first; the next page starts here.
                    Err(_) if !records.is_empty() => break,
                    Err(err) => return Err(err),
                }
            }
            Ok(records)
        })
    }

    fn table(&self) -> &str {
        TABLE
    }
}

fn raw_record(row: &Row) -> Result<RawRecord, StoreError> {
    let position = row.get::<_, i64>(0) as u64;
    let hash = |column: usize| -> Result<Hash, StoreError> {
        let bytes: &[u8] = row.get(column);
        bytes.try_into().map(Hash).map_err(|_| StoreError::Corrupt {
            segment: TABLE.into(),
            offset: 0,
            position,
            reason: format!("stored hash is {} bytes, not 32", bytes.len()),
        })
    };
    Ok(RawRecord {
        position,
        body: row.get::<_, &[u8]>(1).to_vec(),
        prev_hash: hash(2)?,
        hash: hash(3)?,
        columns: Some(RowColumns {
            event_id: row.get(4),
            stream: row.get(5),
            stream_version: row.get::<_, i64>(6) as u64,
        }),
    })
}

impl PostgresStore {
    /// The `events` table of the database at `url`, for `alert-ledger verify --store`:
    /// connects without migrating or starting a writer.
    pub async fn open_raw_log(url: &str) -> Result<Box<dyn RawLog>, StoreError> {
        let config: Config = url.parse().map_err(|err| {
            StoreError::Unavailable(format!("invalid postgres URL: {err}").into())
        })?;
        Ok(Box::new(EventRows::open(&config).await?))
    }
}

/// This store's `events` table on a connection of its own.
pub(super) async fn raw_log(config: &Config) -> Result<Box<dyn RawLog>, StoreError> {
    Ok(Box::new(EventRows::open(config).await?))
}

/// Walks the whole table; the head it ends at, or `Corrupt` at the first bad row.
pub(super) async fn verify(config: &Config) -> Result<Head, StoreError> {
    let rows = EventRows::open(config).await?;
    match verify_raw_log(&rows, Target::Whole, |_| {}).await {
        Ok(report) => Ok(report.head),
        Err(VerifyFailure::Io(cause)) => Err(StoreError::Unavailable(cause.into())),
        Err(VerifyFailure::Broken {
            position, reason, ..
        }) => Err(StoreError::Corrupt {
            segment: TABLE.into(),
            offset: 0,
            position,
            reason,
        }),
    }
}
