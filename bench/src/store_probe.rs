//! The open store on its own, in a child process (so its resident memory is the
//! store's, not what earlier measurements left in this process's heap): open time,
//! resident memory once open, one stream's read latency for streams sampled across the
//! log, and `$all` read throughput from the middle of the log.

use crate::report::Sample;
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::{Direction, EventStore};
use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Streams whose reads are timed.
const SAMPLED_STREAMS: u64 = 2_000;

/// Events of `$all` read for the throughput figure (pages of 4,096).
const ALL_EVENTS: u64 = 1_000_000;

/// What one store probe measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct StoreProbe {
    /// `EmbeddedStore::open` in seconds.
    pub open_secs: f64,
    /// Resident set before the open (KiB).
    pub rss_before_kib: u64,
    /// Resident set once open (KiB).
    pub rss_open_kib: u64,
    /// Resident set after the reads below (KiB).
    pub rss_after_reads_kib: u64,
    /// Events in the log.
    pub events: u64,
    /// One stream read (all its events), p50 and p99 in milliseconds.
    pub stream_read_p50_ms: f64,
    /// See `stream_read_p50_ms`.
    pub stream_read_p99_ms: f64,
    /// `$all` events per second from the middle of the log.
    pub all_read_events_per_sec: f64,
}

/// The probe itself (the `store-probe` subcommand).
pub async fn probe(data_dir: &Path) -> anyhow::Result<StoreProbe> {
    let rss_before_kib = crate::inproc::rss_kib_of("self");
    let options = EmbeddedOptions::new(data_dir);
    let started = Instant::now();
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(options)).await??;
    let open_secs = started.elapsed().as_secs_f64();
    let rss_open_kib = crate::inproc::rss_kib_of("self");
    let events = store.head().await?.position;
    let mut streams = Vec::new();
    let step = (events / SAMPLED_STREAMS).max(1);
    for i in 0..SAMPLED_STREAMS.min(events) {
        let position = 1 + i * step + (i * 7_919) % step;
        let event = store.read_all(position, 1).await?;
        streams.push(event.first().context("a sampled event")?.stream.clone());
    }
    let mut latency = Histogram::<u64>::new(3)?;
    for stream in &streams {
        let started = Instant::now();
        let read = store
            .read_stream(stream, 0, Direction::Forward, 10_000)
            .await?;
        latency.record(started.elapsed().as_micros() as u64)?;
        anyhow::ensure!(!read.is_empty(), "stream {stream} read back empty");
    }
    let from = (events / 2).max(1);
    let wanted = ALL_EVENTS.min(events - from + 1);
    let started = Instant::now();
    let mut next = from;
    while next < from + wanted {
        let page = store.read_all(next, 4_096).await?;
        next = page.last().context("a page of $all")?.position + 1;
    }
    let all_read_events_per_sec = (next - from) as f64 / started.elapsed().as_secs_f64();
    let probe = StoreProbe {
        open_secs,
        rss_before_kib,
        rss_open_kib,
        rss_after_reads_kib: crate::inproc::rss_kib_of("self"),
        events,
        stream_read_p50_ms: latency.value_at_quantile(0.5) as f64 / 1000.0,
        stream_read_p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        all_read_events_per_sec,
    };
    store.close().await?;
    Ok(probe)
}

/// Runs [`probe`] in a child process (this binary, `store-probe` subcommand).
pub async fn run(data_dir: &Path) -> anyhow::Result<StoreProbe> {
    crate::inproc::run_child("store-probe", data_dir).await
}

/// The samples of one probe: MiB held by the open store, stream read p99 (ms), `$all`
/// events/s.
pub fn samples(probe: &StoreProbe) -> (Sample, Sample, Sample) {
    let held = probe.rss_open_kib.saturating_sub(probe.rss_before_kib) as f64 / 1024.0;
    let sample = |value| Sample {
        value,
        ..Sample::default()
    };
    (
        sample(held),
        sample(probe.stream_read_p99_ms),
        sample(probe.all_read_events_per_sec),
    )
}
