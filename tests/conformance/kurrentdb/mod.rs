//! The kurrentdb backend against a real server from `KURRENTDB_URL`
//! (e.g. `kurrentdb://localhost:2113?tls=false`, as docker-compose starts it). Every
//! test here is `#[ignore = "needs KURRENTDB_URL"]`: plain `cargo test` reports it
//! ignored; `cargo test --test conformance -- --ignored kurrentdb` runs them, and then a
//! missing variable or an unreachable server fails them.
//!
//! A server cannot drop a database, so each test works in a namespace of its own: the
//! store is wrapped in [`Namespaced`], which prefixes every stream with `t<uuid>-` and
//! reads `$all` and the head back filtered to that prefix.
//!
//! The shared cases that do not assume a fresh, gap-free, 1-based `$all` run as they
//! are (`kurrent_cases!` below). KurrentDB positions are commit positions
//! (docs/adr/0008-kurrentdb.md) and the chain is shared by every test on the server, so
//! the others (positions 1..n, head `n`, `head + 1` after reopen, the 100k stream at
//! positions `n + 1`, both subscription cases) are restated position-relative in
//! `cases/relative.rs` (which every backend runs), and [`positions_and_subscription`] checks catch-up
//! then live under concurrent writers. Not covered on KurrentDB: cross-stream reuse of
//! event ids (its idempotency is per stream) and the chain from genesis.

use crate::cases;
use crate::support::{notes, Harness};
use alert_ledger::store::kurrentdb::KurrentStore;
use alert_ledger::store::subscription::Subscription;
use alert_ledger::store::{
    AppendResult, Direction, EventStore, ExpectedVersion, Head, NewEvent, StoreError,
};
use futures_util::future::BoxFuture;
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The variable naming the server.
pub const SERVER_VAR: &str = "KURRENTDB_URL";

/// A store on the server, seen through a fresh namespace.
pub struct KurrentHarness {
    url: String,
    prefix: String,
    store: Arc<Namespaced>,
}

impl KurrentHarness {
    /// A fresh namespace on the server named by `KURRENTDB_URL`.
    ///
    /// # Panics
    /// When the variable is unset (the test was run explicitly, with `--ignored`,
    /// without a server) or the server cannot be reached.
    pub async fn fresh() -> KurrentHarness {
        let url = std::env::var(SERVER_VAR).unwrap_or_else(|_| {
            panic!(
                "{SERVER_VAR} is not set: this test needs a KurrentDB server, e.g. \
                 {SERVER_VAR}=kurrentdb://localhost:2113?tls=false \
                 (without one, leave it ignored: plain `cargo test` does not run it)"
            )
        });
        let prefix = format!("t{}-", uuid::Uuid::new_v4().simple());
        let store = Arc::new(Namespaced::connect(&url, &prefix).await);
        KurrentHarness { url, prefix, store }
    }
}

impl Harness for KurrentHarness {
    fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    fn reopen(&mut self) -> BoxFuture<'_, Arc<dyn EventStore>> {
        Box::pin(async move {
            self.store.close().await.expect("close");
            self.store = Arc::new(Namespaced::connect(&self.url, &self.prefix).await);
            self.store.clone() as Arc<dyn EventStore>
        })
    }
}

macro_rules! kurrent_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = "needs KURRENTDB_URL"]
            async fn $case() {
                let mut harness = KurrentHarness::fresh().await;
                cases::$case(&mut harness).await;
            }
        )*
    };
}

kurrent_cases!(
    two_writers_with_the_same_expected_version_exactly_one_wins,
    no_stream_expectation_fails_once_the_stream_exists,
    exact_expectation_must_match_the_last_version,
    re_appending_the_same_events_writes_nothing_and_returns_the_original_result,
    reading_a_stream_forward_and_backward_respects_from_and_limit,
    reading_a_missing_stream_returns_nothing,
    calls_after_close_fail_with_closed,
    any_expectation_appends_and_positions_grow_across_appends,
    reading_all_from_any_stored_position_returns_the_events_from_there_in_order,
    head_reports_the_last_event_and_the_watch_follows_appends,
    reopening_preserves_positions_hashes_and_versions_and_appends_continue,
    a_long_stream_reads_back_completely_in_both_directions,
    a_filtered_subscription_from_a_stored_position_delivers_only_matching_events,
);

/// Positions grow strictly in `$all` order, `read_all(p)` includes `p` and
/// `read_all(p + 1)` excludes it, and a catch-up-then-live subscription sees every
/// event of concurrent writers exactly once, in position order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs KURRENTDB_URL"]
async fn positions_and_subscription() {
    let harness = KurrentHarness::fresh().await;
    let store = harness.store();
    let start = store.head().await.expect("head").position;
    let pre = store
        .append("alert-p", ExpectedVersion::NoStream, notes("pre", 5))
        .await
        .expect("append");
    assert!(pre.first_position < pre.last_position);
    let all = store
        .read_all(pre.first_position, 100)
        .await
        .expect("read_all");
    assert_eq!(all.len(), 5);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert_eq!(all[0].position, pre.first_position);
    assert_eq!(all[4].position, pre.last_position);
    let after = store
        .read_all(pre.first_position + 1, 100)
        .await
        .expect("read_all");
    assert_eq!(after.len(), 4, "p + 1 excludes p");

    let writers: Vec<_> = (0..3)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    store
                        .append(
                            &format!("task-{w}"),
                            ExpectedVersion::Any,
                            notes(&format!("live{w}"), 2),
                        )
                        .await
                        .expect("live append");
                }
            })
        })
        .collect();
    let mut subscription = Subscription::new(store.clone(), start + 1).with_page_size(7);
    let mut seen = HashSet::new();
    let mut last: Position = 0;
    while seen.len() < 5 + 3 * 20 * 2 {
        let event = tokio::time::timeout(Duration::from_secs(30), subscription.next())
            .await
            .expect("events keep coming")
            .expect("open")
            .expect("no error");
        assert!(event.position > last, "in order, no duplicate");
        last = event.position;
        assert!(seen.insert(event.event_id), "no duplicate");
    }
    for writer in writers {
        writer.await.expect("writer");
    }
}

/// A store restricted to streams starting with `prefix`.
pub struct Namespaced {
    inner: KurrentStore,
    prefix: String,
}

impl Namespaced {
    async fn connect(url: &str, prefix: &str) -> Namespaced {
        let inner = KurrentStore::connect(url)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {url}: {err}"));
        Namespaced {
            inner,
            prefix: prefix.to_owned(),
        }
    }

    fn name(&self, stream: &str) -> String {
        format!("{}{stream}", self.prefix)
    }

    fn strip(&self, mut event: RecordedEvent) -> Option<RecordedEvent> {
        let stream = event.stream.strip_prefix(&self.prefix)?.to_owned();
        event.stream = stream;
        Some(event)
    }

    fn unname(&self, err: StoreError) -> StoreError {
        match err {
            StoreError::Conflict {
                stream,
                expected,
                actual,
            } => StoreError::Conflict {
                stream: stream
                    .strip_prefix(&self.prefix)
                    .map_or(stream.clone(), str::to_owned),
                expected,
                actual,
            },
            other => other,
        }
    }

    async fn ours_from(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        let mut next = from;
        while out.len() < limit {
            let page = self.inner.read_all(next, 1000).await?;
            let Some(tail) = page.last() else { break };
            next = tail.position + 1;
            out.extend(page.into_iter().filter_map(|e| self.strip(e)));
        }
        out.truncate(limit);
        Ok(out)
    }
}

impl EventStore for Namespaced {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> BoxFuture<'a, Result<AppendResult, StoreError>> {
        Box::pin(async move {
            let name = self.name(stream);
            self.inner
                .append(&name, expected, events)
                .await
                .map_err(|err| self.unname(err))
        })
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from: StreamVersion,
        direction: Direction,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(async move {
            let name = self.name(stream);
            let events = self
                .inner
                .read_stream(&name, from, direction, limit)
                .await?;
            Ok(events.into_iter().filter_map(|e| self.strip(e)).collect())
        })
    }

    fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<RecordedEvent>, StoreError>> {
        Box::pin(self.ours_from(from, limit))
    }

    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamVersion>, StoreError>> {
        Box::pin(async move { self.inner.stream_version(&self.name(stream)).await })
    }

    fn head(&self) -> BoxFuture<'_, Result<Head, StoreError>> {
        Box::pin(async move {
            let all = self.ours_from(1, usize::MAX).await?;
            Ok(all.last().map_or(
                Head {
                    position: 0,
                    hash: Hash::GENESIS,
                },
                |e| Head {
                    position: e.position,
                    hash: e.hash,
                },
            ))
        })
    }

    fn watch_head(&self) -> watch::Receiver<Position> {
        self.inner.watch_head()
    }

    fn close(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.close()
    }
}
