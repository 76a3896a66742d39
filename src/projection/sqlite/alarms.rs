//! The active alarms read from the alert rows' columns alone (no JSON body is decoded):
//! the board of 10,000 open alerts reads 10,000 short rows.

use super::read::SqlViews;
use super::stats::{bad_value, parse_time};
use crate::projection::queries::AlarmItem;
use projections::ids::{AlertId, ServiceName, SyncId};
use projections::views::alarms::Alarm;
use projections::views::AlertStatus;
use projections::Severity;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

impl SqlViews {
    /// The open alerts `sql` selects (`id, status, service, severity, resource,
    /// summary, created_at`) as alarms.
    pub(super) fn alarm_rows(
        &self,
        sql: &str,
        values: Vec<Value>,
    ) -> rusqlite::Result<Vec<(Alarm, AlarmItem)>> {
        let mut statement = self.conn.prepare_cached(sql)?;
        let mut rows = statement.query(params_from_iter(values))?;
        let mut alarms = Vec::new();
        while let Some(row) = rows.next()? {
            let text = |i: usize| row.get_ref(i).and_then(|v| v.as_str().map_err(Into::into));
            let id = AlertId::parse(text(0)?).map_err(|e| bad_value(format!("alert id: {e}")))?;
            let status_text = text(1)?;
            let status = AlertStatus::parse(status_text)
                .ok_or_else(|| bad_value(format!("alert status {status_text}")))?;
            let service =
                ServiceName::parse(text(2)?).map_err(|e| bad_value(format!("service: {e}")))?;
            let severity = Severity::parse(text(3)?).ok_or_else(|| bad_value("severity".into()))?;
            let resource = match row.get_ref(4)?.as_str_or_null()? {
                None => None,
                Some(r) => Some(SyncId::parse(r).map_err(|e| bad_value(format!("resource: {e}")))?),
            };
            let item = AlarmItem {
                id,
                summary: text(5)?.to_owned(),
                severity,
                status,
                since: parse_time(text(6)?)?,
            };
            let alarm = Alarm {
                resource,
                service,
                severity,
                acknowledged: status == AlertStatus::Acknowledged,
            };
            alarms.push((alarm, item));
        }
        Ok(alarms)
    }
}
