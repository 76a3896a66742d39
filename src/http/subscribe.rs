//! `GET /v1/subscribe`: Server-Sent Events over `$all`, catch-up then live.
//!
//! Each event is sent as `id: <global position>`, `event: <event type>` and
//! `data: <the recorded event as one line of JSON>`. Events come from a
//! [`Subscription`], which reads the log page by page, so the switch from catch-up to
//! live has no gap and no duplicate.
//!
//! The body pulls the next event only when hyper polls it, which it does only when the
//! socket can take more bytes: a slow consumer reads from the log at its own pace and
//! the server holds at most one page of events for it (plus hyper's write buffer),
//! never its backlog.
//!
//! # Query
//! - `from`: a position (the first event delivered is the first with position ≥
//!   `from`) or `end` (only events appended after the request). Default `end`: a
//!   subscriber that names no position wants live events; a catch-up client passes one.
//! - `stream`: one exact stream name. `category`: the part of a stream name before its
//!   first `-` (`alert`, `sync`, `task`, `message`). `type`: event types, repeated or
//!   comma-separated. Every given filter must match.
//! - `Last-Event-ID` (header): the position of the last event the client received;
//!   delivery resumes right after it. It takes precedence over `from`.
//!
//! The response's `X-Ledger-Position` is the position the subscription starts after:
//! a client that reconnects before it received any event sends it as `Last-Event-ID`.

use super::error::ApiError;
use super::extract::{decode, QueryParams};
use super::{HttpState, ReaderAuth, POSITION_HEADER};
use crate::metrics::Metrics;
use crate::store::subscription::{Subscription, SubscriptionFilter};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use projections::{Event, Position, RecordedEvent};
use std::convert::Infallible;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Idle interval between heartbeat comments unless configured otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// How often an idle subscription checks whether the server is shutting down. The
/// graceful shutdown waits for every response to end, and an event stream only ends
/// when it notices.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(200);

/// The query parameters `/v1/subscribe` accepts.
const PARAMS: [&str; 4] = ["from", "stream", "category", "type"];

/// Longest accepted `stream` or `category` value.
const MAX_NAME: usize = 256;

/// `GET /v1/subscribe`.
#[tracing::instrument(skip_all, fields(from = tracing::field::Empty))]
pub async fn subscribe(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &PARAMS)?;
    let filter = parse_filter(query.as_deref(), &params)?;
    let from = match last_event_id(&headers)? {
        Some(last) => last.saturating_add(1),
        None => match parse_from(&params)? {
            Start::At(position) => position.max(1),
            Start::End => state.app.store.head().await?.position + 1,
        },
    };
    tracing::Span::current().record("from", from);
    let guard = SubscriberGuard::new(state.app.metrics.clone());
    let subscription = Subscription::new(state.app.store.clone(), from).with_filter(filter);
    let events = sse_events(subscription, guard, state.app.shutting_down.clone());
    let keep_alive = KeepAlive::new()
        .interval(state.settings.heartbeat)
        .text("heartbeat");
    let starts_after = [(POSITION_HEADER, (from - 1).to_string())];
    Ok((starts_after, Sse::new(events).keep_alive(keep_alive)).into_response())
}

/// Where delivery starts, from the `from` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The first event with position ≥ this.
    At(Position),
    /// After the head at the time of the request.
    End,
}

fn parse_from(params: &QueryParams) -> Result<Start, ApiError> {
    match params.get("from") {
        None | Some("end") => Ok(Start::End),
        Some(raw) => raw.parse().map(Start::At).map_err(|_| {
            ApiError::field(
                "query.from",
                "must be a log position (a whole number) or `end`",
            )
        }),
    }
}

/// The `Last-Event-ID` header as a position; an empty header counts as absent (an
/// `EventSource` whose last event had an empty id sends none at all).
fn last_event_id(headers: &HeaderMap) -> Result<Option<Position>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::field(
            "header.Last-Event-ID",
            "must be the position (a whole number) of the last event received",
        )
    };
    let text = value.to_str().map_err(|_| invalid())?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| invalid())
}

fn parse_filter(raw: Option<&str>, params: &QueryParams) -> Result<SubscriptionFilter, ApiError> {
    let stream = name_param(params, "stream")?;
    let category = name_param(params, "category")?;
    if category.as_deref().is_some_and(|c| c.contains('-')) {
        return Err(ApiError::field(
            "query.category",
            "a category is the part of a stream name before its first `-`, so it has none",
        ));
    }
    Ok(SubscriptionFilter {
        stream,
        category,
        event_types: event_types(raw)?,
    })
}

/// A `stream` or `category` value: non-empty, at most [`MAX_NAME`] bytes, no control
/// characters.
fn name_param(params: &QueryParams, name: &str) -> Result<Option<String>, ApiError> {
    let Some(value) = params.get(name) else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(ApiError::field(
            format!("query.{name}"),
            format!("must be 1 to {MAX_NAME} characters without control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Every `type` value, repeated and/or comma-separated, each a known event type.
/// (`QueryParams` keeps one value per name, so repeats are collected from the raw query.)
fn event_types(raw: Option<&str>) -> Result<Vec<String>, ApiError> {
    let mut types = Vec::new();
    let values = raw
        .unwrap_or("")
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .filter(|(key, _)| decode(key) == "type")
        .map(|(_, value)| decode(value));
    for value in values {
        for name in value.split(',').map(str::trim) {
            if !Event::TYPES.iter().any(|(known, _)| *known == name) {
                let known: Vec<&str> = Event::TYPES.iter().map(|(t, _)| *t).collect();
                return Err(ApiError::field(
                    "query.type",
                    format!("unknown event type `{name}`; known: {}", known.join(", ")),
                ));
            }
            if !types.iter().any(|t| t == name) {
                types.push(name.to_owned());
            }
        }
    }
    Ok(types)
}

/// Counts a subscriber for as long as its response body lives.
struct SubscriberGuard(Arc<Metrics>);

impl SubscriberGuard {
    fn new(metrics: Arc<Metrics>) -> SubscriberGuard {
        metrics.inc_subscribers();
        SubscriberGuard(metrics)
    }
}

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.dec_subscribers();
    }
}

/// What the body stream carries between polls.
struct Feed {
    subscription: Subscription,
    shutting_down: Arc<AtomicBool>,
    shutdown_check: tokio::time::Interval,
    _guard: SubscriberGuard,
}

/// The subscription as SSE events, pulled one at a time as the body is polled. Ends
/// when the server shuts down, the store closes or a read fails (the client resumes
/// with `Last-Event-ID`).
fn sse_events(
    subscription: Subscription,
    guard: SubscriberGuard,
    shutting_down: Arc<AtomicBool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let mut shutdown_check = tokio::time::interval(SHUTDOWN_CHECK);
    shutdown_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let feed = Feed {
        subscription,
        shutting_down,
        shutdown_check,
        _guard: guard,
    };
    futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok(event), feed))
    })
}

impl Feed {
    async fn next(&mut self) -> Option<SseEvent> {
        // Polled in place (not restarted) so a slow page read is never cancelled.
        let mut next = pin!(self.subscription.next());
        let item = loop {
            tokio::select! {
                item = &mut next => break item,
                _ = self.shutdown_check.tick() => {
                    if self.shutting_down.load(Ordering::Relaxed) {
                        return None;
                    }
                }
            }
        };
        match item? {
            Ok(event) => to_sse(&event),
            Err(err) => {
                tracing::warn!(%err, "subscription read failed; ending the stream");
                None
            }
        }
    }
}

fn to_sse(event: &RecordedEvent) -> Option<SseEvent> {
    let sse = SseEvent::default()
        .id(event.position.to_string())
        .event(event.event.event_type())
        .json_data(event);
    match sse {
        Ok(sse) => Some(sse),
        Err(err) => {
            tracing::error!(position = event.position, %err, "cannot encode event");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Result<SubscriptionFilter, ApiError> {
        let parsed = QueryParams::parse(Some(raw), &PARAMS)?;
        parse_filter(Some(raw), &parsed)
    }

    #[test]
    fn repeated_and_comma_separated_types_are_all_kept_once() {
        let filter = params("type=alert_triggered,note_added&type=alert_triggered").unwrap();
        assert_eq!(filter.event_types, ["alert_triggered", "note_added"]);
    }

    #[test]
    fn an_unknown_type_names_the_type_parameter() {
        let err = params("type=alert_triggered,nope").unwrap_err();
        assert!(matches!(err, ApiError::Validation { field, .. } if field == "query.type"));
    }

    #[test]
    fn a_category_with_a_dash_is_refused() {
        let err = params("category=alert-x").unwrap_err();
        assert!(matches!(err, ApiError::Validation { field, .. } if field == "query.category"));
    }
}
