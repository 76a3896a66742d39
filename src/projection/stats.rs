//! Aggregates over the views for the console: alerts opened per service per day with
//! their mean times to acknowledge and to resolve (MTTA, MTTR), and how each channel's
//! messages fared. Both are answered by [`ViewQueries`](super::ViewQueries) now or as
//! of a past position, like every other read; the in-memory folds compute the same
//! figures as the oracle the view file is tested against.

use chrono::{DateTime, Utc};
use projections::views::{AlertStatus, AlertView, DeliveryState, MessageView};
use serde::Serialize;
use std::collections::BTreeMap;

/// One service's alerts that opened on one day (UTC).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayTrend {
    /// The service.
    pub service: String,
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Alerts that opened that day.
    pub opened: u64,
    /// How many of them have been acknowledged.
    pub acknowledged: u64,
    /// Their mean time from opening to the first acknowledgement, in seconds.
    pub mtta_secs: Option<f64>,
    /// How many of them have been resolved.
    pub resolved: u64,
    /// Their mean time from opening to resolution, in seconds.
    pub mttr_secs: Option<f64>,
}

/// How one channel's messages fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelHealth {
    /// The channel.
    pub channel: String,
    /// Messages per delivery state (only states with messages).
    pub counts: BTreeMap<DeliveryState, u64>,
    /// The newest error of a message that failed and will be retried or was given up,
    /// and when that message last changed.
    pub last_error: Option<(String, DateTime<Utc>)>,
}

impl ChannelHealth {
    /// Delivered messages.
    pub fn delivered(&self) -> u64 {
        self.count(DeliveryState::Delivered)
    }

    /// Messages in `state`.
    pub fn count(&self, state: DeliveryState) -> u64 {
        self.counts.get(&state).copied().unwrap_or(0)
    }

    /// Delivered out of every message that finished (delivered or abandoned), `None`
    /// while none has.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.delivered() + self.count(DeliveryState::Abandoned);
        (finished > 0).then(|| self.delivered() as f64 / finished as f64)
    }
}

/// What the trends need of one alert.
#[derive(Debug, Clone)]
pub struct TrendSample {
    /// Its service.
    pub service: String,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// When it was first acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl TrendSample {
    /// The sample of an alert of the in-memory views.
    pub fn of(alert: &AlertView) -> TrendSample {
        let first = |status: AlertStatus| {
            alert
                .status_changes
                .iter()
                .find(|change| change.status == status)
                .map(|change| change.at)
        };
        TrendSample {
            service: alert.service.to_string(),
            created_at: alert.created_at,
            acknowledged_at: first(AlertStatus::Acknowledged),
            resolved_at: first(AlertStatus::Resolved),
        }
    }
}

/// Per (service, day) trends of the alerts that opened at or after `since`, in day
/// then service order. Means are rounded to the millisecond.
pub fn trends(samples: impl Iterator<Item = TrendSample>, since: DateTime<Utc>) -> Vec<DayTrend> {
    #[derive(Default)]
    struct Sums {
        opened: u64,
        acknowledged: u64,
        ack_secs: f64,
        resolved: u64,
        resolve_secs: f64,
    }
    let mut sums: BTreeMap<(String, String), Sums> = BTreeMap::new();
    for alert in samples.filter(|a| a.created_at >= since) {
        let day = alert.created_at.format("%Y-%m-%d").to_string();
        let entry = sums.entry((day, alert.service)).or_default();
        entry.opened += 1;
        if let Some(at) = alert.acknowledged_at {
            entry.acknowledged += 1;
            entry.ack_secs += seconds_between(alert.created_at, at);
        }
        if let Some(at) = alert.resolved_at {
            entry.resolved += 1;
            entry.resolve_secs += seconds_between(alert.created_at, at);
        }
    }
    sums.into_iter()
        .map(|((day, service), s)| DayTrend {
            service,
            day,
            opened: s.opened,
            acknowledged: s.acknowledged,
            mtta_secs: mean(s.ack_secs, s.acknowledged),
            resolved: s.resolved,
            mttr_secs: mean(s.resolve_secs, s.resolved),
        })
        .collect()
}

/// Whether a message in `state` counts for a channel's last error: it failed and
/// will be retried, or it was given up (a delivered message's old error is history).
pub fn shows_error(state: DeliveryState) -> bool {
    matches!(
        state,
        DeliveryState::FailedWillRetry | DeliveryState::Abandoned
    )
}

/// Every channel's health over `messages` (given in id order), in channel order.
pub fn channel_health<'a>(messages: impl Iterator<Item = &'a MessageView>) -> Vec<ChannelHealth> {
    let mut by_channel: BTreeMap<String, ChannelHealth> = BTreeMap::new();
    for message in messages {
        let channel = message.channel.to_string();
        let health = by_channel
            .entry(channel.clone())
            .or_insert_with(|| ChannelHealth {
                channel,
                counts: BTreeMap::new(),
                last_error: None,
            });
        *health.counts.entry(message.state).or_insert(0) += 1;
        if let Some(error) = message
            .last_error
            .as_ref()
            .filter(|_| shows_error(message.state))
        {
            let newer = health
                .last_error
                .as_ref()
                .is_none_or(|(_, at)| message.updated_at > *at);
            if newer {
                health.last_error = Some((error.clone(), message.updated_at));
            }
        }
    }
    by_channel.into_values().collect()
}

/// `sum / count` rounded to the millisecond, `None` for no samples.
pub fn mean(sum: f64, count: u64) -> Option<f64> {
    (count > 0).then(|| (sum / count as f64 * 1000.0).round() / 1000.0)
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

#[cfg(test)]
mod tests;
