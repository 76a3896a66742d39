//! The PostgreSQL backend: one `events` table shared by any number of service
//! instances.
//!
//! # Layout
//! - `schema`: embedded, idempotent migrations run on connect (`schema_migrations`).
//! - `append`: the writer task; group commit, positions and the hash chain assigned
//!   under a transaction-scoped advisory lock so they follow commit order, most
//!   batches in one guarded flight from the writer's own tip
//!   (docs/adr/0006-postgres-positions.md).
//! - `read`: a small pool of shared connections with prepared statements; rows are
//!   decoded through [`crate::codec::decode_body`].
//! - `recent`: the events this instance's writer committed last, which answer
//!   `read_all` for the newest positions without a query.
//! - `notify`: the head watch, from `LISTEN/NOTIFY` plus polling.
//! - `import`: writes an export back at its original positions ([`PostgresStore::import`]).
//! - `verify`: the table as stored (bodies, hashes, index columns) for
//!   [`crate::store::verify`], which checks it exactly as it checks the embedded log's files
//!   ([`PostgresStore::verify`], [`PostgresStore::open_raw_log`]).
//!
//! Event bodies and the chain (`hash = SHA-256(prev_hash || body)`) are byte for byte
//! what the embedded backend stores.

mod append;
mod import;
mod notify;
mod read;
mod recent;
mod schema;
mod verify;

pub use append::APPEND_LOCK;
pub use schema::SCHEMA_VERSION;

use super::handoff::{self, Command};
use super::{AppendResult, Direction, EventStore, ExpectedVersion, Head, NewEvent, StoreError};
use futures_util::future::BoxFuture;
use projections::{Position, RecordedEvent, StreamVersion};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{Client, Config, NoTls};

/// The channel appends notify with their last position.
pub const NOTIFY_CHANNEL: &str = "alert_ledger_events";

/// How to connect to PostgreSQL.
#[derive(Clone)]
pub struct PostgresOptions {
    /// Connection settings (parsed from a `postgres://` URL).
    pub config: Config,
    /// Connections shared by readers.
    pub read_connections: usize,
    /// Capacity of the append queue in front of the writer (back-pressure beyond it).
    pub queue_capacity: usize,
    /// How often the head is polled, in case a notification was missed.
    pub poll_interval: Duration,
    /// Fault injection for tests: hold each written batch's transaction (and so the
    /// append lock) open this long before committing. `None` in production.
    pub commit_delay: Option<Duration>,
    /// Batches the writer may have sent and not yet seen answered (at least 1): a
    /// batch is sent while earlier ones are still committing, and the server runs it
    /// right after them (docs/adr/0006-postgres-positions.md).
    pub pipeline_depth: usize,
}

impl PostgresOptions {
    /// Parses `url` (`postgres://user@host:port/database`); defaults: 4 read
    /// connections, a 4096-append queue, polling every second, 2 batches in flight.
    pub fn new(url: &str) -> Result<PostgresOptions, StoreError> {
        let config: Config = url.parse().map_err(|err| {
            StoreError::Unavailable(format!("invalid postgres URL: {err}").into())
        })?;
        Ok(PostgresOptions {
            config,
            read_connections: 4,
            queue_capacity: 4096,
            poll_interval: Duration::from_secs(1),
            commit_delay: None,
            pipeline_depth: 2,
        })
    }
}

/// Counters since connect.
#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    /// Batches decided under the lock from what the database holds (at start, after
    /// another instance appended, after a refusal, and for `Any` appends).
    locked: AtomicU64,
    /// Batches sent staged from the writer's tip that the database refused.
    refused: AtomicU64,
}

struct Shared {
    config: Config,
    pool: read::Pool,
    commands: mpsc::Sender<Command>,
    head: watch::Receiver<Position>,
    closed: AtomicBool,
    stop: watch::Sender<bool>,
    counters: Arc<Counters>,
    recent: Arc<recent::Recent>,
}

/// The PostgreSQL event store. Cheap to clone; clones share one writer task.
#[derive(Clone)]
pub struct PostgresStore {
    shared: Arc<Shared>,
}

impl PostgresStore {
    /// Connects to `url`, migrates the schema and starts the writer and head listener.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with(PostgresOptions::new(url)?).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(options: PostgresOptions) -> Result<PostgresStore, StoreError> {
        let mut client = connect(&options.config).await?;
        schema::migrate(&mut client).await?;
        drop(client);
        let pool = read::Pool::new(options.config.clone(), options.read_connections);
        let head = pool.head().await?;
        let (head_tx, head_rx) = watch::channel(head.position);
        let (commands_tx, commands_rx) = mpsc::channel(options.queue_capacity.max(1));
        let (stop_tx, stop_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let recent = Arc::new(recent::Recent::default());
        let sent = Arc::new(AtomicU64::new(0));
        tokio::spawn(notify::run(
            options.config.clone(),
            options.poll_interval,
            head_tx.clone(),
            sent.clone(),
            stop_rx,
        ));
        tokio::spawn(append::run(
            options.clone(),
            commands_rx,
            head_tx,
            counters.clone(),
            recent.clone(),
            sent,
        ));
        tracing::info!(
            database = options.config.get_dbname().unwrap_or_default(),
            head = head.position,
            "postgres store open"
        );
        Ok(PostgresStore {
            shared: Arc::new(Shared {
                config: options.config.clone(),
                pool,
                commands: commands_tx,
                head: head_rx,
                closed: AtomicBool::new(false),
                stop: stop_tx,
                counters,
                recent,
            }),
        })
    }

    /// Transactions committed by this instance's writer since connect.
    pub fn batches(&self) -> u64 {
        self.shared.counters.batches.load(Ordering::Relaxed)
    }

    /// Of [`PostgresStore::batches`], those decided under the lock from what the
    /// database holds rather than sent staged from the writer's tip.
    pub fn batches_decided_under_lock(&self) -> u64 {
        self.shared.counters.locked.load(Ordering::Relaxed)
    }

    /// Batches sent staged from the writer's tip that the database refused (another
    /// instance had appended, or a stream was not at the expected version); their
    /// requests were decided again under the lock.
    pub fn batches_refused(&self) -> u64 {
        self.shared.counters.refused.load(Ordering::Relaxed)
    }

    /// Re-reads the whole table and checks positions, the hash chain and that every
    /// body decodes; the head it ends at, or `Corrupt` naming the first bad position.
    pub async fn verify(&self) -> Result<Head, StoreError> {
        self.check_open()?;
        verify::verify(&self.shared.config).await
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

impl EventStore for PostgresStore {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<AppendResult, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            handoff::append(&self.shared.commands, stream, expected, events).await
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            self.shared
                .pool
                .read_stream(stream, from, direction, limit)
                .await
        })
    }

    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            // The newest events, when this instance's writer committed them.
            let head = *self.shared.head.borrow();
            if let Some(page) = self.shared.recent.page(from, limit, head) {
                return Ok(page);
            }
            self.shared.pool.read_all(from, limit).await
        })
    }

    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamVersion>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            self.shared.pool.stream_version(stream).await
        })
    }

    fn remote_reads(&self) -> bool {
        true
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            self.shared.pool.head().await
        })
    }

    fn watch_head(&self) -> watch::Receiver<Position> {
        self.shared.head.clone()
    }

    fn raw_log(
        &self,
    ) -> BoxFuture<'_, Result<Option<Box<dyn crate::store::verify::RawLog>>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            verify::raw_log(&self.shared.config).await.map(Some)
        })
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if self.shared.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            handoff::close(&self.shared.commands).await;
            let _ = self.shared.stop.send(true);
            self.shared.pool.clear().await;
            Ok(())
        })
    }
}

/// Opens one connection and drives it on a task of its own.
async fn connect(config: &Config) -> Result<Client, StoreError> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg_error)?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "postgres connection ended");
        }
    });
    Ok(client)
}

/// A driver error as `Unavailable`, keeping the server's message for the log.
fn pg_error(err: tokio_postgres::Error) -> StoreError {
    let text = match err.as_db_error() {
        Some(db) => format!("postgres: {}: {}", db.code().code(), db.message()),
        None => format!("postgres: {err}"),
    };
    StoreError::Unavailable(text.into())
}

/// A position, version or limit as a `BIGINT` (saturating: `u64::MAX` means "the end").
fn to_pg(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
