//! Black-box tests of the HTTP API (issue #4): every test starts a real
//! `Application` on a real socket (or the real binary) and asserts what a client sees.
//!
//! # Layout
//! - `helpers`: `spawn_app()`, `TestApp`, typed request helpers, the route table.
//! - `alerts`: the alert lifecycle and its outgoing messages.
//! - `dedup`: one open alert per (service, dedup key) under concurrent triggers.
//! - `syncs_tasks`: resources that own alarms, and self-healing tasks.
//! - `reads`: pagination, filters, raw streams, `$all`, `min_position`.
//! - `bad_input`: every rejected request is a problem document and writes nothing.
//! - `contract`: repeated ids in lists and bodies that are not JSON objects are
//!   refused, naming the field, and write nothing.
//! - `idempotency`: `Idempotency-Key` replays.
//! - `auth`: every route against every role.
//! - `lifecycle`: readiness, startup failures, graceful shutdown.
//! - `binary`: the `alert-ledger` process: SIGTERM and exit codes.
//! - `console`: the web console over HTTP: sign-in, roles, CSRF, time travel, export,
//!   the live feed.
//! - `openapi`: the OpenAPI document and the Prometheus metrics.
//! - `proofs`: the Merkle tree's digests and proofs, checked offline and by an
//!   independent RFC 9162 verifier; `verify --digest` naming an edited position.
//! - `schemathesis_regressions`: server bugs found by fuzzing against the document.
//! - `agreement`: where the document and the server disagreed (task-rule argument
//!   length, `as_of` with `min_position`, whole-number floats).
//! - `references`: configuration references are checked when written.
//! - `messages`: error messages that name the real cause.
//! - `metrics_series`: the documented metrics are the exposed ones and each moves under a
//!   scripted incident; OpenMetrics on request.
//! - `docs_walkthrough`: docs/api.md's walk-through, run and compared with the page.
//! - `docs_events`: docs/events.md against `Event::TYPES`.
//! - `docs_routes`: docs/api.md's route table against the OpenAPI document.
//! - `view_queries`: alerts by time and full text, alarms split and inline, pages of
//!   tasks and resources.

mod agreement;
mod alerts;
mod auth;
mod bad_input;
mod binary;
mod console;
mod contract;
mod dedup;
mod docs_events;
mod docs_routes;
mod docs_walkthrough;
mod helpers;
mod idempotency;
mod lifecycle;
mod messages;
mod metrics_series;
mod openapi;
mod proofs;
mod reads;
mod references;
mod schemathesis_regressions;
mod syncs_tasks;
mod view_queries;
