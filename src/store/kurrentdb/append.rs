//! The writer task: one append at a time, so this instance never forks its own chain.
//!
//! Each append reads the stream's newest events (up to the idempotency window), runs
//! the shared [`append_check`] on them (its replay runs are consecutive revisions: our
//! positions have gaps), reads the chain tip, and appends with the exact stream state
//! it read. An `Any` append that lost a race to another writer is retried.

use super::mapping::{self, ChainTip};
use super::read::{last_record, read_stream_records, Record};
use super::KurrentOptions;
use crate::store::append_check::{self, Run, Stored, Verdict};
use crate::store::handoff::{advance, AppendRequest, Command};
use crate::store::{AppendResult, Direction, ExpectedVersion, StoreError};
use kurrentdb::{AppendToStreamOptions, Client, EventData};
use projections::Position;
use tokio::sync::{mpsc, watch};

/// The writer: one append at a time, so this instance never forks its own chain.
pub(super) async fn run_writer(
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
                    head.send_if_modified(|current| advance(current, done.last_position));
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

/// The shared append check against the stream's newest records (`newest_first`): the
/// request's ids among them, oldest first, with runs of consecutive revisions (our
/// positions have gaps). Ids older than the window, or in other streams, are not seen
/// (idempotency is per stream here).
fn check(
    request: append_check::Request<'_>,
    newest_first: &[Record],
) -> Result<Verdict, StoreError> {
    let ids: Vec<uuid::Uuid> = request.events.iter().map(|e| e.event_id).collect();
    let stored: Vec<Stored> = newest_first
        .iter()
        .rev()
        .filter(|record| ids.contains(&record.event_id))
        .map(|record| Stored {
            event_id: record.event_id,
            position: mapping::to_position(record.commit),
            stream_version: record.revision,
            in_stream: true,
        })
        .collect();
    append_check::check(
        request,
        append_check::Log {
            current: newest_first.first().map(|record| record.revision),
            // Never answered from: an append of no events is refused before the check.
            head: 0,
            stored: &stored,
            run: Run::Versions,
        },
    )
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
        let asked = append_check::Request {
            stream,
            expected: request.expected,
            events: &request.events,
        };
        let current = match check(asked, &newest)? {
            Verdict::Replay(result) => return Ok(result),
            Verdict::Write(current) => current,
        };
        // Always append with the exact state we read: the bodies name their versions.
        let state = mapping::to_stream_state(
            current.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact),
        );
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

#[cfg(test)]
mod tests;
