//! Outgoing messages: which dispatcher instance sends, and what each attempt did.
//!
//! The `message_queued` event lives in the stream of the event that caused it; this
//! state is the fold of the message's own delivery stream (`message-<id>`), where a
//! claim appended with the expected version decides which instance sends.

use super::{Rejection, StreamState};
use crate::ids::MessageId;
use crate::{Event, RecordedEvent, StreamVersion};
use chrono::{DateTime, Utc};

/// A message's delivery stream folded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageState {
    /// Version of the stream's last event (`None`: never claimed).
    pub version: Option<StreamVersion>,
    /// The current claim holder and its lease expiry.
    pub claim: Option<(String, DateTime<Utc>)>,
    /// Attempts started so far.
    pub attempts: u32,
    /// Delivered or abandoned.
    pub finished: bool,
}

impl StreamState for MessageState {
    /// Folds one event of the message's delivery stream.
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        match &event.event {
            Event::MessageClaimed {
                instance,
                lease_until,
                ..
            } => self.claim = Some((instance.clone(), *lease_until)),
            Event::DeliveryAttempted { attempt, .. } => self.attempts = *attempt,
            Event::MessageFailed { retry_at, .. } => {
                self.claim = None;
                self.finished = retry_at.is_none();
            }
            Event::MessageDelivered { .. } | Event::MessageAbandoned { .. } => {
                self.claim = None;
                self.finished = true;
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
            | Event::ConsumerGroupDeleted { .. } => {}
        }
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

/// What a dispatcher (or operator) can record about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageCommand {
    /// Take the message for sending until `lease_until`.
    Claim {
        /// The message.
        message_id: MessageId,
        /// The claiming instance.
        instance: String,
        /// The dispatcher's clock.
        now: DateTime<Utc>,
        /// When the claim lapses.
        lease_until: DateTime<Utc>,
    },
    /// Start an attempt (the claim holder only).
    Attempt {
        /// The message.
        message_id: MessageId,
        /// The instance that must hold the claim.
        instance: String,
    },
    /// The destination accepted the message.
    Deliver {
        /// The message.
        message_id: MessageId,
        /// The instance that must hold the claim.
        instance: String,
        /// The provider's receipt.
        receipt: String,
    },
    /// The attempt failed; retry at `retry_at`, or never when `None`.
    Fail {
        /// The message.
        message_id: MessageId,
        /// The instance that must hold the claim.
        instance: String,
        /// What went wrong.
        error: String,
        /// When to try again.
        retry_at: Option<DateTime<Utc>>,
    },
    /// Give up on the message (out of attempts, or by an operator).
    Abandon {
        /// The message.
        message_id: MessageId,
        /// Why.
        reason: String,
    },
}

/// Decides what a message command records.
pub fn decide_message(
    state: &MessageState,
    command: MessageCommand,
) -> Result<Vec<Event>, Rejection> {
    match command {
        MessageCommand::Claim {
            message_id,
            instance,
            now,
            lease_until,
        } => {
            require_open(state, message_id)?;
            if let Some((holder, until)) = &state.claim {
                if *holder != instance && *until > now {
                    return Err(Rejection::MessageClaimedElsewhere {
                        message_id,
                        instance: holder.clone(),
                        until: *until,
                    });
                }
            }
            Ok(vec![Event::MessageClaimed {
                message_id,
                instance,
                lease_until,
            }])
        }
        MessageCommand::Attempt {
            message_id,
            instance,
        } => {
            require_claim(state, message_id, &instance)?;
            Ok(vec![Event::DeliveryAttempted {
                message_id,
                attempt: state.attempts + 1,
            }])
        }
        MessageCommand::Deliver {
            message_id,
            instance,
            receipt,
        } => {
            require_claim(state, message_id, &instance)?;
            Ok(vec![Event::MessageDelivered {
                message_id,
                attempt: state.attempts,
                receipt,
            }])
        }
        MessageCommand::Fail {
            message_id,
            instance,
            error,
            retry_at,
        } => {
            require_claim(state, message_id, &instance)?;
            Ok(vec![Event::MessageFailed {
                message_id,
                attempt: state.attempts,
                error,
                retry_at,
            }])
        }
        MessageCommand::Abandon { message_id, reason } => {
            require_open(state, message_id)?;
            Ok(vec![Event::MessageAbandoned { message_id, reason }])
        }
    }
}

fn require_open(state: &MessageState, message_id: MessageId) -> Result<(), Rejection> {
    if state.finished {
        Err(Rejection::MessageFinished(message_id))
    } else {
        Ok(())
    }
}

fn require_claim(
    state: &MessageState,
    message_id: MessageId,
    instance: &str,
) -> Result<(), Rejection> {
    require_open(state, message_id)?;
    match &state.claim {
        Some((holder, _)) if holder == instance => Ok(()),
        _ => Err(Rejection::MessageNotClaimed(message_id)),
    }
}
