//! The embedded log's records, read straight from its segment files: each frame's CRC,
//! the segment headers, completed appends and the end marker are checked here, and
//! every record then goes through the shared [`Chain`].

use super::chain::{Chain, Stored};
use super::{Place, Target, VerifyFailure, VerifyReport};
use crate::codec::decode_index_fields;
use crate::store::embedded::format::sealed::{IndexHeader, IndexLayout, INDEX_HEADER_LEN};
use crate::store::embedded::format::{
    decode_frame, find_valid_frame, Frame, SegmentHeader, Witness, MAX_BODY_LEN, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
use crate::store::embedded::{index_path, parse_segment_name, WITNESS_FILE};
use crate::store::Head;
use projections::Position;
use std::path::{Path, PathBuf};

/// Verifies the log in `dir` against `target`.
pub(super) fn verify(
    dir: &Path,
    target: Target,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    // A running service's witness moves ahead of the head the walk was given; only a
    // log at rest is held to it.
    let witness = match target {
        Target::UpTo(_) | Target::After { up_to: Some(_), .. } => None,
        Target::Whole | Target::Digest(_) | Target::After { up_to: None, .. } => witness(dir)?,
    };
    let mut chain = Chain::new(target, progress).with_witness(witness);
    let segments = list(dir)?;
    let start = match target {
        Target::After { digest, .. } => locate(dir, &segments, digest.position)?,
        Target::Whole | Target::Digest(_) | Target::UpTo(_) => Start {
            segment: 0,
            offset: SEGMENT_HEADER_LEN,
        },
    };
    let mut read = 0;
    for (i, (sequence, path)) in segments.iter().enumerate().skip(start.segment) {
        if chain.done() {
            break;
        }
        read += 1;
        let bytes = read_file(path)?;
        let file = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let from = if i == start.segment {
            start.offset
        } else {
            SEGMENT_HEADER_LEN
        };
        segment(&mut chain, *sequence, &file, &bytes, from)?;
    }
    chain.finish(read)
}

/// What walking a segment's frames towards a position found.
enum Walked {
    /// The frame of the position, at this byte offset.
    Found(usize),
    /// Not in this segment, which holds this many records.
    Passed(u64),
}

/// Steps over the frames of the segment at `path` (whose first record is `first`) by
/// their checksums until the one of `position`; a damaged frame on the way is reported.
fn walk_frames(path: &Path, first: Position, position: Position) -> Result<Walked, VerifyFailure> {
    let bytes = read_file(path)?;
    let mut offset = SEGMENT_HEADER_LEN;
    let mut at = first;
    loop {
        match bytes.get(offset..).map(decode_frame) {
            Some(Ok(Frame::Record(record))) => {
                if at == position {
                    return Ok(Walked::Found(offset));
                }
                at += 1;
                offset += record.frame_len();
            }
            Some(Err(err)) => {
                let file = path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                return Err(VerifyFailure::Broken {
                    position: at,
                    place: Place::Segment {
                        file,
                        offset: offset as u64,
                    },
                    reason: format!("{err} (found on the way to the digest's record)"),
                });
            }
            Some(Ok(Frame::End)) | None => return Ok(Walked::Passed(at - first)),
        }
    }
}

/// Where a walk begins: a segment (index into the sorted list) and a byte offset.
struct Start {
    segment: usize,
    offset: usize,
}

fn read_file(path: &Path) -> Result<Vec<u8>, VerifyFailure> {
    std::fs::read(path).map_err(|e| VerifyFailure::Io(format!("{}: {e}", path.display())))
}

/// Finds the frame of `position` without reading the records before it: the sealed
/// segments' index files say where each segment starts and where the record is. An
/// index is only a guide here (the record found must still be the digest's: its body
/// names the position and hashes to the digest). Where there is none (the last
/// segment, or an index that cannot be read) the segment's frames are walked by their
/// checksums, and a damaged one on the way is reported.
fn locate(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    position: Position,
) -> Result<Start, VerifyFailure> {
    match locate_by_headers(dir, segments, position) {
        Some(found) => found,
        None => locate_by_reading(dir, segments, position),
    }
}

/// The quick way: each sealed segment's index header says where it starts, so only
/// the index of the segment holding `position` is read whole (and checked against its
/// checksum), and the frame it points at must claim `position`; the last segment, which
/// has no index yet, is walked. `None` whenever anything on the way does not fit (then
/// [`locate_by_reading`]).
fn locate_by_headers(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    position: Position,
) -> Option<Result<Start, VerifyFailure>> {
    use std::io::Read;
    let mut first = 1;
    for (i, (sequence, path)) in segments.iter().enumerate() {
        if i + 1 == segments.len() {
            return Some(match walk_frames(path, first, position) {
                Ok(Walked::Found(offset)) => Ok(Start { segment: i, offset }),
                Ok(Walked::Passed(count)) => Err(ends_before(position, first + count - 1)),
                Err(broken) => Err(broken),
            });
        }
        let mut header = [0u8; INDEX_HEADER_LEN];
        std::fs::File::open(index_path(dir, *sequence))
            .and_then(|mut file| file.read_exact(&mut header))
            .ok()?;
        let claimed = IndexHeader::peek(&header)
            .filter(|h| h.sequence == *sequence && h.first_position == first)?;
        if position >= first + claimed.count {
            first += claimed.count;
            continue;
        }
        let bytes = std::fs::read(index_path(dir, *sequence)).ok()?;
        let layout = IndexLayout::parse(&bytes)
            .ok()
            .filter(|layout| layout.first_position == first)?;
        let slot = position - first;
        let offset = (slot < layout.count).then(|| layout.record(&bytes, slot).offset as usize)?;
        let frame = read_frame_at(path, offset)?;
        let Ok(Frame::Record(record)) = decode_frame(&frame) else {
            return None;
        };
        let claims = decode_index_fields(record.body).ok()?.position;
        return (claims == position).then_some(Ok(Start { segment: i, offset }));
    }
    None
}

/// The bytes of the frame at `offset` of the segment at `path` (its header says how
/// long it is), read without the rest of the segment.
fn read_frame_at(path: &Path, offset: usize) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(offset as u64)).ok()?;
    let mut frame = vec![0u8; RECORD_HEADER_LEN];
    file.read_exact(&mut frame).ok()?;
    let body = u32::from_le_bytes(frame[0..4].try_into().ok()?) as usize;
    frame.resize(RECORD_HEADER_LEN + body.min(MAX_BODY_LEN), 0);
    file.read_exact(&mut frame[RECORD_HEADER_LEN..]).ok()?;
    Some(frame)
}

fn ends_before(position: Position, last: Position) -> VerifyFailure {
    VerifyFailure::Broken {
        position,
        place: Place::End,
        reason: format!("log ends at position {last} before the digest position"),
    }
}

/// The thorough way: every sealed segment's index read whole, or its frames walked.
fn locate_by_reading(
    dir: &Path,
    segments: &[(u64, PathBuf)],
    position: Position,
) -> Result<Start, VerifyFailure> {
    let mut first = 1;
    for (i, (sequence, path)) in segments.iter().enumerate() {
        let indexed = std::fs::read(index_path(dir, *sequence))
            .ok()
            .and_then(|bytes| Some((IndexLayout::parse(&bytes).ok()?, bytes)))
            .filter(|(layout, _)| layout.sequence == *sequence && layout.first_position == first);
        if let Some((layout, bytes)) = indexed {
            let count = layout.count;
            if position < first + count {
                let offset = layout.record(&bytes, position - first).offset as usize;
                return Ok(Start { segment: i, offset });
            }
            first += count;
            continue;
        }
        match walk_frames(path, first, position)? {
            Walked::Found(offset) => return Ok(Start { segment: i, offset }),
            Walked::Passed(count) => first += count,
        }
    }
    Err(ends_before(position, first - 1))
}

/// Walks one segment's frames from byte `from` (its first frame, or where an
/// incremental walk starts).
fn segment<P: FnMut(u64)>(
    chain: &mut Chain<P>,
    sequence: u64,
    file: &str,
    bytes: &[u8],
    from: usize,
) -> Result<(), VerifyFailure> {
    let broken = |position, offset: usize, reason: String| VerifyFailure::Broken {
        position,
        place: Place::Segment {
            file: file.to_owned(),
            offset: offset as u64,
        },
        reason,
    };
    match SegmentHeader::decode(bytes) {
        Ok(header) if header.sequence == sequence => {}
        Ok(_) => return Err(broken(chain.next_position(), 0, "sequence mismatch".into())),
        Err(err) => return Err(broken(chain.next_position(), 0, err.to_string())),
    }
    let mut offset = from;
    let mut open_append = false;
    loop {
        if chain.done() {
            return Ok(());
        }
        let position = chain.next_position();
        let record = match decode_frame(&bytes[offset..]) {
            Ok(Frame::Record(record)) => record,
            Ok(Frame::End) => break,
            Err(err) => return Err(broken(position, offset, err.to_string())),
        };
        let stored = Stored {
            filed_at: None,
            prev_hash: record.prev_hash,
            hash: record.hash,
            body: record.body,
            columns: None,
        };
        chain
            .record(stored)
            .map_err(|reason| broken(position, offset, reason))?;
        open_append = !record.last_of_append;
        offset += record.frame_len();
    }
    if open_append {
        let reason = "append not completed (its last record is missing)".to_owned();
        return Err(broken(chain.next_position(), offset, reason));
    }
    if let Some(rel) = find_valid_frame(&bytes[offset..]) {
        let reason = format!("valid record at byte {} after the end marker", offset + rel);
        return Err(broken(chain.next_position(), offset, reason));
    }
    Ok(())
}

fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, VerifyFailure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| VerifyFailure::Io(format!("{}: {e}", dir.display())))?;
    let mut segments = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| VerifyFailure::Io(format!("{}: {e}", dir.display())))?
            .path();
        if let Some(sequence) = parse_segment_name(&path) {
            segments.push((sequence, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// The durable-end witness beside the segments: `None` when there is none (a log
/// written before witnesses existed), a failure when it exists but is damaged.
fn witness(dir: &Path) -> Result<Option<Head>, VerifyFailure> {
    let path = dir.join(WITNESS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) if bytes.is_empty() => return Ok(None),
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(VerifyFailure::Io(format!("{}: {err}", path.display()))),
    };
    let witness = Witness::newest(&bytes).ok_or_else(|| {
        VerifyFailure::Io(format!(
            "the durable-end witness {} is damaged (neither slot passes its checksum)",
            path.display()
        ))
    })?;
    Ok(Some(Head {
        position: witness.position,
        hash: witness.hash,
    }))
}
