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
            && self.category.as_deref().is_none_or(|c| category(&event.stream) == c)
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
        let Some(end) = page.last().map(|e| e.position) else { break };
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
    #[error("position {position}: the imported record hashes to {written}, the export says {exported}")]
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
