//! New triggers under an external load generator (issue 18): `alert-ledger serve` in a
//! process of its own on a fresh data directory, `wrk` in another posting new triggers
//! (`bench/scripts/trigger.lua`: a distinct dedup key per request, ~300-byte bodies) at
//! each connection level, and the service's CPU per trigger from its own
//! `/proc/<pid>/stat` (user + system time of every thread) before and after the run.
//! Nothing of the load shares the service's runtime or process.
//!
//! Needs `wrk` on the PATH (Debian: `apt-get install wrk`) and the service binary beside
//! this one (`cargo build --release --bin alert-ledger`).

use crate::report::{Row, Sample};
use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// What one run measures.
#[derive(Debug, Clone)]
pub struct WrkSettings {
    /// Connection levels.
    pub connections: Vec<usize>,
    /// Seconds of load per level and repeat.
    pub secs: u64,
    /// wrk threads (at most the connections).
    pub threads: usize,
    /// Fresh services per level.
    pub repeats: usize,
}

/// What wrk and the service's counters said of one run.
#[derive(Debug, Default)]
struct Measured {
    requests_per_sec: f64,
    requests: u64,
    errors: u64,
    p50: Duration,
    p99: Duration,
    cpu_us_per_request: f64,
}

/// Every level's throughput, latency and service CPU per trigger.
pub async fn run(settings: WrkSettings) -> anyhow::Result<Vec<Row>> {
    let binary = std::env::current_exe()?.with_file_name("alert-ledger");
    anyhow::ensure!(
        binary.exists(),
        "{} is missing: cargo build --release --bin alert-ledger",
        binary.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/trigger.lua");
    let ticks = clock_ticks()?;
    let mut rows = Vec::new();
    for &connections in &settings.connections {
        let mut throughput = Vec::new();
        let mut cpu = Vec::new();
        let mut errors = 0;
        for repeat in 0..settings.repeats {
            let m = one_run(&binary, &script, ticks, connections, &settings).await?;
            eprintln!(
                "  wrk -c{connections} repeat {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} µs of service CPU per trigger, {} errors",
                repeat + 1,
                m.requests_per_sec,
                m.p50.as_secs_f64() * 1e3,
                m.p99.as_secs_f64() * 1e3,
                m.cpu_us_per_request,
                m.errors
            );
            errors += m.errors;
            throughput.push(Sample {
                value: m.requests_per_sec,
                p50: Some(m.p50),
                p99: Some(m.p99),
            });
            cpu.push(Sample {
                value: m.cpu_us_per_request,
                ..Sample::default()
            });
        }
        let threads = settings.threads.min(connections);
        rows.push(
            Row::ledger(
                format!("new triggers over HTTP, wrk -t{threads} -c{connections} (service in its own process)"),
                "ops/s",
                &throughput,
            )
            .with_note(format!(
                "{} s per repeat, bench/scripts/trigger.lua, fresh embedded store, default settings; non-2xx answers: {errors}",
                settings.secs
            )),
        );
        rows.push(
            Row::ledger(
                format!("service CPU per trigger, wrk -c{connections}"),
                "µs",
                &cpu,
            )
            .with_note("user + system time of every thread of the service process (/proc/<pid>/stat) during the run, over the requests wrk completed; target ≤ 25 µs (issue 18)"),
        );
    }
    Ok(rows)
}

async fn one_run(
    binary: &Path,
    script: &Path,
    ticks: f64,
    connections: usize,
    settings: &WrkSettings,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let mut service = tokio::process::Command::new(binary)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("start alert-ledger serve")?;
    let pid = service.id().context("the service has a pid")?;
    let base = format!("http://127.0.0.1:{port}");
    ready(&base).await?;
    let before = cpu_secs(pid, ticks)?;
    let threads = settings.threads.min(connections).max(1);
    let out = tokio::process::Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", settings.secs))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(&base)
        .output()
        .await
        .context("run wrk (apt-get install wrk)")?;
    let after = cpu_secs(pid, ticks)?;
    let _ = service.start_kill();
    let _ = service.wait().await;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = parse_wrk(&text).with_context(|| format!("wrk's output: {text}"))?;
    m.cpu_us_per_request = (after - before) * 1e6 / m.requests.max(1) as f64;
    Ok(m)
}

/// Throughput, request count, errors and latency percentiles from wrk's `--latency`
/// report.
fn parse_wrk(text: &str) -> Option<Measured> {
    let mut m = Measured::default();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("Requests/sec:") {
            m.requests_per_sec = rest.trim().parse().ok()?;
        } else if line.contains(" requests in ") {
            m.requests = line.split_whitespace().next()?.parse().ok()?;
        } else if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            m.errors += rest.trim().parse::<u64>().ok()?;
        } else if let Some(rest) = line.strip_prefix("Socket errors:") {
            m.errors += rest
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum::<u64>();
        } else if let Some(rest) = line.strip_prefix("50%") {
            m.p50 = wrk_duration(rest.trim())?;
        } else if let Some(rest) = line.strip_prefix("99%") {
            m.p99 = wrk_duration(rest.trim())?;
        }
    }
    (m.requests > 0).then_some(m)
}

/// `812.00us`, `7.50ms`, `1.20s`.
fn wrk_duration(text: &str) -> Option<Duration> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        return None;
    };
    Some(Duration::from_secs_f64(number.parse::<f64>().ok()? * scale))
}

/// User + system CPU seconds of process `pid` (all its threads).
fn cpu_secs(pid: u32, ticks: f64) -> anyhow::Result<f64> {
    cpu_secs_in(&format!("/proc/{pid}/stat"), ticks)
}

/// User + system CPU seconds from a `stat` file of `/proc` (a process's, or a thread's:
/// `/proc/thread-self/stat`), with `ticks` clock ticks per second.
pub fn cpu_secs_in(stat_file: &str, ticks: f64) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(stat_file)?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = &stat[stat.rfind(')').context("a stat line")? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after the name.
    let utime: f64 = fields.get(11).context("utime")?.parse()?;
    let stime: f64 = fields.get(12).context("stime")?.parse()?;
    Ok((utime + stime) / ticks)
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clock_ticks() -> anyhow::Result<f64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .context("getconf CLK_TCK")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn ready(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the service at {base} was not ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let text = "Running 10s test @ http://127.0.0.1:8470\n  2 threads and 16 connections\n  Latency Distribution\n     50%  812.00us\n     75%    1.10ms\n     90%    2.00ms\n     99%    7.50ms\n  117820 requests in 10.00s, 30.11MB read\n  Non-2xx or 3xx responses: 3\nRequests/sec:  11782.34\nTransfer/sec:      3.01MB\n";
        let m = parse_wrk(text).unwrap();
        assert_eq!(m.requests, 117_820);
        assert_eq!(m.errors, 3);
        assert!((m.requests_per_sec - 11_782.34).abs() < 1e-6);
        assert_eq!(m.p50, Duration::from_micros(812));
        assert_eq!(m.p99, Duration::from_micros(7_500));
    }
}
