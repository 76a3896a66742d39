//! The active-alarm view: every alert that is not resolved and whose resource still
//! exists, grouped by resource and service with counts per severity.

use super::FoldError;
use crate::ids::{AlertId, ServiceName, SyncId};
use crate::{Event, Position, RecordedEvent, Severity};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One active alarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    /// Owning resource.
    pub resource: Option<SyncId>,
    /// Service.
    pub service: ServiceName,
    /// Latest severity.
    pub severity: Severity,
    /// Whether someone acknowledged it.
    pub acknowledged: bool,
}

/// Active alarms of one (resource, service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmGroup {
    /// The resource (`None`: alarms not tied to a resource).
    pub resource: Option<SyncId>,
    /// The service.
    pub service: ServiceName,
    /// How many alarms per severity (every severity listed, zeros included).
    pub counts: BTreeMap<Severity, u64>,
    /// The alarms, by id.
    pub alerts: Vec<AlertId>,
}

/// Every active alarm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmsView {
    /// Active alarms by alert id.
    pub active: BTreeMap<AlertId, Alarm>,
    /// Resources that were deleted: no alarm may be active on them.
    deleted: BTreeSet<SyncId>,
    /// The last position that changed the view.
    pub last_position: Position,
}

impl AlarmsView {
    /// The alarms grouped by (resource, service), in a stable order.
    pub fn groups(&self) -> Vec<AlarmGroup> {
        let mut groups: BTreeMap<(Option<SyncId>, ServiceName), AlarmGroup> = BTreeMap::new();
        for (alert_id, alarm) in &self.active {
            let key = (alarm.resource.clone(), alarm.service.clone());
            let group = groups.entry(key).or_insert_with(|| AlarmGroup {
                resource: alarm.resource.clone(),
                service: alarm.service.clone(),
                counts: Severity::ALL.into_iter().map(|s| (s, 0)).collect(),
                alerts: Vec::new(),
            });
            *group.counts.entry(alarm.severity).or_default() += 1;
            group.alerts.push(*alert_id);
        }
        groups.into_values().collect()
    }

    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::AlertTriggered {
                alert_id,
                service,
                severity,
                resource,
                ..
            } => {
                if resource.as_ref().is_some_and(|r| self.deleted.contains(r)) {
                    return Ok(());
                }
                self.active.insert(
                    *alert_id,
                    Alarm {
                        resource: resource.clone(),
                        service: service.clone(),
                        severity: *severity,
                        acknowledged: false,
                    },
                );
                self.last_position = e.position;
            }
            Event::TriggerRepeated {
                alert_id, severity, ..
            } => {
                if let Some(alarm) = self.active.get_mut(alert_id) {
                    alarm.severity = *severity;
                    self.last_position = e.position;
                }
            }
            Event::AlertAcknowledged { alert_id } => {
                if let Some(alarm) = self.active.get_mut(alert_id) {
                    alarm.acknowledged = true;
                    self.last_position = e.position;
                }
            }
            Event::AlertResolved { alert_id, .. } => {
                if self.active.remove(alert_id).is_some() {
                    self.last_position = e.position;
                }
            }
            Event::SyncDeleted { sync_id } => {
                self.deleted.insert(sync_id.clone());
                self.active
                    .retain(|_, alarm| alarm.resource.as_ref() != Some(sync_id));
                self.last_position = e.position;
            }
            Event::AlertEscalated { .. }
            | Event::NoteAdded { .. }
            | Event::MessageQueued { .. }
            | Event::TimerScheduled { .. }
            | Event::TimerFired { .. }
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
            | Event::ConsumerGroupDeleted { .. } => {}
        }
        Ok(())
    }
}
