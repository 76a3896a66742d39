//! The append check every backend runs before it writes: an idempotent replay, a
//! reused event id, the expected version. Pure: each backend looks up what it needs
//! (the stream's last version, the head, where the request's ids are stored already)
//! in its own way, and [`check`] decides.
//!
//! The rule, in order:
//! 1. An event id given twice in one append is an [`StoreError::IdempotencyMismatch`].
//! 2. If any of the ids is stored already, the append is a replay: when every id is
//!    stored, in this stream, as one run in the request's order, the answer is the
//!    original result and nothing is written; otherwise it is an
//!    `IdempotencyMismatch` naming the first stored id found. The expected version is
//!    not checked for a replay: a retry succeeds whatever it expected.
//! 3. The stream's last version must match the expected version, or the append is a
//!    [`StoreError::Conflict`].
//! 4. An append of no events writes nothing and answers `head + 1 ..= head`.
//! 5. Otherwise the events are written after the stream's last version.

use super::{AppendResult, ExpectedVersion, NewEvent, StoreError};
use projections::{Position, StreamVersion};
use std::collections::HashSet;
use uuid::Uuid;

/// The append being checked.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The stream written to.
    pub stream: &'a str,
    /// What the writer believes the stream's last version to be.
    pub expected: ExpectedVersion,
    /// The events, in order.
    pub events: &'a [NewEvent],
}

/// Where one of the request's event ids is stored already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// The id.
    pub event_id: Uuid,
    /// Its global position.
    pub position: Position,
    /// Its version in the stream that holds it.
    pub stream_version: StreamVersion,
    /// Whether that stream is the one the request appends to.
    pub in_stream: bool,
}

/// How a backend tells that stored events were written as one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Positions are gap-free (embedded, PostgreSQL): one append's events hold
    /// consecutive positions.
    Positions,
    /// Positions have gaps (KurrentDB commit positions): consecutive stream versions.
    Versions,
}

/// What the backend knows of the log when it checks a request.
#[derive(Debug, Clone, Copy)]
pub struct Log<'a> {
    /// The stream's last version (`None`: no stream).
    pub current: Option<StreamVersion>,
    /// The log's last position (0: empty).
    pub head: Position,
    /// The request's ids that are stored already, in the order the backend found
    /// them; a mismatch names the first.
    pub stored: &'a [Stored],
    /// How a run of stored events is recognised.
    pub run: Run,
}

/// The verdict on one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write the events; the stream's current last version (`None`: no stream).
    Write(Option<StreamVersion>),
    /// Write nothing and answer with this result (the original one for a replay).
    Replay(AppendResult),
}

/// Decides whether `request` is written, replayed or refused, against `log`.
pub fn check(request: Request<'_>, log: Log<'_>) -> Result<Verdict, StoreError> {
    if let Some(event_id) = first_duplicate(request.events) {
        return Err(StoreError::IdempotencyMismatch { event_id });
    }
    if !log.stored.is_empty() {
        return replay(request, log.stored, log.run);
    }
    let current = log.current;
    if !expected_matches(request.expected, current) {
        return Err(StoreError::Conflict {
            stream: request.stream.to_owned(),
            expected: request.expected,
            actual: current,
        });
    }
    if request.events.is_empty() {
        return Ok(Verdict::Replay(AppendResult {
            first_position: log.head + 1,
            last_position: log.head,
            stream_version: current.unwrap_or(0),
        }));
    }
    Ok(Verdict::Write(current))
}

/// Whether a stream whose last version is `current` is at `expected`.
pub fn expected_matches(expected: ExpectedVersion, current: Option<StreamVersion>) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => current.is_none(),
        ExpectedVersion::Exact(version) => current == Some(version),
    }
}

/// The first id that the request gives twice.
fn first_duplicate(events: &[NewEvent]) -> Option<Uuid> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .map(|event| event.event_id)
        .find(|id| !seen.insert(*id))
}

/// Answers a re-append: every id stored, in this stream, as one run in order.
fn replay(request: Request<'_>, stored: &[Stored], run: Run) -> Result<Verdict, StoreError> {
    let first = stored[0];
    let same = stored.len() == request.events.len()
        && stored
            .iter()
            .zip(request.events)
            .enumerate()
            .all(|(i, (s, event))| {
                let step = match run {
                    Run::Positions => s.position == first.position + i as u64,
                    Run::Versions => s.stream_version == first.stream_version + i as u64,
                };
                s.event_id == event.event_id && s.in_stream && step
            });
    if !same {
        return Err(StoreError::IdempotencyMismatch {
            event_id: first.event_id,
        });
    }
    let last = stored[stored.len() - 1];
    tracing::debug!(
        stream = request.stream,
        "re-sent append; returning the original result"
    );
    Ok(Verdict::Replay(AppendResult {
        first_position: first.position,
        last_position: last.position,
        stream_version: last.stream_version,
    }))
}

#[cfg(test)]
mod tests;
