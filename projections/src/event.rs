//! The one closed set of facts the ledger records. Past tense, internally tagged by
//! `type`. Adding a variant is a schema change: give it a version in
//! [`Event::schema_version`] and a row in `docs/events.md`.

use crate::ids::{
    AlertId, ChannelId, ConsumerName, DedupKey, HostName, MemberId, MessageId, PolicyId, RuleId,
    ServiceName, SyncId, TaskId, TimerId,
};
use crate::{EventRef, Position};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How bad an alert is, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Wake someone up.
    Critical,
    /// Needs attention soon.
    Error,
    /// Worth a look.
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Who closed an alert through a resolve command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum ResolvedBy {
    /// A person (or service account) resolved it by hand.
    Person,
    /// The monitoring source reported that the condition cleared.
    Source,
}

/// What an outgoing message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A new alert was opened.
    NewAlert,
    /// An open alert was acknowledged.
    Acknowledged,
    /// An open alert moved to the next escalation step.
    Escalated,
    /// An alert was resolved.
    Resolved,
}

/// A self-healing script and where and how to run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The script (a path or an inline program) the agent runs.
    pub script: String,
    /// Arguments passed to the script, in order.
    pub args: Vec<String>,
    /// Hosts that must each run the script once.
    pub hosts: Vec<HostName>,
    /// Seconds a host may run before it is timed out.
    pub timeout_secs: u32,
}

/// Where a channel delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum ChannelTarget {
    /// A generic JSON webhook, signed with HMAC-SHA256.
    Webhook {
        /// The URL to POST to.
        url: String,
    },
    /// A Slack incoming webhook (Slack's `text`/`blocks` body).
    Slack {
        /// The incoming-webhook URL.
        url: String,
    },
}

/// One step of an escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    /// Seconds after the previous step (or the trigger) before this step fires.
    pub delay_secs: u32,
    /// Channels notified at this step, besides the alert's own.
    #[serde(default)]
    pub channels: Vec<ChannelId>,
}

/// Which events a subscriber or a consumer group reads. Every set field must match;
/// empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// Only this stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Only streams of this category (the part of the name before its first `-`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Only these event types (empty: every type).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

impl EventFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &crate::RecordedEvent) -> bool {
        self.matches_keys(&event.stream, event.event.event_type())
    }

    /// Whether an event of `stream` and `event_type` passes the filter.
    pub fn matches_keys(&self, stream: &str, event_type: &str) -> bool {
        self.stream.as_deref().is_none_or(|s| s == stream)
            && self
                .category
                .as_deref()
                .is_none_or(|c| c == crate::category(stream))
            && (self.event_types.is_empty() || self.event_types.iter().any(|t| t == event_type))
    }
}

/// How far one partition of a consumer group has been acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionCheckpoint {
    /// The partition (`0..partitions`).
    pub partition: u16,
    /// Every event of the partition at or before this position is acknowledged.
    pub position: Position,
}

/// Every fact the ledger can record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// A new alert opened in its series (stream `alert-<series>`).
    AlertTriggered {
        /// The new alert.
        alert_id: AlertId,
        /// Service it belongs to.
        service: ServiceName,
        /// Key that deduplicates repeats while it is open.
        dedup_key: DedupKey,
        /// One-line description.
        summary: String,
        /// How bad it is.
        severity: Severity,
        /// Free-form key/value context from the source.
        #[serde(default)]
        details: BTreeMap<String, String>,
        /// The resource that owns this alarm, if any.
        #[serde(default)]
        resource: Option<SyncId>,
        /// Channels subscribed to this alert's messages, fixed when it opened.
        #[serde(default)]
        channels: Vec<ChannelId>,
        /// Delay in seconds before each escalation step (step 1 first); empty: none.
        #[serde(default)]
        escalation_secs: Vec<u32>,
        /// Extra channels per escalation step, aligned with `escalation_secs` (may be
        /// shorter: missing steps add none).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        escalation_channels: Vec<Vec<ChannelId>>,
        /// How many times the steps repeat after the last one (0: once through).
        #[serde(default, skip_serializing_if = "is_zero")]
        escalation_repeat: u32,
    },
    /// A trigger arrived for an alert that was already open.
    TriggerRepeated {
        /// The open alert it was recorded on.
        alert_id: AlertId,
        /// The summary the repeat carried (the latest one is shown).
        summary: String,
        /// The severity the repeat carried (the latest one is shown).
        severity: Severity,
    },
    /// Someone took ownership of an open alert.
    AlertAcknowledged {
        /// The alert.
        alert_id: AlertId,
    },
    /// An open alert moved to the next escalation step.
    AlertEscalated {
        /// The alert.
        alert_id: AlertId,
        /// The step it is now on (1 is the first escalation).
        step: u32,
    },
    /// A note was attached to an alert's log.
    NoteAdded {
        /// The alert.
        alert_id: AlertId,
        /// The note text.
        text: String,
    },
    /// An alert was closed by a resolve command. (An alert whose resource is deleted is
    /// closed by the `SyncDeleted` event itself: see ADR 0001.)
    AlertResolved {
        /// The alert.
        alert_id: AlertId,
        /// Who resolved it.
        resolved_by: ResolvedBy,
    },
    /// A notification was queued, in the same append as the event that caused it.
    MessageQueued {
        /// The message (derived from cause and channel).
        message_id: MessageId,
        /// The alert it is about.
        alert_id: AlertId,
        /// The event that caused it: always present, never a nullable id.
        cause: EventRef,
        /// What it says.
        kind: MessageKind,
        /// Where it goes.
        channel: ChannelId,
    },
    /// An escalation step was scheduled to fire at `due_at` unless the alert is
    /// acknowledged or resolved first.
    TimerScheduled {
        /// The timer.
        timer_id: TimerId,
        /// The alert it escalates.
        alert_id: AlertId,
        /// The step it moves the alert to.
        step: u32,
        /// When it comes due.
        due_at: DateTime<Utc>,
    },
    /// A due timer fired; its effects follow in the same append.
    TimerFired {
        /// The timer.
        timer_id: TimerId,
        /// The alert it escalates.
        alert_id: AlertId,
    },
    /// A resource that can own alarms was registered (stream `sync-<id>`).
    SyncRegistered {
        /// The resource.
        sync_id: SyncId,
        /// Human-readable name.
        name: String,
    },
    /// A resource was deleted; every open alarm it owned is resolved by this event.
    SyncDeleted {
        /// The resource.
        sync_id: SyncId,
    },
    /// A dispatcher instance claimed a message until `lease_until` (stream `message-<id>`).
    MessageClaimed {
        /// The message.
        message_id: MessageId,
        /// The claiming instance.
        instance: String,
        /// When the claim lapses if nothing else is recorded.
        lease_until: DateTime<Utc>,
    },
    /// A delivery attempt started.
    DeliveryAttempted {
        /// The message.
        message_id: MessageId,
        /// 1-based attempt number.
        attempt: u32,
    },
    /// The destination accepted the message.
    MessageDelivered {
        /// The message.
        message_id: MessageId,
        /// The attempt that succeeded.
        attempt: u32,
        /// The provider's receipt (status line, request id).
        receipt: String,
    },
    /// An attempt failed.
    MessageFailed {
        /// The message.
        message_id: MessageId,
        /// The attempt that failed.
        attempt: u32,
        /// What went wrong.
        error: String,
        /// When to try again; `None` means the failure is final.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Delivery was given up.
    MessageAbandoned {
        /// The message.
        message_id: MessageId,
        /// Why it was given up.
        reason: String,
    },
    /// A notification channel was configured (stream `channel-<id>`).
    ChannelCreated {
        /// The channel.
        channel_id: ChannelId,
        /// Human-readable name.
        name: String,
        /// Where it delivers.
        target: ChannelTarget,
    },
    /// A channel's name or target changed.
    ChannelUpdated {
        /// The channel.
        channel_id: ChannelId,
        /// Human-readable name.
        name: String,
        /// Where it delivers now.
        target: ChannelTarget,
    },
    /// A channel was removed; messages still pending for it are abandoned.
    ChannelRemoved {
        /// The channel.
        channel_id: ChannelId,
    },
    /// A service's routing was set: the channels its new alerts notify and the
    /// escalation policy they follow (stream `service-<name>`).
    ServiceRouteSet {
        /// The service.
        service: ServiceName,
        /// Channels every new alert of the service notifies.
        channels: Vec<ChannelId>,
        /// The escalation policy its alerts follow.
        #[serde(default)]
        policy: Option<PolicyId>,
    },
    /// An escalation policy was created or replaced (stream `policy-<id>`).
    EscalationPolicySet {
        /// The policy.
        policy_id: PolicyId,
        /// Human-readable name.
        name: String,
        /// Ordered steps.
        steps: Vec<EscalationStep>,
        /// How many times the steps repeat after the last one.
        repeat: u32,
    },
    /// A task rule was created or replaced: alerts of `service` at `min_severity` or
    /// worse create a task from `template` (stream `taskrule-<id>`).
    TaskRuleSet {
        /// The rule.
        rule_id: RuleId,
        /// The service whose alerts it watches.
        service: ServiceName,
        /// The least severe severity that matches.
        min_severity: Severity,
        /// What to run and where.
        template: TaskSpec,
    },
    /// A task rule was removed.
    TaskRuleRemoved {
        /// The rule.
        rule_id: RuleId,
    },
    /// The operator started the service with `--recovery accept-data-loss` on a log
    /// that lacked acknowledged events, or disagreed with a witness of what was
    /// acknowledged (stream `ledger`). Appended by the service itself, first thing
    /// after the cut, so the loss stays on the record and `verify` reports it.
    DataLossRecorded {
        /// The first position that no longer holds what was acknowledged there: new
        /// events take positions from here on.
        first_lost_position: Position,
        /// The last position the witness records as acknowledged (0 if none).
        witness_position: Position,
        /// Which witness disagreed with the log (the durable-end checkpoint, a views
        /// snapshot), by name.
        witness: String,
        /// What recovery found: the damage, with segment, byte offset and check.
        detail: String,
        /// Files under the data directory that hold the bytes cut from the log.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        moved_aside: Vec<String>,
        /// How many bytes were cut.
        #[serde(default)]
        cut_bytes: u64,
    },
    /// A durable consumer group was created (stream `consumer-<group>`).
    ConsumerGroupCreated {
        /// The group.
        group: ConsumerName,
        /// Which events it reads.
        filter: EventFilter,
        /// How many partitions its events are spread over (by stream).
        partitions: u16,
        /// It reads the events after this position.
        start_after: Position,
        /// Seconds after a member's last read before its partitions go to others.
        member_timeout_secs: u32,
    },
    /// A member acknowledged the group's events up to a position, in the partitions it
    /// held: the group's checkpoint.
    ConsumerAcked {
        /// The group.
        group: ConsumerName,
        /// The member that acknowledged.
        member: MemberId,
        /// The partitions whose checkpoint moved, and where to.
        checkpoints: Vec<PartitionCheckpoint>,
    },
    /// A consumer group was deleted; its name may be created again.
    ConsumerGroupDeleted {
        /// The group.
        group: ConsumerName,
    },
    /// A self-healing task was created (stream `task-<id>`).
    TaskCreated {
        /// The task.
        task_id: TaskId,
        /// What to run and where.
        spec: TaskSpec,
        /// The alert it heals, if it was created from one.
        #[serde(default)]
        alert_id: Option<AlertId>,
    },
    /// A host began running the task.
    TaskHostStarted {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
    },
    /// A host finished running the task.
    TaskHostFinished {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
        /// The script's exit code (0 is success).
        exit_code: i32,
        /// The last bytes of the script's output.
        output_tail: String,
    },
    /// A host did not finish within the task's timeout.
    TaskHostTimedOut {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
    },
    /// The task was cancelled; every host not yet finished is cancelled.
    TaskCancelled {
        /// The task.
        task_id: TaskId,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// The `type` tag this event carries on the wire.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::AlertTriggered { .. } => "alert_triggered",
            Event::TriggerRepeated { .. } => "trigger_repeated",
            Event::AlertAcknowledged { .. } => "alert_acknowledged",
            Event::AlertEscalated { .. } => "alert_escalated",
            Event::NoteAdded { .. } => "note_added",
            Event::AlertResolved { .. } => "alert_resolved",
            Event::MessageQueued { .. } => "message_queued",
            Event::TimerScheduled { .. } => "timer_scheduled",
            Event::TimerFired { .. } => "timer_fired",
            Event::SyncRegistered { .. } => "sync_registered",
            Event::SyncDeleted { .. } => "sync_deleted",
            Event::MessageClaimed { .. } => "message_claimed",
            Event::DeliveryAttempted { .. } => "delivery_attempted",
            Event::MessageDelivered { .. } => "message_delivered",
            Event::MessageFailed { .. } => "message_failed",
            Event::MessageAbandoned { .. } => "message_abandoned",
            Event::TaskCreated { .. } => "task_created",
            Event::TaskHostStarted { .. } => "task_host_started",
            Event::TaskHostFinished { .. } => "task_host_finished",
            Event::TaskHostTimedOut { .. } => "task_host_timed_out",
            Event::TaskCancelled { .. } => "task_cancelled",
            Event::ChannelCreated { .. } => "channel_created",
            Event::ChannelUpdated { .. } => "channel_updated",
            Event::ChannelRemoved { .. } => "channel_removed",
            Event::ServiceRouteSet { .. } => "service_route_set",
            Event::EscalationPolicySet { .. } => "escalation_policy_set",
            Event::TaskRuleSet { .. } => "task_rule_set",
            Event::TaskRuleRemoved { .. } => "task_rule_removed",
            Event::DataLossRecorded { .. } => "data_loss_recorded",
            Event::ConsumerGroupCreated { .. } => "consumer_group_created",
            Event::ConsumerAcked { .. } => "consumer_acked",
            Event::ConsumerGroupDeleted { .. } => "consumer_group_deleted",
        }
    }

    /// The alert an event is about, for events that are about one.
    pub fn alert_id(&self) -> Option<AlertId> {
        match self {
            Event::AlertTriggered { alert_id, .. }
            | Event::TriggerRepeated { alert_id, .. }
            | Event::AlertAcknowledged { alert_id }
            | Event::AlertEscalated { alert_id, .. }
            | Event::NoteAdded { alert_id, .. }
            | Event::AlertResolved { alert_id, .. }
            | Event::MessageQueued { alert_id, .. }
            | Event::TimerScheduled { alert_id, .. }
            | Event::TimerFired { alert_id, .. } => Some(*alert_id),
            Event::TaskCreated { alert_id, .. } => *alert_id,
            Event::SyncRegistered { .. }
            | Event::SyncDeleted { .. }
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
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
            | Event::DataLossRecorded { .. }
            | Event::ConsumerGroupCreated { .. }
            | Event::ConsumerAcked { .. }
            | Event::ConsumerGroupDeleted { .. } => None,
        }
    }

    /// The current payload version of this event's type. Older stored versions are
    /// upcast by [`crate::schema`] before they reach a fold.
    pub fn schema_version(&self) -> u16 {
        crate::schema::current_version(self.event_type())
            .expect("every variant is listed in Event::TYPES")
    }

    /// Every event type this build understands, with its current version.
    pub const TYPES: [(&'static str, u16); 32] = [
        ("alert_triggered", 2),
        ("trigger_repeated", 1),
        ("alert_acknowledged", 1),
        ("alert_escalated", 1),
        ("note_added", 1),
        ("alert_resolved", 1),
        ("message_queued", 1),
        ("timer_scheduled", 1),
        ("timer_fired", 1),
        ("sync_registered", 1),
        ("sync_deleted", 1),
        ("message_claimed", 1),
        ("delivery_attempted", 1),
        ("message_delivered", 1),
        ("message_failed", 1),
        ("message_abandoned", 1),
        ("task_created", 1),
        ("task_host_started", 1),
        ("task_host_finished", 1),
        ("task_host_timed_out", 1),
        ("task_cancelled", 1),
        ("channel_created", 1),
        ("channel_updated", 1),
        ("channel_removed", 1),
        ("service_route_set", 1),
        ("escalation_policy_set", 1),
        ("task_rule_set", 1),
        ("task_rule_removed", 1),
        ("data_loss_recorded", 1),
        ("consumer_group_created", 1),
        ("consumer_acked", 1),
        ("consumer_group_deleted", 1),
    ];
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
