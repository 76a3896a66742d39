//! The view file against the pure folds: the views the file answers, now and as of
//! every sampled position, equal the in-memory views folded from the same random logs
//! (the generator of `projections/tests/core`, shared by path).
//!
//! # Layout
//! - [`equivalence`]: random logs, folded into a file in random batch sizes.
//! - [`checkpoint`]: the writer folds while the log is rewound and read concurrently.
//! - [`tail`]: the same random logs appended to the embedded store: its in-memory tail
//!   (what the views' follower reads) answers as the files do.
//! - [`follow`]: the same random logs appended while the live follower folds them in
//!   tiny batches (crossing batch boundaries and its read-ahead).

#[allow(dead_code)]
#[path = "../../projections/tests/core/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "../../projections/tests/core/scenario.rs"]
mod scenario;
#[allow(dead_code)]
#[path = "../../projections/tests/core/world.rs"]
mod world;

mod checkpoint;
mod equivalence;
mod follow;
mod tail;
