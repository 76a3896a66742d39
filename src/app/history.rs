//! An alert's history: the events about it, read from the log (not from the views),
//! for `GET /v1/alerts/{id}/history`.

use super::{App, AppError};
use crate::store::Direction;
use projections::ids::AlertId;
use projections::views::AlertStatus;
use projections::{Event, Position, RecordedEvent};

impl App {
    /// Every event about `alert_id` up to `up_to`, oldest first: its series stream's
    /// events that name it, plus the resource deletion that resolved it, if one did
    /// (that event lives in the resource's stream).
    pub async fn alert_history(
        &self,
        alert_id: AlertId,
        up_to: Position,
    ) -> Result<Vec<RecordedEvent>, AppError> {
        let alert = self
            .views
            .current()
            .alert(alert_id)
            .ok_or_else(|| AppError::NotFound(format!("alert {alert_id} does not exist")))?;
        let deletion = alert.status_changes.iter().find_map(|change| {
            (change.status == AlertStatus::Resolved && !change.cause.stream.starts_with("alert-"))
                .then(|| change.cause.clone())
        });
        let mut events = self.read_whole_stream(&alert.stream).await?;
        events.retain(|e| e.event.alert_id() == Some(alert_id) && e.position <= up_to);
        if let Some(cause) = deletion {
            let found = self
                .store
                .read_stream(&cause.stream, cause.version, Direction::Forward, 1)
                .await?;
            events.extend(
                found.into_iter().filter(|e| {
                    matches!(e.event, Event::SyncDeleted { .. }) && e.position <= up_to
                }),
            );
            events.sort_by_key(|e| e.position);
        }
        Ok(events)
    }

    /// Every event of `stream`, read page by page.
    async fn read_whole_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, AppError> {
        let mut events = Vec::new();
        loop {
            let from = events
                .last()
                .map_or(0, |e: &RecordedEvent| e.stream_version + 1);
            let page = self
                .store
                .read_stream(stream, from, Direction::Forward, 4096)
                .await?;
            let done = page.len() < 4096;
            events.extend(page);
            if done {
                return Ok(events);
            }
        }
    }
}
