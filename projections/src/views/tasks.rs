//! The task view: self-healing runs with each host's state, exit code and output tail.
//! A task exists here if and only if its `task_created` event exists; every terminal
//! state of a host is an event.

use super::FoldError;
use crate::ids::{AlertId, HostName, TaskId};
use crate::{Event, Position, RecordedEvent, TaskSpec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where one host is in running a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Not started.
    Waiting,
    /// Started, no result yet.
    Running,
    /// Finished with exit code 0.
    Succeeded,
    /// Finished with a non-zero exit code.
    Failed,
    /// No result within the timeout.
    TimedOut,
    /// The task was cancelled before the host finished.
    Cancelled,
}

impl HostState {
    /// Whether the host is done with the task.
    pub fn is_terminal(self) -> bool {
        !matches!(self, HostState::Waiting | HostState::Running)
    }
}

/// One host's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRun {
    /// State.
    pub state: HostState,
    /// Exit code once finished.
    pub exit_code: Option<i32>,
    /// Last part of the output once finished.
    pub output_tail: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal state.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Its id.
    pub id: TaskId,
    /// What runs where.
    pub spec: TaskSpec,
    /// The alert it heals.
    pub alert_id: Option<AlertId>,
    /// Per host.
    pub hosts: BTreeMap<HostName, HostRun>,
    /// Why it was cancelled, if it was.
    pub cancel_reason: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Position of the last event that changed it.
    pub last_position: Position,
}

impl TaskView {
    /// Whether every host has reached a terminal state.
    pub fn is_finished(&self) -> bool {
        self.hosts.values().all(|run| run.state.is_terminal())
    }
}

/// Every task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksView {
    /// By id.
    pub tasks: BTreeMap<TaskId, TaskView>,
}

impl TasksView {
    /// Folds one event.
    pub fn apply(&mut self, e: &RecordedEvent) -> Result<(), FoldError> {
        match &e.event {
            Event::TaskCreated {
                task_id,
                spec,
                alert_id,
            } => {
                if self.tasks.contains_key(task_id) {
                    return Err(FoldError::DuplicateTask {
                        position: e.position,
                        task_id: *task_id,
                    });
                }
                let waiting = HostRun {
                    state: HostState::Waiting,
                    exit_code: None,
                    output_tail: None,
                    started_at: None,
                    finished_at: None,
                };
                let hosts = spec.hosts.iter().map(|h| (h.clone(), waiting.clone()));
                self.tasks.insert(
                    *task_id,
                    TaskView {
                        id: *task_id,
                        spec: spec.clone(),
                        alert_id: *alert_id,
                        hosts: hosts.collect(),
                        cancel_reason: None,
                        created_at: e.recorded_at,
                        updated_at: e.recorded_at,
                        last_position: e.position,
                    },
                );
                Ok(())
            }
            Event::TaskHostStarted { task_id, host } => {
                self.host(e, *task_id, host, &[HostState::Waiting], |run| {
                    run.state = HostState::Running;
                    run.started_at = Some(e.recorded_at);
                })
            }
            Event::TaskHostFinished {
                task_id,
                host,
                exit_code,
                output_tail,
            } => self.host(e, *task_id, host, &UNFINISHED, |run| {
                run.state = if *exit_code == 0 {
                    HostState::Succeeded
                } else {
                    HostState::Failed
                };
                run.exit_code = Some(*exit_code);
                run.output_tail = Some(output_tail.clone());
                run.finished_at = Some(e.recorded_at);
            }),
            Event::TaskHostTimedOut { task_id, host } => {
                self.host(e, *task_id, host, &UNFINISHED, |run| {
                    run.state = HostState::TimedOut;
                    run.finished_at = Some(e.recorded_at);
                })
            }
            Event::TaskCancelled { task_id, reason } => {
                let task = self.task(e, *task_id)?;
                task.cancel_reason = Some(reason.clone());
                for run in task.hosts.values_mut().filter(|r| !r.state.is_terminal()) {
                    run.state = HostState::Cancelled;
                    run.finished_at = Some(e.recorded_at);
                }
                task.updated_at = e.recorded_at;
                task.last_position = e.position;
                Ok(())
            }
            Event::AlertTriggered { .. }
            | Event::TriggerRepeated { .. }
            | Event::AlertAcknowledged { .. }
            | Event::AlertEscalated { .. }
            | Event::NoteAdded { .. }
            | Event::AlertResolved { .. }
            | Event::MessageQueued { .. }
            | Event::TimerScheduled { .. }
            | Event::TimerFired { .. }
            | Event::SyncRegistered { .. }
            | Event::SyncDeleted { .. }
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
            | Event::ChannelCreated { .. }
            | Event::ChannelUpdated { .. }
            | Event::ChannelRemoved { .. }
            | Event::ServiceRouteSet { .. }
            | Event::EscalationPolicySet { .. }
            | Event::TaskRuleSet { .. }
            | Event::TaskRuleRemoved { .. }
            | Event::DataLossRecorded { .. }
            | Event::ConsumerGroupCreated { .. }
            | Event::ConsumerAcked { .. }
            | Event::ConsumerGroupDeleted { .. } => Ok(()),
        }
    }

    fn task(&mut self, e: &RecordedEvent, task_id: TaskId) -> Result<&mut TaskView, FoldError> {
        self.tasks.get_mut(&task_id).ok_or(FoldError::UnknownTask {
            position: e.position,
            task_id,
        })
    }

    fn host(
        &mut self,
        e: &RecordedEvent,
        task_id: TaskId,
        host: &HostName,
        allowed_from: &[HostState],
        change: impl FnOnce(&mut HostRun),
    ) -> Result<(), FoldError> {
        let task = self.task(e, task_id)?;
        let run = task
            .hosts
            .get_mut(host)
            .ok_or_else(|| FoldError::UnknownHost {
                position: e.position,
                task_id,
                host: host.clone(),
            })?;
        if !allowed_from.contains(&run.state) {
            return Err(FoldError::InvalidTransition {
                position: e.position,
                what: format!("host {host} of task {task_id} is {:?}", run.state),
            });
        }
        change(run);
        task.updated_at = e.recorded_at;
        task.last_position = e.position;
        Ok(())
    }
}

const UNFINISHED: [HostState; 2] = [HostState::Waiting, HostState::Running];
