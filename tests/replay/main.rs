//! The view file, rebuild and time travel, black-box over HTTP: views resumed from the
//! view file, rebuilt after it was refused or damaged, rebuilt online or offline, or
//! asked for "as of" the past must equal a fresh replay of the log.

/// The API test suite's helpers, shared rather than copied.
#[allow(dead_code, unused_imports)]
#[path = "../api"]
mod api_support {
    pub mod helpers;
}
use api_support::helpers;

mod export;
mod rebuild;
mod time_travel;
mod verify;
mod view_file;
mod workload;
