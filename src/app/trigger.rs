//! A trigger as every origin hands it over (the native API, Alertmanager, PagerDuty,
//! GoAlert), and its checks that need no store or views: [`validate`] names the first
//! field at fault. Running a valid trigger is [`crate::app::alerts`]' job.

use super::limits::schema;
use super::AppError;
use projections::ids::{ChannelId, DedupKey, IdError, ServiceName, SyncId};
use projections::{Position, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Body of `POST /v1/alerts`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Service name: letters, digits, `. _ : -`, at most 128.
    #[schema(schema_with = schema::name)]
    pub service: String,
    /// Dedup key, at most 255 characters; omitted: every trigger opens a new alert.
    #[serde(default)]
    #[schema(schema_with = schema::dedup_key)]
    pub dedup_key: Option<String>,
    /// One line, 1 to 1,024 characters.
    #[schema(schema_with = schema::text::<MAX_SUMMARY_CHARS>)]
    pub summary: String,
    /// `critical`, `error`, `warning` or `info`.
    #[schema(schema_with = schema::severity)]
    pub severity: String,
    /// Up to 64 string values.
    #[serde(default)]
    #[schema(schema_with = schema::details)]
    pub details: BTreeMap<String, String>,
    /// A registered resource that owns the alarm.
    #[serde(default)]
    #[schema(schema_with = schema::optional_name)]
    pub resource: Option<String>,
    /// Channels that receive this alert's messages (up to 16).
    #[serde(default)]
    #[schema(schema_with = schema::channels)]
    pub channels: Vec<String>,
    /// Escalation delays in seconds, one per step (up to 16).
    #[serde(default)]
    #[schema(schema_with = schema::escalation_secs)]
    pub escalation_secs: Vec<u32>,
}

/// What a trigger did.
#[derive(Debug, Clone, Copy)]
pub struct Triggered {
    /// The alert (new or the open one it was recorded on).
    pub alert_id: projections::ids::AlertId,
    /// Recorded as a repeat on an open alert.
    pub deduplicated: bool,
    /// Log position of the write.
    pub position: Position,
}

pub use super::limits::{
    CHANNELS as MAX_CHANNELS, DETAILS as MAX_DETAILS, DETAIL_KEY_CHARS as MAX_DETAIL_KEY_CHARS,
    DETAIL_VALUE_CHARS as MAX_DETAIL_VALUE_CHARS, ESCALATION_STEPS as MAX_ESCALATION_STEPS,
    SUMMARY_CHARS as MAX_SUMMARY_CHARS,
};

/// A trigger that passed every check that needs no store or views: the ids parsed,
/// the texts within their limits. Only the resource lookup, the service's route and
/// the decision on the series remain (see [`App::trigger`](super::App::trigger)).
#[derive(Debug, Clone)]
pub struct ValidTrigger {
    /// The service.
    pub service: ServiceName,
    /// The given dedup key, or a fresh UUID (every such trigger opens a new alert).
    pub dedup_key: DedupKey,
    /// Non-blank, at most [`MAX_SUMMARY_CHARS`] characters.
    pub summary: String,
    /// The severity.
    pub severity: Severity,
    /// Within [`MAX_DETAILS`], [`MAX_DETAIL_KEY_CHARS`] and [`MAX_DETAIL_VALUE_CHARS`].
    pub details: BTreeMap<String, String>,
    /// The resource named, not yet looked up.
    pub resource: Option<SyncId>,
    /// At most [`MAX_CHANNELS`].
    pub channels: Vec<ChannelId>,
    /// At most [`MAX_ESCALATION_STEPS`].
    pub escalation_secs: Vec<u32>,
}

/// Checks a trigger request (any origin) field by field, in a fixed order, naming
/// the first field at fault. A missing dedup key becomes a fresh UUID.
pub fn validate(request: TriggerRequest) -> Result<ValidTrigger, AppError> {
    let service = parse_id("service", ServiceName::parse(&request.service))?;
    let dedup_key = match &request.dedup_key {
        Some(raw) => parse_id("dedup_key", DedupKey::parse(raw))?,
        None => parse_id(
            "dedup_key",
            DedupKey::parse(&uuid::Uuid::new_v4().to_string()),
        )?,
    };
    let summary = bounded_text("summary", &request.summary, MAX_SUMMARY_CHARS)?;
    let severity = Severity::parse(&request.severity)
        .ok_or_else(|| AppError::field("severity", "must be critical, error, warning or info"))?;
    let details = validate_details(request.details)?;
    let channels = request
        .channels
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_id(&format!("channels[{i}]"), ChannelId::parse(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    if channels.len() > MAX_CHANNELS {
        return Err(AppError::field(
            "channels",
            format!("at most {MAX_CHANNELS} channels"),
        ));
    }
    if request.escalation_secs.len() > MAX_ESCALATION_STEPS {
        return Err(AppError::field(
            "escalation_secs",
            format!("at most {MAX_ESCALATION_STEPS} steps"),
        ));
    }
    let resource = match &request.resource {
        None => None,
        Some(raw) => Some(parse_id("resource", SyncId::parse(raw))?),
    };
    Ok(ValidTrigger {
        service,
        dedup_key,
        summary,
        severity,
        details,
        resource,
        channels,
        escalation_secs: request.escalation_secs,
    })
}

/// Maps an id parse error onto the field it came from.
pub fn parse_id<T>(field: &str, parsed: Result<T, IdError>) -> Result<T, AppError> {
    parsed.map_err(|err| AppError::field(field, err.to_string()))
}

/// Text that must be non-blank and at most `max` characters.
pub fn bounded_text(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    if raw.trim().is_empty() {
        return Err(AppError::field(field, "must not be empty"));
    }
    if raw.chars().count() > max {
        return Err(AppError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(raw.to_owned())
}

fn validate_details(
    details: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, AppError> {
    if details.len() > MAX_DETAILS {
        return Err(AppError::field("details", "at most 64 entries"));
    }
    for (key, value) in &details {
        if key.is_empty() || key.chars().count() > MAX_DETAIL_KEY_CHARS {
            return Err(AppError::field(
                "details",
                "keys must be 1 to 128 characters",
            ));
        }
        if value.chars().count() > MAX_DETAIL_VALUE_CHARS {
            return Err(AppError::field(
                format!("details.{key}"),
                "must be at most 4096 characters",
            ));
        }
    }
    Ok(details)
}
