//! Registered resources ("syncs") and whether they are deleted.

use super::FoldError;
use crate::ids::SyncId;
use crate::{Event, Position, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// Its id.
    pub id: SyncId,
    /// Its name.
    pub name: String,
    /// Deleted resources stay listed: the ledger forgets nothing.
    pub deleted: bool,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
    /// When it was deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

/// All resources ever registered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncsView {
    /// By id.
    pub syncs: BTreeMap<SyncId, SyncView>,
}

impl SyncsView {
    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::SyncRegistered { sync_id, name } => {
                if self.syncs.contains_key(sync_id) {
                    return Err(invalid(
                        e.position,
                        format!("resource {sync_id} registered twice"),
                    ));
                }
                self.syncs.insert(
                    sync_id.clone(),
                    SyncView {
                        id: sync_id.clone(),
                        name: name.clone(),
                        deleted: false,
                        registered_at: e.recorded_at,
                        deleted_at: None,
                        last_position: e.position,
                    },
                );
                Ok(())
            }
            Event::SyncDeleted { sync_id } => {
                let Some(sync) = self.syncs.get_mut(sync_id) else {
                    return Err(invalid(
                        e.position,
                        format!("unknown resource {sync_id} deleted"),
                    ));
                };
                if sync.deleted {
                    return Err(invalid(
                        e.position,
                        format!("resource {sync_id} deleted twice"),
                    ));
                }
                sync.deleted = true;
                sync.deleted_at = Some(e.recorded_at);
                sync.last_position = e.position;
                Ok(())
            }
            Event::AlertTriggered { .. }
            | Event::TriggerRepeated { .. }
            | Event::AlertAcknowledged { .. }
            | Event::AlertEscalated { .. }
            | Event::NoteAdded { .. }
            | Event::AlertResolved { .. }
            | Event::MessageQueued { .. }
            | Event::TimerScheduled { .. }
            | Event::TimerFired { .. }
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
}

fn invalid(position: Position, what: String) -> FoldError {
    FoldError::InvalidTransition { position, what }
}
