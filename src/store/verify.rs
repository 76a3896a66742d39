//! Verification of the log's hash chain, the same on every backend that keeps one:
//! `alert-ledger verify` (offline, `--data-dir D` or `--store postgres://…`) and
//! `POST /v1/ledger/verify` (a running service's log, up to its head or a digest).
//!
//! Read-only: nothing is repaired or removed. Every record, wherever it is stored,
//! passes the same checks ([`chain`]): that `prev_hash` links to the record before,
//! that `hash = SHA-256(prev_hash || body)`, that positions run 1, 2, 3, … without a
//! gap, that the body decodes to a known event at its position, that each stream's
//! versions run 0, 1, 2, …, and that the record at a digest's position has the
//! digest's hash. The first failed check is reported with the position it broke at.
//!
//! # Layout
//! - [`chain`]: those checks, and what a digest or a head proves.
//! - [`segments`]: the embedded log's records, read from its segment files, which
//!   also checks what only files have: each frame's CRC, the segment headers, that
//!   every segment ends on a completed append, that nothing valid hides behind an
//!   end-of-data marker, and that the log still reaches its durable-end witness with
//!   the same hash there (a log cut short after the fact does not verify).
//! - [`raw`]: a server backend's stored records (PostgreSQL's `events` table), read
//!   page by page through [`RawLog`].

mod chain;
mod raw;
mod segments;

pub use raw::{verify_raw_log, RawLog, RawRecord, RowColumns};

use crate::store::Head;
use projections::{Hash, Position};
use std::fmt;
use std::path::Path;

/// How often (in events) `progress` is called.
const PROGRESS_EVERY: u64 = 10_000;

/// What a verification holds the log to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The whole log.
    Whole,
    /// The whole log, and the record at the digest's position has the digest's hash:
    /// the log still contains what the digest committed to (an exported digest).
    Digest(Head),
    /// A log that may still be growing (a running service's) up to `head`: the
    /// records up to `head.position` must chain to `head.hash`; what lies beyond
    /// (appends in flight) is not read.
    UpTo(Head),
    /// Incremental: the record at the digest's position must still be the one the
    /// digest names (its stored body hashes to the digest's hash), and every record
    /// after it is checked as a whole walk would, chained from it. Records before the
    /// digest are not read, and stream versions are checked from each stream's first
    /// record after the digest on. With `up_to` (a running service's head), what
    /// lies beyond it is not read, as for [`Target::UpTo`].
    After {
        /// The digest saved earlier.
        digest: Head,
        /// Where to stop; `None`: the end of the log.
        up_to: Option<Head>,
    },
}

impl Target {
    /// The head the log must still hash to, if any.
    fn proves(self) -> Option<Head> {
        match self {
            Target::Whole => None,
            Target::Digest(head) | Target::UpTo(head) => Some(head),
            Target::After { digest, .. } => Some(digest),
        }
    }
}

/// A loss of acknowledged events recorded in the log (`data_loss_recorded`, written
/// under `--recovery accept-data-loss`): verify lists every one it passes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecordedLoss {
    /// Where the record is.
    pub position: Position,
    /// The first position that lost what was acknowledged there.
    pub first_lost_position: Position,
    /// Which witness disagreed, and the position it recorded.
    pub witness: String,
    /// The witness's position.
    pub witness_position: Position,
    /// What recovery found.
    pub detail: String,
    /// Files under the data directory holding the cut bytes.
    pub moved_aside: Vec<String>,
}

impl fmt::Display for RecordedLoss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "data loss recorded at position {}: first lost position {}; {} recorded position {}; {}",
            self.position, self.first_lost_position, self.witness, self.witness_position, self.detail
        )?;
        if !self.moved_aside.is_empty() {
            write!(f, "; cut bytes kept in {}", self.moved_aside.join(", "))?;
        }
        Ok(())
    }
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub events_checked: u64,
    /// The first position checked: 1, or the digest's for an incremental verify.
    pub from_position: Position,
    /// Segment files read (0 for a server backend).
    pub segments: u64,
    /// The last record checked: its position and chain hash.
    pub head: Head,
    /// The digest (or head) the log was proven to still hash to, when one was given.
    pub matched: Option<Head>,
    /// Every recorded loss of acknowledged events, in log order.
    pub losses: Vec<RecordedLoss>,
}

/// Why verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyFailure {
    /// The log could not be read at all (a missing directory, an unreachable
    /// database): nothing is known about its content.
    #[error("cannot read the log: {0}")]
    Io(String),
    /// The first record that breaks a check.
    #[error("log broken at position {position} ({place}): {reason}")]
    Broken {
        /// The position the bad record has or should have had.
        position: Position,
        /// Where the record is stored.
        place: Place,
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

    /// Which check failed, or why the log could not be read.
    pub fn reason(&self) -> &str {
        match self {
            VerifyFailure::Broken { reason, .. } => reason,
            VerifyFailure::Io(cause) => cause,
        }
    }
}

/// Where a bad record is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A segment file of the embedded log, at a byte offset.
    Segment {
        /// The file's name.
        file: String,
        /// Byte offset of the record's frame.
        offset: u64,
    },
    /// A row of a server backend's table (`events`).
    Table(String),
    /// After the last record: the log ends too early.
    End,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Segment { file, offset } => write!(f, "{file}, byte {offset}"),
            Place::Table(table) => write!(f, "table {table}"),
            Place::End => f.write_str("end of the log"),
        }
    }
}

/// Verifies the whole embedded log in `dir`; `progress` receives the running count
/// of records.
pub fn verify_data_dir(
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    segments::verify(dir, Target::Whole, progress)
}

/// Verifies the whole embedded log and that the record at `position` has chain hash
/// `hash` (a digest exported earlier).
pub fn verify_against_digest(
    dir: &Path,
    position: Position,
    hash: Hash,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    segments::verify(dir, Target::Digest(Head { position, hash }), progress)
}

/// Verifies an embedded log that may still be growing (a running service's) up to
/// `head`; see [`Target::UpTo`].
pub fn verify_up_to(
    dir: &Path,
    head: Head,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    segments::verify(dir, Target::UpTo(head), progress)
}

/// Verifies the embedded log in `dir` against `target`.
pub fn verify_segments(
    dir: &Path,
    target: Target,
    progress: impl FnMut(u64),
) -> Result<VerifyReport, VerifyFailure> {
    segments::verify(dir, target, progress)
}
