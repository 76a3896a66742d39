//! The view file against the in-memory views it replaced (issue 15), on logs of the
//! sizes asked for (`--events`, default 1M and 10M), each holding 10,000 alerts still
//! open: every other incident is acknowledged and resolved and every message is
//! delivered, as on a ledger that has run for months.
//!
//! Per size: rebuild (the file vs folding in memory), startup to ready and resident
//! memory of the ready service (a child process over the file at the head; the old
//! side is a child folding the log into in-memory views, and decoding those views from
//! JSON, which is what a start from a whole-view snapshot did), then reads in-process
//! through the query interface: `as_of` at random positions (the old side replays
//! from the start), filtered lists and full-text search. The old side is measured only
//! up to 2M events (it holds about 1.1 GB per million); beyond, its column is empty.

use crate::dataset;
use crate::inproc;
use crate::report::{Row, Sample};
use alert_ledger::projection::queries::{AlertFilter, ViewQueries};
use alert_ledger::projection::sqlite::ViewFile;
use alert_ledger::store::{EventStore, NewEvent};
use projections::views::{AlertStatus, Views};
use projections::{Event, Position};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Alerts left open in every log.
const OPEN: u64 = 10_000;
/// Largest log the in-memory side is measured on.
const OLD_UP_TO: u64 = 2_000_000;

/// The appends of incident `i`: the alert stream's, then one delivery per message.
fn incident(nonce: u64, i: u64, open: bool) -> Vec<(String, Vec<NewEvent>)> {
    let (stream, appends) = dataset::incident_closed(nonce, i, !open);
    let mut out = vec![(stream, appends.into_iter().flatten().collect::<Vec<_>>())];
    let messages: Vec<_> = out[0]
        .1
        .iter()
        .filter_map(|e| match &e.event {
            Event::MessageQueued { message_id, .. } => Some(*message_id),
            _ => None,
        })
        .collect();
    for message_id in messages {
        let now = chrono::Utc::now();
        let events = vec![
            Event::MessageClaimed {
                message_id,
                instance: "bench".into(),
                lease_until: now + chrono::Duration::seconds(30),
            },
            Event::DeliveryAttempted {
                message_id,
                attempt: 1,
            },
            Event::MessageDelivered {
                message_id,
                attempt: 1,
                receipt: "202 Accepted".into(),
            },
        ];
        out.push((
            projections::streams::message(message_id),
            dataset::wrap(events),
        ));
    }
    out
}

/// Fills `store` to at least `target` events with [`OPEN`] alerts left open.
pub async fn fill(store: Arc<dyn EventStore>, target: u64) -> anyhow::Result<u64> {
    let per_incident = (0..600)
        .map(|i| {
            incident(1, i, false)
                .iter()
                .map(|(_, e)| e.len())
                .sum::<usize>()
        })
        .sum::<usize>() as u64
        / 600;
    let stride = (target / per_incident.max(1) / OPEN).max(1);
    let nonce = dataset::fresh_nonce();
    dataset::fill_with(store, target, 16, move |i| {
        incident(nonce, i, i % stride == 0)
    })
    .await
}

/// What the old-side child reports: the log folded into in-memory views.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OldProbe {
    /// Resident set growth over the fold (KiB).
    pub grown_kib: u64,
    /// Seconds to decode the views from their JSON (a start from a snapshot).
    pub decode_secs: f64,
    /// Snapshot size (bytes).
    pub snapshot_bytes: u64,
}

/// The old-side child: folds the log in `data_dir` into in-memory views.
pub async fn old_probe(data_dir: &Path) -> anyhow::Result<OldProbe> {
    let before = inproc::rss_kib_of("self");
    let store = inproc::open(data_dir).await?;
    let (_, views) = inproc::rebuild(store.as_ref()).await?;
    let grown_kib = inproc::rss_kib_of("self").saturating_sub(before);
    let body = serde_json::to_vec(&views)?;
    drop(views);
    let started = Instant::now();
    let decoded: Views = serde_json::from_slice(&body)?;
    let decode_secs = started.elapsed().as_secs_f64();
    drop(decoded);
    store.close().await?;
    Ok(OldProbe {
        grown_kib,
        decode_secs,
        snapshot_bytes: body.len() as u64,
    })
}

fn sample(value: f64) -> Sample {
    Sample {
        value,
        ..Sample::default()
    }
}

/// p99 of `samples` in milliseconds.
fn p99_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort_unstable();
    let index = ((samples.len() as f64) * 0.99).ceil() as usize;
    samples[index.saturating_sub(1).min(samples.len() - 1)].as_secs_f64() * 1e3
}

/// A small xorshift generator (positions and queries, reproducibly).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Times `query` `n` times against `views` (fresh read transaction each time).
fn time_reads(n: usize, mut query: impl FnMut(usize) -> Duration) -> Vec<Duration> {
    (0..n).map(&mut query).collect()
}

/// The filtered lists a dashboard asks for.
fn filters() -> Vec<AlertFilter> {
    let service = Some(crate::mix::SERVICE.to_owned());
    vec![
        AlertFilter {
            status: Some(AlertStatus::Triggered),
            ..AlertFilter::default()
        },
        AlertFilter {
            status: Some(AlertStatus::Resolved),
            service: service.clone(),
            ..AlertFilter::default()
        },
        AlertFilter {
            severity: Some(projections::Severity::Critical),
            service,
            ..AlertFilter::default()
        },
    ]
}

/// Words the dataset's details hold in about 2 % of alerts each (`web-07`).
fn search(n: u64) -> AlertFilter {
    AlertFilter {
        query: Some(format!("\"web-{:02}\"", n % 50)),
        ..AlertFilter::default()
    }
}

/// Runs the suite over every size.
pub async fn run(dir: &Path, sizes: &[u64], reads: usize) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &size in sizes {
        let data = tempfile::Builder::new()
            .prefix("alert-ledger-bench-views-")
            .tempdir_in(dir)?
            .keep();
        rows.extend(one_size(&data, size, reads).await?);
        if std::env::var_os("ALERT_LEDGER_BENCH_KEEP").is_some() {
            eprintln!("  kept {} (ALERT_LEDGER_BENCH_KEEP)", data.display());
        } else {
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    Ok(rows)
}

async fn one_size(data: &Path, size: u64, reads: usize) -> anyhow::Result<Vec<Row>> {
    let store = inproc::open(data).await?;
    let started = Instant::now();
    let head = fill(store.clone(), size).await?;
    eprintln!(
        "  views log: {head} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let label = crate::suites::millions(head);
    let old_measured = head <= OLD_UP_TO;
    let mut rows = Vec::new();

    // Rebuild.
    let file_rate = inproc::rebuild_file(store.clone(), data).await?;
    eprintln!("  rebuild, view file: {:.0} events/s", file_rate.value);
    let old_rate = if old_measured {
        let (rate, views) = inproc::rebuild(store.as_ref()).await?;
        eprintln!("  rebuild, in-memory: {:.0} events/s", rate.value);
        Some((rate, views))
    } else {
        None
    };
    rows.push(compared(
        format!("rebuild, {label} events, {OPEN} open alerts"),
        "events/s",
        file_rate,
        old_rate.as_ref().map(|(rate, _)| *rate),
        "peer column: the same log folded into in-memory views (the old rebuild); target ≥ 1,000,000 events/s",
    ));

    // Reads, in-process, through the query interface.
    let file = ViewFile::new(data.join(alert_ledger::projection::VIEW_FILE));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let as_of = time_reads(reads, |_| {
        let position = 1 + rng.below(head);
        let started = Instant::now();
        let page = file
            .read(Some(position))
            .alerts(&AlertFilter::default(), None, 50);
        std::hint::black_box(page);
        started.elapsed()
    });
    let old_as_of = match &old_rate {
        Some(_) => {
            let mut replays = Vec::new();
            for _ in 0..3 {
                let target = 1 + rng.below(head);
                let started = Instant::now();
                let views = replay_to(store.as_ref(), target).await?;
                std::hint::black_box(views.alerts(&AlertFilter::default(), None, 50));
                replays.push(started.elapsed());
            }
            Some(sample(p99_ms(replays)))
        }
        None => None,
    };
    rows.push(compared(
        format!("GET /v1/alerts?as_of=P (random P, 50 per page), {label} events, p99"),
        "ms",
        sample(p99_ms(as_of)),
        old_as_of,
        "in-process through the query interface; peer column: replaying the log from the start to P in memory (3 samples; the old service started from the nearest of 3 snapshots, so this is its upper bound); target ≤ 50 ms",
    ));
    let filters = filters();
    let filtered: Vec<Vec<Duration>> = filters
        .iter()
        .map(|filter| {
            time_reads(reads, |_| {
                let started = Instant::now();
                std::hint::black_box(file.read(None).alerts(filter, None, 50));
                started.elapsed()
            })
        })
        .collect();
    let searched = time_reads(reads, |n| {
        let filter = search(n as u64);
        let started = Instant::now();
        std::hint::black_box(file.read(None).alerts(&filter, None, 50));
        started.elapsed()
    });
    let (old_filtered, old_searched) = match &old_rate {
        Some((_, views)) => {
            let filtered: Vec<Option<Sample>> = filters
                .iter()
                .map(|filter| {
                    let times = time_reads(reads.min(200), |_| {
                        let started = Instant::now();
                        std::hint::black_box(views.alerts(filter, None, 50));
                        started.elapsed()
                    });
                    Some(sample(p99_ms(times)))
                })
                .collect();
            let searched = time_reads(reads.min(50), |n| {
                let mut filter = search(n as u64);
                filter.query = filter.query.map(|q| q.trim_matches('"').replace('-', " "));
                let started = Instant::now();
                std::hint::black_box(views.alerts(&filter, None, 50));
                started.elapsed()
            });
            (filtered, Some(sample(p99_ms(searched))))
        }
        None => (vec![None; filters.len()], None),
    };
    let names = [
        "status=triggered",
        "service+status=resolved",
        "service+severity=critical",
    ];
    for ((times, old), name) in filtered.into_iter().zip(old_filtered).zip(names) {
        rows.push(compared(
            format!("GET /v1/alerts?{name}, {label} events, p99"),
            "ms",
            sample(p99_ms(times)),
            old,
            "in-process through the query interface, 50 per page; peer column: the same filter over in-memory views; target ≤ 5 ms",
        ));
    }
    rows.push(compared(
        format!("GET /v1/alerts?q= (a word in ~2 % of alerts), {label} events, p99"),
        "ms",
        sample(p99_ms(searched)),
        old_searched,
        "in-process, FTS5, 50 per page; peer column: a substring scan of in-memory views (there was no search before); target ≤ 5 ms",
    ));
    drop(old_rate);
    store.close().await?;
    drop(store);

    // Startup and memory, each in a child process.
    let probe = inproc::run_probe(data).await?;
    eprintln!("  probe: {probe:?}");
    let old = if old_measured {
        let old: OldProbe = inproc::run_child("views-old-probe", data).await?;
        eprintln!("  old probe: {old:?}");
        Some(old)
    } else {
        None
    };
    rows.push(compared(
        format!("startup to ready, {label} events"),
        "s",
        sample(probe.ready_secs),
        old.map(|o| sample(o.decode_secs)),
        "ledger: open the log and the view file at the head, catch up, bind; peer column: decoding the whole-view JSON snapshot alone (what the old start did before scanning the log's tail); target ≤ 1 s",
    ));
    let grown = |kib: u64| kib as f64 / 1024.0;
    rows.push(compared(
        format!("resident memory of the ready service, {label} events"),
        "MiB",
        sample(grown(probe.rss_ready_kib.saturating_sub(probe.rss_before_kib))),
        old.map(|o| sample(grown(o.grown_kib))),
        "growth of a fresh process's resident set; peer column: the same log folded into in-memory views; target ≤ 256 MiB at 10M",
    ));
    Ok(rows)
}

fn compared(
    operation: String,
    unit: &'static str,
    ledger: Sample,
    peer: Option<Sample>,
    note: &str,
) -> Row {
    match peer {
        Some(peer) => Row::compared(operation, unit, &[ledger], &[peer]),
        None => Row::ledger(operation, unit, &[ledger]),
    }
    .with_note(note)
}

/// The in-memory views as of `target`, replayed from the start (the old `as_of`).
async fn replay_to(store: &dyn EventStore, target: Position) -> anyhow::Result<Views> {
    let mut views = Views::default();
    while views.position < target {
        let page = store
            .read_all(views.position + 1, alert_ledger::projection::PAGE)
            .await?;
        if page.is_empty() {
            break;
        }
        for event in page.iter().filter(|e| e.position <= target) {
            let _ = views.apply(event);
        }
    }
    Ok(views)
}
