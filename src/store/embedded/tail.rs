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
    /// its body's encoded length), dropping the oldest beyond [`TAIL_BYTES`] or the
    /// capacity. A batch that does not follow (the writer's head was moved by
    /// something else) empties the tail first, so it stays gap-free.
    pub(super) fn push(&self, batch: Vec<(RecordedEvent, usize)>) {
        let mut kept = self.lock();
        let follows = match (kept.events.back(), batch.first()) {
            (Some((last, _)), Some((first, _))) => first.position == last.position + 1,
            _ => true,
        };
        if !follows {
            *kept = Kept::default();
        }
        for (event, len) in batch {
            kept.bytes += len;
            kept.events.push_back((event, len));
        }
        while kept.events.len() > self.capacity
            || (kept.bytes > TAIL_BYTES && kept.events.len() > 1)
        {
            if let Some((_, len)) = kept.events.pop_front() {
                kept.bytes -= len;
            }
        }
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
