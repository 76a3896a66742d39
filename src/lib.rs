//! alert-ledger: an append-only, tamper-evident ledger of alerts. Every view is a fold
//! over the log (see the `projections` crate); this crate stores the log and serves it.
//!
//! # Layout
//! - [`store`]: the `EventStore` trait, its backends and the `$all` subscription.
//! - [`codec`]: the record body encoding shared by every backend.
//! - [`io`]: the file-IO trait the embedded store writes through (real and fault-injecting).
//! - [`verify`]: verification of the hash chain on every backend that keeps one (the
//!   embedded log's CRCs and durable-end witness too); lists recorded data losses.
//! - [`projection`]: the live views, the task that keeps them following the log,
//!   online rebuild and views as of the past.
//! - [`snapshot`]: snapshot files of the views.
//! - [`export`]: the log as NDJSON, out and back in.
//! - [`commands`]: load → decide → append with expected version → retry.
//! - [`ingest`]: the trigger path shared by every way an alert arrives.
//! - [`http`]: the v1 HTTP API, errors as problem+json, auth extractors.
//! - [`auth`]: bearer tokens and roles.
//! - [`receivers`]: Alertmanager, PagerDuty Events v2 and GoAlert compatible receivers.
//! - [`dispatch`]: the dispatcher, which delivers outgoing messages (webhook, Slack).
//! - [`metrics`]: Prometheus metrics.
//! - [`config`], [`startup`], [`cli`]: configuration, startup/shutdown, the command line.
//! - [`tail`]: the `alert-ledger tail` client of `/v1/subscribe`.
//! - [`scheduler`]: escalation timers, task host timeouts, the task-rule reactor.
//! - [`agent`]: `alert-ledger agent`, which runs a host's self-healing tasks.

#![forbid(unsafe_code)]

pub mod agent;
pub mod auth;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod export;
pub mod http;
pub mod ingest;
pub mod io;
pub mod metrics;
pub mod projection;
pub mod receivers;
pub mod scheduler;
pub mod snapshot;
pub mod startup;
pub mod store;
pub mod tail;
pub mod verify;
