//! The idempotency window: which recent positions may hold a given event id.
//!
//! It covers at least the newest `capacity` events, in whole segments: the segment
//! being written exactly (id → position), and the newest sealed segments as sorted
//! 64-bit keys of their ids with each record's slot, behind a filter of 16 bits per id
//! that rules most segments out without a search (14 bytes per event, so a window of
//! 1,000,000 events costs about 14 MB). A key match is only a candidate: the writer
//! reads the record there and compares the whole id. A sealed segment leaves the window
//! once the newer ones cover `capacity` events; a duplicate id older than that is
//! appended as a new event (see ADR 0002).

use projections::Position;
use std::collections::{HashMap, VecDeque};
use uuid::Uuid;

/// The window's key of an event id (a collision only costs one extra read).
pub fn id_key(id: &Uuid) -> u64 {
    let (high, low) = id.as_u64_pair();
    high ^ low.rotate_left(29)
}

/// One sealed segment's ids, sorted by key.
struct SealedIds {
    first_position: Position,
    filter: KeyFilter,
    keys: Vec<u64>,
    slots: Vec<u32>,
}

/// A Bloom filter over a sealed segment's keys: two bits per key in a table of at least
/// 16 bits per key, so a key the segment does not hold passes in about 1.4 % of the
/// segments instead of costing each a binary search (a new id, the common case, is in
/// none of them). The bits are taken from the key multiplied by an odd constant, so
/// keys that differ only in a few low bits (ids counted up) still spread.
struct KeyFilter {
    words: Vec<u64>,
    /// 64 minus the table's size in bits as a power of two.
    shift: u32,
}

impl KeyFilter {
    fn new(keys: &[u64]) -> KeyFilter {
        let bits = (keys.len().max(1) * 16).next_power_of_two().max(64);
        let mut filter = KeyFilter {
            words: vec![0; bits / 64],
            shift: 64 - bits.trailing_zeros(),
        };
        for key in keys {
            for bit in filter.bits(*key) {
                filter.words[bit / 64] |= 1 << (bit % 64);
            }
        }
        filter
    }

    fn bits(&self, key: u64) -> [usize; 2] {
        let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let second = mixed.rotate_left(32).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        [
            (mixed >> self.shift) as usize,
            (second >> self.shift) as usize,
        ]
    }

    fn may_hold(&self, key: u64) -> bool {
        self.bits(key)
            .iter()
            .all(|bit| self.words[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// Event id → candidate positions, for the newest events.
pub struct IdIndex {
    capacity: usize,
    sealed: VecDeque<SealedIds>,
    held: usize,
    active: HashMap<Uuid, Position>,
    active_first: Option<Position>,
}

impl IdIndex {
    /// An empty window covering at least `capacity` events (none when 0).
    pub fn new(capacity: usize) -> IdIndex {
        IdIndex {
            capacity,
            sealed: VecDeque::new(),
            held: 0,
            active: HashMap::new(),
            active_first: None,
        }
    }

    /// The positions that may hold `id`, newest first: an exact hit in the segment being
    /// written, then key matches in sealed segments.
    pub fn candidates(&self, id: &Uuid) -> Vec<Position> {
        if let Some(position) = self.active.get(id) {
            return vec![*position];
        }
        let key = id_key(id);
        let mut found = Vec::new();
        for segment in self.sealed.iter().rev() {
            if !segment.filter.may_hold(key) {
                continue;
            }
            let from = segment.keys.partition_point(|k| *k < key);
            for (i, k) in segment.keys[from..].iter().enumerate() {
                if *k != key {
                    break;
                }
                found.push(segment.first_position + u64::from(segment.slots[from + i]));
            }
        }
        found
    }

    /// Remembers `id` at `position` in the segment being written.
    pub fn insert(&mut self, id: Uuid, position: Position) {
        if self.capacity == 0 {
            return;
        }
        self.active_first.get_or_insert(position);
        self.active.insert(id, position);
    }

    /// The segment being written is sealed: its ids join the sealed part of the window.
    pub fn seal_active(&mut self) {
        let Some(first) = self.active_first.take() else {
            return;
        };
        let keys = std::mem::take(&mut self.active)
            .into_iter()
            .map(|(id, position)| (id_key(&id), (position - first) as u32))
            .collect();
        self.push_sealed(first, keys);
    }

    /// Adds a sealed segment's ids (key, slot), oldest segment first, and forgets the
    /// oldest segments the newer ones make unnecessary.
    pub fn push_sealed(&mut self, first_position: Position, mut keys: Vec<(u64, u32)>) {
        if self.capacity == 0 || keys.is_empty() {
            return;
        }
        keys.sort_unstable();
        self.held += keys.len();
        let sorted: Vec<u64> = keys.iter().map(|(k, _)| *k).collect();
        self.sealed.push_back(SealedIds {
            first_position,
            filter: KeyFilter::new(&sorted),
            keys: sorted,
            slots: keys.iter().map(|(_, s)| *s).collect(),
        });
        forget_covered(&mut self.sealed, &mut self.held, self.capacity, |s| {
            s.keys.len()
        });
    }
}

/// Drops the oldest segments (at the front of `segments`, `held` ids in all) while the
/// newer ones still cover `capacity` ids: the window's one rule, also applied while an
/// open collects the newest index files' ids.
pub fn forget_covered<T>(
    segments: &mut VecDeque<T>,
    held: &mut usize,
    capacity: usize,
    len: impl Fn(&T) -> usize,
) {
    while let Some(oldest) = segments.front() {
        if *held - len(oldest) < capacity {
            break;
        }
        *held -= len(oldest);
        segments.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_in_the_active_and_sealed_segments_until_they_leave_the_window() {
        let mut ids = IdIndex::new(4);
        let id = |n: u128| Uuid::from_u128(n);
        for n in 1..=3 {
            ids.insert(id(n), n as u64);
        }
        assert_eq!(ids.candidates(&id(2)), vec![2]);
        ids.seal_active();
        assert_eq!(ids.candidates(&id(2)), vec![2]);
        for n in 4..=8 {
            ids.insert(id(n), n as u64);
        }
        ids.seal_active();
        assert_eq!(ids.candidates(&id(7)), vec![7]);
        assert!(
            ids.candidates(&id(2)).is_empty(),
            "the newer segment covers the window"
        );
        assert!(ids.candidates(&id(99)).is_empty());
    }

    #[test]
    fn a_sealed_segment_finds_every_id_it_holds_and_rules_out_most_others() {
        let mut ids = IdIndex::new(1_000_000);
        // Counted-up ids (keys differing in a few bits) and random ones.
        let held: Vec<Uuid> = (1..=20_000u128)
            .map(Uuid::from_u128)
            .chain((0..20_000).map(|_| Uuid::new_v4()))
            .collect();
        for (n, id) in held.iter().enumerate() {
            ids.insert(*id, n as u64 + 1);
        }
        ids.seal_active();
        for (n, id) in held.iter().enumerate() {
            assert!(
                ids.candidates(id).contains(&(n as u64 + 1)),
                "id {n} was in the sealed segment"
            );
        }
        let filter = &ids.sealed[0].filter;
        let others = (1_000_000..1_100_000u128).map(Uuid::from_u128);
        let passed = others.filter(|id| filter.may_hold(id_key(id))).count();
        assert!(
            passed < 3_000,
            "{passed} of 100,000 absent ids passed the filter (expected about 1.4 %)"
        );
    }

    #[test]
    fn a_window_of_zero_holds_nothing() {
        let mut ids = IdIndex::new(0);
        ids.insert(Uuid::from_u128(1), 1);
        assert!(ids.candidates(&Uuid::from_u128(1)).is_empty());
    }
}
