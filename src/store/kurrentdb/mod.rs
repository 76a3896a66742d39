//! The KurrentDB (formerly EventStoreDB) backend, through the official `kurrentdb`
//! gRPC client (docs/adr/0008-kurrentdb.md).
//!
//! # Layout
//! - `mapping`: the pure translations (expected versions, positions, records, errors,
//!   URLs), unit-tested without a server.
//! - this module: [`KurrentStore`], a writer task that serialises this instance's
//!   appends (idempotency check, expected version, chain tip, append), reads of streams
//!   and `$all`, and the head watch fed by a `$all` subscription that we resubscribe
//!   ourselves with exponential backoff from our own checkpoint.
//!
//! Streams map 1:1 to KurrentDB streams, stream versions to revisions. Our position is
//! `2 × commit position + 1`: ordered like `$all`, **not** gap-free and not 1-based
//! (see [`mapping::to_position`]). Only records written by this service (they carry the
//! chain metadata) are returned from `$all`; system and foreign events are skipped.
//!
//! The hash chain is the codec's (`hash = SHA-256(prev_hash || data)`, data = the codec
//! body); across several writer instances it can fork, which [`KurrentStore::verify`]
//! reports (see the ADR).

pub mod mapping;

use super::{AppendResult, Direction, EventStore, ExpectedVersion, Head, NewEvent, StoreError};
use futures_util::future::BoxFuture;
use kurrentdb::{
    AppendToStreamOptions, Client, ClientSettings, EventData, ReadAllOptions, ReadStreamOptions,
    StreamPosition, StreamState, SubscribeToAllOptions, SubscriptionEvent, SubscriptionFilter,
};
use mapping::{ChainTip, ReadFrom, StoredRecord};
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

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

enum Command {
    Append(AppendRequest),
    Close(oneshot::Sender<()>),
}

struct AppendRequest {
    stream: String,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<AppendResult, StoreError>>,
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
        tokio::spawn(watch_head(
            client.clone(),
            head.map(|(commit, _)| commit),
            options.resubscribe_backoff,
            head_tx.clone(),
            stop_rx,
        ));
        tokio::spawn(run_writer(
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
        let client = &self.shared.client;
        let mut tip = ChainTip::GENESIS;
        let mut head = Head {
            position: 0,
            hash: Hash::GENESIS,
        };
        let mut from = ReadFrom::Start;
        loop {
            let page = read_all_page(client, from, 1024).await?;
            let Some(last) = page.last() else {
                return Ok(head);
            };
            from = ReadFrom::After(last.commit);
            for record in &page {
                let stored = record.as_stored();
                if !mapping::is_ours(&stored) {
                    continue;
                }
                let position = mapping::to_position(stored.commit);
                let corrupt = |reason: String| StoreError::Corrupt {
                    segment: "$all".into(),
                    offset: stored.commit,
                    position,
                    reason,
                };
                let next = mapping::chain_tip(&stored)?;
                if next.seq != tip.seq + 1 {
                    return Err(corrupt(format!(
                        "chain sequence {} follows {} (a gap, or two writers forked the chain)",
                        next.seq, tip.seq
                    )));
                }
                if !mapping::hash_matches(&stored, &tip.hash)? {
                    return Err(corrupt("hash chain broken".into()));
                }
                mapping::decode_record(&stored).map_err(|err| corrupt(err.to_string()))?;
                tip = next;
                head = Head {
                    position,
                    hash: next.hash,
                };
            }
        }
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
            let (reply, response) = oneshot::channel();
            let request = AppendRequest {
                stream: stream.to_owned(),
                expected,
                events,
                reply,
            };
            self.shared
                .commands
                .send(Command::Append(request))
                .await
                .map_err(|_| StoreError::Closed)?;
            response.await.map_err(|_| StoreError::Closed)?
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
            let (done, finished) = oneshot::channel();
            if self
                .shared
                .commands
                .send(Command::Close(done))
                .await
                .is_ok()
            {
                let _ = finished.await;
            }
            let _ = self.shared.stop.send(true);
            Ok(())
        })
    }
}

/// The fields of a client record we keep (owned).
struct Record {
    stream: String,
    event_type: String,
    event_id: uuid::Uuid,
    revision: u64,
    commit: u64,
    data: Vec<u8>,
    custom_metadata: Vec<u8>,
}

impl Record {
    fn from_client(event: &kurrentdb::ResolvedEvent) -> Record {
        let original = event.get_original_event();
        Record {
            stream: original.stream_id().to_owned(),
            event_type: original.event_type.clone(),
            event_id: original.id,
            revision: original.revision,
            commit: original.position.commit,
            data: original.data.to_vec(),
            custom_metadata: original.custom_metadata.to_vec(),
        }
    }

    fn as_stored(&self) -> StoredRecord<'_> {
        StoredRecord {
            stream: &self.stream,
            event_type: &self.event_type,
            revision: self.revision,
            commit: self.commit,
            data: &self.data,
            custom_metadata: &self.custom_metadata,
        }
    }
}

fn non_system() -> SubscriptionFilter {
    SubscriptionFilter::on_stream_name().exclude_system_events()
}

/// Up to `count` non-system records of `$all` from `from`, forwards.
async fn read_all_page(
    client: &Client,
    from: ReadFrom,
    count: usize,
) -> Result<Vec<Record>, StoreError> {
    let (position, skip) = match from {
        ReadFrom::Start => (StreamPosition::Start, None),
        ReadFrom::At(commit) => (
            StreamPosition::Position(mapping::to_all_position(commit)),
            None,
        ),
        ReadFrom::After(commit) => (
            StreamPosition::Position(mapping::to_all_position(commit)),
            Some(commit),
        ),
    };
    let extra = usize::from(skip.is_some());
    let options = ReadAllOptions::default()
        .forwards()
        .position(position)
        .filter(non_system())
        .max_count(count + extra);
    let mut reader = client
        .read_all(&options)
        .await
        .map_err(|err| mapping::map_error("read $all", err))?;
    let mut out = Vec::with_capacity(count);
    while let Some(event) = reader
        .next()
        .await
        .map_err(|err| mapping::map_error("read $all", err))?
    {
        let record = Record::from_client(&event);
        if skip.is_some_and(|after| record.commit <= after) {
            continue;
        }
        out.push(record);
    }
    out.truncate(count);
    Ok(out)
}

/// The newest record of ours in `$all` (its commit position and chain tip).
async fn last_record(client: &Client) -> Result<Option<(u64, ChainTip)>, StoreError> {
    let mut position = StreamPosition::End;
    loop {
        let options = ReadAllOptions::default()
            .backwards()
            .position(position)
            .filter(non_system())
            .max_count(256);
        let mut reader = client
            .read_all(&options)
            .await
            .map_err(|err| mapping::map_error("read $all", err))?;
        let mut seen = 0;
        let mut oldest = None;
        while let Some(event) = reader
            .next()
            .await
            .map_err(|err| mapping::map_error("read $all", err))?
        {
            seen += 1;
            let record = Record::from_client(&event);
            let stored = record.as_stored();
            if mapping::is_ours(&stored) {
                return Ok(Some((record.commit, mapping::chain_tip(&stored)?)));
            }
            oldest = Some(record.commit);
        }
        match oldest {
            Some(commit) if seen == 256 && commit > 0 => {
                position = StreamPosition::Position(mapping::to_all_position(commit));
            }
            _ => return Ok(None),
        }
    }
}

async fn read_stream_records(
    client: &Client,
    stream: &str,
    from: StreamVersion,
    direction: Direction,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let options = match direction {
        Direction::Forward => ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(from)),
        Direction::Backward if from == u64::MAX => ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End),
        Direction::Backward => ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::Position(from)),
    }
    .max_count(limit);
    let mut reader = match client.read_stream(stream, &options).await {
        Ok(reader) => reader,
        Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
        Err(err) => return Err(mapping::map_error("read stream", err)),
    };
    let mut out = Vec::new();
    loop {
        match reader.next().await {
            Ok(Some(event)) => out.push(Record::from_client(&event)),
            Ok(None) => return Ok(out),
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(err) => return Err(mapping::map_error("read stream", err)),
        }
    }
}

async fn stream_version(
    client: &Client,
    stream: &str,
) -> Result<Option<StreamVersion>, StoreError> {
    let last = read_stream_records(client, stream, u64::MAX, Direction::Backward, 1).await?;
    Ok(last.first().map(|record| record.revision))
}

/// The writer: one append at a time, so this instance never forks its own chain.
async fn run_writer(
    client: Client,
    options: KurrentOptions,
    mut commands: mpsc::Receiver<Command>,
    head: watch::Sender<Position>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            Command::Append(request) => {
                let result = append(&client, &options, &request).await;
                if let Ok(done) = &result {
                    head.send_if_modified(|current| {
                        let moved = done.last_position > *current;
                        if moved {
                            *current = done.last_position;
                        }
                        moved
                    });
                }
                let _ = request.reply.send(result);
            }
            Command::Close(done) => {
                let _ = done.send(());
                return;
            }
        }
    }
}

/// What the newest events of a stream say about a re-sent append.
enum Resent {
    /// None of the ids are stored: append.
    New,
    /// All of them, as one contiguous run in order: the original result.
    Same(AppendResult),
}

fn check_resent(
    stream: &str,
    newest_first: &[Record],
    events: &[NewEvent],
) -> Result<Resent, StoreError> {
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.event_id).collect();
    let found: Vec<&Record> = newest_first
        .iter()
        .rev()
        .filter(|record| ids.contains(&record.event_id))
        .collect();
    if found.is_empty() {
        return Ok(Resent::New);
    }
    let same = found.len() == ids.len()
        && found
            .iter()
            .zip(&ids)
            .all(|(record, id)| record.event_id == *id)
        && found.windows(2).all(|w| w[1].revision == w[0].revision + 1);
    if !same {
        let first = found[0].event_id;
        return Err(StoreError::IdempotencyMismatch { event_id: first });
    }
    let (first, last) = (found[0], found[found.len() - 1]);
    tracing::debug!(stream, "re-sent append; returning the original result");
    Ok(Resent::Same(AppendResult {
        first_position: mapping::to_position(first.commit),
        last_position: mapping::to_position(last.commit),
        stream_version: last.revision,
    }))
}

async fn append(
    client: &Client,
    options: &KurrentOptions,
    request: &AppendRequest,
) -> Result<AppendResult, StoreError> {
    let stream = request.stream.as_str();
    if request.events.is_empty() {
        return Err(StoreError::Unavailable("append of no events".into()));
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let newest = read_stream_records(
            client,
            stream,
            u64::MAX,
            Direction::Backward,
            options.idempotency_window.max(1),
        )
        .await?;
        if let Resent::Same(result) = check_resent(stream, &newest, &request.events)? {
            return Ok(result);
        }
        let current = newest.first().map(|record| record.revision);
        let matches = match request.expected {
            ExpectedVersion::Any => true,
            ExpectedVersion::NoStream => current.is_none(),
            ExpectedVersion::Exact(version) => current == Some(version),
        };
        if !matches {
            return Err(StoreError::Conflict {
                stream: stream.to_owned(),
                expected: request.expected,
                actual: current,
            });
        }
        // Always append with the exact state we read: the bodies name their versions.
        let state = match current {
            Some(revision) => StreamState::StreamRevision(revision),
            None => StreamState::NoStream,
        };
        let tip = last_record(client)
            .await?
            .map_or(ChainTip::GENESIS, |(_, tip)| tip);
        let first_version = current.map_or(0, |v| v + 1);
        let (encoded, _) = mapping::encode_events(
            stream,
            first_version,
            chrono::Utc::now(),
            tip,
            &request.events,
        )?;
        let events: Vec<EventData> = encoded
            .into_iter()
            .map(|event| {
                EventData::binary(event.event_type, event.data.into())
                    .id(event.event_id)
                    .metadata(event.custom_metadata.into())
            })
            .collect();
        let write = client
            .append_to_stream(
                stream,
                &AppendToStreamOptions::default().stream_state(state),
                events,
            )
            .await;
        match write {
            Ok(result) => {
                let last_position = mapping::to_position(result.position.commit);
                let first =
                    read_stream_records(client, stream, first_version, Direction::Forward, 1)
                        .await?;
                let first_position = first
                    .first()
                    .map_or(last_position, |record| mapping::to_position(record.commit));
                return Ok(AppendResult {
                    first_position,
                    last_position,
                    stream_version: result.next_expected_version,
                });
            }
            Err(kurrentdb::Error::WrongExpectedVersion { current, .. }) => {
                if request.expected == ExpectedVersion::Any && attempts <= options.any_retries {
                    continue;
                }
                return Err(mapping::conflict(stream, request.expected, current));
            }
            Err(err) => return Err(mapping::map_error("append", err)),
        }
    }
}

/// Follows `$all` from the end and publishes our records' positions; when the
/// subscription drops, resubscribes from the last commit position seen, after an
/// exponential backoff (the client does not retry subscriptions by default).
async fn watch_head(
    client: Client,
    mut checkpoint: Option<u64>,
    (first_delay, max_delay): (Duration, Duration),
    head: watch::Sender<Position>,
    mut stop: watch::Receiver<bool>,
) {
    let mut delay = first_delay;
    loop {
        let position = match checkpoint {
            Some(commit) => StreamPosition::Position(mapping::to_all_position(commit)),
            None => StreamPosition::End,
        };
        let options = SubscribeToAllOptions::default()
            .position(position)
            .filter(non_system());
        let mut subscription = client.subscribe_to_all(&options).await;
        let dropped = loop {
            let next = tokio::select! {
                next = subscription.next_subscription_event() => next,
                _ = stop.changed() => return,
            };
            match next {
                Ok(SubscriptionEvent::EventAppeared(event)) => {
                    delay = first_delay;
                    let record = Record::from_client(&event);
                    checkpoint = Some(record.commit);
                    if mapping::is_ours(&record.as_stored()) {
                        let position = mapping::to_position(record.commit);
                        head.send_if_modified(|current| {
                            let moved = position > *current;
                            if moved {
                                *current = position;
                            }
                            moved
                        });
                    }
                }
                Ok(SubscriptionEvent::Confirmed(_)) => delay = first_delay,
                Ok(_) => {}
                Err(err) => break err,
            }
        };
        tracing::warn!(error = %dropped, retry_in = ?delay, "kurrentdb head subscription dropped; resubscribing");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(max_delay);
    }
}
