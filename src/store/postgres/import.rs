//! Import of exported events into a PostgreSQL ledger (`alert-ledger import --store
//! postgres://…`): each event is written at its original position and stream version
//! with its original id, metadata and `recorded_at`, so its body, and therefore the
//! hash chain, come out byte for byte as exported, whichever backend wrote them.
//!
//! One transaction per call, under the append lock (so no instance appends in
//! between): the events must continue the stored head (position and chain) and each
//! stream's versions; the first one that does not stops the import and nothing of the
//! call is written.

use super::append::{insert, Rows, APPEND_LOCK, INSERT_SQL, VERSIONS_SQL};
use super::read::{decode_head, HEAD_SQL};
use super::{connect, pg_error, PostgresStore, NOTIFY_CHANNEL};
use crate::codec::BodyRef;
use crate::store::{Head, StoreError};
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use std::collections::{HashMap, HashSet};

impl PostgresStore {
    /// Writes `events` (consecutive positions continuing the stored log) exactly as
    /// they were recorded, in one transaction. Returns the last position written.
    pub async fn import(&self, events: Vec<RecordedEvent>) -> Result<Position, StoreError> {
        self.check_open()?;
        let mut client = connect(&self.shared.config).await?;
        let tx = client.transaction().await.map_err(pg_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
            .await
            .map_err(pg_error)?;
        let mut head = match tx.query_opt(HEAD_SQL, &[]).await.map_err(pg_error)? {
            Some(row) => decode_head(&row)?,
            None => Head {
                position: 0,
                hash: Hash::GENESIS,
            },
        };
        let streams: Vec<&str> = events
            .iter()
            .map(|e| e.stream.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut versions: HashMap<String, Option<StreamVersion>> = tx
            .query(VERSIONS_SQL, &[&streams])
            .await
            .map_err(pg_error)?
            .iter()
            .map(|row| (row.get(0), row.get::<_, Option<i64>>(1).map(|v| v as u64)))
            .collect();
        let mut rows = Rows::default();
        for event in &events {
            let refuse = |reason: String| StoreError::Decode {
                position: event.position,
                reason,
            };
            if event.position != head.position + 1 {
                return Err(refuse(format!(
                    "position {} does not continue the stored head {}",
                    event.position, head.position
                )));
            }
            let next_version = versions
                .get(&event.stream)
                .copied()
                .flatten()
                .map_or(0, |v| v + 1);
            if event.stream_version != next_version {
                return Err(refuse(format!(
                    "stream {} version {} where {next_version} comes next",
                    event.stream, event.stream_version
                )));
            }
            // Staged before it is compared: a mismatch returns before the commit, so
            // nothing of this call is written.
            let hash = rows.push(
                head.hash,
                &BodyRef {
                    event_id: event.event_id,
                    stream: &event.stream,
                    stream_version: event.stream_version,
                    position: event.position,
                    recorded_at: event.recorded_at,
                    event_type: event.event.event_type(),
                    schema_version: event.event.schema_version(),
                    metadata: &event.metadata,
                    event: &event.event,
                },
            )?;
            if hash != event.hash {
                return Err(refuse(format!(
                    "chain hash {} where the export says {}",
                    hash.to_hex(),
                    event.hash.to_hex()
                )));
            }
            versions.insert(event.stream.clone(), Some(event.stream_version));
            head = Head {
                position: event.position,
                hash,
            };
        }
        if !rows.position.is_empty() {
            insert(&tx, INSERT_SQL, &rows).await.map_err(pg_error)?;
            let position = head.position.to_string();
            tx.execute("SELECT pg_notify($1, $2)", &[&NOTIFY_CHANNEL, &position])
                .await
                .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)?;
        Ok(head.position)
    }
}
