//! Alert routes: trigger (with dedup), acknowledge, resolve, escalate, notes, the
//! status view and an alert's history (its log).

use super::error::ApiError;
use super::extract::{parse_json, MaybeJson, ValidJson};
use super::query::{self, ViewAt};
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
use utoipa::IntoParams;

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

/// `GET /v1/alerts`'s filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertsQuery {
    /// Only alerts in this status
    #[param(value_type = Option<query::schema::Status>, inline)]
    status: Option<AlertStatus>,
    /// Only this service's alerts
    service: Option<String>,
    /// Only alerts owned by this resource
    resource: Option<String>,
    /// Only alerts of this severity
    #[param(value_type = Option<query::schema::Severity>, inline)]
    severity: Option<Severity>,
    /// Only alerts opened at or after this RFC 3339 time
    #[param(value_type = Option<query::schema::Time>, inline)]
    since: Option<String>,
    /// Only alerts opened before this RFC 3339 time
    #[param(value_type = Option<query::schema::Time>, inline)]
    until: Option<String>,
    /// Full-text search over summary and details: every word must match; a trailing *
    /// makes a word a prefix; words without a letter or digit are left out, and no word
    /// at all is no filter. Current text only: not with as_of (a 422 naming query.q)
    #[param(value_type = Option<query::schema::Search>, inline)]
    q: Option<String>,
    /// Page size
    #[param(value_type = Option<query::schema::Page>, inline)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page
    #[param(value_type = Option<query::schema::Position>, inline)]
    cursor: Option<Position>,
}

/// `GET /v1/alerts`: filters `status`, `service`, `resource`, `severity`, `since`,
/// `until` (opened in that time range), `q` (full text over summary and details, not
/// with `as_of`); `limit`, `cursor`; `min_position` or `as_of`. Newest first; the
/// cursor is stable under new writes.
pub async fn list(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, at): (AlertsQuery, ViewAt) = query::parse_with(raw.as_deref())?;
    let time = |name: &str, raw: Option<String>| {
        raw.map(|raw| {
            chrono::DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| ApiError::field(format!("query.{name}"), "must be an RFC 3339 time"))
        })
        .transpose()
    };
    let since = time("since", query.since)?;
    let until = time("until", query.until)?;
    let query_text = match query.q {
        None => None,
        Some(_) if at.as_of.is_some() => {
            return Err(ApiError::field(
                "query.q",
                "cannot be combined with as_of: full-text search covers the current text of alerts",
            ));
        }
        Some(raw) => Some(search_query(&raw)?),
    };
    let limit = query::limit(query.limit, limits::PAGE)?;
    let cursor = query.cursor;
    let filter = AlertFilter {
        status: query.status,
        severity: query.severity,
        service: query.service,
        resource: query.resource,
        since,
        until,
        query: query_text,
    };
    read_views(&state, &at, move |views| {
        Ok(views.alerts(&filter, cursor, limit))
    })
    .await
}

/// `q` as a full-text query every alert must match: each word quoted (so no input is
/// FTS5 syntax), all of them required; a trailing `*` keeps a word a prefix. Text
/// without a word (only spaces or punctuation) matches no alert: `""`.
pub fn search_query(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > limits::SEARCH_CHARS {
        return Err(ApiError::field(
            "query.q",
            format!("must be at most {} characters", limits::SEARCH_CHARS),
        ));
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

/// `GET /v1/alerts/{id}`.
pub async fn get_one(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let at: ViewAt = query::parse(raw.as_deref())?;
    read_views(&state, &at, move |views| {
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
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let alert_id = parse_alert_id(&id)?;
    let at: ViewAt = query::parse(raw.as_deref())?;
    let as_of = super::reads::as_of_position(&state, &at).await?;
    super::reads::wait_for_min_position(&state, &at).await?;
    let position = as_of.unwrap_or_else(|| state.app.views.applied());
    let events = state.app.alert_history(alert_id, position).await?;
    let body = History { alert_id, events };
    Ok((position_header(position), Json(body)).into_response())
}
