//! Runs commands: load the aggregate's stream, fold its state, run the pure decision
//! from `projections`, append with the version that was read, and on a conflict decide
//! again (a bounded number of times).
//!
//! Appends to one stream are serialised inside this process by striped locks, so
//! concurrent requests for one dedup key queue up instead of conflicting; conflicts
//! then only arise between instances sharing one store, and those are retried.

use crate::metrics::Metrics;
use crate::store::{AppendResult, EventStore, ExpectedVersion, NewEvent, StoreError};
use projections::decide::{Rejection, StreamState};
use projections::{Event, Metadata, RecordedEvent};
use std::sync::Arc;

mod state_cache;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How many times a command is decided again after a version conflict.
const MAX_ATTEMPTS: u32 = 12;
/// Number of lock stripes; streams hash onto them.
const STRIPES: usize = 1024;
/// Events read per page when loading a stream.
const PAGE: usize = 1024;
/// Streams whose decision state is kept in memory between commands.
const CACHED_STREAMS: usize = 65_536;

/// Why a command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The domain refused; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(StoreError),
    /// Other writers kept winning for `MAX_ATTEMPTS` rounds.
    #[error("gave up after repeated version conflicts")]
    Conflict,
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The events the decision produced (empty: the command was a no-op).
    pub events: Vec<Event>,
    /// Where they landed (`None` when nothing was appended).
    pub append: Option<AppendResult>,
}

/// Executes commands against a store.
#[derive(Clone)]
pub struct Commands {
    store: Arc<dyn EventStore>,
    metrics: Arc<Metrics>,
    stripes: Arc<Vec<Mutex<()>>>,
    cache: Arc<state_cache::StateCache>,
}

impl Commands {
    /// A command runner over `store`, recording append latency in `metrics`.
    pub fn new(store: Arc<dyn EventStore>, metrics: Arc<Metrics>) -> Self {
        let stripes = (0..STRIPES).map(|_| Mutex::new(())).collect();
        Commands {
            store,
            metrics,
            stripes: Arc::new(stripes),
            cache: Arc::new(state_cache::StateCache::new(CACHED_STREAMS)),
        }
    }

    /// Loads `stream` into `initial` (or takes its cached state), decides with
    /// `decide`, appends the result with the version the state reflects. A version
    /// conflict (another instance wrote, or the cached state was stale) drops the cache
    /// entry and runs the whole cycle again from a fresh load.
    #[tracing::instrument(skip(self, initial, decide, metadata), fields(stream = %stream))]
    pub async fn execute<S, D>(
        &self,
        stream: &str,
        initial: S,
        metadata: Metadata,
        decide: D,
    ) -> Result<Outcome, CommandError>
    where
        S: StreamState + Send + 'static,
        D: Fn(&S) -> Result<Vec<Event>, Rejection>,
    {
        let _guard = self.stripe(stream).lock().await;
        for attempt in 0..MAX_ATTEMPTS {
            let cached = if attempt == 0 {
                self.cache.get::<S>(stream)
            } else {
                None
            };
            let mut state = match cached {
                Some(state) => state,
                None if attempt == 0 && self.store.remote_reads() => {
                    if let Some(outcome) = self
                        .assume_new(stream, &initial, &metadata, &decide)
                        .await?
                    {
                        return Ok(outcome);
                    }
                    self.load(stream, initial.clone()).await?
                }
                None => self.load(stream, initial.clone()).await?,
            };
            let events = match decide(&state) {
                Ok(events) => events,
                Err(rejection) => {
                    self.cache.put(stream, state);
                    return Err(rejection.into());
                }
            };
            if events.is_empty() {
                self.cache.put(stream, state);
                return Ok(Outcome {
                    events,
                    append: None,
                });
            }
            let expected = match state.version() {
                None => ExpectedVersion::NoStream,
                Some(version) => ExpectedVersion::Exact(version),
            };
            match self
                .append_decided(stream, expected, &mut state, events, &metadata)
                .await
            {
                Ok(outcome) => {
                    self.cache.put(stream, state);
                    return Ok(outcome);
                }
                Err(StoreError::Conflict { .. }) => {
                    self.cache.remove(stream);
                    backoff(attempt).await;
                }
                Err(other) => {
                    self.cache.remove(stream);
                    return Err(CommandError::Store(other));
                }
            }
        }
        Err(CommandError::Conflict)
    }

    /// On a store whose reads cost a round trip, a stream this process has not seen is
    /// most often new (a new alert's series, a new message's delivery stream): decide on
    /// the empty stream and append expecting no stream, without reading it first. `None`
    /// when that does not settle it (the decision needs the stream: it refused or wrote
    /// nothing; or the stream exists: the append conflicted), and the caller reads it.
    async fn assume_new<S, D>(
        &self,
        stream: &str,
        initial: &S,
        metadata: &Metadata,
        decide: &D,
    ) -> Result<Option<Outcome>, CommandError>
    where
        S: StreamState + Send + 'static,
        D: Fn(&S) -> Result<Vec<Event>, Rejection>,
    {
        let events = match decide(initial) {
            Ok(events) if !events.is_empty() => events,
            _ => return Ok(None),
        };
        let mut state = initial.clone();
        match self
            .append_decided(
                stream,
                ExpectedVersion::NoStream,
                &mut state,
                events,
                metadata,
            )
            .await
        {
            Ok(outcome) => {
                self.cache.put(stream, state);
                Ok(Some(outcome))
            }
            Err(StoreError::Conflict { .. }) => Ok(None),
            Err(other) => Err(CommandError::Store(other)),
        }
    }

    /// Appends the decided `events` at `expected` and folds what landed into `state`.
    async fn append_decided<S: StreamState>(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        state: &mut S,
        events: Vec<Event>,
        metadata: &Metadata,
    ) -> Result<Outcome, StoreError> {
        let batch: Vec<NewEvent> = events
            .iter()
            .map(|event| NewEvent {
                event_id: uuid::Uuid::new_v4(),
                event: event.clone(),
                metadata: metadata.clone(),
            })
            .collect();
        let started = Instant::now();
        let appended = self.store.append(stream, expected, batch.clone()).await;
        self.metrics.observe_append(started.elapsed(), events.len());
        let append = appended?;
        fold_appended(state, stream, &batch, &append);
        Ok(Outcome {
            events,
            append: Some(append),
        })
    }

    /// Folds every event of `stream` into `state`.
    pub async fn load<S: StreamState>(
        &self,
        stream: &str,
        mut state: S,
    ) -> Result<S, CommandError> {
        let mut from = 0;
        loop {
            let page = self
                .store
                .read_stream(stream, from, crate::store::Direction::Forward, PAGE)
                .await
                .map_err(CommandError::Store)?;
            for event in &page {
                state.apply(event);
            }
            match page.last() {
                Some(last) if page.len() == PAGE => from = last.stream_version + 1,
                _ => return Ok(state),
            }
        }
    }

    fn stripe(&self, stream: &str) -> &Mutex<()> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        stream.hash(&mut hasher);
        &self.stripes[(hasher.finish() as usize) % STRIPES]
    }
}

/// Folds what was just appended into the state, as the store recorded it: the state
/// then reflects the stream's new version without reading it back. Only the event,
/// its stream and version matter to decision states; the envelope's time and hashes
/// are not read by any `decide`.
fn fold_appended<S: StreamState>(
    state: &mut S,
    stream: &str,
    batch: &[NewEvent],
    append: &AppendResult,
) {
    let first_version = append.stream_version + 1 - batch.len() as u64;
    for (i, new) in batch.iter().enumerate() {
        let recorded = RecordedEvent {
            event_id: new.event_id,
            stream: stream.to_owned(),
            stream_version: first_version + i as u64,
            position: append.first_position + i as u64,
            recorded_at: chrono::Utc::now(),
            schema_version: new.event.schema_version(),
            metadata: new.metadata.clone(),
            event: new.event.clone(),
            prev_hash: projections::Hash::GENESIS,
            hash: projections::Hash::GENESIS,
        };
        state.apply(&recorded);
    }
}

/// Waits a little longer after each conflict, with jitter so instances spread out.
async fn backoff(attempt: u32) {
    let base = 2u64.saturating_pow(attempt.min(6));
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (base + 1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

#[cfg(test)]
mod tests;
