//! The index file of a sealed segment, `<sequence:010>.idx` beside `<sequence:010>.seg`:
//! written once when the writer moves on to the next segment. Opening the log checks
//! it whole (checksum, structure) instead of scanning the segment, and readers then
//! look things up in it with small positional reads, so the store's memory does not
//! grow with the sealed part of the log. It is never trusted without its checksum, and
//! the store also checks it against its segment before using it (`recovery`).
//!
//! ```text
//! offset size  field
//!  0     8     magic "ALDGRIDX"
//!  8     4     index format version (u32 LE), 2
//! 12     4     reserved, zero
//! 16     8     segment sequence number (u64 LE)
//! 24     8     position of the segment's first record (u64 LE)
//! 32     8     record count n (u64 LE)
//! 40     8     byte offset just past the last record (u64 LE)
//! 48    32     chain hash before the first record (the previous segment's last)
//! 80    32     chain hash of the last record
//! 112    8     stream count s (u64 LE)
//! 120    8     filter word count w (u64 LE)
//! 128   28·n   per record, in position order: frame offset (u32 LE), event id (16),
//!              stream version (u64 LE)
//! …            per stream, sorted by name: name length (u16 LE), name (UTF-8), version
//!              of its first record here (u64 LE), record count k (u32 LE), then k
//!              positions relative to the segment's first (u32 LE)
//! …     12·s   directory, sorted by hash then offset: per stream its name's hash
//!              (u64 LE, `bloom::stream_hash`) and the file offset of its entry (u32 LE)
//! …      8·w   Bloom filter of the stream names (u64 LE words, `bloom`)
//! end−4  4     CRC32C of every byte before it
//! ```
//!
//! Version 1 files (no directory, no filter) are refused as an unknown version: the
//! store scans their segment once and writes a version 2 file in their place.

pub mod bloom;
mod layout;

pub use layout::IndexLayout;

use super::{read_u32, read_u64};
use projections::{Hash, Position, StreamVersion};
use uuid::Uuid;

/// The first bytes of every segment index file.
pub const INDEX_MAGIC: [u8; 8] = *b"ALDGRIDX";

/// The index format this build writes and reads.
pub const INDEX_VERSION: u32 = 2;

pub(super) const FIXED_LEN: usize = 128;
pub(super) const RECORD_LEN: usize = 28;
pub(super) const DIRECTORY_ENTRY_LEN: usize = 12;

/// One record of a sealed segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedRecord {
    /// Byte offset of its frame in the segment.
    pub offset: u32,
    /// Its event id (for the idempotency window).
    pub event_id: Uuid,
    /// Its version in its stream.
    pub stream_version: StreamVersion,
}

/// The records of one stream in a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRun {
    /// The stream.
    pub stream: String,
    /// The version of its first record in this segment.
    pub first_version: StreamVersion,
    /// The positions of its records here, in order.
    pub positions: Vec<Position>,
}

/// Everything opening the log needs from a sealed segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedIndex {
    /// The segment's sequence number.
    pub sequence: u64,
    /// Position of its first record.
    pub first_position: Position,
    /// Byte offset just past its last record.
    pub end: u64,
    /// The chain hash before its first record.
    pub prev_hash: Hash,
    /// The chain hash of its last record (`prev_hash` when it holds none).
    pub last_hash: Hash,
    /// Its records in position order.
    pub records: Vec<SealedRecord>,
    /// Its streams, sorted by name.
    pub streams: Vec<StreamRun>,
}

/// Why an index file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("segment index: {0}")]
pub struct IndexFileError(pub String);

pub(super) fn bad(reason: impl Into<String>) -> IndexFileError {
    IndexFileError(reason.into())
}

impl SealedIndex {
    /// An index of nothing (a placeholder while a segment changes hands).
    pub fn empty() -> SealedIndex {
        SealedIndex {
            sequence: 0,
            first_position: 1,
            end: 0,
            prev_hash: Hash::GENESIS,
            last_hash: Hash::GENESIS,
            records: Vec::new(),
            streams: Vec::new(),
        }
    }

    /// The last position stored in the segment, if any.
    pub fn last_position(&self) -> Option<Position> {
        let count = self.records.len() as u64;
        (count > 0).then(|| self.first_position.saturating_add(count - 1))
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let names: usize = self.streams.iter().map(|s| s.stream.len()).sum();
        let positions: usize = self.streams.iter().map(|s| s.positions.len()).sum();
        let words = bloom::words_for(self.streams.len() as u64);
        let mut out = Vec::with_capacity(
            FIXED_LEN
                + RECORD_LEN * self.records.len()
                + (14 + DIRECTORY_ENTRY_LEN) * self.streams.len()
                + names
                + 4 * positions
                + 8 * words as usize
                + 4,
        );
        out.extend_from_slice(&INDEX_MAGIC);
        out.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.first_position.to_le_bytes());
        out.extend_from_slice(&(self.records.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.end.to_le_bytes());
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.last_hash.0);
        out.extend_from_slice(&(self.streams.len() as u64).to_le_bytes());
        out.extend_from_slice(&words.to_le_bytes());
        for record in &self.records {
            out.extend_from_slice(&record.offset.to_le_bytes());
            out.extend_from_slice(record.event_id.as_bytes());
            out.extend_from_slice(&record.stream_version.to_le_bytes());
        }
        let mut directory = Vec::with_capacity(self.streams.len());
        let mut filter = vec![0u64; words as usize];
        for run in &self.streams {
            let hash = bloom::stream_hash(&run.stream);
            bloom::insert(&mut filter, hash);
            directory.push((hash, out.len() as u32));
            out.extend_from_slice(&(run.stream.len() as u16).to_le_bytes());
            out.extend_from_slice(run.stream.as_bytes());
            out.extend_from_slice(&run.first_version.to_le_bytes());
            out.extend_from_slice(&(run.positions.len() as u32).to_le_bytes());
            for position in &run.positions {
                let relative = (position - self.first_position) as u32;
                out.extend_from_slice(&relative.to_le_bytes());
            }
        }
        directory.sort_unstable();
        for (hash, at) in directory {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&at.to_le_bytes());
        }
        for word in filter {
            out.extend_from_slice(&word.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads an index file whole, refusing a wrong magic, version or checksum, any
    /// length, count or position that does not fit the file, and any file that is not
    /// exactly what [`SealedIndex::encode`] writes for what it holds (so its directory
    /// and filter are checked too).
    pub fn decode(bytes: &[u8]) -> Result<SealedIndex, IndexFileError> {
        let layout = IndexLayout::parse(bytes)?;
        let records = (0..layout.count)
            .map(|i| layout.record(bytes, i))
            .collect::<Vec<_>>();
        let streams = layout.streams(bytes)?;
        let index = SealedIndex {
            sequence: layout.sequence,
            first_position: layout.first_position,
            end: layout.end,
            prev_hash: layout.prev_hash,
            last_hash: layout.last_hash,
            records,
            streams,
        };
        if index.encode() != bytes {
            return Err(bad(
                "its directory or filter is not the one its streams make",
            ));
        }
        Ok(index)
    }
}

/// What an index file's fixed header claims, read without the rest of the file (so not
/// checked against its checksum: a guide to where to look, never trusted on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexHeader {
    /// The segment's sequence number.
    pub sequence: u64,
    /// Position of its first record.
    pub first_position: Position,
    /// Its record count.
    pub count: u64,
}

/// Bytes of the fixed header [`IndexHeader::peek`] reads.
pub const INDEX_HEADER_LEN: usize = FIXED_LEN;

impl IndexHeader {
    /// The header at the start of `bytes`, if the magic and version are right.
    pub fn peek(bytes: &[u8]) -> Option<IndexHeader> {
        let header = bytes.get(..FIXED_LEN)?;
        (header[0..8] == INDEX_MAGIC && read_u32(header, 8) == INDEX_VERSION).then(|| IndexHeader {
            sequence: read_u64(header, 16),
            first_position: read_u64(header, 24),
            count: read_u64(header, 32),
        })
    }
}

/// `body` followed by the checksum an index file ends with (for tools and tests that
/// build index bytes by hand).
pub fn with_checksum(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    out.extend_from_slice(&crc32c::crc32c(body).to_le_bytes());
    out
}

/// Reads the variable part of an index file, refusing to run past its end.
pub(super) struct Cursor<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], IndexFileError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| bad("truncated"))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    pub(super) fn u16(&mut self) -> Result<u16, IndexFileError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub(super) fn u32(&mut self) -> Result<u32, IndexFileError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(super) fn u64(&mut self) -> Result<u64, IndexFileError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SealedIndex {
        let ids: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
        SealedIndex {
            sequence: 4,
            first_position: 101,
            end: 9_000,
            prev_hash: Hash([7; 32]),
            last_hash: Hash([9; 32]),
            records: vec![
                SealedRecord {
                    offset: 32,
                    event_id: ids[0],
                    stream_version: 5,
                },
                SealedRecord {
                    offset: 400,
                    event_id: ids[1],
                    stream_version: 0,
                },
                SealedRecord {
                    offset: 800,
                    event_id: ids[2],
                    stream_version: 6,
                },
            ],
            streams: vec![
                StreamRun {
                    stream: "alert-a".into(),
                    first_version: 5,
                    positions: vec![101, 103],
                },
                StreamRun {
                    stream: "sync-b".into(),
                    first_version: 0,
                    positions: vec![102],
                },
            ],
        }
    }

    #[test]
    fn an_index_reads_back_as_written() {
        let index = sample();
        assert_eq!(SealedIndex::decode(&index.encode()), Ok(index));
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(SealedIndex::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            assert!(SealedIndex::decode(&flipped).is_err(), "flipped byte {at}");
        }
    }

    #[test]
    fn mutated_indexes_with_a_valid_checksum_never_panic_and_round_trip() {
        let encoded = sample().encode();
        let body = &encoded[..encoded.len() - 4];
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut mutated = body.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % mutated.len() as u64) as usize;
                mutated[at] = next() as u8;
            }
            if next() % 4 == 0 {
                mutated.truncate((next() % mutated.len() as u64) as usize);
            }
            if let Ok(index) = SealedIndex::decode(&with_checksum(&mutated)) {
                assert_eq!(SealedIndex::decode(&index.encode()), Ok(index));
            }
        }
    }

    #[test]
    fn counts_that_do_not_fit_are_refused_even_with_a_valid_checksum() {
        let mut body = sample().encode();
        body.truncate(body.len() - 4);
        body[32..40].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        let err = SealedIndex::decode(&with_checksum(&body)).unwrap_err();
        assert!(err.0.contains("do not fit"), "{err}");
    }
}
