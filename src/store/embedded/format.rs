//! The on-disk format of the embedded log: the only place that knows byte layouts.
//!
//! A log is a directory of segment files named `<sequence:010>.seg`. Each segment is
//! preallocated (zero-filled) and starts with a [`SegmentHeader`], followed by
//! [`Record`] frames back to back. A frame whose length field is zero marks the end of
//! written data: the rest of the segment is still zeros.

use projections::Hash;

pub mod sealed;

/// The first bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ALDGRLOG";

/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 32;

/// Size of a record frame header (everything before the body) in bytes.
pub const RECORD_HEADER_LEN: usize = 80;

/// The largest body accepted; a larger length field is corruption, not a record.
pub const MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// Flag bit: this record is the last one of its append. Records after the last such
/// record belong to an append that never completed and are rolled back on recovery.
pub const FLAG_LAST_OF_APPEND: u8 = 1;

/// Versions of the segment format this build reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatVersion {
    /// Length, CRC32C, flags, both chain hashes, JSON body.
    V1 = 1,
}

impl FormatVersion {
    /// The version new segments are written in.
    pub const CURRENT: FormatVersion = FormatVersion::V1;

    fn from_u32(raw: u32) -> Option<FormatVersion> {
        (raw == 1).then_some(FormatVersion::V1)
    }
}

/// The header at the start of every segment.
///
/// ```text
/// offset size field
///  0     8    magic "ALDGRLOG"
///  8     4    format version (u32 LE)
/// 12     4    CRC32C of bytes 0..12 followed by 16..32
/// 16     8    segment sequence number (u64 LE), equal to the file name's number
/// 24     8    reserved, zero
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format the segment's records are written in.
    pub version: FormatVersion,
    /// The segment's sequence number (1 for the first segment).
    pub sequence: u64,
}

impl SegmentHeader {
    /// The header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&(self.version as u32).to_le_bytes());
        out[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        let crc = header_crc(&out);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads a header, rejecting a wrong magic, version or checksum.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, FrameError> {
        let header = bytes
            .get(..SEGMENT_HEADER_LEN)
            .ok_or(FrameError::Incomplete)?;
        if header[0..8] != SEGMENT_MAGIC {
            return Err(corrupt("segment header: bad magic"));
        }
        if read_u32(header, 12) != header_crc(header) {
            return Err(corrupt("segment header: checksum mismatch"));
        }
        let version = FormatVersion::from_u32(read_u32(header, 8))
            .ok_or_else(|| corrupt("segment header: unknown format version"))?;
        Ok(SegmentHeader {
            version,
            sequence: read_u64(header, 16),
        })
    }
}

fn header_crc(header: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[0..12]), &header[16..32])
}

/// One record frame: an event's body with its place in the hash chain.
///
/// ```text
/// offset size field
///  0     4    body length n (u32 LE); 0 = end of written data, never a record
///  4     4    CRC32C of bytes 0..4 followed by 8..80+n (everything but itself)
///  8     1    flags: bit 0 = last record of its append; other bits zero
///  9     7    reserved, zero
/// 16    32    prev_hash: the chain hash of the record before (zeros for the first)
/// 48    32    hash = SHA-256(prev_hash || body)
/// 80     n    body: the JSON envelope of `crate::codec`
/// ```
///
/// The CRC catches torn and damaged frames cheaply on every read; the hashes make the
/// order and content tamper-evident and are checked by `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Whether this record closes its append (see [`FLAG_LAST_OF_APPEND`]).
    pub last_of_append: bool,
    /// Hash of the previous record.
    pub prev_hash: Hash,
    /// Hash of this record.
    pub hash: Hash,
    /// The encoded envelope.
    pub body: &'a [u8],
}

impl Record<'_> {
    /// Bytes this record takes on disk.
    pub fn frame_len(&self) -> usize {
        RECORD_HEADER_LEN + self.body.len()
    }

    /// Appends the frame to `out`. The caller keeps bodies within [`MAX_BODY_LEN`].
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&(self.body.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        let flags = if self.last_of_append {
            FLAG_LAST_OF_APPEND
        } else {
            0
        };
        out.extend_from_slice(&[flags, 0, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&self.prev_hash.0);
        out.extend_from_slice(&self.hash.0);
        out.extend_from_slice(self.body);
        let crc = frame_crc(&out[start..]);
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

fn frame_crc(frame: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&frame[0..4]), &frame[8..])
}

/// What [`decode_frame`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A whole, checksum-valid record.
    Record(Record<'a>),
    /// A zero length: no record was ever written here.
    End,
}

/// Why the bytes at some offset are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The buffer ends inside the frame: a torn write at the tail, or truncation.
    #[error("incomplete record")]
    Incomplete,
    /// The frame is whole but damaged.
    #[error("{reason}")]
    Corrupt {
        /// Which check failed.
        reason: &'static str,
    },
}

fn corrupt(reason: &'static str) -> FrameError {
    FrameError::Corrupt { reason }
}

/// Decodes the frame at the start of `buf`. Never panics, whatever the bytes.
pub fn decode_frame(buf: &[u8]) -> Result<Frame<'_>, FrameError> {
    let Some(length) = buf.get(0..4) else {
        return if buf.iter().all(|b| *b == 0) {
            Ok(Frame::End)
        } else {
            Err(FrameError::Incomplete)
        };
    };
    let body_len = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
    if body_len == 0 {
        return Ok(Frame::End);
    }
    if body_len > MAX_BODY_LEN {
        return Err(corrupt("length field out of range"));
    }
    let frame = buf
        .get(..RECORD_HEADER_LEN + body_len)
        .ok_or(FrameError::Incomplete)?;
    if read_u32(frame, 4) != frame_crc(frame) {
        return Err(corrupt("checksum mismatch"));
    }
    if frame[8] & !FLAG_LAST_OF_APPEND != 0 || frame[9..16].iter().any(|b| *b != 0) {
        return Err(corrupt("unknown flags"));
    }
    Ok(Frame::Record(Record {
        last_of_append: frame[8] & FLAG_LAST_OF_APPEND != 0,
        prev_hash: Hash(read_hash(frame, 16)),
        hash: Hash(read_hash(frame, 48)),
        body: &frame[RECORD_HEADER_LEN..],
    }))
}

/// The offset (relative to `buf`) of the first checksum-valid record frame that starts
/// anywhere in `buf`, skipping zero runs quickly. Recovery uses it to tell a torn tail
/// (nothing valid follows the bad frame) from damage in the middle of the log.
pub fn find_valid_frame(buf: &[u8]) -> Option<usize> {
    let mut offset = 0;
    while offset + RECORD_HEADER_LEN <= buf.len() {
        if buf[offset..offset + 4] == [0; 4] {
            let next_nonzero = buf[offset + 4..].iter().position(|b| *b != 0)?;
            offset = (offset + 4 + next_nonzero)
                .saturating_sub(3)
                .max(offset + 1);
            continue;
        }
        if let Ok(Frame::Record(_)) = decode_frame(&buf[offset..]) {
            return Some(offset);
        }
        offset += 1;
    }
    None
}

/// The first bytes of a durable-end witness slot.
pub const WITNESS_MAGIC: [u8; 8] = *b"ALDGRWIT";

/// Size of one witness slot; the witness file holds two, so a torn write of one slot
/// leaves the other whole.
pub const WITNESS_SLOT_LEN: usize = 512;

/// The bytes of a witness slot that carry data (the rest of the slot is zero).
const WITNESS_DATA_LEN: usize = 88;

/// The witness of the log's durable end, kept in the file `durable-end.chk` beside the
/// segments: written after every batch's `fdatasync` and before any append of the batch
/// is acknowledged (and synced by its own thread), so every acknowledged event lies at
/// or before it.
/// Recovery compares the log with it to tell an unacknowledged torn write (after the
/// witness: cut) from damage to acknowledged events (at or before it: refused).
///
/// The file is two slots of [`WITNESS_SLOT_LEN`] bytes; writes alternate between them
/// and the valid slot with the higher `sequence` wins. Each slot:
///
/// ```text
/// offset size field
///  0     8    magic "ALDGRWIT"
///  8     4    format version (u32 LE), 1
/// 12     4    CRC32C of bytes 0..12 followed by 16..88
/// 16     8    write sequence (u64 LE), one more than the other slot's
/// 24     8    position of the last durable event (u64 LE), 0 for an empty log
/// 32     8    segment sequence holding that event (u64 LE)
/// 40     8    byte offset just past that event's frame in that segment (u64 LE)
/// 48    32    chain hash of that event (zeros for an empty log)
/// 80     8    reserved, zero
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witness {
    /// Which write this was: the newer of two valid slots wins.
    pub sequence: u64,
    /// The last durable (acknowledged or about to be) position.
    pub position: projections::Position,
    /// The segment holding it.
    pub segment: u64,
    /// The byte offset just past its frame in that segment.
    pub end_offset: u64,
    /// Its chain hash.
    pub hash: Hash,
}

impl Witness {
    /// The slot bytes of this witness.
    pub fn encode(&self) -> [u8; WITNESS_SLOT_LEN] {
        let mut out = [0u8; WITNESS_SLOT_LEN];
        out[0..8].copy_from_slice(&WITNESS_MAGIC);
        out[8..12].copy_from_slice(&1u32.to_le_bytes());
        out[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        out[24..32].copy_from_slice(&self.position.to_le_bytes());
        out[32..40].copy_from_slice(&self.segment.to_le_bytes());
        out[40..48].copy_from_slice(&self.end_offset.to_le_bytes());
        out[48..80].copy_from_slice(&self.hash.0);
        let crc = witness_crc(&out);
        out[12..16].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Reads one slot; `None` when it is empty, torn or damaged.
    pub fn decode(slot: &[u8]) -> Option<Witness> {
        let slot = slot.get(..WITNESS_DATA_LEN)?;
        if slot[0..8] != WITNESS_MAGIC
            || read_u32(slot, 8) != 1
            || read_u32(slot, 12) != witness_crc(slot)
        {
            return None;
        }
        Some(Witness {
            sequence: read_u64(slot, 16),
            position: read_u64(slot, 24),
            segment: read_u64(slot, 32),
            end_offset: read_u64(slot, 40),
            hash: Hash(read_hash(slot, 48)),
        })
    }

    /// The newest valid slot of a witness file's bytes.
    pub fn newest(file: &[u8]) -> Option<Witness> {
        let slot = |i: usize| file.get(i * WITNESS_SLOT_LEN..).and_then(Witness::decode);
        match (slot(0), slot(1)) {
            (Some(a), Some(b)) => Some(if a.sequence >= b.sequence { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// The byte offset of the slot this witness is written to.
    pub fn slot_offset(&self) -> u64 {
        (self.sequence % 2) * WITNESS_SLOT_LEN as u64
    }
}

fn witness_crc(slot: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&slot[0..12]), &slot[16..WITNESS_DATA_LEN])
}

fn read_u32(buf: &[u8], at: usize) -> u32 {
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(bytes)
}

fn read_u64(buf: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(bytes)
}

fn read_hash(buf: &[u8], at: usize) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&buf[at..at + 32]);
    bytes
}

#[cfg(test)]
mod tests;
