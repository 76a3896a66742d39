//! In-process measurements of the library: durable append, `$all` reads, full
//! rebuild, and (through a child process, so the figures are a fresh service's)
//! startup-to-ready over a view file at the head and resident memory.

use crate::dataset;
use crate::report::Sample;
use alert_ledger::projection;
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Opens an embedded store in `dir` (blocking open on a blocking thread).
pub async fn open(dir: &Path) -> anyhow::Result<Arc<dyn EventStore>> {
    let options = EmbeddedOptions::new(dir);
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(options)).await??;
    Ok(Arc::new(store))
}

/// `events` with new ids derived from `salt` (each call appends fresh events).
fn fresh_ids(events: &[NewEvent], salt: u64) -> Vec<NewEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| NewEvent {
            event_id: Uuid::from_u64_pair(salt, i as u64),
            ..e.clone()
        })
        .collect()
}

/// `appenders` tasks, each appending `per_call` events per call to a stream of its
/// own for `duration`, on a fresh store. Returns events/s and call latency.
pub async fn append(
    base: &Path,
    appenders: usize,
    per_call: usize,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let dir = tempfile::tempdir_in(base)?;
    let store = open(dir.path()).await?;
    let sample = append_on(&store, appenders, per_call, duration).await?;
    store.close().await?;
    Ok(sample)
}

/// The load of [`append`] on an open store (left open: callers measure what else runs
/// on it, such as the Merkle tree's follower).
pub async fn append_on(
    store: &Arc<dyn EventStore>,
    appenders: usize,
    per_call: usize,
    duration: Duration,
) -> anyhow::Result<Sample> {
    let template: Vec<NewEvent> = (0..per_call as u64)
        .map(|i| dataset::one_trigger(7, i).1.remove(0))
        .collect();
    let template = Arc::new(template);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let (store, template) = (store.clone(), template.clone());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let stream = format!("alert-append{a}");
                let mut call = 0u64;
                while Instant::now() < deadline {
                    let salt = ((a as u64) << 40) | call;
                    let events = fresh_ids(&template, salt);
                    let t = Instant::now();
                    store.append(&stream, ExpectedVersion::Any, events).await?;
                    hist.saturating_record(t.elapsed().as_micros().max(1) as u64);
                    call += 1;
                }
                anyhow::Ok(hist)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for task in tasks {
        hist.add(task.await??)?;
    }
    let secs = started.elapsed().as_secs_f64();
    Ok(Sample {
        value: (hist.len() * per_call as u64) as f64 / secs,
        p50: Some(Duration::from_micros(hist.value_at_quantile(0.5))),
        p99: Some(Duration::from_micros(hist.value_at_quantile(0.99))),
    })
}

/// Reads the whole of `$all` in pages of the projection's page size; events/s.
pub async fn read_all(store: &dyn EventStore) -> anyhow::Result<Sample> {
    let head = store.head().await?.position;
    let started = Instant::now();
    let mut from = 1;
    while let Some(last) = store.read_all(from, projection::PAGE).await?.last() {
        from = last.position + 1;
    }
    anyhow::ensure!(from == head + 1, "read stopped at {from}, head {head}");
    Ok(Sample {
        value: head as f64 / started.elapsed().as_secs_f64(),
        ..Sample::default()
    })
}

/// Folds the whole log into in-memory views (the test oracle, and how every view was
/// kept before the view file: the peer of the file's rebuild); events/s.
pub async fn rebuild(
    store: &dyn EventStore,
) -> anyhow::Result<(Sample, projections::views::Views)> {
    let started = Instant::now();
    let mut views = projections::views::Views::default();
    let mut failed = 0;
    loop {
        let page = store.read_all(views.position + 1, projection::PAGE).await?;
        if page.is_empty() {
            break;
        }
        for event in &page {
            failed += u64::from(views.apply(event).is_err());
        }
    }
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(failed == 0, "{failed} events did not fold");
    let sample = Sample {
        value: views.position as f64 / secs,
        ..Sample::default()
    };
    Ok((sample, views))
}

/// Builds the view file `<data_dir>/views.sqlite3` from the whole log (what
/// `alert-ledger rebuild` runs); events/s. Fails if any event does not fold.
pub async fn rebuild_file(store: Arc<dyn EventStore>, data_dir: &Path) -> anyhow::Result<Sample> {
    let file = data_dir.join(projection::VIEW_FILE);
    let started = Instant::now();
    let (events, failed) = projection::rebuild::rebuild_offline(store, &file, |_, _| {}).await?;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(failed == 0, "{failed} events did not fold");
    Ok(Sample {
        value: events as f64 / secs,
        ..Sample::default()
    })
}

/// What a probe child reports.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Probe {
    /// `Application::build` (open the log and the view file, catch up, bind) in seconds.
    pub ready_secs: f64,
    /// Resident set before anything was opened (KiB).
    pub rss_before_kib: u64,
    /// Resident set of the ready service (KiB).
    pub rss_ready_kib: u64,
    /// Events in the views.
    pub events: u64,
}

/// `VmRSS` of this process in KiB.
fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Resident memory of process `pid` (`self` for this one) in KiB, 0 when unknown.
pub fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The probe child: builds the service over `data_dir` exactly as `serve` does and
/// reports how long that took and how much memory the ready service holds.
pub async fn probe(data_dir: &Path) -> anyhow::Result<Probe> {
    let rss_before_kib = rss_kib();
    let config = alert_ledger::config::ServeConfig::new("127.0.0.1:0".parse()?, data_dir);
    let started = Instant::now();
    let app = alert_ledger::startup::Application::build(config).await?;
    let ready_secs = started.elapsed().as_secs_f64();
    let events = app.state().views.applied();
    let probe = Probe {
        ready_secs,
        rss_before_kib,
        rss_ready_kib: rss_kib(),
        events,
    };
    app.state().store.close().await?;
    Ok(probe)
}

/// Runs the probe in a child process (this binary, `probe` subcommand).
pub async fn run_probe(data_dir: &Path) -> anyhow::Result<Probe> {
    run_child("probe", data_dir).await
}

/// Runs this binary's hidden `subcommand` over `data_dir` in a child process and reads
/// the one JSON line it prints.
pub async fn run_child<T: serde::de::DeserializeOwned>(
    subcommand: &str,
    data_dir: &Path,
) -> anyhow::Result<T> {
    let exe = std::env::current_exe()?;
    let output = tokio::process::Command::new(exe)
        .arg(subcommand)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "{subcommand} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = String::from_utf8(output.stdout)?;
    serde_json::from_str(line.trim()).with_context(|| format!("{subcommand} output"))
}

/// Startup seconds and MiB per million events from one probe.
pub fn probe_samples(probe: &Probe) -> (Sample, Sample) {
    let grown = probe.rss_ready_kib.saturating_sub(probe.rss_before_kib) as f64 / 1024.0;
    let millions = (probe.events as f64 / 1e6).max(1e-9);
    let startup = Sample {
        value: probe.ready_secs,
        ..Sample::default()
    };
    let memory = Sample {
        value: grown / millions,
        ..Sample::default()
    };
    (startup, memory)
}

/// Writes dirty pages back and drops the page cache (`/proc/sys/vm/drop_caches`), so the
/// next open reads from the disk; `false` where that is not permitted.
pub fn drop_page_cache() -> bool {
    // `sync` first: the kernel drops only clean pages.
    let synced = std::process::Command::new("sync")
        .status()
        .is_ok_and(|s| s.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", b"3\n").is_ok()
}

/// Opens the store in `dir` and closes it again: seconds to open, and what the open
/// read (index files, segments scanned). With `without_indexes`, the sealed segments'
/// index files are removed first, so the open scans every segment as the format before
/// index files did (and writes them again).
pub async fn open_once(
    dir: &Path,
    without_indexes: bool,
    cold: bool,
) -> anyhow::Result<(Sample, alert_ledger::store::embedded::OpenReport)> {
    if without_indexes {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "idx") {
                std::fs::remove_file(&path)?;
            }
        }
    }
    if cold {
        anyhow::ensure!(drop_page_cache(), "cannot drop the page cache");
    }
    let options = EmbeddedOptions::new(dir);
    let started = Instant::now();
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(options)).await??;
    let seconds = started.elapsed().as_secs_f64();
    let report = store.open_report();
    store.close().await?;
    Ok((
        Sample {
            value: seconds,
            ..Sample::default()
        },
        report,
    ))
}

/// `alert-ledger verify --digest` on the log in `dir` from a digest `back` events
/// before its head (incremental), or from position 1 (`full`): seconds.
pub async fn verify_tail(dir: &Path, back: u64, full: bool) -> anyhow::Result<Sample> {
    use alert_ledger::store::Head;
    use alert_ledger::verify::{verify_segments, Target};
    let store = open(dir).await?;
    let head = store.head().await?.position;
    let position = head.saturating_sub(back).max(1);
    let record = store.read_all(position, 1).await?;
    let hash = record.first().context("the digest's record")?.hash;
    store.close().await?;
    drop(store);
    let digest = Head { position, hash };
    let target = if full {
        Target::Digest(digest)
    } else {
        Target::After {
            digest,
            up_to: None,
        }
    };
    let dir = dir.to_path_buf();
    let started = Instant::now();
    let report = tokio::task::spawn_blocking(move || verify_segments(&dir, target, |_| {}))
        .await?
        .map_err(|failure| anyhow::anyhow!("verify failed: {failure}"))?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.head.position == head,
        "verified to {}",
        report.head.position
    );
    Ok(Sample {
        value: seconds,
        ..Sample::default()
    })
}
