//! The task-rule reactor: every open alert that matches a task rule gets one task
//! from the rule's template, with `alert_id` set.
//!
//! The reactor keeps a *level*, not an edge: "each open alert matching a rule in
//! force has a task for that rule". It re-checks an alert when it is triggered or a
//! repeat changes its severity, re-checks a service's open alerts when a rule is set,
//! and at start checks every open alert (this covers anything a stopped instance had
//! not handled yet). The task id is a UUIDv5 of (alert id, rule id), so a replay, a
//! restart or a second instance can only meet `TaskAlreadyExists`, never create a
//! second task. Resolved alerts never get tasks.

use crate::app::App;
use crate::app::AppError;
use crate::projection::ViewQueries;
use projections::decide::Rejection;
use projections::ids::{AlertId, RuleId, TaskId};
use projections::views::{AlertStatus, AlertView, TaskRule};
use projections::{Event, RecordedEvent, TaskSpec};
use uuid::Uuid;

/// Namespace of rule-created task ids (a fixed random UUID; never change it, or
/// restarts would create every task again).
const TASK_NAMESPACE: Uuid = Uuid::from_u128(0x3f0c_9a4e_71d2_4b6a_8e15_c2d7_90ab_5e43);

/// The id of the task `rule` creates for `alert`.
pub fn task_id_for(alert: AlertId, rule: &RuleId) -> TaskId {
    let mut name = alert.0.as_bytes().to_vec();
    name.extend_from_slice(rule.as_str().as_bytes());
    TaskId(Uuid::new_v5(&TASK_NAMESPACE, &name))
}

/// The reactor. It keeps no state of its own: the views and the deterministic ids
/// are enough.
#[derive(Debug, Default)]
pub struct TaskRules;

/// A task to create: (task id, template, alert, rule).
type Pending = (TaskId, TaskSpec, AlertId, RuleId);

impl TaskRules {
    /// Checks every open alert against every rule; returns how many tasks this
    /// instance created.
    pub async fn reconcile_all(&mut self, state: &App) -> usize {
        let pending = {
            let views = state.views.current();
            let rules = views.task_rules();
            views
                .open_alerts()
                .iter()
                .flat_map(|alert| missing_tasks(&*views, &rules, alert, None))
                .collect::<Vec<_>>()
        };
        create_all(state, pending, None).await
    }

    /// Reacts to one event of the log.
    pub async fn observe(&mut self, state: &App, event: &RecordedEvent) -> usize {
        let relevant = matches!(
            event.event,
            Event::AlertTriggered { .. }
                | Event::TriggerRepeated { .. }
                | Event::TaskRuleSet { .. }
        );
        // Most services have no task rule: then nothing reads the views.
        if !relevant || state.views.routing().rules.is_empty() {
            return 0;
        }
        let pending = {
            let views = state.views.current();
            let rules = views.task_rules();
            if rules.is_empty() {
                return 0;
            }
            match &event.event {
                Event::AlertTriggered { alert_id, .. }
                | Event::TriggerRepeated { alert_id, .. } => views
                    .alert(*alert_id)
                    .filter(|alert| alert.status != AlertStatus::Resolved)
                    .map(|alert| missing_tasks(&*views, &rules, &alert, None))
                    .unwrap_or_default(),
                Event::TaskRuleSet {
                    rule_id, service, ..
                } => views
                    .open_alerts()
                    .iter()
                    .filter(|alert| alert.service == *service)
                    .flat_map(|alert| missing_tasks(&*views, &rules, alert, Some(rule_id)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        create_all(state, pending, Some(event.event_id)).await
    }
}

/// The tasks the rules (or only `only`) want for `alert` that the views do not show.
fn missing_tasks(
    views: &dyn ViewQueries,
    rules: &[TaskRule],
    alert: &AlertView,
    only: Option<&RuleId>,
) -> Vec<Pending> {
    rules
        .iter()
        .filter(|rule| only.is_none_or(|id| rule.id == *id))
        .filter(|rule| rule.matches(&alert.service, alert.severity))
        .map(|rule| (task_id_for(alert.id, &rule.id), rule))
        .filter(|(task_id, _)| !views.has_task(*task_id))
        .map(|(task_id, rule)| (task_id, rule.template.clone(), alert.id, rule.id.clone()))
        .collect()
}

async fn create_all(state: &App, pending: Vec<Pending>, cause: Option<Uuid>) -> usize {
    let mut created = 0;
    for (task_id, spec, alert_id, rule_id) in pending {
        if create(state, task_id, spec, alert_id, cause).await {
            tracing::info!(%task_id, %alert_id, %rule_id, "task created by rule");
            created += 1;
        }
    }
    created
}

/// Creates one task; `false` if it already existed or the store failed (logged; the
/// next start reconciles it).
async fn create(
    state: &App,
    task_id: TaskId,
    spec: TaskSpec,
    alert_id: AlertId,
    cause: Option<Uuid>,
) -> bool {
    let metadata = super::metadata("task-rule", cause);
    let outcome = state
        .create_task_from_rule(task_id, spec, alert_id, metadata)
        .await;
    match outcome {
        Ok(created) => created,
        Err(AppError::Rejected(Rejection::TaskAlreadyExists(_))) => false,
        Err(err) => {
            tracing::error!(%task_id, %alert_id, %err, "cannot create task from rule");
            false
        }
    }
}
