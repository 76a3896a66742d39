//! Receivers that speak other tools' protocols, so existing senders can point at the
//! ledger unchanged.
//!
//! # Layout
//! - [`keys`]: integration keys (PagerDuty routing keys, GoAlert tokens) → service.

pub mod keys;
