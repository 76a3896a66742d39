//! Self-healing tasks: creation and each host's run.

use super::{require_unique, Rejection, StreamState};
use crate::ids::{AlertId, HostName, TaskId};
use crate::views::{HostRun, HostState, TasksView};
use crate::{Event, RecordedEvent, StreamVersion, TaskSpec};
use chrono::{DateTime, SecondsFormat, Utc};

/// A task's stream folded: its last version and its view entry.
#[derive(Debug, Clone, Default)]
pub struct TaskState {
    /// Version of the stream's last event (`None`: no stream yet).
    pub version: Option<StreamVersion>,
    /// The fold of this one stream.
    pub view: TasksView,
}

impl StreamState for TaskState {
    /// Folds one event of the task's stream into the state.
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        // Errors are reported by the global views; the state keeps what was valid.
        let _ = self.view.apply(event);
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

/// What can be asked of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskCommand {
    /// Create a task (by hand, from an alert, or from a rule).
    Create {
        /// The new task's id.
        task_id: TaskId,
        /// What to run and where.
        spec: TaskSpec,
        /// The alert it heals, if any.
        alert_id: Option<AlertId>,
    },
    /// An agent began running the task on a host.
    StartHost {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
    },
    /// An agent reports a host's result.
    FinishHost {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
        /// Exit code (0 = success).
        exit_code: i32,
        /// Last part of the output.
        output_tail: String,
    },
    /// The host's timeout passed without a result.
    TimeOutHost {
        /// The task.
        task_id: TaskId,
        /// The host.
        host: HostName,
    },
    /// Stop the task; hosts that have not finished are cancelled.
    Cancel {
        /// The task.
        task_id: TaskId,
        /// Why.
        reason: String,
    },
}

/// Decides what a task command records.
pub fn decide_task(state: &TaskState, command: TaskCommand) -> Result<Vec<Event>, Rejection> {
    match command {
        TaskCommand::Create {
            task_id,
            spec,
            alert_id,
        } => {
            require_unique("hosts", &spec.hosts)?;
            if state.view.tasks.contains_key(&task_id) {
                return Err(Rejection::TaskAlreadyExists(task_id));
            }
            Ok(vec![Event::TaskCreated {
                task_id,
                spec,
                alert_id,
            }])
        }
        TaskCommand::StartHost { task_id, host } => match host_run(state, task_id, &host)? {
            HostRun {
                state: HostState::Waiting,
                ..
            } => Ok(vec![Event::TaskHostStarted { task_id, host }]),
            HostRun {
                state: HostState::Running,
                ..
            } => Ok(Vec::new()),
            ended => Err(already_finished(task_id, host, ended)),
        },
        TaskCommand::FinishHost {
            task_id,
            host,
            exit_code,
            output_tail,
        } => {
            require_unfinished(state, task_id, &host)?;
            Ok(vec![Event::TaskHostFinished {
                task_id,
                host,
                exit_code,
                output_tail,
            }])
        }
        TaskCommand::TimeOutHost { task_id, host } => {
            require_unfinished(state, task_id, &host)?;
            Ok(vec![Event::TaskHostTimedOut { task_id, host }])
        }
        TaskCommand::Cancel { task_id, reason } => {
            let task = state
                .view
                .tasks
                .get(&task_id)
                .ok_or(Rejection::UnknownTask(task_id))?;
            if task.is_finished() {
                return Ok(Vec::new());
            }
            Ok(vec![Event::TaskCancelled { task_id, reason }])
        }
    }
}

fn host_run<'a>(
    state: &'a TaskState,
    task_id: TaskId,
    host: &HostName,
) -> Result<&'a HostRun, Rejection> {
    let task = state
        .view
        .tasks
        .get(&task_id)
        .ok_or(Rejection::UnknownTask(task_id))?;
    task.hosts.get(host).ok_or_else(|| Rejection::UnknownHost {
        task_id,
        host: host.clone(),
    })
}

fn require_unfinished(
    state: &TaskState,
    task_id: TaskId,
    host: &HostName,
) -> Result<(), Rejection> {
    let run = host_run(state, task_id, host)?;
    if run.state.is_terminal() {
        return Err(already_finished(task_id, host.clone(), run));
    }
    Ok(())
}

fn already_finished(task_id: TaskId, host: HostName, run: &HostRun) -> Rejection {
    Rejection::HostAlreadyFinished {
        task_id,
        host,
        state: run.state,
        at: run.finished_at,
    }
}

/// How a host's run ended, for [`Rejection::HostAlreadyFinished`]: a result that
/// arrives after the host timed out is told so, not that the host "finished".
pub(crate) fn ending(state: HostState, at: &Option<DateTime<Utc>>) -> String {
    let when = match at {
        Some(at) => format!(" at {}", at.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => String::new(),
    };
    match state {
        HostState::Waiting | HostState::Running => format!("has not finished{when}"),
        HostState::Succeeded => format!("already succeeded{when}"),
        HostState::Failed => format!("already failed{when}"),
        HostState::TimedOut => format!(
            "timed out{when}: no result came within its timeout, so a result now is refused"
        ),
        HostState::Cancelled => format!("was cancelled{when} with its task"),
    }
}
