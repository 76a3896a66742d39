//! The scheduler: fires due escalation timers, times out task hosts that never
//! reported, and creates tasks from task rules.
//!
//! It is one loop per service instance. At start it syncs the views with the log,
//! seeds its indexes from them (so a timer that came due while the service was down
//! fires at once) and reconciles open alerts with the task rules; then it follows the
//! log from that position with a [`Subscription`], and between events it sleeps until
//! the earliest deadline. It never polls.
//!
//! Every effect is a command appended with the stream's expected version, so any
//! number of instances may run this loop over one store: exactly one wins each timer,
//! each timeout and each rule-created task; the others see a rejection
//! (`TimerNotPending`, `HostAlreadyFinished`, `TaskAlreadyExists`) and skip.
//!
//! Time comes from an injectable [`Clock`], used both for the commands' `now` and for
//! sleeping, so tests drive it by hand with [`ManualClock`].
//!
//! # Layout
//! - [`escalation`]: escalation timers (`timer_scheduled` → `FireTimer`).
//! - [`task_timeouts`]: task host deadlines (`TimeOutHost`).
//! - [`task_rules`]: the task-rule reactor (`Create` with a deterministic task id).

pub mod escalation;
pub mod task_rules;
pub mod task_timeouts;

use crate::app::App;
use crate::store::subscription::Subscription;
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use projections::{Event, Metadata, RecordedEvent};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest single sleep: a wall-clock jump (NTP) is noticed within this long.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Pause before retrying after a store failure.
const RETRY: Duration = Duration::from_secs(1);
/// Longest wait for the views to apply an event the scheduler is about to act on.
const VIEW_WAIT: Duration = Duration::from_secs(10);

/// Where the scheduler gets the time from.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Completes once [`Clock::now`] has reached `at` (at once if it has).
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// The wall clock, with tokio's timer for sleeping.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        // Sleep at most MAX_SLEEP at a time: the caller re-checks the deadline, so a
        // wall clock that jumps is followed within a minute.
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait.min(MAX_SLEEP)))
    }
}

/// A clock that only moves when told to (tests).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    /// Moves the clock forward by `by`, waking sleepers whose time has come.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a representable duration");
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            if rx.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

/// How the scheduler behaves.
#[derive(Debug, Clone)]
pub struct SchedulerSettings {
    /// Extra time a *running* host gets after its `timeout_secs` before the server
    /// times it out: the agent kills the script at `timeout_secs` and reports the
    /// result itself, which says more than a bare timeout.
    pub running_grace: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        SchedulerSettings {
            running_grace: Duration::from_secs(15),
        }
    }
}

/// What one round of [`Scheduler::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Escalation timers this instance fired.
    pub timers_fired: usize,
    /// Task hosts this instance timed out.
    pub hosts_timed_out: usize,
    /// Tasks this instance created from rules.
    pub tasks_created: usize,
}

impl std::ops::AddAssign for TickReport {
    fn add_assign(&mut self, other: TickReport) {
        self.timers_fired += other.timers_fired;
        self.hosts_timed_out += other.hosts_timed_out;
        self.tasks_created += other.tasks_created;
    }
}

/// One scheduler instance.
pub struct Scheduler {
    state: App,
    clock: Arc<dyn Clock>,
    escalations: escalation::EscalationTimers,
    timeouts: task_timeouts::TaskTimeouts,
    rules: task_rules::TaskRules,
    /// Where it follows the log; `None` until [`Scheduler::start`].
    subscription: Option<Subscription>,
}

impl Scheduler {
    /// A scheduler over `state`'s store, views and command runner.
    pub fn new(state: App, clock: Arc<dyn Clock>, settings: SchedulerSettings) -> Scheduler {
        Scheduler {
            state,
            clock,
            escalations: escalation::EscalationTimers::default(),
            timeouts: task_timeouts::TaskTimeouts::new(settings.running_grace),
            rules: task_rules::TaskRules,
            subscription: None,
        }
    }

    /// Seeds the indexes from the views as of the log's head and reconciles open
    /// alerts with the task rules; afterwards the scheduler follows the log from there.
    pub async fn start(&mut self) -> Result<TickReport, StoreError> {
        let head = self.state.store.head().await?.position;
        let _ = self.state.views.wait_for(head, VIEW_WAIT).await;
        let position = {
            let views = self.state.views.current();
            self.escalations.seed(&*views);
            self.timeouts.seed(&*views);
            views.position()
        };
        self.subscription = Some(Subscription::new(self.state.store.clone(), position + 1));
        let created = self.rules.reconcile_all(&self.state).await;
        Ok(TickReport {
            tasks_created: created,
            ..TickReport::default()
        })
    }

    /// Reads every event up to the current head, then fires what is due. Tests call
    /// this with a [`ManualClock`]; [`Scheduler::run`] does the same between sleeps.
    pub async fn tick(&mut self) -> Result<TickReport, StoreError> {
        if self.subscription.is_none() {
            self.start().await?;
        }
        let head = self.state.store.head().await?.position;
        let mut report = TickReport::default();
        while let Some(subscription) = self.subscription.as_mut() {
            if subscription.next_position() > head {
                break;
            }
            match subscription.next().await {
                Some(Ok(event)) => report += self.observe(&event).await,
                Some(Err(err)) => return Err(err),
                None => break,
            }
        }
        report += self.fire_due().await;
        Ok(report)
    }

    /// Runs until `shutdown` completes.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let started = tokio::select! {
                started = self.start() => started,
                () = &mut shutdown => return,
            };
            match started {
                Ok(_) => break,
                Err(err) => {
                    tracing::error!(%err, "scheduler cannot start; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(RETRY) => {}
                        () = &mut shutdown => return,
                    }
                }
            }
        }
        tracing::info!("scheduler following the log");
        loop {
            self.fire_due().await;
            let next_due = self.next_due();
            let wake = match next_due {
                Some(at) => self.clock.sleep_until(at),
                None => Box::pin(std::future::pending()),
            };
            let Some(subscription) = self.subscription.as_mut() else {
                return;
            };
            // `Subscription::next` is cancel safe: an event is only taken from its
            // buffer when it is returned.
            let next = tokio::select! {
                next = subscription.next() => next,
                () = wake => continue,
                () = &mut shutdown => return,
            };
            match next {
                Some(Ok(event)) => {
                    self.observe(&event).await;
                }
                Some(Err(err)) => {
                    tracing::error!(%err, "scheduler cannot read the log; retrying");
                    tokio::time::sleep(RETRY).await;
                }
                None => return,
            }
        }
    }

    /// Feeds one event of the log to every part.
    async fn observe(&mut self, event: &RecordedEvent) -> TickReport {
        if !is_relevant(event) {
            return TickReport::default();
        }
        // The parts look at the views; make sure they include this event.
        if self
            .state
            .views
            .wait_for(event.position, VIEW_WAIT)
            .await
            .is_err()
        {
            tracing::warn!(
                position = event.position,
                "views lag behind the scheduler; acting on what they show"
            );
        }
        self.count(event);
        self.escalations.observe(event);
        // Only task events move a deadline: other events need no read of the views.
        if matches!(
            event.event,
            Event::TaskCreated { .. } | Event::TaskHostStarted { .. }
        ) {
            let views = self.state.views.current();
            self.timeouts.observe(&*views, event);
        }
        TickReport {
            tasks_created: self.rules.observe(&self.state, event).await,
            ..TickReport::default()
        }
    }

    /// Fires every due timer and deadline.
    async fn fire_due(&mut self) -> TickReport {
        let now = self.clock.now();
        TickReport {
            timers_fired: self.escalations.fire_due(&self.state, now).await,
            hosts_timed_out: self.timeouts.fire_due(&self.state, now).await,
            tasks_created: 0,
        }
    }

    fn next_due(&self) -> Option<DateTime<Utc>> {
        match (self.escalations.next_due(), self.timeouts.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Task metrics come from the log, so they count every task and outcome no matter
    /// which instance or client wrote it.
    fn count(&self, event: &RecordedEvent) {
        use projections::Event;
        let metrics = &self.state.metrics;
        match &event.event {
            Event::TaskCreated { .. } => {
                let source = event.metadata.source.as_deref().unwrap_or("unknown");
                metrics.inc_task_created(source);
            }
            Event::TaskHostFinished { exit_code: 0, .. } => metrics.inc_task_host("succeeded"),
            Event::TaskHostFinished { .. } => metrics.inc_task_host("failed"),
            Event::TaskHostTimedOut { .. } => metrics.inc_task_host("timed_out"),
            _ => {}
        }
    }
}

/// Whether any part of the scheduler cares about `event`.
fn is_relevant(event: &RecordedEvent) -> bool {
    matches!(
        event.event.event_type(),
        "timer_scheduled"
            | "alert_triggered"
            | "trigger_repeated"
            | "task_rule_set"
            | "task_created"
            | "task_host_started"
            | "task_host_finished"
            | "task_host_timed_out"
    )
}

/// Metadata of the scheduler's own commands.
fn metadata(source: &str, cause: Option<uuid::Uuid>) -> Metadata {
    Metadata {
        actor: Some("scheduler".to_owned()),
        correlation_id: Some(uuid::Uuid::new_v4()),
        causation_id: cause,
        source: Some(source.to_owned()),
    }
}

/// Spawns the scheduler of a running service on the wall clock.
pub fn spawn(
    state: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let scheduler = Scheduler::new(state, Arc::new(SystemClock), SchedulerSettings::default());
    tokio::spawn(scheduler.run(shutdown))
}
