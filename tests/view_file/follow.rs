//! The live follower over the embedded store: with batches of a few events, so random
//! logs cross batch boundaries and the read-ahead of the next batch often, while the
//! log is still being appended to, the views it leaves answer what the pure folds of
//! the store's log answer, now and as of sampled positions. The store records times to
//! the nanosecond and the file keeps them so, so the answers are compared unchanged.

use crate::equivalence::answers;
use crate::scenario::ops;
use crate::tail::write;
use crate::world::World;
use alert_ledger::projection::{self, ViewsHandle};
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::EventStore;
use projections::views::Views;
use projections::RecordedEvent;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::sync::Arc;
use std::time::Duration;

fn check(log: &[RecordedEvent], in_flight: usize, batch: usize) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(EmbeddedOptions::new(dir.path())).unwrap());
        let dyn_store: Arc<dyn EventStore> = store.clone();
        let path = dir.path().join("views.sqlite3");
        let views = ViewsHandle::open(&dyn_store, &path, false, u64::MAX)
            .await
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let follower = tokio::spawn(projection::follow(
            dyn_store.clone(),
            views.clone(),
            async move {
                let _ = stopped.await;
            },
            batch,
        ));
        write(&store, log, in_flight).await;
        let head = store.head().await.unwrap().position;
        let reached = views.wait_for(head, Duration::from_secs(30)).await;
        prop_assert_eq!(reached, Ok(()), "the views reach the head");

        let recorded = store.read_all(1, log.len() + 1).await.unwrap();
        prop_assert_eq!(recorded.len() as u64, head);
        let mut oracle = Views::default();
        for (index, event) in recorded.iter().enumerate() {
            oracle.apply(event).unwrap();
            if index % 5 == 0 || index + 1 == recorded.len() {
                let past = answers(&*views.at(event.position));
                prop_assert_eq!(past, answers(&oracle), "as of position {}", event.position);
            }
        }
        prop_assert_eq!(answers(&*views.current()), answers(&oracle), "now");
        let _ = stop.send(());
        follower.await.unwrap();
        Ok(())
    })
}

proptest! {
    #![proptest_config(Config { cases: 12, ..Config::default() })]

    /// The follower's batches, however small, leave the views the folds give.
    #[test]
    fn the_follower_in_small_batches_leaves_what_the_folds_give(
        ops in ops(120),
        in_flight in 1usize..6,
        batch in 1usize..9,
    ) {
        let world = World::run(&ops);
        check(&world.log, in_flight, batch)?;
    }
}
