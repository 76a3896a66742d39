//! The durable-end witness file `durable-end.chk` (layout: [`Witness`]): where the
//! last acknowledged event ends, kept apart from the segments so that damage to the
//! log cannot also erase the evidence of what it held.
//!
//! The writer records the end of every batch here, synced, after the batch's own
//! `fdatasync` and before any of its appends is acknowledged. Recovery reads it first:
//! everything at or before it was acknowledged and may never be cut silently.

use super::format::{Witness, WITNESS_SLOT_LEN};
use crate::io::{read_exact_at, write_all_at, FileSystem, LogFile};
use crate::store::StoreError;
use projections::{Hash, Position};
use std::path::Path;
use std::sync::Arc;

/// The witness file's name inside the data directory.
pub const WITNESS_FILE: &str = "durable-end.chk";

/// What the witness file said when the log was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// No file (a new data directory, or a log written before witnesses existed).
    Missing,
    /// The file exists but neither slot is valid.
    Damaged,
    /// The newest valid slot.
    Valid(Witness),
}

/// The open witness file; the writer owns it.
pub struct WitnessFile {
    file: Arc<dyn LogFile>,
    sequence: u64,
}

/// Opens (creating if needed) the witness in `dir` and reads it.
pub fn open(fs: &dyn FileSystem, dir: &Path) -> Result<(WitnessFile, Found), StoreError> {
    let path = dir.join(WITNESS_FILE);
    let existed = fs
        .list(dir)
        .map_err(|e| StoreError::io("list data dir", e))?
        .contains(&path);
    let file = fs
        .open(&path, true)
        .map_err(|e| StoreError::io("open durable-end witness", e))?;
    let size = file
        .size()
        .map_err(|e| StoreError::io("size of durable-end witness", e))?;
    let found = if !existed || size == 0 {
        Found::Missing
    } else {
        let mut bytes = vec![0u8; (size as usize).min(2 * WITNESS_SLOT_LEN)];
        read_exact_at(file.as_ref(), &mut bytes, 0)
            .map_err(|e| StoreError::io("read durable-end witness", e))?;
        Witness::newest(&bytes).map_or(Found::Damaged, Found::Valid)
    };
    let sequence = match found {
        Found::Valid(witness) => witness.sequence,
        Found::Missing | Found::Damaged => 0,
    };
    if !existed {
        fs.sync_dir(dir)
            .map_err(|e| StoreError::io("sync data dir", e))?;
    }
    let witness = WitnessFile { file, sequence };
    Ok((witness, found))
}

impl WitnessFile {
    /// Records that the log is durable up to `position` (hash `hash`), whose frame ends
    /// at `end_offset` in segment `segment`; returns once that is durable.
    pub fn record(
        &mut self,
        position: Position,
        segment: u64,
        end_offset: u64,
        hash: Hash,
    ) -> std::io::Result<()> {
        let witness = Witness {
            sequence: self.sequence + 1,
            position,
            segment,
            end_offset,
            hash,
        };
        write_all_at(self.file.as_ref(), &witness.encode(), witness.slot_offset())?;
        self.file.sync_data()?;
        self.sequence = witness.sequence;
        Ok(())
    }
}
