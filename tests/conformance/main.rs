//! The store conformance suite: every case is written once in [`cases`] over a
//! [`support::Harness`], and each backend runs all of them through
//! [`conformance_suite!`] with a fresh store per test. A new backend is one module
//! with a harness and one macro call.
//!
//! # Layout
//! - `support`: the harness trait and event builders.
//! - `cases`: the backend-independent cases.
//! - `embedded`: the embedded backend's harness, plus its own recovery, fault, rollover
//!   and verification tests.
//! - `postgres`: the postgres backend's harness (a fresh database per test, from
//!   `ALERT_LEDGER_TEST_PG`), plus commit-order and verification tests.
//! - `kurrentdb`: the position-agnostic cases against `KURRENTDB_URL`, each in a fresh
//!   stream-name namespace.
//!
//! The postgres and kurrentdb tests are `#[ignore = "needs ALERT_LEDGER_TEST_PG"]` and
//! `#[ignore = "needs KURRENTDB_URL"]`: without a server the summary counts them as
//! ignored. `cargo test --test conformance -- --ignored postgres` (or `kurrentdb`) runs
//! them, and then a missing variable or an unreachable server fails them.

mod cases;
mod embedded;
mod kurrentdb;
mod postgres;
mod support;

/// Declares one `#[tokio::test]` per conformance case, each on a fresh harness built
/// by `$fresh` (an expression evaluated per test). An attribute before `$fresh` goes
/// on every test: a backend that needs a server passes `#[ignore = "needs <VARIABLE>"]`,
/// so that without one its cases are reported as ignored, not as passed.
#[macro_export]
macro_rules! conformance_suite {
    (#[$attr:meta] $fresh:expr) => {
        $crate::conformance_suite!(@all [#[$attr]] $fresh);
    };
    ($fresh:expr) => {
        $crate::conformance_suite!(@all [] $fresh);
    };
    // `$attrs` is one bracketed token tree so that it can be repeated per case.
    (@all $attrs:tt $fresh:expr) => {
        $crate::conformance_suite!(@cases $attrs $fresh;
            two_writers_with_the_same_expected_version_exactly_one_wins,
            no_stream_expectation_fails_once_the_stream_exists,
            exact_expectation_must_match_the_last_version,
            any_expectation_appends_whatever_the_stream_holds,
            re_appending_the_same_events_writes_nothing_and_returns_the_original_result,
            reusing_some_event_ids_in_another_append_is_an_idempotency_mismatch,
            reading_a_stream_forward_and_backward_respects_from_and_limit,
            reading_a_missing_stream_returns_nothing,
            reading_all_from_any_position_returns_the_events_from_there_in_order,
            positions_are_gap_free_and_hashes_chain_from_genesis,
            head_reports_the_last_position_and_hash_and_the_watch_follows_it,
            a_subscription_catches_up_then_follows_concurrent_appends_without_gap_or_duplicate,
            a_filtered_subscription_delivers_only_matching_events_in_order,
            a_stream_of_100k_events_reads_back_completely_in_both_directions,
            reopening_after_close_preserves_positions_hashes_and_versions,
            calls_after_close_fail_with_closed,
            any_expectation_appends_and_positions_grow_across_appends,
            reading_all_from_any_stored_position_returns_the_events_from_there_in_order,
            head_reports_the_last_event_and_the_watch_follows_appends,
            reopening_preserves_positions_hashes_and_versions_and_appends_continue,
            a_long_stream_reads_back_completely_in_both_directions,
            a_filtered_subscription_from_a_stored_position_delivers_only_matching_events,
        );
    };
    (@cases $attrs:tt $fresh:expr; $($case:ident),* $(,)?) => {
        $($crate::conformance_suite!(@case $attrs $fresh; $case);)*
    };
    (@case [$($attr:tt)*] $fresh:expr; $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $($attr)*
        async fn $case() {
            let mut harness = $fresh;
            $crate::cases::$case(&mut harness).await;
        }
    };
}
