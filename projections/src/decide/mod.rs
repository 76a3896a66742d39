//! Command decisions: `decide(&State, Command) -> Result<Vec<Event>, Rejection>`.
//!
//! Each aggregate has a small state built by folding its own stream, a command enum and
//! one `decide_*` function. The service loads the stream, folds the state, decides, and
//! appends with the version it read; a conflict means "decide again".
//!
//! # Layout
//! - [`alert`]: triggers with dedup, acknowledge, resolve, escalate, notes, timers.
//! - [`sync`]: register and delete resources.
//! - [`task`]: create tasks and record each host's run.
//! - [`message`]: claims, attempts and outcomes of outgoing messages.
//! - [`config`]: channels, service routes, escalation policies, task rules.
//! - [`consumer`]: durable consumer groups and their checkpoints.

pub mod alert;
pub mod config;
pub mod consumer;
pub mod message;
pub mod sync;
pub mod task;

use crate::ids::{
    AlertId, ChannelId, ConsumerName, HostName, MessageId, RuleId, SyncId, TaskId, TimerId,
};
use crate::{RecordedEvent, StreamVersion};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Display;

pub use alert::{decide_alert, AlertCommand, ResourceCheck, SeriesState, Trigger};
pub use config::{decide_config, ConfigCommand, ConfigState};
pub use consumer::{decide_consumer, ConsumerCommand, ConsumerState};
pub use message::{decide_message, MessageCommand, MessageState};
pub use sync::{decide_sync, SyncCommand, SyncState};
pub use task::{decide_task, TaskCommand, TaskState};

/// A decision state rebuilt by folding its own stream: every aggregate's state
/// implements it, so the service loads, caches and advances any of them with one
/// generic loop (and appends with [`StreamState::version`] as the expected version).
pub trait StreamState: Clone {
    /// Folds one event of the stream into the state.
    fn apply(&mut self, event: &RecordedEvent);
    /// Version of the stream's last folded event (`None`: no stream yet).
    fn version(&self) -> Option<StreamVersion>;
}

/// Why a command was refused. Every variant is a domain answer, not a failure of the
/// system: nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No alert with this id exists in the series.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("alert {0} does not exist")]
    UnknownAlert(AlertId),
    /// The alert is resolved; resolved is terminal.
    ///
    /// ### Handling
    /// HTTP 409: a new trigger opens a new alert.
    #[error("alert {0} is already resolved; a new trigger opens a new alert")]
    AlertAlreadyResolved(AlertId),
    /// The alert was resolved by its resource's deletion; resolved is terminal, and
    /// triggers naming that resource are refused, so no trigger reopens it either.
    ///
    /// ### Handling
    /// HTTP 409.
    #[error("alert {alert_id} was resolved when its resource {sync_id} was deleted; alarms can no longer be raised on that resource")]
    AlertResolvedByDeletion {
        /// The alert.
        alert_id: AlertId,
        /// The deleted resource.
        sync_id: SyncId,
    },
    /// The resource named by the trigger has been deleted.
    ///
    /// ### Handling
    /// HTTP 409.
    #[error("resource {0} has been deleted; alarms cannot be raised on it")]
    ResourceDeleted(SyncId),
    /// The resource named by the trigger was never registered.
    ///
    /// ### Handling
    /// HTTP 422: register it with `POST /v1/syncs` first.
    #[error("resource {0} is not registered")]
    UnknownResource(SyncId),
    /// The timer was cancelled (ack/resolve) or already fired.
    ///
    /// ### Handling
    /// Nothing to do; the scheduler skips it.
    #[error("timer {0} is not pending")]
    TimerNotPending(TimerId),
    /// The timer is pending but not yet due.
    ///
    /// ### Handling
    /// Fire it at `due_at`.
    #[error("timer {timer_id} is not due until {due_at}")]
    TimerNotDue {
        /// The timer.
        timer_id: TimerId,
        /// When it comes due.
        due_at: DateTime<Utc>,
    },
    /// A resource with this id is registered under another name.
    ///
    /// ### Handling
    /// HTTP 409.
    #[error("resource {0} is already registered with another name")]
    SyncAlreadyRegistered(SyncId),
    /// A deleted resource id cannot be registered again (ids name one life).
    ///
    /// ### Handling
    /// HTTP 409: choose a new id.
    #[error("resource {0} was deleted; its id cannot be reused")]
    SyncWasDeleted(SyncId),
    /// No resource with this id exists.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("resource {0} does not exist")]
    UnknownSync(SyncId),
    /// A task with this id already exists.
    ///
    /// ### Handling
    /// HTTP 409.
    #[error("task {0} already exists")]
    TaskAlreadyExists(TaskId),
    /// No task with this id exists.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("task {0} does not exist")]
    UnknownTask(TaskId),
    /// The host is not one of the task's hosts.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("host {host} is not a target of task {task_id}")]
    UnknownHost {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
    },
    /// The host already reached a terminal state (finished, timed out or cancelled);
    /// the message says which, and when.
    ///
    /// ### Handling
    /// HTTP 409.
    #[error("host {host} of task {task_id} {}", task::ending(*.state, .at))]
    HostAlreadyFinished {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
        /// How its run ended.
        state: crate::views::HostState,
        /// When it ended.
        at: Option<DateTime<Utc>>,
    },
    /// The message was delivered or abandoned; nothing more happens to it.
    ///
    /// ### Handling
    /// The dispatcher skips it.
    #[error("message {0} is already delivered or abandoned")]
    MessageFinished(MessageId),
    /// Another instance holds an unexpired claim on the message.
    ///
    /// ### Handling
    /// The dispatcher skips it until `until`.
    #[error("message {message_id} is claimed by {instance} until {until}")]
    MessageClaimedElsewhere {
        /// The message.
        message_id: MessageId,
        /// The claim holder.
        instance: String,
        /// When the claim lapses.
        until: DateTime<Utc>,
    },
    /// The instance reporting an attempt does not hold the claim.
    ///
    /// ### Handling
    /// The dispatcher drops its work on the message.
    #[error("message {0} is not claimed by this instance")]
    MessageNotClaimed(MessageId),
    /// No channel with this id exists.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("channel {0} does not exist")]
    UnknownChannel(ChannelId),
    /// A removed channel id cannot be configured again (ids name one life).
    ///
    /// ### Handling
    /// HTTP 409: choose a new id.
    #[error("channel {0} was removed; its id cannot be reused")]
    ChannelWasRemoved(ChannelId),
    /// No task rule with this id exists.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("task rule {0} does not exist")]
    UnknownTaskRule(RuleId),
    /// A list of ids names one id twice. Each entry becomes something keyed by its id
    /// (a message, a host's run, a route or step entry), so a repeat would record two
    /// things under one id, which the views refuse.
    ///
    /// ### Handling
    /// HTTP 422 naming `field`.
    #[error("{field} repeats {first} ({id}); list each id once")]
    RepeatedEntry {
        /// The entry that repeats an earlier one, as a path in the command (which
        /// the native request bodies share): `channels[1]`, `steps[0].channels[2]`,
        /// `hosts[3]`.
        field: String,
        /// The earlier entry it repeats.
        first: String,
        /// The repeated id.
        id: String,
    },
    /// A route, policy step or trigger names a channel or policy that does not exist,
    /// or a channel that was removed (`decide::config::check_references`).
    ///
    /// ### Handling
    /// HTTP 422 naming `field`: create it first; a removed channel's id cannot be
    /// named again.
    #[error("{field} names {kind} {id}, which {}", config::reference_state(*.removed))]
    UnknownReference {
        /// The entry at fault: `channels[1]`, `steps[0].channels[2]`, `policy`.
        field: String,
        /// `channel` or `policy`.
        kind: &'static str,
        /// The id it names.
        id: String,
        /// The channel existed and was removed.
        removed: bool,
    },
    /// A service route or policy step still names the channel to be removed.
    ///
    /// ### Handling
    /// HTTP 409: set those routes and policies without it, then remove it.
    #[error(
        "channel {channel_id} is still named by {}; remove it from those first",
        config::list(.referrers)
    )]
    ChannelInUse {
        /// The channel.
        channel_id: ChannelId,
        /// What names it.
        referrers: Vec<crate::views::Referrer>,
    },
    /// A consumer group with this name exists with another filter, partition count or
    /// member timeout.
    ///
    /// ### Handling
    /// HTTP 409: delete it first, or choose another name.
    #[error("consumer group {0} already exists with other settings")]
    ConsumerGroupExists(ConsumerName),
    /// No consumer group with this name exists.
    ///
    /// ### Handling
    /// HTTP 404.
    #[error("consumer group {0} does not exist")]
    UnknownConsumerGroup(ConsumerName),
}

impl Rejection {
    /// The field of the command at fault, when the rejection names one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Rejection::RepeatedEntry { field, .. } | Rejection::UnknownReference { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

/// Refuses a list of ids that names one id twice, naming the first entry that repeats
/// an earlier one (`{field}[i]`). Every decision that records a list of ids calls it,
/// so no origin (native API, receivers, scheduler) can record a repeat.
pub fn require_unique<T: Ord + Display>(field: &str, ids: &[T]) -> Result<(), Rejection> {
    let mut seen = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(first) = seen.insert(id, i) {
            return Err(Rejection::RepeatedEntry {
                field: format!("{field}[{i}]"),
                first: format!("{field}[{first}]"),
                id: id.to_string(),
            });
        }
    }
    Ok(())
}
