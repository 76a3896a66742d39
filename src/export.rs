//! `alert-ledger export` and `import`: the log as NDJSON, one recorded event (with its
//! envelope and chain hashes) per line.
//!
//! An export of the whole log imported into an empty data directory reproduces the
//! same events at the same positions with the same head hash: import writes each
//! event with its original id, stream version and `recorded_at`, and checks the
//! position and hash of every record it writes against the line it came from.

use crate::store::{EventStore, StoreError};
use projections::{category, Position, RecordedEvent};
use std::io::Write;

/// Which part of the log to export.
#[derive(Debug, Clone, Default)]
pub struct ExportRange {
    /// First position (inclusive, default 1).
    pub from: Position,
    /// Last position (inclusive, default the head).
    pub to: Option<Position>,
    /// Only this stream.
    pub stream: Option<String>,
    /// Only streams of this category (the part before the first `-`).
    pub category: Option<String>,
}

impl ExportRange {
    fn keeps(&self, event: &RecordedEvent) -> bool {
        self.stream.as_deref().is_none_or(|s| event.stream == s)
            && self
                .category
                .as_deref()
                .is_none_or(|c| category(&event.stream) == c)
    }
}

/// Writes the events of `range` to `out` as NDJSON; `progress` gets (position, last).
/// Returns how many events were written.
pub async fn export(
    store: &dyn EventStore,
    range: &ExportRange,
    out: &mut dyn Write,
    mut progress: impl FnMut(Position, Position),
) -> anyhow::Result<u64> {
    let head = store.head().await?.position;
    let last = range.to.unwrap_or(head).min(head);
    let mut next = range.from.max(1);
    let mut written = 0;
    while next <= last {
        let page = store.read_all(next, crate::projection::PAGE).await?;
        let Some(end) = page.last().map(|e| e.position) else {
            break;
        };
        for event in page.iter().filter(|e| e.position <= last && range.keeps(e)) {
            serde_json::to_writer(&mut *out, event)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        progress(end.min(last), last);
        next = end + 1;
    }
    out.flush()?;
    Ok(written)
}

/// A store an export can be written back into at its original positions: the
/// embedded store and PostgreSQL (whose positions are the log's own). KurrentDB
/// assigns commit positions itself, so it cannot take one (docs/deployment.md).
pub trait ImportTarget: EventStore {
    /// Writes `events`, which continue the stored log, exactly as recorded; returns
    /// the last position written.
    fn import_events(
        &self,
        events: Vec<RecordedEvent>,
    ) -> futures_util::future::BoxFuture<'_, Result<Position, StoreError>>;
}

impl ImportTarget for crate::store::embedded::EmbeddedStore {
    fn import_events(
        &self,
        events: Vec<RecordedEvent>,
    ) -> futures_util::future::BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(self.import(events))
    }
}

impl ImportTarget for crate::store::postgres::PostgresStore {
    fn import_events(
        &self,
        events: Vec<RecordedEvent>,
    ) -> futures_util::future::BoxFuture<'_, Result<Position, StoreError>> {
        Box::pin(self.import(events))
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line is not a recorded event.
    #[error("line {line}: not a recorded event: {reason}")]
    BadLine {
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        reason: String,
    },
    /// The target log already holds the positions the input starts with: it is not
    /// the empty log (or the log's continuation) an import needs.
    #[error("not empty: the log already holds positions 1 to {head} and the input starts at position {first}; import into an empty data directory or database, or export from position {next} on to continue this log", next = head + 1)]
    NotEmpty {
        /// The target log's head position.
        head: Position,
        /// The input's first position.
        first: Position,
    },
    /// Lines must continue the target log without a gap.
    #[error("line {line}: position {found} where {expected} was expected (import needs an export of the whole log, from position 1)")]
    Gap {
        /// 1-based line number.
        line: u64,
        /// The position the log needs next.
        expected: Position,
        /// The line's position.
        found: Position,
    },
    /// The written record did not reproduce the exported hash.
    #[error(
        "position {position}: the imported record hashes to {written}, the export says {exported}"
    )]
    HashMismatch {
        /// Where.
        position: Position,
        /// The hash the store computed.
        written: String,
        /// The hash in the export.
        exported: String,
    },
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading the input failed.
    #[error("reading the input: {0}")]
    Io(#[from] std::io::Error),
}

/// Lines imported per chunk (one pipelined burst of appends).
const IMPORT_CHUNK: usize = 10_000;

/// Imports NDJSON from `input` into `store`: the lines must continue the log (the
/// first at its head + 1) with consecutive positions. After every chunk the store's
/// head hash must equal the exported hash. Returns the number of events imported.
pub async fn import(
    store: &dyn ImportTarget,
    input: impl std::io::BufRead,
    mut progress: impl FnMut(u64),
) -> Result<u64, ImportError> {
    let head = store.head().await?.position;
    let mut expected = head + 1;
    let mut chunk = Vec::with_capacity(IMPORT_CHUNK);
    let mut imported = 0;
    for (index, line) in input.lines().enumerate() {
        let line_number = index as u64 + 1;
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let event: RecordedEvent =
            serde_json::from_str(&line).map_err(|err| ImportError::BadLine {
                line: line_number,
                reason: err.to_string(),
            })?;
        if expected == head + 1 && event.position <= head {
            return Err(ImportError::NotEmpty {
                head,
                first: event.position,
            });
        }
        if event.position != expected {
            return Err(ImportError::Gap {
                line: line_number,
                expected,
                found: event.position,
            });
        }
        expected += 1;
        chunk.push(event);
        if chunk.len() == IMPORT_CHUNK {
            imported += import_chunk(store, std::mem::take(&mut chunk)).await?;
            progress(imported);
        }
    }
    if !chunk.is_empty() {
        imported += import_chunk(store, chunk).await?;
        progress(imported);
    }
    Ok(imported)
}

async fn import_chunk(
    store: &dyn ImportTarget,
    chunk: Vec<RecordedEvent>,
) -> Result<u64, ImportError> {
    let count = chunk.len() as u64;
    let (first, last) = (chunk[0].position, chunk[chunk.len() - 1].position);
    let exported: Vec<(Position, projections::Hash)> =
        chunk.iter().map(|e| (e.position, e.hash)).collect();
    store.import_events(chunk).await?;
    let head = store.head().await?;
    if head.hash == exported[exported.len() - 1].1 {
        return Ok(count);
    }
    // Find the first record that hashes differently, to name it.
    let written = store.read_all(first, (last - first + 1) as usize).await?;
    for ((position, hash), event) in exported.iter().zip(&written) {
        if event.hash != *hash {
            return Err(ImportError::HashMismatch {
                position: *position,
                written: event.hash.to_hex(),
                exported: hash.to_hex(),
            });
        }
    }
    Err(ImportError::HashMismatch {
        position: last,
        written: head.hash.to_hex(),
        exported: exported[exported.len() - 1].1.to_hex(),
    })
}
