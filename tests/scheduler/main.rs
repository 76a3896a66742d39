//! The scheduler (escalation timers, task host timeouts, the task-rule reactor) and
//! `alert-ledger agent`, against a real service.
//!
//! Most tests drive their own [`Scheduler`](alert_ledger::scheduler::Scheduler)
//! instances with a [`ManualClock`](alert_ledger::scheduler::ManualClock) far ahead of
//! the wall clock, so the service's own scheduler (on the wall clock) never gets to a
//! deadline first; a few end-to-end tests use the service's scheduler with real
//! one- or two-second delays.

/// The API test suite's helpers, shared rather than copied.
#[allow(dead_code, unused_imports)]
#[path = "../api"]
mod api_support {
    pub mod helpers;
}
use api_support::helpers;

mod agent;
mod escalation;
mod support;
mod task_rules;
mod task_timeouts;
