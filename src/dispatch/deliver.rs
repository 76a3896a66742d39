//! One message through one attempt, every step an event in `message-<id>`:
//!
//! 1. Its channel and alert are copied out of the views; when either is gone, the
//!    message is abandoned unsent (unless another instance holds a live claim).
//! 2. `message_claimed {instance, lease_until}` and `delivery_attempted {attempt}`,
//!    appended together with the version read (or `message_claimed` and
//!    `message_abandoned` when the attempts are spent: a sender died after starting
//!    the last one). A lost race (another instance's live claim, or a version
//!    conflict that then sees it) drops the message; so does a retry time still
//!    ahead. One append, so one durable write, for the claim and the start.
//! 3. The HTTP request ([`super::sender`]).
//! 4. `message_delivered {receipt}`, `message_failed {error, retry_at}` when it is
//!    worth another attempt, or `message_abandoned {reason}` when it is not (a
//!    permanent answer, or the last attempt failed; the reason quotes the error).
//!
//! Step 4 requires the claim, so an instance whose lease lapsed and was taken over
//! cannot record over the new holder.

use super::body::Outgoing;
use super::sender::{Request, Verdict};
use super::{Action, Dispatcher};
use crate::app::messages::DeliveryStream;
use crate::app::AppError;
use crate::commands::Outcome;
use chrono::{DateTime, Utc};
use projections::decide::{decide_message, MessageCommand, MessageState, Rejection};
use projections::ids::MessageId;
use projections::{ChannelTarget, Event, Metadata};
use std::time::Duration;

/// How long a task waits for the views to show what it recorded.
const VIEW_WAIT: Duration = Duration::from_secs(5);

/// Where an attempt sends, copied from the routing view.
struct Target {
    kind: &'static str,
    url: String,
    slack: bool,
}

impl Dispatcher {
    /// Works one due message; every outcome is logged, none is returned.
    pub(super) async fn handle(&self, id: MessageId, action: Action) {
        let metadata = self.metadata();
        match action {
            Action::Abandon(reason) => self.abandon_unsent(id, reason, &metadata).await,
            Action::Deliver => self.deliver(id, &metadata).await,
        }
    }

    /// Abandons a message whose channel is gone, unless another instance holds a
    /// live claim on it (that instance will abandon it).
    async fn abandon_unsent(&self, id: MessageId, reason: String, metadata: &Metadata) {
        let me = self.instance().to_owned();
        let now = Utc::now();
        let recorded = self
            .record(id, metadata, |s: &DeliveryStream| {
                if let Some((holder, until)) = &s.message.claim {
                    if *holder != me && *until > now {
                        return Err(Rejection::MessageClaimedElsewhere {
                            message_id: id,
                            instance: holder.clone(),
                            until: *until,
                        });
                    }
                }
                decide_message(
                    &s.message,
                    MessageCommand::Abandon {
                        message_id: id,
                        reason: reason.clone(),
                    },
                )
            })
            .await;
        if recorded.is_some() {
            let kind = self.channel_kind(id);
            self.inner.state.metrics.inc_dispatch(kind, "abandoned");
            tracing::info!(message = %id, %reason, "message abandoned without sending");
        }
    }

    async fn deliver(&self, id: MessageId, metadata: &Metadata) {
        let Some((target, outgoing)) = self.lookup(id) else {
            let reason = "its channel or alert is no longer known".to_owned();
            self.abandon_unsent(id, reason, metadata).await;
            return;
        };
        let Some(attempt) = self.claim_and_start(id, metadata).await else {
            return;
        };
        let outgoing = Outgoing {
            attempt,
            ..outgoing
        };
        let body = if target.slack {
            outgoing.slack_body()
        } else {
            outgoing.webhook_body()
        };
        let body = serde_json::to_vec(&body).expect("a JSON value serializes");
        let (verdict, latency) = self
            .inner
            .sender
            .send(Request {
                url: &target.url,
                message_id: id,
                attempt,
                body: &body,
            })
            .await;
        let metrics = &self.inner.state.metrics;
        metrics.observe_dispatch_duration(target.kind, latency);
        let result = match verdict {
            Verdict::Delivered { receipt } => Ok(receipt),
            Verdict::Retry { error, retry_after } => {
                Err(self.retry_or_give_up(attempt, error, retry_after))
            }
            Verdict::Permanent { error } => Err(RetryOrNot::Abandon(error)),
        };
        self.finish_attempt(id, metadata, &target, &outgoing, attempt, result)
            .await;
    }

    /// Appends the claim and the attempt's start in one append (`message_claimed`,
    /// then `delivery_attempted`, or `message_abandoned` when the attempts are spent:
    /// a sender died after starting the last one) and returns the attempt's number.
    /// `None` when the message is not ours to send now, or was abandoned.
    async fn claim_and_start(&self, id: MessageId, metadata: &Metadata) -> Option<u32> {
        let me = self.instance().to_owned();
        let max = self.inner.config.max_attempts;
        let now = Utc::now();
        let lease =
            chrono::Duration::from_std(self.inner.config.lease).unwrap_or(chrono::Duration::MAX);
        let lease_until = now + lease;
        let outcome = self
            .record(id, metadata, |s: &DeliveryStream| {
                let retry_pending = s.retry_at.is_some_and(|at| at > now);
                if s.message.finished || (retry_pending && s.message.claim.is_none()) {
                    return Ok(Vec::new());
                }
                let claim = MessageCommand::Claim {
                    message_id: id,
                    instance: me.clone(),
                    now,
                    lease_until,
                };
                let mut events = decide_message(&s.message, claim)?;
                let claimed = MessageState {
                    claim: Some((me.clone(), lease_until)),
                    ..s.message.clone()
                };
                let start = if claimed.attempts >= max {
                    MessageCommand::Abandon {
                        message_id: id,
                        reason: format!(
                            "gave up after {} attempts (the last one never reported back)",
                            claimed.attempts
                        ),
                    }
                } else {
                    MessageCommand::Attempt {
                        message_id: id,
                        instance: me.clone(),
                    }
                };
                events.extend(decide_message(&claimed, start)?);
                Ok(events)
            })
            .await?;
        match outcome.events.last() {
            Some(Event::DeliveryAttempted { attempt, .. }) => Some(*attempt),
            _ => {
                let kind = self.channel_kind(id);
                self.inner.state.metrics.inc_dispatch(kind, "abandoned");
                None
            }
        }
    }

    /// After a retryable failure of `attempt`: when to retry, or give up if it was
    /// the last.
    fn retry_or_give_up(
        &self,
        attempt: u32,
        error: String,
        retry_after: Option<Duration>,
    ) -> RetryOrNot {
        let config = &self.inner.config;
        if attempt >= config.max_attempts {
            return RetryOrNot::Abandon(format!(
                "gave up after {attempt} attempts; the last failed: {error}"
            ));
        }
        let backoff = config.backoff.next(attempt);
        let asked = retry_after.unwrap_or_default().min(config.backoff.max);
        let wait = chrono::Duration::from_std(backoff.max(asked)).unwrap_or(chrono::Duration::MAX);
        RetryOrNot::Retry {
            error,
            at: Utc::now() + wait,
        }
    }

    async fn finish_attempt(
        &self,
        id: MessageId,
        metadata: &Metadata,
        target: &Target,
        outgoing: &Outgoing,
        attempt: u32,
        result: Result<String, RetryOrNot>,
    ) {
        let metrics = &self.inner.state.metrics;
        let (outcome, recorded) = match result {
            Ok(receipt) => {
                let recorded = self.delivered(id, metadata, receipt).await;
                if recorded {
                    let waited = (Utc::now() - outgoing.message.queued_at)
                        .to_std()
                        .unwrap_or_default();
                    metrics.observe_delivery_latency(target.kind, waited);
                }
                ("delivered", recorded)
            }
            Err(RetryOrNot::Retry { error, at }) => {
                tracing::info!(message = %id, attempt, %error, retry_at = %at, "delivery failed; will retry");
                let recorded = self.fail(id, metadata, error, at).await;
                ("failed", recorded)
            }
            Err(RetryOrNot::Abandon(reason)) => {
                tracing::warn!(message = %id, attempt, %reason, "delivery abandoned");
                ("abandoned", self.abandon_held(id, metadata, reason).await)
            }
        };
        metrics.inc_dispatch(target.kind, outcome);
        if !recorded {
            tracing::warn!(message = %id, attempt, outcome, "the attempt's outcome could not be recorded (the claim was lost or the store failed); the message will be tried again");
        }
    }

    /// Records `message_delivered` with `receipt`.
    async fn delivered(&self, id: MessageId, metadata: &Metadata, receipt: String) -> bool {
        let me = self.instance().to_owned();
        self.record(id, metadata, |s: &DeliveryStream| {
            let command = MessageCommand::Deliver {
                message_id: id,
                instance: me.clone(),
                receipt: receipt.clone(),
            };
            decide_message(&s.message, command)
        })
        .await
        .is_some()
    }

    /// Records `message_abandoned` while this instance holds the claim.
    async fn abandon_held(&self, id: MessageId, metadata: &Metadata, reason: String) -> bool {
        let me = self.instance().to_owned();
        self.record(id, metadata, |s: &DeliveryStream| {
            holds(s, id, &me)?;
            let command = MessageCommand::Abandon {
                message_id: id,
                reason: reason.clone(),
            };
            decide_message(&s.message, command)
        })
        .await
        .is_some()
    }

    async fn fail(
        &self,
        id: MessageId,
        metadata: &Metadata,
        error: String,
        at: DateTime<Utc>,
    ) -> bool {
        let me = self.instance().to_owned();
        self.record(id, metadata, |s: &DeliveryStream| {
            decide_message(
                &s.message,
                MessageCommand::Fail {
                    message_id: id,
                    instance: me.clone(),
                    error: error.clone(),
                    retry_at: Some(at),
                },
            )
        })
        .await
        .is_some()
    }

    /// Runs a decision on the message's stream and waits for the views to show it.
    /// `None` when nothing was recorded (not ours, lost race, store failure: logged).
    async fn record(
        &self,
        id: MessageId,
        metadata: &Metadata,
        decide: impl Fn(&DeliveryStream) -> Result<Vec<Event>, Rejection>,
    ) -> Option<Outcome> {
        let state = &self.inner.state;
        let outcome = state.record_delivery(id, metadata.clone(), decide).await;
        match outcome {
            Ok(outcome) => {
                let append = outcome.append.as_ref()?;
                let _ = state.views.wait_for(append.last_position, VIEW_WAIT).await;
                Some(outcome)
            }
            Err(AppError::Rejected(rejection)) => {
                tracing::debug!(message = %id, %rejection, "not ours to record");
                None
            }
            Err(AppError::Conflict) => {
                tracing::debug!(message = %id, "lost a race for the message");
                None
            }
            Err(err) => {
                tracing::error!(message = %id, ?err, "cannot record a delivery step");
                None
            }
        }
    }

    /// Copies what an attempt needs out of the views.
    fn lookup(&self, id: MessageId) -> Option<(Target, Outgoing)> {
        let public_url = self.inner.config.public_url.clone();
        let (message, alert, channel) = {
            let views = self.inner.state.views.current();
            let message = views.message(id)?;
            let alert = views.alert(message.alert_id)?;
            let channel = views.channel(&message.channel)?;
            (message, alert, channel)
        };
        if channel.removed {
            return None;
        }
        let target = match &channel.target {
            ChannelTarget::Webhook { url } => Target {
                kind: "webhook",
                url: url.clone(),
                slack: false,
            },
            ChannelTarget::Slack { url } => Target {
                kind: "slack",
                url: url.clone(),
                slack: true,
            },
        };
        let outgoing = Outgoing {
            message,
            alert,
            attempt: 0,
            public_url,
        };
        Some((target, outgoing))
    }

    /// The metrics label of a message's channel (`unknown` when it is gone).
    fn channel_kind(&self, id: MessageId) -> &'static str {
        let channel = {
            let views = self.inner.state.views.current();
            views.message(id).and_then(|m| views.channel(&m.channel))
        };
        match channel.map(|c| c.target) {
            Some(ChannelTarget::Webhook { .. }) => "webhook",
            Some(ChannelTarget::Slack { .. }) => "slack",
            None => "unknown",
        }
    }

    fn metadata(&self) -> Metadata {
        Metadata {
            actor: Some(format!("dispatcher {}", self.instance())),
            correlation_id: Some(uuid::Uuid::new_v4()),
            causation_id: None,
            source: Some("dispatcher".to_owned()),
        }
    }
}

/// What a failed attempt leads to.
enum RetryOrNot {
    Retry { error: String, at: DateTime<Utc> },
    Abandon(String),
}

/// The claim must be this instance's (for the steps the decision does not guard).
fn holds(s: &DeliveryStream, id: MessageId, instance: &str) -> Result<(), Rejection> {
    match &s.message.claim {
        Some((holder, _)) if holder == instance => Ok(()),
        _ => Err(Rejection::MessageNotClaimed(id)),
    }
}
