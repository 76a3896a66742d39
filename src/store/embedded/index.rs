//! In-memory indexes, rebuilt from the log on open (see ADR 0002).
//!
//! - [`Index`] (shared with readers behind a lock): per segment, the byte offset of
//!   every record (4 bytes per event, dense, so `$all` from any position is one
//!   lookup); per stream, the position of every version (8 bytes per event), so reading
//!   a stream costs what the stream holds, not the log.
//! - [`IdIndex`] (private to the writer): event id → where it was stored, for the most
//!   recent `capacity` events, answering idempotent re-appends.

use crate::io::LogFile;
use projections::{Position, StreamVersion};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

/// One segment as readers see it.
pub struct SegmentIndex {
    /// The segment's sequence number.
    pub sequence: u64,
    /// Its file path.
    pub path: PathBuf,
    /// A shared handle for positional reads.
    pub file: Arc<dyn LogFile>,
    /// Position of its first record (the next position if it is still empty).
    pub first_position: Position,
    /// Byte offset of each record, indexed by `position - first_position`.
    pub offsets: Vec<u32>,
    /// Byte offset just past the last durable record.
    pub end: u64,
}

impl SegmentIndex {
    /// The last position stored in this segment, if any.
    pub fn last_position(&self) -> Option<Position> {
        (!self.offsets.is_empty()).then(|| self.first_position + self.offsets.len() as u64 - 1)
    }

    /// The byte range `[start, end)` of positions `from..=to` (both in this segment).
    pub fn byte_range(&self, from: Position, to: Position) -> (u64, u64) {
        let first = (from - self.first_position) as usize;
        let last = (to - self.first_position) as usize;
        let start = u64::from(self.offsets[first]);
        let end = self
            .offsets
            .get(last + 1)
            .map_or(self.end, |next| u64::from(*next));
        (start, end)
    }
}

/// Where one record lives.
#[derive(Clone)]
pub struct Location {
    /// The segment file.
    pub file: Arc<dyn LogFile>,
    /// The segment path, for errors.
    pub path: PathBuf,
    /// Byte offset of the frame.
    pub offset: u64,
    /// Frame length in bytes.
    pub len: u64,
}

/// The readers' index of the durable log.
pub struct Index {
    /// Segments in order; the last one is being written.
    pub segments: Vec<SegmentIndex>,
    /// Every stream's positions, indexed by version.
    pub streams: HashMap<Box<str>, Vec<Position>>,
    /// The durable head.
    pub head: crate::store::Head,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            segments: Vec::new(),
            streams: HashMap::new(),
            head: crate::store::Head {
                position: 0,
                hash: projections::Hash::GENESIS,
            },
        }
    }
}

impl Index {
    /// The segment index holding `position`.
    pub fn segment_of(&self, position: Position) -> Option<usize> {
        if position == 0 || position > self.head.position {
            return None;
        }
        let after = self
            .segments
            .partition_point(|segment| segment.first_position <= position);
        let candidate = after.checked_sub(1)?;
        let segment = &self.segments[candidate];
        (segment.last_position()? >= position).then_some(candidate)
    }

    /// The location of the record at `position`.
    pub fn locate(&self, position: Position) -> Option<Location> {
        let segment = &self.segments[self.segment_of(position)?];
        let (offset, end) = segment.byte_range(position, position);
        Some(Location {
            file: segment.file.clone(),
            path: segment.path.clone(),
            offset,
            len: end - offset,
        })
    }

    /// The last version of `stream`.
    pub fn stream_version(&self, stream: &str) -> Option<StreamVersion> {
        let positions = self.streams.get(stream)?;
        (positions.len() as u64).checked_sub(1)
    }

    /// Records one durable event.
    pub fn push(&mut self, stream: &str, position: Position, offset: u32) {
        if let Some(segment) = self.segments.last_mut() {
            segment.offsets.push(offset);
        }
        match self.streams.get_mut(stream) {
            Some(positions) => positions.push(position),
            None => {
                self.streams.insert(stream.into(), vec![position]);
            }
        }
    }
}

/// Where an event id was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdEntry {
    /// Its position in `$all`.
    pub position: Position,
    /// Its version in its stream.
    pub stream_version: StreamVersion,
}

/// Event id → place, for the most recent `capacity` events (a bounded window: older
/// ids are forgotten in position order; see ADR 0002).
pub struct IdIndex {
    entries: HashMap<Uuid, IdEntry>,
    order: VecDeque<Uuid>,
    capacity: usize,
}

impl IdIndex {
    /// An empty index remembering at most `capacity` ids.
    pub fn new(capacity: usize) -> IdIndex {
        IdIndex {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Where `id` was stored, if it is within the window.
    pub fn get(&self, id: &Uuid) -> Option<IdEntry> {
        self.entries.get(id).copied()
    }

    /// Remembers `id`, forgetting the oldest id beyond capacity.
    pub fn insert(&mut self, id: Uuid, entry: IdEntry) {
        if self.capacity == 0 {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(id, entry);
        self.order.push_back(id);
    }
}
