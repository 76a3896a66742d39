//! Shared by the ingest targets: the integration keys they authenticate with, and
//! the property every accepted trigger must have.

use alert_ledger::app::trigger::{
    ValidTrigger, MAX_CHANNELS, MAX_DETAILS, MAX_DETAIL_KEY_CHARS, MAX_DETAIL_VALUE_CHARS,
    MAX_ESCALATION_STEPS, MAX_SUMMARY_CHARS,
};
use alert_ledger::http::receivers::keys::IntegrationKeys;
use projections::ids::{DedupKey, ServiceName};
use std::sync::OnceLock;

/// The PagerDuty routing key the seeds use (service `payments-api`).
#[allow(dead_code)]
pub const PAGERDUTY_KEY: &str = "fuzz-routing-key-0123456789";
/// The GoAlert token the seeds use (service `checkout`).
#[allow(dead_code)]
pub const GOALERT_TOKEN: &str = "fuzz-goalert-token-0123456789";

/// The configured keys, parsed once by the real keys-file parser.
#[allow(dead_code)]
pub fn keys() -> &'static IntegrationKeys {
    static KEYS: OnceLock<IntegrationKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let text =
            format!("pagerduty {PAGERDUTY_KEY} payments-api\ngoalert {GOALERT_TOKEN} checkout\n");
        IntegrationKeys::parse(&text).expect("the fuzz keys file is valid")
    })
}

/// What the trigger path promises about a trigger it accepted: ids that parse again,
/// a non-blank summary and details within the documented limits.
pub fn check_trigger(trigger: &ValidTrigger) {
    let service = trigger.service.as_str();
    assert!(!service.is_empty() && service.chars().count() <= ServiceName::MAX_LEN);
    assert!(ServiceName::parse(service).is_ok());
    let dedup = trigger.dedup_key.as_str();
    assert!(!dedup.is_empty() && dedup.chars().count() <= DedupKey::MAX_LEN);
    assert!(DedupKey::parse(dedup).is_ok());
    assert!(!trigger.summary.trim().is_empty());
    assert!(trigger.summary.chars().count() <= MAX_SUMMARY_CHARS);
    assert!(trigger.details.len() <= MAX_DETAILS);
    for (key, value) in &trigger.details {
        assert!(!key.is_empty() && key.chars().count() <= MAX_DETAIL_KEY_CHARS);
        assert!(value.chars().count() <= MAX_DETAIL_VALUE_CHARS);
    }
    assert!(trigger.channels.len() <= MAX_CHANNELS);
    assert!(trigger.escalation_secs.len() <= MAX_ESCALATION_STEPS);
}
