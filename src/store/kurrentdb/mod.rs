//! The KurrentDB (formerly EventStoreDB) backend, through the official `kurrentdb`
//! gRPC client (docs/adr/0008-kurrentdb.md).
//!
//! # Layout
//! - `mapping`: the pure translations (expected versions, positions, records, errors,
//!   URLs), unit-tested without a server.
//! - `append`: the writer task that serialises this instance's appends (the shared
//!   [`crate::store::append_check`] over the stream's newest events, chain tip, append).
//! - `read`: reads of streams and `$all`, and the newest record of ours.
//! - `head_watch`: the head watch fed by a `$all` subscription that we resubscribe
//!   ourselves with exponential backoff from our own checkpoint.
//! - `verify`: the chain of our records in `$all` ([`KurrentStore::verify`]).
//! - this module: [`KurrentStore`], its options and the [`EventStore`] impl.
//!
//! Streams map 1:1 to KurrentDB streams, stream versions to revisions. Our position is
//! `2 × commit position + 1`: ordered like `$all`, **not** gap-free and not 1-based
//! (see [`mapping::to_position`]). Only records written by this service (they carry the
//! chain metadata) are returned from `$all`; system and foreign events are skipped.
//!
//! The hash chain is the codec's (`hash = SHA-256(prev_hash || data)`, data = the codec
//! body); across several writer instances it can fork, which [`KurrentStore::verify`]
//! reports (see the ADR).

mod append;
mod head_watch;
pub mod mapping;
mod read;
mod verify;

use super::handoff::{self, Command};
use super::{AppendResult, Direction, EventStore, ExpectedVersion, Head, NewEvent, StoreError};
use futures_util::future::BoxFuture;
use kurrentdb::{Client, ClientSettings};
use mapping::ReadFrom;
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use read::{last_record, read_all_page, read_stream_records, stream_version};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How to connect and behave.
#[derive(Clone)]
pub struct KurrentOptions {
    /// The client's connection string (`kurrentdb://host:2113?tls=false`).
    pub connection_string: String,
    /// Capacity of the append queue in front of the writer.
    pub queue_capacity: usize,
    /// How many of a stream's newest events an append checks for re-sent event ids.
    pub idempotency_window: usize,
    /// How many times an `Any` append retries after another writer moved the stream.
    pub any_retries: usize,
    /// First and largest delay before resubscribing the head watch after it dropped.
    pub resubscribe_backoff: (Duration, Duration),
}

impl KurrentOptions {
    /// Parses our `kurrentdb://…`/`esdb://…` URL; defaults: a 4096-append queue, a
    /// 1024-event idempotency window, 16 retries, resubscribe after 100 ms … 10 s.
    pub fn new(url: &str) -> Result<KurrentOptions, StoreError> {
        Ok(KurrentOptions {
            connection_string: mapping::connection_string(url)?,
            queue_capacity: 4096,
            idempotency_window: 1024,
            any_retries: 16,
            resubscribe_backoff: (Duration::from_millis(100), Duration::from_secs(10)),
        })
    }
}

struct Shared {
    client: Client,
    commands: mpsc::Sender<Command>,
    head: watch::Receiver<Position>,
    closed: AtomicBool,
    stop: watch::Sender<bool>,
}

/// The KurrentDB event store. Cheap to clone; clones share one writer task.
#[derive(Clone)]
pub struct KurrentStore {
    shared: Arc<Shared>,
}

impl KurrentStore {
    /// Connects to `url` (`kurrentdb://…` or `esdb://…`), reads the head and starts the
    /// writer and the head watch.
    pub async fn connect(url: &str) -> Result<KurrentStore, StoreError> {
        KurrentStore::connect_with(KurrentOptions::new(url)?).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(options: KurrentOptions) -> Result<KurrentStore, StoreError> {
        let settings: ClientSettings = options.connection_string.parse().map_err(|err| {
            StoreError::Unavailable(format!("invalid kurrentdb connection string: {err}").into())
        })?;
        let client = Client::new(settings)
            .map_err(|err| StoreError::Unavailable(format!("kurrentdb client: {err}").into()))?;
        let head = last_record(&client).await?;
        let head_position = head
            .as_ref()
            .map_or(0, |(commit, _)| mapping::to_position(*commit));
        let (head_tx, head_rx) = watch::channel(head_position);
        let (commands_tx, commands_rx) = mpsc::channel(options.queue_capacity.max(1));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(head_watch::watch_head(
            client.clone(),
            head.map(|(commit, _)| commit),
            options.resubscribe_backoff,
            head_tx.clone(),
            stop_rx,
        ));
        tokio::spawn(append::run_writer(
            client.clone(),
            options.clone(),
            commands_rx,
            head_tx,
        ));
        tracing::info!(head = head_position, "kurrentdb store open");
        Ok(KurrentStore {
            shared: Arc::new(Shared {
                client,
                commands: commands_tx,
                head: head_rx,
                closed: AtomicBool::new(false),
                stop: stop_tx,
            }),
        })
    }

    /// Reads all of `$all` and checks the chain: sequences 1, 2, … without gap or fork,
    /// each `prev_hash` the previous record's hash, each hash recomputed from the stored
    /// data, each body decodable. The head it ends at, or `Corrupt` at the first bad
    /// record (`segment` = `$all`, `offset` = its commit position).
    pub async fn verify(&self) -> Result<Head, StoreError> {
        self.check_open()?;
        verify::verify(&self.shared.client).await
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.shared.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }
}

impl EventStore for KurrentStore {
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
            let records =
                read_stream_records(&self.shared.client, stream, from, direction, limit).await?;
            records
                .iter()
                .map(|record| mapping::decode_record(&record.as_stored()))
                .collect()
        })
    }

    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            let mut out = Vec::new();
            let mut start = mapping::read_from(from);
            while out.len() < limit {
                let want = (limit - out.len()).clamp(1, 4096);
                let page = read_all_page(&self.shared.client, start, want).await?;
                let exhausted = page.len() < want;
                if let Some(last) = page.last() {
                    start = ReadFrom::After(last.commit);
                }
                for record in &page {
                    let stored = record.as_stored();
                    if mapping::is_ours(&stored) && out.len() < limit {
                        out.push(mapping::decode_record(&stored)?);
                    }
                }
                if exhausted {
                    break;
                }
            }
            Ok(out)
        })
    }

    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamVersion>, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            stream_version(&self.shared.client, stream).await
        })
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, StoreError>> {
        Box::pin(async move {
            self.check_open()?;
            Ok(match last_record(&self.shared.client).await? {
                Some((commit, tip)) => Head {
                    position: mapping::to_position(commit),
                    hash: tip.hash,
                },
                None => Head {
                    position: 0,
                    hash: Hash::GENESIS,
                },
            })
        })
    }

    fn watch_head(&self) -> watch::Receiver<Position> {
        self.shared.head.clone()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            if self.shared.closed.swap(true, Ordering::AcqRel) {
                return Ok(());
            }
            handoff::close(&self.shared.commands).await;
            let _ = self.shared.stop.send(true);
            Ok(())
        })
    }
}
