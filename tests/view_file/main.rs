//! The view file against the pure folds: the views the file answers, now and as of
//! every sampled position, equal the in-memory views folded from the same random logs
//! (the generator of `projections/tests/core`, shared by path).
//!
//! # Layout
//! - [`equivalence`]: random logs, folded into a file in random batch sizes.

#[allow(dead_code)]
#[path = "../../projections/tests/core/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../../projections/tests/core/scenario.rs"]
mod scenario;
#[allow(dead_code)]
#[path = "../../projections/tests/core/world.rs"]
mod world;

mod equivalence;
