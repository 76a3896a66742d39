//! The durable-end witness file `durable-end.chk` (layout: [`Witness`]): where the
//! last acknowledged event ends, kept apart from the segments so that damage to the
//! log cannot also erase the evidence of what it held.
//!
//! The writer records the end of every batch here after the batch's own `fdatasync`
//! and before any of its appends is acknowledged (an overwrite of one slot, into the
//! page cache). A thread of the witness's own makes it durable, at most every
//! [`SYNC_INTERVAL`], off the acknowledgement path, so group commit keeps one sync per
//! batch on the write path. What that guarantees:
//! - after the process dies (SIGKILL, OOM, panic), the witness names every
//!   acknowledged event: the page cache outlives the process;
//! - after a power loss or kernel crash, it names every event acknowledged more than
//!   one sync interval (plus one sync) before: damage to events acknowledged inside
//!   that window would be taken for a torn write, moved aside into `cut/` and kept.
//!
//! Recovery reads it first: everything at or before it was acknowledged and may never
//! be cut silently.

use super::format::{Witness, WITNESS_SLOT_LEN};
use crate::io::{read_exact_at, write_all_at, FileSystem, LogFile};
use crate::store::StoreError;
use projections::{Hash, Position};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The longest a recorded witness waits before it is synced.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(10);

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
    syncer: Syncer,
}

/// The thread that syncs the witness after it changed.
struct Syncer {
    state: Arc<SyncState>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct SyncState {
    /// (recorded since the last sync, stop).
    flags: Mutex<(bool, bool)>,
    changed: Condvar,
    /// Its own handle on the file: the syncs go straight to the operating system, so a
    /// fault-injecting file system (tests) sees only the writer's own calls.
    file: std::fs::File,
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
    let syncer = Syncer::start(&path)?;
    let witness = WitnessFile {
        file,
        sequence,
        syncer,
    };
    Ok((witness, found))
}

impl WitnessFile {
    /// Records that the log is durable up to `position` (hash `hash`), whose frame ends
    /// at `end_offset` in segment `segment`. Returns once the slot is written (in the
    /// page cache); the witness's thread syncs it within [`SYNC_INTERVAL`].
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
        self.sequence = witness.sequence;
        self.syncer.recorded();
        Ok(())
    }

    /// Makes the last record durable now (on open and close).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }
}

impl Syncer {
    fn start(path: &Path) -> Result<Syncer, StoreError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open durable-end witness for syncing", e))?;
        let state = Arc::new(SyncState {
            flags: Mutex::new((false, false)),
            changed: Condvar::new(),
            file,
        });
        let running = state.clone();
        let thread = std::thread::Builder::new()
            .name("alert-ledger-witness".into())
            .spawn(move || running.run())
            .map_err(|e| StoreError::io("spawn witness thread", e))?;
        Ok(Syncer {
            state,
            thread: Some(thread),
        })
    }

    fn recorded(&self) {
        let mut flags = self.state.flags.lock().unwrap_or_else(|p| p.into_inner());
        flags.0 = true;
        self.state.changed.notify_one();
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        {
            let mut flags = self.state.flags.lock().unwrap_or_else(|p| p.into_inner());
            flags.1 = true;
            self.state.changed.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SyncState {
    fn run(&self) {
        loop {
            {
                let mut flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
                while !flags.0 && !flags.1 {
                    flags = self.changed.wait(flags).unwrap_or_else(|p| p.into_inner());
                }
                if !flags.0 {
                    return;
                }
                flags.0 = false;
            }
            if let Err(err) = self.file.sync_data() {
                tracing::error!(%err, "cannot sync the durable-end witness; retrying");
                let mut flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
                flags.0 = true;
            }
            std::thread::sleep(SYNC_INTERVAL);
        }
    }
}
