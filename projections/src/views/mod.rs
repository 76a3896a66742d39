//! Folds: every view is `apply(&mut View, &RecordedEvent) -> Result<(), FoldError>`.
//!
//! Folds are total: each matches every event variant (no catch-all arm), never
//! panics, and checks before it changes anything, so an event that fails leaves the
//! view as it was and the replay goes on. Maps are `BTreeMap`s so a view serializes
//! the same bytes every time.
//!
//! # Layout
//! - [`alerts`]: alert status (the status view).
//! - [`messages`]: outgoing messages and their delivery state.
//! - [`alarms`]: active alarms grouped by resource and service.
//! - [`tasks`]: self-healing tasks with per-host state.
//! - [`syncs`]: registered resources.
//! - [`routing`]: channels, service routes, escalation policies, task rules.
//! - [`consumers`]: durable consumer groups and their checkpoints.
//! - [`touch`]: which rows an event may change (what a persistent store loads).

pub mod alarms;
pub mod alerts;
pub mod consumers;
pub mod messages;
pub mod routing;
pub mod syncs;
pub mod tasks;
pub mod touch;

pub use alarms::{AlarmGroup, AlarmsView};
pub use alerts::{AlertStatus, AlertView, AlertsView, Resolution, StatusChange};
pub use consumers::{ConsumerGroupView, ConsumersView};
pub use messages::{MessageState as DeliveryState, MessageView, MessagesView};
pub use routing::{ChannelView, Policy, Referrer, Route, RoutingView, TaskRule};
pub use syncs::{SyncView, SyncsView};
pub use tasks::{HostRun, HostState, TaskView, TasksView};

use crate::ids::{AlertId, HostName, MessageId, TaskId};
use crate::{Position, RecordedEvent};
use serde::{Deserialize, Serialize};

/// Why an event could not be applied to a view. The view is unchanged by that event;
/// the runner reports the error and carries on with the next event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FoldError {
    /// Events must arrive in increasing position order.
    #[error("event at position {got} arrived after position {last}")]
    OutOfOrder {
        /// The last applied position.
        last: Position,
        /// The position that arrived.
        got: Position,
    },
    /// The event names an alert the view has never seen.
    #[error("position {position}: unknown alert {alert_id}")]
    UnknownAlert {
        /// Where.
        position: Position,
        /// Which alert.
        alert_id: AlertId,
    },
    /// An alert id was opened twice.
    #[error("position {position}: alert {alert_id} already exists")]
    DuplicateAlert {
        /// Where.
        position: Position,
        /// Which alert.
        alert_id: AlertId,
    },
    /// The event names a message the view has never seen.
    #[error("position {position}: unknown message {message_id}")]
    UnknownMessage {
        /// Where.
        position: Position,
        /// Which message.
        message_id: MessageId,
    },
    /// A message id was queued twice.
    #[error("position {position}: message {message_id} already queued")]
    DuplicateMessage {
        /// Where.
        position: Position,
        /// Which message.
        message_id: MessageId,
    },
    /// A message's cause is not an earlier event of the same append.
    #[error("position {position}: message {message_id} names a cause that does not precede it")]
    CauseNotBefore {
        /// Where.
        position: Position,
        /// Which message.
        message_id: MessageId,
    },
    /// The event names a task the view has never seen.
    #[error("position {position}: unknown task {task_id}")]
    UnknownTask {
        /// Where.
        position: Position,
        /// Which task.
        task_id: TaskId,
    },
    /// A task id was created twice.
    #[error("position {position}: task {task_id} already exists")]
    DuplicateTask {
        /// Where.
        position: Position,
        /// Which task.
        task_id: TaskId,
    },
    /// The event names a host that is not a target of the task.
    #[error("position {position}: host {host} is not a target of task {task_id}")]
    UnknownHost {
        /// Where.
        position: Position,
        /// Which task.
        task_id: TaskId,
        /// Which host.
        host: HostName,
    },
    /// The event asks for a transition the entity's state does not allow.
    #[error("position {position}: {what}")]
    InvalidTransition {
        /// Where.
        position: Position,
        /// What was asked, in words.
        what: String,
    },
}

/// Every view, as of one position.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Views {
    /// The last applied position (0: none).
    pub position: Position,
    /// The last position outside consumer-group streams: the newest event a consumer
    /// group could read, against which a group's lag is measured (its own checkpoint
    /// events do not count). Absent from snapshots written before consumer groups.
    #[serde(default)]
    pub group_head: Position,
    /// Alert status.
    pub alerts: AlertsView,
    /// Outgoing messages.
    pub messages: MessagesView,
    /// Active alarms.
    pub alarms: AlarmsView,
    /// Tasks.
    pub tasks: TasksView,
    /// Resources.
    pub syncs: SyncsView,
    /// Channels, service routes, escalation policies, task rules.
    pub routing: RoutingView,
    /// Durable consumer groups (absent from snapshots written before they existed,
    /// which then held none).
    #[serde(default)]
    pub consumers: ConsumersView,
}

impl Views {
    /// Applies one event to every view, all or nothing: on a [`FoldError`] no view has
    /// changed, only the position (and the group head) advances, so a bad event cannot
    /// stop a replay.
    ///
    /// Views go in dependency order and the first error stops the event. Each event is
    /// refused, if at all, only by the view that owns its entity (syncs for
    /// `sync_*`, tasks, messages, alerts for alert events), and the views derived
    /// from that entity (alerts from `sync_deleted`, alarms from both) come after it
    /// and never refuse. So a refused duplicate trigger cannot reopen an alarm, and a
    /// refused deletion cannot resolve alerts.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<(), FoldError> {
        if event.position <= self.position {
            return Err(FoldError::OutOfOrder {
                last: self.position,
                got: event.position,
            });
        }
        self.position = event.position;
        if !consumers::is_group_stream(&event.stream) {
            self.group_head = event.position;
        }
        self.routing.apply(event)?;
        self.syncs.apply(event)?;
        self.tasks.apply(event)?;
        self.messages.apply(event)?;
        self.alerts.apply(event)?;
        self.alarms.apply(event)?;
        self.consumers.apply(event)
    }
}
