//! Resources that own alarms ("syncs") and self-healing tasks.

use super::error::ApiError;
use super::extract::{MaybeJson, QueryParams, ValidJson};
use super::reads::{position_header, read_views};
use super::{AppState, ReaderAuth, WriterAuth};
use crate::commands::Outcome;
use crate::http::auth::Principal;
use crate::ingest::{bounded_text, parse_id};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::decide::{
    decide_sync, decide_task, SyncCommand, SyncState, TaskCommand, TaskState,
};
use projections::ids::{AlertId, HostName, SyncId, TaskId};
use projections::{Event, Position, TaskSpec};
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

/// The answer to a write: 201 (`created`) or 200, the id, whether anything changed
/// and the position (the head's when nothing was written).
pub(super) async fn respond(
    state: &AppState,
    id: String,
    outcome: Outcome,
    created: StatusCode,
) -> Result<Response, ApiError> {
    let (position, status) = match outcome.append {
        Some(append) => (append.last_position, created),
        None => (state.store.head().await?.position, StatusCode::OK),
    };
    let body = WriteResponse {
        id,
        changed: !outcome.events.is_empty(),
        position,
    };
    Ok((status, position_header(position), Json(body)).into_response())
}

/// Body of `POST /v1/syncs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// Resource id: letters, digits, `. _ : -`, at most 128.
    pub id: String,
    /// Human-readable name, 1 to 256 characters.
    pub name: String,
}

/// `POST /v1/syncs`: 201 registered, 200 already registered with that name.
pub async fn register_sync(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<SyncBody>,
) -> Result<Response, ApiError> {
    let sync_id = parse_id("id", SyncId::parse(&body.id))?;
    let name = bounded_text("name", &body.name, 256)?;
    let command = SyncCommand::Register {
        sync_id: sync_id.clone(),
        name,
    };
    let outcome = sync_command(&state, &principal, &sync_id, command).await?;
    respond(&state, sync_id.to_string(), outcome, StatusCode::CREATED).await
}

/// `DELETE /v1/syncs/{id}`: deletes the resource and resolves its alarms.
pub async fn delete_sync(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let sync_id = parse_id("path.id", SyncId::parse(&id))?;
    let command = SyncCommand::Delete {
        sync_id: sync_id.clone(),
    };
    let outcome = sync_command(&state, &principal, &sync_id, command).await?;
    respond(&state, sync_id.to_string(), outcome, StatusCode::OK).await
}

async fn sync_command(
    state: &AppState,
    principal: &Principal,
    sync_id: &SyncId,
    command: SyncCommand,
) -> Result<Outcome, ApiError> {
    let stream = projections::streams::sync(sync_id);
    let metadata = AppState::metadata(principal, "api");
    let outcome = state
        .commands
        .execute(&stream, SyncState::default(), metadata, |s| {
            decide_sync(s, command.clone())
        })
        .await?;
    if let Some(append) = outcome.append {
        super::WriteMarks::wrote(&state.marks.syncs, append.last_position);
    }
    Ok(outcome)
}

/// `GET /v1/syncs`: every resource, deleted ones included (`deleted` filter).
pub async fn list_syncs(
    ReaderAuth(_): ReaderAuth,
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["deleted", "min_position", "as_of"])?;
    let deleted = params.parse_opt::<bool>("deleted", "true or false")?;
    read_views(&state, &params, move |views| {
        Ok(serde_json::json!({ "items": views.syncs(deleted) }))
    })
    .await
}

/// Body of `POST /v1/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// Optional id (a UUID); one is generated when absent. Re-sending the same id is
    /// rejected with 409, so a client-chosen id makes creation safe to retry.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The script to run, 1 to 65,536 characters.
    pub script: String,
    /// Arguments (up to 64, each at most 4,096 characters).
    #[serde(default)]
    pub args: Vec<String>,
    /// Target hosts (1 to 256).
    pub hosts: Vec<String>,
    /// Seconds each host may run, 1 to 86,400.
    pub timeout_secs: u32,
    /// The alert this task heals.
    #[serde(default)]
    pub alert_id: Option<String>,
}

/// `POST /v1/tasks`.
pub async fn create_task(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    ValidJson(body): ValidJson<TaskBody>,
) -> Result<Response, ApiError> {
    let task_id = match &body.task_id {
        Some(raw) => {
            TaskId::parse(raw).map_err(|_| ApiError::field("task_id", "must be a UUID"))?
        }
        None => TaskId(uuid::Uuid::new_v4()),
    };
    let spec = validate_task(&body)?;
    let alert_id = match &body.alert_id {
        None => None,
        Some(raw) => {
            Some(AlertId::parse(raw).map_err(|_| ApiError::field("alert_id", "must be a UUID"))?)
        }
    };
    let command = TaskCommand::Create {
        task_id,
        spec,
        alert_id,
    };
    let outcome = task_command(&state, &principal, task_id, command).await?;
    respond(&state, task_id.to_string(), outcome, StatusCode::CREATED).await
}

fn validate_task(body: &TaskBody) -> Result<TaskSpec, ApiError> {
    task_spec(&body.script, &body.args, &body.hosts, body.timeout_secs)
}

/// What to run and where, checked field by field: the one rule for a task's spec,
/// whether it comes with `POST /v1/tasks` or as a task rule's template
/// (`POST /v1/task-rules`), so the two cannot drift apart.
pub(super) fn task_spec(
    script: &str,
    args: &[String],
    hosts: &[String],
    timeout_secs: u32,
) -> Result<TaskSpec, ApiError> {
    let script = bounded_text("script", script, 65_536)?;
    if args.len() > 64 {
        return Err(ApiError::field("args", "at most 64 arguments"));
    }
    if let Some(i) = args.iter().position(|a| a.chars().count() > 4096) {
        return Err(ApiError::field(
            format!("args[{i}]"),
            "must be at most 4096 characters",
        ));
    }
    if hosts.is_empty() || hosts.len() > 256 {
        return Err(ApiError::field("hosts", "must list 1 to 256 hosts"));
    }
    let hosts = hosts
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_id(&format!("hosts[{i}]"), HostName::parse(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    // A repeated host is refused by the decision (`hosts[i]`), for every origin.
    if timeout_secs == 0 || timeout_secs > 86_400 {
        return Err(ApiError::field(
            "timeout_secs",
            "must be between 1 and 86400",
        ));
    }
    Ok(TaskSpec {
        script,
        args: args.to_vec(),
        hosts,
        timeout_secs,
    })
}

/// Body of `POST /v1/tasks/{id}/hosts/{host}/result`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    /// The script's exit code.
    pub exit_code: i32,
    /// The last part of its output (at most 16,384 characters; longer is rejected,
    /// agents send the tail).
    #[serde(default)]
    pub output_tail: String,
}

/// `POST /v1/tasks/{id}/hosts/{host}/start`: an agent began the run.
pub async fn start_host(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    Path((id, host)): Path<(String, String)>,
    MaybeJson(_body): MaybeJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, ApiError> {
    let (task_id, host) = parse_task_host(&id, &host)?;
    let command = TaskCommand::StartHost { task_id, host };
    let outcome = task_command(&state, &principal, task_id, command).await?;
    respond(&state, task_id.to_string(), outcome, StatusCode::OK).await
}

/// `POST /v1/tasks/{id}/hosts/{host}/result`: a host's exit code and output tail.
pub async fn report_result(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    Path((id, host)): Path<(String, String)>,
    ValidJson(body): ValidJson<ResultBody>,
) -> Result<Response, ApiError> {
    let (task_id, host) = parse_task_host(&id, &host)?;
    if body.output_tail.chars().count() > 16_384 {
        return Err(ApiError::field(
            "output_tail",
            "must be at most 16384 characters",
        ));
    }
    let command = TaskCommand::FinishHost {
        task_id,
        host,
        exit_code: body.exit_code,
        output_tail: body.output_tail,
    };
    let outcome = task_command(&state, &principal, task_id, command).await?;
    respond(&state, task_id.to_string(), outcome, StatusCode::OK).await
}

/// Body of `POST /v1/tasks/{id}/cancel`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why, 1 to 1,024 characters.
    pub reason: String,
}

/// `POST /v1/tasks/{id}/cancel`.
pub async fn cancel_task(
    WriterAuth(principal): WriterAuth,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ValidJson(body): ValidJson<CancelBody>,
) -> Result<Response, ApiError> {
    let task_id = parse_task_id(&id)?;
    let reason = bounded_text("reason", &body.reason, 1024)?;
    let command = TaskCommand::Cancel { task_id, reason };
    let outcome = task_command(&state, &principal, task_id, command).await?;
    respond(&state, task_id.to_string(), outcome, StatusCode::OK).await
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

async fn task_command(
    state: &AppState,
    principal: &Principal,
    task_id: TaskId,
    command: TaskCommand,
) -> Result<Outcome, ApiError> {
    let stream = projections::streams::task(task_id);
    let metadata = AppState::metadata(principal, "api");
    let outcome = state
        .commands
        .execute(&stream, TaskState::default(), metadata, |s| {
            decide_task(s, command.clone())
        })
        .await?;
    if outcome
        .events
        .iter()
        .any(|e| matches!(e, Event::TaskCreated { .. }))
    {
        tracing::info!(%task_id, "task created");
    }
    Ok(outcome)
}

/// `GET /v1/tasks/{id}`.
pub async fn get_task(
    ReaderAuth(_): ReaderAuth,
    State(state): State<AppState>,
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
    State(state): State<AppState>,
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
