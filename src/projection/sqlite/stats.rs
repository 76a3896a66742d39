//! The console's aggregates over the view file: the rows they need are read with SQL
//! (only the columns, no JSON bodies, except the messages whose error is shown) and
//! summed by the same functions the in-memory folds use
//! ([`crate::projection::stats`]), so both answer exactly alike.

use super::read::SqlViews;
use super::schema::time;
use crate::projection::stats::{self, ChannelHealth, DayTrend, TrendSample};
use chrono::{DateTime, Utc};
use projections::views::{DeliveryState, MessageView};
use rusqlite::types::Value;
use std::collections::BTreeMap;

impl SqlViews {
    /// Trend samples of the alerts opened at or after `since`.
    pub(super) fn trend_samples(&self, since: DateTime<Utc>) -> rusqlite::Result<Vec<DayTrend>> {
        let sql = format!(
            "SELECT service, created_at, acknowledged_at, resolved_at FROM alerts
             WHERE {} AND created_at >= ?1",
            self.visible()
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([time(&since)], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
        let mut samples = Vec::new();
        for row in rows {
            let (service, created, acknowledged, resolved) = row?;
            samples.push(TrendSample {
                service,
                created_at: parse_time(&created)?,
                acknowledged_at: acknowledged.as_deref().map(parse_time).transpose()?,
                resolved_at: resolved.as_deref().map(parse_time).transpose()?,
            });
        }
        Ok(stats::trends(samples.into_iter(), since))
    }

    /// Messages per channel and state, and each channel's newest shown error.
    pub(super) fn channel_rows(&self) -> rusqlite::Result<Vec<ChannelHealth>> {
        let sql = format!(
            "SELECT channel, state, count(*) FROM messages WHERE {} GROUP BY channel, state",
            self.visible()
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let counted = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut channels: BTreeMap<String, ChannelHealth> = BTreeMap::new();
        for (channel, state, count) in counted {
            let state = DeliveryState::parse(&state)
                .ok_or_else(|| bad_value(format!("unknown delivery state {state}")))?;
            channels
                .entry(channel.clone())
                .or_insert_with(|| ChannelHealth {
                    channel,
                    counts: BTreeMap::new(),
                    last_error: None,
                })
                .counts
                .insert(state, count as u64);
        }
        let shown: Vec<Value> = DeliveryState::ALL
            .into_iter()
            .filter(|s| stats::shows_error(*s))
            .map(|s| Value::Text(s.as_str().into()))
            .collect();
        let sql = format!(
            "SELECT body FROM messages WHERE {} AND state IN (?1, ?2) ORDER BY id",
            self.visible()
        );
        let failing: Vec<MessageView> = self.bodies(&sql, shown)?;
        for health in stats::channel_health(failing.iter()) {
            if let Some(entry) = channels.get_mut(&health.channel) {
                entry.last_error = health.last_error;
            }
        }
        Ok(channels.into_values().collect())
    }
}

pub(super) fn parse_time(text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| bad_value(format!("bad time {text}: {err}")))
}

pub(super) fn bad_value(message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(message),
    )
}
