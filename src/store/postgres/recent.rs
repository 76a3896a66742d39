//! The events this instance's writer committed last, kept for `read_all`.
//!
//! Every follower of `$all` in the service (the views, the dispatcher, live
//! subscriptions, consumer groups) reads each new event right after it is committed,
//! each with a query of its own, and decodes it again. On an instance that writes the
//! newest events itself, those pages are answered here instead, from the events decoded
//! once from the very bytes that were committed.
//!
//! Only a run of consecutive positions is kept, and a page is answered from it only if
//! the run holds the page's first position and reaches the head watch, i.e. no
//! position beyond the run is known to be committed. Anything else (another
//! instance's events, a batch decided under the lock, older positions) is read from
//! the database, so a reader never gets less than a query would have shown it at the
//! moment the head watch said where the log ends.

use super::append::Rows;
use crate::codec;
use projections::{Hash, Position, RecordedEvent};
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many of the newest events are kept (about 1 KiB each).
const KEPT: usize = 4096;

/// A run of consecutive committed positions, newest last.
#[derive(Default)]
pub(super) struct Recent {
    // A std mutex: held only to copy a page in or out, never across an await.
    run: Mutex<VecDeque<RecordedEvent>>,
}

impl Recent {
    /// Adds a committed batch's rows. Rows that do not continue the run (another
    /// instance, or a batch decided under the lock, wrote in between) start it anew.
    pub fn extend(&self, rows: &Rows) {
        let events = decode(rows);
        let mut run = self.run.lock().expect("recent events");
        let Some(events) = events else {
            run.clear();
            return;
        };
        let continues = match (run.back(), events.first()) {
            (Some(last), Some(first)) => first.position == last.position + 1,
            _ => true,
        };
        if !continues {
            run.clear();
        }
        run.extend(events);
        while run.len() > KEPT {
            run.pop_front();
        }
    }

    /// Up to `limit` events from `from`, if the run holds `from` and reaches `head`;
    /// otherwise `None`, and the database answers.
    pub fn page(&self, from: Position, limit: usize, head: Position) -> Option<Vec<RecordedEvent>> {
        let run = self.run.lock().expect("recent events");
        let first = run.front()?.position;
        let last = run.back()?.position;
        let from = from.max(1);
        if from < first || from > last || last < head {
            return None;
        }
        let skip = (from - first) as usize;
        Some(run.iter().skip(skip).take(limit).cloned().collect())
    }
}

/// The rows as the events a read would decode from them; `None` if one does not decode
/// (then the database answers).
fn decode(rows: &Rows) -> Option<Vec<RecordedEvent>> {
    (0..rows.position.len())
        .map(|i| {
            let prev = Hash(rows.prev_hash[i].as_slice().try_into().ok()?);
            let hash = Hash(rows.hash[i].as_slice().try_into().ok()?);
            codec::decode_body(&rows.body[i], rows.position[i] as Position, prev, hash).ok()
        })
        .collect()
}
