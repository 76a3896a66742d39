//! `POST /v1/integrations/alertmanager`: Prometheus Alertmanager's webhook (payload
//! version 4). A writer bearer token authorises it (`http_config.authorization`).
//!
//! Every alert of the group is mapped and validated first; only when all of them are
//! valid is anything written, one alert after the other. Firing → trigger; resolved →
//! resolve the open alert of its (service, dedup key) as resolved by the source.
//! Mapping rules are in `docs/receivers.md`.

use super::{digest_key, summary_line, Details};
use crate::app::alerts::OpenAction;
use crate::app::trigger::{parse_id, validate, TriggerRequest, ValidTrigger};
use crate::app::App;
use crate::http::error::ApiError;
use crate::http::extract::{parse_json, ValidJson};
use crate::http::reads::position_header;
use crate::http::{HttpState, WriterAuth};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::{AlertId, DedupKey, ServiceName};
use projections::{Position, ResolvedBy, Severity};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most alerts accepted in one notification.
pub const MAX_ALERTS: usize = 1000;

/// The webhook body, as Alertmanager documents it. Unknown fields are ignored, so
/// newer Alertmanagers (and Grafana's compatible webhook) are accepted.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Payload version; only `"4"` is understood.
    #[schema(schema_with = schema::version)]
    pub version: String,
    /// Identifies the alert group.
    pub group_key: String,
    /// Alerts left out because of `max_alerts`.
    #[serde(default)]
    #[schema(schema_with = schema::count)]
    pub truncated_alerts: u64,
    /// `firing` or `resolved` (of the group).
    #[schema(schema_with = schema::status)]
    pub status: String,
    /// The receiver's name in Alertmanager's configuration.
    pub receiver: String,
    /// Labels the group was formed by.
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    /// Labels every alert of the group has.
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations every alert of the group has.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's own URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts.
    #[schema(schema_with = schema::alerts)]
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a notification.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    #[schema(schema_with = schema::status)]
    pub status: String,
    /// Its identifying labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339 start.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// RFC 3339 end (`0001-01-01T00:00:00Z` while firing).
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Link to the rule that produced it.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Alertmanager's hash of the labels: the alert's dedup key (no control
    /// characters); blank or absent: a hash of its labels.
    #[serde(default)]
    #[schema(schema_with = schema::fingerprint)]
    pub fingerprint: Option<String>,
}

/// The schemas of the fields whose checks say more than their types.
mod schema {
    use crate::app::limits::schema::fragment;
    use serde_json::json;
    use utoipa::openapi::{RefOr, Schema};

    pub fn version() -> RefOr<Schema> {
        fragment(json!({ "type": "string", "enum": ["4"] }))
    }

    pub fn count() -> RefOr<Schema> {
        fragment(json!({ "type": "integer", "minimum": 0, "maximum": u64::MAX }))
    }

    pub fn status() -> RefOr<Schema> {
        fragment(json!({ "type": "string", "enum": ["firing", "resolved"] }))
    }

    pub fn alerts() -> RefOr<Schema> {
        let alert = serde_json::to_value(<super::WebhookAlert as utoipa::PartialSchema>::schema())
            .unwrap_or_default();
        fragment(
            json!({ "type": "array", "minItems": 1, "maxItems": super::MAX_ALERTS, "items": alert }),
        )
    }

    pub fn fingerprint() -> RefOr<Schema> {
        fragment(json!({
            "type": ["string", "null"],
            "maxLength": projections::ids::DedupKey::MAX_LEN,
            "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
        }))
    }
}

/// What happened to one alert of the notification.
#[derive(Debug, Serialize)]
pub struct AlertOutcome {
    /// The alert's `fingerprint`, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The service it was recorded under.
    pub service: ServiceName,
    /// Its dedup key (the fingerprint, or a hash of its labels).
    pub dedup_key: DedupKey,
    /// `triggered`, `deduplicated`, `resolved` or `not_open` (resolved, but no alert
    /// was open: nothing written).
    pub action: &'static str,
    /// The ledger's alert, when there is one.
    pub alert_id: Option<AlertId>,
    /// Position of the write (or the head when nothing was written).
    pub position: Position,
}

/// The answer: one outcome per alert, in the notification's order.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// Per alert.
    pub alerts: Vec<AlertOutcome>,
    /// The last position written or seen: pass as `min_position` to read your writes.
    pub position: Position,
}

/// One validated alert, ready to run.
#[derive(Debug)]
pub enum Planned {
    /// A firing alert: trigger.
    Fire {
        /// The alert's `fingerprint`, when it had one.
        fingerprint: Option<String>,
        /// The trigger, validated as the native API validates it.
        trigger: ValidTrigger,
        /// The service it is recorded under.
        service: ServiceName,
        /// Its dedup key.
        dedup_key: DedupKey,
    },
    /// A resolved alert: resolve the open alert of (service, dedup key), if any.
    Resolve {
        /// The alert's `fingerprint`, when it had one.
        fingerprint: Option<String>,
        /// The service.
        service: ServiceName,
        /// The dedup key.
        dedup_key: DedupKey,
    },
}

/// What the route does with a body before it touches the store: [`parse_json`]
/// (which its `ValidJson` extractor runs once the content type is JSON) and
/// [`plan`] (which the handler runs). Pure and synchronous; the fuzz target
/// `ingest_alertmanager` feeds it arbitrary bytes.
pub fn parse_request(bytes: &[u8]) -> Result<Vec<Planned>, ApiError> {
    plan(&parse_json(bytes)?)
}

/// `POST /v1/integrations/alertmanager`.
#[tracing::instrument(skip_all, fields(alerts))]
pub async fn receive(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(notification): ValidJson<Notification>,
) -> Result<Response, ApiError> {
    let planned = plan(&notification)?;
    tracing::Span::current().record("alerts", planned.len());
    let metadata = App::metadata(&principal.name, "alertmanager");
    let mut outcomes = Vec::with_capacity(planned.len());
    let mut last = state.app.views.applied();
    for item in planned {
        let outcome = run(&state, item, metadata.clone()).await?;
        last = last.max(outcome.position);
        outcomes.push(outcome);
    }
    let answer = Answer {
        alerts: outcomes,
        position: last,
    };
    Ok((position_header(last), Json(answer)).into_response())
}

async fn run(
    state: &HttpState,
    item: Planned,
    metadata: projections::Metadata,
) -> Result<AlertOutcome, ApiError> {
    match item {
        Planned::Fire {
            fingerprint,
            trigger,
            service,
            dedup_key,
        } => {
            let triggered = state.app.trigger_valid(trigger, metadata).await?;
            Ok(AlertOutcome {
                fingerprint,
                service,
                dedup_key,
                action: if triggered.deduplicated {
                    "deduplicated"
                } else {
                    "triggered"
                },
                alert_id: Some(triggered.alert_id),
                position: triggered.position,
            })
        }
        Planned::Resolve {
            fingerprint,
            service,
            dedup_key,
        } => {
            let action = OpenAction::Resolve(ResolvedBy::Source);
            let acted = state
                .app
                .act_on_open(&service, &dedup_key, action, metadata)
                .await?;
            Ok(AlertOutcome {
                fingerprint,
                service,
                dedup_key,
                action: if acted.changed {
                    "resolved"
                } else {
                    "not_open"
                },
                alert_id: acted.alert_id,
                position: acted.position,
            })
        }
    }
}

/// Validates the whole notification and maps every alert, writing nothing: every
/// firing alert's trigger is validated here, so one invalid alert fails the whole
/// notification before any alert of it is written.
pub fn plan(notification: &Notification) -> Result<Vec<Planned>, ApiError> {
    if notification.version != "4" {
        return Err(ApiError::field("version", "must be \"4\""));
    }
    if !matches!(notification.status.as_str(), "firing" | "resolved") {
        return Err(ApiError::field("status", "must be firing or resolved"));
    }
    if notification.alerts.is_empty() {
        return Err(ApiError::field("alerts", "must hold at least one alert"));
    }
    if notification.alerts.len() > MAX_ALERTS {
        return Err(ApiError::field(
            "alerts",
            format!("at most {MAX_ALERTS} alerts per notification"),
        ));
    }
    notification
        .alerts
        .iter()
        .enumerate()
        .map(|(i, alert)| plan_alert(notification, alert, &format!("alerts[{i}]")))
        .collect()
}

fn plan_alert(
    notification: &Notification,
    alert: &WebhookAlert,
    at: &str,
) -> Result<Planned, ApiError> {
    let (service_field, service_raw) = service_source(notification, alert, at);
    let service = ServiceName::parse(service_raw).map_err(|err| {
        ApiError::field(
            service_field,
            format!("{err} (it names the service: set a `service` label that does)"),
        )
    })?;
    let fingerprint = alert
        .fingerprint
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    let dedup_raw = match fingerprint {
        Some(fingerprint) => fingerprint.to_owned(),
        None => labels_key(&alert.labels),
    };
    let dedup_key = parse_id(&format!("{at}.fingerprint"), DedupKey::parse(&dedup_raw))?;
    let fingerprint = fingerprint.map(str::to_owned);
    match alert.status.as_str() {
        "resolved" => Ok(Planned::Resolve {
            fingerprint,
            service,
            dedup_key,
        }),
        "firing" => {
            let summary = summary_of(alert).ok_or_else(|| {
                ApiError::field(
                    format!("{at}.annotations.summary"),
                    "needs an annotation summary or description, or a label alertname",
                )
            })?;
            let trigger = validate(TriggerRequest {
                service: service.as_str().to_owned(),
                dedup_key: Some(dedup_key.as_str().to_owned()),
                summary,
                severity: severity_of(&alert.labels).as_str().to_owned(),
                details: details_of(notification, alert),
                resource: None,
                channels: Vec::new(),
                escalation_secs: Vec::new(),
            })?;
            Ok(Planned::Fire {
                fingerprint,
                trigger,
                service,
                dedup_key,
            })
        }
        _ => Err(ApiError::field(
            format!("{at}.status"),
            "must be firing or resolved",
        )),
    }
}

/// Where the service name comes from: label `service`, else `job`, else the receiver.
fn service_source<'a>(
    notification: &'a Notification,
    alert: &'a WebhookAlert,
    at: &str,
) -> (String, &'a str) {
    for label in ["service", "job"] {
        if let Some(value) = alert.labels.get(label).filter(|v| !v.trim().is_empty()) {
            return (format!("{at}.labels.{label}"), value);
        }
    }
    ("receiver".to_owned(), &notification.receiver)
}

/// A dedup key for an alert without a fingerprint: a hash of its sorted labels.
fn labels_key(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<&str> = labels
        .iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()])
        .collect();
    format!("labels:{}", digest_key(&parts))
}

/// The first of annotation `summary`, annotation `description` and label `alertname`
/// that gives a summary line that is not blank once control characters are blanked
/// (a summary of only control characters would fail the trigger's validation).
fn summary_of(alert: &WebhookAlert) -> Option<String> {
    let line = |value: Option<&String>| {
        value
            .and_then(|v| summary_line(v))
            .filter(|line| !line.trim().is_empty())
    };
    line(alert.annotations.get("summary"))
        .or_else(|| line(alert.annotations.get("description")))
        .or_else(|| line(alert.labels.get("alertname")))
}

/// The `severity` label mapped onto the ledger's four severities; unknown → warning.
pub fn severity_of(labels: &BTreeMap<String, String>) -> Severity {
    let Some(raw) = labels.get("severity") else {
        return Severity::Warning;
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "fatal" | "emergency" | "alert" | "page" | "p1" | "sev1" => {
            Severity::Critical
        }
        "error" | "err" | "high" | "major" | "p2" | "sev2" => Severity::Error,
        "info" | "informational" | "notice" | "low" | "minor" | "none" | "debug" | "p4" | "p5"
        | "sev4" | "sev5" => Severity::Info,
        _ => Severity::Warning,
    }
}

fn details_of(notification: &Notification, alert: &WebhookAlert) -> BTreeMap<String, String> {
    let mut details = Details::default();
    for (name, value) in &alert.labels {
        details.add(format!("labels.{name}"), value);
    }
    for (name, value) in &alert.annotations {
        details.add(format!("annotations.{name}"), value);
    }
    details.add_opt("generatorURL", alert.generator_url.as_deref());
    details.add_opt("startsAt", alert.starts_at.as_deref());
    details.add_opt("externalURL", Some(&notification.external_url));
    details.add_opt("receiver", Some(&notification.receiver));
    details.add_opt("groupKey", Some(&notification.group_key));
    details.finish()
}

/// JSON Schema of the 200 answer.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "required": ["alerts", "position"],
        "properties": {
            "position": { "type": "integer" },
            "alerts": { "type": "array", "items": {
                "type": "object",
                "required": ["service", "dedup_key", "action", "alert_id", "position"],
                "properties": {
                    "fingerprint": { "type": "string" },
                    "service": { "type": "string" },
                    "dedup_key": { "type": "string" },
                    "action": { "enum": ["triggered", "deduplicated", "resolved", "not_open"] },
                    "alert_id": { "type": ["string", "null"], "format": "uuid" },
                    "position": { "type": "integer" }
                }
            } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn severity_labels_map_onto_four_severities() {
        for (label, expected) in [
            ("critical", Severity::Critical),
            ("PAGE", Severity::Critical),
            ("error", Severity::Error),
            ("high", Severity::Error),
            ("warning", Severity::Warning),
            ("info", Severity::Info),
            ("none", Severity::Info),
            ("whatever", Severity::Warning),
        ] {
            assert_eq!(
                severity_of(&labels(&[("severity", label)])),
                expected,
                "{label}"
            );
        }
        assert_eq!(severity_of(&labels(&[])), Severity::Warning);
    }

    #[test]
    fn a_summary_of_control_characters_falls_back_to_the_description() {
        let body = br#"{"version":"4","groupKey":"g","status":"firing","receiver":"storage",
            "alerts":[{"status":"firing","labels":{"alertname":"DiskFull"},
            "annotations":{"summary":"\u0001\u0002","description":"Disk 95% full"}}]}"#;
        let planned = parse_request(body).unwrap();
        let [Planned::Fire { trigger, .. }] = planned.as_slice() else {
            panic!("one firing alert plans one trigger");
        };
        assert_eq!(trigger.summary, "Disk 95% full");
    }

    #[test]
    fn the_labels_key_ignores_label_order_but_not_values() {
        let a = labels_key(&labels(&[("a", "1"), ("b", "2")]));
        let b = labels_key(&labels(&[("b", "2"), ("a", "1")]));
        let c = labels_key(&labels(&[("a", "1"), ("b", "3")]));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
