//! The alert status view: one row per alert, with every status change and the event
//! that caused it.
//!
//! Deleting a resource resolves its open alerts here, inside the fold, caused by the
//! `sync_deleted` event itself: no cleanup step can be skipped (ADR 0001).

use super::FoldError;
use crate::ids::{AlertId, ChannelId, DedupKey, ServiceName, SyncId};
use crate::{Event, EventRef, Position, RecordedEvent, ResolvedBy, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where an alert is in its life. Resolved is terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Open, nobody has taken it.
    Triggered,
    /// Open, someone owns it.
    Acknowledged,
    /// Closed.
    Resolved,
}

impl AlertStatus {
    /// Every status, in the order of an alert's life.
    pub const ALL: [AlertStatus; 3] = [
        AlertStatus::Triggered,
        AlertStatus::Acknowledged,
        AlertStatus::Resolved,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Triggered => "triggered",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Why an alert is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "by")]
pub enum Resolution {
    /// Resolved by a person.
    Person,
    /// Resolved by its source.
    Source,
    /// Its resource was deleted.
    ResourceDeleted {
        /// The deleted resource.
        sync_id: SyncId,
    },
}

/// One status change and the event that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status.
    pub status: AlertStatus,
    /// The event that caused it (in the alert's stream, or its resource's deletion).
    pub cause: EventRef,
    /// The cause's global position.
    pub position: Position,
    /// When the cause was recorded.
    pub at: DateTime<Utc>,
}

/// One alert as it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    /// Its id.
    pub id: AlertId,
    /// The stream holding its log.
    pub stream: String,
    /// Service.
    pub service: ServiceName,
    /// Dedup key.
    pub dedup_key: DedupKey,
    /// Latest summary (repeats may update it).
    pub summary: String,
    /// Latest severity (repeats may update it).
    pub severity: Severity,
    /// Status.
    pub status: AlertStatus,
    /// How many repeat triggers were recorded on it.
    pub repeat_count: u64,
    /// Escalation step (0: not escalated).
    pub escalation_step: u32,
    /// When the next escalation step is due, while one is pending.
    pub next_escalation_at: Option<DateTime<Utc>>,
    /// Owning resource.
    pub resource: Option<SyncId>,
    /// Channels that receive its messages.
    pub channels: Vec<ChannelId>,
    /// Source context.
    pub details: BTreeMap<String, String>,
    /// Number of notes.
    pub note_count: u64,
    /// Why it was resolved.
    pub resolution: Option<Resolution>,
    /// Who acknowledged it (the actor in the event's metadata).
    pub acknowledged_by: Option<String>,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// When anything about it last changed.
    pub updated_at: DateTime<Utc>,
    /// Every status change, oldest first.
    pub status_changes: Vec<StatusChange>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

impl AlertView {
    fn change(&mut self, status: AlertStatus, cause: EventRef, e: &RecordedEvent) {
        self.status = status;
        self.status_changes.push(StatusChange {
            status,
            cause,
            position: e.position,
            at: e.recorded_at,
        });
        self.touch(e);
    }

    fn touch(&mut self, e: &RecordedEvent) {
        self.updated_at = e.recorded_at;
        self.last_position = e.position;
    }

    fn resolved_by_deletion(&self) -> bool {
        matches!(self.resolution, Some(Resolution::ResourceDeleted { .. }))
    }
}

/// Every alert, plus the indexes the fold needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertsView {
    /// By id.
    pub alerts: BTreeMap<AlertId, AlertView>,
    /// Alert ids by the position that opened them: the stable, chronological order
    /// that list cursors walk.
    pub opened: BTreeMap<Position, AlertId>,
    /// Open alerts per resource, so a deletion resolves them.
    open_by_resource: BTreeMap<SyncId, BTreeSet<AlertId>>,
    /// Deleted resources and the event that deleted them.
    deleted_resources: BTreeMap<SyncId, EventRef>,
}

impl AlertsView {
    /// Gives a partial view what the fold knows of one resource: its open alerts and
    /// the event that deleted it. A persistent store seeds the resources a batch names
    /// (see [`touched`](super::touch::touched)) before folding it over the rows it
    /// loaded, so the fold decides exactly as it would over every alert.
    pub fn seed_resource(
        &mut self,
        sync_id: SyncId,
        open: BTreeSet<AlertId>,
        deleted_by: Option<EventRef>,
    ) {
        if !open.is_empty() {
            self.open_by_resource.insert(sync_id.clone(), open);
        }
        if let Some(deletion) = deleted_by {
            self.deleted_resources.insert(sync_id, deletion);
        }
    }

    /// The event that deleted `sync_id`, once one did.
    pub fn deleted_by(&self, sync_id: &SyncId) -> Option<&EventRef> {
        self.deleted_resources.get(sync_id)
    }

    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::AlertTriggered {
                alert_id,
                service,
                dedup_key,
                summary,
                severity,
                details,
                resource,
                channels,
                escalation_secs: _,
                escalation_channels: _,
                escalation_repeat: _,
            } => {
                if self.alerts.contains_key(alert_id) {
                    return Err(FoldError::DuplicateAlert {
                        position: e.position,
                        alert_id: *alert_id,
                    });
                }
                let mut alert = AlertView {
                    id: *alert_id,
                    stream: e.stream.clone(),
                    service: service.clone(),
                    dedup_key: dedup_key.clone(),
                    summary: summary.clone(),
                    severity: *severity,
                    status: AlertStatus::Triggered,
                    repeat_count: 0,
                    escalation_step: 0,
                    next_escalation_at: None,
                    resource: resource.clone(),
                    channels: channels.clone(),
                    details: details.clone(),
                    note_count: 0,
                    resolution: None,
                    acknowledged_by: None,
                    created_at: e.recorded_at,
                    updated_at: e.recorded_at,
                    status_changes: Vec::new(),
                    last_position: e.position,
                };
                alert.change(AlertStatus::Triggered, e.reference(), e);
                match resource
                    .as_ref()
                    .map(|r| (r, self.deleted_resources.get(r)))
                {
                    // A trigger that raced a deletion on another instance: the resource
                    // is gone, so the alarm is resolved by that deletion at once.
                    Some((sync_id, Some(deletion))) => {
                        alert.resolution = Some(Resolution::ResourceDeleted {
                            sync_id: sync_id.clone(),
                        });
                        alert.change(AlertStatus::Resolved, deletion.clone(), e);
                    }
                    Some((sync_id, None)) => {
                        self.open_by_resource
                            .entry(sync_id.clone())
                            .or_default()
                            .insert(*alert_id);
                    }
                    None => {}
                }
                self.alerts.insert(*alert_id, alert);
                self.opened.insert(e.position, *alert_id);
                Ok(())
            }
            Event::TriggerRepeated {
                alert_id,
                summary,
                severity,
            } => {
                let alert = self.get(e, *alert_id)?;
                alert.repeat_count += 1;
                alert.summary = summary.clone();
                alert.severity = *severity;
                alert.touch(e);
                Ok(())
            }
            Event::AlertAcknowledged { alert_id } => {
                let alert = self.get(e, *alert_id)?;
                match alert.status {
                    AlertStatus::Triggered => {
                        alert.acknowledged_by = e.metadata.actor.clone();
                        alert.next_escalation_at = None;
                        alert.change(AlertStatus::Acknowledged, e.reference(), e);
                        Ok(())
                    }
                    AlertStatus::Acknowledged => {
                        alert.touch(e);
                        Ok(())
                    }
                    // Raced a deletion on another instance: recorded, status unchanged.
                    AlertStatus::Resolved if alert.resolved_by_deletion() => {
                        alert.touch(e);
                        Ok(())
                    }
                    AlertStatus::Resolved => Err(invalid(e, "acknowledge of a resolved alert")),
                }
            }
            Event::AlertEscalated { alert_id, step } => {
                let alert = self.get(e, *alert_id)?;
                alert.escalation_step = *step;
                alert.next_escalation_at = None;
                alert.touch(e);
                Ok(())
            }
            Event::NoteAdded { alert_id, .. } => {
                let alert = self.get(e, *alert_id)?;
                alert.note_count += 1;
                alert.touch(e);
                Ok(())
            }
            Event::AlertResolved {
                alert_id,
                resolved_by,
            } => {
                let alert = self.get(e, *alert_id)?;
                if alert.status == AlertStatus::Resolved {
                    if alert.resolved_by_deletion() {
                        alert.touch(e);
                        return Ok(());
                    }
                    return Err(invalid(e, "resolve of a resolved alert"));
                }
                alert.resolution = Some(match resolved_by {
                    ResolvedBy::Person => Resolution::Person,
                    ResolvedBy::Source => Resolution::Source,
                });
                alert.next_escalation_at = None;
                alert.change(AlertStatus::Resolved, e.reference(), e);
                if let Some(resource) = alert.resource.clone() {
                    if let Some(open) = self.open_by_resource.get_mut(&resource) {
                        open.remove(alert_id);
                    }
                }
                Ok(())
            }
            Event::TimerScheduled {
                alert_id, due_at, ..
            } => {
                let alert = self.get(e, *alert_id)?;
                if alert.status == AlertStatus::Triggered {
                    alert.next_escalation_at = Some(*due_at);
                }
                Ok(())
            }
            Event::TimerFired { alert_id, .. } => {
                let alert = self.get(e, *alert_id)?;
                alert.next_escalation_at = None;
                Ok(())
            }
            Event::SyncDeleted { sync_id } => {
                self.deleted_resources
                    .insert(sync_id.clone(), e.reference());
                let open = self.open_by_resource.remove(sync_id).unwrap_or_default();
                for alert_id in open {
                    if let Some(alert) = self.alerts.get_mut(&alert_id) {
                        alert.resolution = Some(Resolution::ResourceDeleted {
                            sync_id: sync_id.clone(),
                        });
                        alert.next_escalation_at = None;
                        alert.change(AlertStatus::Resolved, e.reference(), e);
                    }
                }
                Ok(())
            }
            Event::MessageQueued { .. }
            | Event::SyncRegistered { .. }
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
            | Event::TaskCreated { .. }
            | Event::TaskHostStarted { .. }
            | Event::TaskHostFinished { .. }
            | Event::TaskHostTimedOut { .. }
            | Event::TaskCancelled { .. }
            | Event::ChannelCreated { .. }
            | Event::ChannelUpdated { .. }
            | Event::ChannelRemoved { .. }
            | Event::ServiceRouteSet { .. }
            | Event::EscalationPolicySet { .. }
            | Event::TaskRuleSet { .. }
            | Event::TaskRuleRemoved { .. }
            | Event::DataLossRecorded { .. }
            | Event::ConsumerGroupCreated { .. }
            | Event::ConsumerAcked { .. }
            | Event::ConsumerGroupDeleted { .. } => Ok(()),
        }
    }

    fn get(&mut self, e: &RecordedEvent, alert_id: AlertId) -> Result<&mut AlertView, FoldError> {
        self.alerts
            .get_mut(&alert_id)
            .ok_or(FoldError::UnknownAlert {
                position: e.position,
                alert_id,
            })
    }
}

fn invalid(e: &RecordedEvent, what: &str) -> FoldError {
    FoldError::InvalidTransition {
        position: e.position,
        what: what.to_owned(),
    }
}
