//! Resources that own alarms ("syncs") and self-healing tasks: the routes over
//! [`crate::app::syncs`] and [`crate::app::tasks`].

use super::error::ApiError;
use super::extract::{MaybeJson, ValidJson};
use super::query::{self, ViewAt};
use super::reads::{position_header, read_views};
use super::{api_metadata, HttpState, ReaderAuth, WriterAuth};
use crate::app::limits;
use crate::app::syncs::SyncBody;
use crate::app::tasks::{CancelBody, ResultBody, TaskBody};
use crate::app::trigger::parse_id;
use crate::app::Written;
use crate::projection::queries::TaskFilter;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::ids::{AlertId, HostName, SyncId, TaskId};
use projections::Position;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

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

/// `GET /v1/syncs`'s filter and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncsQuery {
    /// Only deleted (true) or live (false) resources
    deleted: Option<bool>,
    /// Page size
    #[param(value_type = Option<query::schema::Page>, inline)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page
    #[param(value_type = Option<query::schema::Name>, inline)]
    cursor: Option<SyncId>,
}

/// `GET /v1/syncs`: resources in id order, deleted ones included (`deleted` filter);
/// `limit`, `cursor`.
pub async fn list_syncs(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, at): (SyncsQuery, ViewAt) = query::parse_with(raw.as_deref())?;
    let limit = query::limit(query.limit, limits::PAGE)?;
    let (deleted, cursor) = (query.deleted, query.cursor);
    read_views(&state, &at, move |views| {
        Ok(views.syncs(deleted, cursor.as_ref(), limit))
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
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let task_id = parse_task_id(&id)?;
    let at: ViewAt = query::parse(raw.as_deref())?;
    read_views(&state, &at, move |views| {
        views
            .task(task_id)
            .ok_or_else(|| ApiError::NotFound(format!("task {task_id} does not exist")))
    })
    .await
}

/// `GET /v1/tasks`'s filters and page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TasksQuery {
    /// Only tasks that run on this host
    #[param(value_type = Option<query::schema::Host>, inline)]
    host: Option<HostName>,
    /// Only unfinished tasks (with host: the host's run is unfinished)
    pending: Option<bool>,
    /// Only tasks started for this alert
    #[param(value_type = Option<query::schema::Uuid>, inline)]
    alert_id: Option<AlertId>,
    /// Page size
    #[param(value_type = Option<query::schema::Page>, inline)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page
    #[param(value_type = Option<query::schema::Uuid>, inline)]
    cursor: Option<TaskId>,
}

/// `GET /v1/tasks`: tasks in id order, optionally only those with work for `host`,
/// only unfinished ones (`pending`), or those of one alert (`alert_id`); `limit`,
/// `cursor`.
pub async fn list_tasks(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, at): (TasksQuery, ViewAt) = query::parse_with(raw.as_deref())?;
    let limit = query::limit(query.limit, limits::PAGE)?;
    let cursor = query.cursor;
    let filter = TaskFilter {
        host: query.host,
        pending: query.pending.unwrap_or(false),
        alert: query.alert_id,
    };
    read_views(&state, &at, move |views| {
        Ok(views.tasks(&filter, cursor, limit))
    })
    .await
}
