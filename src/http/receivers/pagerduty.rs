//! `POST /v2/enqueue`: PagerDuty Events API v2. No bearer token: the body's
//! `routing_key` must be a configured `pagerduty` integration key, and names the
//! service.
//!
//! Answers use PagerDuty's own shapes, because PagerDuty clients decode them: 202
//! `{"status":"success","message":"Event processed","dedup_key":"…"}`, and errors
//! `{"status":"invalid event","message":"Event object is invalid","errors":[…]}`
//! with 400 (an unknown routing key is a 400 too, as at PagerDuty). This route is the
//! one deliberate exception to problem+json (see `docs/receivers.md`): a problem
//! document's integer `status` would break clients that decode PagerDuty's string.

use super::keys::{Integration, IntegrationKeys};
use super::{key_metadata, Details};
use crate::app::alerts::OpenAction;
use crate::app::limits::SUMMARY_CHARS;
use crate::app::trigger::{validate, TriggerRequest, ValidTrigger};
use crate::app::AppError;
use crate::http::error::ApiError;
use crate::http::HttpState;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::{DedupKey, ServiceName};
use projections::{Position, ResolvedBy, Severity};
use serde_json::{json, Map, Value};

/// The route's path.
pub const PATH: &str = "/v2/enqueue";

/// A PagerDuty-shaped error answer.
#[derive(Debug)]
pub struct PdError {
    status: StatusCode,
    kind: &'static str,
    message: &'static str,
    errors: Vec<String>,
}

impl PdError {
    fn invalid(errors: Vec<String>) -> PdError {
        PdError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid event",
            message: "Event object is invalid",
            errors,
        }
    }

    fn too_large(limit: usize) -> PdError {
        PdError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "invalid event",
            message: "Event object is too large",
            errors: vec![format!("the body must be at most {limit} bytes")],
        }
    }

    fn unavailable(detail: &str) -> PdError {
        PdError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "error",
            message: "Event not processed; retry later",
            errors: vec![detail.to_owned()],
        }
    }
}

impl IntoResponse for PdError {
    fn into_response(self) -> Response {
        let body = json!({ "status": self.kind, "message": self.message, "errors": self.errors });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            StatusCode::REQUEST_TIMEOUT => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// Maps a failure of the shared write path, or of the layers in front of the route
/// (`Idempotency-Key`, body limits), onto PagerDuty's shapes: validation → 400, a
/// reused `Idempotency-Key` → 422, too large → 413, too slow → 408, transient → 503
/// (PagerDuty clients retry 5xx), anything else → 500 (logged).
impl From<AppError> for PdError {
    fn from(err: AppError) -> PdError {
        ApiError::from(err).into()
    }
}

impl From<ApiError> for PdError {
    fn from(err: ApiError) -> PdError {
        match err {
            ApiError::Validation { field, message } => {
                PdError::invalid(vec![format!("'{field}' {message}")])
            }
            ApiError::Rejected(rejection) if rejection.field().is_some() => {
                PdError::invalid(vec![rejection.to_string()])
            }
            ApiError::IdempotencyKeyReused => PdError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                kind: "invalid event",
                message: "Idempotency-Key was already used for a different event",
                errors: vec![err.to_string()],
            },
            ApiError::PayloadTooLarge { limit } => PdError::too_large(limit),
            ApiError::RequestTimeout => PdError {
                status: StatusCode::REQUEST_TIMEOUT,
                kind: "error",
                message: "Event not received in time; retry",
                errors: vec![err.to_string()],
            },
            ApiError::Unavailable | ApiError::NotCaughtUp { .. } | ApiError::Conflict => {
                PdError::unavailable(&err.to_string())
            }
            other => {
                tracing::error!(error = %other, "pagerduty event failed");
                PdError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    kind: "error",
                    message: "Internal error; it has been logged",
                    errors: Vec::new(),
                }
            }
        }
    }
}

/// A mapped event, its trigger not yet validated.
enum Draft {
    Trigger(TriggerRequest),
    Act(OpenAction),
}

/// What a validated event does.
#[derive(Debug)]
pub enum Planned {
    /// Trigger (validated as the native API validates a trigger).
    Trigger(ValidTrigger),
    /// Acknowledge or resolve the open alert of the event's dedup key.
    Act(OpenAction),
}

/// A validated event: everything `POST /v2/enqueue` decides before it touches the
/// store.
#[derive(Debug)]
pub struct PlannedEvent {
    /// The routing key's service.
    pub service: ServiceName,
    /// The dedup key the answer returns (given, or generated for a trigger).
    pub dedup_key: DedupKey,
    /// What to do.
    pub planned: Planned,
}

/// Parses, authorises (`keys` maps the routing key to its service) and validates an
/// event body, exactly as the route does before it touches the store. Pure and
/// synchronous; the fuzz target `ingest_pagerduty` feeds it arbitrary bytes.
pub fn parse_event(bytes: &[u8], keys: &IntegrationKeys) -> Result<PlannedEvent, PdError> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|err| PdError::invalid(vec![format!("body is not valid JSON: {err}")]))?;
    let Value::Object(event) = body else {
        return Err(PdError::invalid(vec!["body must be a JSON object".into()]));
    };
    let service = authorize(keys, &event)?;
    let mut errors = Vec::new();
    let planned = plan(&event, &service, &mut errors);
    let (planned, dedup_key) = match planned {
        Some(planned) if errors.is_empty() => planned,
        _ => return Err(PdError::invalid(errors)),
    };
    let planned = match planned {
        Draft::Trigger(request) => Planned::Trigger(validate(request)?),
        Draft::Act(action) => Planned::Act(action),
    };
    Ok(PlannedEvent {
        service,
        dedup_key,
        planned,
    })
}

/// `POST /v2/enqueue`.
#[tracing::instrument(skip_all, fields(action))]
pub async fn enqueue(State(state): State<HttpState>, request: Request) -> Response {
    match handle(&state, request).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn handle(state: &HttpState, request: Request) -> Result<Response, PdError> {
    let limit = state.settings.body_limit;
    let bytes = to_bytes(request.into_body(), limit).await.map_err(|err| {
        if crate::http::serve::is_body_timeout(&err) {
            PdError::from(ApiError::RequestTimeout)
        } else {
            PdError::too_large(limit)
        }
    })?;
    let PlannedEvent {
        service,
        dedup_key,
        planned,
    } = parse_event(&bytes, &state.integrations)?;
    let metadata = key_metadata(Integration::PagerDuty, &service);
    let position = match planned {
        Planned::Trigger(trigger) => {
            tracing::Span::current().record("action", "trigger");
            state.app.trigger_valid(trigger, metadata).await?.position
        }
        Planned::Act(action) => {
            tracing::Span::current().record("action", format!("{action:?}"));
            state
                .app
                .act_on_open(&service, &dedup_key, action, metadata)
                .await?
                .position
        }
    };
    Ok(accepted(&dedup_key, position))
}

/// The service of the body's routing key; PagerDuty answers an unknown key with 400.
fn authorize(keys: &IntegrationKeys, event: &Map<String, Value>) -> Result<ServiceName, PdError> {
    let key = match event.get("routing_key") {
        Some(Value::String(key)) if !key.trim().is_empty() => key,
        _ => {
            let missing = "'routing_key' is missing or blank".to_owned();
            return Err(PdError::invalid(vec![missing]));
        }
    };
    keys.lookup(Integration::PagerDuty, key)
        .cloned()
        .ok_or_else(|| PdError::invalid(vec!["Invalid routing key".into()]))
}

/// Validates every field, collecting one message per problem (as PagerDuty does).
/// `None` only when a message was collected.
fn plan(
    event: &Map<String, Value>,
    service: &ServiceName,
    errors: &mut Vec<String>,
) -> Option<(Draft, DedupKey)> {
    let action = field(event, "event_action", "event_action", errors);
    let given = field(event, "dedup_key", "dedup_key", errors);
    let given_key = given.as_deref().and_then(|raw| {
        DedupKey::parse(raw)
            .map_err(|err| errors.push(format!("'dedup_key' {err}")))
            .ok()
    });
    match action.as_deref() {
        Some("trigger") => {
            // PagerDuty generates a key for a trigger without one, and returns it.
            let key = match given {
                Some(_) => given_key,
                None => Some(generated_key()),
            };
            let request = trigger_request(event, service, key.as_ref(), errors)?;
            Some((Draft::Trigger(request), key?))
        }
        Some(verb @ ("acknowledge" | "resolve")) => {
            if given.is_none() {
                errors.push(format!("'dedup_key' is required for {verb}"));
            }
            let action = match verb {
                "acknowledge" => OpenAction::Acknowledge,
                _ => OpenAction::Resolve(ResolvedBy::Source),
            };
            Some((Draft::Act(action), given_key?))
        }
        Some(_) => {
            errors.push("'event_action' must be trigger, acknowledge or resolve".into());
            None
        }
        None => {
            errors.push("'event_action' is missing or blank".into());
            None
        }
    }
}

/// A fresh key like PagerDuty's: 32 hex digits.
fn generated_key() -> DedupKey {
    DedupKey::parse(&uuid::Uuid::new_v4().simple().to_string())
        .expect("32 hex digits are a valid dedup key")
}

fn trigger_request(
    event: &Map<String, Value>,
    service: &ServiceName,
    dedup_key: Option<&DedupKey>,
    errors: &mut Vec<String>,
) -> Option<TriggerRequest> {
    let Some(Value::Object(payload)) = event.get("payload") else {
        errors.push("'payload' is missing or not an object".into());
        return None;
    };
    let summary = required(payload, "summary", errors);
    if summary
        .as_ref()
        .is_some_and(|s| s.chars().count() > SUMMARY_CHARS)
    {
        errors.push(format!(
            "'payload.summary' must be at most {SUMMARY_CHARS} characters"
        ));
    }
    let source = required(payload, "source", errors);
    let severity = required(payload, "severity", errors).and_then(|raw| {
        let parsed = Severity::parse(&raw);
        if parsed.is_none() {
            errors.push("'payload.severity' must be critical, error, warning or info".into());
        }
        parsed
    });
    let details = details_of(event, payload, source.as_deref(), errors);
    Some(TriggerRequest {
        service: service.as_str().to_owned(),
        dedup_key: Some(dedup_key?.as_str().to_owned()),
        summary: summary?,
        severity: severity?.as_str().to_owned(),
        details,
        resource: None,
        channels: Vec::new(),
        escalation_secs: Vec::new(),
    })
}

fn details_of(
    event: &Map<String, Value>,
    payload: &Map<String, Value>,
    source: Option<&str>,
    errors: &mut Vec<String>,
) -> std::collections::BTreeMap<String, String> {
    let mut details = Details::default();
    details.add_opt("source", source);
    for name in ["component", "group", "class", "timestamp"] {
        let value = field(payload, name, &format!("payload.{name}"), errors);
        details.add_opt(name, value.as_deref());
    }
    for name in ["client", "client_url"] {
        details.add_opt(name, field(event, name, name, errors).as_deref());
    }
    match payload.get("custom_details") {
        Some(Value::Object(custom)) => {
            for (key, value) in custom {
                details.add_json(&format!("custom_details.{key}"), value);
            }
        }
        Some(other) => details.add_json("custom_details", other),
        None => {}
    }
    for (list, field) in [("links", "href"), ("images", "src")] {
        match event.get(list) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item.get(field) {
                        Some(Value::String(url)) => details.add(format!("{list}[{i}]"), url),
                        _ => {
                            errors.push(format!("'{list}[{i}].{field}' is missing or not a string"))
                        }
                    }
                }
            }
            Some(_) => errors.push(format!("'{list}' must be an array")),
        }
    }
    details.finish()
}

/// An optional string field (blank counts as absent); a present non-string is an
/// error naming `path`.
fn field(
    object: &Map<String, Value>,
    name: &str,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    match object.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(value)) if value.trim().is_empty() => None,
        Some(Value::String(value)) => Some(value.clone()),
        Some(_) => {
            errors.push(format!("'{path}' must be a string"));
            None
        }
    }
}

/// A required string of `payload`.
fn required(payload: &Map<String, Value>, name: &str, errors: &mut Vec<String>) -> Option<String> {
    let path = format!("payload.{name}");
    let before = errors.len();
    let value = field(payload, name, &path, errors);
    if value.is_none() && errors.len() == before {
        errors.push(format!("'{path}' is missing or blank"));
    }
    value
}

/// The 202 answer PagerDuty gives, plus the ledger position header.
fn accepted(dedup_key: &DedupKey, position: Position) -> Response {
    let body = json!({ "status": "success", "message": "Event processed", "dedup_key": dedup_key.as_str() });
    (
        StatusCode::ACCEPTED,
        crate::http::reads::position_header(position),
        Json(body),
    )
        .into_response()
}

/// JSON Schema of the request body, for the OpenAPI document. Written here, beside
/// the field-by-field parser it describes (PagerDuty's clients expect every problem
/// listed at once, which a derived parser would not do); its limits are the ones the
/// parser and the trigger's checks read.
pub fn schema() -> Value {
    let text = json!({ "type": "string", "minLength": 1 });
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    json!({
        "type": "object",
        "required": ["routing_key", "event_action"],
        "properties": {
            "routing_key": text,
            "event_action": { "enum": ["trigger", "acknowledge", "resolve"] },
            "dedup_key": { "type": "string", "minLength": 1, "maxLength": DedupKey::MAX_LEN },
            "payload": {
                "type": "object",
                "required": ["summary", "source", "severity"],
                "properties": {
                    "summary": { "type": "string", "minLength": 1, "maxLength": SUMMARY_CHARS },
                    "source": text,
                    "severity": { "enum": severities },
                    "timestamp": { "type": "string" },
                    "component": { "type": "string" },
                    "group": { "type": "string" },
                    "class": { "type": "string" },
                    "custom_details": {}
                }
            },
            "images": { "type": "array", "items": { "type": "object", "required": ["src"] } },
            "links": { "type": "array", "items": { "type": "object", "required": ["href"] } },
            "client": { "type": "string" },
            "client_url": { "type": "string" }
        }
    })
}

/// JSON Schema of the 202 answer.
pub fn accepted_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status", "message", "dedup_key"],
        "properties": {
            "status": { "const": "success" },
            "message": { "const": "Event processed" },
            "dedup_key": { "type": "string" }
        }
    })
}

/// JSON Schema of PagerDuty's error answer.
pub fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["status", "message", "errors"],
        "properties": {
            "status": { "type": "string" },
            "message": { "type": "string" },
            "errors": { "type": "array", "items": { "type": "string" } }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> IntegrationKeys {
        IntegrationKeys::parse("pagerduty routing-key-0123456789 payments\n").unwrap()
    }

    #[test]
    fn a_valid_trigger_is_planned_with_the_dedup_key_it_answers() {
        let body = br#"{"routing_key":"routing-key-0123456789","event_action":"trigger","dedup_key":"srv01/HTTP","payload":{"summary":"down","source":"srv01","severity":"error"}}"#;
        let event = parse_event(body, &keys()).unwrap();
        assert_eq!(event.service.as_str(), "payments");
        assert_eq!(event.dedup_key.as_str(), "srv01/HTTP");
        let Planned::Trigger(trigger) = event.planned else {
            panic!("a trigger event plans a trigger");
        };
        assert_eq!(trigger.summary, "down");
        assert_eq!(trigger.details["source"], "srv01");
    }

    #[test]
    fn an_unknown_routing_key_is_refused_before_the_fields_are_checked() {
        let body = br#"{"routing_key":"not-a-configured-key","event_action":"bogus"}"#;
        let refused = parse_event(body, &keys()).unwrap_err();
        assert_eq!(refused.errors, vec!["Invalid routing key".to_owned()]);
    }
}
