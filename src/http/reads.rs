//! Read routes over the views and the raw log: active alarms, outgoing messages, one
//! stream's events and pages of `$all`. Every answer carries `X-Ledger-Position`.

use super::error::ApiError;
use super::query::{self, ViewAt};
use super::{HttpState, ReaderAuth, POSITION_HEADER};
use crate::app::limits;
use crate::projection::history;
use crate::projection::queries::{AlarmFilter, MessageFilter};
use crate::projection::ViewQueries;
use crate::store::Direction;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::AlertId;
use projections::ids::MessageId;
use projections::views::DeliveryState;
use projections::Severity;
use projections::{Position, RecordedEvent};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

/// The `X-Ledger-Position` header for a response.
pub fn position_header(position: Position) -> [(&'static str, String); 1] {
    [(POSITION_HEADER, position.to_string())]
}

/// Answers from the views: as they are now (after waiting for `min_position` if
/// asked), or as they were at `as_of` (a position or an RFC 3339 time). The response
/// carries the position the answer reflects.
pub async fn read_views<T: Serialize>(
    state: &HttpState,
    at: &ViewAt,
    read: impl FnOnce(&dyn ViewQueries) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    if let Some(as_of) = as_of_position(state, at).await? {
        state.app.wait_for(as_of).await?;
        let body = {
            let views = state.app.views.at(as_of);
            read(&*views)
        };
        return Ok((position_header(as_of), Json(body?)).into_response());
    }
    wait_for_min_position(state, at).await?;
    let (position, body) = {
        let views = state.app.views.current();
        (views.position(), read(&*views))
    };
    Ok((position_header(position), Json(body?)).into_response())
}

/// Waits (bounded) until the views reflect `min_position`, when given. A position
/// beyond the log's head names no write, so no wait can reach it: that is a 422 naming
/// the parameter, not a 503 asking the client to retry.
pub async fn wait_for_min_position(state: &HttpState, at: &ViewAt) -> Result<(), ApiError> {
    let Some(min) = at.min_position else {
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
pub async fn as_of_position(state: &HttpState, at: &ViewAt) -> Result<Option<Position>, ApiError> {
    let Some(raw) = at.as_of.as_deref() else {
        return Ok(None);
    };
    if at.min_position.is_some() {
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

/// `GET /v1/alarms`'s filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlarmsQuery {
    /// Only this service's alarms
    service: Option<String>,
    /// Only alarms on this resource
    resource: Option<String>,
    /// Only alarms of this severity
    #[param(value_type = Option<query::schema::Severity>, inline)]
    severity: Option<Severity>,
    /// Only acknowledged (true) or unacknowledged (false) alarms
    acknowledged: Option<bool>,
}

/// `GET /v1/alarms`: filters `service`, `resource`, `severity`, `acknowledged`;
/// `min_position` or `as_of`. Grouped by (resource, service), alerts inline.
pub async fn alarms(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, at): (AlarmsQuery, ViewAt) = query::parse_with(raw.as_deref())?;
    let filter = AlarmFilter {
        service: query.service,
        resource: query.resource,
        severity: query.severity,
        acknowledged: query.acknowledged,
    };
    read_views(&state, &at, move |views| Ok(views.alarms(&filter))).await
}

/// `GET /v1/messages`'s filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only messages in this delivery state
    #[param(value_type = Option<query::schema::Delivery>, inline)]
    state: Option<DeliveryState>,
    /// Only this alert's messages
    #[param(value_type = Option<query::schema::Uuid>, inline)]
    alert_id: Option<AlertId>,
    /// Only messages to this channel
    channel: Option<String>,
    /// Page size
    #[param(value_type = Option<query::schema::Page>, inline)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page
    #[param(value_type = Option<query::schema::Position>, inline)]
    cursor: Option<Position>,
}

/// `GET /v1/messages`: filters `state`, `alert_id`, `channel`; `limit`, `cursor`.
/// Newest first (by the position that queued each message); the cursor is stable under
/// new writes.
pub async fn messages(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, at): (MessagesQuery, ViewAt) = query::parse_with(raw.as_deref())?;
    let limit = query::limit(query.limit, limits::PAGE)?;
    let cursor = query.cursor;
    let filter = MessageFilter {
        state: query.state,
        alert: query.alert_id,
        channel: query.channel,
    };
    read_views(&state, &at, move |views| {
        Ok(views.messages(&filter, cursor, limit))
    })
    .await
}

/// `GET /v1/messages/{id}`.
pub async fn message(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let message_id =
        MessageId::parse(&id).map_err(|_| ApiError::field("path.id", "must be a UUID"))?;
    let at: ViewAt = query::parse(raw.as_deref())?;
    read_views(&state, &at, move |views| {
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

/// `GET /v1/streams/{stream}`'s page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// First stream version (default: 0 forward, the last backward)
    #[param(value_type = Option<query::schema::Position>, inline)]
    from: Option<u64>,
    /// Reading direction
    #[param(value_type = Option<query::schema::Direction>, inline)]
    direction: Option<Direction>,
    /// Page size
    #[param(value_type = Option<query::schema::EventsPage>, inline)]
    limit: Option<usize>,
}

/// `GET /v1/streams/{stream}`: `from` (version), `direction` (`forward`|`backward`),
/// `limit`. NDJSON with `Accept: application/x-ndjson`.
pub async fn stream(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(stream): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query: StreamQuery = query::parse(raw.as_deref())?;
    let limit = query::limit(query.limit, limits::EVENTS_PAGE)?;
    let direction = query.direction.unwrap_or(Direction::Forward);
    let default_from = match direction {
        Direction::Forward => 0,
        Direction::Backward => u64::MAX,
    };
    let from = query.from.unwrap_or(default_from);
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

/// `GET /v1/events`'s page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// First position (default 1)
    #[param(value_type = Option<query::schema::Position>, inline)]
    from: Option<Position>,
    /// Page size
    #[param(value_type = Option<query::schema::EventsPage>, inline)]
    limit: Option<usize>,
}

/// `GET /v1/events`: a page of `$all` from position `from` (default 1). NDJSON with
/// `Accept: application/x-ndjson`.
pub async fn events(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query: EventsQuery = query::parse(raw.as_deref())?;
    let limit = query::limit(query.limit, limits::EVENTS_PAGE)?;
    let from = query.from.unwrap_or(1);
    let position = state.app.store.head().await?.position;
    let events = state.app.store.read_all(from.max(1), limit).await?;
    let next = match events.last() {
        Some(last) if events.len() == limit => Some(last.position + 1),
        _ => None,
    };
    page_response(&headers, position, EventPage { events, next })
}
