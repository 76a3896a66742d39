//! The pure core of alert-ledger: the events, the decisions that turn commands into
//! events, and the folds that turn events into every view.
//!
//! Nothing here does IO, reads a clock or spawns a task: time arrives on events
//! (`recorded_at`) or commands (`now`), so every function is deterministic and
//! replaying the same events always yields byte-identical views.
//!
//! # Layout
//! - [`ids`]: newtypes for ids and keys, each with a `parse` constructor.
//! - [`envelope`]: [`RecordedEvent`], [`Metadata`], [`EventRef`], [`Hash`], positions.
//! - [`event`]: the one closed [`Event`] enum and its value types.
//! - [`schema`]: schema versions and upcasting of older payload shapes.
//! - [`decide`]: commands and the decisions `decide(&State, Command) -> Result<Vec<Event>, Rejection>`.
//! - [`views`]: the folds `apply(&mut View, &RecordedEvent) -> Result<(), FoldError>`
//!   for alert status, outgoing messages, active alarms, tasks and syncs.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod decide;
pub mod envelope;
pub mod event;
pub mod ids;
pub mod schema;
pub mod views;

pub use envelope::{category, EventRef, Hash, Metadata, Position, RecordedEvent, StreamVersion};
pub use event::{
    ChannelTarget, EscalationStep, Event, EventFilter, MessageKind, PartitionCheckpoint,
    ResolvedBy, Severity, TaskSpec,
};

/// Stream-name prefixes, one per aggregate. See ADR 0001 for why alerts live in
/// per-(service, dedup key) series streams.
pub mod streams {
    use crate::ids::{
        ChannelId, ConsumerName, MessageId, PolicyId, RuleId, SeriesId, ServiceName, SyncId, TaskId,
    };

    /// The stream of every alert of one (service, dedup key).
    pub fn alert_series(series: SeriesId) -> String {
        format!("alert-{series}")
    }
    /// The stream of one resource.
    pub fn sync(sync: &SyncId) -> String {
        format!("sync-{sync}")
    }
    /// The delivery stream of one message (claims, attempts, outcome).
    pub fn message(message: MessageId) -> String {
        format!("message-{message}")
    }
    /// The stream of one self-healing task.
    pub fn task(task: TaskId) -> String {
        format!("task-{task}")
    }
    /// The stream of one notification channel.
    pub fn channel(channel: &ChannelId) -> String {
        format!("channel-{channel}")
    }
    /// The routing stream of one service.
    pub fn service(service: &ServiceName) -> String {
        format!("service-{service}")
    }
    /// The stream of one escalation policy.
    pub fn policy(policy: &PolicyId) -> String {
        format!("policy-{policy}")
    }
    /// The stream of one task rule.
    pub fn task_rule(rule: &RuleId) -> String {
        format!("taskrule-{rule}")
    }
    /// The stream of one consumer group (its creation, checkpoints, deletion).
    pub fn consumer(group: &ConsumerName) -> String {
        format!("consumer-{group}")
    }
}
