//! The body of `POST /v1/alerts`, through what the route runs before the store:
//! the JSON parse and the trigger validation. No panic; an accepted trigger keeps the
//! documented limits.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use alert_ledger::http::alerts::parse_trigger;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(trigger) = parse_trigger(data) {
        common::check_trigger(&trigger);
    }
});
