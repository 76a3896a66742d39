//! The application core: the service's state and one entry point per command, with
//! no HTTP in it. Every edge (the HTTP handlers and receivers, the dispatcher, the
//! scheduler) calls these and nothing of each other; the core calls the views
//! ([`crate::projection`], through their typed queries) and the store. Which module
//! may import which: ADR 0011 and `tests/layering.rs`.
//!
//! # Layout
//! - [`App`] (here): the state every command needs, and the waits on the views.
//! - [`error`]: [`AppError`], what went wrong, said without HTTP.
//! - [`trigger`]: a trigger request and its field-by-field validation.
//! - [`alerts`]: the alert aggregate: trigger (from any origin), acknowledge, resolve,
//!   escalate, note, acting on the open alert of a series, firing escalation timers.
//! - [`history`]: an alert's events, read from the log.
//! - [`syncs`]: resources that own alarms (register, delete).
//! - [`tasks`]: self-healing tasks (create, host start and result, cancel, time-outs,
//!   creation by a task rule).
//! - [`configuration`]: channels, service routes, escalation policies, task rules.
//! - [`messages`]: the dispatcher's records of delivery attempts.
//! - [`consumers`]: durable consumer groups: create, delete, list with lag, acknowledge.
//! - [`filter`]: the rules of an event filter (subscriptions, consumer groups).
//! - [`members`]: which member of a consumer group holds which partitions.
//! - [`marks`]: this instance's own recent writes ([`RecentAlerts`], [`WriteMarks`]).
//! - [`status`]: whether the dispatcher runs ([`DispatchStatus`]).

pub mod alerts;
pub mod configuration;
pub mod consumers;
pub mod error;
pub mod filter;
pub mod history;
pub mod limits;
pub mod marks;
pub mod members;
pub mod messages;
pub mod status;
pub mod syncs;
pub mod tasks;
pub mod trigger;

pub use error::AppError;
pub use marks::{RecentAlerts, WriteMarks};
pub use status::DispatchStatus;

use crate::commands::{Commands, Outcome};
use crate::metrics::Metrics;
use crate::projection::ViewsHandle;
use crate::store::EventStore;
use projections::{Metadata, Position};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The service's state: everything a command or a query needs. Cheap to clone: one
/// `Arc` (handlers clone the state per request; cloning each part showed as ~4 % of the
/// service's CPU under ingest).
#[derive(Clone)]
pub struct App(Arc<AppParts>);

impl App {
    /// The state made of `parts`.
    pub fn new(parts: AppParts) -> App {
        App(Arc::new(parts))
    }
}

impl std::ops::Deref for App {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`App`] holds.
#[derive(Clone)]
pub struct AppParts {
    /// The event store.
    pub store: Arc<dyn EventStore>,
    /// The live views.
    pub views: Arc<ViewsHandle>,
    /// The command runner (load, decide, append with the expected version, retry).
    pub commands: Commands,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Longest a command or read waits for the views to reach a position.
    pub read_wait: Duration,
    /// Set when shutdown begins: readiness turns 503.
    pub shutting_down: Arc<AtomicBool>,
    /// Whether this instance's dispatcher runs: readiness turns 503 when it does not.
    pub dispatch: DispatchStatus,
    /// The embedded log's directory, for verification (`None` for server backends).
    pub data_dir: Option<PathBuf>,
    /// Positions of this instance's latest configuration and resource writes.
    pub marks: Arc<WriteMarks>,
    /// Streams of the alerts this instance opened recently.
    pub recent_alerts: Arc<RecentAlerts>,
    /// The members of consumer groups reading from this instance.
    pub members: Arc<members::Members>,
    /// The Merkle tree over the log (`None` on a backend that keeps none: KurrentDB).
    pub tree: Option<Arc<crate::merkle::MerkleTree>>,
    /// The key that signs digests, if one is configured.
    pub digest_key: Option<Arc<crate::merkle::DigestKey>>,
}

/// What a write did, for every command that answers with a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// `false` when the command changed nothing (a repeat of an earlier one).
    pub changed: bool,
    /// `true` when this write created what it names (a new sync, task or channel).
    pub created: bool,
    /// Position of the write, or of the head when nothing was written: pass it as
    /// `min_position` to read your own write.
    pub position: Position,
}

impl App {
    /// Waits (bounded) until the views have applied the write recorded in `mark`.
    pub async fn wait_for_mark(&self, mark: &AtomicU64) -> Result<(), AppError> {
        let position = mark.load(Ordering::Acquire);
        if position <= self.views.applied() {
            return Ok(());
        }
        self.wait_for(position).await
    }

    /// Waits until the views reflect everything the store has acknowledged so far, so
    /// a command that looks something up (an alert's stream, a resource's state) sees
    /// the caller's earlier writes.
    pub async fn sync_views(&self) -> Result<Position, AppError> {
        let head = self.store.head().await?.position;
        self.wait_for(head).await?;
        Ok(head)
    }

    /// Waits (bounded by [`App::read_wait`]) until the views have applied `position`.
    pub async fn wait_for(&self, position: Position) -> Result<(), AppError> {
        self.views
            .wait_for(position, self.read_wait)
            .await
            .map_err(|applied| AppError::NotCaughtUp {
                wanted: position,
                applied,
            })
    }

    /// Event metadata for a command issued by `actor` through `source` (`api`,
    /// `alertmanager`, `scheduler`), with a fresh correlation id.
    pub fn metadata(actor: &str, source: &str) -> Metadata {
        Metadata {
            actor: Some(actor.to_owned()),
            correlation_id: Some(uuid::Uuid::new_v4()),
            causation_id: None,
            source: Some(source.to_owned()),
        }
    }

    /// What `outcome` did: its position, or the head's when it wrote nothing.
    async fn written(&self, outcome: &Outcome, created: bool) -> Result<Written, AppError> {
        let position = match &outcome.append {
            Some(append) => append.last_position,
            None => self.store.head().await?.position,
        };
        let changed = !outcome.events.is_empty();
        Ok(Written {
            changed,
            created: created && changed,
            position,
        })
    }
}
