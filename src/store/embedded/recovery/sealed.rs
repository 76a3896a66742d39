//! Sealed segments on open: taken from their index files when those check out whole and
//! agree with their segment, so only the last segment is scanned; a sealed segment
//! without a usable index is scanned and gets one.

use super::super::format::sealed::IndexLayout;
use super::super::format::{decode_frame, Frame};
use super::super::index::ids::{forget_covered, id_key};
use super::super::index::{Content, IdIndex, SealedFile, SegmentIndex};
use super::super::sealing::{agrees, read_index, read_index_file, write_index, Sealing};
use super::super::EmbeddedOptions;
use super::scan::Scan;
use crate::io::{read_exact_at, LogFile};
use crate::store::StoreError;
use projections::Position;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

/// The ids of the newest sealed segments taken from their indexes, enough to fill the
/// idempotency window: older segments' ids are dropped as newer ones arrive.
pub(super) struct RecentIds {
    /// Per segment: its first position and its ids' (key, slot), unsorted.
    segments: VecDeque<(Position, Vec<(u64, u32)>)>,
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

    fn push(&mut self, first: Position, keys: Vec<(u64, u32)>) {
        if self.capacity == 0 {
            return;
        }
        self.held += keys.len();
        self.segments.push_back((first, keys));
        forget_covered(
            &mut self.segments,
            &mut self.held,
            self.capacity,
            |(_, keys)| keys.len(),
        );
    }

    /// Moves what is held into `ids`, oldest first (before any scanned segment's ids).
    pub(super) fn flush_into(&mut self, ids: &mut IdIndex) {
        for (first, keys) in self.segments.drain(..) {
            ids.push_sealed(first, keys);
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
    let Some((index_file, bytes)) =
        read_index_file(options.fs.as_ref(), &options.data_dir, sequence)?
    else {
        return Ok(false);
    };
    let sealed = SealedFile::new(index_file, &bytes).map_err(|e| e.to_string())?;
    let layout = sealed.layout();
    let head = scan.index.head;
    agrees(
        layout,
        &bytes,
        file.as_ref(),
        sequence,
        head.position + 1,
        head.hash,
    )?;
    if let Some(at) = scan.witness_position {
        let last = layout.last_position().unwrap_or(head.position);
        if at > head.position && at <= last {
            scan.witnessed_hash = Some(hash_at(layout, &bytes, file.as_ref(), at)?);
        }
    }
    let first = layout.first_position;
    if recent.capacity > 0 {
        let keys = (0..layout.count)
            .map(|i| (id_key(&layout.record(&bytes, i).event_id), i as u32))
            .collect();
        recent.push(first, keys);
    }
    if let Some(last) = layout.last_position() {
        scan.index.head.position = last;
        scan.index.head.hash = layout.last_hash;
    }
    scan.index.segments.push(SegmentIndex {
        sequence,
        path: path.to_path_buf(),
        file: file.clone(),
        first_position: first,
        end: layout.end,
        content: Content::File(sealed),
    });
    Ok(true)
}

/// The chain hash of the record at `position` of the indexed segment.
fn hash_at(
    layout: &IndexLayout,
    bytes: &[u8],
    file: &dyn LogFile,
    position: Position,
) -> Result<projections::Hash, String> {
    let i = position - layout.first_position;
    if i + 1 == layout.count {
        return Ok(layout.last_hash);
    }
    let start = u64::from(layout.record(bytes, i).offset);
    let end = u64::from(layout.record(bytes, i + 1).offset);
    let mut frame = vec![0u8; (end - start) as usize];
    read_exact_at(file, &mut frame, start).map_err(|e| e.to_string())?;
    match decode_frame(&frame) {
        Ok(Frame::Record(record)) => Ok(record.hash),
        _ => Err(format!(
            "the record at position {position} does not read back"
        )),
    }
}

/// Seals the segment `scan` just scanned whole and writes its index file.
pub(super) fn index_scanned(options: &EmbeddedOptions, scan: &mut Scan) {
    scan.ids.seal_active();
    let Some(sealed) = scan.index.seal_last() else {
        return;
    };
    let sequence = sealed.sequence;
    match write_index(options.fs.as_ref(), &options.data_dir, &sealed) {
        Ok(file) => {
            scan.index.install_file(sequence, file);
            tracing::info!(segment = sequence, "built the index of a sealed segment");
        }
        Err(err) => {
            tracing::warn!(segment = sequence, error = %err, "cannot write the index of a sealed segment; it is kept in memory and the next open scans it again")
        }
    }
}

/// Makes the last segment the one the writer continues in. It already is when it was
/// scanned; when recovery cut the segments after a sealed one, that segment's index
/// is decoded whole to continue from.
pub(super) fn continue_last(options: &EmbeddedOptions, scan: &mut Scan) -> Result<(), StoreError> {
    let Some(last) = scan.index.segments.last_mut() else {
        return Ok(());
    };
    let placeholder = Content::Sealed(Arc::new(super::super::format::sealed::SealedIndex::empty()));
    match std::mem::replace(&mut last.content, placeholder) {
        Content::Active(sealing) => {
            last.content = Content::Active(sealing);
            return Ok(());
        }
        Content::Sealed(index) => {
            last.content = Content::Active(Sealing::from_index(Arc::unwrap_or_clone(index)));
            return Ok(());
        }
        Content::File(_) => {}
    }
    let index = read_index(options.fs.as_ref(), &options.data_dir, last.sequence)
        .ok()
        .flatten()
        .filter(|index| index.first_position == last.first_position)
        .ok_or_else(|| {
            StoreError::Unavailable(
                format!(
                    "cannot read back the index of segment {} to continue writing it",
                    last.sequence
                )
                .into(),
            )
        })?;
    last.content = Content::Active(Sealing::from_index(index));
    Ok(())
}
