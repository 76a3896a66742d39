//! The writer task: group commit onto PostgreSQL.
//!
//! Appends from every caller of this instance queue up in front of one task, which
//! drains the queue into batches, one transaction each, decided in queue order by the
//! append check every backend shares ([`crate::store::append_check`]: conflict,
//! idempotent replay, mismatch, write). Nobody is acknowledged before the batch's
//! commit returns. Every transaction takes `pg_advisory_xact_lock(APPEND_LOCK)` before
//! it writes, so positions and the chain follow commit order across instances
//! (docs/adr/0006-postgres-positions.md). A batch goes one of two ways:
//!
//! - **Guarded** ([`guarded`]): when the writer knows where the log ends (its *tip*,
//!   after its own last batch) and every request names the version its stream is at,
//!   the batch is decided and chained without reading, and sent as one flight whose
//!   `INSERT` checks those assumptions on the server after the lock is granted. One
//!   round trip; the lock is held only while the server runs the flight. Up to
//!   `pipeline_depth` such batches are in flight at once ([`pipeline`]).
//! - **Under the lock** ([`locked`]): at start, after a refusal or failure, after
//!   another instance's commit was announced past the tip, and for `Any` appends: the
//!   head, the streams' versions and the stored ids are read under the lock, then the
//!   batch is decided and written (two round trips). A batch the guard refused is
//!   decided again this way, so its callers get the answer the database holds.
//!
//! The unique constraints stay the last word: if an insert under the lock still
//! violates one (a writer that bypassed the lock), the batch is rolled back and its
//! requests are retried one at a time, and a violation on `(stream, stream_version)`
//! becomes a `Conflict` with the version the database holds.
//!
//! # Layout
//! - `connection`: the writer's connection and the statements it prepares once.
//! - `decide`: the requests decided in memory, and the rows of those written.
//! - `guarded`: a batch staged from the tip and checked by the server in one flight.
//! - `locked`: a batch decided under the lock from what the database holds.
//! - `pipeline`: the guarded batches in flight, oldest first.
//! - `rows`: column arrays for one multi-row `INSERT` (the import builds them too).

mod connection;
mod decide;
mod guarded;
mod locked;
mod pipeline;
mod rows;

pub(super) use locked::VERSIONS_SQL;
pub(super) use rows::{insert, Rows, INSERT_SQL};

use super::recent::Recent;
use super::{Counters, PostgresOptions};
use crate::store::handoff::{advance, AppendRequest, Command};
use crate::store::{AppendResult, Head, StoreError};
use connection::{ensure_connected, Connected};
use guarded::{Landed, Staged};
use locked::write_or_split;
use pipeline::{InFlight, Pipeline};
use projections::Position;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// The advisory lock key that serialises position assignment ("alertldg").
pub const APPEND_LOCK: i64 = 0x616c_6572_746c_6467;

/// A batch stops taking queued appends once it holds this many events.
const MAX_BATCH_EVENTS: usize = 10_000;

/// Runs the writer until `Close` or until every sender is gone.
pub(super) async fn run(
    options: PostgresOptions,
    mut commands: mpsc::Receiver<Command>,
    head: watch::Sender<Position>,
    counters: Arc<Counters>,
    recent: Arc<Recent>,
    sent: Arc<AtomicU64>,
) {
    let mut writer = Writer {
        pipeline: Pipeline::new(options.pipeline_depth),
        options,
        connected: None,
        tip: None,
        recent,
        sent,
        head,
        counters,
    };
    let mut close = None;
    loop {
        let landing = !writer.pipeline.is_empty();
        let accepting = writer.pipeline.has_room();
        let next = tokio::select! {
            biased;
            () = writer.pipeline.oldest_landed(), if landing => None,
            command = commands.recv(), if accepting => Some(command),
        };
        match next {
            None => writer.land().await,
            Some(Some(Command::Append(first))) => {
                let (batch, closing) = gather(first, &mut commands);
                writer.write(batch).await;
                if closing.is_some() {
                    close = closing;
                    break;
                }
            }
            Some(Some(Command::Close(done))) => {
                close = Some(done);
                break;
            }
            Some(None) => break,
        }
    }
    let refused = writer.drain().await;
    writer.write_locked(refused).await;
    if let Some(done) = close {
        let _ = done.send(());
    }
}

/// `first` and whatever else is queued behind it, up to [`MAX_BATCH_EVENTS`]; and a
/// `Close` if one was found on the way.
fn gather(
    first: AppendRequest,
    commands: &mut mpsc::Receiver<Command>,
) -> (Vec<AppendRequest>, Option<oneshot::Sender<()>>) {
    let mut events = first.events.len();
    let mut batch = vec![first];
    while events < MAX_BATCH_EVENTS {
        match commands.try_recv() {
            Ok(Command::Append(request)) => {
                events += request.events.len();
                batch.push(request);
            }
            Ok(Command::Close(done)) => return (batch, Some(done)),
            Err(_) => break,
        }
    }
    (batch, None)
}

/// The writer task's state.
struct Writer {
    options: PostgresOptions,
    connected: Option<Connected>,
    /// Where the log ends after this writer's last batch, committed or in flight, as
    /// long as no other writer can have appended since: what the next batch assumes.
    /// `None` when unknown (at start, after a refusal or a failure).
    tip: Option<Head>,
    pipeline: Pipeline,
    /// Committed events kept for reads: fed before anyone is answered or the head
    /// watch moves, so a reader the watch wakes finds them there.
    recent: Arc<Recent>,
    /// The last position of the newest batch sent staged from the tip: the listener
    /// leaves notifications up to there to this writer ([`super::notify`]).
    sent: Arc<AtomicU64>,
    head: watch::Sender<Position>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Sends `batch` staged from the tip, or else decides it under the lock once
    /// everything in flight has landed.
    async fn write(&mut self, batch: Vec<AppendRequest>) {
        if let Some(staged) = self.stage(&batch) {
            if let Ok(connected) = ensure_connected(&mut self.connected, &self.options).await {
                let hold = self.options.commit_delay;
                let (outcomes, tip, landing) = staged.into_flight(connected, hold);
                self.tip = Some(tip);
                self.sent.fetch_max(tip.position, Ordering::AcqRel);
                self.pipeline.send(batch, outcomes, landing).await;
                return;
            }
        }
        let mut requests = self.drain().await;
        requests.extend(batch);
        self.write_locked(requests).await;
    }

    /// `batch` staged from the tip, if the tip is known and no other writer's commit
    /// has been announced past it (the guard would refuse the batch).
    fn stage(&self, batch: &[AppendRequest]) -> Option<Staged> {
        let tip = self.tip?;
        if *self.head.borrow() > tip.position {
            return None;
        }
        guarded::stage(batch, tip)
    }

    /// Settles the oldest batch in flight; if it was refused, decides it and every
    /// later one again under the lock.
    async fn land(&mut self) {
        let Some((batch, landed)) = self.pipeline.land().await else {
            return;
        };
        if let Some(mut requests) = self.settle(batch, landed) {
            requests.extend(self.drain().await);
            self.write_locked(requests).await;
        }
    }

    /// Lands every batch in flight, answering those that committed; returns the
    /// requests of those refused, in order.
    async fn drain(&mut self) -> Vec<AppendRequest> {
        let mut refused = Vec::new();
        while let Some((batch, landed)) = self.pipeline.land().await {
            refused.extend(self.settle(batch, landed).into_iter().flatten());
        }
        refused
    }

    /// Answers a landed batch that committed; a refused one forgets the tip and hands
    /// its requests back, to be decided again under the lock.
    fn settle(&mut self, batch: InFlight, landed: Landed) -> Option<Vec<AppendRequest>> {
        match landed {
            Landed::Committed(rows) => {
                self.recent.extend(&rows);
                let results = batch.outcomes.into_iter().map(Ok).collect();
                self.acknowledge(batch.requests, results);
                None
            }
            Landed::Refused => {
                self.tip = None;
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                Some(batch.requests)
            }
        }
    }

    /// Decides `batch` under the lock from what the database holds, and answers it.
    /// Only while nothing is in flight.
    async fn write_locked(&mut self, batch: Vec<AppendRequest>) {
        if batch.is_empty() {
            return;
        }
        self.counters.locked.fetch_add(1, Ordering::Relaxed);
        let (results, tip) = match ensure_connected(&mut self.connected, &self.options).await {
            Ok(connected) => write_or_split(connected, &batch, &self.options).await,
            Err(err) => (batch.iter().map(|_| Err(err.clone())).collect(), None),
        };
        self.tip = tip;
        self.acknowledge(batch, results);
        // What it read under the lock is committed, and may be another instance's
        // commit whose notification the listener left to this writer.
        if let Some(tip) = tip {
            self.head
                .send_if_modified(|current| advance(current, tip.position));
        }
    }

    /// Answers a landed batch's callers and moves the head watch to its last position.
    fn acknowledge(&self, batch: Vec<AppendRequest>, results: Vec<Outcome>) {
        // Counted before anyone is answered, so a caller that reads the counters after
        // its append finds it there.
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        let mut last = 0;
        for (request, result) in batch.into_iter().zip(results) {
            if let Ok(written) = &result {
                last = last.max(written.last_position);
            }
            let _ = request.reply.send(result);
        }
        self.head.send_if_modified(|current| advance(current, last));
    }
}

/// One request's answer.
type Outcome = Result<AppendResult, StoreError>;
