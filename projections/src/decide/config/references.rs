//! References between configuration items are checked when they are written: a route
//! names live channels and an existing policy, a policy step names live channels, a
//! trigger names live channels, and a channel that a route or step still names cannot
//! be removed.
//!
//! Each configuration item lives in its own stream, so one decision cannot see the
//! others through its stream's fold. The service passes the whole configuration as
//! it sees it (the global routing view), caught up with the log, and runs these checks
//! before deciding; ADR 0009 says what that guarantees under concurrent writes.

use super::ConfigCommand;
use crate::decide::Rejection;
use crate::ids::ChannelId;
use crate::views::RoutingView;

/// Refuses `command` when it names a channel or policy that `routing` does not have
/// (or a removed channel), or removes a channel that `routing` still names somewhere.
pub fn check_references(routing: &RoutingView, command: &ConfigCommand) -> Result<(), Rejection> {
    match command {
        ConfigCommand::SetRoute {
            channels, policy, ..
        } => {
            require_channels(routing, "channels", channels)?;
            match policy {
                Some(policy) if !routing.policies.contains_key(policy) => {
                    Err(Rejection::UnknownReference {
                        field: "policy".to_owned(),
                        kind: "policy",
                        id: policy.to_string(),
                        removed: false,
                    })
                }
                _ => Ok(()),
            }
        }
        ConfigCommand::SetPolicy { steps, .. } => {
            for (i, step) in steps.iter().enumerate() {
                require_channels(routing, &format!("steps[{i}].channels"), &step.channels)?;
            }
            Ok(())
        }
        ConfigCommand::RemoveChannel { channel_id } => {
            let referrers = routing.channel_referrers(channel_id);
            if referrers.is_empty() {
                Ok(())
            } else {
                Err(Rejection::ChannelInUse {
                    channel_id: channel_id.clone(),
                    referrers,
                })
            }
        }
        ConfigCommand::PutChannel { .. }
        | ConfigCommand::SetTaskRule { .. }
        | ConfigCommand::RemoveTaskRule { .. } => Ok(()),
    }
}

/// Refuses a list of channels that names one `routing` does not have, or one that was
/// removed, naming the first such entry (`{field}[i]`). Triggers use it for their own
/// `channels` as routes and policy steps do.
pub fn require_channels(
    routing: &RoutingView,
    field: &str,
    channels: &[ChannelId],
) -> Result<(), Rejection> {
    for (i, channel_id) in channels.iter().enumerate() {
        let removed = match routing.channels.get(channel_id) {
            Some(channel) if !channel.removed => continue,
            Some(_) => true,
            None => false,
        };
        return Err(Rejection::UnknownReference {
            field: format!("{field}[{i}]"),
            kind: "channel",
            id: channel_id.to_string(),
            removed,
        });
    }
    Ok(())
}

/// How an unknown reference stands, for [`Rejection::UnknownReference`].
pub(crate) fn reference_state(removed: bool) -> &'static str {
    if removed {
        "was removed; a removed channel cannot be named again"
    } else {
        "does not exist; create it first"
    }
}

/// `a`, `a and b`, `a, b and c`.
pub(crate) fn list<T: std::fmt::Display>(items: &[T]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == items.len() { " and " } else { ", " });
        }
        out.push_str(&item.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{PolicyId, ServiceName};
    use crate::views::{ChannelView, Policy, Referrer, Route};
    use crate::{ChannelTarget, EscalationStep};

    fn channel(id: &str) -> ChannelId {
        ChannelId::parse(id).unwrap()
    }

    fn policy(id: &str) -> PolicyId {
        PolicyId::parse(id).unwrap()
    }

    fn service(name: &str) -> ServiceName {
        ServiceName::parse(name).unwrap()
    }

    /// Channels `hook` (live) and `old` (removed), policy `oncall` whose step 1 names
    /// `hook`, and service `payments` routed to `hook`.
    fn routing() -> RoutingView {
        let mut view = RoutingView::default();
        for (id, removed) in [("hook", false), ("old", true)] {
            view.channels.insert(
                channel(id),
                ChannelView {
                    id: channel(id),
                    name: id.to_owned(),
                    target: ChannelTarget::Webhook {
                        url: "http://127.0.0.1:9/".into(),
                    },
                    removed,
                    updated_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                    last_position: 1,
                },
            );
        }
        let step = |channels: Vec<ChannelId>| EscalationStep {
            delay_secs: 60,
            channels,
        };
        view.policies.insert(
            policy("oncall"),
            Policy {
                name: "on call".into(),
                steps: vec![step(Vec::new()), step(vec![channel("hook")])],
                repeat: 0,
            },
        );
        view.services.insert(
            service("payments"),
            Route {
                channels: vec![channel("hook")],
                policy: None,
            },
        );
        view
    }

    fn route(channels: &[&str], policy_id: Option<&str>) -> ConfigCommand {
        ConfigCommand::SetRoute {
            service: service("billing"),
            channels: channels.iter().map(|c| channel(c)).collect(),
            policy: policy_id.map(policy),
        }
    }

    #[test]
    fn a_route_naming_live_channels_and_an_existing_policy_passes() {
        assert_eq!(
            check_references(&routing(), &route(&["hook"], Some("oncall"))),
            Ok(())
        );
    }

    #[test]
    fn a_route_naming_an_unknown_or_removed_channel_is_refused_naming_the_entry() {
        let refused = check_references(&routing(), &route(&["hook", "pager"], None));
        assert_eq!(
            refused,
            Err(Rejection::UnknownReference {
                field: "channels[1]".into(),
                kind: "channel",
                id: "pager".into(),
                removed: false,
            })
        );
        let refused = check_references(&routing(), &route(&["old"], None)).unwrap_err();
        assert_eq!(refused.field(), Some("channels[0]"));
        assert!(refused.to_string().contains("was removed"), "{refused}");
    }

    #[test]
    fn a_route_naming_an_unknown_policy_is_refused_naming_policy() {
        let refused = check_references(&routing(), &route(&[], Some("nobody"))).unwrap_err();
        assert_eq!(refused.field(), Some("policy"));
        assert_eq!(
            refused.to_string(),
            "policy names policy nobody, which does not exist; create it first"
        );
    }

    #[test]
    fn a_policy_step_naming_an_unknown_channel_is_refused_naming_the_step_entry() {
        let step = |names: &[&str]| EscalationStep {
            delay_secs: 0,
            channels: names.iter().map(|c| channel(c)).collect(),
        };
        let command = ConfigCommand::SetPolicy {
            policy_id: policy("night"),
            name: "night".into(),
            steps: vec![step(&["hook"]), step(&["hook", "gone"])],
            repeat: 0,
        };
        let refused = check_references(&routing(), &command).unwrap_err();
        assert_eq!(refused.field(), Some("steps[1].channels[1]"));
    }

    #[test]
    fn removing_a_channel_a_route_or_step_names_is_refused_naming_them() {
        let command = ConfigCommand::RemoveChannel {
            channel_id: channel("hook"),
        };
        let refused = check_references(&routing(), &command).unwrap_err();
        assert_eq!(
            refused,
            Rejection::ChannelInUse {
                channel_id: channel("hook"),
                referrers: vec![
                    Referrer::Route(service("payments")),
                    Referrer::PolicyStep(policy("oncall"), 1),
                ],
            }
        );
        assert_eq!(
            refused.to_string(),
            "channel hook is still named by the route of service payments and steps[1] of policy oncall; remove it from those first"
        );
        let unused = ConfigCommand::RemoveChannel {
            channel_id: channel("old"),
        };
        assert_eq!(check_references(&routing(), &unused), Ok(()));
    }
}
