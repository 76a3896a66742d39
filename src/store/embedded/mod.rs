//! The embedded backend: a segmented, append-only log in a data directory.
//!
//! # Layout
//! - [`format`]: the byte layout of segment headers and record frames (the only place
//!   that knows it).
//! - `segment`: segment file naming, preallocation and whole-file reads.
//! - `index`: what finds records: the segment being written in memory, sealed ones
//!   through their index files read on demand; and the idempotency window.
//! - `witness`: the durable-end witness file, written after every batch's sync and
//!   before its acknowledgement; recovery judges damage against it.
//! - `recovery`: opening a log; an unacknowledged torn write is moved aside, damage to
//!   acknowledged events refused, under a [`RecoveryMode`].
//! - `sealing`: index files of sealed segments, written once a segment is full and
//!   checked on open instead of scanning it.
//! - `writer`: the single writer thread with group commit (one write + one
//!   `fdatasync` per batch; nothing acknowledged before its batch is durable).
//! - `reader`: positional reads of `$all` and of one stream.
//!
//! Readers share the index with the writer behind a `std::sync::RwLock` that is only
//! held while computing byte ranges (which may take small positional reads of sealed
//! segments' index files, usually from the page cache), never across an `.await`;
//! readers read and decode records after releasing it. The writer's idempotency check
//! reads under it the one record an event id's key points at (only for a re-sent id).

mod batch;
pub mod format;
mod import;
mod index;
mod lock;
mod reader;
mod recovery;
mod sealing;
mod segment;
pub mod tail;
mod witness;
mod writer;

use super::{AppendResult, Direction, EventStore, ExpectedVersion, Head, NewEvent, StoreError};
use crate::io::{FileSystem, RealFileSystem};
use futures_util::future::BoxFuture;
use index::Index;
use projections::{Position, RecordedEvent, StreamVersion};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;
use writer::{AppendRequest, Command};

pub use recovery::CUT_DIR;
pub use sealing::index_path;
pub use segment::{parse_segment_name, segment_path};
pub use witness::WITNESS_FILE;

/// What to do with a damaged log on open. Every mode refuses to lose an acknowledged
/// event silently; they differ in what they do about it (see `recovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Move aside a torn write that was never acknowledged (after the durable-end
    /// witness, at the end of the last segment), with a warning naming the byte offset
    /// and the file the bytes were moved to; any damage to acknowledged events, or a log
    /// shorter than its witness, fails the open and changes nothing.
    #[default]
    TolerateTornTail,
    /// Any damage, even an unacknowledged torn write, fails the open; nothing is changed
    /// on disk.
    Strict,
    /// The operator accepts losing acknowledged events: cut the log at the first damaged
    /// (or missing) position, move everything after it into `<data-dir>/cut/` (never
    /// deleted), and record the loss as a `data_loss_recorded` event before serving.
    AcceptDataLoss,
}

impl std::str::FromStr for RecoveryMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "tolerate-torn-tail" => Ok(RecoveryMode::TolerateTornTail),
            "strict" => Ok(RecoveryMode::Strict),
            "accept-data-loss" => Ok(RecoveryMode::AcceptDataLoss),
            other => Err(format!(
                "unknown recovery mode `{other}` (tolerate-torn-tail, strict, accept-data-loss)"
            )),
        }
    }
}

/// How to open an embedded log.
#[derive(Clone)]
pub struct EmbeddedOptions {
    /// The directory holding the segment files (created if missing).
    pub data_dir: PathBuf,
    /// Size each segment is preallocated to. Bounds the largest single append.
    pub segment_size: u64,
    /// What to do with damage found on open.
    pub recovery: RecoveryMode,
    /// How many of the most recent event ids are remembered for idempotent re-appends.
    pub idempotency_window: usize,
    /// A batch stops taking queued appends once it holds this many bytes.
    pub max_batch_bytes: usize,
    /// A batch that grows past this many bytes not yet written is written to the file
    /// in parts while the writer encodes the rest (its sync and acknowledgements come
    /// at the end as for any batch): 1 MiB, so only bulk appends and imports do.
    pub early_write_bytes: usize,
    /// Capacity of the append queue in front of the writer (back-pressure beyond it).
    pub queue_capacity: usize,
    /// The newest durable events kept in memory for followers' reads
    /// ([`tail::TAIL_EVENTS`] by default).
    pub tail_events: usize,
    /// The file system (swap in `FaultyFileSystem` to inject faults).
    pub fs: Arc<dyn FileSystem>,
    /// Where each durable batch's size goes (`alert_ledger_store_batch_events`).
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl EmbeddedOptions {
    /// Defaults: 64 MiB segments, torn-tail tolerance, 1,000,000 remembered ids, 4 MiB
    /// batches written early from 1 MiB, the real file system.
    pub fn new(data_dir: impl Into<PathBuf>) -> EmbeddedOptions {
        EmbeddedOptions {
            data_dir: data_dir.into(),
            segment_size: 64 * 1024 * 1024,
            recovery: RecoveryMode::default(),
            idempotency_window: 1_000_000,
            max_batch_bytes: 4 * 1024 * 1024,
            early_write_bytes: 1024 * 1024,
            queue_capacity: 4096,
            tail_events: tail::TAIL_EVENTS,
            fs: Arc::new(RealFileSystem),
            metrics: None,
        }
    }
}

/// Counters since open, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct StoreStats {
    /// Appends acknowledged as written (idempotent replays not counted).
    pub appends: u64,
    /// Events written.
    pub events: u64,
    /// Batches made durable: one write and one `fdatasync` each.
    pub batches: u64,
    /// Batches whose write or `fdatasync` failed (every append in them was refused).
    pub failed_batches: u64,
}

#[derive(Default)]
struct Counters {
    appends: AtomicU64,
    events: AtomicU64,
    batches: AtomicU64,
    failed_batches: AtomicU64,
}

/// How the last open read the log: segments taken from their index files, and
/// segments scanned frame by frame (the last one always; a sealed one when its index
/// was missing or could not be used, after which it has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct OpenReport {
    /// Sealed segments taken from their index files.
    pub segments_from_index: u64,
    /// Segments scanned.
    pub segments_scanned: u64,
}

/// State shared by the writer thread and readers.
struct Shared {
    index: RwLock<Index>,
    counters: Counters,
    closed: AtomicBool,
    /// The newest durable events as recorded, which follower reads are served from.
    tail: tail::Tail,
    /// The data directory's lock, held until `close` (or until the process ends).
    lock: std::sync::Mutex<Option<lock::DirLock>>,
}

impl Shared {
    fn release_lock(&self) {
        let mut lock = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        *lock = None;
    }

    fn read_index(&self) -> Result<RwLockReadGuard<'_, Index>, StoreError> {
        self.index
            .read()
            .map_err(|_| StoreError::Unavailable("index lock poisoned".into()))
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

/// The embedded event store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    head: watch::Receiver<Position>,
    data_dir: PathBuf,
    opened: OpenReport,
}

impl EmbeddedStore {
    /// Opens (or creates) the log in `options.data_dir`: recovers it, rebuilds the
    /// indexes and starts the writer thread. Blocking; call it at startup or from
    /// `spawn_blocking`.
    pub fn open(options: EmbeddedOptions) -> Result<EmbeddedStore, StoreError> {
        let lock = lock::DirLock::acquire(&options.data_dir)?;
        let recovered = recovery::recover(&options)?;
        let opened = recovered.report;
        let head_position = recovered.index.head.position;
        let (head_tx, head_rx) = watch::channel(head_position);
        let (commands_tx, commands_rx) = mpsc::channel(options.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            index: RwLock::new(recovered.index),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
            tail: tail::Tail::new(options.tail_events),
            lock: std::sync::Mutex::new(Some(lock)),
        });
        let data_dir = options.data_dir.clone();
        writer::spawn(
            options,
            shared.clone(),
            recovered.start,
            head_tx,
            commands_rx,
        )?;
        tracing::info!(data_dir = %data_dir.display(), head = head_position, "embedded store open");
        Ok(EmbeddedStore {
            shared,
            commands: commands_tx,
            head: head_rx,
            data_dir,
            opened,
        })
    }

    /// How this open read the log (index files used, segments scanned).
    pub fn open_report(&self) -> OpenReport {
        self.opened
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Counters since open.
    pub fn stats(&self) -> StoreStats {
        let c = &self.shared.counters;
        StoreStats {
            appends: c.appends.load(Ordering::Relaxed),
            events: c.events.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            failed_batches: c.failed_batches.load(Ordering::Relaxed),
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Shared) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.shared.check_open()?;
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || work(&shared))
            .await
            .map_err(|err| StoreError::Unavailable(format!("read task failed: {err}").into()))?
    }
}

impl EventStore for EmbeddedStore {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<AppendResult, StoreError>> {
        let span = tracing::debug_span!("append", stream, events = events.len());
        Box::pin(
            async move {
                self.shared.check_open()?;
                let (reply, response) = oneshot::channel();
                let request = AppendRequest::new(stream.to_owned(), expected, events, None, reply)?;
                self.commands
                    .send(Command::Append(request))
                    .await
                    .map_err(|_| StoreError::Closed)?;
                response.await.map_err(|_| StoreError::Closed)?
            }
            .instrument(span),
        )
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        let absent = self
            .shared
            .read_index()
            .and_then(|index| index.stream_version(stream))
            .is_ok_and(|version| version.is_none());
        if absent {
            // Nothing to read (a new alert's series, say): no hop to a blocking thread.
            return Box::pin(async move {
                self.shared.check_open()?;
                Ok(Vec::new())
            });
        }
        let span = tracing::debug_span!("read_stream", stream, from, limit);
        let stream = stream.to_owned();
        Box::pin(
            self.run_blocking(move |shared| {
                reader::read_stream(shared, &stream, from, direction, limit)
            })
            .instrument(span),
        )
    }

    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        if let Some(recent) = self.shared.tail.read(from, limit) {
            return Box::pin(async move {
                self.shared.check_open()?;
                Ok(recent)
            });
        }
        let span = tracing::debug_span!("read_all", from, limit);
        Box::pin(
            self.run_blocking(move |shared| reader::read_all(shared, from, limit))
                .instrument(span),
        )
    }

    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamVersion>, StoreError>> {
        Box::pin(async move {
            self.shared.check_open()?;
            self.shared.read_index()?.stream_version(stream)
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, StoreError>> {
        Box::pin(async move {
            self.shared.check_open()?;
            Ok(self.shared.read_index()?.head)
        })
    }

    fn watch_head(&self) -> watch::Receiver<Position> {
        self.head.clone()
    }

    fn raw_log(
        &self,
    ) -> BoxFuture<'_, Result<Option<Box<dyn crate::store::verify::RawLog>>, StoreError>> {
        Box::pin(async move {
            self.shared.check_open()?;
            let log: Box<dyn crate::store::verify::RawLog> = Box::new(RawSegments {
                shared: self.shared.clone(),
            });
            Ok(Some(log))
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let (reply, done) = oneshot::channel();
            if self.commands.send(Command::Close(reply)).await.is_err() {
                return Ok(());
            }
            let result = done.await.unwrap_or(Ok(()));
            self.shared.closed.store(true, Ordering::Release);
            self.shared.release_lock();
            result
        })
    }
}

/// The log's stored records, read through the open store's index (the Merkle tree's
/// input and the records of inclusion proofs). Verification of the embedded log reads
/// the segment files themselves instead (`store::verify::segments`), which also checks
/// what only files have.
struct RawSegments {
    shared: Arc<Shared>,
}

impl crate::store::verify::RawLog for RawSegments {
    fn records_after(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<crate::store::verify::RawRecord>, StoreError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.check_open()?;
            tokio::task::spawn_blocking(move || reader::read_raw(&shared, after, limit, true))
                .await
                .map_err(|err| StoreError::Unavailable(format!("read task failed: {err}").into()))?
        })
    }

    fn hashes_after(
        &self,
        after: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<(Position, projections::Hash)>, StoreError>> {
        let shared = self.shared.clone();
        Box::pin(async move {
            shared.check_open()?;
            if let Some(recent) = shared.tail.hashes_after(after, limit) {
                return Ok(recent);
            }
            let records =
                tokio::task::spawn_blocking(move || reader::read_raw(&shared, after, limit, false))
                    .await
                    .map_err(|err| {
                        StoreError::Unavailable(format!("read task failed: {err}").into())
                    })??;
            Ok(records.into_iter().map(|r| (r.position, r.hash)).collect())
        })
    }

    fn table(&self) -> &str {
        "segments"
    }
}
