//! Reads: a small fixed pool of connections with prepared statements, and the row
//! decoding shared with the writer.
//!
//! tokio-postgres pipelines concurrent queries on one client, so readers share
//! clients instead of checking them out; a slot whose connection died is reconnected
//! on next use.

use super::{connect, pg_error, to_pg};
use crate::codec;
use crate::store::{Direction, Head, StoreError};
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio_postgres::{Client, Config, Row, Statement};

/// One connection and its prepared statements.
pub(super) struct Conn {
    client: Client,
    read_all: Statement,
    forward: Statement,
    backward: Statement,
    version: Statement,
    head: Statement,
}

impl Conn {
    async fn open(config: &Config) -> Result<Conn, StoreError> {
        let client = connect(config).await?;
        let prepare = |sql: &'static str| client.prepare(sql);
        let (read_all, forward, backward, version, head) = futures_util::future::try_join5(
            prepare(
                "SELECT position, body, prev_hash, hash FROM events
                 WHERE position >= $1 ORDER BY position LIMIT $2",
            ),
            prepare(
                "SELECT position, body, prev_hash, hash FROM events
                 WHERE stream = $1 AND stream_version >= $2 ORDER BY stream_version LIMIT $3",
            ),
            prepare(
                "SELECT position, body, prev_hash, hash FROM events
                 WHERE stream = $1 AND stream_version <= $2
                 ORDER BY stream_version DESC LIMIT $3",
            ),
            prepare(
                "SELECT stream_version FROM events WHERE stream = $1
                 ORDER BY stream_version DESC LIMIT 1",
            ),
            prepare(HEAD_SQL),
        )
        .await
        .map_err(pg_error)?;
        Ok(Conn {
            client,
            read_all,
            forward,
            backward,
            version,
            head,
        })
    }
}

/// The newest row's position and hash.
pub(super) const HEAD_SQL: &str =
    "SELECT position, hash FROM events ORDER BY position DESC LIMIT 1";

/// A fixed number of shared connections, opened lazily.
pub(super) struct Pool {
    config: Config,
    slots: Vec<tokio::sync::Mutex<Option<Arc<Conn>>>>,
    next: AtomicUsize,
}

impl Pool {
    pub(super) fn new(config: Config, size: usize) -> Pool {
        Pool {
            config,
            slots: (0..size.max(1))
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    async fn get(&self) -> Result<Arc<Conn>, StoreError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[i].lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(conn.clone());
        }
        let conn = Arc::new(Conn::open(&self.config).await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Drops every connection (in-flight readers keep theirs until they finish).
    pub(super) async fn clear(&self) {
        for slot in &self.slots {
            *slot.lock().await = None;
        }
    }

    pub(super) async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let conn = self.get().await?;
        let rows = conn
            .client
            .query(&conn.read_all, &[&to_pg(from), &to_pg(limit as u64)])
            .await
            .map_err(pg_error)?;
        rows.iter().map(decode_row).collect()
    }

    pub(super) async fn read_stream(
        &self,
        stream: &str,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let conn = self.get().await?;
        let statement = match direction {
            Direction::Forward => &conn.forward,
            Direction::Backward => &conn.backward,
        };
        let rows = conn
            .client
            .query(statement, &[&stream, &to_pg(from), &to_pg(limit as u64)])
            .await
            .map_err(pg_error)?;
        rows.iter().map(decode_row).collect()
    }

    pub(super) async fn stream_version(
        &self,
        stream: &str,
    ) -> Result<Option<StreamVersion>, StoreError> {
        let conn = self.get().await?;
        let row = conn
            .client
            .query_opt(&conn.version, &[&stream])
            .await
            .map_err(pg_error)?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    pub(super) async fn head(&self) -> Result<Head, StoreError> {
        let conn = self.get().await?;
        let row = conn
            .client
            .query_opt(&conn.head, &[])
            .await
            .map_err(pg_error)?;
        row.as_ref().map_or(
            Ok(Head {
                position: 0,
                hash: Hash::GENESIS,
            }),
            decode_head,
        )
    }
}

/// A `(position, hash)` row as a [`Head`].
pub(super) fn decode_head(row: &Row) -> Result<Head, StoreError> {
    let position = row.get::<_, i64>(0) as u64;
    Ok(Head {
        position,
        hash: to_hash(row.get(1), position)?,
    })
}

/// A `(position, body, prev_hash, hash)` row as the event it records.
fn decode_row(row: &Row) -> Result<RecordedEvent, StoreError> {
    let position = row.get::<_, i64>(0) as u64;
    let body: &[u8] = row.get(1);
    let prev_hash = to_hash(row.get(2), position)?;
    let hash = to_hash(row.get(3), position)?;
    Ok(codec::decode_body(body, position, prev_hash, hash)?)
}

fn to_hash(bytes: &[u8], position: Position) -> Result<Hash, StoreError> {
    bytes.try_into().map(Hash).map_err(|_| StoreError::Corrupt {
        segment: "events".into(),
        offset: 0,
        position,
        reason: format!("stored hash is {} bytes, not 32", bytes.len()),
    })
}
