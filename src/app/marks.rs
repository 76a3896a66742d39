//! What this instance remembers of its own writes, so the commands after them need not
//! wait for the whole log: the streams of the alerts it opened ([`RecentAlerts`]) and
//! the positions of its latest configuration and resource writes ([`WriteMarks`]).

use projections::Position;
use std::sync::atomic::{AtomicU64, Ordering};

/// The streams of the alerts this instance opened most recently (bounded, oldest
/// forgotten first), so an acknowledge or resolve sent right after its trigger needs no
/// view: the views may lag behind the log (a rebuild, a burst of writes) and
/// the command only needs the alert's stream, which the trigger knew.
pub struct RecentAlerts {
    capacity: usize,
    inner: std::sync::Mutex<(
        std::collections::HashMap<projections::ids::AlertId, String>,
        std::collections::VecDeque<projections::ids::AlertId>,
    )>,
}

impl RecentAlerts {
    /// Remembers up to `capacity` alerts.
    pub fn new(capacity: usize) -> RecentAlerts {
        RecentAlerts {
            capacity,
            inner: std::sync::Mutex::default(),
        }
    }

    /// Remembers that `alert_id` lives in `stream`.
    pub fn opened(&self, alert_id: projections::ids::AlertId, stream: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (streams, order) = &mut *guard;
        if streams.insert(alert_id, stream.to_owned()).is_none() {
            order.push_back(alert_id);
        }
        while order.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                streams.remove(&oldest);
            }
        }
    }

    /// The stream of `alert_id`, if this instance opened it recently.
    pub fn stream_of(&self, alert_id: &projections::ids::AlertId) -> Option<String> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(alert_id).cloned()
    }
}

/// Positions of this instance's latest writes of what the trigger path reads from the
/// views (service routes, resources). A trigger waits only until the views have applied
/// these, which is almost always already so; waiting for the whole head on every
/// request instead would put the views' apply time into every trigger's latency.
#[derive(Debug, Default)]
pub struct WriteMarks {
    /// Channels, routes, policies, task rules.
    pub routing: AtomicU64,
    /// Resources (syncs).
    pub syncs: AtomicU64,
    /// Consumer groups (creation, checkpoints, deletion).
    pub consumers: AtomicU64,
    /// Held by each configuration write from its reference check to its append, so
    /// this instance's configuration writes check against each other's results
    /// (`config::configure`, ADR 0009). Never held by triggers.
    pub configuring: tokio::sync::Mutex<()>,
}

impl WriteMarks {
    /// Records a write at `position`.
    pub fn wrote(mark: &AtomicU64, position: Position) {
        mark.fetch_max(position, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::RecentAlerts;
    use projections::ids::AlertId;
    use uuid::Uuid;

    #[test]
    fn recent_alerts_remember_the_newest_and_forget_the_oldest() {
        let recent = RecentAlerts::new(2);
        let ids: Vec<AlertId> = (1..=3).map(|n| AlertId(Uuid::from_u128(n))).collect();
        recent.opened(ids[0], "alert-a");
        recent.opened(ids[1], "alert-b");
        recent.opened(ids[1], "alert-b");
        recent.opened(ids[2], "alert-c");
        assert_eq!(recent.stream_of(&ids[0]), None, "the oldest is forgotten");
        assert_eq!(recent.stream_of(&ids[1]).as_deref(), Some("alert-b"));
        assert_eq!(recent.stream_of(&ids[2]).as_deref(), Some("alert-c"));
    }
}
