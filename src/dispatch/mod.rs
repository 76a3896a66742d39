//! The dispatcher: delivers the outgoing messages of the message view to their
//! channels (generic webhook, Slack incoming webhook), recording every step in the
//! message's own stream `message-<id>`.
//!
//! One pass per wake-up: read the views, pick the messages that are due (pending; a
//! retry whose time has come; a claim whose lease lapsed; a channel that is gone), and
//! hand each to a task that claims it with the expected version, attempts, sends and
//! records the outcome ([`deliver`]). The loop sleeps until the views apply a new
//! position, a task ends, or the earliest retry or lease expiry comes due — it never
//! polls. `docs/delivery.md` is the user's account of all of this.
//!
//! # Layout
//! - [`config`]: settings and the `serve` flags.
//! - [`deliver`]: one message: claim → attempt → send → delivered | failed | abandoned.
//! - [`sender`]: one signed HTTP request and its verdict.
//! - [`body`]: the webhook and Slack bodies.
//! - [`sign`]: HMAC-SHA256 signatures.
//! - [`backoff`]: exponential backoff with jitter.

pub mod backoff;
pub mod body;
pub mod config;
pub mod deliver;
pub mod sender;
pub mod sign;

pub use config::{DispatchArgs, DispatchConfig};

use crate::app::{App, DispatchStatus};
use crate::projection::ViewQueries;
use chrono::{DateTime, Utc};
use projections::ids::MessageId;
use projections::views::DeliveryState;
use projections::Position;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The longest the loop sleeps without a reason: a safety net against a missed
/// wake-up (a wall clock that jumped), not a poll.
const IDLE_RESCAN: Duration = Duration::from_secs(30);
/// How long a message whose task made no progress (someone else holds it, or the
/// store refused) is left alone unless its row in the view changes.
const NO_PROGRESS_PAUSE: Duration = Duration::from_secs(5);

/// Most unfinished messages one plan looks at. Planning runs on every applied event,
/// so its cost must not grow with the backlog: past this many (oldest first) it stops
/// and plans again soon ([`RESCAN_SOON`]).
const PLAN_SCAN_LIMIT: usize = 1024;
/// When a plan stopped at [`PLAN_SCAN_LIMIT`], the longest wait before the next one.
const RESCAN_SOON: Duration = Duration::from_millis(50);
/// How long shutdown waits for deliveries in flight beyond one attempt's timeout.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// Why a dispatcher could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The settings do not fit together: fix the flags.
    #[error("invalid dispatcher settings: {0}")]
    Config(String),
    /// The HTTP client could not be built (TLS roots): a startup failure.
    #[error("cannot build the dispatcher's HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Marks the status stopped when the loop ends, however it ends (a panic included).
struct RunningGuard(DispatchStatus);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.mark_stopped();
    }
}

/// A dispatcher instance over one service's state. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

struct Inner {
    state: App,
    config: DispatchConfig,
    sender: sender::Sender,
    status: DispatchStatus,
}

/// What to do with a due message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Claim it and attempt a delivery.
    Deliver,
    /// Abandon it without sending (its channel is gone).
    Abandon(String),
}

/// One pass over the views: what is due now, and when the next thing comes due.
struct Plan {
    due: Vec<(MessageId, Position, Action)>,
    next_wake: Duration,
}

impl Plan {
    /// Nothing to do until a delivery finishes or the idle rescan.
    fn idle() -> Plan {
        Plan {
            due: Vec::new(),
            next_wake: IDLE_RESCAN,
        }
    }
}

impl Dispatcher {
    /// A dispatcher over `state`, reporting through `status`. Fails on settings
    /// that do not fit together.
    pub fn new(
        state: &App,
        config: DispatchConfig,
        status: DispatchStatus,
    ) -> Result<Dispatcher, DispatchError> {
        config.validate().map_err(DispatchError::Config)?;
        let sender = sender::Sender::new(config.attempt_timeout, config.signing_secret.clone())?;
        Ok(Dispatcher {
            inner: Arc::new(Inner {
                state: state.clone(),
                config,
                sender,
                status,
            }),
        })
    }

    /// This instance's name in claims.
    pub fn instance(&self) -> &str {
        &self.inner.config.instance_id
    }

    /// Delivers until `shutdown` completes, then lets deliveries in flight finish
    /// (at most one attempt timeout and a margin) and returns. A disabled dispatcher
    /// returns at once.
    #[tracing::instrument(skip_all, fields(instance = %self.instance()))]
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let config = &self.inner.config;
        if !config.enabled {
            self.inner.status.mark_disabled();
            tracing::info!("dispatcher disabled: this instance sends no messages");
            return;
        }
        if config.signing_secret.is_none() {
            tracing::warn!("no webhook signing secret: outgoing webhooks are not signed");
        }
        self.inner.status.mark_running();
        let _guard = RunningGuard(self.inner.status.clone());
        tracing::info!("dispatcher running");
        tokio::pin!(shutdown);
        let mut in_flight: JoinSet<()> = JoinSet::new();
        let mut busy: HashMap<tokio::task::Id, MessageId> = HashMap::new();
        let mut paused: HashMap<MessageId, (Position, Instant)> = HashMap::new();
        loop {
            let seen = self.inner.state.views.applied();
            let free = config.concurrency.saturating_sub(in_flight.len());
            let plan = self.plan_off_runtime(&busy, &paused, free).await;
            for (id, position, action) in plan.due {
                if in_flight.len() >= config.concurrency {
                    break;
                }
                // Until its row changes (the task waits for the views to show what it
                // recorded), a message is not picked again.
                paused.insert(id, (position, Instant::now() + NO_PROGRESS_PAUSE));
                let me = self.clone();
                let handle = in_flight.spawn(async move { me.handle(id, action).await });
                busy.insert(handle.id(), id);
            }
            paused.retain(|_, (_, until)| *until > Instant::now());
            let views = self.inner.state.views.clone();
            tokio::select! {
                _ = views.wait_for(seen + 1, plan.next_wake) => {}
                Some(done) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    let id = match &done {
                        Ok((id, ())) => *id,
                        Err(err) => err.id(),
                    };
                    if let Err(err) = done {
                        tracing::error!(%err, "a delivery task failed");
                    }
                    busy.remove(&id);
                }
                _ = &mut shutdown => break,
            }
        }
        let drain = config.attempt_timeout + DRAIN_MARGIN;
        if tokio::time::timeout(drain, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("deliveries still in flight at shutdown were stopped; their leases lapse and they are retried");
        }
        tracing::info!("dispatcher stopped");
    }

    /// [`Dispatcher::plan`] on a blocking thread: it reads the view file (up to
    /// [`PLAN_SCAN_LIMIT`] rows, after every views commit while messages are pending),
    /// and a runtime thread held that long delays whatever requests are queued on it.
    /// With no free slot there is nothing to plan: the next delivery to finish wakes
    /// the loop.
    async fn plan_off_runtime(
        &self,
        busy: &HashMap<tokio::task::Id, MessageId>,
        paused: &HashMap<MessageId, (Position, Instant)>,
        free: usize,
    ) -> Plan {
        if free == 0 {
            return Plan::idle();
        }
        let in_flight: HashSet<MessageId> = busy.values().copied().collect();
        let (me, paused) = (self.clone(), paused.clone());
        tokio::task::spawn_blocking(move || me.plan(&in_flight, &paused, free))
            .await
            .unwrap_or_else(|err| {
                tracing::error!(%err, "planning deliveries failed; retrying later");
                Plan {
                    due: Vec::new(),
                    next_wake: RESCAN_SOON,
                }
            })
    }

    /// Reads the views: up to `free` due messages (oldest first, none of those
    /// `in_flight`) and the time to the next one. The cost is bounded by the slots, the
    /// paused messages and [`PLAN_SCAN_LIMIT`], not by the backlog.
    fn plan(
        &self,
        in_flight: &HashSet<MessageId>,
        paused: &HashMap<MessageId, (Position, Instant)>,
        free: usize,
    ) -> Plan {
        let now = Utc::now();
        let instant = Instant::now();
        let mut next_wake = IDLE_RESCAN;
        let views = self.inner.state.views.current();
        let mut due = Vec::new();
        // Oldest first; delivered and abandoned messages are not in the index.
        let (oldest, more) = views.unfinished_messages(PLAN_SCAN_LIMIT);
        for id in oldest {
            if due.len() >= free {
                break;
            }
            let Some(m) = views.message(id) else {
                continue;
            };
            if in_flight.contains(&m.id) {
                continue;
            }
            if let Some((position, until)) = paused.get(&m.id) {
                if *position == m.last_position && *until > instant {
                    next_wake = next_wake.min(*until - instant);
                    continue;
                }
            }
            let (at, action) = self.due_at(&*views, &m, now);
            match (at - now).to_std() {
                Ok(wait) if !wait.is_zero() => next_wake = next_wake.min(wait),
                _ => due.push((m.id, m.last_position, action)),
            }
        }
        drop(views);
        if more && due.len() < free {
            next_wake = next_wake.min(RESCAN_SOON);
        }
        Plan {
            due,
            // A little past the due time, so the wall clock has passed it on waking.
            next_wake: next_wake + Duration::from_millis(2),
        }
    }

    /// When a message (not delivered or abandoned) comes due, and for what.
    fn due_at(
        &self,
        views: &dyn ViewQueries,
        m: &projections::views::MessageView,
        now: DateTime<Utc>,
    ) -> (DateTime<Utc>, Action) {
        let held_elsewhere = match (&m.claimed_by, m.lease_until) {
            (Some(holder), Some(until)) if holder != self.instance() => Some(until),
            _ => None,
        };
        let gone = match views.channel(&m.channel) {
            None => Some(format!("channel {} does not exist", m.channel)),
            Some(channel) if channel.removed => Some(format!("channel {} was removed", m.channel)),
            Some(_) => None,
        };
        let at = match (m.state, held_elsewhere) {
            (DeliveryState::Claimed, Some(until)) => until,
            (DeliveryState::FailedWillRetry, _) if gone.is_none() => {
                m.next_attempt_at.unwrap_or(now)
            }
            _ => now,
        };
        match gone {
            Some(reason) => (at, Action::Abandon(reason)),
            None => (at, Action::Deliver),
        }
    }
}
