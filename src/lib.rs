//! alert-ledger: an append-only, tamper-evident ledger of alerts. Every view is a fold
//! over the log (see the `projections` crate); this crate stores the log and serves it.
//!
//! # Layout
//! Layers, lowest first; a module imports only lower ones (ADR 0011, checked by
//! `tests/layering.rs`).
//! - [`codec`]: the record body encoding shared by every backend, and `chain_hash`, the
//!   SHA-256 hash chain. [`io`]: the file-IO trait the embedded store writes through.
//!   [`metrics`]: Prometheus metrics.
//! - [`store`]: the `EventStore` trait, the append check every backend shares
//!   (`store/append_check.rs`), its backends (`embedded/`, `postgres/`, `kurrentdb/`),
//!   the `$all` subscription (`store/subscription.rs`) and [`store::verify`] (the hash
//!   chain on every backend, the embedded log's CRCs and durable-end witness, recorded
//!   data losses). PostgreSQL assigns positions in `store/postgres/append.rs`; the
//!   embedded writer and its witness are `store/embedded/writer.rs` and `witness.rs`,
//!   recovery `recovery.rs`.
//! - [`merkle`]: a Merkle tree over the log (RFC 9162) in `merkle.tree`, kept at the
//!   durable head by a follower; inclusion and consistency proofs, signed digests and
//!   their publication, and the bisection that names the first changed position.
//! - [`projection`]: the views in the view file `views.sqlite3` (folded by
//!   `projections::views`, stored and queried in `projection/sqlite/`), their typed
//!   queries (`projection/queries.rs`), the task that keeps them following the log,
//!   the file's checks, offline and online rebuilds, and views as of the past.
//! - [`commands`]: load → decide → append with expected version → retry. [`export`]:
//!   the log as NDJSON, out and back in.
//! - [`app`]: the application core: the service state, `AppError`, and one entry point
//!   per command by aggregate; a trigger from any origin runs `App::trigger` in
//!   `app/alerts.rs` and is deduplicated in `projections::decide::alert`.
//! - The edges, which call [`app`] and nothing of each other: [`http`] (the v1 API,
//!   problem+json, auth, SSE in `http/subscribe.rs`, the Alertmanager, PagerDuty and
//!   GoAlert receivers in `http/receivers/`), [`dispatch`] (delivers outgoing messages),
//!   [`scheduler`] (escalation timers, task host timeouts, the task-rule reactor) and
//!   [`agent`] (`alert-ledger agent`, which runs a host's self-healing tasks).
//! - [`config`], [`startup`] (the composition root), [`cli`] (the command line and
//!   `alert-ledger tail`).

#![forbid(unsafe_code)]

/// The log's verification lives with the store ([`store::verify`]); this path is kept
/// for `alert-ledger verify`'s users and the tests.
pub use store::verify;

pub mod agent;
pub mod app;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod export;
pub mod http;
pub mod io;
pub mod merkle;
pub mod metrics;
pub mod projection;
pub mod scheduler;
pub mod startup;
pub mod store;
