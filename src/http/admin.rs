//! Operator routes (admin role): projection status and online rebuild.

use super::error::ApiError;
use super::{AdminAuth, AppState};
use crate::projection::rebuild::{self, ProjectionName, RebuildStatus};
use crate::projection::SnapshotInfo;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One view and how big it is.
#[derive(Debug, Serialize)]
pub struct ProjectionRow {
    /// The view's name (the `{name}` of the rebuild route).
    pub name: ProjectionName,
    /// Rows (alerts, messages, active alarms, tasks, resources).
    pub rows: usize,
}

/// `GET /v1/admin/projections`.
#[derive(Debug, Serialize)]
pub struct ProjectionsStatus {
    /// Position the live views reflect.
    pub position: u64,
    /// The log's head.
    pub head: u64,
    /// Events the views are behind.
    pub lag: u64,
    /// Events that did not fold since start.
    pub fold_errors: u64,
    /// Whether the follower runs.
    pub following: bool,
    /// The last snapshot.
    pub snapshot: SnapshotInfo,
    /// Every view.
    pub projections: Vec<ProjectionRow>,
    /// The current or last online rebuild.
    pub rebuild: Option<RebuildStatus>,
}

/// `GET /v1/admin/projections`: status, lag, snapshot and rebuild progress.
pub async fn projections(
    AdminAuth(_): AdminAuth,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let head = state.store.head().await?.position;
    let (position, projections) = state.views.read(|views| {
        let rows = ProjectionName::EACH.map(|name| ProjectionRow {
            name,
            rows: match name {
                ProjectionName::Alerts => views.alerts.alerts.len(),
                ProjectionName::Messages => views.messages.messages.len(),
                ProjectionName::Alarms => views.alarms.active.len(),
                ProjectionName::Tasks => views.tasks.tasks.len(),
                ProjectionName::Syncs | ProjectionName::All => views.syncs.syncs.len(),
            },
        });
        (views.position, rows.into())
    });
    let body = ProjectionsStatus {
        position,
        head,
        lag: head.saturating_sub(position),
        fold_errors: state.views.fold_errors(),
        following: state.views.is_following(),
        snapshot: state.views.snapshot_info(),
        projections,
        rebuild: state.views.rebuild.status(),
    };
    Ok(Json(body).into_response())
}

/// `POST /v1/admin/projections/{name}/rebuild`: 202 and the rebuild's status; 409 if
/// one is running. The live views keep serving until the rebuilt ones are swapped in.
pub async fn rebuild(
    AdminAuth(principal): AdminAuth,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let projection = ProjectionName::parse(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no projection {name}; use all, alerts, messages, alarms, tasks or syncs"
        ))
    })?;
    match rebuild::start(state.store.clone(), state.views.clone(), projection) {
        Ok(status) => {
            tracing::info!(actor = %principal.name, projection = projection.as_str(), "online rebuild started");
            Ok((StatusCode::ACCEPTED, Json(status)).into_response())
        }
        Err(_running) => Err(ApiError::RebuildRunning),
    }
}
