//! Durable consumer groups over HTTP: the routes over [`crate::app::consumers`].
//!
//! - `POST /v1/consumers` creates a group on a filter (201; 200 when it exists with the
//!   same settings).
//! - `GET /v1/consumers` lists the groups with checkpoint, lag and members;
//!   `GET /v1/consumers/{name}` shows one.
//! - `GET /v1/consumers/{name}/events?member=M` hands member `M` the next events of
//!   the partitions it holds: a long-poll page of JSON (`limit`, `wait`), or, with
//!   `Accept: text/event-stream`, an event stream like `/v1/subscribe`'s.
//! - `POST /v1/consumers/{name}/ack` `{member, position}` acknowledges, cumulatively,
//!   what the member was handed up to `position`.
//! - `DELETE /v1/consumers/{name}` deletes the group.
//!
//! Delivery is at least once: what a member was handed and did not acknowledge is
//! handed again (to it, or to the member that gets its partition) after a restart or
//! once it times out.

use super::consumer_feed::{Batch, MemberFeed, RECHECK};
use super::error::ApiError;
use super::extract::ValidJson;
use super::query;
use super::reads::position_header;
use super::resources::respond;
use super::{api_metadata, HttpState, ReaderAuth, WriterAuth};
use crate::app::consumers::ConsumerBody;
use crate::app::limits::{self, schema};
use crate::app::trigger::parse_id;
use crate::app::App;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use projections::ids::{ConsumerName, MemberId};
use projections::Position;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use utoipa::IntoParams;

/// The most events a page may hold (`limit`).
const MAX_PAGE: usize = limits::PAGE;
/// Seconds a page waits for an event unless `wait` says otherwise.
const DEFAULT_WAIT_SECS: u64 = limits::DEFAULT_MEMBER_WAIT_SECS;
/// The longest `wait`.
const MAX_WAIT_SECS: u64 = limits::MEMBER_WAIT_SECS;
/// Events per event-stream chunk.
const STREAM_BATCH: usize = 256;

/// `POST /v1/consumers`: 201 created, 200 when it exists with the same settings.
pub async fn create(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<ConsumerBody>,
) -> Result<Response, ApiError> {
    let (status, written) = state
        .app
        .create_consumer(&body, api_metadata(&principal))
        .await?;
    let code = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, position_header(written.position), Json(status)).into_response())
}

/// The body of `GET /v1/consumers`.
#[derive(Debug, Serialize)]
struct ConsumerList {
    items: Vec<crate::app::consumers::ConsumerStatus>,
}

/// `GET /v1/consumers`: every group with its checkpoint, lag and members.
pub async fn list(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
) -> Result<Response, ApiError> {
    let items = state.app.consumer_statuses().await?;
    Ok(Json(ConsumerList { items }).into_response())
}

/// `GET /v1/consumers/{name}`.
pub async fn get_one(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let group = group_name(&name)?;
    Ok(Json(state.app.consumer_status(&group).await?).into_response())
}

/// `DELETE /v1/consumers/{name}`.
pub async fn delete(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let group = group_name(&name)?;
    let written = state
        .app
        .delete_consumer(&group, api_metadata(&principal))
        .await?;
    Ok(respond(group.to_string(), written))
}

/// Body of `POST /v1/consumers/{name}/ack`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// The member acknowledging.
    #[schema(schema_with = schema::name)]
    pub member: String,
    /// Everything the member was handed up to this position is done; not after the head
    /// (a 422 naming `position`).
    #[schema(schema_with = schema::position::<0>)]
    pub position: Position,
}

/// `POST /v1/consumers/{name}/ack`.
pub async fn ack(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(name): Path<String>,
    ValidJson(body): ValidJson<AckBody>,
) -> Result<Response, ApiError> {
    let group = group_name(&name)?;
    let member = parse_id("member", MemberId::parse(&body.member))?;
    let acked = state
        .app
        .ack_consumer(&group, &member, body.position, api_metadata(&principal))
        .await?;
    Ok((position_header(acked.position), Json(acked)).into_response())
}

/// The query parameters of `GET /v1/consumers/{name}/events`.
/// What a member asks for when it reads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberQuery {
    /// The member reading (a stable name per worker)
    #[param(value_type = query::schema::Name, inline)]
    member: MemberId,
    /// Most events in the page
    #[param(value_type = Option<query::schema::Page>, inline)]
    limit: Option<usize>,
    /// Seconds to hold the page open for a first event
    #[param(value_type = Option<query::schema::MemberWait>, inline)]
    wait: Option<u64>,
}

/// A page of events handed to a member.
#[derive(Debug, Serialize)]
struct PageHead<'a> {
    group: &'a str,
    member: &'a str,
    read_to: Position,
    partitions: Vec<u16>,
}

/// `GET /v1/consumers/{name}/events?member=M[&limit=N][&wait=S]`.
pub async fn events(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let group = group_name(&name)?;
    let MemberQuery {
        member,
        limit,
        wait,
    } = query::parse(raw.as_deref())?;
    let limit = query::limit(limit, MAX_PAGE)?;
    let wait = wait.unwrap_or(DEFAULT_WAIT_SECS);
    if wait > MAX_WAIT_SECS {
        return Err(ApiError::field(
            "query.wait",
            format!("must be at most {MAX_WAIT_SECS} seconds"),
        ));
    }
    let view = state.app.consumer_group(&group).await?;
    let plan = state
        .app
        .members
        .read_started(&view, &member, Instant::now());
    let starts_after = plan.cursor().unwrap_or(view.checkpoint());
    let reading = Reading {
        app: state.app.clone(),
        group,
        member: member.clone(),
    };
    let feed = MemberFeed {
        app: state.app.clone(),
        ring: state.frames.clone(),
        newest: state.frames.watch(),
        group: view,
        member,
    };
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if wants_stream {
        let stream = MemberStream {
            feed,
            heartbeat: state.settings.heartbeat,
            idle_since: tokio::time::Instant::now(),
            _reading: reading,
        };
        let headers = [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ];
        let body = Body::from_stream(chunks(stream));
        return Ok((headers, position_header(starts_after), body).into_response());
    }
    let page = long_poll(feed, limit, Duration::from_secs(wait)).await;
    drop(reading);
    page
}

/// Collects up to `limit` events for the member, waiting up to `wait` for the first.
///
/// Whatever was acknowledged before the request is in reach of the page, even with
/// `wait=0`: the frames ring is filled from the log a moment after an append is
/// acknowledged, so the page waits (at most `--read-wait-ms`) for the ring to reach the
/// log's head as it was when the request came.
async fn long_poll(
    mut feed: MemberFeed,
    limit: usize,
    wait: Duration,
) -> Result<Response, ApiError> {
    let started = tokio::time::Instant::now();
    let deadline = started + wait;
    let head = feed.app.store.head().await?.position;
    let catch_up_deadline = started + feed.app.read_wait;
    let mut events: Vec<Bytes> = Vec::new();
    let mut read_to = None;
    loop {
        let ring_behind = *feed.newest.borrow() < head;
        match feed.next_batch(limit - events.len()).await? {
            Some(Batch {
                events: batch,
                read_to: to,
            }) => {
                read_to = Some(to);
                events.extend(batch.into_iter().map(|e| e.data));
                if events.len() >= limit {
                    break;
                }
            }
            None if !events.is_empty() && !ring_behind => break,
            None => {
                let now = tokio::time::Instant::now();
                let until = if ring_behind {
                    deadline.max(catch_up_deadline)
                } else {
                    deadline
                };
                if now >= until || feed.app.shutting_down.load(Ordering::Relaxed) {
                    break;
                }
                tokio::select! {
                    _ = feed.newest.changed() => {}
                    () = tokio::time::sleep(RECHECK) => {}
                    () = tokio::time::sleep_until(until) => {}
                }
            }
        }
    }
    let plan = feed
        .app
        .members
        .plan(&feed.group.name, &feed.member, Instant::now());
    let read_to = read_to.or(plan.cursor()).unwrap_or(feed.group.checkpoint());
    let head = PageHead {
        group: feed.group.name.as_str(),
        member: feed.member.as_str(),
        read_to,
        partitions: plan.seen.keys().copied().collect(),
    };
    Ok(page_body(&head, &events))
}

/// `{"group":…,"member":…,"read_to":…,"partitions":[…],"events":[…]}`, the events
/// copied as they were encoded once for every reader.
fn page_body(head: &PageHead<'_>, events: &[Bytes]) -> Response {
    let mut body = serde_json::to_vec(head).expect("a page head serializes");
    body.pop();
    body.extend_from_slice(b",\"events\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(event);
    }
    body.extend_from_slice(b"]}");
    (
        [(header::CONTENT_TYPE, "application/json")],
        position_header(head.read_to),
        body,
    )
        .into_response()
}

/// A member's read, open for as long as this lives.
struct Reading {
    app: App,
    group: ConsumerName,
    member: MemberId,
}

impl Drop for Reading {
    fn drop(&mut self) {
        self.app
            .members
            .read_ended(&self.group, &self.member, Instant::now());
    }
}

/// A member's event stream.
struct MemberStream {
    feed: MemberFeed,
    heartbeat: Duration,
    idle_since: tokio::time::Instant,
    _reading: Reading,
}

impl MemberStream {
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if self.feed.app.shutting_down.load(Ordering::Relaxed) {
                return None;
            }
            match self.feed.next_batch(STREAM_BATCH).await {
                Err(err) => {
                    tracing::warn!(%err, "consumer stream read failed; ending it");
                    return None;
                }
                Ok(Some(batch)) if !batch.events.is_empty() => {
                    let mut chunk = BytesMut::new();
                    batch
                        .events
                        .iter()
                        .for_each(|e| chunk.extend_from_slice(&e.frame));
                    self.idle_since = tokio::time::Instant::now();
                    return Some(chunk.freeze());
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    tokio::select! {
                        _ = self.feed.newest.changed() => {}
                        () = tokio::time::sleep(RECHECK) => {}
                        () = tokio::time::sleep_until(self.idle_since + self.heartbeat) => {
                            self.idle_since = tokio::time::Instant::now();
                            return Some(Bytes::from_static(b":heartbeat\n\n"));
                        }
                    }
                }
            }
        }
    }
}

fn chunks(stream: MemberStream) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next().await?;
        Some((Ok(chunk), stream))
    })
}

fn group_name(raw: &str) -> Result<ConsumerName, ApiError> {
    ConsumerName::parse(raw).map_err(|err| ApiError::field("path.name", err.to_string()))
}
