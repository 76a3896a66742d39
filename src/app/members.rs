//! The members of each consumer group on this instance, and which partitions each one
//! holds.
//!
//! A group's events are spread over its partitions by stream
//! ([`projections::views::consumers::partition`]), so the events of one stream stay in
//! order with one member. The live members, sorted by id, share the partitions round
//! robin: partition `p` belongs to member `p mod n`. A member is live while a read of
//! its is open, and for the group's member timeout after its last read ended.
//!
//! Each event goes to one member at a time. When the sharing changes (a member joins
//! or times out), a partition whose holder is live moves only once its holder has
//! acknowledged everything it was handed in it; until then the holder gets no new
//! events of it (it drains). A holder that timed out loses its partitions at once, and
//! what it was handed but did not acknowledge goes to the next holder: delivery is at
//! least once.
//!
//! Each read (a long-poll page or an event stream) starts at the group's checkpoint
//! in the partitions the member holds: what it was handed before and did not
//! acknowledge is handed again. So a member acknowledges a page before it asks for the
//! next, and one member has one read open at a time.
//!
//! Everything here is in memory: after a restart the members read again and are
//! handed what their group's checkpoint (in the ledger) does not cover.

use projections::ids::{ConsumerName, MemberId};
use projections::views::ConsumerGroupView;
use projections::{PartitionCheckpoint, Position};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Every group's members on this instance.
#[derive(Default)]
pub struct Members {
    groups: Mutex<HashMap<ConsumerName, Group>>,
}

/// One group as this instance sees it.
struct Group {
    /// The group's creation, so a group deleted and created again starts afresh.
    created_position: Position,
    partitions: u16,
    timeout: Duration,
    /// Per partition, what is acknowledged: the view's checkpoints, raised by acks
    /// made here before the view has applied them.
    checkpoints: Vec<Position>,
    members: BTreeMap<MemberId, Member>,
    /// Per partition, the member that holds it.
    holders: Vec<Option<MemberId>>,
}

/// One member.
struct Member {
    /// When its last read ended.
    last_seen: Instant,
    /// Reads of its that are open (an event stream or a long poll).
    open_reads: u32,
    /// Per held partition, how far the log has been looked at for it.
    seen: BTreeMap<u16, Position>,
    /// Per held partition, the position of the last event handed to it.
    last_handed: BTreeMap<u16, Position>,
}

/// The partitions a member may be handed events of now, and how far each has been
/// looked at for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Partition → the position up to which the member has been handed its events.
    pub seen: BTreeMap<u16, Position>,
}

impl Plan {
    /// Where reading resumes: after the least-advanced partition (`None`: the member
    /// holds nothing it may be handed).
    pub fn cursor(&self) -> Option<Position> {
        self.seen.values().copied().min()
    }

    /// Whether an event of `partition` at `position` is for this member and new to it.
    pub fn wants(&self, partition: u16, position: Position) -> bool {
        self.seen
            .get(&partition)
            .is_some_and(|&seen| position > seen)
    }
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckRefusal {
    /// The member has not read from the group on this instance (or timed out), so it
    /// holds no partition.
    NotMember,
}

/// One group's members, for listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberRow {
    /// The member.
    pub member: MemberId,
    /// The partitions it holds.
    pub partitions: Vec<u16>,
    /// Whether a read of its is open now.
    pub reading: bool,
}

impl Members {
    /// The member starts a read: it joins (or stays in) the group, the partitions are
    /// shared again, and the answer is what it may be handed now, from the checkpoint
    /// of each partition it holds. End the read with
    /// [`Members::read_ended`].
    pub fn read_started(&self, view: &ConsumerGroupView, member: &MemberId, now: Instant) -> Plan {
        let mut groups = self.lock();
        let group = groups
            .entry(view.name.clone())
            .or_insert_with(|| Group::new(view));
        if group.created_position != view.created_position || group.partitions != view.partitions {
            *group = Group::new(view);
        }
        group.merge(view);
        let entry = group.members.entry(member.clone()).or_insert(Member {
            last_seen: now,
            open_reads: 0,
            seen: BTreeMap::new(),
            last_handed: BTreeMap::new(),
        });
        entry.open_reads += 1;
        entry.last_seen = now;
        // What earlier reads handed and was not acknowledged is handed again from the
        // checkpoint: nothing of it is with this member any more, so a partition it
        // was draining can move on.
        for (p, seen) in &mut entry.seen {
            *seen = group.checkpoints[usize::from(*p)];
        }
        entry.last_handed.clear();
        group.share(now);
        group.plan(member)
    }

    /// The member's read ended; its timeout runs from now.
    pub fn read_ended(&self, group: &ConsumerName, member: &MemberId, now: Instant) {
        let mut groups = self.lock();
        if let Some(entry) = groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(member))
        {
            entry.open_reads = entry.open_reads.saturating_sub(1);
            entry.last_seen = now;
        }
    }

    /// What the member may be handed now (the sharing is brought up to date first).
    pub fn plan(&self, group: &ConsumerName, member: &MemberId, now: Instant) -> Plan {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group) else {
            return Plan::default();
        };
        group.share(now);
        group.plan(member)
    }

    /// Records that the log was looked at up to `scanned` for the member under `plan`,
    /// and that `handed` (partition, position) events were handed to it. Answers the
    /// partitions of the plan the member still holds: events of any other partition
    /// must not be handed (it moved while the log was read).
    pub fn handed(
        &self,
        group: &ConsumerName,
        member: &MemberId,
        plan: &Plan,
        scanned: Position,
        handed: &[(u16, Position)],
    ) -> BTreeSet<u16> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group) else {
            return BTreeSet::new();
        };
        let current = group.plan(member);
        let kept: BTreeSet<u16> = plan
            .seen
            .keys()
            .copied()
            .filter(|p| current.seen.contains_key(p))
            .collect();
        if let Some(entry) = group.members.get_mut(member) {
            for p in &kept {
                let seen = entry.seen.entry(*p).or_insert(0);
                *seen = (*seen).max(scanned);
            }
            for &(partition, position) in handed {
                if kept.contains(&partition) {
                    let last = entry.last_handed.entry(partition).or_insert(0);
                    *last = (*last).max(position);
                }
            }
        }
        kept
    }

    /// The checkpoints an acknowledgement up to `position` moves: in each partition the
    /// member holds, up to `position`, or up to everything looked at for it when every
    /// event handed in it is at or before `position`.
    pub fn ack(
        &self,
        group: &ConsumerName,
        member: &MemberId,
        position: Position,
        now: Instant,
    ) -> Result<Vec<PartitionCheckpoint>, AckRefusal> {
        let mut groups = self.lock();
        let group = groups.get_mut(group).ok_or(AckRefusal::NotMember)?;
        group.share(now);
        let entry = group.members.get_mut(member).ok_or(AckRefusal::NotMember)?;
        entry.last_seen = entry.last_seen.max(now);
        let mut moved = Vec::new();
        for (&partition, &seen) in &entry.seen {
            let last_handed = entry.last_handed.get(&partition).copied().unwrap_or(0);
            let to = if position >= last_handed {
                seen
            } else {
                position
            };
            if to > group.checkpoints[usize::from(partition)] {
                moved.push(PartitionCheckpoint {
                    partition,
                    position: to,
                });
            }
        }
        Ok(moved)
    }

    /// The checkpoints recorded in the ledger moved: partitions that were draining may
    /// now move to their new holder.
    pub fn acked(&self, group: &ConsumerName, checkpoints: &[PartitionCheckpoint], now: Instant) {
        let mut groups = self.lock();
        if let Some(group) = groups.get_mut(group) {
            for c in checkpoints {
                if let Some(slot) = group.checkpoints.get_mut(usize::from(c.partition)) {
                    *slot = (*slot).max(c.position);
                }
            }
            group.share(now);
        }
    }

    /// The group was deleted: its members are forgotten.
    pub fn forget(&self, group: &ConsumerName) {
        self.lock().remove(group);
    }

    /// The group's members on this instance and what each holds.
    pub fn rows(&self, group: &ConsumerName, now: Instant) -> Vec<MemberRow> {
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group) else {
            return Vec::new();
        };
        group.share(now);
        group
            .members
            .iter()
            .map(|(id, m)| MemberRow {
                member: id.clone(),
                partitions: m.seen.keys().copied().collect(),
                reading: m.open_reads > 0,
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<ConsumerName, Group>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Group {
    fn new(view: &ConsumerGroupView) -> Group {
        Group {
            created_position: view.created_position,
            partitions: view.partitions,
            timeout: Duration::from_secs(u64::from(view.member_timeout_secs)),
            checkpoints: view.checkpoints.clone(),
            members: BTreeMap::new(),
            holders: vec![None; usize::from(view.partitions)],
        }
    }

    /// Takes in checkpoints moved by acks on other instances.
    fn merge(&mut self, view: &ConsumerGroupView) {
        for (mine, theirs) in self.checkpoints.iter_mut().zip(&view.checkpoints) {
            *mine = (*mine).max(*theirs);
        }
        for member in self.members.values_mut() {
            for (p, seen) in &mut member.seen {
                *seen = (*seen).max(self.checkpoints[usize::from(*p)]);
            }
        }
    }

    /// The member each partition should go to, among the live members.
    fn target(&self, partition: u16) -> Option<&MemberId> {
        let live = self.members.len();
        (live > 0).then(|| {
            self.members
                .keys()
                .nth(usize::from(partition) % live)
                .expect("index below the member count")
        })
    }

    /// Drops members that timed out and moves partitions towards their targets.
    fn share(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.members
            .retain(|_, m| m.open_reads > 0 || now.duration_since(m.last_seen) <= timeout);
        for partition in 0..self.partitions {
            let index = usize::from(partition);
            let target = self.target(partition).cloned();
            let holder = self.holders[index].clone();
            if holder == target {
                continue;
            }
            let holder_drained = match holder.as_ref().and_then(|h| self.members.get(h)) {
                None => true,
                Some(member) => member
                    .last_handed
                    .get(&partition)
                    .is_none_or(|&last| last <= self.checkpoints[index]),
            };
            if !holder_drained {
                continue;
            }
            if let Some(member) = holder.as_ref().and_then(|h| self.members.get_mut(h)) {
                member.seen.remove(&partition);
                member.last_handed.remove(&partition);
            }
            if let Some(member) = target.as_ref().and_then(|t| self.members.get_mut(t)) {
                member.seen.insert(partition, self.checkpoints[index]);
            }
            self.holders[index] = target;
        }
    }

    /// The partitions `member` holds and is the target of (not draining).
    fn plan(&self, member: &MemberId) -> Plan {
        let Some(entry) = self.members.get(member) else {
            return Plan::default();
        };
        let seen = entry
            .seen
            .iter()
            .filter(|(p, _)| self.target(**p) == Some(member))
            .map(|(p, seen)| (*p, *seen))
            .collect();
        Plan { seen }
    }
}

#[cfg(test)]
mod tests;
