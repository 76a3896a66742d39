//! Resources that own alarms ("syncs") and self-healing tasks: the routes over
//! [`crate::app::syncs`] and [`crate::app::tasks`].

use super::error::ApiError;
use super::extract::{MaybeJson, QueryParams, ValidJson};
use super::reads::{position_header, read_views};
use super::{api_metadata, HttpState, ReaderAuth, WriterAuth};
use crate::app::syncs::SyncBody;
use crate::app::tasks::{CancelBody, ResultBody, TaskBody};
use crate::app::trigger::parse_id;
use crate::app::Written;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::{HostName, SyncId, TaskId};
use projections::Position;
use serde::{Deserialize, Serialize};

/// What a resource or task command returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct WriteResponse {
    /// The resource or task id.
    pub id: String,
    /// `false` when the command changed nothing.
    pub changed: bool,
    /// Log position of the write (or of the head when nothing was written).
    pub position: Position,
}

/// The answer to a write: 201 when it created what `id` names, else 200; the id,
/// whether anything changed and the position (the head's when nothing was written).
pub(super) fn respond(id: String, written: Written) -> Response {
    let status = if written.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = WriteResponse {
        id,
        changed: written.changed,
        position: written.position,
    };
    (status, position_header(written.position), Json(body)).into_response()
}

/// `POST /v1/syncs`: 201 registered, 200 already registered with that name.
pub async fn register_sync(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<SyncBody>,
) -> Result<Response, ApiError> {
    let metadata = api_metadata(&principal);
    let (sync_id, written) = state.app.register_sync(&body, metadata).await?;
    Ok(respond(sync_id.to_string(), written))
}

/// `DELETE /v1/syncs/{id}`: deletes the resource and resolves its alarms.
pub async fn delete_sync(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sync_id = parse_id("path.id", SyncId::parse(&id))?;
    let written = state
        .app
        .delete_sync(&sync_id, api_metadata(&principal))
        .await?;
    Ok(respond(sync_id.to_string(), written))
}

/// `GET /v1/syncs`: every resource, deleted ones included (`deleted` filter).
pub async fn list_syncs(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["deleted", "min_position", "as_of"])?;
    let deleted = params.parse_opt::<bool>("deleted", "true or false")?;
    read_views(&state, &params, move |views| {
        Ok(serde_json::json!({ "items": views.syncs(deleted) }))
    })
    .await
}

/// `POST /v1/tasks`.
pub async fn create_task(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<TaskBody>,
) -> Result<Response, ApiError> {
    let metadata = api_metadata(&principal);
    let (task_id, written) = state.app.create_task(&body, metadata).await?;
    Ok(respond(task_id.to_string(), written))
}

/// `POST /v1/tasks/{id}/hosts/{host}/start`: an agent began the run.
pub async fn start_host(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path((id, host)): Path<(String, String)>,
    MaybeJson(_body): MaybeJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    let (task_id, host) = parse_task_host(&id, &host)?;
    let metadata = api_metadata(&principal);
    let written = state.app.start_host(task_id, host, metadata).await?;
    Ok(respond(task_id.to_string(), written))
}

/// `POST /v1/tasks/{id}/hosts/{host}/result`: a host's exit code and output tail.
pub async fn report_result(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path((id, host)): Path<(String, String)>,
    ValidJson(body): ValidJson<ResultBody>,
) -> Result<Response, ApiError> {
    let (task_id, host) = parse_task_host(&id, &host)?;
    let metadata = api_metadata(&principal);
    let written = state
        .app
        .report_result(task_id, host, body, metadata)
        .await?;
    Ok(respond(task_id.to_string(), written))
}

/// `POST /v1/tasks/{id}/cancel`.
pub async fn cancel_task(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<CancelBody>,
) -> Result<Response, ApiError> {
    let task_id = parse_task_id(&id)?;
    let metadata = api_metadata(&principal);
    let written = state.app.cancel_task(task_id, &body, metadata).await?;
    Ok(respond(task_id.to_string(), written))
}

fn parse_task_id(raw: &str) -> Result<TaskId, ApiError> {
    TaskId::parse(raw).map_err(|_| ApiError::field("path.id", "must be a UUID"))
}

fn parse_task_host(id: &str, host: &str) -> Result<(TaskId, HostName), ApiError> {
    Ok((
        parse_task_id(id)?,
        parse_id("path.host", HostName::parse(host))?,
    ))
}

/// `GET /v1/tasks/{id}`.
pub async fn get_task(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let task_id = parse_task_id(&id)?;
    let params = QueryParams::parse(query.as_deref(), &["min_position", "as_of"])?;
    read_views(&state, &params, move |views| {
        views
            .task(task_id)
            .ok_or_else(|| ApiError::NotFound(format!("task {task_id} does not exist")))
    })
    .await
}

/// `GET /v1/tasks`: tasks, optionally only those with work for `host`.
pub async fn list_tasks(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(
        query.as_deref(),
        &["host", "pending", "min_position", "as_of"],
    )?;
    let host = match params.get("host") {
        None => None,
        Some(raw) => Some(parse_id("query.host", HostName::parse(raw))?),
    };
    let pending = params
        .parse_opt::<bool>("pending", "true or false")?
        .unwrap_or(false);
    read_views(&state, &params, move |views| {
        Ok(serde_json::json!({ "items": views.tasks(host.as_ref(), pending) }))
    })
    .await
}
