//! Scanning segments: frames, positions, stream versions and hash links are checked
//! and whole appends committed into the indexes; the first problem stops the scan.

use super::super::format::SEGMENT_HEADER_LEN;
use super::super::format::{decode_frame, find_valid_frame, Frame, Record, SegmentHeader};
use super::super::index::{Content, IdIndex, Index, SegmentIndex};
use crate::codec::{chain_hash, decode_index_fields, IndexFields};
use crate::io::LogFile;
use projections::{Hash, Position};
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// The indexes built so far, and what was seen of the witnessed position.
pub(super) struct Scan {
    pub index: Index,
    pub ids: IdIndex,
    pub dirty_end: u64,
    /// The position the durable-end witness names, if any.
    pub witness_position: Option<Position>,
    /// The chain hash the log holds at `witness_position`, once the scan passed it.
    pub witnessed_hash: Option<Hash>,
}

/// Where and why a segment stopped being valid.
#[derive(Debug, Clone)]
pub(super) struct Damage {
    /// A damaged segment header: the whole segment is unusable.
    pub in_header: bool,
    /// Byte offset of the bad frame.
    pub offset: u64,
    /// Where the last whole append ends: everything from here on is not in the log.
    pub truncate_from: u64,
    /// The position the bad record should have had.
    pub position: Position,
    /// Which check failed.
    pub reason: String,
}

struct Pending {
    event_id: Uuid,
    stream: String,
    stream_version: u64,
    offset: u64,
    hash: Hash,
}

/// Scans one segment into `scan`, committing whole appends only. Returns the damage
/// that stopped it, if any. Without a durable-end witness, the bytes after the
/// end-of-data marker are searched for a valid record too (damage in the middle of the
/// log cannot be told from a torn write otherwise); with one, the witness judges
/// whether the log ends short of what was acknowledged, so the scan stops at the marker.
pub(super) fn scan_segment(
    scan: &mut Scan,
    sequence: u64,
    path: &Path,
    file: Arc<dyn LogFile>,
    buf: &[u8],
) -> Option<Damage> {
    let first_position = scan.index.head.position + 1;
    scan.index.segments.push(SegmentIndex::active(
        sequence,
        path.to_path_buf(),
        file,
        first_position,
        scan.index.head.hash,
    ));
    let damage_at = |offset: u64, position: Position, reason: String| Damage {
        in_header: offset == 0,
        offset,
        truncate_from: offset,
        position,
        reason,
    };
    match SegmentHeader::decode(buf) {
        Ok(header) if header.sequence == sequence => {}
        Ok(_) => return Some(damage_at(0, first_position, "sequence mismatch".into())),
        Err(err) => return Some(damage_at(0, first_position, err.to_string())),
    }
    let mut offset = SEGMENT_HEADER_LEN;
    let mut pending: Vec<Pending> = Vec::new();
    let mut link = scan.index.head.hash;
    let mut damage = loop {
        let position = scan.index.head.position + 1 + pending.len() as u64;
        let record = match decode_frame(&buf[offset..]) {
            Ok(Frame::End) => break None,
            Ok(Frame::Record(record)) => record,
            Err(err) => break Some(damage_at(offset as u64, position, err.to_string())),
        };
        let stream = pending.first().map(|p| p.stream.as_str());
        let first_version = pending.first().map(|p| p.stream_version);
        let checked = check_record(
            &scan.index,
            &record,
            link,
            position,
            stream,
            pending.len(),
            first_version,
        );
        let fields = match checked {
            Ok(fields) => fields,
            Err(reason) => break Some(damage_at(offset as u64, position, reason)),
        };
        pending.push(Pending {
            event_id: fields.event_id,
            stream_version: fields.stream_version,
            stream: fields.stream.into_owned(),
            offset: offset as u64,
            hash: record.hash,
        });
        link = record.hash;
        offset += record.frame_len();
        if record.last_of_append {
            commit(scan, std::mem::take(&mut pending), offset as u64);
        }
    };
    let position = scan.index.head.position + 1;
    if damage.is_none() && !pending.is_empty() {
        damage = Some(damage_at(
            offset as u64,
            position + pending.len() as u64,
            "append not completed".into(),
        ));
    }
    if damage.is_none() && scan.witness_position.is_none() {
        if let Some(rel) = find_valid_frame(&buf[offset..]) {
            damage = Some(damage_at(
                offset as u64,
                position,
                format!(
                    "end-of-data marker followed by a valid record at byte {}",
                    offset + rel
                ),
            ));
        }
    }
    if let Some(damage) = &mut damage {
        damage.truncate_from = pending.first().map_or(damage.offset, |p| p.offset);
    } else {
        scan.dirty_end = offset as u64 + last_nonzero_end(&buf[offset..]);
    }
    damage
}

/// One past the last non-zero byte of `bytes` (0 when all are zero).
pub(super) fn last_nonzero_end(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rposition(|b| *b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Checks one record against the chain and the stream so far. The chain hash is
/// recomputed, so an edited body whose frame checksum was recomputed is caught here,
/// not only by `verify`. Stream versions are checked within the segment: a stream's
/// first record in it continues whatever sealed segments hold, which the open does not
/// read (their index files were checked instead); `verify` checks them across the log.
fn check_record<'b>(
    index: &Index,
    record: &Record<'b>,
    link: Hash,
    position: Position,
    pending_stream: Option<&str>,
    pending_count: usize,
    pending_first_version: Option<u64>,
) -> Result<IndexFields<'b>, String> {
    if record.prev_hash != link {
        return Err("hash chain broken: prev_hash does not match the previous record".into());
    }
    if chain_hash(&record.prev_hash, record.body) != record.hash {
        return Err("hash mismatch: the record's content does not match its chain hash".into());
    }
    let fields = decode_index_fields(record.body).map_err(|e| format!("body unreadable: {e}"))?;
    if fields.position != position {
        return Err(format!(
            "position gap: record claims position {}",
            fields.position
        ));
    }
    if pending_stream.is_some_and(|stream| stream != fields.stream) {
        return Err("one append spans two streams".into());
    }
    let in_segment = match index.segments.last().map(|s| &s.content) {
        Some(Content::Active(sealing)) => sealing.last_version(&fields.stream),
        _ => None,
    };
    let expected_version = match (in_segment, pending_first_version) {
        (Some(last), _) => last + 1 + pending_count as u64,
        (None, Some(first)) => first + pending_count as u64,
        (None, None) => return Ok(fields),
    };
    if fields.stream_version != expected_version {
        return Err(format!(
            "stream {} version {} where {} was expected",
            fields.stream, fields.stream_version, expected_version
        ));
    }
    Ok(fields)
}

fn commit(scan: &mut Scan, records: Vec<Pending>, end: u64) {
    for record in records {
        let position = scan.index.head.position + 1;
        if let Some(sealing) = scan.index.being_written() {
            sealing.push(
                record.offset as u32,
                record.event_id,
                &record.stream,
                record.stream_version,
                position,
            );
        }
        scan.index.head.position = position;
        scan.index.head.hash = record.hash;
        if scan.witness_position == Some(position) {
            scan.witnessed_hash = Some(record.hash);
        }
        scan.ids.insert(record.event_id, position);
    }
    if let Some(segment) = scan.index.segments.last_mut() {
        segment.end = end;
    }
}
