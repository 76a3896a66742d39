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

use super::read::{decode_head, HEAD_SQL};
use super::{connect, pg_error, to_pg, Counters, PostgresOptions, NOTIFY_CHANNEL};
use crate::codec::{self, BodyRef};
use crate::store::append_check::{self, Verdict};
use crate::store::handoff::{advance, AppendRequest, Command};
use crate::store::{AppendResult, Head, StoreError};
use chrono::{DateTime, Utc};
use projections::{Position, StreamVersion};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, Statement};
use uuid::Uuid;

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

/// The writer's connection and its prepared statements.
struct Connected {
    client: Client,
    statements: Statements,
}

/// Every statement a batch runs, prepared once per connection (a statement sent as
/// text costs a second round trip to prepare it, every time).
struct Statements {
    begin: Statement,
    lock: Statement,
    head: Statement,
    versions: Statement,
    stored: Statement,
    insert: Statement,
    notify: Statement,
    commit: Statement,
}

async fn ensure_connected<'c>(
    connected: &'c mut Option<Connected>,
    options: &PostgresOptions,
) -> Result<&'c mut Connected, StoreError> {
    if connected.as_ref().is_none_or(|c| c.client.is_closed()) {
        *connected = None;
        let client = connect(&options.config).await?;
        let prepare = |sql: &'static str| client.prepare(sql);
        let (begin, lock, head, versions, stored, insert, notify, commit) = tokio::try_join!(
            prepare("BEGIN"),
            prepare("SELECT pg_advisory_xact_lock($1)"),
            prepare(HEAD_SQL),
            prepare(VERSIONS_SQL),
            prepare(STORED_SQL),
            prepare(INSERT_SQL),
            prepare("SELECT pg_notify($1, $2)"),
            prepare("COMMIT"),
        )
        .map_err(pg_error)?;
        let statements = Statements {
            begin,
            lock,
            head,
            versions,
            stored,
            insert,
            notify,
            commit,
        };
        *connected = Some(Connected { client, statements });
    }
    Ok(connected.as_mut().expect("just connected"))
}

/// The last version of each of `$1`'s streams (NULL for a new stream).
pub(super) const VERSIONS_SQL: &str =
    "SELECT s, (SELECT stream_version FROM events WHERE stream = s
                        ORDER BY stream_version DESC LIMIT 1)
             FROM unnest($1::text[]) AS s";

/// Where the event ids of `$1` are stored already.
const STORED_SQL: &str = "SELECT event_id, position, stream, stream_version FROM events
             WHERE event_id = ANY($1)";

/// One multi-row insert from column arrays.
pub(super) const INSERT_SQL: &str = "INSERT INTO events
             (position, stream, stream_version, event_id, body, prev_hash, hash, recorded_at)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[],
                              $5::bytea[], $6::bytea[], $7::bytea[], $8::timestamptz[])";

type Outcome = Result<AppendResult, StoreError>;

/// Writes the batch; on a unique violation, retries its requests one by one.
async fn write_or_split(
    client: &mut Connected,
    batch: &[AppendRequest],
    options: &PostgresOptions,
) -> Vec<Outcome> {
    match write_batch(client, batch, options).await {
        Ok(results) => results,
        Err(err) if unique_violation(&err).is_some() && batch.len() > 1 => {
            let mut results = Vec::with_capacity(batch.len());
            for request in batch {
                let one = std::slice::from_ref(request);
                results.push(match write_batch(client, one, options).await {
                    Ok(mut result) => result.remove(0),
                    Err(err) => Err(refusal(&client.client, request, err).await),
                });
            }
            results
        }
        Err(err) => {
            let err = refusal(&client.client, &batch[0], err).await;
            batch.iter().map(|_| Err(err.clone())).collect()
        }
    }
}

/// The constraint a unique violation names, if `err` is one.
fn unique_violation(err: &tokio_postgres::Error) -> Option<&str> {
    let db = err.as_db_error()?;
    (db.code() == &SqlState::UNIQUE_VIOLATION).then(|| db.constraint().unwrap_or(""))
}

/// The `StoreError` for a failed single-request batch.
async fn refusal(
    client: &Client,
    request: &AppendRequest,
    err: tokio_postgres::Error,
) -> StoreError {
    match unique_violation(&err) {
        Some("events_stream_version_key") => {
            let actual = client
                .query_opt(
                    "SELECT stream_version FROM events WHERE stream = $1
                     ORDER BY stream_version DESC LIMIT 1",
                    &[&request.stream],
                )
                .await
                .ok()
                .flatten()
                .map(|row| row.get::<_, i64>(0) as u64);
            StoreError::Conflict {
                stream: request.stream.clone(),
                expected: request.expected,
                actual,
            }
        }
        Some(_) => StoreError::IdempotencyMismatch {
            event_id: request.events.first().map_or(Uuid::nil(), |e| e.event_id),
        },
        None => pg_error(err),
    }
}

/// Where an already-stored event id is.
#[derive(Clone)]
struct Stored {
    position: Position,
    stream: String,
    stream_version: StreamVersion,
}

/// What the batch's transaction read under the lock, updated as requests are decided.
struct State {
    head: Head,
    versions: HashMap<String, Option<StreamVersion>>,
    stored: HashMap<Uuid, Stored>,
    recorded_at: DateTime<Utc>,
    rows: Rows,
}

/// Column arrays for one `INSERT … SELECT * FROM unnest(…)`.
#[derive(Default)]
pub(super) struct Rows {
    pub position: Vec<i64>,
    pub stream: Vec<String>,
    pub stream_version: Vec<i64>,
    pub event_id: Vec<Uuid>,
    pub body: Vec<Vec<u8>>,
    pub prev_hash: Vec<Vec<u8>>,
    pub hash: Vec<Vec<u8>>,
    pub recorded_at: Vec<DateTime<Utc>>,
}

async fn write_batch(
    connected: &mut Connected,
    batch: &[AppendRequest],
    options: &PostgresOptions,
) -> Result<Vec<Outcome>, tokio_postgres::Error> {
    let Connected { client, statements } = connected;
    let mut state = match read_under_lock(client, statements, batch).await {
        Ok(state) => state,
        Err(err) => {
            // End whatever the failed flight left open; the error is what matters.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err);
        }
    };
    let results: Vec<Outcome> = batch
        .iter()
        .map(|request| decide(&mut state, request))
        .collect();
    if state.rows.position.is_empty() {
        client.execute(&statements.commit, &[]).await?;
        return Ok(results);
    }
    let head = state.head.position.to_string();
    let notify_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&NOTIFY_CHANNEL, &head];
    let rows = &state.rows;
    if let Some(delay) = options.commit_delay {
        // Tests only: hold the lock (and the uncommitted rows) before committing.
        let written = futures_util::future::try_join(
            insert(&*client, &statements.insert, rows),
            client.execute(&statements.notify, &notify_params),
        )
        .await;
        if let Err(err) = written {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err);
        }
        tokio::time::sleep(delay).await;
        client.execute(&statements.commit, &[]).await?;
        return Ok(results);
    }
    // One flight: if the insert fails, the notify fails with it and COMMIT ends the
    // aborted transaction as a rollback; the insert's error is the answer.
    let (inserted, notified, committed) = tokio::join!(
        insert(&*client, &statements.insert, rows),
        client.execute(&statements.notify, &notify_params),
        client.execute(&statements.commit, &[]),
    );
    inserted?;
    notified?;
    committed?;
    Ok(results)
}

/// Opens the transaction, takes the append lock, then reads the head, the streams'
/// versions and the stored ids: one pipelined flight. The reads are separate
/// statements after the lock (executed in order), so their snapshot is taken after
/// the lock was granted.
async fn read_under_lock(
    client: &Client,
    statements: &Statements,
    batch: &[AppendRequest],
) -> Result<State, tokio_postgres::Error> {
    let streams: Vec<&str> = batch
        .iter()
        .map(|r| r.stream.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let ids: Vec<Uuid> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id))
        .collect();
    let (_, _, head, versions, stored) = futures_util::future::try_join5(
        client.execute(&statements.begin, &[]),
        client.execute(&statements.lock, &[&APPEND_LOCK]),
        client.query_opt(&statements.head, &[]),
        client.query(&statements.versions, &[&streams]),
        client.query(&statements.stored, &[&ids]),
    )
    .await?;
    let head = match head.as_ref().map(decode_head) {
        Some(Ok(head)) => head,
        Some(Err(_)) | None => Head {
            position: 0,
            hash: projections::Hash::GENESIS,
        },
    };
    Ok(State {
        head,
        versions: versions
            .iter()
            .map(|row| (row.get(0), row.get::<_, Option<i64>>(1).map(|v| v as u64)))
            .collect(),
        stored: stored
            .iter()
            .map(|row| {
                let stored = Stored {
                    position: row.get::<_, i64>(1) as u64,
                    stream: row.get(2),
                    stream_version: row.get::<_, i64>(3) as u64,
                };
                (row.get(0), stored)
            })
            .collect(),
        recorded_at: Utc::now(),
        rows: Rows::default(),
    })
}

/// Decides one request against `state` ([`append_check::check`]) and stages its rows
/// if it is written.
fn decide(state: &mut State, request: &AppendRequest) -> Outcome {
    let stored: Vec<append_check::Stored> = request
        .events
        .iter()
        .filter_map(|event| {
            let stored = state.stored.get(&event.event_id)?;
            Some(append_check::Stored {
                event_id: event.event_id,
                position: stored.position,
                stream_version: stored.stream_version,
                in_stream: stored.stream == request.stream,
            })
        })
        .collect();
    let verdict = append_check::check(
        append_check::Request {
            stream: &request.stream,
            expected: request.expected,
            events: &request.events,
        },
        append_check::Log {
            current: state.versions.get(&request.stream).copied().flatten(),
            head: state.head.position,
            stored: &stored,
            run: append_check::Run::Positions,
        },
    )?;
    match verdict {
        Verdict::Replay(result) => Ok(result),
        Verdict::Write(current) => stage(state, request, current),
    }
}

/// Assigns positions, versions and hashes to the request's events and stages them.
fn stage(state: &mut State, request: &AppendRequest, current: Option<StreamVersion>) -> Outcome {
    let first_position = state.head.position + 1;
    let mut version = current.map_or(0, |v| v + 1);
    let mut head = state.head;
    let mut staged = Rows::default();
    for event in &request.events {
        let position = head.position + 1;
        let hash = staged.push(
            head.hash,
            &BodyRef {
                event_id: event.event_id,
                stream: &request.stream,
                stream_version: version,
                position,
                recorded_at: state.recorded_at,
                event_type: event.event.event_type(),
                schema_version: event.event.schema_version(),
                metadata: &event.metadata,
                event: &event.event,
            },
        )?;
        head = Head { position, hash };
        version += 1;
    }
    for (i, event) in request.events.iter().enumerate() {
        let stored = Stored {
            position: first_position + i as u64,
            stream: request.stream.clone(),
            stream_version: staged.stream_version[i] as u64,
        };
        state.stored.insert(event.event_id, stored);
    }
    state.rows.extend(staged);
    state.head = head;
    let last_version = version - 1;
    state
        .versions
        .insert(request.stream.clone(), Some(last_version));
    Ok(AppendResult {
        first_position,
        last_position: head.position,
        stream_version: last_version,
    })
}

impl Rows {
    /// Encodes one event's body, chains it to `prev` and stages its row; returns its
    /// chain hash. Appends and imports build rows the same way, so their bodies and
    /// hashes are the same bytes.
    pub(super) fn push(
        &mut self,
        prev: projections::Hash,
        fields: &BodyRef<'_>,
    ) -> Result<projections::Hash, StoreError> {
        let mut body = Vec::with_capacity(512);
        codec::encode_body(&mut body, fields)?;
        let hash = codec::chain_hash(&prev, &body);
        self.position.push(to_pg(fields.position));
        self.stream.push(fields.stream.to_owned());
        self.stream_version.push(to_pg(fields.stream_version));
        self.event_id.push(fields.event_id);
        self.body.push(body);
        self.prev_hash.push(prev.0.to_vec());
        self.hash.push(hash.0.to_vec());
        self.recorded_at.push(fields.recorded_at);
        Ok(hash)
    }

    fn extend(&mut self, other: Rows) {
        self.position.extend(other.position);
        self.stream.extend(other.stream);
        self.stream_version.extend(other.stream_version);
        self.event_id.extend(other.event_id);
        self.body.extend(other.body);
        self.prev_hash.extend(other.prev_hash);
        self.hash.extend(other.hash);
        self.recorded_at.extend(other.recorded_at);
    }
}

/// Inserts `rows` with `statement` ([`INSERT_SQL`], prepared on `client`'s
/// connection); `sql` text works too (the import's one-off transaction).
pub(super) async fn insert<C, T>(
    client: &C,
    statement: &T,
    rows: &Rows,
) -> Result<u64, tokio_postgres::Error>
where
    C: GenericClient + Sync,
    T: tokio_postgres::ToStatement + Sync + Send + ?Sized,
{
    client
        .execute(
            statement,
            &[
                &rows.position,
                &rows.stream,
                &rows.stream_version,
                &rows.event_id,
                &rows.body,
                &rows.prev_hash,
                &rows.hash,
                &rows.recorded_at,
            ],
        )
        .await
}
