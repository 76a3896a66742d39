//! Where things are in an index file, found by checking the file whole once without
//! building anything from it: its checksum, its header, that every section fits, that
//! record offsets ascend, that every stream entry is well formed and names only this
//! segment's records, and that the directory is sorted and points into the streams. The
//! store keeps only this (plus the filter) and reads the rest on demand.

use super::super::{read_hash, read_u32, read_u64};
use super::{bad, Cursor, IndexFileError, IndexHeader, SealedRecord, StreamRun};
use super::{DIRECTORY_ENTRY_LEN, FIXED_LEN, RECORD_LEN};
use projections::{Hash, Position};
use uuid::Uuid;

/// The checked shape of one index file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexLayout {
    /// The segment's sequence number.
    pub sequence: u64,
    /// Position of its first record.
    pub first_position: Position,
    /// Its record count.
    pub count: u64,
    /// Byte offset just past its last record.
    pub end: u64,
    /// The chain hash before its first record.
    pub prev_hash: Hash,
    /// The chain hash of its last record.
    pub last_hash: Hash,
    /// How many streams it holds.
    pub stream_count: u64,
    /// File offset of the first stream entry.
    pub streams_at: usize,
    /// File offset of the directory (just past the last stream entry).
    pub directory_at: usize,
    /// File offset of the filter.
    pub filter_at: usize,
    /// The filter's length in 64-bit words.
    pub filter_words: usize,
}

impl IndexLayout {
    /// Checks `bytes` (a whole index file) and says where its sections are.
    pub fn parse(bytes: &[u8]) -> Result<IndexLayout, IndexFileError> {
        if bytes.len() < FIXED_LEN + 4 {
            return Err(bad(format!("{} bytes is too short", bytes.len())));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if read_u32(crc, 0) != crc32c::crc32c(body) {
            return Err(bad("checksum mismatch"));
        }
        let IndexHeader {
            sequence,
            first_position,
            count,
        } = IndexHeader::peek(body).ok_or_else(|| bad("bad magic or unknown format version"))?;
        if first_position == 0 || first_position.checked_add(count).is_none() {
            return Err(bad(format!(
                "first position {first_position} with {count} records"
            )));
        }
        let stream_count = read_u64(body, 112);
        let filter_words =
            usize::try_from(read_u64(body, 120)).map_err(|_| bad("filter length does not fit"))?;
        let records_len = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(RECORD_LEN))
            .filter(|len| *len <= body.len() - FIXED_LEN)
            .ok_or_else(|| bad(format!("{count} records do not fit the file")))?;
        let mut previous = None;
        for i in 0..count as usize {
            let offset = read_u32(body, FIXED_LEN + i * RECORD_LEN);
            if previous.is_some_and(|p| offset <= p) {
                return Err(bad("record offsets do not ascend"));
            }
            previous = Some(offset);
        }
        let streams_at = FIXED_LEN + records_len;
        let directory_at = walk_streams(body, streams_at, stream_count, count, |_| {})?;
        let filter_at = usize::try_from(stream_count)
            .ok()
            .and_then(|s| s.checked_mul(DIRECTORY_ENTRY_LEN))
            .and_then(|len| directory_at.checked_add(len))
            .filter(|at| *at <= body.len())
            .ok_or_else(|| bad("the directory does not fit the file"))?;
        if filter_words == 0
            || (body.len() - filter_at) / 8 != filter_words
            || (body.len() - filter_at) % 8 != 0
        {
            return Err(bad("the filter does not fill the rest of the file"));
        }
        let mut last_hash = 0u64;
        for i in 0..stream_count as usize {
            let at = directory_at + i * DIRECTORY_ENTRY_LEN;
            let hash = read_u64(body, at);
            let entry = read_u32(body, at + 8) as usize;
            if hash < last_hash || entry < streams_at || entry >= directory_at {
                return Err(bad(
                    "the directory is out of order or points outside the streams",
                ));
            }
            last_hash = hash;
        }
        Ok(IndexLayout {
            sequence,
            first_position,
            count,
            end: read_u64(body, 40),
            prev_hash: Hash(read_hash(body, 48)),
            last_hash: Hash(read_hash(body, 80)),
            stream_count,
            streams_at,
            directory_at,
            filter_at,
            filter_words,
        })
    }

    /// The last position stored in the segment, if any.
    pub fn last_position(&self) -> Option<Position> {
        (self.count > 0).then(|| self.first_position + self.count - 1)
    }

    /// File offset of record `i`'s entry.
    pub fn record_at(i: u64) -> u64 {
        FIXED_LEN as u64 + i * RECORD_LEN as u64
    }

    /// Record `i` of the file `bytes` this layout was parsed from.
    pub fn record(&self, bytes: &[u8], i: u64) -> SealedRecord {
        let at = Self::record_at(i) as usize;
        SealedRecord {
            offset: read_u32(bytes, at),
            event_id: Uuid::from_bytes(bytes[at + 4..at + 20].try_into().expect("16 bytes")),
            stream_version: read_u64(bytes, at + 20),
        }
    }

    /// The streams of the file `bytes` this layout was parsed from, each with its
    /// positions.
    pub fn streams(&self, bytes: &[u8]) -> Result<Vec<StreamRun>, IndexFileError> {
        let mut streams = Vec::with_capacity(self.stream_count as usize);
        walk_streams(
            bytes,
            self.streams_at,
            self.stream_count,
            self.count,
            |(stream, first_version, positions)| {
                streams.push(StreamRun {
                    stream: stream.to_owned(),
                    first_version,
                    positions: relatives(positions)
                        .map(|relative| self.first_position + relative)
                        .collect(),
                });
            },
        )?;
        Ok(streams)
    }

    /// The filter's words from the file `bytes` this layout was parsed from.
    pub fn filter(&self, bytes: &[u8]) -> Vec<u64> {
        (0..self.filter_words)
            .map(|i| read_u64(bytes, self.filter_at + 8 * i))
            .collect()
    }

    /// The directory's hashes from `bytes`, one in every `stride` (for an in-memory
    /// guide to which part of the directory to read).
    pub fn directory_fences(&self, bytes: &[u8], stride: usize) -> Vec<u64> {
        (0..self.stream_count as usize)
            .step_by(stride)
            .map(|i| read_u64(bytes, self.directory_at + i * DIRECTORY_ENTRY_LEN))
            .collect()
    }
}

/// One stream entry as [`walk_streams`] hands it on: name, version of its first record
/// here, and its positions relative to the segment's first (u32 LE each, as stored).
type StreamEntry<'a> = (&'a str, u64, &'a [u8]);

/// Walks the stream entries from `at`, handing each to `each`; returns where they end.
/// Names must be UTF-8 and ascend, positions must name records of this segment, and the
/// entries together must place every record once by count.
fn walk_streams(
    body: &[u8],
    at: usize,
    stream_count: u64,
    count: u64,
    mut each: impl FnMut(StreamEntry<'_>),
) -> Result<usize, IndexFileError> {
    let mut cursor = Cursor { bytes: body, at };
    let mut placed = 0u64;
    let mut previous: Option<&[u8]> = None;
    for _ in 0..stream_count {
        let name_len = usize::from(cursor.u16()?);
        let name = cursor.take(name_len)?;
        let stream = std::str::from_utf8(name).map_err(|_| bad("a stream name is not UTF-8"))?;
        if previous.is_some_and(|p| p >= name) {
            return Err(bad("stream names out of order"));
        }
        previous = Some(name);
        let first_version = cursor.u64()?;
        let k = cursor.u32()?;
        let positions = cursor.take(4 * k as usize)?;
        let beyond = relatives(positions).find(|relative| *relative >= count);
        if let Some(relative) = beyond {
            return Err(bad(format!("a stream names record {relative} of {count}")));
        }
        placed += u64::from(k);
        each((stream, first_version, positions));
    }
    if placed != count {
        return Err(bad(format!(
            "the streams hold {placed} records, the segment {count}"
        )));
    }
    Ok(cursor.at)
}

/// The relative positions of a stream entry's stored u32s.
fn relatives(stored: &[u8]) -> impl Iterator<Item = u64> + '_ {
    stored
        .chunks_exact(4)
        .map(|relative| u64::from(read_u32(relative, 0)))
}
