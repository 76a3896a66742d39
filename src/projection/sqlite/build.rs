//! A fresh view file built from the log, beside the live one (rebuilds): bulk settings
//! while loading (no journal, no syncs, large transactions, read indexes created after
//! the load), the log read and decoded on a task while a blocking thread folds.

use super::{schema, Writer};
use crate::store::{EventStore, StoreError};
use projections::{Position, RecordedEvent};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Events folded per transaction while building.
const BUILD_BATCH: usize = 16_384;

/// Where a fresh file for `live` is built.
pub fn fresh_path(live: &Path) -> PathBuf {
    PathBuf::from(format!("{}.rebuild", live.display()))
}

/// Removes a file and its write-ahead companions, if present.
pub fn remove_with_companions(path: &Path) -> std::io::Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Builds a fresh file at `path` from position 1 to `until` (the log's head when
/// called, usually). `progress` gets the position reached after every batch. Returns
/// the writer, ready for live use (write-ahead log, read indexes), and how many events
/// did not fold.
pub async fn build(
    store: Arc<dyn EventStore>,
    path: &Path,
    until: Position,
    mut progress: impl FnMut(Position) + Send + 'static,
) -> Result<(Writer, u64), StoreError> {
    remove_with_companions(path).map_err(|e| StoreError::io("clear the rebuild file", e))?;
    let (pages, mut received) = tokio::sync::mpsc::channel::<Vec<RecordedEvent>>(4);
    let reader = tokio::spawn(async move {
        let mut from = 1;
        while from <= until {
            let mut batch = Vec::with_capacity(BUILD_BATCH);
            while batch.len() < BUILD_BATCH && from <= until {
                let mut page = store.read_all(from, super::super::PAGE).await?;
                page.retain(|event| event.position <= until);
                let Some(last) = page.last() else {
                    from = until + 1;
                    break;
                };
                from = last.position + 1;
                batch.extend(page);
            }
            if batch.is_empty() || pages.send(batch).await.is_err() {
                break;
            }
        }
        Ok::<(), StoreError>(())
    });
    let path = path.to_owned();
    let folder = tokio::task::spawn_blocking(move || -> rusqlite::Result<(Writer, u64)> {
        let conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "OFF")?;
        conn.pragma_update(None, "synchronous", "OFF")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.execute_batch(schema::TABLES)?;
        let mut writer = Writer::from_connection(conn)?;
        let mut failed = 0;
        while let Some(batch) = received.blocking_recv() {
            failed += writer.apply(&batch)?;
            progress(writer.resident().position);
        }
        writer.conn.execute_batch(schema::READ_INDEXES)?;
        writer.conn.execute_batch(schema::ANALYZE)?;
        writer.conn.pragma_update(None, "locking_mode", "NORMAL")?;
        writer.conn.pragma_update(None, "journal_mode", "WAL")?;
        writer.conn.pragma_update(None, "synchronous", "NORMAL")?;
        writer
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        std::fs::File::open(&path)
            .and_then(|file| file.sync_all())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok((writer, failed))
    });
    let read = reader
        .await
        .map_err(|e| StoreError::io("read the log for a rebuild", std::io::Error::other(e)));
    let folded = folder
        .await
        .map_err(|e| StoreError::io("fold a rebuild", std::io::Error::other(e)))?
        .map_err(|e| super::open::sqlite_error("build the view file", e))?;
    read??;
    Ok(folded)
}
