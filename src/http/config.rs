//! Configuration routes: notification channels, service routes, escalation policies
//! and task rules ([`crate::app::configuration`] runs them). Task rules run code on
//! hosts, so only `admin` may set them.

use super::error::ApiError;
use super::extract::ValidJson;
use super::query::{self, ViewAt};
use super::reads::read_views;
use super::resources::respond;
use super::{api_metadata, AdminAuth, HttpState, ReaderAuth, WriterAuth};
use crate::app::configuration::{ChannelBody, PolicyBody, RouteBody, TaskRuleBody};
use crate::app::trigger::parse_id;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use projections::ids::{ChannelId, RuleId, ServiceName};

/// `POST /v1/channels`: create (201) or update (200) a channel.
pub async fn put_channel(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<ChannelBody>,
) -> Result<Response, ApiError> {
    let (id, written) = state
        .app
        .put_channel(&body, api_metadata(&principal))
        .await?;
    Ok(respond(id.to_string(), written))
}

/// `DELETE /v1/channels/{id}`: remove a channel; its pending messages are abandoned.
pub async fn remove_channel(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let channel_id = parse_id("path.id", ChannelId::parse(&id))?;
    let metadata = api_metadata(&principal);
    let written = state.app.remove_channel(&channel_id, metadata).await?;
    Ok(respond(id, written))
}

/// `POST /v1/services/{service}/route`: set a service's channels and policy.
pub async fn set_route(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    Path(service): Path<String>,
    ValidJson(body): ValidJson<RouteBody>,
) -> Result<Response, ApiError> {
    let service = parse_id("path.service", ServiceName::parse(&service))?;
    let metadata = api_metadata(&principal);
    let written = state.app.set_route(&service, &body, metadata).await?;
    Ok(respond(service.to_string(), written))
}

/// `POST /v1/policies`: create or replace an escalation policy.
pub async fn set_policy(
    WriterAuth(principal): WriterAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<PolicyBody>,
) -> Result<Response, ApiError> {
    let (id, written) = state
        .app
        .set_policy(&body, api_metadata(&principal))
        .await?;
    Ok(respond(id.to_string(), written))
}

/// `POST /v1/task-rules` (admin): alerts of a service at a severity create a task.
pub async fn set_task_rule(
    AdminAuth(principal): AdminAuth,
    State(state): State<HttpState>,
    ValidJson(body): ValidJson<TaskRuleBody>,
) -> Result<Response, ApiError> {
    let metadata = api_metadata(&principal);
    let (id, written) = state.app.set_task_rule(&body, metadata).await?;
    Ok(respond(id.to_string(), written))
}

/// `DELETE /v1/task-rules/{id}` (admin).
pub async fn remove_task_rule(
    AdminAuth(principal): AdminAuth,
    State(state): State<HttpState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let rule_id = parse_id("path.id", RuleId::parse(&id))?;
    let metadata = api_metadata(&principal);
    let written = state.app.remove_task_rule(&rule_id, metadata).await?;
    Ok(respond(id, written))
}

/// `GET /v1/routing`: channels, service routes, policies and task rules.
pub async fn routing(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let at: ViewAt = query::parse(raw.as_deref())?;
    read_views(&state, &at, |views| Ok(views.routing())).await
}
