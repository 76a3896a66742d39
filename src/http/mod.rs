//! The HTTP API (v1). Paths follow the contract in the design; payloads are
//! documented in `/openapi.json` and `docs/api.md`.
//!
//! # Layout
//! - [`error`]: `ApiError`, rendered as `application/problem+json`.
//! - [`extract`]: JSON bodies and query strings that name the bad field.
//! - [`json_rules`]: whole-number floats as integers; missing fields named.
//! - [`idempotency`]: `Idempotency-Key` replay of POST responses.
//! - [`alerts`]: trigger, lifecycle commands, alert reads and history.
//! - [`resources`]: syncs and tasks.
//! - [`config`]: channels, service routes, escalation policies, task rules.
//! - [`reads`]: alarms, messages, raw streams and pages of `$all`.
//! - [`ops`]: health, readiness, metrics, digest, OpenAPI.
//! - [`admin`]: projection status and online rebuild.
//! - [`subscribe`]: Server-Sent Events over `$all`, catch-up then live.

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod json_rules;
pub mod openapi;
pub mod ops;
pub mod reads;
pub mod receivers;
pub mod resources;
pub mod serve;
pub mod subscribe;

use crate::commands::Commands;
use crate::http::auth::{Principal, Role, Tokens};
use crate::metrics::Metrics;
use crate::projection::ViewsHandle;
use crate::store::EventStore;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use projections::{Metadata, Position};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The header every response carries: the log position the answer reflects.
pub const POSITION_HEADER: &str = "x-ledger-position";

/// Limits and waits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Longest a read waits for `min_position` before answering 503.
    pub read_wait: Duration,
    /// Idle time after which `/v1/subscribe` sends a `: heartbeat` comment, so
    /// proxies keep the connection and clients notice a dead one.
    pub heartbeat: Duration,
    /// Longest a client may take to send a request body (then 408).
    pub body_read_timeout: Duration,
}

/// Everything a handler needs; cheap to clone (all `Arc`s).
#[derive(Clone)]
pub struct AppState {
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// The live views.
    pub views: Arc<ViewsHandle>,
    /// The command runner.
    pub commands: Commands,
    /// Bearer tokens.
    pub tokens: Arc<Tokens>,
    /// Integration keys of the PagerDuty and GoAlert receivers (key → service).
    pub integrations: Arc<crate::http::receivers::keys::IntegrationKeys>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Replay cache for `Idempotency-Key`.
    pub idempotency: Arc<idempotency::IdempotencyCache>,
    /// Limits.
    pub settings: Arc<HttpSettings>,
    /// Set when shutdown begins: readiness turns 503.
    pub shutting_down: Arc<AtomicBool>,
    /// Whether this instance's dispatcher runs: readiness turns 503 when it does not.
    pub dispatch: crate::dispatch::DispatchStatus,
    /// View snapshots (time travel starts from them).
    pub snapshots: Option<crate::snapshot::SnapshotDir>,
    /// The embedded log's directory, for verification (`None` for server backends).
    pub data_dir: Option<std::path::PathBuf>,
    /// Positions of this instance's latest configuration writes.
    pub marks: Arc<WriteMarks>,
    /// Streams of the alerts this instance opened recently.
    pub recent_alerts: Arc<RecentAlerts>,
}

/// The streams of the alerts this instance opened most recently (bounded, oldest
/// forgotten first), so an acknowledge or resolve sent right after its trigger needs no
/// view: the views may be busy (a snapshot of a large log holds them for seconds) and
/// the command only needs the alert's stream, which the trigger knew.
pub struct RecentAlerts {
    capacity: usize,
    inner: std::sync::Mutex<(
        std::collections::HashMap<projections::ids::AlertId, String>,
        std::collections::VecDeque<projections::ids::AlertId>,
    )>,
}

impl RecentAlerts {
    /// Remembers up to `capacity` alerts.
    pub fn new(capacity: usize) -> RecentAlerts {
        RecentAlerts {
            capacity,
            inner: std::sync::Mutex::default(),
        }
    }

    /// Remembers that `alert_id` lives in `stream`.
    pub fn opened(&self, alert_id: projections::ids::AlertId, stream: &str) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (streams, order) = &mut *guard;
        if streams.insert(alert_id, stream.to_owned()).is_none() {
            order.push_back(alert_id);
        }
        while order.len() > self.capacity {
            if let Some(oldest) = order.pop_front() {
                streams.remove(&oldest);
            }
        }
    }

    /// The stream of `alert_id`, if this instance opened it recently.
    pub fn stream_of(&self, alert_id: &projections::ids::AlertId) -> Option<String> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.get(alert_id).cloned()
    }
}

/// Positions of this instance's latest writes of what the trigger path reads from the
/// views (service routes, resources). A trigger waits only until the views have applied
/// these, which is almost always already so; waiting for the whole head on every
/// request instead would put the views' apply time into every trigger's latency.
#[derive(Debug, Default)]
pub struct WriteMarks {
    /// Channels, routes, policies, task rules.
    pub routing: AtomicU64,
    /// Resources (syncs).
    pub syncs: AtomicU64,
    /// Held by each configuration write from its reference check to its append, so
    /// this instance's configuration writes check against each other's results
    /// (`config::configure`, ADR 0009). Never held by triggers.
    pub configuring: tokio::sync::Mutex<()>,
}

impl WriteMarks {
    /// Records a write at `position`.
    pub fn wrote(mark: &AtomicU64, position: Position) {
        mark.fetch_max(position, Ordering::AcqRel);
    }
}

impl AppState {
    /// Waits (bounded) until the views have applied the write recorded in `mark`.
    pub async fn wait_for_mark(&self, mark: &AtomicU64) -> Result<(), ApiError> {
        let position = mark.load(Ordering::Acquire);
        if position <= self.views.applied() {
            return Ok(());
        }
        self.wait_for(position).await
    }

    /// Waits until the views reflect everything the store has acknowledged so far, so
    /// a command that looks something up (an alert's stream, a resource's state) sees
    /// the caller's earlier writes.
    pub async fn sync_views(&self) -> Result<Position, ApiError> {
        let head = self.store.head().await?.position;
        self.wait_for(head).await?;
        Ok(head)
    }

    /// Waits (bounded) until the views have applied `position`.
    pub async fn wait_for(&self, position: Position) -> Result<(), ApiError> {
        self.views
            .wait_for(position, self.settings.read_wait)
            .await
            .map_err(|applied| ApiError::NotCaughtUp {
                wanted: position,
                applied,
            })
    }

    /// Event metadata for a command issued by `principal` through `source`.
    pub fn metadata(principal: &Principal, source: &str) -> Metadata {
        Metadata {
            actor: Some(principal.name.clone()),
            correlation_id: Some(uuid::Uuid::new_v4()),
            causation_id: None,
            source: Some(source.to_owned()),
        }
    }
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Principal);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                state.tokens.authorize(&parts.headers, $role).map($name)
            }
        }
    };
}

role_extractor!(
    /// A caller with at least the `reader` role.
    ReaderAuth,
    Role::Reader
);
role_extractor!(
    /// A caller with at least the `writer` role.
    WriterAuth,
    Role::Writer
);
role_extractor!(
    /// A caller with the `admin` role.
    AdminAuth,
    Role::Admin
);

/// Builds the router with every route of the v1 contract.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.body_limit;
    Router::new()
        .route("/v1/alerts", post(alerts::trigger).get(alerts::list))
        .route("/v1/alerts/{id}", get(alerts::get_one))
        .route("/v1/alerts/{id}/acknowledge", post(alerts::acknowledge))
        .route("/v1/alerts/{id}/resolve", post(alerts::resolve))
        .route("/v1/alerts/{id}/escalate", post(alerts::escalate))
        .route("/v1/alerts/{id}/notes", post(alerts::add_note))
        .route("/v1/alerts/{id}/history", get(alerts::history))
        .route("/v1/alarms", get(reads::alarms))
        .route("/v1/messages", get(reads::messages))
        .route("/v1/messages/{id}", get(reads::message))
        .route(
            "/v1/syncs",
            post(resources::register_sync).get(resources::list_syncs),
        )
        .route(
            "/v1/syncs/{id}",
            axum::routing::delete(resources::delete_sync),
        )
        .route(
            "/v1/tasks",
            post(resources::create_task).get(resources::list_tasks),
        )
        .route("/v1/tasks/{id}", get(resources::get_task))
        .route(
            "/v1/tasks/{id}/hosts/{host}/start",
            post(resources::start_host),
        )
        .route(
            "/v1/tasks/{id}/hosts/{host}/result",
            post(resources::report_result),
        )
        .route("/v1/tasks/{id}/cancel", post(resources::cancel_task))
        .route("/v1/channels", post(config::put_channel))
        .route(
            "/v1/channels/{id}",
            axum::routing::delete(config::remove_channel),
        )
        .route("/v1/services/{service}/route", post(config::set_route))
        .route("/v1/policies", post(config::set_policy))
        .route("/v1/task-rules", post(config::set_task_rule))
        .route(
            "/v1/task-rules/{id}",
            axum::routing::delete(config::remove_task_rule),
        )
        .route("/v1/routing", get(config::routing))
        .route("/v1/streams/{stream}", get(reads::stream))
        .route("/v1/events", get(reads::events))
        .route("/v1/subscribe", get(subscribe::subscribe))
        .route("/v1/ledger/digest", get(ops::digest))
        .route("/v1/ledger/verify", post(admin::verify))
        .route("/v1/admin/projections", get(admin::projections))
        .route("/v1/admin/projections/{name}/rebuild", post(admin::rebuild))
        .route(
            "/v1/integrations/alertmanager",
            post(crate::http::receivers::alertmanager::receive),
        )
        .route(
            "/v2/enqueue",
            post(crate::http::receivers::pagerduty::enqueue),
        )
        .route(
            "/api/v2/generic/incoming",
            post(crate::http::receivers::goalert::incoming),
        )
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::replay,
        ))
        .layer(middleware::from_fn_with_state(
            state.settings.body_read_timeout,
            serve::body_deadline,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Records metrics and a log line per request, and stamps every response with the
/// views' position when the handler did not.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let mut response = next.run(request).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .observe_request(method.as_str(), &route, status, latency);
    if !response.headers().contains_key(POSITION_HEADER) {
        let position = HeaderValue::from(state.views.applied());
        response.headers_mut().insert(POSITION_HEADER, position);
    }
    let latency_ms = latency.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(method = %method, route = %route, status, latency_ms, "request failed");
    } else {
        tracing::debug!(method = %method, route = %route, status, latency_ms, "request");
    }
    response
}

#[cfg(test)]
mod recent_alerts_tests {
    use super::RecentAlerts;
    use projections::ids::AlertId;
    use uuid::Uuid;

    #[test]
    fn recent_alerts_remember_the_newest_and_forget_the_oldest() {
        let recent = RecentAlerts::new(2);
        let ids: Vec<AlertId> = (1..=3).map(|n| AlertId(Uuid::from_u128(n))).collect();
        recent.opened(ids[0], "alert-a");
        recent.opened(ids[1], "alert-b");
        recent.opened(ids[1], "alert-b");
        recent.opened(ids[2], "alert-c");
        assert_eq!(recent.stream_of(&ids[0]), None, "the oldest is forgotten");
        assert_eq!(recent.stream_of(&ids[1]).as_deref(), Some("alert-b"));
        assert_eq!(recent.stream_of(&ids[2]).as_deref(), Some("alert-c"));
    }
}
