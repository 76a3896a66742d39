//! `POST /api/v2/generic/incoming`: GoAlert's generic incoming API. A `goalert`
//! integration key authorises the call and names the service; it may arrive as
//! `?token=`, as a `token` body field, or as `Authorization: Bearer`.
//!
//! Parameters (`summary`, `details`, `action`, `dedup`, `meta`) may be in the query
//! string or the body (JSON or a form); the body wins, as in GoAlert. `action=close`
//! resolves the open alert of the dedup key. The answer is GoAlert's: 204, or with
//! `Accept: application/json` a 200 `{"AlertID","ServiceID","IsNew"}`. Errors are
//! problem documents (GoAlert clients look only at the status).

use super::keys::{Integration, IntegrationKeys};
use super::{digest_key, key_metadata, summary_line, Details};
use crate::app::alerts::OpenAction;
use crate::app::trigger::{parse_id, validate, TriggerRequest, ValidTrigger};
use crate::http::error::ApiError;
use crate::http::extract::{decode, parse_json};
use crate::http::reads::position_header;
use crate::http::HttpState;
use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::{DedupKey, ServiceName};
use projections::{ResolvedBy, Severity};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// GoAlert's parameters; each may come from the query string or the body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The integration key.
    #[serde(default)]
    pub token: Option<String>,
    /// One line, sent as SMS and voice.
    #[serde(default)]
    pub summary: Option<String>,
    /// More text.
    #[serde(default)]
    pub details: Option<String>,
    /// `close` resolves; absent triggers.
    #[serde(default)]
    pub action: Option<String>,
    /// Calls with the same `dedup` update the same open alert.
    #[serde(default)]
    pub dedup: Option<String>,
    /// Extra key/value metadata.
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

impl Params {
    /// Parses `a=b&c=d` pairs (query string or form body); `prefix` names their origin
    /// in errors (`query`, `form`). `meta=key=value` may repeat.
    fn from_pairs(raw: &str, prefix: &str) -> Result<Params, ApiError> {
        let mut params = Params::default();
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (name, value) = (decode(name), decode(value));
            let slot =
                match name.as_str() {
                    "token" => &mut params.token,
                    "summary" => &mut params.summary,
                    "details" => &mut params.details,
                    "action" => &mut params.action,
                    "dedup" => &mut params.dedup,
                    "meta" => {
                        let (key, value) = value.split_once('=').ok_or_else(|| {
                            ApiError::field(format!("{prefix}.meta"), "must be key=value")
                        })?;
                        params.meta.insert(key.to_owned(), value.to_owned());
                        continue;
                    }
                    _ => return Err(ApiError::field(
                        format!("{prefix}.{name}"),
                        "unknown parameter; allowed: token, summary, details, action, dedup, meta",
                    )),
                };
            *slot = Some(value);
        }
        Ok(params)
    }

    /// `self` with every parameter `body` sets taken from `body`.
    fn overridden_by(mut self, body: Params) -> Params {
        let take = |ours: &mut Option<String>, theirs: Option<String>| {
            if theirs.is_some() {
                *ours = theirs;
            }
        };
        take(&mut self.token, body.token);
        take(&mut self.summary, body.summary);
        take(&mut self.details, body.details);
        take(&mut self.action, body.action);
        take(&mut self.dedup, body.dedup);
        self.meta.extend(body.meta);
        self
    }
}

/// What a validated call does.
#[derive(Debug)]
pub enum Planned {
    /// `action=close`: resolve the open alert of the dedup key, if any.
    Close,
    /// Trigger (validated as the native API validates a trigger).
    Trigger(ValidTrigger),
}

/// A validated call: everything the route decides before it touches the store.
#[derive(Debug)]
pub struct PlannedCall {
    /// The token's service.
    pub service: ServiceName,
    /// The given `dedup`, or one derived from summary and details.
    pub dedup_key: DedupKey,
    /// What to do.
    pub planned: Planned,
}

/// `POST /api/v2/generic/incoming`.
#[tracing::instrument(skip_all)]
pub async fn incoming(
    State(state): State<HttpState>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = state.settings.body_limit;
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::PayloadTooLarge { limit })?;
    let query = parts.uri.query().unwrap_or("");
    let call = parse_request(&parts.headers, query, &bytes, &state.integrations)?;
    let wants_json = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    run(&state, call, wants_json).await
}

/// Parses the raw `query` string and the body (JSON, a form, or empty, as `headers`
/// declare), authenticates (`keys` maps the token to its service) and validates the
/// call, exactly as the route does before it touches the store. Pure and
/// synchronous; the fuzz target `ingest_goalert` feeds it arbitrary input.
pub fn parse_request(
    headers: &HeaderMap,
    query: &str,
    bytes: &[u8],
    keys: &IntegrationKeys,
) -> Result<PlannedCall, ApiError> {
    let query_params = Params::from_pairs(query, "query");
    let body = parse_body(headers, bytes);
    // Authenticate before reporting anything else about the request, so the token is
    // found even in parameters that fail validation.
    let token = [
        body_token(bytes),
        pair_token(query),
        bearer(headers).map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    .next()
    .ok_or(ApiError::Unauthorized)?;
    let service = keys
        .lookup(Integration::GoAlert, &token)
        .cloned()
        .ok_or(ApiError::Unauthorized)?;
    plan(service, query_params?.overridden_by(body?))
}

/// Maps the merged parameters onto a close or a validated trigger.
fn plan(service: ServiceName, params: Params) -> Result<PlannedCall, ApiError> {
    let close = match params.action.as_deref().map(str::trim) {
        None | Some("") => false,
        Some("close") => true,
        Some(_) => return Err(ApiError::field("action", "must be close or absent")),
    };
    let summary = params.summary.as_deref().unwrap_or("");
    let details = params.details.as_deref().unwrap_or("");
    let dedup_key = match params.dedup.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(raw) => parse_id("dedup", DedupKey::parse(raw))?,
        // GoAlert's default: summary and details together.
        None if !summary.trim().is_empty() => {
            let derived = format!("goalert:{}", digest_key(&[summary, details]));
            parse_id("dedup", DedupKey::parse(&derived))?
        }
        None => return Err(ApiError::field("summary", "must not be empty")),
    };
    if close {
        return Ok(PlannedCall {
            service,
            dedup_key,
            planned: Planned::Close,
        });
    }
    let summary =
        summary_line(summary).ok_or_else(|| ApiError::field("summary", "must not be empty"))?;
    let mut entries = Details::default();
    entries.add_opt("details", Some(details));
    for (key, value) in &params.meta {
        entries.add(format!("meta.{key}"), value);
    }
    let trigger = validate(TriggerRequest {
        service: service.as_str().to_owned(),
        dedup_key: Some(dedup_key.as_str().to_owned()),
        summary,
        severity: Severity::Critical.as_str().to_owned(),
        details: entries.finish(),
        resource: None,
        channels: Vec::new(),
        escalation_secs: Vec::new(),
    })?;
    Ok(PlannedCall {
        service,
        dedup_key,
        planned: Planned::Trigger(trigger),
    })
}

async fn run(state: &HttpState, call: PlannedCall, wants_json: bool) -> Result<Response, ApiError> {
    let PlannedCall {
        service,
        dedup_key,
        planned,
    } = call;
    let metadata = key_metadata(Integration::GoAlert, &service);
    let trigger = match planned {
        Planned::Close => {
            let action = OpenAction::Resolve(ResolvedBy::Source);
            let acted = state
                .app
                .act_on_open(&service, &dedup_key, action, metadata)
                .await?;
            return Ok((StatusCode::NO_CONTENT, position_header(acted.position)).into_response());
        }
        Planned::Trigger(trigger) => trigger,
    };
    let triggered = state.app.trigger_valid(trigger, metadata).await?;
    let headers = position_header(triggered.position);
    if !wants_json {
        return Ok((StatusCode::NO_CONTENT, headers).into_response());
    }
    let body = json!({
        "AlertID": triggered.alert_id,
        "ServiceID": service.as_str(),
        "IsNew": !triggered.deduplicated,
    });
    Ok((headers, Json(body)).into_response())
}

/// The body's parameters: none (empty body), JSON, or a form.
fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Params, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Params::default());
    }
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match mime.as_str() {
        "application/json" => parse_json(bytes),
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(bytes).map_err(|_| ApiError::MalformedBody {
                field: None,
                detail: "the form is not UTF-8".into(),
            })?;
            Params::from_pairs(text.trim(), "form")
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The `token` of `a=b&c=d` pairs, however the other pairs look.
fn pair_token(raw: &str) -> Option<String> {
    raw.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| decode(name) == "token")
        .map(|(_, value)| decode(value))
}

/// The `token` of a JSON or form body, however the rest of it looks.
fn body_token(bytes: &[u8]) -> Option<String> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(body) => body.get("token")?.as_str().map(str::to_owned),
        Err(_) => pair_token(std::str::from_utf8(bytes).ok()?.trim()),
    }
}

/// `Authorization: Bearer <token>`, when there is exactly one well-formed header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// JSON Schema of the parameters (as a JSON body or a form), for the OpenAPI document.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "token": { "type": "string", "description": "The integration key (or use ?token= or Authorization: Bearer)" },
            "summary": { "type": "string", "minLength": 1, "description": "Required unless action=close with dedup" },
            "details": { "type": "string" },
            "action": { "enum": ["close"] },
            "dedup": { "type": "string", "minLength": 1, "maxLength": 255 },
            "meta": { "type": "object", "additionalProperties": { "type": "string" } }
        }
    })
}

/// The query parameters, for the OpenAPI document.
pub fn query_parameters() -> Value {
    let param = |name: &str, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": { "type": "string" }, "description": description });
    json!([
        param("token", "The integration key"),
        param("summary", "One line, sent as SMS and voice"),
        param("details", "More text"),
        param("action", "close resolves the matching open alert"),
        param(
            "dedup",
            "Same dedup, same open alert (default: summary and details)"
        ),
        param("meta", "key=value, may repeat"),
    ])
}

/// JSON Schema of the 200 answer (with `Accept: application/json`).
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "required": ["AlertID", "ServiceID", "IsNew"],
        "properties": {
            "AlertID": { "type": "string", "format": "uuid" },
            "ServiceID": { "type": "string", "description": "The service name" },
            "IsNew": { "type": "boolean", "description": "false when recorded as a repeat" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_and_meta_repeats() {
        let params =
            Params::from_pairs("summary=disk+full&dedup=d%2F1&meta=a=1&meta=b=2", "query").unwrap();
        assert_eq!(params.summary.as_deref(), Some("disk full"));
        assert_eq!(params.dedup.as_deref(), Some("d/1"));
        assert_eq!(params.meta.len(), 2);
    }

    #[test]
    fn an_unknown_parameter_is_named() {
        let err = Params::from_pairs("summary=x&sevrity=high", "form").unwrap_err();
        assert!(matches!(err, ApiError::Validation { ref field, .. } if field == "form.sevrity"));
    }

    fn keys() -> IntegrationKeys {
        IntegrationKeys::parse("goalert goalert-token-0123456789 checkout\n").unwrap()
    }

    #[test]
    fn a_form_call_with_a_bearer_token_plans_a_critical_trigger() {
        let mut headers = HeaderMap::new();
        let form = "application/x-www-form-urlencoded";
        headers.insert(header::CONTENT_TYPE, form.parse().unwrap());
        let bearer = "Bearer goalert-token-0123456789";
        headers.insert(header::AUTHORIZATION, bearer.parse().unwrap());
        let call = parse_request(&headers, "dedup=d1", b"summary=disk+full", &keys()).unwrap();
        assert_eq!(call.service.as_str(), "checkout");
        assert_eq!(call.dedup_key.as_str(), "d1");
        let Planned::Trigger(trigger) = call.planned else {
            panic!("no action plans a trigger");
        };
        assert_eq!(
            (trigger.summary.as_str(), trigger.severity),
            ("disk full", Severity::Critical)
        );
    }

    #[test]
    fn a_call_without_a_known_token_is_unauthorized_whatever_else_is_wrong() {
        let headers = HeaderMap::new();
        let err = parse_request(&headers, "bogus=1&token=nope", b"", &keys()).unwrap_err();
        assert!(matches!(err, ApiError::Unauthorized));
    }

    #[test]
    fn the_body_wins_over_the_query() {
        let query = Params::from_pairs("summary=q&details=q", "query").unwrap();
        let body = Params::from_pairs("summary=b", "form").unwrap();
        let merged = query.overridden_by(body);
        assert_eq!(merged.summary.as_deref(), Some("b"));
        assert_eq!(merged.details.as_deref(), Some("q"));
    }
}
