//! The view file: every view in one SQLite database (`<data-dir>/views.sqlite3`),
//! written in batches whose rows and checkpoint commit together, read through
//! [`ViewQueries`](crate::projection::ViewQueries) now or as of a past position.
//!
//! # Layout
//! - [`schema`]: tables, indexes, format version.
//! - [`checkpoint`]: the checkpoint row and what the writer keeps in memory.
//! - [`rows`]: versioned rows (load the current one, write a batch's versions).
//! - [`batch`]: one projection batch (load, fold with the pure folds, write).
//! - [`read`]: the queries.
//! - [`alarms`]: the active alarms from the alert rows' columns.
//! - [`stats`]: the console's aggregates (trends, channel health) in SQL.
//! - [`open`]: the checks a file passes before it is used, and moving a refused one
//!   aside.
//! - [`build`]: a fresh file from the log (rebuilds), with bulk settings.

pub mod alarms;
pub mod batch;
pub mod build;
pub mod checkpoint;
pub mod open;
pub mod read;
pub mod rows;
pub mod schema;
pub mod stats;

pub use checkpoint::{Counts, Resident};

#[cfg(test)]
mod wal_tests;

use crate::projection::queries::{ViewQueries, ViewSizes};
use projections::{Position, RecordedEvent};
use read::{ReadShared, SqlViews};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// Idle read connections kept for reuse.
const IDLE_READERS: usize = 16;

/// Frames (pages) in the write-ahead log from which the background checkpoint rewinds
/// it (the next commit writes from its start): 16,384 frames of 4 KiB, 64 MiB.
pub const WAL_RESTART_FRAMES: i64 = 16_384;

/// The most the write-ahead log file keeps of its length when the checkpoint rewinds it
/// (`journal_size_limit`): 1 GiB.
///
/// A rewound log is written again from its start, into the file's existing blocks and
/// their cached pages. Cut back to nothing (`TRUNCATE`, as first built), every frame after
/// a rewind went to a new block: the kernel zeroed each page before the frame was copied
/// in, and on a filesystem mounted with `discard` the truncation itself waited for the
/// device. Measured under the mix at 64 connections, zeroing was 16 % of the views
/// thread's samples (docs/adr/0019-ingest-path.md, eighth round). The file's length is
/// then the largest the log grew between two rewinds: 64 MiB plus what one batch writes
/// (a follower's batch of 65,536 events can write a few hundred MiB), kept up to this
/// bound; the service's clean stop empties it.
pub const WAL_KEEP_BYTES: i64 = 1 << 30;

/// How long the rewinding checkpoint waits for the log's readers before it gives up
/// until the next round. It holds the write lock while it waits, so this bounds how long
/// it can hold off the follower's commits. Under steady reads a `RESTART` either ends in
/// tens of milliseconds or keeps waiting on readers for as long as it is let (10 s, the
/// connections' busy timeout, measured under load: the follower stalled all that time).
pub const WAL_RESTART_WAIT: Duration = Duration::from_millis(250);

/// Opens a connection to the file with the settings every live connection uses.
pub fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // Queries differ by filter: keep more of them prepared than the default 16.
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // No commit checkpoints the write-ahead log itself: copying it into the file (and
    // syncing the file) would stall the batch that happened to cross the threshold.
    // `ViewFile::checkpoint` does it in the background instead.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES)?;
    Ok(conn)
}

/// The file's writer: one connection and the state kept between batches.
pub struct Writer {
    conn: Connection,
    resident: Resident,
    /// The position the planner's statistics were last refreshed at (see `apply`).
    analyzed_at: Position,
}

/// The writer's page cache, in KiB (SQLite's default is 2 MiB). A batch touches the
/// same index and full-text pages again and again; with the default cache the writer
/// spilled dirty pages into the write-ahead log mid-batch and read pages back from the
/// file (`docs/benchmarks.md`, ingest). Readers keep the default.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// Statistics are refreshed once the file has grown this many times since the last
/// refresh (and from 10,000 events on): O(log n) refreshes over a file's life.
const ANALYZE_GROWTH: Position = 4;

impl Writer {
    /// Opens the writer on `path`, creating the tables if the file is new.
    pub fn open(path: &Path) -> rusqlite::Result<Writer> {
        let conn = connect(path)?;
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        conn.execute_batch(schema::TABLES)?;
        conn.execute_batch(schema::READ_INDEXES)?;
        let resident = checkpoint::load_resident(&conn)?;
        Ok(Writer {
            conn,
            analyzed_at: resident.position,
            resident,
        })
    }

    /// Wraps a connection whose tables exist.
    pub(super) fn from_connection(conn: Connection) -> rusqlite::Result<Writer> {
        let resident = checkpoint::load_resident(&conn)?;
        Ok(Writer {
            conn,
            analyzed_at: resident.position,
            resident,
        })
    }

    /// What the writer keeps between batches.
    pub fn resident(&self) -> &Resident {
        &self.resident
    }

    /// Folds `events` and commits them with the checkpoint; returns how many did not
    /// fold. On an error nothing of the batch is kept.
    ///
    /// The transaction takes the write lock when it begins (`BEGIN IMMEDIATE`): the
    /// background checkpoint holds that lock while it rewinds the write-ahead log, and
    /// a deferred transaction that had already read could not take it then (SQLite
    /// answers "database is locked" at once rather than wait, where a waiting reader
    /// could deadlock). Begun immediate, the batch waits its turn under the busy timeout.
    pub fn apply(&mut self, events: &[RecordedEvent]) -> rusqlite::Result<u64> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let outcome = batch::apply(&tx, &mut self.resident, events)
            .and_then(|failed| tx.commit().map(|()| failed));
        if outcome.is_err() {
            self.resident = checkpoint::load_resident(&self.conn)?;
            return outcome;
        }
        let position = self.resident.position;
        if position >= 10_000 && position >= self.analyzed_at.saturating_mul(ANALYZE_GROWTH) {
            // Without this the planner keeps the statistics of a small (or empty) file.
            self.conn.execute_batch(schema::ANALYZE)?;
            self.analyzed_at = position;
        }
        outcome
    }

    /// Closes the connection after moving the write-ahead log into the file, so the
    /// file alone holds everything (before it is renamed).
    pub fn close(self) -> rusqlite::Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        self.conn.close().map_err(|(_, err)| err)
    }
}

/// The file as readers see it: a pool of read connections, and a gate a swap closes
/// while it replaces the file.
pub struct ViewFile {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    checkpointer: Mutex<Option<Connection>>,
    gate: RwLock<()>,
    shared: Arc<ReadShared>,
}

impl ViewFile {
    /// Readers of the file at `path`.
    pub fn new(path: PathBuf) -> ViewFile {
        ViewFile {
            path,
            idle: Mutex::new(Vec::new()),
            checkpointer: Mutex::new(None),
            gate: RwLock::new(()),
            shared: Arc::default(),
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads that failed since start.
    pub fn read_errors(&self) -> u64 {
        self.shared
            .read_errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A read transaction over the current rows (`at: None`) or as of `at`.
    pub fn read(&self, at: Option<Position>) -> Reading<'_> {
        let gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let views = match pooled.map_or_else(|| connect(&self.path), Ok) {
            Ok(conn) => self.begin(conn, at),
            Err(err) => Err(err),
        };
        let views = views.unwrap_or_else(|err| {
            self.shared
                .read_errors
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!(%err, file = %self.path.display(), "cannot read the view file");
            None
        });
        Reading {
            _gate: gate,
            views,
            file: self,
        }
    }

    fn begin(&self, conn: Connection, at: Option<Position>) -> rusqlite::Result<Option<SqlViews>> {
        // Cached statements: a reader is opened per request, and parsing even `BEGIN`
        // each time showed in the ingest profile.
        conn.prepare_cached("BEGIN")?.execute([])?;
        let row = conn.prepare_cached(
            "SELECT position, group_head, alerts, messages, tasks, syncs FROM checkpoint WHERE id = 1",
        )?.query_row(
            [],
            |row| {
                Ok((
                    row.get::<_, i64>(0)? as Position,
                    row.get::<_, i64>(1)? as Position,
                    ViewSizes {
                        alerts: row.get::<_, i64>(2)? as usize,
                        messages: row.get::<_, i64>(3)? as usize,
                        alarms: 0,
                        tasks: row.get::<_, i64>(4)? as usize,
                        syncs: row.get::<_, i64>(5)? as usize,
                    },
                ))
            },
        );
        let (position, group_head, sizes) = match row {
            Ok(row) => row,
            Err(rusqlite::Error::QueryReturnedNoRows) => (0, 0, ViewSizes::default()),
            Err(err) => return Err(err),
        };
        Ok(Some(SqlViews {
            conn,
            at,
            position: at.unwrap_or(position),
            group_head: at.unwrap_or(group_head),
            sizes: at.is_none().then_some(sizes),
            shared: self.shared.clone(),
            routing: std::cell::OnceCell::new(),
        }))
    }

    /// Copies the write-ahead log into the file as far as readers allow (a passive
    /// checkpoint, on a connection of its own), and once the log holds
    /// [`WAL_RESTART_FRAMES`] frames, rewinds it. Called in the background by the
    /// follower's checkpoint task; blocking. Returns the frames the log held.
    pub fn checkpoint(&self) -> rusqlite::Result<i64> {
        self.checkpoint_with_limit(WAL_RESTART_FRAMES)
    }

    /// [`ViewFile::checkpoint`] with another limit (tests use a small one).
    ///
    /// A passive checkpoint never waits, so under steady writes and reads some reader
    /// always holds a snapshot inside the log, the log is never fully copied at the
    /// moment a writer starts, and SQLite never rewinds it: the file grows without
    /// bound (48 GB in a 10-minute soak). Past the limit, a `RESTART` checkpoint waits
    /// up to [`WAL_RESTART_WAIT`] for the readers of the log to finish, which usually takes
    /// milliseconds (reads are short), holding off the follower's next commit meanwhile,
    /// then copies the rest, so the next commit writes the log from its start (over the
    /// file's blocks, kept up to [`WAL_KEEP_BYTES`]); when the readers outlast the wait
    /// it tries again in the next round.
    pub fn checkpoint_with_limit(&self, restart_frames: i64) -> rusqlite::Result<i64> {
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let mut slot = self.checkpointer.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            let conn = connect(&self.path)?;
            conn.busy_timeout(WAL_RESTART_WAIT)?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_ref() else {
            return Ok(0);
        };
        let frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
        if frames >= restart_frames {
            // The first column is 1 when the readers outlasted `WAL_RESTART_WAIT`: the
            // log stays as it is until the next round.
            let gave_up: i64 =
                conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| row.get(0))?;
            if gave_up != 0 {
                tracing::debug!(
                    frames,
                    "the view file's log was not rewound: readers held it"
                );
            }
        }
        Ok(frames)
    }

    /// Closes the gate: no reader holds or takes a connection until the guard drops.
    /// Pooled connections are closed, so the file can be replaced.
    pub fn close_for_swap(&self) -> RwLockWriteGuard<'_, ()> {
        let gate = self.gate.write().unwrap_or_else(|p| p.into_inner());
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
        *self.checkpointer.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.shared.clear();
        gate
    }
}

/// One read transaction; answers [`ViewQueries`] (all answers reflect one position).
/// Drop it before any `.await`.
pub struct Reading<'a> {
    _gate: RwLockReadGuard<'a, ()>,
    views: Option<SqlViews>,
    file: &'a ViewFile,
}

impl std::ops::Deref for Reading<'_> {
    type Target = dyn ViewQueries;

    fn deref(&self) -> &Self::Target {
        match &self.views {
            Some(views) => views,
            None => &*UNREADABLE,
        }
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        let Some(views) = self.views.take() else {
            return;
        };
        let conn = views.conn;
        let ended = conn
            .prepare_cached("COMMIT")
            .and_then(|mut commit| commit.execute([]));
        if ended.is_ok() {
            let mut idle = self.file.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }
}

/// What a reader answers when the file cannot be opened: nothing (each failure was
/// logged and counted, and `/readyz` reports it).
static UNREADABLE: std::sync::LazyLock<projections::views::Views> =
    std::sync::LazyLock::new(projections::views::Views::default);
