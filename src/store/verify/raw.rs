//! A server backend's stored records (PostgreSQL's `events` table), read page by page
//! and checked by the shared [`Chain`], so verifying them means the same as verifying
//! the embedded log's files.

use super::chain::{Chain, Stored};
use super::{Place, Target, VerifyFailure, VerifyReport};
use crate::store::StoreError;
use futures_util::future::BoxFuture;
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use uuid::Uuid;

/// Records read per page.
const PAGE: usize = 1000;

/// One record exactly as a backend stores it: the hashed body and the two hashes,
/// never re-encoded (a re-encoded body of an upcast event would not hash the same).
#[derive(Debug, Clone)]
pub struct RawRecord {
    /// The position the record is filed under (the table's key).
    pub position: Position,
    /// The encoded event ([`crate::codec`]), as hashed.
    pub body: Vec<u8>,
    /// The stored link to the previous record.
    pub prev_hash: Hash,
    /// The stored `SHA-256(prev_hash || body)`.
    pub hash: Hash,
    /// Index columns kept beside the body, which reads go by.
    pub columns: Option<RowColumns>,
}

/// Columns a backend keeps beside the body to find records by; a row whose columns
/// disagree with its body would be read under the wrong stream or id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowColumns {
    /// The `event_id` column.
    pub event_id: Uuid,
    /// The `stream` column.
    pub stream: String,
    /// The `stream_version` column.
    pub stream_version: StreamVersion,
}

impl RowColumns {
    /// The first column that disagrees with the decoded body.
    pub(super) fn agree_with(&self, event: &RecordedEvent) -> Result<(), String> {
        let column = |name: &str, column: &dyn std::fmt::Display, body: &dyn std::fmt::Display| {
            Err(format!(
                "column {name} is {column} but the body says {body}"
            ))
        };
        if self.event_id != event.event_id {
            return column("event_id", &self.event_id, &event.event_id);
        }
        if self.stream != event.stream {
            return column("stream", &self.stream, &event.stream);
        }
        if self.stream_version != event.stream_version {
            return column(
                "stream_version",
                &self.stream_version,
                &event.stream_version,
            );
        }
        Ok(())
    }
}

/// The stored records of a server backend, for verification.
pub trait RawLog: Send + Sync {
    /// Up to `limit` records with a position above `after`, in position order.
    fn records_after(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RawRecord>, StoreError>>;

    /// Up to `limit` chain hashes (with their positions) above `after`: the Merkle
    /// tree's input. By default the records' hashes; a backend may read them without
    /// copying the bodies.
    fn hashes_after(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<(Position, Hash)>, StoreError>> {
        Box::pin(async move {
            let records = self.records_after(after, limit).await?;
            Ok(records.into_iter().map(|r| (r.position, r.hash)).collect())
        })
    }

    /// Where the records are kept, for messages (`events`: the table).
    fn table(&self) -> &str;
}

/// Verifies the records of `log` against `target`; `progress` receives the running
/// count of records.
pub async fn verify_raw_log(
    log: &dyn RawLog,
    target: Target,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    let mut chain = Chain::new(target, progress);
    let broken = |position, reason| VerifyFailure::Broken {
        position,
        place: Place::Table(log.table().to_owned()),
        reason,
    };
    'pages: while !chain.done() {
        let after = chain.next_position() - 1;
        let page = log
            .records_after(after, PAGE)
            .await
            .map_err(|err| match err {
                StoreError::Corrupt {
                    position, reason, ..
                } => broken(position, reason),
                other => VerifyFailure::Io(other.to_string()),
            })?;
        if page.is_empty() {
            break;
        }
        for record in &page {
            if chain.done() {
                break 'pages;
            }
            let position = chain.next_position();
            let stored = Stored {
                filed_at: Some(record.position),
                prev_hash: record.prev_hash,
                hash: record.hash,
                body: &record.body,
                columns: record.columns.as_ref(),
            };
            chain
                .record(stored)
                .map_err(|reason| broken(position, reason))?;
        }
    }
    chain.finish(0)
}
