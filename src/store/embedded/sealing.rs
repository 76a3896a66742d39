//! Index files of sealed segments ([`super::format::sealed`]): collected while a
//! segment is written, written once the writer moves on, and read back on open so the
//! log opens by scanning only its last segment.
//!
//! An index file is written as `<name>.idx.tmp`, synced, renamed into place and the
//! directory synced, on a helper thread (a rollover does not wait for it). A crash
//! before the rename leaves a `.tmp` that the next open removes, and a sealed segment
//! without an index is scanned on open and gets one: the log is readable either way.

use super::format::sealed::{IndexLayout, SealedIndex, SealedRecord, StreamRun};
use super::format::{decode_frame, Frame, SegmentHeader, SEGMENT_HEADER_LEN};
use super::index::SealedFile;
use crate::io::{read_exact_at, write_all_at, FileSystem, LogFile};
use projections::{Hash, Position, StreamVersion};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use uuid::Uuid;

const INDEX_EXTENSION: &str = "idx";

/// The index file of segment `sequence`.
pub fn index_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:010}.{INDEX_EXTENSION}"))
}

/// The records of the segment being written, kept to write its index when it is
/// sealed.
pub struct Sealing {
    sequence: u64,
    first_position: Position,
    prev_hash: Hash,
    records: Vec<SealedRecord>,
    streams: HashMap<Box<str>, (StreamVersion, Vec<Position>)>,
}

impl Sealing {
    /// An empty segment `sequence` whose first record will be at `first_position`,
    /// chained to `prev_hash`.
    pub fn new(sequence: u64, first_position: Position, prev_hash: Hash) -> Sealing {
        Sealing {
            sequence,
            first_position,
            prev_hash,
            records: Vec::new(),
            streams: HashMap::new(),
        }
    }

    /// Records one durable record (in position order).
    pub fn push(
        &mut self,
        offset: u32,
        event_id: Uuid,
        stream: &str,
        stream_version: StreamVersion,
        position: Position,
    ) {
        self.records.push(SealedRecord {
            offset,
            event_id,
            stream_version,
        });
        match self.streams.get_mut(stream) {
            Some((_, positions)) => positions.push(position),
            None => {
                self.streams
                    .insert(stream.into(), (stream_version, vec![position]));
            }
        }
    }

    /// How many records it holds.
    pub fn count(&self) -> u64 {
        self.records.len() as u64
    }

    /// The byte offset of record `i`.
    pub fn offset(&self, i: usize) -> Option<u32> {
        self.records.get(i).map(|r| r.offset)
    }

    /// `stream`'s records here: the version of the first, and their positions.
    pub fn run(&self, stream: &str) -> Option<(StreamVersion, Vec<Position>)> {
        self.streams
            .get(stream)
            .map(|(first, positions)| (*first, positions.clone()))
    }

    /// The last version of `stream` here.
    pub fn last_version(&self, stream: &str) -> Option<StreamVersion> {
        let (first, positions) = self.streams.get(stream)?;
        Some(first + positions.len() as u64 - 1)
    }

    /// The index of the segment, now that it ends at byte `end` with chain hash
    /// `last_hash`.
    pub fn seal(self, end: u64, last_hash: Hash) -> SealedIndex {
        let mut streams: Vec<StreamRun> = self
            .streams
            .into_iter()
            .map(|(stream, (first_version, positions))| StreamRun {
                stream: stream.into(),
                first_version,
                positions,
            })
            .collect();
        streams.sort_by(|a, b| a.stream.cmp(&b.stream));
        SealedIndex {
            sequence: self.sequence,
            first_position: self.first_position,
            end,
            prev_hash: self.prev_hash,
            last_hash,
            records: self.records,
            streams,
        }
    }
}

/// Writes `index` durably beside its segment and opens it for lookups.
pub fn write_index(fs: &dyn FileSystem, dir: &Path, index: &SealedIndex) -> io::Result<SealedFile> {
    let path = index_path(dir, index.sequence);
    let tmp = path.with_extension("idx.tmp");
    let bytes = index.encode();
    let file = fs.open(&tmp, true)?;
    file.set_len(0)?;
    write_all_at(file.as_ref(), &bytes, 0)?;
    file.sync_data()?;
    drop(file);
    fs.rename(&tmp, &path)?;
    fs.sync_dir(dir)?;
    let file = fs.open(&path, false)?;
    SealedFile::new(file, &bytes).map_err(io::Error::other)
}

/// Starts writing `index` on a helper thread and hands the written file to `install`;
/// failures are logged (the segment stays readable from memory, and is scanned on the
/// next open instead).
pub fn write_index_in_background(
    fs: std::sync::Arc<dyn FileSystem>,
    dir: PathBuf,
    index: std::sync::Arc<SealedIndex>,
    install: impl FnOnce(SealedFile) + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    let sequence = index.sequence;
    let spawned = std::thread::Builder::new()
        .name("alert-ledger-index".into())
        .spawn(move || match write_index(fs.as_ref(), &dir, &index) {
            Ok(file) => install(file),
            Err(err) => {
                tracing::warn!(segment = sequence, error = %err, "cannot write the index of a sealed segment; the next open scans the segment instead")
            }
        });
    match spawned {
        Ok(handle) => Some(handle),
        Err(err) => {
            tracing::warn!(segment = sequence, error = %err, "cannot start writing a segment index");
            None
        }
    }
}

/// An open index file and its bytes.
pub type IndexFile = (std::sync::Arc<dyn LogFile>, Vec<u8>);

/// The bytes of segment `sequence`'s index file, if it exists and can be read, with
/// an open handle to it; `Err` says why one that exists cannot be read.
pub fn read_index_file(
    fs: &dyn FileSystem,
    dir: &Path,
    sequence: u64,
) -> Result<Option<IndexFile>, String> {
    let file = match fs.open(&index_path(dir, sequence), false) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err.to_string()),
    };
    let bytes = super::segment::read_whole(file.as_ref()).map_err(|e| e.to_string())?;
    Ok(Some((file, bytes)))
}

/// The index of segment `sequence`, decoded whole, if its file exists and reads back
/// whole; `Err` says why one that exists cannot be used.
pub fn read_index(
    fs: &dyn FileSystem,
    dir: &Path,
    sequence: u64,
) -> Result<Option<SealedIndex>, String> {
    match read_index_file(fs, dir, sequence)? {
        None => Ok(None),
        Some((_, bytes)) => SealedIndex::decode(&bytes)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// Checks, in a handful of small reads, that the index file `bytes` (of `layout`)
/// belongs to `segment` and to this place in the log: the segment's header, the
/// index's first position and link to the previous segment, offsets within the segment
/// (the layout checked that they ascend), and the last record's frame (its checksum,
/// its hash, that it closes an append and ends where the index says) followed by the
/// end-of-data marker.
pub fn agrees(
    layout: &IndexLayout,
    bytes: &[u8],
    segment: &dyn LogFile,
    sequence: u64,
    first_position: Position,
    prev_hash: Hash,
) -> Result<(), String> {
    if layout.sequence != sequence {
        return Err(format!("it names segment {}", layout.sequence));
    }
    if layout.first_position != first_position || layout.prev_hash != prev_hash {
        return Err(format!(
            "it starts at position {} where the log continues at {first_position}",
            layout.first_position
        ));
    }
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    read_exact_at(segment, &mut header, 0).map_err(|e| e.to_string())?;
    match SegmentHeader::decode(&header) {
        Ok(header) if header.sequence == sequence => {}
        _ => return Err("the segment's header does not match".into()),
    }
    let size = segment.size().map_err(|e| e.to_string())?;
    if layout.end > size {
        return Err(format!(
            "it ends at byte {} of a {size}-byte segment",
            layout.end
        ));
    }
    if layout.count == 0 {
        if layout.last_hash != prev_hash || layout.end != SEGMENT_HEADER_LEN as u64 {
            return Err("an empty segment's index must end where it starts".into());
        }
    } else {
        let first = u64::from(layout.record(bytes, 0).offset);
        let last = u64::from(layout.record(bytes, layout.count - 1).offset);
        if first < SEGMENT_HEADER_LEN as u64 || last >= layout.end {
            return Err("its offsets do not lie within the segment".into());
        }
        let mut frame = vec![0u8; (layout.end - last) as usize];
        read_exact_at(segment, &mut frame, last).map_err(|e| e.to_string())?;
        match decode_frame(&frame) {
            Ok(Frame::Record(record))
                if record.hash == layout.last_hash
                    && record.last_of_append
                    && record.frame_len() == frame.len() => {}
            _ => return Err("the segment's last record is not the one indexed".into()),
        }
    }
    if layout.end + 4 <= size {
        let mut marker = [0u8; 4];
        read_exact_at(segment, &mut marker, layout.end).map_err(|e| e.to_string())?;
        if marker != [0u8; 4] {
            return Err("the segment holds more after the indexed end".into());
        }
    }
    Ok(())
}

impl Sealing {
    /// The records of a sealed segment that becomes the one written again (recovery
    /// cut the segments after it): its index no longer describes its end.
    pub fn from_index(index: SealedIndex) -> Sealing {
        let mut streams = HashMap::with_capacity(index.streams.len());
        for run in index.streams {
            streams.insert(
                run.stream.into_boxed_str(),
                (run.first_version, run.positions),
            );
        }
        Sealing {
            sequence: index.sequence,
            first_position: index.first_position,
            prev_hash: index.prev_hash,
            records: index.records,
            streams,
        }
    }
}
