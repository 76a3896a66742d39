//! Self-healing tasks: created through the API or by a task rule, started and
//! finished host by host by the agents, cancelled, and timed out by the scheduler.
//! Every step is an event in the task's own stream (`task-<id>`).

use super::limits::{self, schema};
use super::trigger::{bounded_text, parse_id};
use super::{App, AppError, Written};
use crate::commands::Outcome;
use projections::decide::{decide_task, Rejection, TaskCommand, TaskState};
use projections::ids::{AlertId, HostName, TaskId};
use projections::{Event, Metadata, TaskSpec};
use serde::Deserialize;

/// Body of `POST /v1/tasks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// Optional id (a UUID); one is generated when absent. Re-sending the same id is
    /// rejected with 409, so a client-chosen id makes creation safe to retry.
    #[serde(default)]
    #[schema(schema_with = schema::optional_uuid)]
    pub task_id: Option<String>,
    /// The script to run, 1 to 65,536 characters.
    #[schema(schema_with = schema::text::<{ limits::SCRIPT_CHARS }>)]
    pub script: String,
    /// Arguments (up to 64, each at most 4,096 characters).
    #[serde(default)]
    #[schema(schema_with = schema::args)]
    pub args: Vec<String>,
    /// Target hosts (1 to 256).
    #[schema(schema_with = schema::hosts)]
    pub hosts: Vec<String>,
    /// Seconds each host may run, 1 to 86,400.
    #[schema(schema_with = schema::task_timeout_secs)]
    pub timeout_secs: u32,
    /// The alert this task heals.
    #[serde(default)]
    #[schema(schema_with = schema::optional_uuid)]
    pub alert_id: Option<String>,
}

/// Body of `POST /v1/tasks/{id}/hosts/{host}/result`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResultBody {
    /// The script's exit code.
    #[schema(schema_with = schema::exit_code)]
    pub exit_code: i32,
    /// The last part of its output (at most 16,384 characters; longer is rejected,
    /// agents send the tail).
    #[serde(default)]
    #[schema(schema_with = schema::output_tail)]
    pub output_tail: String,
}

/// Body of `POST /v1/tasks/{id}/cancel`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Why, 1 to 1,024 characters.
    #[schema(schema_with = schema::text::<{ limits::REASON_CHARS }>)]
    pub reason: String,
}

impl App {
    /// Creates a task (its id is the body's `task_id` or a fresh one); re-sending an
    /// id that exists is refused (`TaskAlreadyExists`), so a chosen id is safe to retry.
    pub async fn create_task(
        &self,
        body: &TaskBody,
        metadata: Metadata,
    ) -> Result<(TaskId, Written), AppError> {
        let task_id = match &body.task_id {
            Some(raw) => {
                TaskId::parse(raw).map_err(|_| AppError::field("task_id", "must be a UUID"))?
            }
            None => TaskId(uuid::Uuid::new_v4()),
        };
        let spec = task_spec(&body.script, &body.args, &body.hosts, body.timeout_secs)?;
        let alert_id = match &body.alert_id {
            None => None,
            Some(raw) => Some(
                AlertId::parse(raw).map_err(|_| AppError::field("alert_id", "must be a UUID"))?,
            ),
        };
        let command = TaskCommand::Create {
            task_id,
            spec,
            alert_id,
        };
        let written = self.task_command(task_id, command, metadata, true).await?;
        Ok((task_id, written))
    }

    /// Creates the task a task rule asks for on an alert (the scheduler's command);
    /// `Ok(false)` when the decision wrote nothing.
    pub async fn create_task_from_rule(
        &self,
        task_id: TaskId,
        spec: TaskSpec,
        alert_id: AlertId,
        metadata: Metadata,
    ) -> Result<bool, AppError> {
        let command = TaskCommand::Create {
            task_id,
            spec,
            alert_id: Some(alert_id),
        };
        let outcome = self
            .on_task(task_id, metadata, |s| decide_task(s, command.clone()))
            .await?;
        Ok(outcome.append.is_some())
    }

    /// An agent began the run on `host`.
    pub async fn start_host(
        &self,
        task_id: TaskId,
        host: HostName,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let command = TaskCommand::StartHost { task_id, host };
        self.task_command(task_id, command, metadata, false).await
    }

    /// A host's exit code and output tail (at most 16,384 characters).
    pub async fn report_result(
        &self,
        task_id: TaskId,
        host: HostName,
        body: ResultBody,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        if body.output_tail.chars().count() > limits::OUTPUT_TAIL_CHARS {
            return Err(AppError::field(
                "output_tail",
                format!("must be at most {} characters", limits::OUTPUT_TAIL_CHARS),
            ));
        }
        let command = TaskCommand::FinishHost {
            task_id,
            host,
            exit_code: body.exit_code,
            output_tail: body.output_tail,
        };
        self.task_command(task_id, command, metadata, false).await
    }

    /// Cancels a task's unfinished hosts, with a reason of 1 to 1,024 characters.
    pub async fn cancel_task(
        &self,
        task_id: TaskId,
        body: &CancelBody,
        metadata: Metadata,
    ) -> Result<Written, AppError> {
        let reason = bounded_text("reason", &body.reason, limits::REASON_CHARS)?;
        let command = TaskCommand::Cancel { task_id, reason };
        self.task_command(task_id, command, metadata, false).await
    }

    /// Times `host` out if `due` says, on the task as its stream reads, that its
    /// deadline has passed (the scheduler's command). `Ok(false)`: nothing to do
    /// (started meanwhile with a later deadline, finished, or gone).
    pub async fn time_out_host(
        &self,
        task_id: TaskId,
        host: &HostName,
        due: impl Fn(&TaskState) -> bool,
        metadata: Metadata,
    ) -> Result<bool, AppError> {
        let command = TaskCommand::TimeOutHost {
            task_id,
            host: host.clone(),
        };
        let outcome = self
            .on_task(task_id, metadata, |s| {
                if due(s) {
                    decide_task(s, command.clone())
                } else {
                    Ok(Vec::new())
                }
            })
            .await?;
        Ok(outcome.append.is_some())
    }

    async fn task_command(
        &self,
        task_id: TaskId,
        command: TaskCommand,
        metadata: Metadata,
        creates: bool,
    ) -> Result<Written, AppError> {
        let outcome = self
            .on_task(task_id, metadata, |s| decide_task(s, command.clone()))
            .await?;
        self.written(&outcome, creates).await
    }

    /// Loads task `task_id`'s stream, decides with `decide` and appends.
    async fn on_task(
        &self,
        task_id: TaskId,
        metadata: Metadata,
        decide: impl Fn(&TaskState) -> Result<Vec<Event>, Rejection>,
    ) -> Result<Outcome, AppError> {
        let stream = projections::streams::task(task_id);
        let outcome = self
            .commands
            .execute(&stream, TaskState::default(), metadata, decide)
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
}

/// What to run and where, checked field by field: the one rule for a task's spec,
/// whether it comes with `POST /v1/tasks` or as a task rule's template
/// (`POST /v1/task-rules`), so the two cannot drift apart.
pub fn task_spec(
    script: &str,
    args: &[String],
    hosts: &[String],
    timeout_secs: u32,
) -> Result<TaskSpec, AppError> {
    let script = bounded_text("script", script, limits::SCRIPT_CHARS)?;
    if args.len() > limits::ARGS {
        return Err(AppError::field(
            "args",
            format!("at most {} arguments", limits::ARGS),
        ));
    }
    if let Some(i) = args
        .iter()
        .position(|a| a.chars().count() > limits::ARG_CHARS)
    {
        return Err(AppError::field(
            format!("args[{i}]"),
            format!("must be at most {} characters", limits::ARG_CHARS),
        ));
    }
    if hosts.is_empty() || hosts.len() > limits::HOSTS {
        return Err(AppError::field(
            "hosts",
            format!("must list 1 to {} hosts", limits::HOSTS),
        ));
    }
    let hosts = hosts
        .iter()
        .enumerate()
        .map(|(i, raw)| parse_id(&format!("hosts[{i}]"), HostName::parse(raw)))
        .collect::<Result<Vec<_>, _>>()?;
    // A repeated host is refused by the decision (`hosts[i]`), for every origin.
    if timeout_secs == 0 || timeout_secs > limits::TASK_TIMEOUT_SECS {
        return Err(AppError::field(
            "timeout_secs",
            format!("must be between 1 and {}", limits::TASK_TIMEOUT_SECS),
        ));
    }
    Ok(TaskSpec {
        script,
        args: args.to_vec(),
        hosts,
        timeout_secs,
    })
}
