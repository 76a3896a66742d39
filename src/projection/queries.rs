//! Typed queries over the views: the only reads the rest of the service makes.
//!
//! [`ViewQueries`] names each question a caller asks (an alert by id, a page of alerts
//! by filter and cursor, alarms grouped, messages by filter, tasks, resources,
//! routing) and answers with owned values, so no caller holds on to the views. The
//! live views answer through [`ViewsHandle::current`](super::ViewsHandle::current),
//! views as of a past position through [`ViewsHandle::at`](super::ViewsHandle::at):
//! both are the view file ([`super::sqlite::read`]). The in-memory [`Views`] answer too:
//! they are the oracle the file is tested against.

use projections::decide::config::{check_references, require_channels};
use projections::decide::{ConfigCommand, Rejection};
use projections::ids::{
    AlertId, ChannelId, ConsumerName, HostName, MessageId, PolicyId, ServiceName, SyncId, TaskId,
};
use projections::views::{
    AlarmGroup, AlertStatus, AlertView, ChannelView, ConsumerGroupView, DeliveryState, MessageView,
    Policy, Route, RoutingView, SyncView, TaskRule, TaskView, Views,
};
use projections::{Position, Severity};
use serde::Serialize;
use std::ops::Bound;

/// Which alerts a page lists; `None` matches every alert.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts in this status.
    pub status: Option<AlertStatus>,
    /// Only alerts of this severity.
    pub severity: Option<Severity>,
    /// Only alerts of this service.
    pub service: Option<String>,
    /// Only alerts on this resource.
    pub resource: Option<String>,
    /// Only alerts opened at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only alerts opened before this time.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Only alerts whose summary or details contain every word of this full-text
    /// query (SQLite FTS5 over the current text; the HTTP layer quotes each word, a
    /// trailing `*` makes it a prefix).
    pub query: Option<String>,
}

/// A page of alerts.
#[derive(Debug, Serialize)]
pub struct AlertPage {
    /// The alerts, newest first.
    pub items: Vec<AlertView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Which messages a page lists; `None` matches every message.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    /// Only messages in this delivery state.
    pub state: Option<DeliveryState>,
    /// Only messages about this alert.
    pub alert: Option<AlertId>,
    /// Only messages to this channel.
    pub channel: Option<String>,
}

/// A page of messages.
#[derive(Debug, Serialize)]
pub struct MessagePage {
    /// Messages in id order.
    pub items: Vec<MessageView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The active-alarm view.
#[derive(Debug, Serialize)]
pub struct Alarms {
    /// Total active alarms.
    pub total: usize,
    /// Grouped by resource and service.
    pub groups: Vec<AlarmGroup>,
}

/// How many rows each view holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewSizes {
    /// Alerts.
    pub alerts: usize,
    /// Outgoing messages.
    pub messages: usize,
    /// Active alarms.
    pub alarms: usize,
    /// Tasks.
    pub tasks: usize,
    /// Resources, deleted ones included.
    pub syncs: usize,
}

/// The questions the views answer. Every answer is an owned copy.
pub trait ViewQueries {
    /// The position of the last event the views reflect.
    fn position(&self) -> Position;
    /// How many rows each view holds.
    fn sizes(&self) -> ViewSizes;
    /// One alert.
    fn alert(&self, id: AlertId) -> Option<AlertView>;
    /// The series stream of one alert.
    fn alert_stream(&self, id: AlertId) -> Option<String>;
    /// Newest first, opened before `cursor` (a position; `None` for the newest), at
    /// most `limit`; the cursor of the next page is the position after the last one.
    fn alerts(&self, filter: &AlertFilter, cursor: Option<Position>, limit: usize) -> AlertPage;
    /// Unresolved alerts per severity, in the order of [`Severity::ALL`].
    fn open_alerts_by_severity(&self) -> [u64; 4];
    /// Every alert that is not resolved, in id order.
    fn open_alerts(&self) -> Vec<AlertView>;
    /// Every alert that has an escalation step scheduled, in id order.
    fn alerts_awaiting_escalation(&self) -> Vec<AlertView>;
    /// Active alarms, grouped.
    fn alarms(&self) -> Alarms;
    /// Messages after `cursor` in id order, at most `limit`.
    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<MessageId>,
        limit: usize,
    ) -> MessagePage;
    /// The ids of the oldest unfinished (not delivered, not abandoned) messages, at
    /// most `limit`, oldest first; `true` when the index holds more.
    fn unfinished_messages(&self, limit: usize) -> (Vec<MessageId>, bool);
    /// One message.
    fn message(&self, id: MessageId) -> Option<MessageView>;
    /// One task.
    fn task(&self, id: TaskId) -> Option<TaskView>;
    /// Whether a task exists.
    fn has_task(&self, id: TaskId) -> bool;
    /// Tasks in id order: with `host`, those that run on it (only unfinished runs
    /// when `pending`); without, every task (only unfinished ones when `pending`).
    fn tasks(&self, host: Option<&HostName>, pending: bool) -> Vec<TaskView>;
    /// One resource.
    fn sync(&self, id: &SyncId) -> Option<SyncView>;
    /// Resources in id order, only deleted (or only live) ones when `deleted` says so.
    fn syncs(&self, deleted: Option<bool>) -> Vec<SyncView>;
    /// The whole routing configuration.
    fn routing(&self) -> RoutingView;
    /// Every task rule, in id order.
    fn task_rules(&self) -> Vec<TaskRule>;
    /// One channel.
    fn channel(&self, id: &ChannelId) -> Option<ChannelView>;
    /// The route of one service.
    fn route(&self, service: &ServiceName) -> Option<Route>;
    /// One escalation policy.
    fn policy(&self, id: &PolicyId) -> Option<Policy>;
    /// Whether `command`'s references (channels, policies) exist in the routing.
    fn check_references(&self, command: &ConfigCommand) -> Result<(), Rejection>;
    /// Whether every channel exists and is not removed (`field` names the list).
    fn require_channels(&self, field: &str, channels: &[ChannelId]) -> Result<(), Rejection>;
    /// One consumer group.
    fn consumer_group(&self, name: &ConsumerName) -> Option<ConsumerGroupView>;
    /// Every consumer group, by name.
    fn consumer_groups(&self) -> Vec<ConsumerGroupView>;
    /// The newest position a consumer group could read (outside `consumer-*` streams).
    fn group_head(&self) -> Position;
}

impl ViewQueries for Views {
    fn position(&self) -> Position {
        self.position
    }

    fn sizes(&self) -> ViewSizes {
        ViewSizes {
            alerts: self.alerts.alerts.len(),
            messages: self.messages.messages.len(),
            alarms: self.alarms.active.len(),
            tasks: self.tasks.tasks.len(),
            syncs: self.syncs.syncs.len(),
        }
    }

    fn alert(&self, id: AlertId) -> Option<AlertView> {
        self.alerts.alerts.get(&id).cloned()
    }

    fn alert_stream(&self, id: AlertId) -> Option<String> {
        self.alerts.alerts.get(&id).map(|a| a.stream.clone())
    }

    fn alerts(&self, filter: &AlertFilter, cursor: Option<Position>, limit: usize) -> AlertPage {
        let upper = cursor.unwrap_or(Position::MAX);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for (position, id) in self.alerts.opened.range(..upper).rev() {
            let Some(alert) = self.alerts.alerts.get(id) else {
                continue;
            };
            let keep = filter.status.is_none_or(|s| alert.status == s)
                && filter.severity.is_none_or(|s| alert.severity == s)
                && filter
                    .service
                    .as_deref()
                    .is_none_or(|s| alert.service.as_str() == s)
                && filter
                    .resource
                    .as_deref()
                    .is_none_or(|r| alert.resource.as_ref().is_some_and(|x| x.as_str() == r))
                && filter.since.is_none_or(|t| alert.created_at >= t)
                && filter.until.is_none_or(|t| alert.created_at < t)
                && filter
                    .query
                    .as_deref()
                    .is_none_or(|q| words_match(alert, q));
            if !keep {
                continue;
            }
            if items.len() == limit {
                next_cursor = Some((position + 1).to_string());
                break;
            }
            items.push(alert.clone());
        }
        AlertPage { items, next_cursor }
    }

    fn open_alerts_by_severity(&self) -> [u64; 4] {
        let mut counts = [0u64; 4];
        for alert in self.alerts.alerts.values() {
            if alert.status != AlertStatus::Resolved {
                let index = Severity::ALL.iter().position(|s| *s == alert.severity);
                counts[index.unwrap_or(0)] += 1;
            }
        }
        counts
    }

    fn open_alerts(&self) -> Vec<AlertView> {
        self.alerts
            .alerts
            .values()
            .filter(|alert| alert.status != AlertStatus::Resolved)
            .cloned()
            .collect()
    }

    fn alerts_awaiting_escalation(&self) -> Vec<AlertView> {
        self.alerts
            .alerts
            .values()
            .filter(|alert| alert.next_escalation_at.is_some())
            .cloned()
            .collect()
    }

    fn alarms(&self) -> Alarms {
        Alarms {
            total: self.alarms.active.len(),
            groups: self.alarms.groups(),
        }
    }

    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<MessageId>,
        limit: usize,
    ) -> MessagePage {
        let range = match cursor {
            Some(after) => self
                .messages
                .messages
                .range((Bound::Excluded(after), Bound::Unbounded)),
            None => self.messages.messages.range(..),
        };
        let mut items = Vec::new();
        let mut next_cursor = None;
        for message in range.map(|(_, m)| m) {
            let keep = filter.state.is_none_or(|s| message.state == s)
                && filter.alert.is_none_or(|a| message.alert_id == a)
                && filter
                    .channel
                    .as_deref()
                    .is_none_or(|c| message.channel.as_str() == c);
            if !keep {
                continue;
            }
            if items.len() == limit {
                next_cursor = items.last().map(|m: &MessageView| m.id.to_string());
                break;
            }
            items.push(message.clone());
        }
        MessagePage { items, next_cursor }
    }

    fn unfinished_messages(&self, limit: usize) -> (Vec<MessageId>, bool) {
        let index = &self.messages.unfinished;
        let ids = index.iter().take(limit).map(|(_, id)| *id).collect();
        (ids, index.len() > limit)
    }

    fn message(&self, id: MessageId) -> Option<MessageView> {
        self.messages.messages.get(&id).cloned()
    }

    fn task(&self, id: TaskId) -> Option<TaskView> {
        self.tasks.tasks.get(&id).cloned()
    }

    fn has_task(&self, id: TaskId) -> bool {
        self.tasks.tasks.contains_key(&id)
    }

    fn tasks(&self, host: Option<&HostName>, pending: bool) -> Vec<TaskView> {
        self.tasks
            .tasks
            .values()
            .filter(|task| match host {
                None => !pending || !task.is_finished(),
                Some(h) => task
                    .hosts
                    .get(h)
                    .is_some_and(|run| !pending || !run.state.is_terminal()),
            })
            .cloned()
            .collect()
    }

    fn sync(&self, id: &SyncId) -> Option<SyncView> {
        self.syncs.syncs.get(id).cloned()
    }

    fn syncs(&self, deleted: Option<bool>) -> Vec<SyncView> {
        self.syncs
            .syncs
            .values()
            .filter(|s| deleted.is_none_or(|d| s.deleted == d))
            .cloned()
            .collect()
    }

    fn routing(&self) -> RoutingView {
        self.routing.clone()
    }

    fn task_rules(&self) -> Vec<TaskRule> {
        self.routing.rules.values().cloned().collect()
    }

    fn channel(&self, id: &ChannelId) -> Option<ChannelView> {
        self.routing.channels.get(id).cloned()
    }

    fn route(&self, service: &ServiceName) -> Option<Route> {
        self.routing.services.get(service).cloned()
    }

    fn policy(&self, id: &PolicyId) -> Option<Policy> {
        self.routing.policies.get(id).cloned()
    }

    fn check_references(&self, command: &ConfigCommand) -> Result<(), Rejection> {
        check_references(&self.routing, command)
    }

    fn require_channels(&self, field: &str, channels: &[ChannelId]) -> Result<(), Rejection> {
        require_channels(&self.routing, field, channels)
    }

    fn consumer_group(&self, name: &ConsumerName) -> Option<ConsumerGroupView> {
        self.consumers.groups.get(name).cloned()
    }

    fn consumer_groups(&self) -> Vec<ConsumerGroupView> {
        self.consumers.groups.values().cloned().collect()
    }

    fn group_head(&self) -> Position {
        self.group_head
    }
}

/// The in-memory stand-in for full-text search: every word of `query` occurs, case
/// folded, in the summary or the details (the oracle's approximation of FTS5 for plain
/// words).
fn words_match(alert: &AlertView, query: &str) -> bool {
    let mut text = alert.summary.to_lowercase();
    for (key, value) in &alert.details {
        text.push(' ');
        text.push_str(&key.to_lowercase());
        text.push(' ');
        text.push_str(&value.to_lowercase());
    }
    query
        .split_whitespace()
        .all(|word| text.contains(&word.to_lowercase()))
}
