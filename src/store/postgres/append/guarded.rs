//! A batch decided from what the writer already knows, and checked by the database in
//! the same flight.
//!
//! After a commit the writer knows where the log ends (its own last position and
//! hash), and an append with an exact or `NoStream` expected version says which version
//! its stream is at. If both are still true, the batch can be decided and chained
//! without reading anything, and sent as one flight: `BEGIN`, the append lock, one
//! guarded `INSERT`, a notification, `COMMIT`. The lock is then held only while the
//! server runs those statements and flushes the commit, never across a round trip to
//! this process.
//!
//! The guard is in the `INSERT` itself (a one-time filter the server evaluates once,
//! after the lock is granted): the row at the assumed head must exist with the assumed
//! hash, and every stream assumed at version `v` must hold a row at `v`. Together with
//! the unique constraints (position, `(stream, stream_version)`, event id), which catch
//! anything written beyond what was assumed, the rows go in only if the log and every
//! stream end exactly where the writer assumed. Otherwise the `INSERT` writes nothing or
//! fails, the notification names no row, and the batch is refused as a whole, to be
//! decided again under the lock from what the database holds ([`super::locked`]).

use super::connection::Connected;
use super::decide::{decide, State};
use super::rows::Rows;
use super::APPEND_LOCK;
use crate::store::handoff::AppendRequest;
use crate::store::postgres::{to_pg, NOTIFY_CHANNEL};
use crate::store::{AppendResult, ExpectedVersion, Head};
use chrono::Utc;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;
use tokio_postgres::types::ToSql;

/// The rows of `$1 … $8` (as [`super::rows::INSERT_SQL`]), inserted only if the event
/// at position `$9` has hash `$10` (or `$9` is 0: the log was empty) and each stream of
/// `$11` holds a row at the version beside it in `$12`. Inserts nothing otherwise.
pub(super) const GUARDED_INSERT_SQL: &str = "INSERT INTO events
             (position, stream, stream_version, event_id, body, prev_hash, hash, recorded_at)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[],
                              $5::bytea[], $6::bytea[], $7::bytea[], $8::timestamptz[])
         WHERE ($9::bigint = 0
                OR EXISTS (SELECT 1 FROM events WHERE position = $9 AND hash = $10::bytea))
           AND NOT EXISTS (
               SELECT 1 FROM unnest($11::text[], $12::bigint[]) AS assumed(stream, version)
               WHERE NOT EXISTS (SELECT 1 FROM events e
                                 WHERE e.stream = assumed.stream
                                   AND e.stream_version = assumed.version))";

/// Notifies `$1` with `$2` only if the row at position `$3` with hash `$4` is there:
/// the batch's last row, inserted by this transaction (no other writer's row has its
/// hash). A refused batch announces nothing.
pub(super) const NOTIFY_WRITTEN_SQL: &str =
    "SELECT pg_notify($1, $2) FROM events WHERE position = $3 AND hash = $4";

/// Fault injection for tests: keeps the transaction, and so the lock, open on the
/// server before `COMMIT` ([`crate::store::postgres::PostgresOptions::commit_delay`]).
pub(super) const HOLD_SQL: &str = "SELECT pg_sleep($1)";

/// A batch decided and chained from what the writer assumed, ready to send.
pub(super) struct Staged {
    /// Each request's answer, valid once the batch commits.
    outcomes: Vec<AppendResult>,
    /// Where the log ends after this batch: what the next batch assumes.
    head: Head,
    guard: Guard,
    rows: Rows,
}

/// Decides `batch` assuming the log ends at `tip` and every stream is at the version
/// its first request expects. `None` when a request cannot be decided that way: an
/// `Any` append (its version is unknown), or one that would be refused or answered
/// without writing (a conflict within the batch, a re-sent or repeated id, no events).
/// Those batches go to the locked path, which decides from what the database holds.
pub(super) fn stage(batch: &[AppendRequest], tip: Head) -> Option<Staged> {
    let mut state = State {
        head: tip,
        versions: HashMap::new(),
        stored: HashMap::new(),
        recorded_at: Utc::now(),
        rows: Rows::default(),
    };
    let (mut assumed_streams, mut assumed_versions) = (Vec::new(), Vec::new());
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        if !state.versions.contains_key(&request.stream) {
            let version = match request.expected {
                ExpectedVersion::Any => return None,
                ExpectedVersion::NoStream => None,
                ExpectedVersion::Exact(version) => {
                    assumed_streams.push(request.stream.clone());
                    assumed_versions.push(i64::try_from(version).ok()?);
                    Some(version)
                }
            };
            state.versions.insert(request.stream.clone(), version);
        }
        let staged_before = state.rows.position.len();
        let result = decide(&mut state, request).ok()?;
        if state.rows.position.len() == staged_before {
            return None;
        }
        outcomes.push(result);
    }
    Some(Staged {
        outcomes,
        head: state.head,
        guard: Guard {
            head: tip,
            streams: assumed_streams,
            versions: assumed_versions,
        },
        rows: state.rows,
    })
}

/// Whether a sent batch committed.
pub(super) enum Landed {
    /// Every row is in and committed: the staged answers stand. The rows, for the
    /// events kept for reads ([`crate::store::postgres::recent`]).
    Committed(Rows),
    /// The guard or a constraint refused it, or the flight failed (its outcome may be
    /// unknown): nothing is acknowledged, and its requests are decided again under the
    /// lock, where a re-sent id that did commit is answered as the replay it is.
    Refused,
}

impl Staged {
    /// The batch's flight as one future, with the answers it stands for and where the
    /// log ends after it. Every statement is sent to the connection on the future's
    /// first poll (tokio-postgres queues a request when its future is first polled,
    /// and `join!` polls them in order), so the caller polls it once before it sends
    /// anything after it ([`super::pipeline`]).
    pub fn into_flight(
        self,
        connected: &Connected,
        hold: Option<Duration>,
    ) -> (Vec<AppendResult>, Head, BoxFuture<'static, Landed>) {
        let landing = flight(connected, self.rows, self.guard, self.head, hold);
        (self.outcomes, self.head, landing)
    }
}

/// What a batch staged without reading assumed of the log.
struct Guard {
    head: Head,
    streams: Vec<String>,
    versions: Vec<i64>,
}

fn flight(
    connected: &Connected,
    rows: Rows,
    guard: Guard,
    head: Head,
    hold: Option<Duration>,
) -> BoxFuture<'static, Landed> {
    let client = connected.client.clone();
    let statements = connected.statements.clone();
    let expected_rows = rows.position.len() as u64;
    let assumed_position = to_pg(guard.head.position);
    let assumed_hash = guard.head.hash.0.to_vec();
    let (streams, versions) = (guard.streams, guard.versions);
    let last_position = to_pg(head.position);
    let last_hash = head.hash.0.to_vec();
    let announced = head.position.to_string();
    let hold_secs = hold.map(|d| d.as_secs_f64());
    Box::pin(async move {
        let c = &*client;
        let s = &statements;
        let insert_params: [&(dyn ToSql + Sync); 12] = [
            &rows.position,
            &rows.stream,
            &rows.stream_version,
            &rows.event_id,
            &rows.body,
            &rows.prev_hash,
            &rows.hash,
            &rows.recorded_at,
            &assumed_position,
            &assumed_hash,
            &streams,
            &versions,
        ];
        let notify_params: [&(dyn ToSql + Sync); 4] =
            [&NOTIFY_CHANNEL, &announced, &last_position, &last_hash];
        let (begun, locked, inserted, notified, held, committed) = tokio::join!(
            c.execute(&s.begin, &[]),
            c.execute(&s.lock, &[&APPEND_LOCK]),
            c.execute(&s.guarded_insert, &insert_params),
            c.execute(&s.notify_written, &notify_params),
            async {
                match hold_secs {
                    Some(secs) => c.execute(&s.hold, &[&secs]).await.map(|_| 0),
                    None => Ok(0),
                }
            },
            c.execute(&s.commit, &[]),
        );
        // An aborted transaction's COMMIT answers ROLLBACK without an error, so every
        // statement's own answer counts.
        let all_in = inserted.as_ref().is_ok_and(|n| *n == expected_rows);
        if begun.is_ok()
            && locked.is_ok()
            && all_in
            && notified.is_ok()
            && held.is_ok()
            && committed.is_ok()
        {
            return Landed::Committed(rows);
        }
        if let Err(err) = inserted.as_ref() {
            tracing::debug!(error = %err, "guarded append refused; deciding again under the lock");
        }
        Landed::Refused
    })
}
