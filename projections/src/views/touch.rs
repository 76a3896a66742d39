//! Which rows an event can change: what a persistent view store loads before it folds
//! an event, and what it compares afterwards to find the rows to write.
//!
//! The answer is a rule of the views, so it lives beside the folds: every variant is
//! named (no catch-all arm), and a new event type does not compile until it says what
//! it touches. The test oracle (folding the whole in-memory [`Views`](super::Views))
//! checks the answer: a store that loads less than an event reads folds differently.

use crate::ids::{AlertId, ConsumerName, MessageId, SyncId, TaskId};
use crate::Event;

/// The rows one event may read or change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// The alert it is about.
    pub alert: Option<AlertId>,
    /// A resource whose open alerts and deletion the alert fold reads (a trigger on a
    /// resource, or the resource's deletion, which resolves every open alert on it).
    pub resource: Option<SyncId>,
    /// The resource row itself (registration, deletion).
    pub sync: Option<SyncId>,
    /// The message.
    pub message: Option<MessageId>,
    /// The task.
    pub task: Option<TaskId>,
    /// The consumer group.
    pub group: Option<ConsumerName>,
    /// Whether it changes the routing configuration.
    pub routing: bool,
}

/// What `event` may read or change.
pub fn touched(event: &Event) -> Touched {
    let none = Touched::default();
    match event {
        Event::AlertTriggered {
            alert_id, resource, ..
        } => Touched {
            alert: Some(*alert_id),
            resource: resource.clone(),
            ..none
        },
        Event::TriggerRepeated { alert_id, .. }
        | Event::AlertAcknowledged { alert_id }
        | Event::AlertEscalated { alert_id, .. }
        | Event::NoteAdded { alert_id, .. }
        | Event::AlertResolved { alert_id, .. }
        | Event::TimerScheduled { alert_id, .. }
        | Event::TimerFired { alert_id, .. } => Touched {
            alert: Some(*alert_id),
            ..none
        },
        Event::SyncRegistered { sync_id, .. } => Touched {
            sync: Some(sync_id.clone()),
            ..none
        },
        Event::SyncDeleted { sync_id } => Touched {
            sync: Some(sync_id.clone()),
            resource: Some(sync_id.clone()),
            ..none
        },
        Event::MessageQueued { message_id, .. }
        | Event::MessageClaimed { message_id, .. }
        | Event::DeliveryAttempted { message_id, .. }
        | Event::MessageDelivered { message_id, .. }
        | Event::MessageFailed { message_id, .. }
        | Event::MessageAbandoned { message_id, .. } => Touched {
            message: Some(*message_id),
            ..none
        },
        Event::TaskCreated { task_id, .. }
        | Event::TaskHostStarted { task_id, .. }
        | Event::TaskHostFinished { task_id, .. }
        | Event::TaskHostTimedOut { task_id, .. }
        | Event::TaskCancelled { task_id, .. } => Touched {
            task: Some(*task_id),
            ..none
        },
        Event::ChannelCreated { .. }
        | Event::ChannelUpdated { .. }
        | Event::ChannelRemoved { .. }
        | Event::ServiceRouteSet { .. }
        | Event::EscalationPolicySet { .. }
        | Event::TaskRuleSet { .. }
        | Event::TaskRuleRemoved { .. } => Touched {
            routing: true,
            ..none
        },
        Event::ConsumerGroupCreated { group, .. }
        | Event::ConsumerAcked { group, .. }
        | Event::ConsumerGroupDeleted { group } => Touched {
            group: Some(group.clone()),
            ..none
        },
        Event::DataLossRecorded { .. } => none,
    }
}
