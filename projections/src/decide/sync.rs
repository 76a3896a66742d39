//! Resources ("syncs") that own alarms: register and delete.

use super::{Rejection, StreamState};
use crate::ids::SyncId;
use crate::views::SyncsView;
use crate::{Event, RecordedEvent, StreamVersion};

/// A resource's stream folded: its last version and its view entry.
#[derive(Debug, Clone, Default)]
pub struct SyncState {
    /// Version of the stream's last event (`None`: no stream yet).
    pub version: Option<StreamVersion>,
    /// The fold of this one stream.
    pub view: SyncsView,
}

impl StreamState for SyncState {
    /// Folds one event of the resource's stream into the state.
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        // The stream holds only this resource's events; a fold error here would also
        // surface in the global views, where it is reported.
        let _ = self.view.apply(event);
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

/// What can be asked of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncCommand {
    /// Register a resource under a name. Re-registering with the same name is a no-op.
    Register {
        /// The resource.
        sync_id: SyncId,
        /// Its human-readable name.
        name: String,
    },
    /// Delete a resource, resolving its alarms. Deleting twice is a no-op.
    Delete {
        /// The resource.
        sync_id: SyncId,
    },
}

/// Decides what a resource command records.
pub fn decide_sync(state: &SyncState, command: SyncCommand) -> Result<Vec<Event>, Rejection> {
    match command {
        SyncCommand::Register { sync_id, name } => match state.view.syncs.get(&sync_id) {
            None => Ok(vec![Event::SyncRegistered { sync_id, name }]),
            Some(existing) if existing.deleted => Err(Rejection::SyncWasDeleted(sync_id)),
            Some(existing) if existing.name == name => Ok(Vec::new()),
            Some(_) => Err(Rejection::SyncAlreadyRegistered(sync_id)),
        },
        SyncCommand::Delete { sync_id } => match state.view.syncs.get(&sync_id) {
            None => Err(Rejection::UnknownSync(sync_id)),
            Some(existing) if existing.deleted => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::SyncDeleted { sync_id }]),
        },
    }
}
