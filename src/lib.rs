//! alert-ledger: an append-only, tamper-evident ledger of alerts. Every view is a fold
//! over the log (see the `projections` crate); this crate stores the log and serves it.
//!
//! # Layout
//! - [`store`]: the `EventStore` trait, the append check every backend shares
//!   (`store/append_check.rs`), its backends (`embedded/`, `postgres/`, `kurrentdb/`)
//!   and the `$all` subscription (`store/subscription.rs`). PostgreSQL assigns positions
//!   in `store/postgres/append.rs`; the embedded writer and its durable-end witness are
//!   `store/embedded/writer.rs` and `witness.rs`, recovery `recovery.rs`.
//! - [`codec`]: the record body encoding shared by every backend, and `chain_hash`, the
//!   SHA-256 hash chain.
//! - [`io`]: the file-IO trait the embedded store writes through (real, fault-injecting,
//!   probed).
//! - [`verify`]: verification of the hash chain on every backend that keeps one (the
//!   embedded log's CRCs and durable-end witness too); lists recorded data losses.
//! - [`projection`]: the live views (folded by `projections::views`), the task that keeps
//!   them following the log, snapshot loading, online rebuild and views as of the past.
//! - [`snapshot`]: snapshot files of the views.
//! - [`export`]: the log as NDJSON, out and back in.
//! - [`commands`]: load → decide → append with expected version → retry.
//! - [`ingest`]: the trigger path shared by every way an alert arrives; deduplication is
//!   decided in `projections::decide::alert`.
//! - [`http`]: the v1 HTTP API, errors as problem+json, auth extractors; SSE in
//!   `http/subscribe.rs`.
//! - [`auth`]: bearer tokens and roles.
//! - [`receivers`]: Alertmanager, PagerDuty Events v2 and GoAlert compatible receivers.
//! - [`dispatch`]: the dispatcher, which delivers outgoing messages (webhook, Slack).
//! - [`metrics`]: Prometheus metrics.
//! - [`config`], [`startup`], [`cli`]: configuration, startup/shutdown, the command line.
//! - [`tail`]: the `alert-ledger tail` client of `/v1/subscribe`.
//! - [`scheduler`]: escalation timers, task host timeouts, the task-rule reactor.
//! - [`agent`]: `alert-ledger agent`, which runs a host's self-healing tasks.
//!
//! Which module may import which: `tests/layering.rs`.

#![forbid(unsafe_code)]

/// The log's verification lives with the store ([`store::verify`]); this path is kept
/// for `alert-ledger verify`'s users and the tests.
pub use store::verify;

pub mod agent;
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
pub mod scheduler;
pub mod snapshot;
pub mod startup;
pub mod store;
