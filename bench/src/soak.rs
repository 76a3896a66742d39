//! The soak (issue #9): the service in a child process (this binary, hidden
//! `serve-child` subcommand, the same `Application` `alert-ledger serve` runs) under
//! the incident mix for a long time, with live `/v1/subscribe` subscribers connected.
//!
//! Every window (10 s; 5 s in quick runs) it records throughput, p99, errors, the
//! child's resident memory and the head. At the end it waits for every subscriber to
//! reach the head, stops the service, and starts a fresh one on the same log (the
//! probe) to learn what a service that has served nothing holds. The run fails when
//! any operation failed, a subscriber missed events, or the soaked service holds more
//! than the fresh one plus [`CACHES_MIB`] (the bounded caches a serving instance fills:
//! more means something grows with the log). It reports whether memory stayed flat (end
//! ÷ the window at 10 s, the issue's ≤ 1.2), and fails on it for runs of 10 minutes or
//! more.

use crate::inproc;
use crate::ledger::HttpLedger;
use crate::mix::{self, Workload};
use futures_util::StreamExt;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of one soak.
pub struct SoakSettings {
    /// Total load time.
    pub duration: Duration,
    /// Length of one reporting window.
    pub window: Duration,
    /// Closed-loop HTTP workers.
    pub connections: usize,
    /// Live subscribers on `/v1/subscribe`.
    pub subscribers: usize,
    /// How many of them stop reading after their first chunk until the load ends
    /// (then they must still catch up to the head).
    pub paused: usize,
    /// Where the JSON result goes.
    pub json: PathBuf,
}

/// One reporting window.
#[derive(Debug, Serialize)]
struct Window {
    /// Seconds since the load began, at the end of the window.
    at_secs: f64,
    ops_per_sec: f64,
    p99_ms: f64,
    errors: u64,
    rss_mib: f64,
    head: u64,
}

/// The whole run.
#[derive(Debug, Serialize)]
struct SoakReport {
    seconds: f64,
    connections: usize,
    subscribers: usize,
    paused: usize,
    windows: Vec<Window>,
    errors: u64,
    first_error: Option<String>,
    head: u64,
    /// Events each subscriber received (each must equal `head`).
    delivered: Vec<u64>,
    rss_start_mib: f64,
    /// The first window at or after 10 s of load.
    rss_10s_mib: f64,
    /// `rss_end_mib / rss_10s_mib`: memory stays flat when at most 1.2.
    rss_growth_since_10s: f64,
    /// At the end of the load, before paused subscribers resume.
    rss_loaded_mib: f64,
    rss_end_mib: f64,
    /// A fresh service on the same log, once ready: what the views alone hold.
    rss_fresh_mib: f64,
}

/// The child: serves `data_dir` on `port` until SIGTERM.
pub async fn serve_child(data_dir: &Path, port: u16) -> anyhow::Result<()> {
    let config =
        alert_ledger::config::ServeConfig::new(format!("127.0.0.1:{port}").parse()?, data_dir);
    let app = alert_ledger::startup::Application::build(config).await?;
    app.run(alert_ledger::startup::shutdown_signal()).await
}

/// What a serving instance's bounded caches may add over a fresh one: the command
/// path's 65,536 stream states and 65,536 recent alerts, 100,000 idempotent responses,
/// the store's idempotency window (1M events) and active segment index, the 8 MiB SSE
/// ring, SQLite's page and statement caches (2 MiB and 64 statements per connection),
/// and what the allocator keeps of freed memory, with a margin.
const CACHES_MIB: f64 = 512.0;

fn rss_mib(pid: u32) -> f64 {
    inproc::rss_kib_of(&pid.to_string()) as f64 / 1024.0
}

async fn head(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let reply = client
        .get(format!("{base}/v1/ledger/digest"))
        .send()
        .await?;
    let position = reply
        .headers()
        .get("x-ledger-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    position.ok_or_else(|| anyhow::anyhow!("no X-Ledger-Position on the digest"))
}

/// Counts the events one subscriber receives (the `id:` lines) until `stop`. With
/// `paused_until`, it stops reading after its first chunk until that turns true.
async fn subscribe(
    base: String,
    received: Arc<AtomicU64>,
    stop: tokio::sync::watch::Receiver<bool>,
    mut paused_until: Option<tokio::sync::watch::Receiver<bool>>,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}/v1/subscribe?from=1"))
        .header("accept", "text/event-stream")
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "subscribe: {}",
        response.status()
    );
    let mut body = response.bytes_stream();
    let mut pending = Vec::<u8>::new();
    let mut stop = stop;
    loop {
        let chunk = tokio::select! {
            chunk = body.next() => chunk,
            _ = stop.wait_for(|s| *s) => return Ok(()),
        };
        let Some(chunk) = chunk else {
            anyhow::bail!("the subscription ended before the soak did");
        };
        pending.extend_from_slice(&chunk?);
        if let Some(mut resume) = paused_until.take() {
            let _ = resume.wait_for(|r| *r).await;
        }
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        for line in pending[..end].split(|b| *b == b'\n') {
            if let Some(id) = line.strip_prefix(b"id:") {
                if let Ok(id) = std::str::from_utf8(id).unwrap_or("").trim().parse::<u64>() {
                    received.fetch_max(id, Ordering::Relaxed);
                }
            }
        }
        pending.drain(..=end);
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs the soak; an error when a promise was broken.
pub async fn run(settings: &SoakSettings) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("alert-ledger-soak-")
        .tempdir()?;
    let data_dir = dir.path().join("data");
    let port = free_port()?;
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["serve-child", "--port", &port.to_string(), "--data-dir"])
        .arg(&data_dir)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| anyhow::anyhow!("the service exited"))?;
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let ready_by = Instant::now() + Duration::from_secs(30);
    while !matches!(client.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200) {
        anyhow::ensure!(
            Instant::now() < ready_by,
            "the service was not ready in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (resume_tx, resume_rx) = tokio::sync::watch::channel(false);
    let received: Vec<Arc<AtomicU64>> = (0..settings.subscribers).map(|_| Arc::default()).collect();
    let subscribers: Vec<_> = received
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let paused = (i < settings.paused).then(|| resume_rx.clone());
            tokio::spawn(subscribe(
                base.clone(),
                count.clone(),
                stop_rx.clone(),
                paused,
            ))
        })
        .collect();

    let target = Arc::new(HttpLedger::connect(base.clone(), settings.connections).await?);
    let workload = Workload::new(std::process::id() as u64);
    let started = Instant::now();
    let mut windows = Vec::new();
    let (mut errors, mut first_error) = (0, None);
    eprintln!(
        "soak: {:?} of the incident mix over {} connections, {} subscribers",
        settings.duration, settings.connections, settings.subscribers
    );
    while started.elapsed() < settings.duration {
        let left = settings.duration.saturating_sub(started.elapsed());
        let result = mix::run(
            target.clone(),
            workload.clone(),
            settings.connections,
            settings.window.min(left),
        )
        .await;
        errors += result.errors;
        if let Some(error) = result.first_error.as_deref() {
            eprintln!("  errors in this window, e.g. {error}");
        }
        first_error = first_error.or(result.first_error);
        let window = Window {
            at_secs: started.elapsed().as_secs_f64(),
            ops_per_sec: result.sample.value,
            p99_ms: result.sample.p99.map_or(0.0, |p| p.as_secs_f64() * 1000.0),
            errors: result.errors,
            rss_mib: rss_mib(pid),
            head: head(&client, &base).await?,
        };
        eprintln!(
            "  t={:>6.1}s  {:>8.0} ops/s  p99 {:>7.1} ms  errors {}  rss {:>7.1} MiB  head {}",
            window.at_secs,
            window.ops_per_sec,
            window.p99_ms,
            window.errors,
            window.rss_mib,
            window.head
        );
        windows.push(window);
    }
    let seconds = started.elapsed().as_secs_f64();
    let rss_loaded_mib = rss_mib(pid);
    let _ = resume_tx.send(true);
    let final_head = head(&client, &base).await?;
    // Every subscriber must reach the head.
    let caught_up_by = Instant::now() + Duration::from_secs(30);
    while received
        .iter()
        .any(|r| r.load(Ordering::Relaxed) < final_head)
        && Instant::now() < caught_up_by
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rss_end_mib = rss_mib(pid);
    let _ = stop_tx.send(true);
    for subscriber in subscribers {
        subscriber.await??;
    }
    let delivered: Vec<u64> = received.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    let stopped = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    anyhow::ensure!(stopped.success(), "kill -TERM failed");
    let stopping = Instant::now();
    let status = tokio::time::timeout(Duration::from_secs(600), child.wait())
        .await
        .map_err(|_| anyhow::anyhow!("the service did not exit within 600 s of SIGTERM"))??;
    anyhow::ensure!(status.success(), "the service exited with {status}");
    eprintln!(
        "soak: the service stopped {:.1} s after SIGTERM",
        stopping.elapsed().as_secs_f64()
    );
    let fresh = inproc::run_probe(&data_dir).await?;
    let rss_10s_mib = windows
        .iter()
        .find(|w| w.at_secs >= 10.0)
        .or(windows.last())
        .map_or(0.0, |w| w.rss_mib);
    let report = SoakReport {
        rss_10s_mib,
        rss_growth_since_10s: rss_end_mib / rss_10s_mib.max(1e-9),
        seconds,
        connections: settings.connections,
        subscribers: settings.subscribers,
        paused: settings.paused,
        rss_loaded_mib,
        rss_start_mib: windows.first().map_or(0.0, |w| w.rss_mib),
        rss_end_mib,
        rss_fresh_mib: fresh.rss_ready_kib as f64 / 1024.0,
        windows,
        errors,
        first_error,
        head: final_head,
        delivered,
    };
    std::fs::write(&settings.json, serde_json::to_vec_pretty(&report)?)?;
    let p99s: Vec<f64> = report.windows.iter().map(|w| w.p99_ms).collect();
    eprintln!(
        "soak: {:.0} s, {} events, {} subscribers ({} paused during the load), errors {}, rss start {:.1} MiB / end of load {:.1} MiB / end {:.1} MiB / fresh service on the same log {:.1} MiB, p99 per window min {:.1} max {:.1} ms; wrote {}",
        report.seconds,
        report.head,
        report.subscribers,
        report.paused,
        report.errors,
        report.rss_start_mib,
        report.rss_loaded_mib,
        report.rss_end_mib,
        report.rss_fresh_mib,
        p99s.iter().copied().fold(f64::INFINITY, f64::min),
        p99s.iter().copied().fold(0.0, f64::max),
        settings.json.display()
    );
    anyhow::ensure!(
        report.errors == 0,
        "{} operations failed, e.g. {}",
        report.errors,
        report.first_error.as_deref().unwrap_or("?")
    );
    anyhow::ensure!(
        report.delivered.iter().all(|d| *d >= report.head),
        "a subscriber missed events: delivered {:?}, head {}",
        report.delivered,
        report.head
    );
    eprintln!(
        "soak: resident memory {:.1} MiB at 10 s, {:.1} MiB at the end: {:.2}× (flat when ≤ 1.2×)",
        report.rss_10s_mib, report.rss_end_mib, report.rss_growth_since_10s
    );
    if report.seconds >= 600.0 {
        anyhow::ensure!(
            report.rss_growth_since_10s <= 1.2,
            "resident memory did not stay flat: {:.2}× the figure at 10 s",
            report.rss_growth_since_10s
        );
    }
    let bound = report.rss_fresh_mib + CACHES_MIB;
    anyhow::ensure!(
        report.rss_end_mib <= bound,
        "resident memory grew beyond the bounded caches: {:.1} MiB at the end, a fresh service on the same log holds {:.1} MiB",
        report.rss_end_mib,
        report.rss_fresh_mib
    );
    Ok(())
}
