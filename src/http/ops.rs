//! Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI
//! document; and the JSON 404 for unknown paths.

use super::error::ApiError;
use super::HttpState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::Severity;
use serde::Serialize;
use std::sync::atomic::Ordering;

/// `GET /livez`: answers while the process runs.
pub async fn livez() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "live" }))
}

/// Readiness with the reason when not ready.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Position the views have applied.
    pub applied_position: u64,
    /// The log's head position.
    pub head_position: u64,
    /// Events the views are behind.
    pub lag: u64,
    /// Events that failed to fold since start.
    pub fold_errors: u64,
    /// The view file's checks: a file moved aside at start, the page check, failed reads.
    pub views: crate::projection::health::ViewHealth,
}

/// `GET /readyz`: 200 once the views caught up and follow the log; 503 otherwise.
pub async fn readyz(State(state): State<HttpState>) -> Response {
    let applied = state.app.views.applied();
    let health = state.app.views.health();
    let head = state.app.store.head().await.map(|h| h.position);
    let reason = match &head {
        _ if state.app.shutting_down.load(Ordering::Relaxed) => Some("shutting down".to_owned()),
        Err(err) => Some(format!("store unavailable: {err}")),
        Ok(_) if !state.app.views.is_following() => Some("views are not following the log".into()),
        Ok(_) if health.problem().is_some() => health.problem(),
        Ok(_) if state.app.dispatch.not_ready_reason().is_some() => {
            state.app.dispatch.not_ready_reason().map(str::to_owned)
        }
        Ok(_) => None,
    };
    let head = head.unwrap_or(applied);
    let body = Readiness {
        status: if reason.is_none() {
            "ready"
        } else {
            "not_ready"
        },
        reason: reason.clone(),
        applied_position: applied,
        head_position: head,
        lag: head.saturating_sub(applied),
        fold_errors: state.app.views.fold_errors(),
        views: health,
    };
    let status = match reason {
        None => StatusCode::OK,
        Some(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics`: the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when the
/// scrape's `Accept` asks for `application/openmetrics-text`.
pub async fn metrics(State(state): State<HttpState>, headers: axum::http::HeaderMap) -> Response {
    let counts = state.app.views.current().open_alerts_by_severity();
    let labelled: Vec<(&str, u64)> = Severity::ALL
        .iter()
        .zip(counts)
        .map(|(severity, count)| (severity.as_str(), count))
        .collect();
    state.app.metrics.set_open_alerts(&labelled);
    if let Ok(groups) = state.app.consumer_statuses().await {
        let rows: Vec<(&str, u64, u64)> = groups
            .iter()
            .map(|g| (g.group.name.as_str(), g.lag, g.members.len() as u64))
            .collect();
        state.app.metrics.set_consumers(&rows);
    }
    state
        .app
        .metrics
        .set_applied_position(state.app.views.applied());
    let health = state.app.views.health();
    state.app.metrics.set_view_file(
        health.set_aside.is_some(),
        matches!(
            health.deep_check,
            crate::projection::health::DeepCheck::Failed { .. }
        ),
        health.read_errors,
    );
    if let Ok(head) = state.app.store.head().await {
        state.app.metrics.set_head_position(head.position);
    }
    if let Some(tree) = &state.app.tree {
        state.app.metrics.set_merkle_tree_size(tree.head().size);
    }
    state
        .app
        .metrics
        .set_fold_errors(state.app.views.fold_errors());
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (content_type, body) = if openmetrics {
        (
            crate::metrics::OPENMETRICS_CONTENT_TYPE,
            state.app.metrics.render_openmetrics(),
        )
    } else {
        (
            crate::metrics::TEXT_CONTENT_TYPE,
            state.app.metrics.render(),
        )
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// `GET /openapi.json`.
pub async fn openapi() -> Json<serde_json::Value> {
    Json(super::openapi::document())
}

/// Unknown paths get a problem document too.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A known path with a method it does not take (axum adds the `Allow` header).
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
