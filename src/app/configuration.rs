//! Configuration: notification channels, service routes, escalation policies and
//! task rules. Every change is an event in its own stream, so the log says who changed
//! what a message was going to, and when. References are checked against the whole
//! configuration first ([`App::configure`]; across instances see ADR 0009).

use super::limits::{self, schema};
use super::trigger::{bounded_text, parse_id};
use super::{App, AppError, WriteMarks, Written};
use projections::decide::{decide_config, ConfigCommand, ConfigState, Rejection};
use projections::ids::{ChannelId, PolicyId, RuleId, ServiceName};
use projections::{streams, ChannelTarget, EscalationStep, Metadata, Severity};
use serde::Deserialize;

/// Body of `POST /v1/channels`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// Channel id: letters, digits, `. _ : -`.
    #[schema(schema_with = schema::name)]
    pub id: String,
    /// Human-readable name.
    #[schema(schema_with = schema::text::<{ limits::DISPLAY_NAME_CHARS }>)]
    pub name: String,
    /// `webhook` or `slack`.
    #[schema(schema_with = schema::channel_kind)]
    pub kind: String,
    /// `http://` or `https://` URL, at most 2,048 characters.
    #[schema(schema_with = schema::url)]
    pub url: String,
}

/// Body of `POST /v1/services/{service}/route`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteBody {
    /// Channels every new alert of the service notifies (up to 16).
    #[serde(default)]
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
    /// Escalation policy its alerts follow.
    #[serde(default)]
    #[schema(schema_with = schema::optional_name)]
    pub policy: Option<String>,
}

/// One step of a policy body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Seconds after the previous step (0 to 86,400).
    #[schema(schema_with = schema::step_delay_secs)]
    pub delay_secs: u32,
    /// Extra channels notified at this step.
    #[serde(default)]
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
}

/// Body of `POST /v1/policies`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Policy id.
    #[schema(schema_with = schema::name)]
    pub id: String,
    /// Human-readable name.
    #[schema(schema_with = schema::text::<{ limits::DISPLAY_NAME_CHARS }>)]
    pub name: String,
    /// 1 to 16 steps.
    #[schema(schema_with = schema::policy_steps::<StepBody>)]
    pub steps: Vec<StepBody>,
    /// Repeats after the last step (0 to 16).
    #[serde(default)]
    #[schema(schema_with = schema::policy_repeats)]
    pub repeat: u32,
}

/// Body of `POST /v1/task-rules`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRuleBody {
    /// Rule id.
    #[schema(schema_with = schema::name)]
    pub id: String,
    /// The service whose alerts it watches.
    #[schema(schema_with = schema::name)]
    pub service: String,
    /// The least severe severity that matches (`critical` matches only critical).
    #[schema(schema_with = schema::severity)]
    pub min_severity: String,
    /// The script to run.
    #[schema(schema_with = schema::text::<{ limits::SCRIPT_CHARS }>)]
    pub script: String,
    /// Its arguments (up to 64, each at most 4,096 characters, as for `POST /v1/tasks`).
    #[serde(default)]
    #[schema(schema_with = schema::args)]
    pub args: Vec<String>,
    /// Where to run it (1 to 256 hosts).
    #[schema(schema_with = schema::hosts)]
    pub hosts: Vec<String>,
    /// Seconds each host may run (1 to 86,400).
    #[schema(schema_with = schema::task_timeout_secs)]
    pub timeout_secs: u32,
}

impl App {
    /// Creates or updates a channel; `created` says it did not exist before.
    pub async fn put_channel(
        &self,
        body: &ChannelBody,
        metadata: Metadata,
    ) -> Result<(ChannelId, Written), AppError> {
        let channel_id = parse_id("id", ChannelId::parse(&body.id))?;
        let name = bounded_text("name", &body.name, limits::DISPLAY_NAME_CHARS)?;
        let url = parse_url("url", &body.url)?;
        let target = match body.kind.as_str() {
            "webhook" => ChannelTarget::Webhook { url },
            "slack" => ChannelTarget::Slack { url },
            _ => return Err(AppError::field("kind", "must be webhook or slack")),
        };
        let existed = self.views.current().channel(&channel_id).is_some();
        let command = ConfigCommand::PutChannel {
            channel_id: channel_id.clone(),
            name,
            target,
        };
        let stream = streams::channel(&channel_id);
        let written = self.configure(&stream, command, metadata, !existed).await?;
        Ok((channel_id, written))
    }

    /// Removes a channel; its pending messages are abandoned. Refused while a route or
    /// policy names it.
    pub async fn remove_channel(
        &self,
        channel_id: &ChannelId,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = ConfigCommand::RemoveChannel {
            channel_id: channel_id.clone(),
        };
        let stream = streams::channel(channel_id);
        self.configure(&stream, command, metadata, false).await
    }

    /// Sets a service's channels and escalation policy.
    pub async fn set_route(
        &self,
        service: &ServiceName,
        body: &RouteBody,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let channels = parse_channels("channels", &body.channels)?;
        let policy = match &body.policy {
            None => None,
            Some(raw) => Some(parse_id("policy", PolicyId::parse(raw))?),
        };
        let command = ConfigCommand::SetRoute {
            service: service.clone(),
            channels,
            policy,
        };
        let stream = streams::service(service);
        self.configure(&stream, command, metadata, false).await
    }

    /// Creates or replaces an escalation policy (1 to 16 steps, up to 16 repeats).
    pub async fn set_policy(
        &self,
        body: &PolicyBody,
        metadata: Metadata,
    ) -> Result<(PolicyId, Written), AppError> {
        let policy_id = parse_id("id", PolicyId::parse(&body.id))?;
        let name = bounded_text("name", &body.name, limits::DISPLAY_NAME_CHARS)?;
        if body.steps.is_empty() || body.steps.len() > limits::POLICY_STEPS {
            return Err(AppError::field(
                "steps",
                format!("must have 1 to {} steps", limits::POLICY_STEPS),
            ));
        }
        if body.repeat > limits::POLICY_REPEATS {
            return Err(AppError::field(
                "repeat",
                format!("must be at most {}", limits::POLICY_REPEATS),
            ));
        }
        let mut steps = Vec::with_capacity(body.steps.len());
        for (i, step) in body.steps.iter().enumerate() {
            if step.delay_secs > limits::STEP_DELAY_SECS {
                return Err(AppError::field(
                    format!("steps[{i}].delay_secs"),
                    format!("must be at most {}", limits::STEP_DELAY_SECS),
                ));
            }
            steps.push(EscalationStep {
                delay_secs: step.delay_secs,
                channels: parse_channels(&format!("steps[{i}].channels"), &step.channels)?,
            });
        }
        let command = ConfigCommand::SetPolicy {
            policy_id: policy_id.clone(),
            name,
            steps,
            repeat: body.repeat,
        };
        let stream = streams::policy(&policy_id);
        let written = self.configure(&stream, command, metadata, false).await?;
        Ok((policy_id, written))
    }

    /// Sets a task rule: alerts of a service at a severity create a task.
    pub async fn set_task_rule(
        &self,
        body: &TaskRuleBody,
        metadata: Metadata,
    ) -> Result<(RuleId, Written), AppError> {
        let rule_id = parse_id("id", RuleId::parse(&body.id))?;
        let service = parse_id("service", ServiceName::parse(&body.service))?;
        let min_severity = Severity::parse(&body.min_severity).ok_or_else(|| {
            AppError::field("min_severity", "must be critical, error, warning or info")
        })?;
        let template =
            super::tasks::task_spec(&body.script, &body.args, &body.hosts, body.timeout_secs)?;
        let command = ConfigCommand::SetTaskRule {
            rule_id: rule_id.clone(),
            service,
            min_severity,
            template,
        };
        let stream = streams::task_rule(&rule_id);
        let written = self.configure(&stream, command, metadata, false).await?;
        Ok((rule_id, written))
    }

    /// Removes a task rule.
    pub async fn remove_task_rule(
        &self,
        rule_id: &RuleId,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = ConfigCommand::RemoveTaskRule {
            rule_id: rule_id.clone(),
        };
        let stream = streams::task_rule(rule_id);
        self.configure(&stream, command, metadata, false).await
    }

    /// Checks what `command` names against the whole configuration, then decides and
    /// appends on its stream. The reference check and the append run under this
    /// instance's configuration lock, on views caught up with the log's head, so of two
    /// racing writes on this instance (a route naming a channel, that channel's
    /// removal) the second sees the first. Across instances the check can race: ADR 0009.
    async fn configure(
        &self,
        stream: &str,
        command: ConfigCommand,
        metadata: Metadata,
        creates: bool,
    ) -> Result<Written, AppError> {
        let outcome = {
            let _configuring = self.marks.configuring.lock().await;
            self.sync_views().await?;
            self.views.current().check_references(&command)?;
            self.commands
                .execute(stream, ConfigState::default(), metadata, |s| {
                    decide_config(s, command.clone())
                })
                .await?
        };
        if let Some(append) = &outcome.append {
            WriteMarks::wrote(&self.marks.routing, append.last_position);
        }
        self.written(&outcome, creates).await
    }

    /// Refuses a trigger whose own `channels` name a channel that does not exist or was
    /// removed (422 naming `channels[i]`), as the views show it once they have this
    /// instance's configuration writes; a channel they do not know yet (created through
    /// another instance a moment ago) is looked up again after they caught up with the log.
    pub async fn check_trigger_channels(&self, channels: &[ChannelId]) -> Result<(), AppError> {
        if channels.is_empty() {
            return Ok(());
        }
        self.wait_for_mark(&self.marks.routing).await?;
        let check = || {
            projections::decide::config::require_channels(
                &self.views.routing(),
                "channels",
                channels,
            )
        };
        match check() {
            Err(Rejection::UnknownReference { removed: false, .. }) => {
                self.sync_views().await?;
                Ok(check()?)
            }
            checked => Ok(checked?),
        }
    }
}

fn parse_channels(field: &str, raw: &[String]) -> Result<Vec<ChannelId>, AppError> {
    if raw.len() > limits::CHANNELS {
        return Err(AppError::field(
            field,
            format!("at most {} channels", limits::CHANNELS),
        ));
    }
    raw.iter()
        .enumerate()
        .map(|(i, c)| parse_id(&format!("{field}[{i}]"), ChannelId::parse(c)))
        .collect()
}

fn parse_url(field: &str, raw: &str) -> Result<String, AppError> {
    let valid = (raw.starts_with("http://") || raw.starts_with("https://"))
        && raw.len() <= limits::URL_CHARS
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(AppError::field(
            field,
            format!(
                "must be an http:// or https:// URL of at most {} characters",
                limits::URL_CHARS
            ),
        ))
    }
}
