//! The checks every stored record passes, whichever backend stores it, and what a
//! digest or a head proves once the records are read.

use super::{Place, RecordedLoss, RowColumns, Target, VerifyFailure, VerifyReport, PROGRESS_EVERY};
use crate::codec::{chain_hash, decode_body};
use crate::store::Head;
use projections::{Hash, Position};
use std::collections::HashMap;

/// One record as stored, before it is trusted.
pub(super) struct Stored<'a> {
    /// The position the store files the record under, where it keeps one apart from
    /// the body (a table's key); `None` where the body is all there is.
    pub filed_at: Option<Position>,
    /// The stored link to the previous record.
    pub prev_hash: Hash,
    /// The stored hash of this record.
    pub hash: Hash,
    /// The encoded event, as hashed.
    pub body: &'a [u8],
    /// Index columns the store keeps beside the body, which must agree with it.
    pub columns: Option<&'a RowColumns>,
}

/// The running state of one walk: the last good record and each stream's version.
pub(super) struct Chain<P> {
    target: Target,
    progress: P,
    head: Head,
    stream_versions: HashMap<String, u64>,
    /// The durable-end witness of an embedded log: the log must reach it, with its hash.
    witness: Option<Head>,
    losses: Vec<RecordedLoss>,
    /// The first position this walk reads.
    from: Position,
}

impl<P: FnMut(u64)> Chain<P> {
    pub(super) fn new(target: Target, progress: P) -> Self {
        // An incremental walk starts at the digest's own record, whose link to the
        // record before it is not checked (that record is not read).
        let from = match target {
            Target::After { digest, .. } => digest.position.max(1),
            Target::Whole | Target::Digest(_) | Target::UpTo(_) => 1,
        };
        Chain {
            target,
            progress,
            head: Head {
                position: from - 1,
                hash: Hash::GENESIS,
            },
            stream_versions: HashMap::new(),
            witness: None,
            losses: Vec::new(),
            from,
        }
    }

    /// Whether this record is the first of an incremental walk (unlinked, and the
    /// streams' earlier versions unknown).
    fn resuming(&self) -> bool {
        matches!(self.target, Target::After { .. }) && self.head.position + 1 == self.from
    }

    /// Holds the walk to a durable-end witness too: the record at its position must
    /// have its hash, and the log must not end before it.
    pub(super) fn with_witness(mut self, witness: Option<Head>) -> Self {
        self.witness = witness;
        self
    }

    /// The position the next record must have.
    pub(super) fn next_position(&self) -> Position {
        self.head.position + 1
    }

    /// Whether the walk has read all it must (a [`Target::UpTo`] head was reached).
    pub(super) fn done(&self) -> bool {
        match self.target {
            Target::UpTo(head)
            | Target::After {
                up_to: Some(head), ..
            } => self.head.position >= head.position,
            Target::Whole | Target::Digest(_) | Target::After { up_to: None, .. } => false,
        }
    }

    /// Checks the next record; the reason it fails, at [`Chain::next_position`].
    pub(super) fn record(&mut self, record: Stored<'_>) -> Result<(), String> {
        let position = self.next_position();
        if let Some(filed_at) = record.filed_at.filter(|p| *p != position) {
            return Err(format!(
                "position {position} is missing: the next record is filed at {filed_at}"
            ));
        }
        if record.prev_hash != self.head.hash && !self.resuming() {
            return Err("hash chain broken: prev_hash does not match the previous record".into());
        }
        if chain_hash(&record.prev_hash, record.body) != record.hash {
            return Err("content does not match its hash".into());
        }
        let event = decode_body(record.body, position, record.prev_hash, record.hash)
            .map_err(|err| format!("body unreadable: {err}"))?;
        if let Some(columns) = record.columns {
            columns.agree_with(&event)?;
        }
        let known = self.stream_versions.get(&event.stream).map(|v| v + 1);
        let incremental = matches!(self.target, Target::After { .. });
        let expected_version = known.unwrap_or(if incremental { event.stream_version } else { 0 });
        if event.stream_version != expected_version {
            return Err(format!(
                "stream {} version {} where {expected_version} was expected",
                event.stream, event.stream_version
            ));
        }
        if let Some(digest) = self.target.proves().filter(|d| d.position == position) {
            if digest.hash != record.hash {
                return Err(format!(
                    "hash {} differs from the digest {}",
                    record.hash, digest.hash
                ));
            }
        }
        if let Some(witness) = self.witness.filter(|w| w.position == position) {
            if witness.hash != record.hash {
                return Err(format!(
                    "hash {} differs from the durable-end witness {}: the log was rewritten or is not the one the witness was written for",
                    record.hash, witness.hash
                ));
            }
        }
        if let projections::Event::DataLossRecorded {
            first_lost_position,
            witness_position,
            witness,
            detail,
            moved_aside,
            ..
        } = &event.event
        {
            self.losses.push(RecordedLoss {
                position,
                first_lost_position: *first_lost_position,
                witness: witness.clone(),
                witness_position: *witness_position,
                detail: detail.clone(),
                moved_aside: moved_aside.clone(),
            });
        }
        self.stream_versions
            .insert(event.stream, event.stream_version);
        self.head = Head {
            position,
            hash: record.hash,
        };
        if position.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(position);
        }
        Ok(())
    }

    /// The report once every record was read: a digest or head beyond the last record
    /// is a failure (the log lost records it once had).
    pub(super) fn finish(mut self, segments: u64) -> Result<VerifyReport, VerifyFailure> {
        (self.progress)(self.head.position);
        let last = self.head.position;
        let short = |position: Position, reason: String| VerifyFailure::Broken {
            position,
            place: Place::End,
            reason,
        };
        match self.target {
            Target::Digest(digest) | Target::After { digest, .. } if last < digest.position => {
                return Err(short(
                    digest.position,
                    format!("log ends at position {last} before the digest position"),
                ));
            }
            Target::UpTo(head)
            | Target::After {
                up_to: Some(head), ..
            } if last < head.position => {
                return Err(short(
                    last + 1,
                    format!(
                        "log ends at position {last} before position {}",
                        head.position
                    ),
                ));
            }
            _ => {}
        }
        if let Some(witness) = self.witness.filter(|w| last < w.position) {
            return Err(short(
                last + 1,
                format!(
                    "the log ends at position {last}, but the durable-end witness records position {} as acknowledged",
                    witness.position
                ),
            ));
        }
        Ok(VerifyReport {
            events_checked: (last + 1).saturating_sub(self.from),
            from_position: self.from,
            segments,
            head: self.head,
            matched: self.target.proves(),
            losses: self.losses,
        })
    }
}
