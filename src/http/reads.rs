//! Read routes over the views and the raw log: active alarms, outgoing messages, one
//! stream's events and pages of `$all`. Every answer carries `X-Ledger-Position`.

use super::error::ApiError;
use super::extract::QueryParams;
use super::{HttpState, ReaderAuth, POSITION_HEADER};
use crate::projection::history;
use crate::projection::queries::{AlarmFilter, MessageFilter};
use crate::projection::ViewQueries;
use crate::store::Direction;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::MessageId;
use projections::views::DeliveryState;
use projections::{Position, RecordedEvent};
use serde::Serialize;

/// The `X-Ledger-Position` header for a response.
pub fn position_header(position: Position) -> [(&'static str, String); 1] {
    [(POSITION_HEADER, position.to_string())]
}

/// Answers from the views: as they are now (after waiting for `min_position` if
/// asked), or as they were at `as_of` (a position or an RFC 3339 time). The response
/// carries the position the answer reflects.
pub async fn read_views<T: Serialize>(
    state: &HttpState,
    params: &QueryParams,
    read: impl FnOnce(&dyn ViewQueries) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    if let Some(as_of) = as_of_position(state, params).await? {
        state.app.wait_for(as_of).await?;
        let body = {
            let views = state.app.views.at(as_of);
            read(&*views)
        };
        return Ok((position_header(as_of), Json(body?)).into_response());
    }
    wait_for_min_position(state, params).await?;
    let (position, body) = {
        let views = state.app.views.current();
        (views.position(), read(&*views))
    };
    Ok((position_header(position), Json(body?)).into_response())
}

/// Waits (bounded) until the views reflect `min_position`, when given. A position
/// beyond the log's head names no write, so no wait can reach it: that is a 422 naming
/// the parameter, not a 503 asking the client to retry.
pub async fn wait_for_min_position(
    state: &HttpState,
    params: &QueryParams,
) -> Result<(), ApiError> {
    let Some(min) = params.parse_opt::<Position>("min_position", "a log position")? else {
        return Ok(());
    };
    if min > state.app.views.applied() {
        let head = state.app.store.head().await?.position;
        if min > head {
            return Err(ApiError::field(
                "query.min_position",
                format!("position {min} is beyond the log head {head}"),
            ));
        }
    }
    Ok(state.app.wait_for(min).await?)
}

/// The position `as_of` names: a position, or the last event recorded at or before an
/// RFC 3339 time. Positions beyond the log's head are refused.
pub async fn as_of_position(
    state: &HttpState,
    params: &QueryParams,
) -> Result<Option<Position>, ApiError> {
    let Some(raw) = params.get("as_of") else {
        return Ok(None);
    };
    if params.get("min_position").is_some() {
        return Err(ApiError::field(
            "query.as_of",
            "cannot be combined with min_position",
        ));
    }
    let head = state.app.store.head().await?.position;
    let position = match raw.parse::<Position>() {
        Ok(position) => position,
        Err(_) => {
            let time = chrono::DateTime::parse_from_rfc3339(raw).map_err(|_| {
                ApiError::field("query.as_of", "must be a log position or an RFC 3339 time")
            })?;
            history::position_at(state.app.store.as_ref(), time.with_timezone(&chrono::Utc)).await?
        }
    };
    if position > head {
        return Err(ApiError::field(
            "query.as_of",
            format!("position {position} is beyond the log head {head}"),
        ));
    }
    Ok(Some(position))
}

/// `GET /v1/alarms`: filters `service`, `resource`, `severity`, `acknowledged`;
/// `min_position` or `as_of`. Grouped by (resource, service), alerts inline.
pub async fn alarms(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let allowed = [
        "service",
        "resource",
        "severity",
        "acknowledged",
        "min_position",
        "as_of",
    ];
    let params = QueryParams::parse(query.as_deref(), &allowed)?;
    let filter = AlarmFilter {
        service: params.get("service").map(str::to_owned),
        resource: params.get("resource").map(str::to_owned),
        severity: super::alerts::parse_severity(params.get("severity"))?,
        acknowledged: params.parse_opt::<bool>("acknowledged", "true or false")?,
    };
    read_views(&state, &params, move |views| Ok(views.alarms(&filter))).await
}

/// `GET /v1/messages`: filters `state`, `alert_id`, `channel`; `limit`, `cursor`.
pub async fn messages(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let allowed = [
        "state",
        "alert_id",
        "channel",
        "limit",
        "cursor",
        "min_position",
        "as_of",
    ];
    let params = QueryParams::parse(query.as_deref(), &allowed)?;
    let limit = params.limit(1000)?;
    let cursor = match params.get("cursor") {
        None => None,
        Some(raw) => Some(MessageId::parse(raw).map_err(|_| {
            ApiError::field("query.cursor", "must be a cursor from a previous page")
        })?),
    };
    let alert = match params.get("alert_id") {
        None => None,
        Some(raw) => Some(
            super::alerts::parse_alert_id(raw)
                .map_err(|_| ApiError::field("query.alert_id", "must be a UUID"))?,
        ),
    };
    let wanted_state = match params.get("state") {
        None => None,
        Some(raw) => Some(parse_message_state(raw)?),
    };
    let filter = MessageFilter {
        state: wanted_state,
        alert,
        channel: params.get("channel").map(str::to_owned),
    };
    read_views(&state, &params, move |views| {
        Ok(views.messages(&filter, cursor, limit))
    })
    .await
}

/// A `state` filter: a typo would otherwise silently match no message.
fn parse_message_state(raw: &str) -> Result<DeliveryState, ApiError> {
    let states = [
        DeliveryState::Pending,
        DeliveryState::Claimed,
        DeliveryState::Delivered,
        DeliveryState::FailedWillRetry,
        DeliveryState::Abandoned,
    ];
    states
        .into_iter()
        .find(|state| state.as_str() == raw)
        .ok_or_else(|| {
            ApiError::field(
                "query.state",
                "must be pending, claimed, delivered, failed_will_retry or abandoned",
            )
        })
}

/// `GET /v1/messages/{id}`.
pub async fn message(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let message_id =
        MessageId::parse(&id).map_err(|_| ApiError::field("path.id", "must be a UUID"))?;
    let params = QueryParams::parse(query.as_deref(), &["min_position", "as_of"])?;
    read_views(&state, &params, move |views| {
        views
            .message(message_id)
            .ok_or_else(|| ApiError::NotFound(format!("message {message_id} does not exist")))
    })
    .await
}

/// The media type of newline-delimited JSON.
pub const NDJSON: &str = "application/x-ndjson";

/// A page as JSON, or as NDJSON (one envelope per line, `next` in `X-Ledger-Next`)
/// when the client accepts it.
fn page_response(
    headers: &HeaderMap,
    position: Position,
    page: EventPage,
) -> Result<Response, ApiError> {
    let wants_ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains(NDJSON));
    if !wants_ndjson {
        return Ok((position_header(position), Json(page)).into_response());
    }
    let mut body = Vec::new();
    for event in &page.events {
        serde_json::to_writer(&mut body, event)
            .map_err(|err| ApiError::Internal(format!("encoding an event: {err}")))?;
        body.push(b'\n');
    }
    let mut response = (position_header(position), body).into_response();
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    if let Some(next) = page.next {
        out.insert("x-ledger-next", HeaderValue::from(next));
    }
    Ok(response)
}

/// A page of raw events.
#[derive(Debug, Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<RecordedEvent>,
    /// Where the next page starts (`from` for `$all`, a version for a stream);
    /// absent when this page reached the end.
    pub next: Option<u64>,
}

/// `GET /v1/streams/{stream}`: `from` (version), `direction` (`forward`|`backward`),
/// `limit`. NDJSON with `Accept: application/x-ndjson`.
pub async fn stream(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(stream): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["from", "direction", "limit"])?;
    let limit = params.limit(10_000)?;
    let direction = match params.get("direction") {
        None | Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        Some(_) => {
            return Err(ApiError::field(
                "query.direction",
                "must be forward or backward",
            ))
        }
    };
    let default_from = match direction {
        Direction::Forward => 0,
        Direction::Backward => u64::MAX,
    };
    let from = params
        .parse_opt::<u64>("from", "a stream version")?
        .unwrap_or(default_from);
    let position = state.app.store.head().await?.position;
    let events = state
        .app
        .store
        .read_stream(&stream, from, direction, limit)
        .await?;
    let next = match (events.last(), direction) {
        (Some(last), Direction::Forward) if events.len() == limit => Some(last.stream_version + 1),
        (Some(last), Direction::Backward) if events.len() == limit && last.stream_version > 0 => {
            Some(last.stream_version - 1)
        }
        _ => None,
    };
    page_response(&headers, position, EventPage { events, next })
}

/// `GET /v1/events`: a page of `$all` from position `from` (default 1). NDJSON with
/// `Accept: application/x-ndjson`.
pub async fn events(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["from", "limit"])?;
    let limit = params.limit(10_000)?;
    let from = params
        .parse_opt::<Position>("from", "a log position")?
        .unwrap_or(1);
    let position = state.app.store.head().await?.position;
    let events = state.app.store.read_all(from.max(1), limit).await?;
    let next = match events.last() {
        Some(last) if events.len() == limit => Some(last.position + 1),
        _ => None,
    };
    page_response(&headers, position, EventPage { events, next })
}
