//! Escalation timers. A trigger or an escalation records `timer_scheduled` with its
//! `due_at`; this index holds every scheduled timer by due time and, once due, runs
//! `AlertCommand::FireTimer` on the alert's series stream. The decision fires only a
//! timer that is still pending and due, and the append carries the stream's expected
//! version, so a timer fires exactly once however many instances try.
//!
//! Acknowledge and resolve cancel the pending timer inside the decisions; the index
//! drops such timers lazily, when they come due, after a look at the alert view.

use crate::app::App;
use crate::app::AppError;
use crate::projection::ViewQueries;
use chrono::{DateTime, Utc};
use projections::decide::Rejection;
use projections::ids::{AlertId, TimerId};
use projections::views::AlertStatus;
use projections::{Event, RecordedEvent};
use std::collections::BTreeSet;

/// Pause before retrying a timer whose command failed for a reason that may pass.
const RETRY_SECS: i64 = 1;

/// Scheduled timers by due time.
#[derive(Debug, Default)]
pub struct EscalationTimers {
    due: BTreeSet<(DateTime<Utc>, TimerId, AlertId)>,
}

impl EscalationTimers {
    /// Every alert the views show waiting for its next step.
    pub fn seed(&mut self, views: &dyn ViewQueries) {
        for alert in views.alerts_awaiting_escalation() {
            if let Some(due_at) = alert.next_escalation_at {
                let timer = TimerId::of(alert.id, alert.escalation_step + 1);
                self.due.insert((due_at, timer, alert.id));
            }
        }
    }

    /// Notes a newly scheduled timer.
    pub fn observe(&mut self, event: &RecordedEvent) {
        if let Event::TimerScheduled {
            timer_id,
            alert_id,
            due_at,
            ..
        } = &event.event
        {
            self.due.insert((*due_at, *timer_id, *alert_id));
        }
    }

    /// The earliest due time, if any timer is scheduled.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due.first().map(|(due, _, _)| *due)
    }

    /// Fires every timer due at `now`; returns how many this instance fired.
    pub async fn fire_due(&mut self, state: &App, now: DateTime<Utc>) -> usize {
        let mut fired = 0;
        while let Some(&(due, timer, alert)) = self.due.first() {
            if due > now {
                break;
            }
            self.due.remove(&(due, timer, alert));
            match fire(state, timer, alert, now).await {
                Fired::Yes => fired += 1,
                Fired::Skipped => {}
                Fired::Later(at) => {
                    self.due.insert((at, timer, alert));
                }
            }
        }
        fired
    }
}

enum Fired {
    Yes,
    Skipped,
    Later(DateTime<Utc>),
}

/// Fires one timer if the alert view still shows it pending.
async fn fire(state: &App, timer_id: TimerId, alert_id: AlertId, now: DateTime<Utc>) -> Fired {
    let alert = state.views.current().alert(alert_id);
    let stream = alert.and_then(|alert| {
        let pending = alert.status == AlertStatus::Triggered
            && alert.next_escalation_at.is_some()
            && TimerId::of(alert_id, alert.escalation_step + 1) == timer_id;
        pending.then_some(alert.stream)
    });
    let Some(stream) = stream else {
        return Fired::Skipped;
    };
    let outcome = state
        .fire_escalation_timer(&stream, timer_id, now, super::metadata("scheduler", None))
        .await;
    match outcome {
        Ok(true) => {
            tracing::info!(%alert_id, %timer_id, "escalation timer fired");
            Fired::Yes
        }
        Ok(false) => Fired::Skipped,
        // Another instance fired it first, or ack/resolve cancelled it.
        Err(AppError::Rejected(Rejection::TimerNotPending(_))) => Fired::Skipped,
        Err(AppError::Rejected(Rejection::TimerNotDue { due_at, .. })) => Fired::Later(due_at),
        Err(AppError::Rejected(other)) => {
            tracing::debug!(%alert_id, %other, "timer not fired");
            Fired::Skipped
        }
        Err(err) => {
            tracing::warn!(%alert_id, %timer_id, %err, "cannot fire timer; retrying");
            Fired::Later(now + chrono::Duration::seconds(RETRY_SECS))
        }
    }
}
