//! `GET /v1/subscribe`: Server-Sent Events over `$all`, catch-up then live.
//!
//! Each event is sent as `id: <global position>`, `event: <event type>` and
//! `data: <the recorded event as one line of JSON>`. A subscriber holds only a cursor
//! (the position of the last event it was sent): it takes the frames after it from the
//! shared [`FrameRing`], where each event was encoded once for every subscriber, and
//! writes the ones its filter passes as one chunk. While its cursor is older than what
//! the ring holds (catch-up, or a subscriber that fell behind), it reads the log itself
//! page by page and encodes what passes, then rejoins the ring at its cursor: the ring
//! holds every event after a position, so neither switch opens a gap or repeats an
//! event.
//!
//! A woken subscriber lingers a moment that grows with the number of subscribers
//! ([`linger`]) before it takes frames, so at a high fan-out one wake-up and one write
//! carry several appends' events.
//!
//! The body produces the next chunk only when hyper polls it, which it does only when
//! the socket can take more bytes: a slow consumer costs its cursor and one chunk in
//! flight (plus hyper's write buffer), never its backlog.
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
use super::frames::{Frame, FrameRing, Take};
use super::query;
use super::{HttpState, ReaderAuth, POSITION_HEADER};
use crate::app::filter;
use crate::metrics::Metrics;
use crate::store::subscription::EventFilter;
use crate::store::EventStore;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use projections::Position;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use utoipa::IntoParams;

/// Idle interval between heartbeat comments unless configured otherwise.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(15);

/// How often an idle subscription checks whether the server is shutting down. The
/// graceful shutdown waits for every response to end, and an event stream only ends
/// when it notices.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(200);

/// What `/v1/subscribe` delivers.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscribeQuery {
    /// The first position delivered, or `end`: only events appended after the request
    #[param(value_type = Option<query::schema::SubscribeFrom>, inline)]
    from: Option<String>,
    /// Only this exact stream
    #[param(value_type = Option<query::schema::Stream>, inline)]
    stream: Option<String>,
    /// Only streams named `<category>-…`
    #[param(value_type = Option<query::schema::Category>, inline)]
    category: Option<String>,
    /// Only these event types (repeated or comma-separated)
    #[serde(default, rename = "type")]
    #[param(value_type = Option<query::schema::EventTypes>, inline, style = Form, explode)]
    types: Vec<String>,
}

/// `GET /v1/subscribe`.
#[tracing::instrument(skip_all, fields(from = tracing::field::Empty))]
pub async fn subscribe(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query: SubscribeQuery = query::parse(raw.as_deref())?;
    let filter = parse_filter(&query)?;
    let from = match last_event_id(&headers)? {
        Some(last) => last.saturating_add(1),
        None => match parse_from(query.from.as_deref())? {
            Start::At(position) => position.max(1),
            Start::End => state.app.store.head().await?.position + 1,
        },
    };
    tracing::Span::current().record("from", from);
    let feed = Feed {
        store: state.app.store.clone(),
        ring: state.frames.clone(),
        newest: state.frames.watch(),
        filter,
        cursor: from - 1,
        heartbeat: state.settings.heartbeat,
        idle_since: Instant::now(),
        shutting_down: state.app.shutting_down.clone(),
        shutdown_check: shutdown_check(),
        guard: SubscriberGuard::new(state.app.metrics.clone()),
    };
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream".to_owned()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (
            header::HeaderName::from_static(POSITION_HEADER),
            (from - 1).to_string(),
        ),
    ];
    Ok((headers, Body::from_stream(chunks(feed))).into_response())
}

/// The idle subscriber's timer for noticing a shutdown.
fn shutdown_check() -> tokio::time::Interval {
    let mut check = tokio::time::interval(SHUTDOWN_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    check
}

/// Where delivery starts, from the `from` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// The first event with position ≥ this.
    At(Position),
    /// After the head at the time of the request.
    End,
}

fn parse_from(from: Option<&str>) -> Result<Start, ApiError> {
    match from {
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

fn parse_filter(query: &SubscribeQuery) -> Result<EventFilter, ApiError> {
    let mut event_types = Vec::new();
    for value in &query.types {
        for name in value.split(',').map(str::trim) {
            filter::add_type("query.type", &mut event_types, name)?;
        }
    }
    Ok(EventFilter {
        stream: filter::name("query.stream", query.stream.as_deref())?,
        category: filter::category("query.category", query.category.as_deref())?,
        event_types,
    })
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

/// How long a woken subscriber waits, per live subscriber, before it takes frames;
/// see [`linger`].
const LINGER_PER_SUBSCRIBER: Duration = Duration::from_micros(25);
/// The longest such wait.
const MAX_LINGER: Duration = Duration::from_millis(25);

/// How long a subscriber woken by a new frame waits before taking frames: 25 µs per
/// live subscriber, at most 25 ms (100 subscribers: 2.5 ms; 1,000: 25 ms). Each append
/// wakes every subscriber, so at a high fan-out wake-ups, chunks and socket writes
/// would each carry one event; lingering lets one wake-up carry the events of several
/// appends, and the work per delivered event falls as the fan-out grows.
fn linger(subscribers: i64) -> Duration {
    let n = u32::try_from(subscribers.max(0)).unwrap_or(u32::MAX);
    LINGER_PER_SUBSCRIBER.saturating_mul(n).min(MAX_LINGER)
}

/// Events a subscriber behind the ring reads from the log per page.
const CATCH_UP_PAGE: usize = 512;

/// One subscriber: its cursor and what it needs to move it.
struct Feed {
    store: Arc<dyn EventStore>,
    ring: Arc<FrameRing>,
    newest: watch::Receiver<Position>,
    filter: EventFilter,
    /// The position of the last event looked at (sent, or skipped by the filter).
    cursor: Position,
    heartbeat: Duration,
    idle_since: Instant,
    shutting_down: Arc<AtomicBool>,
    shutdown_check: tokio::time::Interval,
    /// Counts this subscriber; the count sets the [`linger`].
    guard: SubscriberGuard,
}

/// The subscriber's body: chunks of frames and heartbeat comments, produced as the body
/// is polled. Ends when the server shuts down, the store closes or a read fails (the
/// client resumes with `Last-Event-ID`).
fn chunks(feed: Feed) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next().await?;
        Some((Ok(chunk), feed))
    })
}

impl Feed {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.shutting_down.load(Ordering::Relaxed) {
                return None;
            }
            let chunk = match self.ring.take(self.cursor, &self.filter) {
                Take::Frames { chunk, last } => {
                    self.cursor = last;
                    chunk
                }
                Take::Behind => self.catch_up().await?,
                Take::Nothing => {
                    self.newest.mark_unchanged();
                    if *self.newest.borrow() > self.cursor {
                        continue;
                    }
                    tokio::select! {
                        changed = self.newest.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                            let wait = linger(self.guard.0.subscribers());
                            if !wait.is_zero() {
                                tokio::time::sleep(wait).await;
                            }
                        }
                        () = tokio::time::sleep_until(self.idle_since + self.heartbeat) => {
                            self.idle_since = Instant::now();
                            return Some(Bytes::from_static(b":heartbeat\n\n"));
                        }
                        _ = self.shutdown_check.tick() => {}
                    }
                    None
                }
            };
            if let Some(chunk) = chunk {
                self.idle_since = Instant::now();
                return Some(chunk);
            }
        }
    }

    /// Reads one page of the log after the cursor and encodes what passes the filter.
    /// `None` ends the stream (a failed read).
    async fn catch_up(&mut self) -> Option<Option<Bytes>> {
        let page = match self.store.read_all(self.cursor + 1, CATCH_UP_PAGE).await {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!(%err, "subscription read failed; ending the stream");
                return None;
            }
        };
        if page.is_empty() {
            tokio::time::sleep(SHUTDOWN_CHECK).await;
            return Some(None);
        }
        let mut chunk = BytesMut::new();
        for event in &page {
            self.cursor = event.position;
            if !self.filter.matches(event) {
                continue;
            }
            let frame = match Frame::encode(event) {
                Ok(frame) => frame,
                Err(err) => {
                    tracing::error!(position = event.position, %err, "cannot encode event");
                    return None;
                }
            };
            chunk.extend_from_slice(&frame.bytes);
        }
        Some((!chunk.is_empty()).then(|| chunk.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Result<EventFilter, ApiError> {
        parse_filter(&query::parse(Some(raw))?)
    }

    #[test]
    fn the_linger_grows_with_the_subscribers_up_to_its_bound() {
        assert_eq!(linger(0), Duration::ZERO);
        assert_eq!(linger(100), Duration::from_micros(2500));
        assert_eq!(linger(1000), Duration::from_millis(25));
        assert_eq!(linger(50_000), MAX_LINGER);
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
