//! The routing view: notification channels, each service's channels and escalation
//! policy, the policies, and the task rules. Configuration is events too, so the
//! message view can always say where a message was going and why.

use super::FoldError;
use crate::ids::{ChannelId, PolicyId, RuleId, ServiceName};
use crate::{ChannelTarget, EscalationStep, Event, Position, RecordedEvent, Severity, TaskSpec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Its id.
    pub id: ChannelId,
    /// Its name.
    pub name: String,
    /// Where it delivers.
    pub target: ChannelTarget,
    /// Removed channels stay listed; their pending messages are abandoned.
    pub removed: bool,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

/// A service's routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Channels its new alerts notify.
    pub channels: Vec<ChannelId>,
    /// Escalation policy its alerts follow.
    pub policy: Option<PolicyId>,
}

/// An escalation policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// Ordered steps.
    pub steps: Vec<EscalationStep>,
    /// Repeats after the last step.
    pub repeat: u32,
}

/// A rule that creates tasks from alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRule {
    /// Its id.
    pub id: RuleId,
    /// The service it watches.
    pub service: ServiceName,
    /// The least severe severity that matches.
    pub min_severity: Severity,
    /// What to run.
    pub template: TaskSpec,
}

impl TaskRule {
    /// Whether an alert of `service` at `severity` matches.
    pub fn matches(&self, service: &ServiceName, severity: Severity) -> bool {
        // Severities are ordered most severe first.
        self.service == *service && severity <= self.min_severity
    }
}

/// All routing configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingView {
    /// Channels by id.
    pub channels: BTreeMap<ChannelId, ChannelView>,
    /// Routes by service.
    pub services: BTreeMap<ServiceName, Route>,
    /// Policies by id.
    pub policies: BTreeMap<PolicyId, Policy>,
    /// Task rules by id.
    pub rules: BTreeMap<RuleId, TaskRule>,
}

impl RoutingView {
    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::ChannelCreated {
                channel_id,
                name,
                target,
            } => {
                if self.channels.contains_key(channel_id) {
                    return Err(invalid(e, format!("channel {channel_id} created twice")));
                }
                self.channels.insert(
                    channel_id.clone(),
                    ChannelView {
                        id: channel_id.clone(),
                        name: name.clone(),
                        target: target.clone(),
                        removed: false,
                        updated_at: e.recorded_at,
                        last_position: e.position,
                    },
                );
            }
            Event::ChannelUpdated {
                channel_id,
                name,
                target,
            } => {
                let channel = self.live_channel(e, channel_id)?;
                channel.name = name.clone();
                channel.target = target.clone();
                channel.updated_at = e.recorded_at;
                channel.last_position = e.position;
            }
            Event::ChannelRemoved { channel_id } => {
                let channel = self.live_channel(e, channel_id)?;
                channel.removed = true;
                channel.updated_at = e.recorded_at;
                channel.last_position = e.position;
            }
            Event::ServiceRouteSet {
                service,
                channels,
                policy,
            } => {
                let route = Route {
                    channels: channels.clone(),
                    policy: policy.clone(),
                };
                self.services.insert(service.clone(), route);
            }
            Event::EscalationPolicySet {
                policy_id,
                name,
                steps,
                repeat,
            } => {
                let policy = Policy {
                    name: name.clone(),
                    steps: steps.clone(),
                    repeat: *repeat,
                };
                self.policies.insert(policy_id.clone(), policy);
            }
            Event::TaskRuleSet {
                rule_id,
                service,
                min_severity,
                template,
            } => {
                let rule = TaskRule {
                    id: rule_id.clone(),
                    service: service.clone(),
                    min_severity: *min_severity,
                    template: template.clone(),
                };
                self.rules.insert(rule_id.clone(), rule);
            }
            Event::TaskRuleRemoved { rule_id } => {
                if self.rules.remove(rule_id).is_none() {
                    return Err(invalid(e, format!("unknown task rule {rule_id} removed")));
                }
            }
            Event::DataLossRecorded { .. }
            | Event::ConsumerGroupCreated { .. }
            | Event::ConsumerAcked { .. }
            | Event::ConsumerGroupDeleted { .. }
            | Event::AlertTriggered { .. }
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
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
            | Event::TaskCreated { .. }
            | Event::TaskHostStarted { .. }
            | Event::TaskHostFinished { .. }
            | Event::TaskHostTimedOut { .. }
            | Event::TaskCancelled { .. } => {}
        }
        Ok(())
    }

    fn live_channel(
        &mut self,
        e: &RecordedEvent,
        channel_id: &ChannelId,
    ) -> Result<&mut ChannelView, FoldError> {
        match self.channels.get_mut(channel_id) {
            Some(channel) if !channel.removed => Ok(channel),
            Some(_) => Err(invalid(e, format!("channel {channel_id} was removed"))),
            None => Err(invalid(e, format!("unknown channel {channel_id}"))),
        }
    }

    /// A live (not removed) channel.
    pub fn channel(&self, channel_id: &ChannelId) -> Option<&ChannelView> {
        self.channels.get(channel_id).filter(|c| !c.removed)
    }

    /// Every service route and policy step that names `channel_id`, in id order.
    pub fn channel_referrers(&self, channel_id: &ChannelId) -> Vec<Referrer> {
        let routes = self
            .services
            .iter()
            .filter(|(_, route)| route.channels.contains(channel_id))
            .map(|(service, _)| Referrer::Route(service.clone()));
        let steps = self.policies.iter().flat_map(|(policy_id, policy)| {
            let steps = policy.steps.iter().enumerate();
            steps
                .filter(|(_, step)| step.channels.contains(channel_id))
                .map(|(i, _)| Referrer::PolicyStep(policy_id.clone(), i))
        });
        routes.chain(steps).collect()
    }
}

/// Configuration that names a channel, so the channel cannot be removed under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referrer {
    /// A service's route.
    Route(ServiceName),
    /// A step of an escalation policy (0-based, as in the policy's `steps`).
    PolicyStep(PolicyId, usize),
}

impl std::fmt::Display for Referrer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Referrer::Route(service) => write!(f, "the route of service {service}"),
            Referrer::PolicyStep(policy, i) => write!(f, "steps[{i}] of policy {policy}"),
        }
    }
}

fn invalid(e: &RecordedEvent, what: String) -> FoldError {
    FoldError::InvalidTransition {
        position: e.position,
        what,
    }
}
