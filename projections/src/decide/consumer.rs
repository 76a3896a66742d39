//! Durable consumer groups: create, move the checkpoint (ack), delete. The group's
//! stream (`consumer-<group>`) holds all three, so the checkpoint is in the ledger.

use super::{Rejection, StreamState};
use crate::event::{EventFilter, PartitionCheckpoint};
use crate::ids::{ConsumerName, MemberId};
use crate::views::ConsumersView;
use crate::{Event, Position, RecordedEvent, StreamVersion};

/// A consumer group's stream folded.
#[derive(Debug, Clone, Default)]
pub struct ConsumerState {
    /// Version of the stream's last event (`None`: no stream yet).
    pub version: Option<StreamVersion>,
    /// The fold of this one stream.
    pub view: ConsumersView,
}

impl StreamState for ConsumerState {
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        // Errors are reported by the global views; the state keeps what was valid.
        let _ = self.view.apply(event);
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

/// What can be asked of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerCommand {
    /// Create a group. Creating it again with the same filter, partitions and member
    /// timeout is a no-op (wherever it starts); with other values it is refused.
    Create {
        /// The group.
        group: ConsumerName,
        /// Which events it reads.
        filter: EventFilter,
        /// How many partitions (at least 1).
        partitions: u16,
        /// It reads the events after this position.
        start_after: Position,
        /// Seconds after a member's last read before its partitions go to others.
        member_timeout_secs: u32,
    },
    /// Move the checkpoint of some partitions; positions at or below the current
    /// checkpoint change nothing.
    Ack {
        /// The group.
        group: ConsumerName,
        /// The member acknowledging.
        member: MemberId,
        /// Where each of its partitions is acknowledged up to.
        checkpoints: Vec<PartitionCheckpoint>,
    },
    /// Delete the group.
    Delete {
        /// The group.
        group: ConsumerName,
    },
}

/// Decides what a consumer-group command records.
pub fn decide_consumer(
    state: &ConsumerState,
    command: ConsumerCommand,
) -> Result<Vec<Event>, Rejection> {
    match command {
        ConsumerCommand::Create {
            group,
            filter,
            partitions,
            start_after,
            member_timeout_secs,
        } => match state.view.groups.get(&group) {
            Some(existing)
                if existing.filter == filter
                    && existing.partitions == partitions
                    && existing.member_timeout_secs == member_timeout_secs =>
            {
                Ok(Vec::new())
            }
            Some(_) => Err(Rejection::ConsumerGroupExists(group)),
            None => Ok(vec![Event::ConsumerGroupCreated {
                group,
                filter,
                partitions: partitions.max(1),
                start_after,
                member_timeout_secs,
            }]),
        },
        ConsumerCommand::Ack {
            group,
            member,
            checkpoints,
        } => {
            let Some(existing) = state.view.groups.get(&group) else {
                return Err(Rejection::UnknownConsumerGroup(group));
            };
            let moved: Vec<PartitionCheckpoint> = checkpoints
                .into_iter()
                .filter(|c| {
                    existing
                        .checkpoints
                        .get(usize::from(c.partition))
                        .is_some_and(|&current| c.position > current)
                })
                .collect();
            if moved.is_empty() {
                return Ok(Vec::new());
            }
            Ok(vec![Event::ConsumerAcked {
                group,
                member,
                checkpoints: moved,
            }])
        }
        ConsumerCommand::Delete { group } => {
            if !state.view.groups.contains_key(&group) {
                return Err(Rejection::UnknownConsumerGroup(group));
            }
            Ok(vec![Event::ConsumerGroupDeleted { group }])
        }
    }
}
