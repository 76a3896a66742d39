//! Task host deadlines, fired as `TaskCommand::TimeOutHost`.
//!
//! A host's deadline follows from its task's own events, so no extra timer event is
//! needed (the deadline is as durable as the events it is computed from):
//! - a *waiting* host must start within `timeout_secs` of the task's creation;
//! - a *running* host must report within `timeout_secs` plus a grace period of its
//!   start (the agent kills the script at `timeout_secs` and reports that itself;
//!   the server's deadline catches agents that died).
//!
//! The deadline is checked again inside the decision, against the task stream as
//! read, and the append carries the stream's expected version: a host that started
//! or finished meanwhile is not timed out, and a host is timed out exactly once.

use crate::app::App;
use crate::app::AppError;
use crate::projection::ViewQueries;
use chrono::{DateTime, Utc};
use projections::decide::{Rejection, TaskState};
use projections::ids::{HostName, TaskId};
use projections::views::{HostState, TaskView};
use projections::{Event, RecordedEvent};
use std::collections::BTreeSet;
use std::time::Duration;

/// Pause before retrying a deadline whose command failed for a reason that may pass.
const RETRY_SECS: i64 = 1;

/// Host deadlines by time.
#[derive(Debug)]
pub struct TaskTimeouts {
    running_grace: chrono::Duration,
    due: BTreeSet<(DateTime<Utc>, TaskId, HostName)>,
}

impl TaskTimeouts {
    /// An empty index; running hosts get `running_grace` past their timeout.
    pub fn new(running_grace: Duration) -> TaskTimeouts {
        TaskTimeouts {
            running_grace: chrono::Duration::from_std(running_grace)
                .unwrap_or(chrono::Duration::MAX),
            due: BTreeSet::new(),
        }
    }

    /// Every unfinished host the views show.
    pub fn seed(&mut self, views: &dyn ViewQueries) {
        let unfinished = crate::projection::queries::TaskFilter {
            pending: true,
            ..Default::default()
        };
        for task in views.tasks(&unfinished, None, usize::MAX).items {
            for host in task.hosts.keys() {
                self.track(&task, host);
            }
        }
    }

    /// Notes the deadlines a task event sets.
    pub fn observe(&mut self, views: &dyn ViewQueries, event: &RecordedEvent) {
        let (task_id, host) = match &event.event {
            Event::TaskCreated { task_id, .. } => (task_id, None),
            Event::TaskHostStarted { task_id, host } => (task_id, Some(host)),
            _ => return,
        };
        let Some(task) = views.task(*task_id) else {
            return;
        };
        match host {
            Some(host) => self.track(&task, host),
            None => task.hosts.keys().for_each(|host| self.track(&task, host)),
        }
    }

    fn track(&mut self, task: &TaskView, host: &HostName) {
        if let Some(deadline) = deadline(task, host, self.running_grace) {
            self.due.insert((deadline, task.id, host.clone()));
        }
    }

    /// The earliest deadline, if any.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.due.first().map(|(due, _, _)| *due)
    }

    /// Times out every host whose deadline passed by `now`; returns how many this
    /// instance timed out.
    pub async fn fire_due(&mut self, state: &App, now: DateTime<Utc>) -> usize {
        let mut timed_out = 0;
        while let Some((due, task_id, host)) = self.due.first().cloned() {
            if due > now {
                break;
            }
            self.due.remove(&(due, task_id, host.clone()));
            match time_out(state, task_id, &host, now, self.running_grace).await {
                Ok(true) => timed_out += 1,
                Ok(false) => {}
                Err(()) => {
                    let retry = now + chrono::Duration::seconds(RETRY_SECS);
                    self.due.insert((retry, task_id, host));
                }
            }
        }
        timed_out
    }
}

/// When `host` of `task` times out, if it has not finished.
pub fn deadline(
    task: &TaskView,
    host: &HostName,
    running_grace: chrono::Duration,
) -> Option<DateTime<Utc>> {
    let run = task.hosts.get(host)?;
    let timeout = chrono::Duration::seconds(i64::from(task.spec.timeout_secs));
    match run.state {
        HostState::Waiting => Some(task.created_at + timeout),
        HostState::Running => {
            Some(run.started_at.unwrap_or(task.created_at) + timeout + running_grace)
        }
        HostState::Succeeded | HostState::Failed | HostState::TimedOut | HostState::Cancelled => {
            None
        }
    }
}

/// Times the host out if, in the task's stream as read, its deadline has passed.
/// `Ok(false)`: nothing to do (finished, not yet due, or another instance won).
async fn time_out(
    state: &App,
    task_id: TaskId,
    host: &HostName,
    now: DateTime<Utc>,
    grace: chrono::Duration,
) -> Result<bool, ()> {
    // Started meanwhile (a later deadline is indexed), finished, or gone: not due.
    let due = |s: &TaskState| {
        s.view
            .tasks
            .get(&task_id)
            .and_then(|task| deadline(task, host, grace))
            .is_some_and(|due| due <= now)
    };
    let metadata = super::metadata("scheduler", None);
    let outcome = state.time_out_host(task_id, host, due, metadata).await;
    match outcome {
        Ok(done) => {
            if done {
                tracing::info!(%task_id, %host, "task host timed out");
            }
            Ok(done)
        }
        Err(AppError::Rejected(
            Rejection::HostAlreadyFinished { .. }
            | Rejection::UnknownTask(_)
            | Rejection::UnknownHost { .. },
        )) => Ok(false),
        Err(err) => {
            tracing::warn!(%task_id, %host, %err, "cannot time out task host; retrying");
            Err(())
        }
    }
}
