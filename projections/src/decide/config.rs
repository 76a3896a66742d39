//! Configuration as events: notification channels, service routes, escalation
//! policies and task rules. Each lives in its own stream (`channel-…`, `service-…`,
//! `policy-…`, `taskrule-…`); the state is the routing view folded over that stream.

use super::{require_unique, Rejection, StreamState};
use crate::ids::{ChannelId, PolicyId, RuleId, ServiceName};
use crate::views::RoutingView;
pub use references::{check_references, require_channels};
pub(crate) use references::{list, reference_state};

mod references;
use crate::{
    ChannelTarget, EscalationStep, Event, RecordedEvent, Severity, StreamVersion, TaskSpec,
};

/// A configuration stream folded.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    /// Version of the stream's last event (`None`: no stream yet).
    pub version: Option<StreamVersion>,
    /// The fold of this one stream.
    pub view: RoutingView,
}

impl StreamState for ConfigState {
    /// Folds one event of the stream.
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        // Errors are reported by the global views; the state keeps what was valid.
        let _ = self.view.apply(event);
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

/// What can be configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigCommand {
    /// Create a channel, or update it when it exists (same values: no-op).
    PutChannel {
        /// The channel.
        channel_id: ChannelId,
        /// Its name.
        name: String,
        /// Where it delivers.
        target: ChannelTarget,
    },
    /// Remove a channel (removing twice is a no-op).
    RemoveChannel {
        /// The channel.
        channel_id: ChannelId,
    },
    /// Set a service's channels and policy (same values: no-op).
    SetRoute {
        /// The service.
        service: ServiceName,
        /// Its channels.
        channels: Vec<ChannelId>,
        /// Its policy.
        policy: Option<PolicyId>,
    },
    /// Create or replace a policy (same values: no-op).
    SetPolicy {
        /// The policy.
        policy_id: PolicyId,
        /// Its name.
        name: String,
        /// Its steps.
        steps: Vec<EscalationStep>,
        /// Repeats after the last step.
        repeat: u32,
    },
    /// Create or replace a task rule (same values: no-op).
    SetTaskRule {
        /// The rule.
        rule_id: RuleId,
        /// The service it watches.
        service: ServiceName,
        /// The least severe severity that matches.
        min_severity: Severity,
        /// What to run.
        template: TaskSpec,
    },
    /// Remove a task rule.
    RemoveTaskRule {
        /// The rule.
        rule_id: RuleId,
    },
}

/// Decides what a configuration command records.
pub fn decide_config(state: &ConfigState, command: ConfigCommand) -> Result<Vec<Event>, Rejection> {
    let view = &state.view;
    match command {
        ConfigCommand::PutChannel {
            channel_id,
            name,
            target,
        } => match view.channels.get(&channel_id) {
            None => Ok(vec![Event::ChannelCreated {
                channel_id,
                name,
                target,
            }]),
            Some(existing) if existing.removed => Err(Rejection::ChannelWasRemoved(channel_id)),
            Some(existing) if existing.name == name && existing.target == target => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::ChannelUpdated {
                channel_id,
                name,
                target,
            }]),
        },
        ConfigCommand::RemoveChannel { channel_id } => match view.channels.get(&channel_id) {
            None => Err(Rejection::UnknownChannel(channel_id)),
            Some(existing) if existing.removed => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::ChannelRemoved { channel_id }]),
        },
        ConfigCommand::SetRoute {
            service,
            channels,
            policy,
        } => {
            require_unique("channels", &channels)?;
            let unchanged = view
                .services
                .get(&service)
                .is_some_and(|route| route.channels == channels && route.policy == policy);
            Ok(if unchanged {
                Vec::new()
            } else {
                vec![Event::ServiceRouteSet {
                    service,
                    channels,
                    policy,
                }]
            })
        }
        ConfigCommand::SetPolicy {
            policy_id,
            name,
            steps,
            repeat,
        } => {
            for (i, step) in steps.iter().enumerate() {
                require_unique(&format!("steps[{i}].channels"), &step.channels)?;
            }
            let unchanged = view
                .policies
                .get(&policy_id)
                .is_some_and(|p| p.name == name && p.steps == steps && p.repeat == repeat);
            Ok(if unchanged {
                Vec::new()
            } else {
                vec![Event::EscalationPolicySet {
                    policy_id,
                    name,
                    steps,
                    repeat,
                }]
            })
        }
        ConfigCommand::SetTaskRule {
            rule_id,
            service,
            min_severity,
            template,
        } => {
            require_unique("hosts", &template.hosts)?;
            let unchanged = view.rules.get(&rule_id).is_some_and(|r| {
                r.service == service && r.min_severity == min_severity && r.template == template
            });
            Ok(if unchanged {
                Vec::new()
            } else {
                vec![Event::TaskRuleSet {
                    rule_id,
                    service,
                    min_severity,
                    template,
                }]
            })
        }
        ConfigCommand::RemoveTaskRule { rule_id } => {
            if view.rules.contains_key(&rule_id) {
                Ok(vec![Event::TaskRuleRemoved { rule_id }])
            } else {
                Err(Rejection::UnknownTaskRule(rule_id))
            }
        }
    }
}
