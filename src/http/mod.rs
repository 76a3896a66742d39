//! The HTTP API (v1). Paths follow the contract in the design; payloads are
//! documented in `/openapi.json` and `docs/api.md`.
//!
//! # Layout
//! - [`error`]: `ApiError`, rendered as `application/problem+json`.
//! - [`extract`]: JSON bodies that name the bad field.
//! - [`query`]: query strings parsed into the typed structs the OpenAPI document lists.
//! - [`json_rules`]: whole-number floats as integers; missing fields named.
//! - [`idempotency`]: `Idempotency-Key` replay of POST responses.
//! - [`alerts`]: trigger, lifecycle commands, alert reads and history.
//! - [`resources`]: syncs and tasks.
//! - [`config`]: channels, service routes, escalation policies, task rules.
//! - [`reads`]: alarms, messages, raw streams and pages of `$all`.
//! - [`ops`]: health, readiness, metrics, OpenAPI.
//! - [`proofs`]: the ledger digest, inclusion and consistency proofs (Merkle tree).
//! - [`admin`]: projection status and online rebuild.
//! - [`subscribe`]: Server-Sent Events over `$all`, catch-up then live.
//! - [`frames`]: each event's SSE frame encoded once, in a ring every subscriber reads.
//! - [`consumers`]: durable consumer groups (create, list, read, ack, delete).
//! - [`consumer_feed`]: what one member of a group is handed, from the ring or the log.
//! - [`console`]: the web console's pages at `/` (server-rendered HTML).

pub mod admin;
pub mod alerts;
pub mod auth;
pub mod config;
pub mod console;
pub mod consumer_feed;
pub mod consumers;
pub mod error;
pub mod extract;
pub mod frames;
pub mod idempotency;
pub mod json_rules;
pub mod openapi;
pub mod ops;
pub mod proofs;
pub mod query;
pub mod reads;
pub mod receivers;
pub mod resources;
pub mod serve;
pub mod subscribe;

use crate::app::App;
use auth::{Principal, Role, Tokens};
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use error::ApiError;
use projections::Metadata;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The header every response carries: the log position the answer reflects.
pub const POSITION_HEADER: &str = "x-ledger-position";

/// Limits and waits of the HTTP layer.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Idle time after which `/v1/subscribe` sends a `: heartbeat` comment, so
    /// proxies keep the connection and clients notice a dead one.
    pub heartbeat: Duration,
    /// Longest a client may take to send a request body (then 408).
    pub body_read_timeout: Duration,
}

/// Everything a handler needs: the application core plus what only HTTP uses. Cheap
/// to clone: one `Arc` (axum clones the state per request and per extractor).
#[derive(Clone)]
pub struct HttpState(Arc<HttpParts>);

impl HttpState {
    /// The state made of `parts`.
    pub fn new(parts: HttpParts) -> HttpState {
        HttpState(Arc::new(parts))
    }
}

impl std::ops::Deref for HttpState {
    type Target = HttpParts;

    fn deref(&self) -> &HttpParts {
        &self.0
    }
}

/// What [`HttpState`] holds.
pub struct HttpParts {
    /// The application core: store, views, commands, marks.
    pub app: App,
    /// Bearer tokens.
    pub tokens: Arc<Tokens>,
    /// Integration keys of the PagerDuty and GoAlert receivers (key → service).
    pub integrations: Arc<receivers::keys::IntegrationKeys>,
    /// Replay cache for `Idempotency-Key`.
    pub idempotency: Arc<idempotency::IdempotencyCache>,
    /// Limits.
    pub settings: Arc<HttpSettings>,
    /// Every event's SSE frame, encoded once for all `/v1/subscribe` subscribers.
    pub frames: Arc<frames::FrameRing>,
    /// The console's sign-in sessions.
    pub console: Arc<console::Sessions>,
}

/// Event metadata for a command `principal` sends through the API.
pub fn api_metadata(principal: &Principal) -> Metadata {
    App::metadata(&principal.name, "api")
}

macro_rules! role_extractor {
    ($(#[$doc:meta])* $name:ident, $role:expr) => {
        $(#[$doc])*
        pub struct $name(pub Principal);

        impl FromRequestParts<HttpState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &HttpState,
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
pub fn router(state: HttpState) -> Router {
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
        .route(
            "/v1/consumers",
            post(consumers::create).get(consumers::list),
        )
        .route(
            "/v1/consumers/{name}",
            get(consumers::get_one).delete(consumers::delete),
        )
        .route("/v1/consumers/{name}/events", get(consumers::events))
        .route("/v1/consumers/{name}/ack", post(consumers::ack))
        .route("/v1/ledger/digest", get(proofs::digest))
        .route("/v1/ledger/proof/inclusion", get(proofs::inclusion))
        .route("/v1/ledger/proof/consistency", get(proofs::consistency))
        .route("/v1/ledger/verify", post(admin::verify))
        .route("/v1/admin/projections", get(admin::projections))
        .route("/v1/admin/projections/{name}/rebuild", post(admin::rebuild))
        .route(
            "/v1/integrations/alertmanager",
            post(receivers::alertmanager::receive),
        )
        .route("/v2/enqueue", post(receivers::pagerduty::enqueue))
        .route(
            "/api/v2/generic/incoming",
            post(receivers::goalert::incoming),
        )
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .merge(console::routes())
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
async fn observe(State(state): State<HttpState>, request: Request, next: Next) -> Response {
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
        .app
        .metrics
        .observe_request(method.as_str(), &route, status, latency);
    if !response.headers().contains_key(POSITION_HEADER) {
        let position = HeaderValue::from(state.app.views.applied());
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
