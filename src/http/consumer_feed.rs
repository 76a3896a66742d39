//! What one member of a consumer group is handed: the events of the partitions it
//! holds, in log order, from the shared [`FrameRing`] when it holds them and from the
//! log otherwise (the same switch as `/v1/subscribe`, so neither way opens a gap).
//!
//! Each batch is planned and recorded through [`Members`](crate::app::members): the
//! plan says which partitions the member may be handed and from where; after reading,
//! only the events of partitions it still holds are handed, and what was handed is
//! recorded under the same lock that moves partitions between members, so an event is
//! never with two members at once.

use super::frames::{Frame, FrameRing, Visit};
use crate::app::members::Plan;
use crate::app::{App, AppError};
use bytes::Bytes;
use projections::ids::MemberId;
use projections::views::consumers::is_group_stream;
use projections::views::ConsumerGroupView;
use projections::Position;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Events read from the log per page while the member is behind the ring.
const LOG_PAGE: usize = 512;

/// How often a member with nothing to do looks again, even if the log did not move:
/// partitions can come to it when another member acknowledges or times out.
pub const RECHECK: Duration = Duration::from_millis(200);

/// One event handed to a member.
pub struct Handed {
    /// Its position.
    pub position: Position,
    /// Its partition in the group.
    pub partition: u16,
    /// Its whole SSE frame.
    pub frame: Bytes,
    /// Its recorded event as JSON.
    pub data: Bytes,
}

impl Handed {
    fn of(frame: &Frame, partition: u16) -> Handed {
        Handed {
            position: frame.position,
            partition,
            frame: frame.bytes.clone(),
            data: frame.data(),
        }
    }
}

/// A batch the member was handed, and how far the log was looked at for it.
pub struct Batch {
    /// The events, in log order (possibly none: everything looked at was for others).
    pub events: Vec<Handed>,
    /// The log was looked at up to here.
    pub read_to: Position,
}

/// A member's reader. Its membership is held by the request (see `consumers.rs`).
pub struct MemberFeed {
    pub app: App,
    pub ring: Arc<FrameRing>,
    pub newest: watch::Receiver<Position>,
    pub group: ConsumerGroupView,
    pub member: MemberId,
}

impl MemberFeed {
    /// The next batch, up to `max` events; `None` when there is nothing to hand now
    /// (the member holds no partition, or nothing the group reads came after its
    /// cursor).
    ///
    /// The batch's `read_to` is the last position looked at outside consumer-group
    /// streams: a group's own checkpoint events are passed over only together with a
    /// later event it could read, so acknowledging an idle page moves nothing and
    /// writes nothing (else each acknowledgement would be a new position to
    /// acknowledge).
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Batch>, AppError> {
        let now = Instant::now();
        let plan = self.app.members.plan(&self.group.name, &self.member, now);
        let Some(cursor) = plan.cursor() else {
            return Ok(None);
        };
        let group = &self.group;
        let mut read_to = cursor;
        let visit = self.ring.visit(cursor, max, |frame| {
            if !is_group_stream(&frame.stream) {
                read_to = frame.position;
            }
            wanted(
                group,
                &plan,
                &frame.stream,
                frame.event_type,
                frame.position,
            )
            .map(|partition| Handed::of(frame, partition))
        });
        let mut events = match visit {
            Visit::Nothing => return Ok(None),
            Visit::Visited { kept, .. } => kept,
            Visit::Behind => match self.read_log(cursor, &plan, max).await? {
                Some((events, to)) => {
                    read_to = to;
                    events
                }
                None => return Ok(None),
            },
        };
        if read_to == cursor {
            return Ok(None);
        }
        let handed: Vec<(u16, Position)> =
            events.iter().map(|e| (e.partition, e.position)).collect();
        let kept = self
            .app
            .members
            .handed(&group.name, &self.member, &plan, read_to, &handed);
        events.retain(|e| kept.contains(&e.partition));
        Ok(Some(Batch { events, read_to }))
    }

    /// Reads a page of the log after `cursor` and encodes what the member is handed,
    /// with the last position looked at outside consumer-group streams.
    async fn read_log(
        &self,
        cursor: Position,
        plan: &Plan,
        max: usize,
    ) -> Result<Option<(Vec<Handed>, Position)>, AppError> {
        let page = self.app.store.read_all(cursor + 1, LOG_PAGE).await?;
        if page.is_empty() {
            return Ok(None);
        }
        let mut events = Vec::new();
        let mut read_to = cursor;
        for event in &page {
            if events.len() >= max {
                break;
            }
            let stream = event.stream.as_str();
            if !is_group_stream(stream) {
                read_to = event.position;
            }
            let Some(partition) = wanted(
                &self.group,
                plan,
                stream,
                event.event.event_type(),
                event.position,
            ) else {
                continue;
            };
            let frame = Frame::encode(event).map_err(|err| {
                AppError::Internal(format!("cannot encode event {}: {err}", event.position))
            })?;
            events.push(Handed::of(&frame, partition));
        }
        Ok(Some((events, read_to)))
    }
}

/// The partition of an event the member is to be handed, if it is.
fn wanted(
    group: &ConsumerGroupView,
    plan: &Plan,
    stream: &str,
    event_type: &str,
    position: Position,
) -> Option<u16> {
    if !group.reads(stream, event_type) {
        return None;
    }
    let partition = group.partition_of(stream);
    plan.wants(partition, position).then_some(partition)
}
