//! The operator and auditor console: HTML pages served by `alert-ledger serve` at `/`,
//! rendered on the server (maud) from the same application core and typed view queries
//! as the API, with one small script of our own for live updates. No build step, no
//! third-party asset. ADR 0018; docs/console.md.
//!
//! # Layout
//! - [`page`]: the layout, time travel (`as_of` on every page), links, error pages.
//! - [`session`]: sign-in sessions (cookie), roles, CSRF and Origin checks.
//! - [`actions`]: the writes (acknowledge, resolve, escalate, note) and sign-in/out.
//! - [`alarms`]: the live board of active alarms, and its SSE feed.
//! - [`alerts`]: the alert list with filters, search, paging and export.
//! - [`alert`]: one alert's timeline.
//! - [`deliveries`]: channel health and messages by delivery state.
//! - [`tasks`]: self-healing tasks per host.
//! - [`ledger`]: head, digest, one event, projections, verify, rebuild.
//! - [`trends`]: MTTA, MTTR and alert counts per service per day (SVG).

pub mod actions;
pub mod alarms;
pub mod alert;
pub mod alerts;
pub mod deliveries;
pub mod ledger;
pub mod page;
pub mod session;
pub mod tasks;
pub mod trends;

pub use session::Sessions;

use super::HttpState;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// The console's stylesheet.
const CSS: &str = include_str!("static/console.css");
/// The console's script: the live board, the rebuild's progress.
const JS: &str = include_str!("static/console.js");

/// The console's routes (merged into the API's router).
pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/", get(alarms::board))
        .route("/alerts", get(alerts::list))
        .route("/alerts/export.csv", get(alerts::export_csv))
        .route("/alerts/export.ndjson", get(alerts::export_ndjson))
        .route("/alerts/{id}", get(alert::detail))
        .route("/alerts/{id}/{action}", post(actions::alert_action))
        .route("/deliveries", get(deliveries::page))
        .route("/tasks", get(tasks::list))
        .route("/ledger", get(ledger::page))
        .route("/ledger/digest.json", get(ledger::digest))
        .route("/ledger/verify", post(ledger::verify))
        .route("/ledger/rebuild", post(ledger::start_rebuild))
        .route("/trends", get(trends::page))
        .route("/login", get(actions::login_page).post(actions::login))
        .route("/logout", post(actions::logout))
        .route("/console/live", get(alarms::live))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        JS,
    )
}
