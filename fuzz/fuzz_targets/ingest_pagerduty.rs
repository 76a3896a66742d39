//! A PagerDuty Events API v2 body, through the parse, routing-key lookup and field
//! validation `POST /v2/enqueue` runs before the store. No panic; an accepted
//! trigger is valid and carries the dedup key the answer returns.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use alert_ledger::http::receivers::pagerduty::{parse_event, Planned};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = parse_event(data, common::keys()) else {
        return;
    };
    assert_eq!(event.service.as_str(), "payments-api");
    if let Planned::Trigger(trigger) = &event.planned {
        common::check_trigger(trigger);
        assert_eq!(trigger.service, event.service);
        assert_eq!(trigger.dedup_key, event.dedup_key);
    }
});
