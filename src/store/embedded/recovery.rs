//! Opening a log: take sealed segments from their index files (`sealed`), scan the
//! last one (frames, positions, stream versions, chain hashes), and judge any damage against the durable-end witness
//! (`witness`) under the [`RecoveryMode`].
//!
//! What may be cut is decided by the witness, not guessed from the bytes. The writer
//! records the end of every batch in the witness, synced, before acknowledging any of
//! it, so:
//! - damage **after** the witnessed position, in the last segment, is a write that was
//!   never acknowledged (a torn write): it is moved aside into `cut/` and cleared, with a
//!   warning (refused under `Strict`);
//! - damage **at or before** it, a log that ends before it, or a log whose hash at the
//!   witnessed position differs, is [`StoreError::AcknowledgedLoss`] naming the position;
//!   nothing on disk changes. `AcceptDataLoss` cuts there instead (moving everything
//!   after aside) and hands back a [`DataLoss`] that the store records in the log.
//!
//! A log without a witness file (written by an older version) opens as before when it
//! scans clean, and gets a witness; with any damage it is refused, since a torn write
//! cannot then be told from lost acknowledged events.
//!
//! # Layout
//! - `scan`: frame, chain and stream checks; index building.
//! - `cut`: moving bytes and segments aside into `cut/`.

mod cut;
mod scan;
mod sealed;

use super::format::Witness;
use super::index::{IdIndex, Index};
use super::segment::{create_segment, display_name, list_segments, read_whole, read_written};
use super::witness::{self, Found, WITNESS_FILE};
use super::writer::Start;
use super::{EmbeddedOptions, RecoveryMode};
use crate::io::LogFile;
use crate::store::{DataLoss, StoreError};
use projections::Position;
use scan::{scan_segment, Damage, Scan};
use sealed::{continue_last, index_scanned, load_sealed, RecentIds};
use std::path::PathBuf;
use std::sync::Arc;

pub use cut::CUT_DIR;

/// What the readers and the writer continue from.
pub struct Recovered {
    /// The readers' index.
    pub index: Index,
    /// The writer's starting state: recent ids, write offset, the witness, and any
    /// losses accepted under `AcceptDataLoss` to record in the log.
    pub start: Start,
    /// Which segments came from index files and which were scanned.
    pub report: super::OpenReport,
}

/// The segment where the scan stopped, and why.
struct Damaged {
    /// Index into the segment list.
    at: usize,
    /// The segment's file name, for messages.
    segment: String,
    file: Arc<dyn LogFile>,
    buf: Vec<u8>,
    damage: Damage,
}

/// What recovery does with what it found.
enum Verdict {
    /// Serve the log as scanned.
    Intact,
    /// Move aside an unacknowledged torn write at the end of the last segment.
    CutTornWrite,
    /// Acknowledged events are damaged or missing from `position` on: `detail` says how.
    Lost {
        position: Position,
        detail: String,
        witness: Witness,
    },
    /// No witness can vouch for what was acknowledged (missing or damaged) and the log
    /// is damaged, or the witness itself is damaged.
    Unwitnessed { position: Position, detail: String },
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
    let (witness, found) = witness::open(fs, dir)?;
    let witnessed = match found {
        Found::Valid(w) => Some(w),
        Found::Missing | Found::Damaged => None,
    };
    let mut scan = Scan {
        index: Index::default(),
        ids: IdIndex::new(options.idempotency_window),
        dirty_end: 0,
        witness_position: witnessed.map(|w| w.position),
        witnessed_hash: None,
    };
    let mut recent = RecentIds::new(options.idempotency_window);
    let mut report = super::OpenReport::default();
    let mut damaged = None;
    let last = segments.len() - 1;
    for (i, (sequence, path)) in segments.iter().enumerate() {
        let file = fs
            .open(path, false)
            .map_err(|e| StoreError::io("open segment", e))?;
        if i < last {
            match load_sealed(options, &mut scan, &mut recent, *sequence, path, &file) {
                Ok(true) => {
                    report.segments_from_index += 1;
                    continue;
                }
                Ok(false) => {
                    tracing::info!(segment = %display_name(path), "sealed segment has no index yet: scanning it")
                }
                Err(reason) => {
                    tracing::warn!(segment = %display_name(path), %reason, "the index of a sealed segment cannot be used: scanning the segment and writing a new one")
                }
            }
        }
        recent.flush_into(&mut scan.ids);
        let witnessed_end = i == last && scan.witness_position.is_some();
        let buf = if witnessed_end {
            read_written(file.as_ref())
        } else {
            read_whole(file.as_ref())
        }
        .map_err(|e| StoreError::io("read segment", e))?;
        let found = scan_segment(&mut scan, *sequence, path, file.clone(), &buf);
        report.segments_scanned += 1;
        if found.is_none() && i < last {
            index_scanned(options, &mut scan);
        }
        if let Some(damage) = found {
            damaged = Some(Damaged {
                at: i,
                segment: display_name(path),
                file,
                buf,
                damage,
            });
            break;
        }
    }
    let verdict = judge(&scan, damaged.as_ref(), found, segments.len());
    let mut losses = Vec::new();
    match verdict {
        Verdict::Intact => {}
        Verdict::CutTornWrite if options.recovery != RecoveryMode::Strict => {
            let damaged = damaged.as_ref().expect("a torn write is damage");
            cut_torn_write(options, &mut scan, damaged, &segments)?;
        }
        Verdict::CutTornWrite => {
            let damaged = damaged.as_ref().expect("a torn write is damage");
            return Err(corrupt(&segments[damaged.at].1, &damaged.damage));
        }
        Verdict::Lost {
            detail, witness, ..
        } if options.recovery == RecoveryMode::AcceptDataLoss => {
            let loss = accept_loss(options, &mut scan, damaged.as_ref(), &segments, detail)?;
            losses.push(DataLoss {
                witness_position: witness.position,
                ..loss
            });
        }
        Verdict::Unwitnessed { detail, .. } if options.recovery == RecoveryMode::AcceptDataLoss => {
            losses.push(accept_loss(
                options,
                &mut scan,
                damaged.as_ref(),
                &segments,
                detail,
            )?);
        }
        Verdict::Lost {
            position, detail, ..
        }
        | Verdict::Unwitnessed { position, detail } => {
            return Err(StoreError::AcknowledgedLoss { position, detail });
        }
    }
    if found == Found::Missing && scan.index.head.position > 0 && losses.is_empty() {
        tracing::warn!(
            head = scan.index.head.position,
            "no durable-end witness ({WITNESS_FILE}): the log was written by an older version or the file was removed; writing one at the current head"
        );
    }
    recent.flush_into(&mut scan.ids);
    continue_last(options, &mut scan)?;
    let write_offset = scan.index.segments.last().map_or(0, |s| s.end);
    Ok(Recovered {
        start: Start {
            ids: scan.ids,
            write_offset,
            dirty_end: scan.dirty_end.max(write_offset),
            witness,
            witness_stale: witnessed.is_none(),
            losses,
        },
        index: scan.index,
        report,
    })
}

/// Compares what the scan found with the witness.
fn judge(scan: &Scan, damaged: Option<&Damaged>, found: Found, segments: usize) -> Verdict {
    let head = scan.index.head.position;
    let witness = match found {
        Found::Valid(witness) => witness,
        Found::Damaged => {
            return Verdict::Unwitnessed {
                position: head + 1,
                detail: format!(
                    "the durable-end witness {WITNESS_FILE} is damaged (neither slot passes its checksum), so whether acknowledged events after position {head} are missing cannot be told"
                ),
            }
        }
        Found::Missing => {
            return match damaged {
                None => Verdict::Intact,
                Some(d) => Verdict::Unwitnessed {
                    position: head + 1,
                    detail: format!(
                        "{}; there is no durable-end witness ({WITNESS_FILE}) to tell a torn write from acknowledged events",
                        describe(d)
                    ),
                },
            }
        }
    };
    let lost = |position, detail| Verdict::Lost {
        position,
        detail,
        witness,
    };
    let hash_differs = witness.position > 0
        && head >= witness.position
        && scan.witnessed_hash != Some(witness.hash);
    if hash_differs {
        return lost(
            witness.position,
            format!(
                "the log's chain hash at position {} differs from the durable-end witness: the log was rewritten or is not the one the witness was written for",
                witness.position
            ),
        );
    }
    match damaged {
        Some(d) if head < witness.position => lost(
            head + 1,
            format!(
                "{}, but the durable-end witness records position {} as acknowledged",
                describe(d),
                witness.position
            ),
        ),
        Some(d) if d.at + 1 < segments || d.damage.in_header => lost(
            head + 1,
            format!("{} (not at the end of the log)", describe(d)),
        ),
        Some(_) => Verdict::CutTornWrite,
        None if head < witness.position => lost(
            head + 1,
            format!(
                "the log ends at position {head}, but the durable-end witness records position {} as acknowledged",
                witness.position
            ),
        ),
        None => Verdict::Intact,
    }
}

fn describe(d: &Damaged) -> String {
    format!(
        "{} in {} at byte {} (position {})",
        d.damage.reason, d.segment, d.damage.offset, d.damage.position
    )
}

fn corrupt(path: &std::path::Path, damage: &Damage) -> StoreError {
    StoreError::Corrupt {
        segment: display_name(path),
        offset: damage.offset,
        position: damage.position,
        reason: damage.reason.clone(),
    }
}

/// Moves an unacknowledged torn write aside and clears it from the last segment.
fn cut_torn_write(
    options: &EmbeddedOptions,
    scan: &mut Scan,
    damaged: &Damaged,
    segments: &[(u64, PathBuf)],
) -> Result<(), StoreError> {
    let path = &segments[damaged.at].1;
    let from = damaged.damage.truncate_from;
    let moved = cut::move_tail_aside(
        options.fs.as_ref(),
        &options.data_dir,
        path,
        damaged.file.as_ref(),
        &damaged.buf,
        from,
    )?;
    let (file, bytes) = moved.unwrap_or_default();
    tracing::warn!(
        segment = %display_name(path),
        offset = from,
        position = scan.index.head.position + 1,
        reason = %damaged.damage.reason,
        moved_to = %file,
        bytes,
        "cut a torn write that was never acknowledged (after the durable-end witness); its bytes are kept in {file}"
    );
    scan.dirty_end = from;
    Ok(())
}

/// Cuts the log at the damage (or at its end), moving everything after aside, for an
/// operator who accepted the loss.
fn accept_loss(
    options: &EmbeddedOptions,
    scan: &mut Scan,
    damaged: Option<&Damaged>,
    segments: &[(u64, PathBuf)],
    detail: String,
) -> Result<DataLoss, StoreError> {
    let fs = options.fs.as_ref();
    let mut moved_aside = Vec::new();
    let mut cut_bytes = 0;
    if let Some(damaged) = damaged {
        let (path, later) = (&segments[damaged.at].1, &segments[damaged.at + 1..]);
        for (_, segment) in later {
            cut_bytes += std::fs::metadata(segment).map_or(0, |m| m.len());
        }
        if damaged.damage.in_header {
            cut_bytes += damaged.buf.len() as u64;
            moved_aside.extend(cut::move_segments_aside(
                fs,
                &options.data_dir,
                &segments[damaged.at..],
            )?);
            scan.index.segments.pop();
            if scan.index.segments.is_empty() {
                return Err(StoreError::Corrupt {
                    segment: display_name(path),
                    offset: 0,
                    position: 1,
                    reason: "the first segment's header is damaged; nothing is left to serve"
                        .into(),
                });
            }
        } else {
            let from = damaged.damage.truncate_from;
            if let Some((file, bytes)) = cut::move_tail_aside(
                fs,
                &options.data_dir,
                path,
                damaged.file.as_ref(),
                &damaged.buf,
                from,
            )? {
                moved_aside.push(file);
                cut_bytes += bytes;
            }
            moved_aside.extend(cut::move_segments_aside(fs, &options.data_dir, later)?);
            scan.dirty_end = from;
        }
    }
    let loss = DataLoss {
        first_lost_position: scan.index.head.position + 1,
        witness_position: 0,
        witness: "durable-end checkpoint".into(),
        detail,
        moved_aside,
        cut_bytes,
    };
    tracing::error!(
        first_lost_position = loss.first_lost_position,
        detail = %loss.detail,
        moved_aside = ?loss.moved_aside,
        "recovery accept-data-loss: continuing from position {}; the loss is recorded in the log",
        loss.first_lost_position
    );
    Ok(loss)
}
