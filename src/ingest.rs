//! The trigger path shared by every way an alert can arrive (native API now,
//! Alertmanager / PagerDuty / GoAlert receivers later): validate, look up the
//! resource, decide on the series stream, append.

use crate::http::error::ApiError;
use crate::http::extract::parse_json;
use crate::http::AppState;
use projections::decide::{decide_alert, AlertCommand, ResourceCheck, SeriesState, Trigger};
use projections::ids::{ChannelId, DedupKey, IdError, SeriesId, ServiceName, SyncId};
use projections::{Event, Metadata, Position, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Body of `POST /v1/alerts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerRequest {
    /// Service name: letters, digits, `. _ : -`, at most 128.
    pub service: String,
    /// Dedup key, at most 255 characters; omitted: every trigger opens a new alert.
    #[serde(default)]
    pub dedup_key: Option<String>,
    /// One line, 1 to 1,024 characters.
    pub summary: String,
    /// `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// Up to 64 string values.
    #[serde(default)]
    pub details: BTreeMap<String, String>,
    /// A registered resource that owns the alarm.
    #[serde(default)]
    pub resource: Option<String>,
    /// Channels that receive this alert's messages (up to 16).
    #[serde(default)]
    pub channels: Vec<String>,
    /// Escalation delays in seconds, one per step (up to 16).
    #[serde(default)]
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

/// Most characters in a trigger's `summary`.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Most entries in a trigger's `details`.
pub const MAX_DETAILS: usize = 64;
/// Most characters in a `details` key (at least one).
pub const MAX_DETAIL_KEY_CHARS: usize = 128;
/// Most characters in a `details` value.
pub const MAX_DETAIL_VALUE_CHARS: usize = 4096;
/// Most channels a trigger may name.
pub const MAX_CHANNELS: usize = 16;
/// Most escalation steps a trigger may give.
pub const MAX_ESCALATION_STEPS: usize = 16;

/// A trigger that passed every check that needs no store or views: the ids parsed,
/// the texts within their limits. Only the resource lookup, the service's route and
/// the decision on the series remain (see [`trigger_valid`]).
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

/// What `POST /v1/alerts` does with its body before it touches the store or the
/// views: [`parse_json`] (which its `ValidJson` extractor runs once the content type
/// is JSON) and [`validate`] (which [`trigger`] runs). Pure and synchronous; the
/// fuzz target `ingest_native` feeds it arbitrary bytes.
pub fn parse_trigger(bytes: &[u8]) -> Result<ValidTrigger, ApiError> {
    validate(parse_json(bytes)?)
}

/// Checks a trigger request (any origin) field by field, in a fixed order, naming
/// the first field at fault. A missing dedup key becomes a fresh UUID.
pub fn validate(request: TriggerRequest) -> Result<ValidTrigger, ApiError> {
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
        .ok_or_else(|| ApiError::field("severity", "must be critical, error, warning or info"))?;
    let details = validate_details(request.details)?;
    let channels = request
        .channels
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_id(&format!("channels[{i}]"), ChannelId::parse(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    if channels.len() > MAX_CHANNELS {
        return Err(ApiError::field("channels", "at most 16 channels"));
    }
    if request.escalation_secs.len() > MAX_ESCALATION_STEPS {
        return Err(ApiError::field("escalation_secs", "at most 16 steps"));
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

/// Validates and runs a trigger.
pub async fn trigger(
    state: &AppState,
    request: TriggerRequest,
    metadata: Metadata,
) -> Result<Triggered, ApiError> {
    trigger_valid(state, validate(request)?, metadata).await
}

/// Runs a validated trigger: looks its resource up, adds the service's route, decides
/// on the series stream and appends.
pub async fn trigger_valid(
    state: &AppState,
    valid: ValidTrigger,
    metadata: Metadata,
) -> Result<Triggered, ApiError> {
    let ValidTrigger {
        service,
        dedup_key,
        summary,
        severity,
        details,
        resource,
        channels,
        escalation_secs,
    } = valid;
    let resource = match resource {
        None => None,
        Some(sync_id) => Some(resource_check(state, sync_id).await?),
    };
    let series = SeriesId::of(&service, &dedup_key);
    // The service's route may have been set by the caller's previous request.
    state.wait_for_mark(&state.marks.routing).await?;
    crate::http::config::check_trigger_channels(state, &channels).await?;
    let routed = route_of(state, &service, channels, escalation_secs);
    let command = AlertCommand::Trigger(Trigger {
        service,
        dedup_key,
        summary,
        severity,
        details,
        resource,
        channels: routed.channels,
        escalation_secs: routed.escalation_secs,
        escalation_channels: routed.escalation_channels,
        escalation_repeat: routed.escalation_repeat,
        now: chrono::Utc::now(),
    });
    let stream = projections::streams::alert_series(series);
    let outcome = state
        .commands
        .execute(&stream, SeriesState::new(series), metadata, |s| {
            decide_alert(&with_deletions(state, s), command.clone())
        })
        .await?;
    let append = outcome
        .append
        .ok_or_else(|| ApiError::Internal("a trigger decided to write nothing".into()))?;
    match outcome.events.first() {
        Some(Event::AlertTriggered { alert_id, .. }) => {
            state.recent_alerts.opened(*alert_id, &stream);
            Ok(Triggered {
                alert_id: *alert_id,
                deduplicated: false,
                position: append.last_position,
            })
        }
        Some(Event::TriggerRepeated { alert_id, .. }) => Ok(Triggered {
            alert_id: *alert_id,
            deduplicated: true,
            position: append.last_position,
        }),
        other => Err(ApiError::Internal(format!("a trigger decided {other:?}"))),
    }
}

/// Who a new alert notifies and how it escalates.
struct Routed {
    channels: Vec<ChannelId>,
    escalation_secs: Vec<u32>,
    escalation_channels: Vec<Vec<ChannelId>>,
    escalation_repeat: u32,
}

/// The channels and escalation of a new alert: the service's route (its channels and
/// policy) plus whatever the trigger itself named. A trigger's own `escalation_secs`
/// replace the policy's steps. A route or policy step recorded before repeated ids
/// were refused may list a channel twice: it is taken once, so such configuration
/// cannot make the trigger's decision refuse (only the trigger's own `channels` can).
fn route_of(
    state: &AppState,
    service: &ServiceName,
    mut channels: Vec<ChannelId>,
    escalation_secs: Vec<u32>,
) -> Routed {
    let (route, policy) = {
        let views = state.views.current();
        let route = views.route(service);
        let policy = route
            .as_ref()
            .and_then(|r| r.policy.as_ref())
            .and_then(|id| views.policy(id));
        (route, policy)
    };
    for channel in route.as_ref().map_or(&[][..], |r| r.channels.as_slice()) {
        if !channels.contains(channel) {
            channels.push(channel.clone());
        }
    }
    match policy {
        Some(policy) if escalation_secs.is_empty() => Routed {
            channels,
            escalation_secs: policy.steps.iter().map(|s| s.delay_secs).collect(),
            escalation_channels: policy
                .steps
                .iter()
                .map(|s| once_each(&s.channels))
                .collect(),
            escalation_repeat: policy.repeat,
        },
        _ => Routed {
            channels,
            escalation_secs,
            escalation_channels: Vec::new(),
            escalation_repeat: 0,
        },
    }
}

/// `ids` without the entries that repeat an earlier one, in order.
fn once_each(ids: &[ChannelId]) -> Vec<ChannelId> {
    let mut unique: Vec<ChannelId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(id) {
            unique.push(id.clone());
        }
    }
    unique
}

/// The series state as the views see it: an open alert whose resource the views show
/// deleted is resolved (that deletion lives in another stream than the series).
pub fn with_deletions(state: &AppState, series: &SeriesState) -> SeriesState {
    let mut adjusted = series.clone();
    let resource = series.open.as_ref().and_then(|open| open.resource.clone());
    if let Some(sync_id) = resource {
        let deleted = state
            .views
            .current()
            .sync(&sync_id)
            .is_some_and(|s| s.deleted);
        if deleted {
            adjusted.resource_deleted(&sync_id);
        }
    }
    adjusted
}

/// Looks the resource up in the views once they have this instance's resource writes;
/// a resource they do not know yet (registered through another instance a moment ago)
/// is looked up again after the views caught up with the whole log.
async fn resource_check(state: &AppState, sync_id: SyncId) -> Result<ResourceCheck, ApiError> {
    state.wait_for_mark(&state.marks.syncs).await?;
    let lookup = |sync_id: SyncId| {
        let sync = state.views.current().sync(&sync_id);
        match sync {
            None => ResourceCheck::Unknown(sync_id),
            Some(sync) if sync.deleted => ResourceCheck::Deleted(sync_id),
            Some(_) => ResourceCheck::Active(sync_id),
        }
    };
    match lookup(sync_id) {
        ResourceCheck::Unknown(sync_id) => {
            state.sync_views().await?;
            Ok(lookup(sync_id))
        }
        known => Ok(known),
    }
}

/// Maps an id parse error onto the field it came from.
pub fn parse_id<T>(field: &str, parsed: Result<T, IdError>) -> Result<T, ApiError> {
    parsed.map_err(|err| ApiError::field(field, err.to_string()))
}

/// Text that must be non-blank and at most `max` characters.
pub fn bounded_text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    if raw.trim().is_empty() {
        return Err(ApiError::field(field, "must not be empty"));
    }
    if raw.chars().count() > max {
        return Err(ApiError::field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(raw.to_owned())
}

fn validate_details(
    details: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if details.len() > MAX_DETAILS {
        return Err(ApiError::field("details", "at most 64 entries"));
    }
    for (key, value) in &details {
        if key.is_empty() || key.chars().count() > MAX_DETAIL_KEY_CHARS {
            return Err(ApiError::field(
                "details",
                "keys must be 1 to 128 characters",
            ));
        }
        if value.chars().count() > MAX_DETAIL_VALUE_CHARS {
            return Err(ApiError::field(
                format!("details.{key}"),
                "must be at most 4096 characters",
            ));
        }
    }
    Ok(details)
}
