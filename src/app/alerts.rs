//! The alert aggregate: every command on an alert series, from any origin. Each runs
//! through [`App::on_series`], the one place that loads a series, adjusts it for
//! deleted resources and decides ([`projections::decide::alert`], where a trigger is
//! deduplicated) before appending.

use super::trigger::{validate, TriggerRequest, Triggered, ValidTrigger};
use super::{App, AppError, Written};
use crate::commands::Outcome;
use projections::decide::{
    decide_alert, AlertCommand, Rejection, ResourceCheck, SeriesState, Trigger,
};
use projections::ids::{AlertId, ChannelId, DedupKey, SeriesId, ServiceName, SyncId, TimerId};
use projections::{Event, Metadata, Position, ResolvedBy};
use std::sync::Mutex;

/// What to do to the open alert of a (service, dedup key).
#[derive(Debug, Clone)]
pub enum OpenAction {
    /// Acknowledge it (a second acknowledge changes nothing).
    Acknowledge,
    /// Resolve it.
    Resolve(ResolvedBy),
}

/// What [`App::act_on_open`] did.
#[derive(Debug, Clone, Copy)]
pub struct ActedOn {
    /// The open alert it acted on; `None` when the series had no open alert (nothing
    /// was written: PagerDuty drops such events, Alertmanager resends resolutions).
    pub alert_id: Option<AlertId>,
    /// `false` when nothing was written.
    pub changed: bool,
    /// Position of the write, or the head the decision saw when nothing was written.
    pub position: Position,
}

/// Who a new alert notifies and how it escalates.
struct Routed {
    channels: Vec<ChannelId>,
    escalation_secs: Vec<u32>,
    escalation_channels: Vec<Vec<ChannelId>>,
    escalation_repeat: u32,
}

impl App {
    /// Validates and runs a trigger.
    pub async fn trigger(
        &self,
        request: TriggerRequest,
        metadata: Metadata,
    ) -> Result<Triggered, AppError> {
        self.trigger_valid(validate(request)?, metadata).await
    }

    /// Runs a validated trigger: looks its resource up, adds the service's route,
    /// decides on the series stream and appends.
    pub async fn trigger_valid(
        &self,
        valid: ValidTrigger,
        metadata: Metadata,
    ) -> Result<Triggered, AppError> {
        let ValidTrigger {
            service,
            dedup_key,
            summary,
            severity,
            details,
            resource,
            channels,
            escalation_secs,
        } = valid;
        let resource = match resource {
            None => None,
            Some(sync_id) => Some(self.resource_check(sync_id).await?),
        };
        let series = SeriesId::of(&service, &dedup_key);
        // The service's route may have been set by the caller's previous request.
        self.wait_for_mark(&self.marks.routing).await?;
        self.check_trigger_channels(&channels).await?;
        let routed = self.route_of(&service, channels, escalation_secs);
        let command = AlertCommand::Trigger(Trigger {
            service,
            dedup_key,
            summary,
            severity,
            details,
            resource,
            channels: routed.channels,
            escalation_secs: routed.escalation_secs,
            escalation_channels: routed.escalation_channels,
            escalation_repeat: routed.escalation_repeat,
            now: chrono::Utc::now(),
        });
        let stream = projections::streams::alert_series(series);
        let outcome = self
            .on_series(&stream, series, metadata, |s| {
                decide_alert(s, command.clone())
            })
            .await?;
        let append = outcome
            .append
            .ok_or_else(|| AppError::Internal("a trigger decided to write nothing".into()))?;
        match outcome.events.first() {
            Some(Event::AlertTriggered { alert_id, .. }) => {
                self.recent_alerts.opened(*alert_id, &stream);
                Ok(Triggered {
                    alert_id: *alert_id,
                    deduplicated: false,
                    position: append.last_position,
                })
            }
            Some(Event::TriggerRepeated { alert_id, .. }) => Ok(Triggered {
                alert_id: *alert_id,
                deduplicated: true,
                position: append.last_position,
            }),
            other => Err(AppError::Internal(format!("a trigger decided {other:?}"))),
        }
    }

    /// Acknowledges an alert (a second acknowledge changes nothing).
    pub async fn acknowledge(
        &self,
        alert_id: AlertId,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        self.on_alert(alert_id, metadata, AlertCommand::Acknowledge { alert_id })
            .await
    }

    /// Resolves an alert.
    pub async fn resolve(
        &self,
        alert_id: AlertId,
        resolved_by: ResolvedBy,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = AlertCommand::Resolve {
            alert_id,
            resolved_by,
        };
        self.on_alert(alert_id, metadata, command).await
    }

    /// Moves an alert to its next escalation step now.
    pub async fn escalate(
        &self,
        alert_id: AlertId,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let now = chrono::Utc::now();
        self.on_alert(alert_id, metadata, AlertCommand::Escalate { alert_id, now })
            .await
    }

    /// Adds a note (1 to 10,000 characters) to an alert's log.
    pub async fn add_note(
        &self,
        alert_id: AlertId,
        text: &str,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let text = super::trigger::bounded_text("text", text, super::limits::NOTE_CHARS)?;
        self.on_alert(alert_id, metadata, AlertCommand::AddNote { alert_id, text })
            .await
    }

    /// Acknowledges or resolves the open alert of (`service`, `dedup_key`), deciding on
    /// its series stream exactly as the commands by alert id do. No open alert is not
    /// an error: nothing is written.
    pub async fn act_on_open(
        &self,
        service: &ServiceName,
        dedup_key: &DedupKey,
        action: OpenAction,
        metadata: Metadata,
    ) -> Result<ActedOn, AppError> {
        // The views must have this instance's resource writes for the deletion check.
        self.wait_for_mark(&self.marks.syncs).await?;
        let series = SeriesId::of(service, dedup_key);
        let stream = projections::streams::alert_series(series);
        // The decision may run more than once (conflict retries): remember the last one.
        let target = Mutex::new(None);
        let outcome = self
            .on_series(&stream, series, metadata, |adjusted| {
                let open = adjusted.open.as_ref().map(|open| open.alert_id);
                *target.lock().unwrap_or_else(|e| e.into_inner()) = open;
                let Some(alert_id) = open else {
                    return Ok(Vec::new());
                };
                let command = match &action {
                    OpenAction::Acknowledge => AlertCommand::Acknowledge { alert_id },
                    OpenAction::Resolve(resolved_by) => AlertCommand::Resolve {
                        alert_id,
                        resolved_by: resolved_by.clone(),
                    },
                };
                decide_alert(adjusted, command)
            })
            .await?;
        let alert_id = *target.lock().unwrap_or_else(|e| e.into_inner());
        let written = self.written(&outcome, false).await?;
        Ok(ActedOn {
            alert_id,
            changed: written.changed,
            position: written.position,
        })
    }

    /// Fires escalation timer `timer_id` of the alert in `stream` (the scheduler's
    /// command): `Ok(true)` when it fired, `Ok(false)` when the decision wrote nothing.
    /// A timer that is no longer pending or not yet due is a [`Rejection`].
    pub async fn fire_escalation_timer(
        &self,
        stream: &str,
        timer_id: TimerId,
        now: chrono::DateTime<chrono::Utc>,
        metadata: Metadata,
    ) -> Result<bool, AppError> {
        let series = series_of(stream)?;
        let command = AlertCommand::FireTimer { timer_id, now };
        let outcome = self
            .on_series(stream, series, metadata, |s| {
                decide_alert(s, command.clone())
            })
            .await?;
        Ok(outcome.append.is_some())
    }

    /// Runs a lifecycle command on the series that holds `alert_id`.
    async fn on_alert(
        &self,
        alert_id: AlertId,
        metadata: Metadata,
        command: AlertCommand,
    ) -> Result<Written, AppError> {
        self.wait_for_mark(&self.marks.syncs).await?;
        // An alert's stream never changes: this instance's own recent triggers first,
        // without touching the views.
        let lookup = || {
            self.recent_alerts
                .stream_of(&alert_id)
                .or_else(|| self.views.current().alert_stream(alert_id))
        };
        // An alert the views do not know yet may have been triggered a moment ago.
        let stream = match lookup() {
            Some(stream) => stream,
            None => {
                self.sync_views().await?;
                lookup()
                    .ok_or_else(|| AppError::NotFound(format!("alert {alert_id} does not exist")))?
            }
        };
        let series = series_of(&stream)?;
        let outcome = self
            .on_series(&stream, series, metadata, |s| {
                decide_alert(s, command.clone())
            })
            .await?;
        self.written(&outcome, false).await
    }

    /// Loads series `stream`, shows `decide` its state as the views see it (an open
    /// alert whose resource the views show deleted is resolved: that deletion lives in
    /// another stream than the series) and appends what it decides.
    async fn on_series(
        &self,
        stream: &str,
        series: SeriesId,
        metadata: Metadata,
        decide: impl Fn(&SeriesState) -> Result<Vec<Event>, Rejection>,
    ) -> Result<Outcome, AppError> {
        let outcome = self
            .commands
            .execute(stream, SeriesState::new(series), metadata, |s| {
                decide(&self.with_deletions(s))
            })
            .await?;
        Ok(outcome)
    }

    /// `series` with its open alert resolved when the views show its resource deleted.
    fn with_deletions(&self, series: &SeriesState) -> SeriesState {
        let mut adjusted = series.clone();
        let resource = series.open.as_ref().and_then(|open| open.resource.clone());
        if let Some(sync_id) = resource {
            let deleted = self
                .views
                .current()
                .sync(&sync_id)
                .is_some_and(|s| s.deleted);
            if deleted {
                adjusted.resource_deleted(&sync_id);
            }
        }
        adjusted
    }

    /// The channels and escalation of a new alert: the service's route (its channels and
    /// policy) plus whatever the trigger itself named. A trigger's own `escalation_secs`
    /// replace the policy's steps. A route or policy step recorded before repeated ids
    /// were refused may list a channel twice: it is taken once, so such configuration
    /// cannot make the trigger's decision refuse (only the trigger's own `channels` can).
    fn route_of(
        &self,
        service: &ServiceName,
        mut channels: Vec<ChannelId>,
        escalation_secs: Vec<u32>,
    ) -> Routed {
        let (route, policy) = {
            let routing = self.views.routing();
            let route = routing.services.get(service).cloned();
            let policy = route
                .as_ref()
                .and_then(|r| r.policy.as_ref())
                .and_then(|id| routing.policies.get(id).cloned());
            (route, policy)
        };
        for channel in route.as_ref().map_or(&[][..], |r| r.channels.as_slice()) {
            if !channels.contains(channel) {
                channels.push(channel.clone());
            }
        }
        match policy {
            Some(policy) if escalation_secs.is_empty() => Routed {
                channels,
                escalation_secs: policy.steps.iter().map(|s| s.delay_secs).collect(),
                escalation_channels: policy
                    .steps
                    .iter()
                    .map(|s| once_each(&s.channels))
                    .collect(),
                escalation_repeat: policy.repeat,
            },
            _ => Routed {
                channels,
                escalation_secs,
                escalation_channels: Vec::new(),
                escalation_repeat: 0,
            },
        }
    }

    /// Looks the resource up in the views once they have this instance's resource writes;
    /// a resource they do not know yet (registered through another instance a moment ago)
    /// is looked up again after the views caught up with the whole log.
    async fn resource_check(&self, sync_id: SyncId) -> Result<ResourceCheck, AppError> {
        self.wait_for_mark(&self.marks.syncs).await?;
        let lookup = |sync_id: SyncId| {
            let sync = self.views.current().sync(&sync_id);
            match sync {
                None => ResourceCheck::Unknown(sync_id),
                Some(sync) if sync.deleted => ResourceCheck::Deleted(sync_id),
                Some(_) => ResourceCheck::Active(sync_id),
            }
        };
        match lookup(sync_id) {
            ResourceCheck::Unknown(sync_id) => {
                self.sync_views().await?;
                Ok(lookup(sync_id))
            }
            known => Ok(known),
        }
    }
}

/// `ids` without the entries that repeat an earlier one, in order.
fn once_each(ids: &[ChannelId]) -> Vec<ChannelId> {
    let mut unique: Vec<ChannelId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    unique
}

/// The series id of an alert stream (`alert-<series>`).
fn series_of(stream: &str) -> Result<SeriesId, AppError> {
    stream
        .strip_prefix("alert-")
        .and_then(|id| SeriesId::parse(id).ok())
        .ok_or_else(|| AppError::Internal(format!("alert stream {stream} has no series id")))
}
