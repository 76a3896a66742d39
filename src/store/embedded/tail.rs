//! The newest durable events, kept in memory as the writer recorded them.
//!
//! Every follower of the log (the views, the scheduler, the subscription frames, the
//! Merkle tree) reads each new batch right after it became durable. Served from the
//! files, each of those reads is a hop to a blocking thread, a file read and a decode
//! of every body; served from here, it is a copy under a short lock. The writer builds
//! each [`RecordedEvent`] from the request it encoded (the same values the body holds,
//! so a decode of the file gives an equal event: `tests/view_file/tail.rs` holds them
//! equal) and pushes a batch only after its `fdatasync`, before the head moves, so the
//! tail never holds anything a crash could take back. Reads that start before the
//! oldest kept event go to the files as before.

use projections::{Hash, Position, RecordedEvent};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Events kept at most (the newest): enough for a follower a little behind to still
/// read from memory (a few hundred milliseconds of the heaviest ingest).
pub const TAIL_EVENTS: usize = 8192;

/// Encoded body bytes kept at most: large events keep fewer in memory (the in-memory
/// event takes about twice its body).
pub const TAIL_BYTES: usize = 2 * 1024 * 1024;

/// The newest durable events, in position order and gap-free.
pub(super) struct Tail {
    kept: Mutex<Kept>,
    capacity: usize,
}

#[derive(Default)]
struct Kept {
    /// Each event with its body's encoded length.
    events: VecDeque<(RecordedEvent, usize)>,
    bytes: usize,
}

impl Tail {
    pub(super) fn new(capacity: usize) -> Tail {
        Tail {
            kept: Mutex::default(),
            capacity,
        }
    }

    /// Appends a durable batch (positions following the newest kept; each event with
    /// its body's encoded length), keeping at most the capacity and [`TAIL_BYTES`] (at
    /// least one event). A batch that does not follow (the writer's head was moved by
    /// something else) empties the tail first, so it stays gap-free. Returns the events
    /// it no longer keeps (the oldest, and those of a batch too large to keep whole),
    /// so the caller decides where their memory is freed.
    #[must_use = "the evicted events are handed back to be dropped elsewhere"]
    pub(super) fn push(
        &self,
        mut batch: Vec<(RecordedEvent, usize)>,
    ) -> Vec<(RecordedEvent, usize)> {
        let kept_of_batch = self.newest_that_fit(&batch);
        let mut evicted: Vec<_> = batch.drain(..batch.len() - kept_of_batch).collect();
        let mut kept = self.lock();
        let follows = match (kept.events.back(), batch.first()) {
            (Some((last, _)), Some((first, _))) => first.position == last.position + 1,
            _ => true,
        };
        if !follows {
            evicted.extend(std::mem::take(&mut *kept).events);
        }
        for (event, len) in batch {
            kept.bytes += len;
            kept.events.push_back((event, len));
        }
        while kept.events.len() > self.capacity
            || (kept.bytes > TAIL_BYTES && kept.events.len() > 1)
        {
            if let Some((event, len)) = kept.events.pop_front() {
                kept.bytes -= len;
                evicted.push((event, len));
            }
        }
        evicted
    }

    /// How many of `batch`'s newest events the tail could hold on their own.
    fn newest_that_fit(&self, batch: &[(RecordedEvent, usize)]) -> usize {
        let (mut count, mut bytes) = (0, 0);
        for (_, len) in batch.iter().rev() {
            if count == self.capacity || (count > 0 && bytes + len > TAIL_BYTES) {
                break;
            }
            count += 1;
            bytes += len;
        }
        count
    }

    /// Up to `limit` events from `from`, if the tail holds `from` (or `from` is just
    /// past its newest event: then nothing is newer). `None`: read the files.
    pub(super) fn read(&self, from: Position, limit: usize) -> Option<Vec<RecordedEvent>> {
        let kept = self.lock();
        let skip = offset_of(&kept.events, from)?;
        Some(
            kept.events
                .range(skip..)
                .take(limit)
                .map(|(event, _)| event.clone())
                .collect(),
        )
    }

    /// The positions and chain hashes of up to `limit` events after `after`, like
    /// [`Tail::read`].
    pub(super) fn hashes_after(
        &self,
        after: Position,
        limit: usize,
    ) -> Option<Vec<(Position, Hash)>> {
        let kept = self.lock();
        let skip = offset_of(&kept.events, after + 1)?;
        Some(
            kept.events
                .range(skip..)
                .take(limit)
                .map(|(event, _)| (event.position, event.hash))
                .collect(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Where `from` is in `events`, if they hold it or it is just past the newest.
fn offset_of(events: &VecDeque<(RecordedEvent, usize)>, from: Position) -> Option<usize> {
    let first = events.front()?.0.position;
    let next = events.back()?.0.position + 1;
    (first..=next)
        .contains(&from.max(1))
        .then(|| (from.max(1) - first) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use projections::{Event, Metadata};
    use uuid::Uuid;

    fn events(
        positions: std::ops::RangeInclusive<Position>,
        len: usize,
    ) -> Vec<(RecordedEvent, usize)> {
        positions
            .map(|position| {
                let event = RecordedEvent {
                    event_id: Uuid::from_u64_pair(0, position),
                    stream: "s".into(),
                    stream_version: position - 1,
                    position,
                    recorded_at: chrono::DateTime::UNIX_EPOCH,
                    schema_version: 1,
                    metadata: Metadata::default(),
                    event: Event::NoteAdded {
                        alert_id: projections::ids::AlertId(Uuid::nil()),
                        text: String::new(),
                    },
                    prev_hash: Hash::GENESIS,
                    hash: Hash::GENESIS,
                };
                (event, len)
            })
            .collect()
    }

    fn positions(events: &[(RecordedEvent, usize)]) -> Vec<Position> {
        events.iter().map(|(e, _)| e.position).collect()
    }

    fn kept(tail: &Tail) -> Vec<Position> {
        tail.lock().events.iter().map(|(e, _)| e.position).collect()
    }

    #[test]
    fn the_oldest_events_beyond_the_capacity_are_handed_back_in_order() {
        let tail = Tail::new(4);
        assert!(tail.push(events(1..=3, 10)).is_empty());
        assert_eq!(positions(&tail.push(events(4..=6, 10))), vec![1, 2]);
        assert_eq!(kept(&tail), vec![3, 4, 5, 6]);
    }

    #[test]
    fn a_batch_larger_than_the_tail_keeps_its_newest_and_hands_back_the_rest() {
        let tail = Tail::new(4);
        assert!(tail.push(events(1..=2, 10)).is_empty());
        let evicted = tail.push(events(3..=9, 10));
        assert_eq!(positions(&evicted), vec![3, 4, 5, 1, 2]);
        assert_eq!(kept(&tail), vec![6, 7, 8, 9]);
    }

    #[test]
    fn the_byte_limit_keeps_as_many_newest_as_fit_and_at_least_one() {
        let tail = Tail::new(100);
        let evicted = tail.push(events(1..=5, TAIL_BYTES / 2));
        assert_eq!(positions(&evicted), vec![1, 2, 3]);
        assert_eq!(kept(&tail), vec![4, 5]);
        let evicted = tail.push(events(6..=6, TAIL_BYTES * 2));
        assert_eq!(positions(&evicted), vec![4, 5]);
        assert_eq!(kept(&tail), vec![6]);
    }

    #[test]
    fn a_batch_that_does_not_follow_replaces_everything_kept() {
        let tail = Tail::new(8);
        assert!(tail.push(events(1..=3, 10)).is_empty());
        let evicted = tail.push(events(10..=11, 10));
        assert_eq!(positions(&evicted), vec![1, 2, 3]);
        assert_eq!(kept(&tail), vec![10, 11]);
        assert!(tail.read(3, 10).is_none(), "a gap is never served");
    }
}
