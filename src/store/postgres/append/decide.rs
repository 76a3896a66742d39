//! Deciding a batch's requests in memory against what the writer knows of the log,
//! and staging the rows of those that are written.

use super::rows::Rows;
use super::Outcome;
use crate::codec::BodyRef;
use crate::store::append_check::{self, Verdict};
use crate::store::handoff::AppendRequest;
use crate::store::{AppendResult, Head};
use chrono::{DateTime, Utc};
use projections::{Position, StreamVersion};
use std::collections::HashMap;
use uuid::Uuid;

/// Where an already-stored event id is.
#[derive(Clone)]
pub(super) struct Stored {
    pub position: Position,
    pub stream: String,
    pub stream_version: StreamVersion,
}

/// What the batch's transaction read under the lock, updated as requests are decided.
pub(super) struct State {
    pub head: Head,
    pub versions: HashMap<String, Option<StreamVersion>>,
    pub stored: HashMap<Uuid, Stored>,
    pub recorded_at: DateTime<Utc>,
    pub rows: Rows,
}

/// Decides one request against `state` ([`append_check::check`]) and stages its rows
/// if it is written.
pub(super) fn decide(state: &mut State, request: &AppendRequest) -> Outcome {
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
