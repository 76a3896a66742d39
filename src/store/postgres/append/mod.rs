//! The writer task: group commit onto PostgreSQL.
//!
//! Appends from every caller of this instance queue up in front of one task, which
//! drains the queue into one transaction:
//!
//! 1. `pg_advisory_xact_lock(APPEND_LOCK)`: from here to commit, no other transaction
//!    (of this or any other instance) assigns positions.
//! 2. In later statements (so their snapshot includes everything committed before the
//!    lock was granted): the head position and hash, the last version of each stream
//!    written, and which of the event ids are stored already.
//! 3. Each request is decided in memory, in queue order, by the append check every
//!    backend shares ([`crate::store::append_check`]: conflict, idempotent replay,
//!    mismatch, write); a refused request does not abort the batch.
//! 4. One multi-row `INSERT`, `pg_notify` with the new head, `COMMIT`. Nobody is
//!    acknowledged before the commit returns.
//!
//! Steps 1–2 go to the server as one pipelined flight (`BEGIN`, the lock, the three
//! reads), and step 4 as a second one, all with statements prepared once per
//! connection: two round trips per batch plus the commit's WAL flush. The server runs
//! pipelined statements one after another, so the reads still start after the lock.
//!
//! The unique constraints stay the last word: if an insert still violates one (a
//! writer that bypassed the lock), the batch is rolled back and its requests are
//! retried one at a time, and a violation on `(stream, stream_version)` becomes a
//! `Conflict` with the version the database holds.
//!
//! # Layout
//! - `connection`: the writer's connection and the statements it prepares once.
//! - `decide`: the requests decided in memory, and the rows of those written.
//! - `locked`: a batch decided under the lock from what the database holds.
//! - `rows`: column arrays for one multi-row `INSERT` (the import builds them too).

mod connection;
mod decide;
mod locked;
mod rows;

pub(super) use locked::VERSIONS_SQL;
pub(super) use rows::{insert, Rows, INSERT_SQL};

use super::{Counters, PostgresOptions};
use crate::store::handoff::{advance, Command};
use crate::store::{AppendResult, StoreError};
use connection::{ensure_connected, Connected};
use locked::write_or_split;
use projections::Position;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

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
) {
    let mut client: Option<Connected> = None;
    while let Some(command) = commands.recv().await {
        let first = match command {
            Command::Append(request) => request,
            Command::Close(done) => {
                let _ = done.send(());
                return;
            }
        };
        let mut events = first.events.len();
        let mut batch = vec![first];
        let mut close = None;
        while events < MAX_BATCH_EVENTS {
            match commands.try_recv() {
                Ok(Command::Append(request)) => {
                    events += request.events.len();
                    batch.push(request);
                }
                Ok(Command::Close(done)) => {
                    close = Some(done);
                    break;
                }
                Err(_) => break,
            }
        }
        let results = match ensure_connected(&mut client, &options).await {
            Ok(client) => write_or_split(client, &batch, &options).await,
            Err(err) => batch.iter().map(|_| Err(err.clone())).collect(),
        };
        let mut last = 0;
        for (request, result) in batch.into_iter().zip(results) {
            if let Ok(written) = &result {
                last = last.max(written.last_position);
            }
            let _ = request.reply.send(result);
        }
        head.send_if_modified(|current| advance(current, last));
        counters.batches.fetch_add(1, Ordering::Relaxed);
        if let Some(done) = close {
            let _ = done.send(());
            return;
        }
    }
}

/// One request's answer.
type Outcome = Result<AppendResult, StoreError>;
