//! Offline verification of an embedded log (`alert-ledger verify --data-dir D`).
//!
//! Reads the segment files directly (read-only: nothing is repaired or removed) and
//! checks, record by record: the frame CRC, that `prev_hash` links to the record
//! before, that `hash = SHA-256(prev_hash || body)`, that positions run 1, 2, 3, …
//! without a gap, that each stream's versions run 0, 1, 2, …, that every segment ends
//! on a completed append, and that nothing valid hides behind an end-of-data marker.
//! The first failed check is reported with the position it broke at.

use crate::codec::{chain_hash, decode_index_fields};
use crate::store::embedded::format::{
    decode_frame, find_valid_frame, Frame, SegmentHeader, SEGMENT_HEADER_LEN,
};
use crate::store::embedded::parse_segment_name;
use crate::store::Head;
use projections::{Hash, Position};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How often (in events) `progress` is called.
const PROGRESS_EVERY: u64 = 10_000;

/// A log that verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub events_checked: u64,
    /// Segment files read.
    pub segments: u64,
    /// The last record's position and chain hash.
    pub head: Head,
}

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// The log could not be read at all.
    #[error("cannot read the log: {0}")]
    Io(String),
    /// The first record that breaks a check.
    #[error("log broken at position {position} ({segment}, byte {offset}): {reason}")]
    Broken {
        /// The position the bad record has or should have had.
        position: Position,
        /// The segment file.
        segment: String,
        /// Byte offset in the segment.
        offset: u64,
        /// Which check failed.
        reason: String,
    },
}

impl VerifyFailure {
    /// The first bad position, if the failure is in the log's content.
    pub fn position(&self) -> Option<Position> {
        match self {
            VerifyFailure::Broken { position, .. } => Some(*position),
            VerifyFailure::Io(_) => None,
        }
    }
}

/// Verifies the whole log in `dir`; `progress` receives the running count of records.
pub fn verify_data_dir(
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    Walker::new(None, progress).walk(dir)
}

/// Verifies the whole log and that the record at `position` has chain hash `hash`
/// (a digest exported earlier): the log still contains what the digest committed to.
pub fn verify_against_digest(
    dir: &Path,
    position: Position,
    hash: Hash,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    let report = Walker::new(Some(Head { position, hash }), progress).walk(dir)?;
    if report.head.position < position {
        return Err(VerifyFailure::Broken {
            position,
            segment: String::new(),
            offset: 0,
            reason: format!(
                "log ends at position {} before the digest position",
                report.head.position
            ),
        });
    }
    Ok(report)
}

/// Verifies a log that may still be growing (a running service's) up to `head`: the
/// records up to `head.position` must chain to `head.hash`; what lies beyond (appends
/// in flight) is not read.
pub fn verify_up_to(
    dir: &Path,
    head: Head,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    let mut walker = Walker::new(Some(head), progress);
    walker.stop_at = Some(head.position);
    let report = walker.walk(dir)?;
    if report.head.position < head.position {
        return Err(VerifyFailure::Broken {
            position: report.head.position + 1,
            segment: String::new(),
            offset: 0,
            reason: format!(
                "log ends at position {} before position {}",
                report.head.position, head.position
            ),
        });
    }
    Ok(report)
}

struct Walker<P> {
    digest: Option<Head>,
    /// Stop once this position is checked (for a log still being appended to).
    stop_at: Option<Position>,
    progress: P,
    head: Head,
    stream_versions: HashMap<String, u64>,
}

impl<P: FnMut(u64)> Walker<P> {
    fn new(digest: Option<Head>, progress: P) -> Self {
        Walker {
            digest,
            stop_at: None,
            progress,
            head: Head {
                position: 0,
                hash: Hash::GENESIS,
            },
            stream_versions: HashMap::new(),
        }
    }

    fn walk(mut self, dir: &Path) -> Result<VerifyReport, VerifyFailure> {
        let segments = list(dir)?;
        let mut read = 0;
        for (sequence, path) in &segments {
            if self.reached_stop() {
                break;
            }
            read += 1;
            let bytes = std::fs::read(path)
                .map_err(|e| VerifyFailure::Io(format!("{}: {e}", path.display())))?;
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            self.segment(*sequence, &name, &bytes)?;
        }
        (self.progress)(self.head.position);
        Ok(VerifyReport {
            events_checked: self.head.position,
            segments: read,
            head: self.head,
        })
    }

    fn reached_stop(&self) -> bool {
        self.stop_at.is_some_and(|stop| self.head.position >= stop)
    }

    fn segment(&mut self, sequence: u64, name: &str, bytes: &[u8]) -> Result<(), VerifyFailure> {
        let broken = |position: Position, offset: usize, reason: String| VerifyFailure::Broken {
            position,
            segment: name.to_owned(),
            offset: offset as u64,
            reason,
        };
        match SegmentHeader::decode(bytes) {
            Ok(header) if header.sequence == sequence => {}
            Ok(_) => {
                return Err(broken(
                    self.head.position + 1,
                    0,
                    "sequence mismatch".into(),
                ))
            }
            Err(err) => return Err(broken(self.head.position + 1, 0, err.to_string())),
        }
        let mut offset = SEGMENT_HEADER_LEN;
        let mut open_append = false;
        loop {
            if self.reached_stop() {
                return Ok(());
            }
            let position = self.head.position + 1;
            let record = match decode_frame(&bytes[offset..]) {
                Ok(Frame::Record(record)) => record,
                Ok(Frame::End) => break,
                Err(err) => return Err(broken(position, offset, err.to_string())),
            };
            self.record(&record, position)
                .map_err(|reason| broken(position, offset, reason))?;
            open_append = !record.last_of_append;
            offset += record.frame_len();
        }
        if open_append {
            let reason = "append not completed (its last record is missing)".to_owned();
            return Err(broken(self.head.position + 1, offset, reason));
        }
        if let Some(rel) = find_valid_frame(&bytes[offset..]) {
            let reason = format!("valid record at byte {} after the end marker", offset + rel);
            return Err(broken(self.head.position + 1, offset, reason));
        }
        Ok(())
    }

    fn record(
        &mut self,
        record: &crate::store::embedded::format::Record<'_>,
        position: Position,
    ) -> Result<(), String> {
        if record.prev_hash != self.head.hash {
            return Err("hash chain broken: prev_hash does not match the previous record".into());
        }
        if chain_hash(&record.prev_hash, record.body) != record.hash {
            return Err("content does not match its hash".into());
        }
        let fields =
            decode_index_fields(record.body).map_err(|e| format!("body unreadable: {e}"))?;
        if fields.position != position {
            return Err(format!("record claims position {}", fields.position));
        }
        let expected_version = self
            .stream_versions
            .get(fields.stream.as_ref())
            .map_or(0, |v| v + 1);
        if fields.stream_version != expected_version {
            return Err(format!(
                "stream {} version {} where {expected_version} was expected",
                fields.stream, fields.stream_version
            ));
        }
        if let Some(digest) = self.digest.filter(|d| d.position == position) {
            if digest.hash != record.hash {
                return Err(format!(
                    "hash {} differs from the digest {}",
                    record.hash, digest.hash
                ));
            }
        }
        self.stream_versions
            .insert(fields.stream.into_owned(), fields.stream_version);
        self.head = Head {
            position,
            hash: record.hash,
        };
        if position.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(position);
        }
        Ok(())
    }
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
