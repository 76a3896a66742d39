//! Receivers that speak other tools' protocols, so existing senders can point at the
//! ledger unchanged. Each maps its payload onto the shared trigger path
//! ([`App::trigger_valid`](crate::app::App::trigger_valid)) or onto
//! [`App::act_on_open`](crate::app::App::act_on_open) (acknowledge / resolve the open
//! alert of a (service, dedup key)). See `docs/receivers.md`.
//!
//! # Layout
//! - [`keys`]: integration keys (PagerDuty routing keys, GoAlert tokens) → service.
//! - [`alertmanager`]: `POST /v1/integrations/alertmanager`, the Alertmanager webhook.
//! - [`pagerduty`]: `POST /v2/enqueue`, PagerDuty Events API v2.
//! - [`goalert`]: `POST /api/v2/generic/incoming`, GoAlert's generic API.

pub mod alertmanager;
pub mod goalert;
pub mod keys;
pub mod pagerduty;

use projections::ids::ServiceName;
use projections::Metadata;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Event metadata for a call authorised by an integration key: the actor names the
/// integration and the service (`pagerduty:payments`), never the key.
pub fn key_metadata(integration: keys::Integration, service: &ServiceName) -> Metadata {
    let actor = format!("{}:{}", integration.as_str(), service.as_str());
    crate::app::App::metadata(&actor, integration.as_str())
}

/// Most entries kept in an alert's `details` (the trigger path's limit).
pub const MAX_DETAILS: usize = 64;
const MAX_DETAIL_KEY: usize = 128;
const MAX_DETAIL_VALUE: usize = 4096;

/// Builds `details` within the trigger path's limits from whatever a sender supplied:
/// values are cut to 4,096 characters, keys to 128, and past 63 entries the rest are
/// dropped and counted under `details_dropped`.
#[derive(Debug, Default)]
pub struct Details {
    map: BTreeMap<String, String>,
    dropped: usize,
}

impl Details {
    /// Adds one entry (blank keys are skipped; a repeated key keeps the first value).
    pub fn add(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let key = truncate(key.as_ref(), MAX_DETAIL_KEY);
        if key.trim().is_empty() || self.map.contains_key(&key) {
            return;
        }
        if self.map.len() >= MAX_DETAILS - 1 {
            self.dropped += 1;
            return;
        }
        self.map
            .insert(key, truncate(value.as_ref(), MAX_DETAIL_VALUE));
    }

    /// Adds `key` when `value` is present and not blank.
    pub fn add_opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value.filter(|v| !v.trim().is_empty()) {
            self.add(key, value);
        }
    }

    /// Adds a JSON value: strings as they are, anything else as compact JSON.
    pub fn add_json(&mut self, key: &str, value: &Value) {
        match value {
            Value::Null => {}
            Value::String(text) => self.add(key, text),
            other => self.add(key, other.to_string()),
        }
    }

    /// The finished map.
    pub fn finish(mut self) -> BTreeMap<String, String> {
        if self.dropped > 0 {
            let note = format!("{} more entries were dropped", self.dropped);
            self.map.insert("details_dropped".to_owned(), note);
        }
        self.map
    }
}

/// `raw` cut to at most `max` characters (the last one an ellipsis when cut).
pub fn truncate(raw: &str, max: usize) -> String {
    if raw.chars().count() <= max {
        return raw.to_owned();
    }
    let mut out: String = raw.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A one-line summary from free text: the first non-blank line, cut to 1,024
/// characters; `None` when the text is blank.
pub fn summary_line(raw: &str) -> Option<String> {
    let line = raw.lines().map(str::trim).find(|l| !l.is_empty())?;
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    Some(truncate(&clean, 1024))
}

/// Hex SHA-256 of `parts`, each followed by a NUL (a stable derived dedup key).
pub fn digest_key(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// OpenAPI details of the receiver routes, applied by `crate::http::openapi` to the
/// operation it built for `path`: how each is authorised, its answers and media types.
pub fn describe_operation(path: &str, operation: &mut Value) {
    let problem = json!({ "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } });
    match path {
        "/v2/enqueue" => {
            operation["x-integration-key"] = json!("pagerduty (routing_key in the body)");
            operation["responses"] = json!({
                "202": { "description": "Event processed", "content": { "application/json": { "schema": pagerduty::accepted_schema() } } },
                "400": { "description": "Invalid event or unknown routing key (PagerDuty's error shape, not problem+json)", "content": { "application/json": { "schema": pagerduty::error_schema() } } },
                "408": { "description": "The body did not arrive in time (PagerDuty's error shape)", "content": { "application/json": { "schema": pagerduty::error_schema() } } },
                "413": { "description": "Body too large (PagerDuty's error shape)", "content": { "application/json": { "schema": pagerduty::error_schema() } } },
                "422": { "description": "Idempotency-Key already used for a different event (PagerDuty's error shape; a malformed key is a 400)", "content": { "application/json": { "schema": pagerduty::error_schema() } } },
                "503": { "description": "Storage unavailable (PagerDuty's error shape); retry", "content": { "application/json": { "schema": pagerduty::error_schema() } } }
            });
        }
        "/api/v2/generic/incoming" => {
            operation["x-integration-key"] =
                json!("goalert (token in ?token=, the body, or Authorization: Bearer)");
            operation["security"] = json!([{ "bearer": [] }]);
            operation["parameters"] = goalert::query_parameters();
            operation["requestBody"] = json!({
                "required": false,
                "content": {
                    "application/json": { "schema": goalert::schema() },
                    "application/x-www-form-urlencoded": { "schema": goalert::schema() }
                }
            });
            let responses = operation["responses"].as_object_mut();
            if let Some(responses) = responses {
                responses.remove("201");
                responses.insert(
                    "204".into(),
                    json!({ "description": "Processed (the default answer)" }),
                );
                responses.insert("200".into(), json!({ "description": "Processed, with `Accept: application/json`", "content": { "application/json": { "schema": goalert::answer_schema() } } }));
                responses.insert("401".into(), json!({ "description": "Missing or unknown integration token", "content": problem }));
                responses.insert(
                    "415".into(),
                    json!({ "description": "Neither JSON nor a form", "content": problem }),
                );
            }
        }
        "/v1/integrations/alertmanager" => {
            if let Some(responses) = operation["responses"].as_object_mut() {
                responses.remove("201");
                responses.insert("200".into(), json!({ "description": "What happened to each alert", "content": { "application/json": { "schema": alertmanager::answer_schema() } } }));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_stay_within_the_trigger_limits() {
        let mut details = Details::default();
        for i in 0..100 {
            details.add(format!("k{i:03}"), "v".repeat(5000));
        }
        details.add("x".repeat(200), "long key");
        let map = details.finish();
        assert_eq!(map.len(), MAX_DETAILS);
        assert!(map.values().all(|v| v.chars().count() <= MAX_DETAIL_VALUE));
        assert!(map.keys().all(|k| k.chars().count() <= MAX_DETAIL_KEY));
        assert_eq!(map["details_dropped"], "38 more entries were dropped");
    }

    #[test]
    fn a_summary_is_the_first_non_blank_line_cut_to_1024() {
        assert_eq!(
            summary_line("\n  disk full \nsecond"),
            Some("disk full".into())
        );
        assert_eq!(summary_line("  \n\t"), None);
        let long = summary_line(&"a".repeat(2000)).unwrap();
        assert_eq!(long.chars().count(), 1024);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn derived_keys_are_stable_and_separate_their_parts() {
        assert_eq!(digest_key(&["a", "b"]), digest_key(&["a", "b"]));
        assert_ne!(digest_key(&["ab", ""]), digest_key(&["a", "b"]));
        assert_eq!(digest_key(&["a"]).len(), 64);
    }
}
