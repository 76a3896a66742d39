//! [`ViewQueries`] over the view file, as it is now or as it was at a past position:
//! the same queries with another visibility rule, so "as of P" is an indexed read of
//! the versions that held at P, never a replay.

use super::rows::{decode, SyncRow, ROUTING_ID};
use crate::projection::queries::{
    Alarms, AlertFilter, AlertPage, MessageFilter, MessagePage, ViewQueries, ViewSizes,
};
use projections::decide::config::{check_references, require_channels};
use projections::decide::{ConfigCommand, Rejection};
use projections::ids::{
    AlertId, ChannelId, ConsumerName, HostName, MessageId, PolicyId, ServiceName, SyncId, TaskId,
};
use projections::views::alarms::Alarm;
use projections::views::{
    AlarmsView, AlertStatus, AlertView, ChannelView, ConsumerGroupView, MessageView, Policy, Route,
    RoutingView, SyncView, TaskRule, TaskView,
};
use projections::{Position, Severity};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What readers share: the parsed routing (it changes rarely and every command reads
/// it) and the count of failed reads.
#[derive(Debug, Default)]
pub struct ReadShared {
    routing: Mutex<Option<(i64, Arc<RoutingView>)>>,
    /// Reads that failed (I/O, a damaged page): each is logged, answered as empty,
    /// and makes `/readyz` report the view file.
    pub read_errors: AtomicU64,
}

impl ReadShared {
    /// Forgets the parsed routing and the failed reads (the file was replaced).
    pub fn clear(&self) {
        *self.routing.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.read_errors.store(0, Ordering::Relaxed);
    }
}

/// The views in one read transaction of the file.
pub struct SqlViews {
    pub(super) conn: Connection,
    /// `None`: the current rows; `Some(P)`: the rows as of position P.
    pub(super) at: Option<Position>,
    pub(super) position: Position,
    pub(super) group_head: Position,
    pub(super) sizes: Option<ViewSizes>,
    pub(super) shared: Arc<ReadShared>,
}

impl SqlViews {
    /// The rule that picks, of every version, the one that holds.
    fn visible(&self) -> String {
        match self.at {
            None => "valid_to IS NULL".to_owned(),
            Some(at) => format!("valid_from <= {at} AND (valid_to IS NULL OR valid_to > {at})"),
        }
    }

    fn answer<T: Default>(&self, what: &str, result: rusqlite::Result<T>) -> T {
        result.unwrap_or_else(|err| {
            self.shared.read_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(%err, what, "view file read failed; answering empty");
            T::default()
        })
    }

    fn bodies<V: DeserializeOwned>(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> rusqlite::Result<Vec<V>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let bodies = statement
            .query_map(params_from_iter(values), |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        bodies.iter().map(|body| decode(body)).collect()
    }

    fn one<V: DeserializeOwned>(&self, table: &str, id: String) -> Option<V> {
        let sql = format!(
            "SELECT body FROM {table} WHERE id = ?1 AND {}",
            self.visible()
        );
        let found = self.bodies(&sql, vec![Value::Text(id)]);
        self.answer(table, found.map(|mut rows| rows.pop()))
    }

    fn routing_arc(&self) -> Arc<RoutingView> {
        let sql = format!(
            "SELECT valid_from, body FROM routing WHERE id = ?1 AND {}",
            self.visible()
        );
        let found = self.conn.prepare_cached(&sql).and_then(|mut s| {
            let mut rows = s.query([ROUTING_ID])?;
            match rows.next()? {
                Some(row) => Ok(Some((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))),
                None => Ok(None),
            }
        });
        let Some((from, body)) = self.answer("routing", found) else {
            return Arc::default();
        };
        let mut cached = self
            .shared
            .routing
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some((_, routing)) = cached.as_ref().filter(|(at, _)| *at == from) {
            return routing.clone();
        }
        let routing: Arc<RoutingView> = Arc::new(self.answer("routing", decode(&body)));
        if self.at.is_none() {
            *cached = Some((from, routing.clone()));
        }
        routing
    }
}

impl ViewQueries for SqlViews {
    fn position(&self) -> Position {
        self.position
    }

    fn sizes(&self) -> ViewSizes {
        if let Some(sizes) = self.sizes {
            return ViewSizes {
                alarms: self.open_alerts_by_severity().iter().sum::<u64>() as usize,
                ..sizes
            };
        }
        let count = |table: &str| -> usize {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE {}", self.visible());
            let counted = self.conn.query_row(&sql, [], |row| row.get::<_, i64>(0));
            self.answer(table, counted) as usize
        };
        ViewSizes {
            alerts: count("alerts"),
            messages: count("messages"),
            alarms: self.open_alerts_by_severity().iter().sum::<u64>() as usize,
            tasks: count("tasks"),
            syncs: count("syncs"),
        }
    }

    fn alert(&self, id: AlertId) -> Option<AlertView> {
        self.one("alerts", id.to_string())
    }

    fn alert_stream(&self, id: AlertId) -> Option<String> {
        self.alert(id).map(|alert| alert.stream)
    }

    fn alerts(&self, filter: &AlertFilter, cursor: Option<Position>, limit: usize) -> AlertPage {
        let mut sql = format!("SELECT body FROM alerts WHERE {}", self.visible());
        let mut values = Vec::new();
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(cursor) = cursor {
            and("opened <", Value::Integer(cursor as i64));
        }
        if let Some(status) = filter.status {
            and("status =", Value::Text(status.as_str().into()));
        }
        if let Some(severity) = filter.severity {
            and("severity =", Value::Text(severity.as_str().into()));
        }
        if let Some(service) = &filter.service {
            and("service =", Value::Text(service.clone()));
        }
        if let Some(resource) = &filter.resource {
            and("resource =", Value::Text(resource.clone()));
        }
        if let Some(since) = &filter.since {
            and("created_at >=", Value::Text(super::schema::time(since)));
        }
        if let Some(until) = &filter.until {
            and("created_at <", Value::Text(super::schema::time(until)));
        }
        if let Some(query) = &filter.query {
            and(
                "opened IN (SELECT rowid FROM alert_text WHERE alert_text MATCH",
                Value::Text(query.clone()),
            );
            sql.push(')');
        }
        sql.push_str(&format!(" ORDER BY opened DESC LIMIT {}", limit + 1));
        let mut items: Vec<AlertView> = self.answer("alerts", self.bodies(&sql, values));
        let mut next_cursor = None;
        if items.len() > limit {
            let first_left = items.swap_remove(limit);
            items.truncate(limit);
            next_cursor = Some((super::rows::opened(&first_left) + 1).to_string());
        }
        AlertPage { items, next_cursor }
    }

    fn open_alerts_by_severity(&self) -> [u64; 4] {
        let sql = format!(
            "SELECT severity, COUNT(*) FROM alerts WHERE {} AND status != 'resolved' GROUP BY severity",
            self.visible()
        );
        let counted = self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        });
        let mut counts = [0u64; 4];
        for (severity, count) in self.answer("open alerts by severity", counted) {
            let index = Severity::ALL
                .iter()
                .position(|s| s.as_str() == severity)
                .unwrap_or(0);
            counts[index] += count as u64;
        }
        counts
    }

    fn open_alerts(&self) -> Vec<AlertView> {
        let sql = format!(
            "SELECT body FROM alerts WHERE {} AND status != 'resolved' ORDER BY id",
            self.visible()
        );
        self.answer("open alerts", self.bodies(&sql, Vec::new()))
    }

    fn alerts_awaiting_escalation(&self) -> Vec<AlertView> {
        let sql = format!(
            "SELECT body FROM alerts WHERE {} AND next_escalation_at IS NOT NULL ORDER BY id",
            self.visible()
        );
        self.answer("escalations", self.bodies(&sql, Vec::new()))
    }

    fn alarms(&self) -> Alarms {
        let active = self
            .open_alerts()
            .into_iter()
            .map(|alert| {
                let alarm = Alarm {
                    resource: alert.resource.clone(),
                    service: alert.service.clone(),
                    severity: alert.severity,
                    acknowledged: alert.status == AlertStatus::Acknowledged,
                };
                (alert.id, alarm)
            })
            .collect();
        let mut view = AlarmsView::default();
        view.active = active;
        Alarms {
            total: view.active.len(),
            groups: view.groups(),
        }
    }

    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<MessageId>,
        limit: usize,
    ) -> MessagePage {
        let mut sql = format!("SELECT body FROM messages WHERE {}", self.visible());
        let mut values = Vec::new();
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(cursor) = cursor {
            and("id >", Value::Text(cursor.to_string()));
        }
        if let Some(state) = filter.state {
            and("state =", Value::Text(state.as_str().into()));
        }
        if let Some(alert) = filter.alert {
            and("alert_id =", Value::Text(alert.to_string()));
        }
        if let Some(channel) = &filter.channel {
            and("channel =", Value::Text(channel.clone()));
        }
        sql.push_str(&format!(" ORDER BY id LIMIT {}", limit + 1));
        let mut items: Vec<MessageView> = self.answer("messages", self.bodies(&sql, values));
        let mut next_cursor = None;
        if items.len() > limit {
            items.truncate(limit);
            next_cursor = items.last().map(|m| m.id.to_string());
        }
        MessagePage { items, next_cursor }
    }

    fn unfinished_messages(&self, limit: usize) -> (Vec<MessageId>, bool) {
        let sql = format!(
            "SELECT id FROM messages WHERE {} AND state NOT IN ('delivered', 'abandoned')
             ORDER BY queued_at, id LIMIT {}",
            self.visible(),
            limit + 1
        );
        let ids = self.conn.prepare_cached(&sql).and_then(|mut s| {
            s.query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        });
        let mut ids: Vec<MessageId> = self
            .answer("unfinished messages", ids)
            .iter()
            .filter_map(|id| MessageId::parse(id).ok())
            .collect();
        let more = ids.len() > limit;
        ids.truncate(limit);
        (ids, more)
    }

    fn message(&self, id: MessageId) -> Option<MessageView> {
        self.one("messages", id.to_string())
    }

    fn task(&self, id: TaskId) -> Option<TaskView> {
        self.one("tasks", id.to_string())
    }

    fn has_task(&self, id: TaskId) -> bool {
        self.task(id).is_some()
    }

    fn tasks(&self, host: Option<&HostName>, pending: bool) -> Vec<TaskView> {
        let unfinished = if pending { " AND finished = 0" } else { "" };
        let sql = format!(
            "SELECT body FROM tasks WHERE {}{unfinished} ORDER BY id",
            self.visible()
        );
        let tasks: Vec<TaskView> = self.answer("tasks", self.bodies(&sql, Vec::new()));
        tasks
            .into_iter()
            .filter(|task| match host {
                None => !pending || !task.is_finished(),
                Some(h) => task
                    .hosts
                    .get(h)
                    .is_some_and(|run| !pending || !run.state.is_terminal()),
            })
            .collect()
    }

    fn sync(&self, id: &SyncId) -> Option<SyncView> {
        self.one::<SyncRow>("syncs", id.as_str().to_owned())
            .map(|row| row.view)
    }

    fn syncs(&self, deleted: Option<bool>) -> Vec<SyncView> {
        let sql = format!(
            "SELECT body FROM syncs WHERE {}{} ORDER BY id",
            self.visible(),
            match deleted {
                None => "",
                Some(true) => " AND deleted = 1",
                Some(false) => " AND deleted = 0",
            }
        );
        let rows: Vec<SyncRow> = self.answer("syncs", self.bodies(&sql, Vec::new()));
        rows.into_iter().map(|row| row.view).collect()
    }

    fn routing(&self) -> RoutingView {
        self.routing_arc().as_ref().clone()
    }

    fn task_rules(&self) -> Vec<TaskRule> {
        self.routing_arc().rules.values().cloned().collect()
    }

    fn channel(&self, id: &ChannelId) -> Option<ChannelView> {
        self.routing_arc().channels.get(id).cloned()
    }

    fn route(&self, service: &ServiceName) -> Option<Route> {
        self.routing_arc().services.get(service).cloned()
    }

    fn policy(&self, id: &PolicyId) -> Option<Policy> {
        self.routing_arc().policies.get(id).cloned()
    }

    fn check_references(&self, command: &ConfigCommand) -> Result<(), Rejection> {
        check_references(&self.routing_arc(), command)
    }

    fn require_channels(&self, field: &str, channels: &[ChannelId]) -> Result<(), Rejection> {
        require_channels(&self.routing_arc(), field, channels)
    }

    fn consumer_group(&self, name: &ConsumerName) -> Option<ConsumerGroupView> {
        self.one("consumer_groups", name.to_string())
    }

    fn consumer_groups(&self) -> Vec<ConsumerGroupView> {
        let sql = format!(
            "SELECT body FROM consumer_groups WHERE {} ORDER BY id",
            self.visible()
        );
        self.answer("consumer groups", self.bodies(&sql, Vec::new()))
    }

    fn group_head(&self) -> Position {
        self.group_head
    }
}
