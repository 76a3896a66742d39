//! [`ViewQueries`] over the view file, as it is now or as it was at a past position:
//! the same queries with another visibility rule, so "as of P" is an indexed read of
//! the versions that held at P, never a replay.

use super::rows::{decode, SyncRow, ROUTING_ID};
use crate::projection::queries::{
    page_end, AlarmFilter, Alarms, AlertFilter, AlertPage, MessageFilter, MessagePage, SyncPage,
    TaskFilter, TaskPage, ViewQueries, ViewSizes,
};
use crate::projection::stats::{ChannelHealth, DayTrend};
use projections::decide::config::{check_references, require_channels};
use projections::decide::{ConfigCommand, Rejection};
use projections::ids::{
    AlertId, ChannelId, ConsumerName, MessageId, PolicyId, ServiceName, SyncId, TaskId,
};
use projections::views::{
    AlertStatus, AlertView, ChannelView, ConsumerGroupView, MessageView, Policy, Route,
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
    /// The routing this transaction read, once read (a trigger asks for a route and a
    /// policy: one read).
    pub(super) routing: std::cell::OnceCell<Arc<RoutingView>>,
}

impl SqlViews {
    /// The rule that picks, of every version, the one that holds.
    pub(super) fn visible(&self) -> String {
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

    pub(super) fn bodies<V: DeserializeOwned>(
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

    /// One entity's row as visible: its newest version from then (one entry of the
    /// `(id, valid_from)` index from its end), if that version still held; not a walk
    /// over all its versions.
    fn one<V: DeserializeOwned>(&self, table: &str, id: String) -> Option<V> {
        let from_then = match self.at {
            None => String::new(),
            Some(at) => format!(" AND valid_from <= {at}"),
        };
        let sql = format!(
            "SELECT body FROM {table} WHERE rowid = (SELECT rowid FROM {table} \
             WHERE id = ?1{from_then} ORDER BY valid_from DESC LIMIT 1) AND {}",
            self.visible()
        );
        let found = self.bodies(&sql, vec![Value::Text(id)]);
        self.answer(table, found.map(|mut rows| rows.pop()))
    }

    fn routing_arc(&self) -> Arc<RoutingView> {
        self.routing.get_or_init(|| self.read_routing()).clone()
    }

    fn read_routing(&self) -> Arc<RoutingView> {
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
        if filter.query.as_deref().is_some_and(|q| q.trim().is_empty()) {
            return AlertPage {
                items: Vec::new(),
                next_cursor: None,
            };
        }
        let mut values = Vec::new();
        // A search walks the full-text index newest first (its rowid is the opening
        // position) and joins each match's current row, so it stops at the page's end
        // instead of collecting every match first.
        let (mut sql, order) = match &filter.query {
            Some(query) => {
                values.push(Value::Text(query.clone()));
                (
                    "SELECT body FROM alert_text JOIN alerts ON opened = alert_text.rowid \
                     WHERE alert_text MATCH ?1 AND "
                        .to_owned(),
                    "alert_text.rowid",
                )
            }
            None => ("SELECT body FROM alerts WHERE ".to_owned(), "opened"),
        };
        sql.push_str(&self.visible());
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(at) = self.at {
            // Only alerts opened by then: bounds the index range the page walks.
            and("opened <=", Value::Integer(at as i64));
        }
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
        sql.push_str(&format!(" ORDER BY {order} DESC LIMIT {}", limit + 1));
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
            "SELECT severity, COUNT(*) FROM alerts WHERE {} AND status IN ('triggered', 'acknowledged') GROUP BY severity",
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
            "SELECT body FROM alerts WHERE {} AND status IN ('triggered', 'acknowledged') ORDER BY id",
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

    fn alarms(&self, filter: &AlarmFilter) -> Alarms {
        let mut sql = format!(
            "SELECT id, status, service, severity, resource, summary, created_at FROM alerts
             WHERE {} AND status IN ('triggered', 'acknowledged')",
            self.visible()
        );
        let mut values = Vec::new();
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(service) = &filter.service {
            and("service =", Value::Text(service.clone()));
        }
        if let Some(resource) = &filter.resource {
            and("resource =", Value::Text(resource.clone()));
        }
        if let Some(severity) = filter.severity {
            and("severity =", Value::Text(severity.as_str().into()));
        }
        if let Some(acknowledged) = filter.acknowledged {
            let status = if acknowledged {
                AlertStatus::Acknowledged
            } else {
                AlertStatus::Triggered
            };
            and("status =", Value::Text(status.as_str().into()));
        }
        sql.push_str(" ORDER BY id");
        let alarms = self.answer("alarms", self.alarm_rows(&sql, values));
        Alarms::group(alarms, filter)
    }

    fn messages(
        &self,
        filter: &MessageFilter,
        cursor: Option<Position>,
        limit: usize,
    ) -> MessagePage {
        let mut sql = format!("SELECT body FROM messages WHERE {}", self.visible());
        let mut values = Vec::new();
        let mut and = |clause: &str, value: Value| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} ?{}", values.len()));
        };
        if let Some(at) = self.at {
            // Only messages queued by then: bounds the index range the page walks.
            and("queued <=", Value::Integer(at as i64));
        }
        if let Some(cursor) = cursor {
            and("queued <", Value::Integer(cursor as i64));
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
        sql.push_str(&format!(" ORDER BY queued DESC LIMIT {}", limit + 1));
        let mut items: Vec<MessageView> = self.answer("messages", self.bodies(&sql, values));
        let mut next_cursor = None;
        if items.len() > limit {
            let first_left = items.swap_remove(limit);
            items.truncate(limit);
            next_cursor = Some((first_left.queued_position + 1).to_string());
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

    fn tasks(&self, filter: &TaskFilter, cursor: Option<TaskId>, limit: usize) -> TaskPage {
        let mut sql = format!("SELECT body FROM tasks WHERE {}", self.visible());
        let mut values = Vec::new();
        if filter.pending {
            sql.push_str(" AND finished = 0");
        }
        if let Some(alert) = filter.alert {
            values.push(Value::Text(alert.to_string()));
            sql.push_str(&format!(" AND alert_id = ?{}", values.len()));
        }
        if let Some(host) = &filter.host {
            values.push(Value::Text(host.as_str().to_owned()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM json_each(body, '$.hosts') WHERE key = ?{})",
                values.len()
            ));
        }
        let mut after = cursor.map(|c| c.to_string());
        let mut items = Vec::new();
        // A host's run state is inside the body: filter batches until the page is full.
        loop {
            let mut batch_sql = sql.clone();
            let mut batch_values = values.clone();
            if let Some(after) = &after {
                batch_values.push(Value::Text(after.clone()));
                batch_sql.push_str(&format!(" AND id > ?{}", batch_values.len()));
            }
            let batch = limit.saturating_add(1).clamp(1, 1000);
            batch_sql.push_str(&format!(" ORDER BY id LIMIT {batch}"));
            let rows: Vec<TaskView> = self.answer("tasks", self.bodies(&batch_sql, batch_values));
            let exhausted = rows.len() < batch;
            after = rows.last().map(|t| t.id.to_string());
            items.extend(rows.into_iter().filter(|task| filter.keeps(task)));
            if exhausted || items.len() > limit {
                break;
            }
        }
        items.truncate(limit.saturating_add(1));
        let next_cursor = page_end(&mut items, limit).map(|task| task.id.to_string());
        TaskPage { items, next_cursor }
    }

    fn sync(&self, id: &SyncId) -> Option<SyncView> {
        self.one::<SyncRow>("syncs", id.as_str().to_owned())
            .map(|row| row.view)
    }

    fn syncs(&self, deleted: Option<bool>, cursor: Option<&SyncId>, limit: usize) -> SyncPage {
        let mut values = Vec::new();
        let mut sql = format!(
            "SELECT body FROM syncs WHERE {}{}",
            self.visible(),
            match deleted {
                None => "",
                Some(true) => " AND deleted = 1",
                Some(false) => " AND deleted = 0",
            }
        );
        if let Some(after) = cursor {
            values.push(Value::Text(after.as_str().to_owned()));
            sql.push_str(" AND id > ?1");
        }
        let batch = limit.saturating_add(1).min(i64::MAX as usize);
        sql.push_str(&format!(" ORDER BY id LIMIT {batch}"));
        let rows: Vec<SyncRow> = self.answer("syncs", self.bodies(&sql, values));
        let mut items: Vec<SyncView> = rows.into_iter().map(|row| row.view).collect();
        let next_cursor = page_end(&mut items, limit).map(|sync| sync.id.to_string());
        SyncPage { items, next_cursor }
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

    fn trends(&self, since: chrono::DateTime<chrono::Utc>) -> Vec<DayTrend> {
        self.answer("trends", self.trend_samples(since))
    }

    fn channel_health(&self) -> Vec<ChannelHealth> {
        self.answer("channel health", self.channel_rows())
    }
}
