//! The readers' index of the durable log (see ADR 0002), shared with the writer behind
//! a lock.
//!
//! Per segment, what finds its records depends on where the segment is in its life
//! ([`Content`]):
//! - **being written**: its records and streams in memory ([`Sealing`], also what its
//!   index file is made from), bounded by the segment's size;
//! - **sealed, index file being written**: the finished [`SealedIndex`] in memory;
//! - **sealed, index file on disk**: a [`SealedFile`], read on demand; in memory only
//!   its stream filter and directory guide.
//!
//! So the memory of a long log does not grow with its sealed segments' events or
//! streams. `$all` from any position is one segment lookup plus one read of the index
//! file for the byte offset; one stream's records are found through each sealed
//! segment's filter and directory.
//!
//! [`ids::IdIndex`] (private to the writer) is the idempotency window.

pub mod ids;
mod sealed_file;

use super::format::sealed::{SealedIndex, StreamRun};
use super::sealing::Sealing;
use crate::io::LogFile;
use crate::store::StoreError;
use projections::{Position, StreamVersion};
use std::path::PathBuf;
use std::sync::Arc;
use uuid::Uuid;

pub use ids::IdIndex;
pub use sealed_file::SealedFile;

/// What finds one segment's records.
pub enum Content {
    /// The segment being written (or the last one of a log being opened).
    Active(Sealing),
    /// A sealed segment whose index file is still being written.
    Sealed(Arc<SealedIndex>),
    /// A sealed segment read through its index file.
    File(SealedFile),
}

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
    /// Byte offset just past the last durable record.
    pub end: u64,
    /// What finds its records.
    pub content: Content,
}

/// One stream's records in one segment: the version of the first, and their positions.
pub type RunPositions = (StreamVersion, Vec<Position>);

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::io("read segment index", err)
}

impl SegmentIndex {
    /// A segment that starts empty at `first_position`, chained to `prev_hash`.
    pub fn active(
        sequence: u64,
        path: PathBuf,
        file: Arc<dyn LogFile>,
        first_position: Position,
        prev_hash: projections::Hash,
    ) -> SegmentIndex {
        SegmentIndex {
            sequence,
            path,
            file,
            first_position,
            end: super::format::SEGMENT_HEADER_LEN as u64,
            content: Content::Active(Sealing::new(sequence, first_position, prev_hash)),
        }
    }

    /// How many records it holds.
    pub fn count(&self) -> u64 {
        match &self.content {
            Content::Active(sealing) => sealing.count(),
            Content::Sealed(index) => index.records.len() as u64,
            Content::File(file) => file.layout().count,
        }
    }

    /// The last position stored in this segment, if any.
    pub fn last_position(&self) -> Option<Position> {
        let count = self.count();
        (count > 0).then(|| self.first_position + count - 1)
    }

    /// The byte offset of record `i` and of the one after it (`None` for the last).
    fn offsets(&self, i: u64) -> Result<(u64, Option<u64>), StoreError> {
        let from_records = |offset_of: &dyn Fn(usize) -> Option<u32>| {
            let start = offset_of(i as usize).ok_or_else(out_of_step)?;
            Ok((u64::from(start), offset_of(i as usize + 1).map(u64::from)))
        };
        match &self.content {
            Content::Active(sealing) => from_records(&|j| sealing.offset(j)),
            Content::Sealed(index) => from_records(&|j| index.records.get(j).map(|r| r.offset)),
            Content::File(file) => file.offsets(i).map_err(io_error),
        }
    }

    /// The byte range `[start, end)` of positions `from..=to` (both in this segment).
    pub fn byte_range(&self, from: Position, to: Position) -> Result<(u64, u64), StoreError> {
        let (start, _) = self.offsets(from - self.first_position)?;
        let (_, after) = self.offsets(to - self.first_position)?;
        Ok((start, after.unwrap_or(self.end)))
    }

    /// `stream`'s records in this segment.
    fn run(&self, stream: &str) -> Result<Option<RunPositions>, StoreError> {
        match &self.content {
            Content::Active(sealing) => Ok(sealing.run(stream)),
            Content::Sealed(index) => {
                Ok(sealed_run(index, stream).map(|run| (run.first_version, run.positions.clone())))
            }
            Content::File(file) => {
                let Some(run) = file.run(stream).map_err(io_error)? else {
                    return Ok(None);
                };
                let positions = file.positions(&run, 0, run.count).map_err(io_error)?;
                Ok(Some((run.first_version, positions)))
            }
        }
    }

    /// The last version of `stream` in this segment (without reading its positions:
    /// the writer asks this for every append).
    fn last_version(&self, stream: &str) -> Result<Option<StreamVersion>, StoreError> {
        match &self.content {
            Content::Active(sealing) => Ok(sealing.last_version(stream)),
            Content::Sealed(index) => Ok(sealed_run(index, stream)
                .map(|run| run.first_version + run.positions.len() as u64 - 1)),
            Content::File(file) => Ok(file
                .run(stream)
                .map_err(io_error)?
                .map(|run| run.first_version + run.count - 1)),
        }
    }
}

/// `stream`'s run in a finished index held in memory (its streams are sorted by name).
fn sealed_run<'a>(index: &'a SealedIndex, stream: &str) -> Option<&'a StreamRun> {
    index
        .streams
        .binary_search_by(|run| run.stream.as_str().cmp(stream))
        .ok()
        .map(|i| &index.streams[i])
}

fn out_of_step() -> StoreError {
    StoreError::Unavailable("index out of step with log".into())
}

/// What the idempotency check needs of a stored record.
pub struct RecordFields {
    /// Its event id.
    pub event_id: Uuid,
    /// Its stream.
    pub stream: String,
    /// Its version in that stream.
    pub stream_version: StreamVersion,
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
    /// The durable head.
    pub head: crate::store::Head,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            segments: Vec::new(),
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
    pub fn locate(&self, position: Position) -> Result<Option<Location>, StoreError> {
        let Some(at) = self.segment_of(position) else {
            return Ok(None);
        };
        let segment = &self.segments[at];
        let (offset, end) = segment.byte_range(position, position)?;
        Ok(Some(Location {
            file: segment.file.clone(),
            path: segment.path.clone(),
            offset,
            len: end - offset,
        }))
    }

    /// The last version of `stream`: the newest segment that holds it says.
    pub fn stream_version(&self, stream: &str) -> Result<Option<StreamVersion>, StoreError> {
        for segment in self.segments.iter().rev() {
            if let Some(version) = segment.last_version(stream)? {
                return Ok(Some(version));
            }
        }
        Ok(None)
    }

    /// Every position of `stream`, indexed by version.
    pub fn stream_positions(&self, stream: &str) -> Result<Vec<Position>, StoreError> {
        let mut positions = Vec::new();
        for segment in &self.segments {
            if let Some((_, mut run)) = segment.run(stream)? {
                positions.append(&mut run);
            }
        }
        Ok(positions)
    }

    /// The id, stream and version of the record at `position`, read from the log.
    pub fn record_fields(&self, position: Position) -> Result<Option<RecordFields>, StoreError> {
        let Some(location) = self.locate(position)? else {
            return Ok(None);
        };
        let mut frame = vec![0u8; location.len as usize];
        crate::io::read_exact_at(location.file.as_ref(), &mut frame, location.offset)
            .map_err(|e| StoreError::io("read segment", e))?;
        let Ok(super::format::Frame::Record(record)) = super::format::decode_frame(&frame) else {
            return Err(out_of_step());
        };
        let fields = crate::codec::decode_index_fields(record.body).map_err(|_| out_of_step())?;
        Ok(Some(RecordFields {
            event_id: fields.event_id,
            stream: fields.stream.into_owned(),
            stream_version: fields.stream_version,
        }))
    }

    /// The records of the segment being written, to add durable events to.
    pub fn being_written(&mut self) -> Option<&mut Sealing> {
        match self.segments.last_mut() {
            Some(SegmentIndex {
                content: Content::Active(sealing),
                ..
            }) => Some(sealing),
            _ => None,
        }
    }

    /// Seals the segment being written (it ends at its `end`, with the head's hash):
    /// its records stay readable from memory until [`Index::install_file`].
    pub fn seal_last(&mut self) -> Option<Arc<SealedIndex>> {
        let last_hash = self.head.hash;
        let segment = self.segments.last_mut()?;
        let placeholder = Content::Sealed(Arc::new(SealedIndex::empty()));
        match std::mem::replace(&mut segment.content, placeholder) {
            Content::Active(sealing) => {
                let sealed = Arc::new(sealing.seal(segment.end, last_hash));
                segment.content = Content::Sealed(sealed.clone());
                Some(sealed)
            }
            other => {
                segment.content = other;
                None
            }
        }
    }

    /// Reads segment `sequence` through its index file from now on.
    pub fn install_file(&mut self, sequence: u64, file: SealedFile) {
        let found = self
            .segments
            .iter_mut()
            .find(|segment| segment.sequence == sequence);
        if let Some(segment) = found {
            if matches!(segment.content, Content::Sealed(_)) {
                segment.content = Content::File(file);
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
