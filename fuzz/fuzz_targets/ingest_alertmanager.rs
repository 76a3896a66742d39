//! The Alertmanager webhook body, through the parse and `plan` the route runs
//! before the store. No panic; an accepted notification plans one valid item per
//! alert.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use alert_ledger::http::receivers::alertmanager::{parse_request, Planned, MAX_ALERTS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(planned) = parse_request(data) else {
        return;
    };
    assert!(!planned.is_empty() && planned.len() <= MAX_ALERTS);
    for item in &planned {
        if let Planned::Fire {
            trigger,
            service,
            dedup_key,
            ..
        } = item
        {
            common::check_trigger(trigger);
            assert_eq!(&trigger.service, service);
            assert_eq!(&trigger.dedup_key, dedup_key);
        }
    }
});
