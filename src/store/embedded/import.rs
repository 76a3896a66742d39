//! Import of exported events into an empty (or matching) embedded log: each event is
//! appended at its original stream version with its original id, metadata and
//! `recorded_at`, so the record bytes, and therefore the hash chain, come out the same.
//!
//! Appends are sent to the writer in order without waiting for each one (the writer
//! takes its queue in order, so positions follow the input), which lets the writer
//! batch many of them into one write and one `fdatasync`.

use super::writer::{AppendRequest, Command};
use super::EmbeddedStore;
use crate::store::{ExpectedVersion, NewEvent, StoreError};
use projections::{Position, RecordedEvent};
use tokio::sync::oneshot;

impl EmbeddedStore {
    /// Appends `events` (consecutive positions continuing the log) exactly as they
    /// were recorded. Returns the last position written. Fails, writing nothing more,
    /// at the first event whose position or stream version does not continue the log.
    pub async fn import(&self, events: Vec<RecordedEvent>) -> Result<Position, StoreError> {
        self.shared.check_open()?;
        let mut pending = Vec::new();
        let mut last = 0;
        for run in runs(&events) {
            let first = &run[0];
            let expected = match first.stream_version {
                0 => ExpectedVersion::NoStream,
                version => ExpectedVersion::Exact(version - 1),
            };
            let (reply, response) = oneshot::channel();
            let events = run
                .iter()
                .map(|e| NewEvent {
                    event_id: e.event_id,
                    event: e.event.clone(),
                    metadata: e.metadata.clone(),
                })
                .collect();
            let request = AppendRequest::new(
                first.stream.clone(),
                expected,
                events,
                Some(first.recorded_at),
                reply,
            )?;
            self.commands
                .send(Command::Append(request))
                .await
                .map_err(|_| StoreError::Closed)?;
            pending.push((first.position, run[run.len() - 1].position, response));
        }
        for (first, end, response) in pending {
            let result = response.await.map_err(|_| StoreError::Closed)??;
            if result.first_position != first || result.last_position != end {
                return Err(StoreError::Decode {
                    position: first,
                    reason: format!(
                        "imported at positions {}..={} instead of {first}..={end}: the input does not continue this log",
                        result.first_position, result.last_position
                    ),
                });
            }
            last = end;
        }
        Ok(last)
    }
}

/// Splits events into runs that were one append's worth: same stream, same
/// `recorded_at`, consecutive positions and versions.
fn runs(events: &[RecordedEvent]) -> Vec<&[RecordedEvent]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=events.len() {
        let ends = i == events.len() || {
            let (a, b) = (&events[i - 1], &events[i]);
            a.stream != b.stream
                || a.recorded_at != b.recorded_at
                || b.position != a.position + 1
                || b.stream_version != a.stream_version + 1
        };
        if ends {
            out.push(&events[start..i]);
            start = i;
        }
    }
    out
}
