//! The newest durable events, kept in memory as the writer recorded them.
//!
//! Every follower of the log (the views, the scheduler, the subscription frames, the
//! Merkle tree) reads each new batch right after it became durable. Served from the
//! files, each of those reads is a hop to a blocking thread, a file read and a decode
//! of every body; served from here, it is a copy under a short lock. The writer builds
//! each [`RecordedEvent`] from the request it encoded (the same values the body holds,
//! so a decode of the file gives an equal event: `tail_tests` holds them equal) and
//! pushes a batch only after its `fdatasync`, before the head moves, so the tail never
//! holds anything a crash could take back. Reads that start before the oldest kept
//! event go to the files as before.

use projections::{Hash, Position, RecordedEvent};
use std::collections::VecDeque;
use std::sync::Mutex;

/// Events kept (the newest): a few batches of the largest size the writer commits, so
/// a follower a little behind still reads from memory.
pub const TAIL_EVENTS: usize = 8192;

/// The newest durable events, in position order and gap-free.
pub(super) struct Tail {
    events: Mutex<VecDeque<RecordedEvent>>,
    capacity: usize,
}

impl Tail {
    pub(super) fn new(capacity: usize) -> Tail {
        Tail {
            events: Mutex::new(VecDeque::with_capacity(capacity.min(TAIL_EVENTS))),
            capacity,
        }
    }

    /// Appends a durable batch (positions following the newest kept), dropping the
    /// oldest beyond the capacity. A batch that does not follow (the writer's head was
    /// moved by something else) empties the tail first, so it stays gap-free.
    pub(super) fn push(&self, batch: Vec<RecordedEvent>) {
        let mut events = self.lock();
        if let (Some(last), Some(first)) = (events.back(), batch.first()) {
            if first.position != last.position + 1 {
                events.clear();
            }
        }
        events.extend(batch);
        let excess = events.len().saturating_sub(self.capacity);
        events.drain(..excess);
    }

    /// Up to `limit` events from `from`, if the tail holds `from` (or `from` is just
    /// past its newest event: then nothing is newer). `None`: read the files.
    pub(super) fn read(&self, from: Position, limit: usize) -> Option<Vec<RecordedEvent>> {
        let events = self.lock();
        let skip = self.offset_of(&events, from)?;
        Some(events.iter().skip(skip).take(limit).cloned().collect())
    }

    /// The positions and chain hashes of up to `limit` events after `after`, like
    /// [`Tail::read`].
    pub(super) fn hashes_after(
        &self,
        after: Position,
        limit: usize,
    ) -> Option<Vec<(Position, Hash)>> {
        let events = self.lock();
        let skip = self.offset_of(&events, after + 1)?;
        Some(
            events
                .iter()
                .skip(skip)
                .take(limit)
                .map(|event| (event.position, event.hash))
                .collect(),
        )
    }

    fn offset_of(&self, events: &VecDeque<RecordedEvent>, from: Position) -> Option<usize> {
        let first = events.front()?.position;
        let next = events.back()?.position + 1;
        (first..=next)
            .contains(&from.max(1))
            .then(|| (from.max(1) - first) as usize)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RecordedEvent>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }
}
