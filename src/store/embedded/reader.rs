//! Reads of the durable log: plan byte ranges under the index lock, then read and
//! decode without it. Every frame's CRC is checked again on the way out.

use super::format::{decode_frame, Frame, RECORD_HEADER_LEN};
use super::index::Location;
use super::segment::display_name;
use super::Shared;
use crate::codec::decode_body;
use crate::io::{read_exact_at, LogFile};
use crate::store::verify::RawRecord;
use crate::store::{Direction, StoreError};
use projections::{Position, RecordedEvent, StreamVersion};
use std::path::PathBuf;
use std::sync::Arc;

/// A contiguous run of records in one segment.
struct Run {
    file: Arc<dyn LogFile>,
    path: PathBuf,
    start: u64,
    end: u64,
    first_position: Position,
    count: u64,
}

/// Up to `limit` events of `$all` from `from`.
pub(super) fn read_all(
    shared: &Shared,
    from: Position,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let runs = plan_all(shared, from.max(1), limit)?;
    let total = runs.iter().map(|run| run.count as usize).sum();
    let mut out = Vec::with_capacity(total);
    for run in runs {
        read_run(&run, &mut out)?;
    }
    Ok(out)
}

fn plan_all(shared: &Shared, from: Position, limit: usize) -> Result<Vec<Run>, StoreError> {
    let index = shared.read_index()?;
    if limit == 0 || from > index.head.position {
        return Ok(Vec::new());
    }
    let last = index
        .head
        .position
        .min(from.saturating_add(limit as u64 - 1));
    let mut runs = Vec::new();
    let mut position = from;
    let Some(mut segment_at) = index.segment_of(from) else {
        return Ok(runs);
    };
    while position <= last && segment_at < index.segments.len() {
        let segment = &index.segments[segment_at];
        segment_at += 1;
        let Some(segment_last) = segment.last_position() else {
            continue;
        };
        let run_last = segment_last.min(last);
        let (start, end) = segment.byte_range(position, run_last)?;
        runs.push(Run {
            file: segment.file.clone(),
            path: segment.path.clone(),
            start,
            end,
            first_position: position,
            count: run_last - position + 1,
        });
        position = run_last + 1;
    }
    Ok(runs)
}

/// Up to `limit` stored records of `$all` after position `after`, exactly as stored
/// (bodies as hashed, both hashes), without decoding them: the Merkle tree's input and
/// inclusion proofs' records. Every frame's CRC is still checked. Without `bodies`,
/// each record's `body` is left empty (the tree needs only the hashes).
pub(super) fn read_raw(
    shared: &Shared,
    after: Position,
    limit: usize,
    bodies: bool,
) -> Result<Vec<RawRecord>, StoreError> {
    let runs = plan_all(shared, after.saturating_add(1), limit)?;
    let mut out = Vec::new();
    for run in runs {
        let mut buf = vec![0u8; (run.end - run.start) as usize];
        read_exact_at(run.file.as_ref(), &mut buf, run.start)
            .map_err(|e| StoreError::io("read segment", e))?;
        let mut offset = 0usize;
        for i in 0..run.count {
            let position = run.first_position + i;
            let corrupt = |reason: String| StoreError::Corrupt {
                segment: display_name(&run.path),
                offset: run.start + offset as u64,
                position,
                reason,
            };
            match decode_frame(buf.get(offset..).unwrap_or_default()) {
                Ok(Frame::Record(record)) => {
                    out.push(RawRecord {
                        position,
                        body: if bodies {
                            record.body.to_vec()
                        } else {
                            Vec::new()
                        },
                        prev_hash: record.prev_hash,
                        hash: record.hash,
                        columns: None,
                    });
                    offset += record.frame_len();
                }
                Ok(Frame::End) => return Err(corrupt("record missing (zeros)".into())),
                Err(err) => return Err(corrupt(err.to_string())),
            }
        }
    }
    Ok(out)
}

/// Runs of at least this many records are decoded on two threads: decoding JSON, not
/// IO, bounds `$all` reads (rebuilds and catch-up read large pages).
const PARALLEL_DECODE_MIN: u64 = 4096;

fn read_run(run: &Run, out: &mut Vec<RecordedEvent>) -> Result<(), StoreError> {
    let mut buf = vec![0u8; (run.end - run.start) as usize];
    read_exact_at(run.file.as_ref(), &mut buf, run.start)
        .map_err(|e| StoreError::io("read segment", e))?;
    let count = run.count as usize;
    let parallel = run.count >= PARALLEL_DECODE_MIN
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let half = count / 2;
    let split = if parallel {
        skip_frames(&buf, half)
    } else {
        None
    };
    let Some(split) = split else {
        return decode_frames(&buf, run, 0, run.first_position, count, out);
    };
    let (first, second) = buf.split_at(split);
    let second_position = run.first_position + half as u64;
    let mut tail = Vec::with_capacity(count - half);
    let (head_result, tail_result) = std::thread::scope(|scope| {
        let tail_thread = scope
            .spawn(|| decode_frames(second, run, split, second_position, count - half, &mut tail));
        let head_result = decode_frames(first, run, 0, run.first_position, half, out);
        (head_result, tail_thread.join())
    });
    head_result?;
    tail_result.map_err(|_| StoreError::Unavailable("decode thread panicked".into()))??;
    out.append(&mut tail);
    Ok(())
}

/// The byte offset after `count` frames, from their length fields alone; `None` if a
/// length runs past the buffer (the sequential path then reports the damage).
fn skip_frames(buf: &[u8], count: usize) -> Option<usize> {
    let mut offset = 0usize;
    for _ in 0..count {
        let length = buf.get(offset..offset + 4)?;
        let body = u32::from_le_bytes([length[0], length[1], length[2], length[3]]) as usize;
        offset = offset.checked_add(RECORD_HEADER_LEN + body)?;
    }
    (offset <= buf.len()).then_some(offset)
}

/// Decodes `count` frames from `bytes` (found at `base` within the run) into `out`.
fn decode_frames(
    bytes: &[u8],
    run: &Run,
    base: usize,
    first_position: Position,
    count: usize,
    out: &mut Vec<RecordedEvent>,
) -> Result<(), StoreError> {
    let mut offset = 0usize;
    for i in 0..count {
        let position = first_position + i as u64;
        let at = run.start + (base + offset) as u64;
        let (event, len) = decode_at(
            bytes.get(offset..).unwrap_or_default(),
            &run.path,
            at,
            position,
        )?;
        offset += len;
        out.push(event);
    }
    Ok(())
}

fn decode_at(
    bytes: &[u8],
    path: &std::path::Path,
    offset: u64,
    position: Position,
) -> Result<(RecordedEvent, usize), StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        segment: display_name(path),
        offset,
        position,
        reason,
    };
    match decode_frame(bytes) {
        Ok(Frame::Record(record)) => {
            let event = decode_body(record.body, position, record.prev_hash, record.hash)?;
            Ok((event, record.frame_len()))
        }
        Ok(Frame::End) => Err(corrupt("record missing (zeros)".into())),
        Err(err) => Err(corrupt(err.to_string())),
    }
}

/// Up to `limit` events of `stream` from version `from` in `direction`.
pub(super) fn read_stream(
    shared: &Shared,
    stream: &str,
    from: StreamVersion,
    direction: Direction,
    limit: usize,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let planned: Vec<(Position, Location)> = {
        let index = shared.read_index()?;
        let positions = index.stream_positions(stream)?;
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let selected: Vec<Position> = match direction {
            Direction::Forward => positions.iter().skip(from).take(limit).copied().collect(),
            Direction::Backward if positions.is_empty() => Vec::new(),
            Direction::Backward => {
                let start = from.min(positions.len() - 1);
                positions[..=start]
                    .iter()
                    .rev()
                    .take(limit)
                    .copied()
                    .collect()
            }
        };
        selected
            .into_iter()
            .map(|position| {
                index
                    .locate(position)?
                    .map(|location| (position, location))
                    .ok_or_else(|| StoreError::Unavailable("index out of step with log".into()))
            })
            .collect::<Result<_, _>>()?
    };
    let mut out = Vec::with_capacity(planned.len());
    let mut buf = Vec::new();
    for (position, location) in planned {
        buf.resize(location.len as usize, 0);
        read_exact_at(location.file.as_ref(), &mut buf, location.offset)
            .map_err(|e| StoreError::io("read segment", e))?;
        let event = decode_at(&buf, &location.path, location.offset, position)?.0;
        if event.stream != stream {
            return Err(StoreError::Corrupt {
                segment: display_name(&location.path),
                offset: location.offset,
                position,
                reason: format!(
                    "the index places a record of stream {stream} here, but it belongs to {}",
                    event.stream
                ),
            });
        }
        out.push(event);
    }
    Ok(out)
}
