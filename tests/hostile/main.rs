//! A hostile world (issue #9), in-process: a failing disk under a running service, and
//! requests that try to get in, crash the server or hold it. The crash loop
//! (`tests/crash_loop.rs`), the fuzz targets (`fuzz/`), the Schemathesis run
//! (`.ci/schemathesis`) and the soak (`alert-ledger-bench soak`) cover the rest; see
//! docs/testing.md.
//!
//! # Layout
//! - `damage`: every class of on-disk damage against `serve` with default flags, and
//!   what `verify` says after.
//! - `faults`: fsync failures, a full disk and a short write under the service.
//! - `security`: tokens never leak; nested, non-UTF-8, oversized and slow requests are
//!   bounded and leave the server up.

/// The API test suite's helpers, shared rather than copied.
#[allow(dead_code, unused_imports)]
#[path = "../api"]
mod api_support {
    pub mod helpers;
}
use api_support::helpers;

mod damage;
mod faults;
mod security;
#[path = "../support/binary.rs"]
mod support_binary;
