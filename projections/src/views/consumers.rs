//! Durable consumer groups: which events each reads, how they are partitioned, and how
//! far each partition has been acknowledged (the group's checkpoint, kept in the
//! ledger so it survives restarts and is the same on every instance).

use super::FoldError;
use crate::event::{EventFilter, PartitionCheckpoint};
use crate::ids::ConsumerName;
use crate::{category, Event, Position, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The category of consumer-group streams. Groups never read it themselves: a group
/// on `$all` would otherwise be handed its own checkpoints, and each ack would make
/// more work to ack.
pub const CONSUMER_CATEGORY: &str = "consumer";

/// Whether `stream` is a consumer group's own stream (its creation, checkpoints,
/// deletion): no group reads those, and a group's lag does not count them.
pub fn is_group_stream(stream: &str) -> bool {
    category(stream) == CONSUMER_CATEGORY
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroupView {
    /// Its name.
    pub name: ConsumerName,
    /// Which events it reads.
    pub filter: EventFilter,
    /// How many partitions its events are spread over.
    pub partitions: u16,
    /// Seconds after a member's last read before its partitions go to others.
    pub member_timeout_secs: u32,
    /// It reads the events after this position.
    pub start_after: Position,
    /// Per partition, the position up to which every event is acknowledged.
    pub checkpoints: Vec<Position>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Position of its creation (tells one life of a name from the next).
    pub created_position: Position,
    /// When a member last moved its checkpoint.
    pub acked_at: Option<DateTime<Utc>>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

impl ConsumerGroupView {
    /// The position up to which every partition is acknowledged: an event at or before
    /// it is done whichever partition it is in.
    pub fn checkpoint(&self) -> Position {
        self.checkpoints
            .iter()
            .copied()
            .min()
            .unwrap_or(self.start_after)
    }

    /// The partition of events of `stream`.
    pub fn partition_of(&self, stream: &str) -> u16 {
        partition(stream, self.partitions)
    }

    /// Whether the group reads an event of `stream` and `event_type`.
    pub fn reads(&self, stream: &str, event_type: &str) -> bool {
        !is_group_stream(stream) && self.filter.matches_keys(stream, event_type)
    }
}

/// The partition of a stream among `partitions`: FNV-1a (64-bit) of the stream name,
/// modulo the count. Fixed forever: members and checkpoints depend on it.
pub fn partition(stream: &str, partitions: u16) -> u16 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in stream.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (hash % u64::from(partitions.max(1))) as u16
}

/// Every consumer group that exists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumersView {
    /// By name.
    pub groups: BTreeMap<ConsumerName, ConsumerGroupView>,
}

impl ConsumersView {
    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::ConsumerGroupCreated {
                group,
                filter,
                partitions,
                start_after,
                member_timeout_secs,
            } => {
                if self.groups.contains_key(group) {
                    return Err(invalid(e, format!("consumer group {group} created twice")));
                }
                if *partitions == 0 {
                    return Err(invalid(
                        e,
                        format!("consumer group {group} has no partitions"),
                    ));
                }
                self.groups.insert(
                    group.clone(),
                    ConsumerGroupView {
                        name: group.clone(),
                        filter: filter.clone(),
                        partitions: *partitions,
                        member_timeout_secs: *member_timeout_secs,
                        start_after: *start_after,
                        checkpoints: vec![*start_after; usize::from(*partitions)],
                        created_at: e.recorded_at,
                        created_position: e.position,
                        acked_at: None,
                        last_position: e.position,
                    },
                );
                Ok(())
            }
            Event::ConsumerAcked {
                group, checkpoints, ..
            } => {
                let Some(view) = self.groups.get_mut(group) else {
                    return Err(invalid(e, format!("unknown consumer group {group} acked")));
                };
                if let Some(bad) = checkpoints.iter().find(|c| c.partition >= view.partitions) {
                    return Err(invalid(
                        e,
                        format!("consumer group {group} has no partition {}", bad.partition),
                    ));
                }
                for &PartitionCheckpoint {
                    partition,
                    position,
                } in checkpoints
                {
                    let slot = &mut view.checkpoints[usize::from(partition)];
                    *slot = (*slot).max(position);
                }
                view.acked_at = Some(e.recorded_at);
                view.last_position = e.position;
                Ok(())
            }
            Event::ConsumerGroupDeleted { group } => {
                if self.groups.remove(group).is_none() {
                    return Err(invalid(
                        e,
                        format!("unknown consumer group {group} deleted"),
                    ));
                }
                Ok(())
            }
            Event::AlertTriggered { .. }
            | Event::TriggerRepeated { .. }
            | Event::AlertAcknowledged { .. }
            | Event::AlertEscalated { .. }
            | Event::NoteAdded { .. }
            | Event::AlertResolved { .. }
            | Event::MessageQueued { .. }
            | Event::TimerScheduled { .. }
            | Event::TimerFired { .. }
            | Event::SyncRegistered { .. }
            | Event::SyncDeleted { .. }
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
            | Event::TaskCreated { .. }
            | Event::TaskHostStarted { .. }
            | Event::TaskHostFinished { .. }
            | Event::TaskHostTimedOut { .. }
            | Event::TaskCancelled { .. }
            | Event::ChannelCreated { .. }
            | Event::ChannelUpdated { .. }
            | Event::ChannelRemoved { .. }
            | Event::ServiceRouteSet { .. }
            | Event::EscalationPolicySet { .. }
            | Event::TaskRuleSet { .. }
            | Event::TaskRuleRemoved { .. }
            | Event::DataLossRecorded { .. } => Ok(()),
        }
    }
}

fn invalid(e: &RecordedEvent, what: String) -> FoldError {
    FoldError::InvalidTransition {
        position: e.position,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        assert_eq!(partition("alert-a", 1), 0);
        assert_eq!(partition("alert-a", 8), partition("alert-a", 8));
        let mut seen = [0usize; 8];
        for i in 0..800 {
            seen[usize::from(partition(&format!("alert-{i}"), 8))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
