//! A batch decided under the append lock from what the database holds.

use super::connection::{Connected, Statements};
use super::decide::{decide, State, Stored};
use super::rows::{insert, Rows};
use super::{Outcome, APPEND_LOCK};
use crate::store::handoff::AppendRequest;
use crate::store::postgres::read::decode_head;
use crate::store::postgres::{pg_error, PostgresOptions, NOTIFY_CHANNEL};
use crate::store::{Head, StoreError};
use chrono::Utc;
use std::collections::HashSet;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;
use uuid::Uuid;

/// The last version of each of `$1`'s streams (NULL for a new stream).
pub(in crate::store::postgres) const VERSIONS_SQL: &str =
    "SELECT s, (SELECT stream_version FROM events WHERE stream = s
                        ORDER BY stream_version DESC LIMIT 1)
             FROM unnest($1::text[]) AS s";

/// Where the event ids of `$1` are stored already.
pub(super) const STORED_SQL: &str = "SELECT event_id, position, stream, stream_version FROM events
             WHERE event_id = ANY($1)";

/// Writes the batch; on a unique violation, retries its requests one by one. Also
/// returns where the log ended when the batch committed, if that is known (not after
/// a failure or a split).
pub(super) async fn write_or_split(
    client: &Connected,
    batch: &[AppendRequest],
    options: &PostgresOptions,
) -> (Vec<Outcome>, Option<Head>) {
    match write_batch(client, batch, options).await {
        Ok((results, head)) => (results, Some(head)),
        Err(err) if unique_violation(&err).is_some() && batch.len() > 1 => {
            let mut results = Vec::with_capacity(batch.len());
            for request in batch {
                let one = std::slice::from_ref(request);
                results.push(match write_batch(client, one, options).await {
                    Ok((mut result, _)) => result.remove(0),
                    Err(err) => Err(refusal(&client.client, request, err).await),
                });
            }
            (results, None)
        }
        Err(err) => {
            let err = refusal(&client.client, &batch[0], err).await;
            (batch.iter().map(|_| Err(err.clone())).collect(), None)
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

async fn write_batch(
    connected: &Connected,
    batch: &[AppendRequest],
    options: &PostgresOptions,
) -> Result<(Vec<Outcome>, Head), tokio_postgres::Error> {
    let client: &Client = &connected.client;
    let statements = &connected.statements;
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
        return Ok((results, state.head));
    }
    let head = state.head.position.to_string();
    let notify_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&NOTIFY_CHANNEL, &head];
    let rows = &state.rows;
    if let Some(delay) = options.commit_delay {
        // Tests only: hold the lock (and the uncommitted rows) before committing.
        let written = futures_util::future::try_join(
            insert(client, &statements.insert, rows),
            client.execute(&statements.notify, &notify_params),
        )
        .await;
        if let Err(err) = written {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err);
        }
        tokio::time::sleep(delay).await;
        client.execute(&statements.commit, &[]).await?;
        return Ok((results, state.head));
    }
    // One flight: if the insert fails, the notify fails with it and COMMIT ends the
    // aborted transaction as a rollback; the insert's error is the answer.
    let (inserted, notified, committed) = tokio::join!(
        insert(client, &statements.insert, rows),
        client.execute(&statements.notify, &notify_params),
        client.execute(&statements.commit, &[]),
    );
    inserted?;
    notified?;
    committed?;
    Ok((results, state.head))
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
