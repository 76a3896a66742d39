//! Whether this instance's workers run, for readiness.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Whether a dispatcher runs; `/readyz` is not ready while it does not (unless it
/// is disabled by configuration). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DispatchStatus(Arc<AtomicU8>);

const NOT_STARTED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;
const DISABLED: u8 = 3;

impl DispatchStatus {
    /// Whether the dispatch loop is running.
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::Relaxed) == RUNNING
    }

    /// Why the service is not ready on the dispatcher's account (`None`: running, or
    /// disabled on purpose).
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        match self.0.load(Ordering::Relaxed) {
            RUNNING | DISABLED => None,
            NOT_STARTED => Some("the dispatcher has not started"),
            _ => Some("the dispatcher is not running"),
        }
    }

    /// The dispatch loop started.
    pub fn mark_running(&self) {
        self.0.store(RUNNING, Ordering::Relaxed);
    }

    /// The dispatch loop ended (however it ended).
    pub fn mark_stopped(&self) {
        self.0.store(STOPPED, Ordering::Relaxed);
    }

    /// This instance runs no dispatcher, on purpose.
    pub fn mark_disabled(&self) {
        self.0.store(DISABLED, Ordering::Relaxed);
    }
}
