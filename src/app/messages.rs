//! The outgoing-message aggregate: the dispatcher records claims and delivery
//! attempts on a message's own stream through [`App::record_delivery`].

use super::{App, AppError};
use crate::commands::Outcome;
use chrono::{DateTime, Utc};
use projections::decide::{MessageState, Rejection, StreamState};
use projections::ids::MessageId;
use projections::{streams, Event, Metadata, RecordedEvent, StreamVersion};

/// A message's delivery stream folded, plus the retry time of its last failure (the
/// decision's state does not keep it, and a claim must not jump ahead of it).
#[derive(Debug, Clone, Default)]
pub struct DeliveryStream {
    /// The decision's state.
    pub message: MessageState,
    /// When the last failure asked to be retried.
    pub retry_at: Option<DateTime<Utc>>,
}

impl StreamState for DeliveryStream {
    fn apply(&mut self, event: &RecordedEvent) {
        self.message.apply(event);
        if let Event::MessageFailed { retry_at, .. } = &event.event {
            self.retry_at = *retry_at;
        }
    }

    fn version(&self) -> Option<StreamVersion> {
        self.message.version
    }
}

impl App {
    /// Runs a decision about message `id` on its stream and appends what it decides.
    /// The decision sees the stream as read (the claim, the attempts so far), so of two
    /// dispatchers racing for one message only one records.
    pub async fn record_delivery(
        &self,
        id: MessageId,
        metadata: Metadata,
        decide: impl Fn(&DeliveryStream) -> Result<Vec<Event>, Rejection>,
    ) -> Result<Outcome, AppError> {
        let stream = streams::message(id);
        Ok(self
            .commands
            .execute(&stream, DeliveryStream::default(), metadata, decide)
            .await?)
    }
}
