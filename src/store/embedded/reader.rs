//! Reads of the durable log: plan byte ranges under the index lock, then read and
//! decode without it. Every frame's CRC is checked again on the way out.

use super::format::{decode_frame, Frame};
use super::index::Location;
use super::segment::display_name;
use super::Shared;
use crate::codec::decode_body;
use crate::io::{read_exact_at, LogFile};
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
        let (start, end) = segment.byte_range(position, run_last);
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

fn read_run(run: &Run, out: &mut Vec<RecordedEvent>) -> Result<(), StoreError> {
    let mut buf = vec![0u8; (run.end - run.start) as usize];
    read_exact_at(run.file.as_ref(), &mut buf, run.start)
        .map_err(|e| StoreError::io("read segment", e))?;
    let mut offset = 0usize;
    for i in 0..run.count {
        let position = run.first_position + i;
        let event = decode_at(
            &buf[offset..],
            &run.path,
            run.start + offset as u64,
            position,
        )?;
        offset += event.1;
        out.push(event.0);
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
        let Some(positions) = index.streams.get(stream) else {
            return Ok(Vec::new());
        };
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
                    .locate(position)
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
        out.push(decode_at(&buf, &location.path, location.offset, position)?.0);
    }
    Ok(out)
}
