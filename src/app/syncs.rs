//! Resources that own alarms ("syncs"): registering one, and deleting it, which
//! resolves its open alarms (the alert commands see the deletion through
//! [`App::on_series`](super::App)).

use super::limits::{self, schema};
use super::trigger::{bounded_text, parse_id};
use super::{App, AppError, WriteMarks, Written};
use projections::decide::{decide_sync, SyncCommand, SyncState};
use projections::ids::SyncId;
use projections::Metadata;
use serde::Deserialize;

/// Body of `POST /v1/syncs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// Resource id: letters, digits, `. _ : -`, at most 128.
    #[schema(schema_with = schema::name)]
    pub id: String,
    /// Human-readable name, 1 to 256 characters.
    #[schema(schema_with = schema::text::<{ limits::DISPLAY_NAME_CHARS }>)]
    pub name: String,
}

impl App {
    /// Registers a resource; `created` is `false` when it was already registered
    /// under that name (nothing written).
    pub async fn register_sync(
        &self,
        body: &SyncBody,
        metadata: Metadata,
    ) -> Result<(SyncId, Written), AppError> {
        let sync_id = parse_id("id", SyncId::parse(&body.id))?;
        let name = bounded_text("name", &body.name, limits::DISPLAY_NAME_CHARS)?;
        let command = SyncCommand::Register {
            sync_id: sync_id.clone(),
            name,
        };
        let written = self.sync_command(&sync_id, command, metadata, true).await?;
        Ok((sync_id, written))
    }

    /// Deletes a resource; its open alarms are resolved.
    pub async fn delete_sync(
        &self,
        sync_id: &SyncId,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = SyncCommand::Delete {
            sync_id: sync_id.clone(),
        };
        self.sync_command(sync_id, command, metadata, false).await
    }

    async fn sync_command(
        &self,
        sync_id: &SyncId,
        command: SyncCommand,
        metadata: Metadata,
        creates: bool,
    ) -> Result<Written, AppError> {
        let stream = projections::streams::sync(sync_id);
        let outcome = self
            .commands
            .execute(&stream, SyncState::default(), metadata, |s| {
                decide_sync(s, command.clone())
            })
            .await?;
        if let Some(append) = &outcome.append {
            WriteMarks::wrote(&self.marks.syncs, append.last_position);
        }
        self.written(&outcome, creates).await
    }
}
