//! Durable append and `$all` read throughput of the embedded store.
//!
//! Cases: 1, 16 and 256 concurrent single-event appenders (~300-byte events), 16
//! callers appending 100 events per call, and sequential `$all` reads. Beside
//! criterion's timing each case prints events/s, events per fsync and fsyncs/s from
//! the store's counters. The single-event and 100-event cases also run beside a peer
//! whose durable-end witness writes are skipped (`ProbedFileSystem`), so the witness's
//! cost is a ratio measured in the same run. Runs in about 3 minutes:
//! `cargo bench --bench append` (set `ALERT_LEDGER_BENCH_DIR` to pick the disk).

use alert_ledger::io::probe::{Probe, ProbedFileSystem};
use alert_ledger::io::RealFileSystem;
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore, StoreStats, WITNESS_FILE};
use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use projections::ids::AlertId;
use projections::{Event, Metadata};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::runtime::Runtime;
use uuid::Uuid;

/// Unique event ids without a `getrandom` call each, so the bench measures the store.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn event() -> NewEvent {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    NewEvent {
        event_id: Uuid::from_u64_pair(0x5eed_0000_0000_4000, id),
        event: Event::NoteAdded {
            alert_id: AlertId(Uuid::from_u64_pair(0xa1e7, id)),
            text: "disk usage above 90% on db-1; checked by the on-call, cleanup scheduled \
                   for the maintenance window, no customer impact expected so far"
                .into(),
        },
        metadata: Metadata {
            actor: Some("bench".into()),
            source: Some("api".into()),
            ..Metadata::default()
        },
    }
}

/// A store in a fresh directory; without `witness`, its witness writes are skipped
/// (the peer that shows what the durable-end witness costs).
fn fresh_store(witness: bool) -> (TempDir, EmbeddedStore) {
    let dir = match std::env::var_os("ALERT_LEDGER_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    }
    .expect("bench dir");
    let mut options = EmbeddedOptions::new(dir.path());
    if !witness {
        let real = Arc::new(RealFileSystem);
        options.fs = Arc::new(ProbedFileSystem::new(real, WITNESS_FILE, Probe::SkipWrites));
    }
    let store = EmbeddedStore::open(options).expect("open");
    (dir, store)
}

/// Totals over the measured iterations of one case.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    events: u64,
    fsyncs: u64,
}

impl Tally {
    fn add(&mut self, elapsed: Duration, before: StoreStats, after: StoreStats) {
        self.elapsed += elapsed;
        self.events += after.events - before.events;
        self.fsyncs += after.batches - before.batches;
    }

    fn print(&self, case: &str) {
        let secs = self.elapsed.as_secs_f64().max(f64::EPSILON);
        println!(
            "{case:<28} {:>12.0} events/s {:>8.1} events/fsync {:>8.0} fsyncs/s",
            self.events as f64 / secs,
            self.events as f64 / self.fsyncs.max(1) as f64,
            self.fsyncs as f64 / secs,
        );
    }
}

/// `appenders` tasks each making `calls` appends of `per_call` events.
async fn run_appenders(store: &EmbeddedStore, appenders: usize, calls: usize, per_call: usize) {
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("alert-bench{a}");
                for _ in 0..calls {
                    let events = (0..per_call).map(|_| event()).collect();
                    store
                        .append(&stream, ExpectedVersion::Any, events)
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("appender");
    }
}

fn append_case(
    c: &mut Criterion,
    rt: &Runtime,
    name: &str,
    (appenders, calls, per_call): (usize, usize, usize),
    witness: bool,
) {
    let (_dir, store) = fresh_store(witness);
    let name = &if witness {
        name.to_owned()
    } else {
        format!("{name} (peer: witness writes skipped)")
    };
    let tally = RefCell::new(Tally::default());
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements((appenders * calls * per_call) as u64));
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let before = store.stats();
            let start = Instant::now();
            for _ in 0..iters {
                rt.block_on(run_appenders(&store, appenders, calls, per_call));
            }
            let elapsed = start.elapsed();
            tally.borrow_mut().add(elapsed, before, store.stats());
            elapsed
        })
    });
    group.finish();
    tally.borrow().print(name);
    rt.block_on(store.close()).expect("close");
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for (name, shape, peer) in [
        ("1 appender x 1 event", (1, 100, 1), true),
        ("16 appenders x 1 event", (16, 100, 1), true),
        ("256 appenders x 1 event", (256, 20, 1), false),
        ("16 callers x 100 events", (16, 10, 100), true),
    ] {
        append_case(c, &rt, name, shape, true);
        if peer {
            append_case(c, &rt, name, shape, false);
        }
    }
    read_all_case(c, &rt);
}

fn read_all_case(c: &mut Criterion, rt: &Runtime) {
    const EVENTS: usize = 200_000;
    const PAGE: usize = 10_000;
    let (_dir, store) = fresh_store(true);
    rt.block_on(run_appenders(&store, 20, EVENTS / 20 / 500, 500));
    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("$all sequential", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut from = 1;
                while let Some(last) = store.read_all(from, PAGE).await.expect("read").last() {
                    from = last.position + 1;
                }
                assert_eq!(from, EVENTS as u64 + 1);
            })
        })
    });
    group.finish();
    rt.block_on(store.close()).expect("close");
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6))
}

criterion_group! {
    name = benches;
    config = config();
    targets = appends
}
criterion_main!(benches);
