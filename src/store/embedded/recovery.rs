//! Opening a log: scan every segment, check frames, positions, stream versions and hash
//! links, rebuild the indexes, and deal with a damaged tail under the [`RecoveryMode`].
//!
//! A bad frame (torn, checksum mismatch, broken link, gap) in the **last** segment with
//! no valid frame anywhere after it is a torn tail: an unacknowledged write cut short by
//! a crash. It is zeroed (with a warning naming the byte offset) unless the mode is
//! `Strict`. Records after the last record flagged "last of append" belong to an append
//! that never completed and are rolled back the same way. Anything else is a hard
//! [`StoreError::Corrupt`] naming segment, offset and position.

use super::format::{
    decode_frame, find_valid_frame, Frame, Record, SegmentHeader, SEGMENT_HEADER_LEN,
};
use super::index::{IdEntry, IdIndex, Index, SegmentIndex};
use super::segment::{create_segment, display_name, list_segments, read_whole};
use super::{EmbeddedOptions, RecoveryMode};
use crate::codec::{decode_index_fields, IndexFields};
use crate::io::{write_all_at, FileSystem, LogFile};
use crate::store::StoreError;
use projections::{Hash, Position};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

/// What the writer continues from.
pub struct Recovered {
    /// The readers' index.
    pub index: Index,
    /// Recent event ids.
    pub ids: IdIndex,
    /// Byte offset where the next record goes in the last segment.
    pub write_offset: u64,
    /// End of possibly non-zero bytes after `write_offset` (zeroed by the next write).
    pub dirty_end: u64,
}

struct Pending {
    event_id: Uuid,
    stream: String,
    offset: u64,
}

struct Scan {
    index: Index,
    ids: IdIndex,
    dirty_end: u64,
}

/// Where and why a segment stopped being valid.
struct Damage {
    /// A damaged segment header: never repaired by truncation.
    in_header: bool,
    offset: u64,
    truncate_from: u64,
    position: Position,
    reason: String,
}

/// Opens (or creates) the log in `options.data_dir`.
pub fn recover(options: &EmbeddedOptions) -> Result<Recovered, StoreError> {
    let fs = options.fs.as_ref();
    let dir = &options.data_dir;
    fs.create_dir_all(dir)
        .map_err(|e| StoreError::io("create data dir", e))?;
    let mut segments = list_segments(fs, dir).map_err(|e| StoreError::io("list segments", e))?;
    if segments.is_empty() {
        let (path, _) = create_segment(fs, dir, 1, options.segment_size)
            .map_err(|e| StoreError::io("create first segment", e))?;
        segments.push((1, path));
    }
    let mut scan = Scan {
        index: Index::default(),
        ids: IdIndex::new(options.idempotency_window),
        dirty_end: 0,
    };
    let count = segments.len();
    for (i, (sequence, path)) in segments.iter().enumerate() {
        let is_last = i + 1 == count;
        let file = fs
            .open(path, false)
            .map_err(|e| StoreError::io("open segment", e))?;
        let buf = read_whole(file.as_ref()).map_err(|e| StoreError::io("read segment", e))?;
        let damage = scan_segment(&mut scan, *sequence, path, file.clone(), &buf);
        let Some(damage) = damage else { continue };
        let torn = is_last && tail_is_torn(&buf, damage.offset);
        let repair = !damage.in_header
            && match options.recovery {
                RecoveryMode::TolerateTornTail => torn,
                RecoveryMode::Strict => false,
                RecoveryMode::TruncateAfterCorruption => true,
            };
        if !repair {
            return Err(StoreError::Corrupt {
                segment: display_name(path),
                offset: damage.offset,
                position: damage.position,
                reason: damage.reason,
            });
        }
        if torn {
            tracing::warn!(
                segment = %display_name(path),
                offset = damage.truncate_from,
                reason = %damage.reason,
                "truncating torn tail of the log at byte {}",
                damage.truncate_from
            );
        } else {
            tracing::error!(
                segment = %display_name(path),
                offset = damage.truncate_from,
                position = damage.position,
                reason = %damage.reason,
                "recovery mode truncate-after-corruption: discarding the log from here on"
            );
            quarantine(fs, &segments[i + 1..])?;
        }
        zero_tail(file.as_ref(), &buf, damage.truncate_from)?;
        scan.dirty_end = damage.truncate_from;
        break;
    }
    let write_offset = scan.index.segments.last().map_or(0, |s| s.end);
    Ok(Recovered {
        dirty_end: scan.dirty_end.max(write_offset),
        write_offset,
        index: scan.index,
        ids: scan.ids,
    })
}

/// Scans one segment into `scan`, committing whole appends only. Returns the damage
/// that stopped it, if any.
fn scan_segment(
    scan: &mut Scan,
    sequence: u64,
    path: &Path,
    file: Arc<dyn LogFile>,
    buf: &[u8],
) -> Option<Damage> {
    let first_position = scan.index.head.position + 1;
    scan.index.segments.push(SegmentIndex {
        sequence,
        path: path.to_path_buf(),
        file,
        first_position,
        offsets: Vec::new(),
        end: SEGMENT_HEADER_LEN as u64,
    });
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
        let checked = check_record(&scan.index, &record, link, position, stream, pending.len());
        let fields = match checked {
            Ok(fields) => fields,
            Err(reason) => break Some(damage_at(offset as u64, position, reason)),
        };
        pending.push(Pending {
            event_id: fields.event_id,
            stream: fields.stream.into_owned(),
            offset: offset as u64,
        });
        link = record.hash;
        offset += record.frame_len();
        if record.last_of_append {
            commit(scan, std::mem::take(&mut pending), link, offset as u64);
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
    if damage.is_none() {
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
        let tail = &buf[offset..];
        scan.dirty_end = offset as u64
            + tail
                .iter()
                .rposition(|b| *b != 0)
                .map_or(0, |i| i as u64 + 1);
    }
    damage
}

/// Checks one record against the chain and the stream so far.
fn check_record<'b>(
    index: &Index,
    record: &Record<'b>,
    link: Hash,
    position: Position,
    pending_stream: Option<&str>,
    pending_count: usize,
) -> Result<IndexFields<'b>, String> {
    if record.prev_hash != link {
        return Err("hash chain broken: prev_hash does not match the previous record".into());
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
    let expected_version =
        index.stream_version(&fields.stream).map_or(0, |v| v + 1) + pending_count as u64;
    if fields.stream_version != expected_version {
        return Err(format!(
            "stream {} version {} where {} was expected",
            fields.stream, fields.stream_version, expected_version
        ));
    }
    Ok(fields)
}

fn commit(scan: &mut Scan, records: Vec<Pending>, hash: Hash, end: u64) {
    for record in records {
        let position = scan.index.head.position + 1;
        let stream_version = scan
            .index
            .stream_version(&record.stream)
            .map_or(0, |v| v + 1);
        scan.index
            .push(&record.stream, position, record.offset as u32);
        scan.index.head.position = position;
        scan.ids.insert(
            record.event_id,
            IdEntry {
                position,
                stream_version,
            },
        );
    }
    scan.index.head.hash = hash;
    if let Some(segment) = scan.index.segments.last_mut() {
        segment.end = end;
    }
}

/// A damaged spot is a torn tail when no valid frame starts anywhere after it.
fn tail_is_torn(buf: &[u8], damaged_at: u64) -> bool {
    let after = (damaged_at as usize + 1).min(buf.len());
    find_valid_frame(&buf[after..]).is_none()
}

/// Overwrites every non-zero byte from `from` to the end of the segment with zeros.
fn zero_tail(file: &dyn LogFile, buf: &[u8], from: u64) -> Result<(), StoreError> {
    let tail = &buf[from as usize..];
    let Some(last_nonzero) = tail.iter().rposition(|b| *b != 0) else {
        return Ok(());
    };
    let zeros = vec![0u8; last_nonzero + 1];
    write_all_at(file, &zeros, from).map_err(|e| StoreError::io("truncate torn tail", e))?;
    file.sync_data()
        .map_err(|e| StoreError::io("sync truncated tail", e))
}

/// Renames segments after a truncation point out of the log (never deletes them).
fn quarantine(fs: &dyn FileSystem, later: &[(u64, PathBuf)]) -> Result<(), StoreError> {
    for (_, path) in later {
        let target = path.with_extension("seg.quarantined");
        fs.rename(path, &target)
            .map_err(|e| StoreError::io("quarantine segment", e))?;
    }
    Ok(())
}
