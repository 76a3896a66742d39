//! A GoAlert generic API call, through what `POST /api/v2/generic/incoming` runs
//! before the store: query pairs, a JSON or form body (or none), the token from any
//! of its three places, and validation.
//!
//! Input layout: byte 0 picks the content type (and whether an `Authorization`
//! header carries the token); the rest is `query`, a 0xFF byte, then the body. No
//! 0xFF: all of it is the body.

#![no_main]

#[path = "common/mod.rs"]
mod common;

use alert_ledger::http::receivers::goalert::{parse_request, Planned};
use http::{header, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 4] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "text/plain",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (query, body) = match rest.iter().position(|&b| b == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let query = String::from_utf8_lossy(query);
    let mut headers = HeaderMap::new();
    if selector & 0x04 == 0 {
        let mime = CONTENT_TYPES[usize::from(selector & 0x03)];
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    }
    if selector & 0x08 != 0 {
        let bearer = format!("Bearer {}", common::GOALERT_TOKEN);
        let value = HeaderValue::from_str(&bearer).expect("an ASCII header");
        headers.insert(header::AUTHORIZATION, value);
    }
    let Ok(call) = parse_request(&headers, &query, body, common::keys()) else {
        return;
    };
    assert_eq!(call.service.as_str(), "checkout");
    if let Planned::Trigger(trigger) = &call.planned {
        common::check_trigger(trigger);
        assert_eq!(trigger.service, call.service);
        assert_eq!(trigger.dedup_key, call.dedup_key);
    }
});
