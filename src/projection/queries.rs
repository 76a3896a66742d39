//! Typed queries over the views: the only reads the rest of the service makes.
//!
//! [`ViewQueries`] names each question a caller asks (an alert by id, a page of alerts
//! by filter and cursor, alarms grouped, messages by filter, tasks, resources,
//! routing) and answers with owned values, so no caller holds on to the views. The
//! live views answer through [`ViewsHandle::current`](super::ViewsHandle::current),
//! views as of a past position through [`ViewsHandle::at`](super::ViewsHandle::at):
//! both are the view file ([`super::sqlite::read`]). The in-memory [`Views`] answer too:
//! they are the oracle the file is tested against.

use super::stats::{self, ChannelHealth, DayTrend, TrendSample};
use chrono::{DateTime, Utc};
use projections::decide::config::{check_references, require_channels};
use projections::decide::{ConfigCommand, Rejection};
use projections::ids::{
    AlertId, ChannelId, ConsumerName, HostName, MessageId, PolicyId, ServiceName, SyncId, TaskId,
};
use projections::views::alarms::Alarm;
use projections::views::{
    AlertStatus, AlertView, ChannelView, ConsumerGroupView, DeliveryState, MessageView, Policy,
    Route, RoutingView, SyncView, TaskRule, TaskView, Views,
};
use projections::{Position, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
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
    /// trailing `*` makes it a prefix). A query without words matches nothing.
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

/// Which active alarms to show; `None` matches every alarm.
#[derive(Debug, Clone, Default)]
pub struct AlarmFilter {
    /// Only alarms of this service.
    pub service: Option<String>,
    /// Only alarms on this resource.
    pub resource: Option<String>,
    /// Only alarms of this severity.
    pub severity: Option<Severity>,
    /// Only acknowledged (`true`) or unacknowledged (`false`) alarms.
    pub acknowledged: Option<bool>,
}

/// One active alarm, inline, so a dashboard needs no request per alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmItem {
    /// The alert.
    pub id: AlertId,
    /// Its latest summary.
    pub summary: String,
    /// Its latest severity.
    pub severity: Severity,
    /// `triggered` or `acknowledged`.
    pub status: AlertStatus,
    /// When it opened.
    pub since: DateTime<Utc>,
}

/// The active alarms of one (resource, service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmGroup {
    /// The resource (`None`: alarms not tied to a resource).
    pub resource: Option<SyncId>,
    /// The service.
    pub service: ServiceName,
    /// How many alarms per severity (every severity listed, zeros included).
    pub counts: BTreeMap<Severity, u64>,
    /// How many are acknowledged.
    pub acknowledged: u64,
    /// How many nobody has acknowledged.
    pub unacknowledged: u64,
    /// The alarms' alert ids, in id order.
    pub alerts: Vec<AlertId>,
    /// The alarms themselves, in id order.
    pub items: Vec<AlarmItem>,
}

impl AlarmItem {
    /// The alarm `alert` is, inline.
    pub fn of(alert: &AlertView) -> AlarmItem {
        AlarmItem {
            id: alert.id,
            summary: alert.summary.clone(),
            severity: alert.severity,
            status: alert.status,
            since: alert.created_at,
        }
    }
}

/// The active-alarm view.
#[derive(Debug, Serialize)]
pub struct Alarms {
    /// Active alarms shown.
    pub total: usize,
    /// Of those, acknowledged.
    pub acknowledged: usize,
    /// Of those, not acknowledged.
    pub unacknowledged: usize,
    /// Grouped by resource and service.
    pub groups: Vec<AlarmGroup>,
}

impl Alarms {
    /// Groups `alarms` (in alert id order) that `filter` keeps by (resource, service).
    pub fn group(
        alarms: impl IntoIterator<Item = (Alarm, AlarmItem)>,
        filter: &AlarmFilter,
    ) -> Alarms {
        let mut groups: BTreeMap<(Option<SyncId>, ServiceName), AlarmGroup> = BTreeMap::new();
        let (mut total, mut acknowledged) = (0, 0);
        for (alarm, item) in alarms {
            let keep = filter
                .service
                .as_deref()
                .is_none_or(|s| alarm.service.as_str() == s)
                && filter
                    .resource
                    .as_deref()
                    .is_none_or(|r| alarm.resource.as_ref().is_some_and(|x| x.as_str() == r))
                && filter.severity.is_none_or(|s| alarm.severity == s)
                && filter.acknowledged.is_none_or(|a| alarm.acknowledged == a);
            if !keep {
                continue;
            }
            let group = groups
                .entry((alarm.resource.clone(), alarm.service.clone()))
                .or_insert_with(|| AlarmGroup {
                    resource: alarm.resource.clone(),
                    service: alarm.service.clone(),
                    counts: Severity::ALL.into_iter().map(|s| (s, 0)).collect(),
                    acknowledged: 0,
                    unacknowledged: 0,
                    alerts: Vec::new(),
                    items: Vec::new(),
                });
            *group.counts.entry(alarm.severity).or_default() += 1;
            if alarm.acknowledged {
                group.acknowledged += 1;
                acknowledged += 1;
            } else {
                group.unacknowledged += 1;
            }
            total += 1;
            group.alerts.push(item.id);
            group.items.push(item);
        }
        Alarms {
            total,
            acknowledged,
            unacknowledged: total - acknowledged,
            groups: groups.into_values().collect(),
        }
    }
}

/// Which tasks a page lists.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks that run on this host (with `pending`, only those whose run on it
    /// has not ended).
    pub host: Option<HostName>,
    /// Only unfinished tasks (or runs, with `host`).
    pub pending: bool,
    /// Only tasks started for this alert.
    pub alert: Option<AlertId>,
}

/// A page of tasks.
#[derive(Debug, Serialize)]
pub struct TaskPage {
    /// Tasks in id order.
    pub items: Vec<TaskView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of resources.
#[derive(Debug, Serialize)]
pub struct SyncPage {
    /// Resources in id order.
    pub items: Vec<SyncView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
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
    /// Active alarms that `filter` keeps, grouped, with the alerts inline.
    fn alarms(&self, filter: &AlarmFilter) -> Alarms;
    /// Messages newest first (by the position that queued them), below `cursor` (a
    /// page's `next_cursor`), at most `limit`.
    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<Position>,
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
    /// Tasks `filter` keeps, in id order, after `cursor`, at most `limit`: with a host,
    /// those that run on it (only unfinished runs when pending); without, every task
    /// (only unfinished ones when pending).
    fn tasks(&self, filter: &TaskFilter, cursor: Option<TaskId>, limit: usize) -> TaskPage;
    /// One resource.
    fn sync(&self, id: &SyncId) -> Option<SyncView>;
    /// Resources in id order after `cursor`, at most `limit`, only deleted (or only
    /// live) ones when `deleted` says so.
    fn syncs(&self, deleted: Option<bool>, cursor: Option<&SyncId>, limit: usize) -> SyncPage;
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
    /// Alerts opened per service per day since `since`, with MTTA and MTTR.
    fn trends(&self, since: DateTime<Utc>) -> Vec<DayTrend>;
    /// How each channel's messages fared.
    fn channel_health(&self) -> Vec<ChannelHealth>;
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

    fn alarms(&self, filter: &AlarmFilter) -> Alarms {
        let alarms = self.alarms.active.iter().filter_map(|(id, alarm)| {
            let alert = self.alerts.alerts.get(id)?;
            Some((alarm.clone(), AlarmItem::of(alert)))
        });
        Alarms::group(alarms, filter)
    }

    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<Position>,
        limit: usize,
    ) -> MessagePage {
        let upper = cursor.unwrap_or(Position::MAX);
        let mut items = Vec::new();
        let mut next_cursor = None;
        for (position, id) in self.messages.queued.range(..upper).rev() {
            let Some(message) = self.messages.messages.get(id) else {
                continue;
            };
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
                next_cursor = Some((position + 1).to_string());
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

    fn tasks(&self, filter: &TaskFilter, cursor: Option<TaskId>, limit: usize) -> TaskPage {
        let range = match cursor {
            Some(after) => self
                .tasks
                .tasks
                .range((Bound::Excluded(after), Bound::Unbounded)),
            None => self.tasks.tasks.range(..),
        };
        let mut items: Vec<TaskView> = range
            .map(|(_, task)| task)
            .filter(|task| filter.keeps(task))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let next_cursor = page_end(&mut items, limit).map(|task| task.id.to_string());
        TaskPage { items, next_cursor }
    }

    fn sync(&self, id: &SyncId) -> Option<SyncView> {
        self.syncs.syncs.get(id).cloned()
    }

    fn syncs(&self, deleted: Option<bool>, cursor: Option<&SyncId>, limit: usize) -> SyncPage {
        let range = match cursor {
            Some(after) => self
                .syncs
                .syncs
                .range::<SyncId, _>((Bound::Excluded(after), Bound::Unbounded)),
            None => self.syncs.syncs.range::<SyncId, _>(..),
        };
        let mut items: Vec<SyncView> = range
            .map(|(_, sync)| sync)
            .filter(|s| deleted.is_none_or(|d| s.deleted == d))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let next_cursor = page_end(&mut items, limit).map(|sync| sync.id.to_string());
        SyncPage { items, next_cursor }
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

    fn trends(&self, since: DateTime<Utc>) -> Vec<DayTrend> {
        stats::trends(self.alerts.alerts.values().map(TrendSample::of), since)
    }

    fn channel_health(&self) -> Vec<ChannelHealth> {
        stats::channel_health(self.messages.messages.values())
    }
}

/// The in-memory stand-in for full-text search: every word of `query` occurs, case
/// folded, in the summary or the details (the oracle's approximation of FTS5 for plain
/// words); a query without words matches nothing.
fn words_match(alert: &AlertView, query: &str) -> bool {
    if query.split_whitespace().next().is_none() {
        return false;
    }
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

impl TaskFilter {
    /// Whether `task` is on the page.
    pub fn keeps(&self, task: &TaskView) -> bool {
        let on_host = match &self.host {
            None => !self.pending || !task.is_finished(),
            Some(h) => task
                .hosts
                .get(h)
                .is_some_and(|run| !self.pending || !run.state.is_terminal()),
        };
        on_host && self.alert.is_none_or(|a| task.alert_id == Some(a))
    }
}

/// Cuts `items` (at most `limit + 1` long) to `limit`; the last item kept, when more
/// followed, is where the next page starts after.
pub fn page_end<T>(items: &mut Vec<T>, limit: usize) -> Option<&T> {
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}
