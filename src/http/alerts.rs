//! Alert routes: trigger (with dedup), acknowledge, resolve, escalate, notes, the
//! status view and an alert's history (its log).

use super::error::ApiError;
use super::extract::{parse_json, MaybeJson, QueryParams, ValidJson};
use super::reads::{position_header, read_views};
use super::{api_metadata, HttpState, ReaderAuth, WriterAuth};
use crate::app::limits::{self, schema};
use crate::app::trigger::{validate, TriggerRequest, ValidTrigger};
use crate::app::Written;
use crate::projection::queries::AlertFilter;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::AlertId;
use projections::views::AlertStatus;
use projections::{Position, RecordedEvent, ResolvedBy, Severity};
use serde::{Deserialize, Serialize};

/// What a command on an alert returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct AlertCommandResponse {
    /// The alert the command acted on.
    pub alert_id: AlertId,
    /// `true` when the trigger was recorded as a repeat on an open alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deduplicated: Option<bool>,
    /// `false` when the command changed nothing (e.g. a second acknowledge).
    pub changed: bool,
    /// Log position of the write (or of the head when nothing was written): pass it as
    /// `min_position` to read your own write.
    pub position: Position,
}

/// What `POST /v1/alerts` does with its body before it touches the store or the
/// views: [`parse_json`] (which its `ValidJson` extractor runs once the content type
/// is JSON) and [`validate`] (which [`App::trigger`](crate::app::App::trigger) runs).
/// Pure and synchronous; the fuzz target `ingest_native` feeds it arbitrary bytes.
pub fn parse_trigger(bytes: &[u8]) -> Result<ValidTrigger, ApiError> {
    Ok(validate(parse_json(bytes)?)?)
}

/// `POST /v1/alerts`: 201 with a new alert, 200 when recorded as a repeat.
pub async fn trigger(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<TriggerRequest>,
) -> Result<Response, ApiError> {
    let triggered = state.app.trigger(body, api_metadata(&principal)).await?;
    let status = if triggered.deduplicated {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = AlertCommandResponse {
        alert_id: triggered.alert_id,
        deduplicated: Some(triggered.deduplicated),
        changed: true,
        position: triggered.position,
    };
    Ok((status, position_header(body.position), Json(body)).into_response())
}

/// Optional body of acknowledge and escalate: an object without fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// Optional body of resolve.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Who resolved it: `person` (default) or `source`.
    #[serde(default)]
    #[schema(schema_with = schema::resolved_by)]
    pub resolved_by: Option<String>,
}

/// Body of `POST /v1/alerts/{id}/notes`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note, 1 to 10,000 characters.
    #[schema(schema_with = schema::text::<{ limits::NOTE_CHARS }>)]
    pub text: String,
}

/// `POST /v1/alerts/{id}/acknowledge`.
pub async fn acknowledge(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    MaybeJson(_body): MaybeJson<NoFields>,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let written = state
        .app
        .acknowledge(alert_id, api_metadata(&principal))
        .await?;
    Ok(answer(alert_id, written))
}

/// `POST /v1/alerts/{id}/resolve`.
pub async fn resolve(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    MaybeJson(body): MaybeJson<ResolveBody>,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let resolved_by = match body.and_then(|b| b.resolved_by).as_deref() {
        None | Some("person") => ResolvedBy::Person,
        Some("source") => ResolvedBy::Source,
        Some(_) => return Err(ApiError::field("resolved_by", "must be person or source")),
    };
    let metadata = api_metadata(&principal);
    let written = state.app.resolve(alert_id, resolved_by, metadata).await?;
    Ok(answer(alert_id, written))
}

/// `POST /v1/alerts/{id}/escalate`.
pub async fn escalate(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    MaybeJson(_body): MaybeJson<NoFields>,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let written = state
        .app
        .escalate(alert_id, api_metadata(&principal))
        .await?;
    Ok(answer(alert_id, written))
}

/// `POST /v1/alerts/{id}/notes`.
pub async fn add_note(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<NoteBody>,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let metadata = api_metadata(&principal);
    let written = state.app.add_note(alert_id, &body.text, metadata).await?;
    Ok(answer(alert_id, written))
}

/// The answer to a lifecycle command.
fn answer(alert_id: AlertId, written: Written) -> Response {
    let body = AlertCommandResponse {
        alert_id,
        deduplicated: None,
        changed: written.changed,
        position: written.position,
    };
    (position_header(written.position), Json(body)).into_response()
}

/// Parses an alert id from the path.
pub fn parse_alert_id(raw: &str) -> Result<AlertId, ApiError> {
    AlertId::parse(raw).map_err(|_| ApiError::field("path.id", "must be a UUID"))
}

/// `GET /v1/alerts`: filters `status`, `service`, `resource`, `severity`, `since`,
/// `until` (opened in that time range), `q` (full text over summary and details, not
/// with `as_of`); `limit`, `cursor`; `min_position` or `as_of`. Newest first; the
/// cursor is stable under new writes.
pub async fn list(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let allowed = [
        "status",
        "service",
        "resource",
        "severity",
        "since",
        "until",
        "q",
        "limit",
        "cursor",
        "min_position",
        "as_of",
    ];
    let params = QueryParams::parse(query.as_deref(), &allowed)?;
    let time = |name: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
        params
            .get(name)
            .map(|raw| {
                chrono::DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::field(format!("query.{name}"), "must be an RFC 3339 time")
                    })
            })
            .transpose()
    };
    let since = time("since")?;
    let until = time("until")?;
    let query_text = match params.get("q") {
        None => None,
        Some(raw) if params.get("as_of").is_some() => {
            let _ = raw;
            return Err(ApiError::field(
                "query.q",
                "cannot be combined with as_of: full-text search covers the current text of alerts",
            ));
        }
        Some(raw) => Some(search_query(raw)?),
    };
    let status = match params.get("status") {
        None => None,
        Some(raw) => Some(parse_status(raw)?),
    };
    let severity = parse_severity(params.get("severity"))?;
    let cursor = params.parse_opt::<Position>("cursor", "a cursor from a previous page")?;
    let limit = params.limit(1000)?;
    let filter = AlertFilter {
        status,
        severity,
        service: params.get("service").map(str::to_owned),
        resource: params.get("resource").map(str::to_owned),
        since,
        until,
        query: query_text,
    };
    read_views(&state, &params, move |views| {
        Ok(views.alerts(&filter, cursor, limit))
    })
    .await
}

/// `q` as a full-text query every alert must match: each word quoted (so no input is
/// FTS5 syntax), all of them required; a trailing `*` keeps a word a prefix. Text
/// without a word (only spaces or punctuation) matches no alert: `""`.
fn search_query(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > 256 {
        return Err(ApiError::field("query.q", "must be at most 256 characters"));
    }
    let terms: Vec<String> = raw
        .split_whitespace()
        .filter_map(|word| {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(stem) => (stem, "*"),
                None => (word, ""),
            };
            word.chars()
                .any(char::is_alphanumeric)
                .then(|| format!("\"{}\"{prefix}", word.replace('"', "\"\"")))
        })
        .collect();
    Ok(terms.join(" "))
}

/// The `severity` query parameter, when given.
pub fn parse_severity(raw: Option<&str>) -> Result<Option<Severity>, ApiError> {
    raw.map(|raw| {
        Severity::parse(raw).ok_or_else(|| {
            ApiError::field("query.severity", "must be critical, error, warning or info")
        })
    })
    .transpose()
}

fn parse_status(raw: &str) -> Result<AlertStatus, ApiError> {
    match raw {
        "triggered" => Ok(AlertStatus::Triggered),
        "acknowledged" => Ok(AlertStatus::Acknowledged),
        "resolved" => Ok(AlertStatus::Resolved),
        _ => Err(ApiError::field(
            "query.status",
            "must be triggered, acknowledged or resolved",
        )),
    }
}

/// `GET /v1/alerts/{id}`.
pub async fn get_one(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let params = QueryParams::parse(query.as_deref(), &["min_position", "as_of"])?;
    read_views(&state, &params, move |views| {
        views
            .alert(alert_id)
            .ok_or_else(|| ApiError::NotFound(format!("alert {alert_id} does not exist")))
    })
    .await
}

/// An alert's log.
#[derive(Debug, Serialize)]
pub struct History {
    /// The alert.
    pub alert_id: AlertId,
    /// Every event about it, oldest first (including the resource deletion that
    /// resolved it, if one did).
    pub events: Vec<RecordedEvent>,
}

/// `GET /v1/alerts/{id}/history`: the alert's events from its series stream.
pub async fn history(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let params = QueryParams::parse(query.as_deref(), &["min_position", "as_of"])?;
    let as_of = super::reads::as_of_position(&state, &params).await?;
    super::reads::wait_for_min_position(&state, &params).await?;
    let position = as_of.unwrap_or_else(|| state.app.views.applied());
    let events = state.app.alert_history(alert_id, position).await?;
    let body = History { alert_id, events };
    Ok((position_header(position), Json(body)).into_response())
}
