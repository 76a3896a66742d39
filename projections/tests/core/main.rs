//! Tests of the pure core, built as one binary (one link, one process).
//!
//! # Layout
//! - [`harness`]: `given(events).when(command).then(events)` for every aggregate, plus
//!   small fixtures (ids, a fixed clock).
//! - [`decide_alert`]: alert series decisions: dedup, lifecycle, timers.
//! - [`decide_other`]: resources, tasks and message delivery decisions.
//! - [`folds`]: example-based tests of the views (deletion, races, fold errors).
//! - [`scenario`]: the random operations and their generator.
//! - [`world`]: drives random commands through the real decisions into valid logs.
//! - [`properties`]: invariants over those logs (proptest).
//! - [`repeated_ids`]: lists that name an id twice are refused, and every decided
//!   event folds (proptest).
//! - [`schema`]: serde round trips, type tags, upcasting, id parsing.

mod decide_alert;
mod decide_other;
mod folds;
mod harness;
mod properties;
mod repeated_ids;
mod scenario;
mod schema;
mod world;
