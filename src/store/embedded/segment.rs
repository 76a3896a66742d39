//! Segment files: naming, preallocation and whole-file reads.
//!
//! A new segment is written as `<name>.tmp` (header, then zeros up to the segment
//! size), synced, renamed into place and the directory synced, so a segment either
//! exists complete with a valid header or not at all. Zero-filling up front makes
//! every later `fdatasync` an overwrite of allocated blocks, which is much cheaper than
//! syncing a growing file.

use super::format::{
    FormatVersion, SegmentHeader, MAX_BODY_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
};
use crate::io::{read_exact_at, write_all_at, FileSystem, LogFile};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SEGMENT_EXTENSION: &str = "seg";
const ZERO_CHUNK: usize = 1024 * 1024;

/// The file name of segment `sequence`.
pub fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:010}.{SEGMENT_EXTENSION}"))
}

/// The sequence number in a segment file name, `None` for other files.
pub fn parse_segment_name(path: &Path) -> Option<u64> {
    if path.extension()? != SEGMENT_EXTENSION {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 10 {
        return None;
    }
    stem.parse().ok()
}

/// The segment files in `dir`, sorted by sequence. Leftover `.tmp` files from an
/// interrupted segment creation are removed.
pub fn list_segments(fs: &dyn FileSystem, dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for path in fs.list(dir)? {
        if path.extension().is_some_and(|ext| ext == "tmp") {
            fs.remove_file(&path)?;
        } else if let Some(sequence) = parse_segment_name(&path) {
            segments.push((sequence, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Creates segment `sequence` of `size` bytes, zero-filled after its header, durably.
pub fn create_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    sequence: u64,
    size: u64,
) -> io::Result<(PathBuf, Arc<dyn LogFile>)> {
    let prepared = prepare_segment(fs, dir, sequence, size)?;
    install_segment(fs, dir, prepared)
}

/// A segment written and synced under its `.tmp` name, not yet part of the log.
pub struct PreparedSegment {
    sequence: u64,
    tmp: PathBuf,
    file: Arc<dyn LogFile>,
}

impl PreparedSegment {
    /// The sequence number it was prepared for.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
}

/// Writes segment `sequence` as `<name>.tmp`: header, zeros up to `size`, synced. Slow
/// (it writes the whole segment), so the writer runs it ahead of time on another thread.
pub fn prepare_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    sequence: u64,
    size: u64,
) -> io::Result<PreparedSegment> {
    let tmp = segment_path(dir, sequence).with_extension("tmp");
    let file = fs.open(&tmp, true)?;
    file.set_len(0)?;
    let header = SegmentHeader {
        version: FormatVersion::CURRENT,
        sequence,
    };
    write_all_at(file.as_ref(), &header.encode(), 0)?;
    let zeros = vec![0u8; ZERO_CHUNK];
    let mut offset = SEGMENT_HEADER_LEN as u64;
    while offset < size {
        let chunk = (size - offset).min(ZERO_CHUNK as u64) as usize;
        write_all_at(file.as_ref(), &zeros[..chunk], offset)?;
        offset += chunk as u64;
    }
    file.sync_data()?;
    Ok(PreparedSegment {
        sequence,
        tmp,
        file,
    })
}

/// Renames a prepared segment into the log and syncs the directory.
pub fn install_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    prepared: PreparedSegment,
) -> io::Result<(PathBuf, Arc<dyn LogFile>)> {
    let path = segment_path(dir, prepared.sequence);
    fs.rename(&prepared.tmp, &path)?;
    fs.sync_dir(dir)?;
    Ok((path, prepared.file))
}

/// Reads the whole of `file`.
pub fn read_whole(file: &dyn LogFile) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.size()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "segment too large"))?;
    let mut buf = vec![0u8; len];
    read_exact_at(file, &mut buf, 0)?;
    Ok(buf)
}

/// The bytes of the segment being written, from its start through its written data,
/// without reading the rest of its preallocation: frames are followed by their length
/// fields until one is zero (the end-of-data marker) or cannot be a frame; reading goes
/// on past that point only while it finds non-zero bytes (what an unacknowledged write
/// may have left), and stops once a whole [`WRITTEN_SLACK`] of zeros follows them.
pub fn read_written(file: &dyn LogFile) -> io::Result<Vec<u8>> {
    let size = usize::try_from(file.size()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "segment too large"))?;
    let mut buf = Vec::new();
    let mut walk = SEGMENT_HEADER_LEN;
    let mut frames_end = None;
    let mut nonzero_end = 0;
    while buf.len() < size {
        let start = buf.len();
        buf.resize(start + WRITTEN_SLACK.min(size - start), 0);
        read_exact_at(file, &mut buf[start..], start as u64)?;
        if frames_end.is_none() {
            frames_end = walk_frames(&buf, &mut walk);
        }
        let Some(end) = frames_end else {
            continue;
        };
        let from = end.max(start);
        if let Some(last) = buf[from..].iter().rposition(|b| *b != 0) {
            nonzero_end = from + last + 1;
        }
        if buf.len() - nonzero_end.max(end) >= WRITTEN_SLACK {
            break;
        }
    }
    Ok(buf)
}

/// Zero bytes after the written data that end [`read_written`] (also its read size).
pub const WRITTEN_SLACK: usize = 1 << 20;

/// Follows frame lengths from `*walk` while whole frames are in `buf`; the offset
/// where they end, once a length field says so.
fn walk_frames(buf: &[u8], walk: &mut usize) -> Option<usize> {
    while *walk + 4 <= buf.len() {
        let len = u32::from_le_bytes(buf[*walk..*walk + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 || len > MAX_BODY_LEN {
            return Some(*walk);
        }
        let next = *walk + RECORD_HEADER_LEN + len;
        if next > buf.len() {
            return None;
        }
        *walk = next;
    }
    None
}

/// The display name of a segment path (its file name), used in errors.
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
