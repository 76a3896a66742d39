//! The outgoing-message view: one row per (cause event, channel), with its delivery
//! state. A row can only come from a `message_queued` event, which is appended together
//! with its cause, so a message without a cause cannot exist.

use super::FoldError;
use crate::ids::{AlertId, ChannelId, MessageId};
use crate::{Event, EventRef, MessageKind, Position, RecordedEvent};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Waiting for a dispatcher.
    Pending,
    /// A dispatcher holds a lease on it.
    Claimed,
    /// The destination accepted it.
    Delivered,
    /// The last attempt failed; another is scheduled.
    FailedWillRetry,
    /// Given up (out of attempts, a permanent failure, or by an operator).
    Abandoned,
}

impl MessageState {
    /// Every state, in the order of a delivery.
    pub const ALL: [MessageState; 5] = [
        MessageState::Pending,
        MessageState::Claimed,
        MessageState::Delivered,
        MessageState::FailedWillRetry,
        MessageState::Abandoned,
    ];

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Pending => "pending",
            MessageState::Claimed => "claimed",
            MessageState::Delivered => "delivered",
            MessageState::FailedWillRetry => "failed_will_retry",
            MessageState::Abandoned => "abandoned",
        }
    }

    /// Parses the lowercase name.
    pub fn parse(raw: &str) -> Option<MessageState> {
        MessageState::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One outgoing message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Its id.
    pub id: MessageId,
    /// The alert it is about.
    pub alert_id: AlertId,
    /// The event that caused it.
    pub cause: EventRef,
    /// What it says.
    pub kind: MessageKind,
    /// Where it goes.
    pub channel: ChannelId,
    /// Delivery state.
    pub state: MessageState,
    /// Attempts started.
    pub attempts: u32,
    /// The instance holding the claim.
    pub claimed_by: Option<String>,
    /// When the claim lapses.
    pub lease_until: Option<DateTime<Utc>>,
    /// When the next attempt is due (after a retryable failure).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last error.
    pub last_error: Option<String>,
    /// The provider's receipt once delivered.
    pub receipt: Option<String>,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// Position of the `message_queued` event: the stable order the message list and
    /// its cursor walk (newest first).
    pub queued_position: Position,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

/// Every outgoing message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagesView {
    /// By id.
    pub messages: BTreeMap<MessageId, MessageView>,
    /// Message ids by the position that queued them: the stable, chronological order
    /// that list cursors walk.
    pub queued: BTreeMap<Position, MessageId>,
    /// The messages not yet delivered or abandoned, oldest first: what a dispatcher
    /// looks at, without walking every message ever sent.
    pub unfinished: BTreeSet<(DateTime<Utc>, MessageId)>,
}

impl MessagesView {
    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::MessageQueued {
                message_id,
                alert_id,
                cause,
                kind,
                channel,
            } => {
                if self.messages.contains_key(message_id) {
                    return Err(FoldError::DuplicateMessage {
                        position: e.position,
                        message_id: *message_id,
                    });
                }
                if cause.stream != e.stream || cause.version >= e.stream_version {
                    return Err(FoldError::CauseNotBefore {
                        position: e.position,
                        message_id: *message_id,
                    });
                }
                self.unfinished.insert((e.recorded_at, *message_id));
                self.queued.insert(e.position, *message_id);
                self.messages.insert(
                    *message_id,
                    MessageView {
                        id: *message_id,
                        alert_id: *alert_id,
                        cause: cause.clone(),
                        kind: *kind,
                        channel: channel.clone(),
                        state: MessageState::Pending,
                        attempts: 0,
                        claimed_by: None,
                        lease_until: None,
                        next_attempt_at: None,
                        last_error: None,
                        receipt: None,
                        queued_at: e.recorded_at,
                        queued_position: e.position,
                        updated_at: e.recorded_at,
                        last_position: e.position,
                    },
                );
                Ok(())
            }
            Event::MessageClaimed {
                message_id,
                instance,
                lease_until,
            } => self.update(e, *message_id, |m| {
                m.state = MessageState::Claimed;
                m.claimed_by = Some(instance.clone());
                m.lease_until = Some(*lease_until);
            }),
            Event::DeliveryAttempted {
                message_id,
                attempt,
            } => self.update(e, *message_id, |m| m.attempts = *attempt),
            Event::MessageDelivered {
                message_id,
                receipt,
                ..
            } => self.update(e, *message_id, |m| {
                m.state = MessageState::Delivered;
                m.receipt = Some(receipt.clone());
                m.next_attempt_at = None;
                m.claimed_by = None;
                m.lease_until = None;
            }),
            Event::MessageFailed {
                message_id,
                error,
                retry_at,
                ..
            } => self.update(e, *message_id, |m| {
                m.state = match retry_at {
                    Some(_) => MessageState::FailedWillRetry,
                    None => MessageState::Abandoned,
                };
                m.last_error = Some(error.clone());
                m.next_attempt_at = *retry_at;
                m.claimed_by = None;
                m.lease_until = None;
            }),
            Event::MessageAbandoned { message_id, reason } => self.update(e, *message_id, |m| {
                m.state = MessageState::Abandoned;
                m.last_error = Some(reason.clone());
                m.next_attempt_at = None;
                m.claimed_by = None;
                m.lease_until = None;
            }),
            Event::AlertTriggered { .. }
            | Event::TriggerRepeated { .. }
            | Event::AlertAcknowledged { .. }
            | Event::AlertEscalated { .. }
            | Event::NoteAdded { .. }
            | Event::AlertResolved { .. }
            | Event::TimerScheduled { .. }
            | Event::TimerFired { .. }
            | Event::SyncRegistered { .. }
            | Event::SyncDeleted { .. }
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

    fn update(
        &mut self,
        e: &RecordedEvent,
        message_id: MessageId,
        change: impl FnOnce(&mut MessageView),
    ) -> Result<(), FoldError> {
        let message = self
            .messages
            .get_mut(&message_id)
            .ok_or(FoldError::UnknownMessage {
                position: e.position,
                message_id,
            })?;
        if matches!(
            message.state,
            MessageState::Delivered | MessageState::Abandoned
        ) {
            return Err(FoldError::InvalidTransition {
                position: e.position,
                what: format!("message {message_id} is already {}", message.state.as_str()),
            });
        }
        change(message);
        message.updated_at = e.recorded_at;
        message.last_position = e.position;
        if matches!(
            message.state,
            MessageState::Delivered | MessageState::Abandoned
        ) {
            self.unfinished.remove(&(message.queued_at, message_id));
        }
        Ok(())
    }
}
