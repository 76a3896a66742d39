//! The embedded store's in-memory tail (the newest durable events, as the writer
//! recorded them) answers every read as the files do: over random logs of every event
//! type, each page read while the store is open (from the tail where it holds the page,
//! from the files before it) equals the same page read after a reopen (files only).

use crate::scenario::ops;
use crate::world::World;
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use projections::RecordedEvent;
use proptest::prelude::*;
use proptest::test_runner::Config;

/// Events the tail keeps in these tests: small, so reads cross its oldest event.
const TAIL_EVENTS: usize = 40;

/// Appends `log` to a fresh store, runs of one stream as one append, several appends
/// in flight at once so the writer groups them.
pub(crate) async fn write(store: &EmbeddedStore, log: &[RecordedEvent], in_flight: usize) {
    let mut appends: Vec<(String, Vec<NewEvent>)> = Vec::new();
    for event in log {
        let new = NewEvent {
            event_id: event.event_id,
            event: event.event.clone(),
            metadata: event.metadata.clone(),
        };
        match appends.last_mut() {
            Some((stream, events)) if *stream == event.stream => events.push(new),
            _ => appends.push((event.stream.clone(), vec![new])),
        }
    }
    // Appends to one stream stay in order: a group holds at most one append per stream.
    let mut rest = appends.as_slice();
    while !rest.is_empty() {
        let mut group: Vec<&(String, Vec<NewEvent>)> = Vec::new();
        while let Some((first, more)) = rest.split_first() {
            if group.len() == in_flight || group.iter().any(|(s, _)| *s == first.0) {
                break;
            }
            group.push(first);
            rest = more;
        }
        let writes = group
            .iter()
            .map(|(stream, events)| store.append(stream, ExpectedVersion::Any, events.clone()));
        for written in futures_util::future::join_all(writes).await {
            written.expect("append");
        }
    }
}

async fn pages(store: &EmbeddedStore, head: u64, size: usize) -> Vec<Vec<RecordedEvent>> {
    let mut out = Vec::new();
    for from in 0..=head + 1 {
        out.push(store.read_all(from, size).await.expect("read_all"));
    }
    out
}

async fn hashes(
    store: &EmbeddedStore,
    head: u64,
    size: usize,
) -> Vec<Vec<(u64, projections::Hash)>> {
    let raw = store
        .raw_log()
        .await
        .expect("raw log")
        .expect("embedded keeps records");
    let mut out = Vec::new();
    for after in 0..=head {
        out.push(raw.hashes_after(after, size).await.expect("hashes"));
    }
    out
}

fn check(log: &[RecordedEvent], in_flight: usize, size: usize) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut options = EmbeddedOptions::new(dir.path());
        options.tail_events = TAIL_EVENTS;
        let store = EmbeddedStore::open(options.clone()).expect("open");
        write(&store, log, in_flight).await;
        let head = store.head().await.expect("head").position;
        prop_assert_eq!(head, log.len() as u64);
        let (open_pages, open_hashes) = (
            pages(&store, head, size).await,
            hashes(&store, head, size).await,
        );
        store.close().await.expect("close");
        let reopened = EmbeddedStore::open(options).expect("reopen");
        let (file_pages, file_hashes) = (
            pages(&reopened, head, size).await,
            hashes(&reopened, head, size).await,
        );
        reopened.close().await.expect("close");
        for (from, (open, file)) in open_pages.iter().zip(&file_pages).enumerate() {
            prop_assert_eq!(open, file, "read_all({}, {})", from, size);
        }
        prop_assert_eq!(open_hashes, file_hashes);
        Ok(())
    })
}

proptest! {
    #![proptest_config(Config { cases: 16, ..Config::default() })]

    /// Pages read from the tail (and across its oldest event) equal the files' pages.
    #[test]
    fn the_tail_answers_what_the_files_answer(
        ops in ops(120),
        in_flight in 1usize..6,
        size in 1usize..50,
    ) {
        let world = World::run(&ops);
        check(&world.log, in_flight, size)?;
    }
}
