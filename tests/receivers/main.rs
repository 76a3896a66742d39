//! The compatible receivers, black-box over HTTP with each tool's real payload shape
//! (fixtures in `tests/fixtures/receivers/`, taken from the tools' documentation):
//! Alertmanager's webhook, PagerDuty Events API v2 and GoAlert's generic API.

/// The API test suite's helpers, shared rather than copied.
#[allow(dead_code, unused_imports)]
#[path = "../api"]
mod api_support {
    pub mod helpers;
}
use api_support::helpers;

mod alertmanager;
mod bodies;
mod goalert;
mod keys;
mod pagerduty;
mod support;
