//! Sealed segments on open: taken from their index files when those read back whole
//! and agree with their segment, so only the last segment is scanned; a sealed segment
//! without a usable index is scanned and gets one.

use super::super::format::sealed::{SealedIndex, SealedRecord};
use super::super::format::{decode_frame, Frame};
use super::super::index::{IdEntry, IdIndex, SegmentIndex};
use super::super::sealing::{agrees, read_index, write_index, Sealing};
use super::super::EmbeddedOptions;
use super::scan::Scan;
use crate::io::{read_exact_at, LogFile};
use projections::Position;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// The ids of the newest sealed segments taken from their indexes, enough to fill the
/// idempotency window: older segments' ids are never held.
pub(super) struct RecentIds {
    /// Per segment: its first position and its records, turned into window entries
    /// only when flushed (most segments of a long log never are).
    segments: VecDeque<(Position, Vec<SealedRecord>)>,
    held: usize,
    capacity: usize,
}

impl RecentIds {
    pub(super) fn new(capacity: usize) -> RecentIds {
        RecentIds {
            segments: VecDeque::new(),
            held: 0,
            capacity,
        }
    }

    fn push(&mut self, first: Position, records: Vec<SealedRecord>) {
        self.held += records.len();
        self.segments.push_back((first, records));
        while let Some((_, oldest)) = self.segments.front() {
            if self.held - oldest.len() < self.capacity {
                break;
            }
            self.held -= oldest.len();
            self.segments.pop_front();
        }
    }

    /// Moves what is held into `ids`, oldest first (before any scanned segment's ids).
    pub(super) fn flush_into(&mut self, ids: &mut IdIndex) {
        for (first, records) in self.segments.drain(..) {
            for (i, record) in records.into_iter().enumerate() {
                let entry = IdEntry {
                    position: first + i as u64,
                    stream_version: record.stream_version,
                };
                ids.insert(record.event_id, entry);
            }
        }
        self.held = 0;
    }
}

/// Takes sealed segment `sequence` from its index file into `scan`. `Ok(false)`: it
/// has none; `Err`: why the one it has cannot be used (the caller scans instead).
pub(super) fn load_sealed(
    options: &EmbeddedOptions,
    scan: &mut Scan,
    recent: &mut RecentIds,
    sequence: u64,
    path: &Path,
    file: &Arc<dyn LogFile>,
) -> Result<bool, String> {
    let Some(index) = read_index(options.fs.as_ref(), &options.data_dir, sequence)? else {
        return Ok(false);
    };
    let head = scan.index.head;
    agrees(
        &index,
        file.as_ref(),
        sequence,
        head.position + 1,
        head.hash,
    )?;
    for run in &index.streams {
        let expected = scan.index.stream_version(&run.stream).map_or(0, |v| v + 1);
        if run.first_version != expected {
            return Err(format!(
                "stream {} continues at version {} where the log is at {expected}",
                run.stream, run.first_version
            ));
        }
    }
    if let Some(at) = scan.witness_position {
        let last = index.last_position().unwrap_or(head.position);
        if at > head.position && at <= last {
            scan.witnessed_hash = Some(hash_at(&index, file.as_ref(), at)?);
        }
    }
    apply(scan, recent, index, path, file.clone());
    Ok(true)
}

/// The chain hash of the record at `position` of the indexed segment.
fn hash_at(
    index: &SealedIndex,
    file: &dyn LogFile,
    position: Position,
) -> Result<projections::Hash, String> {
    let i = (position - index.first_position) as usize;
    if i + 1 == index.records.len() {
        return Ok(index.last_hash);
    }
    let start = u64::from(index.records[i].offset);
    let end = u64::from(index.records[i + 1].offset);
    let mut frame = vec![0u8; (end - start) as usize];
    read_exact_at(file, &mut frame, start).map_err(|e| e.to_string())?;
    match decode_frame(&frame) {
        Ok(Frame::Record(record)) => Ok(record.hash),
        _ => Err(format!(
            "the record at position {position} does not read back"
        )),
    }
}

fn apply(
    scan: &mut Scan,
    recent: &mut RecentIds,
    index: SealedIndex,
    path: &Path,
    file: Arc<dyn LogFile>,
) {
    let first = index.first_position;
    let offsets = index.records.iter().map(|r| r.offset).collect();
    if let Some(last) = index.last_position() {
        scan.index.head.position = last;
        scan.index.head.hash = index.last_hash;
    }
    scan.index.segments.push(SegmentIndex {
        sequence: index.sequence,
        path: path.to_path_buf(),
        file,
        first_position: first,
        offsets,
        end: index.end,
    });
    recent.push(first, index.records);
    for run in index.streams {
        match scan.index.streams.get_mut(run.stream.as_str()) {
            Some(positions) => positions.extend(run.positions),
            None => {
                scan.index
                    .streams
                    .insert(run.stream.into_boxed_str(), run.positions);
            }
        }
    }
}

/// Writes the index of the sealed segment `scan` just scanned whole.
pub(super) fn index_scanned(options: &EmbeddedOptions, scan: &mut Scan) {
    let Some(sealing) = scan.sealing.take() else {
        return;
    };
    let end = scan.index.segments.last().map_or(0, |s| s.end);
    let sealed = sealing.seal(end, scan.index.head.hash);
    let sequence = sealed.sequence;
    match write_index(options.fs.as_ref(), &options.data_dir, &sealed) {
        Ok(()) => tracing::info!(segment = sequence, "built the index of a sealed segment"),
        Err(err) => {
            tracing::warn!(segment = sequence, error = %err, "cannot write the index of a sealed segment; the next open scans it again")
        }
    }
}

/// The records of the segment the writer continues in: the last one scanned, or (when
/// recovery cut the segments after a sealed one) that segment's index. `None` when
/// neither is at hand: that segment then gets no index when sealed, and the next open
/// scans it.
pub(super) fn last_sealing(options: &EmbeddedOptions, scan: &mut Scan) -> Option<Sealing> {
    let last = scan.index.segments.last()?;
    let (sequence, first) = (last.sequence, last.first_position);
    match scan.sealing.take() {
        Some(sealing) if sealing.sequence() == sequence => Some(sealing),
        _ => match read_index(options.fs.as_ref(), &options.data_dir, sequence) {
            Ok(Some(index))
                if index.first_position == first
                    && index.last_position() == Some(scan.index.head.position) =>
            {
                Some(Sealing::from_index(index))
            }
            _ => None,
        },
    }
}
