//! Each sub-benchmark as rows of the table, repeated and reduced to medians.

use crate::inproc;
use crate::ledger::{HttpLedger, Server};
use crate::mix::{self, Target, Workload};
use crate::peer::{Database, Peer};
use crate::report::{Row, Sample};
use crate::sse;
use crate::Options;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Concurrency levels of the HTTP comparison.
const LEVELS: [usize; 4] = [1, 16, 64, 256];

/// Durations and sizes for one run.
pub struct Settings {
    /// `quick` or `full`.
    pub mode: &'static str,
    repeats: usize,
    levels: Vec<usize>,
    http: Duration,
    append: Duration,
    events: Vec<u64>,
    sse_rates: Vec<u64>,
    sse_subscribers: usize,
    sse: Duration,
    pg_url: String,
    dir: Option<PathBuf>,
    /// Run the ledger on the postgres backend (a fresh database per repeat).
    ledger_on_postgres: bool,
}

impl Settings {
    /// From the command line: `--quick` picks short defaults, flags override.
    pub fn new(options: &Options) -> Settings {
        let quick = options.quick;
        let pick = |q: u64, full: u64| if quick { q } else { full };
        Settings {
            mode: if quick { "quick" } else { "full" },
            repeats: options.repeats,
            levels: options.levels.clone().unwrap_or_else(|| LEVELS.to_vec()),
            http: Duration::from_secs(options.http_secs.unwrap_or(pick(1, 8))),
            append: Duration::from_secs(pick(1, 3)),
            events: options.events.clone().unwrap_or_else(|| {
                if quick {
                    vec![100_000]
                } else {
                    vec![1_000_000]
                }
            }),
            sse_subscribers: options.sse_subscribers.max(1),
            sse_rates: options.sse_rates.clone().unwrap_or_else(|| {
                if quick {
                    vec![1_000]
                } else {
                    vec![1_000, 10_000]
                }
            }),
            sse: Duration::from_secs(pick(2, 5)),
            pg_url: options.pg_url.clone(),
            dir: options.dir.clone(),
            ledger_on_postgres: options.ledger_on_postgres,
        }
    }

    fn tempdir(&self) -> anyhow::Result<tempfile::TempDir> {
        let builder = tempfile::Builder::new()
            .prefix("alert-ledger-bench-")
            .to_owned();
        Ok(match &self.dir {
            Some(dir) => builder.tempdir_in(dir)?,
            None => builder.tempdir()?,
        })
    }
}

fn says(suite: &str, part: &str) -> bool {
    suite == "all" || suite == part
}

/// Runs the named suite (`all` or one part) and returns its rows.
pub async fn run(settings: &Settings, suite: &str) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    if says(suite, "http") || suite == "peer" || suite == "ledger" {
        rows.extend(http(settings, suite != "peer", suite != "ledger").await?);
    }
    if says(suite, "append") {
        rows.extend(append(settings).await?);
    }
    let log_parts = ["read", "rebuild", "startup", "memory", "open"];
    if suite == "all" || log_parts.contains(&suite) {
        rows.extend(log(settings, suite).await?);
    }
    if says(suite, "sse") {
        for &rate in &settings.sse_rates {
            rows.push(fan_out(settings, rate).await?);
        }
    }
    Ok(rows)
}

fn progress(what: &str, sample: &Sample) {
    eprintln!(
        "  {what}: {:.0} (p50 {:?}, p99 {:?})",
        sample.value, sample.p50, sample.p99
    );
}

/// How the views fared in one window: how far they trailed the log when it ended, and
/// how long after it they took to apply everything.
#[derive(Debug, Clone, Copy)]
struct ViewsAtEnd {
    lag: u64,
    catch_up: Duration,
}

/// Longest wait for the views to catch up after a window.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(120);

/// How often the lag is read while waiting.
const CATCH_UP_POLL: Duration = Duration::from_millis(10);

/// Waits (idle) until the views hold every event of the log.
async fn views_at_end(server: &Server) -> anyhow::Result<ViewsAtEnd> {
    let started = Instant::now();
    let lag = server.views_lag().await?;
    let mut behind = lag;
    while behind > 0 && started.elapsed() < CATCH_UP_LIMIT {
        tokio::time::sleep(CATCH_UP_POLL).await;
        behind = server.views_lag().await?;
    }
    Ok(ViewsAtEnd {
        lag,
        catch_up: started.elapsed(),
    })
}

/// One HTTP level against the ledger: a fresh service each repeat.
/// Also answers how the views fared (see [`ViewsAtEnd`]).
async fn ledger_level(
    settings: &Settings,
    level: usize,
    run: u64,
) -> anyhow::Result<(mix::LoadResult, ViewsAtEnd)> {
    if !settings.ledger_on_postgres {
        let server = Server::start()?;
        let target: Arc<dyn Target> = Arc::new(HttpLedger::connect(server.url(), level).await?);
        let result = mix::run(target, Workload::new(run), level, settings.http).await;
        let views = views_at_end(&server).await?;
        drop(server);
        return Ok((result, views));
    }
    let name = format!("alert_ledger_bench_store_{}_{run}", std::process::id());
    let url = crate::peer::empty_database(&settings.pg_url, &name).await?;
    let server = tokio::task::block_in_place(|| Server::start_on(Some(&url)))?;
    let target: Arc<dyn Target> = Arc::new(HttpLedger::connect(server.url(), level).await?);
    let result = mix::run(target, Workload::new(run), level, settings.http).await;
    let views = views_at_end(&server).await?;
    tokio::task::block_in_place(|| drop(server));
    crate::peer::drop_database(&settings.pg_url, &name).await?;
    Ok((result, views))
}

async fn peer_level(
    settings: &Settings,
    db: &Database,
    level: usize,
    run: u64,
) -> anyhow::Result<(mix::LoadResult, usize)> {
    db.truncate().await?;
    let peer = Peer::connect(db, level).await?;
    let size = peer.size();
    let target: Arc<dyn Target> = Arc::new(peer);
    Ok((
        mix::run(target, Workload::new(run), level, settings.http).await,
        size,
    ))
}

/// Errors of one side over the repeats, as a note.
fn error_note(side: &str, results: &[mix::LoadResult]) -> Option<String> {
    let errors: u64 = results.iter().map(|r| r.errors).sum();
    let first = results.iter().find_map(|r| r.first_error.clone())?;
    Some(format!("{side}: {errors} failed ops, e.g. {first}"))
}

/// The incident mix at every level, ledger and peer interleaved per repeat so a
/// change in the machine's load hits both alike.
async fn http(settings: &Settings, with_ledger: bool, with_peer: bool) -> anyhow::Result<Vec<Row>> {
    let db = if with_peer {
        match Database::create(&settings.pg_url).await {
            Ok(db) => Some(db),
            Err(err) if with_ledger => {
                eprintln!("peer unavailable, ledger only: {err:#}");
                None
            }
            Err(err) => return Err(err),
        }
    } else {
        None
    };
    let mut rows = Vec::new();
    for &level in &settings.levels {
        let (mut ours, mut theirs, mut pool) = (Vec::new(), Vec::new(), level);
        let mut at_end = Vec::new();
        for r in 0..settings.repeats {
            let run = (level as u64) << 8 | r as u64;
            if with_ledger {
                let (result, views) = ledger_level(settings, level, run).await?;
                progress(&format!("ledger mix @{level} #{r}"), &result.sample);
                eprintln!(
                    "  (views {} events behind the log at the end, caught up {:.2} s later)",
                    views.lag,
                    views.catch_up.as_secs_f64()
                );
                ours.push(result);
                at_end.push(views);
            }
            if let Some(db) = &db {
                let (result, size) = peer_level(settings, db, level, run).await?;
                progress(&format!("peer mix @{level} #{r}"), &result.sample);
                theirs.push(result);
                pool = size;
            }
        }
        rows.extend(level_rows(
            settings.ledger_on_postgres,
            (level, settings.http),
            pool,
            &ours,
            &theirs,
            &at_end,
        ));
    }
    if let Some(db) = db {
        db.drop_now().await?;
    }
    Ok(rows)
}

fn level_rows(
    on_postgres: bool,
    (level, window): (usize, Duration),
    pool: usize,
    ours: &[mix::LoadResult],
    theirs: &[mix::LoadResult],
    views: &[ViewsAtEnd],
) -> Vec<Row> {
    let pick = |results: &[mix::LoadResult], kind: Option<usize>| -> Vec<Sample> {
        results
            .iter()
            .map(|r| kind.map_or(r.sample, |k| r.kinds[k]))
            .collect()
    };
    let mut notes: Vec<String> = [error_note("ledger", ours), error_note("peer", theirs)]
        .into_iter()
        .flatten()
        .collect();
    if !views.is_empty() {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let lag = median(views.iter().map(|v| v.lag as f64).collect());
        let catch_up = median(views.iter().map(|v| v.catch_up.as_secs_f64()).collect());
        // Operations the views had applied per second once they caught up: the window's
        // operations over the window and the catch-up after it.
        let kept_up = median(
            ours.iter()
                .zip(views)
                .map(|(result, v)| {
                    let ops = result.sample.value * window.as_secs_f64();
                    ops / (window + v.catch_up).as_secs_f64()
                })
                .collect(),
        );
        notes.push(format!(
            "views {lag:.0} events behind the log when the window ended, caught up {catch_up:.2} s \
             later: {kept_up:.0} ops/s counting the catch-up (medians)"
        ));
    }
    if pool < level && !theirs.is_empty() {
        notes.push(format!(
            "peer pool capped at {pool} connections by max_connections"
        ));
    }
    let name = format!("incident mix over HTTP, {level} conn");
    let name = if on_postgres {
        format!("{name} (ledger on postgres)")
    } else {
        name
    };
    let trigger = format!("— new triggers within it, {level} conn");
    let row = |name: String, kind| {
        let (l, p) = (pick(ours, kind), pick(theirs, kind));
        match (l.is_empty(), p.is_empty()) {
            (false, false) => Row::compared(name, "ops/s", &l, &p),
            (false, true) => Row::ledger(name, "ops/s", &l),
            _ => Row::peer_only(name, "ops/s", &p),
        }
    };
    vec![
        row(name, None).with_note(notes.join("; ")),
        row(trigger, Some(mix::Kind::New as usize)),
    ]
}

async fn append(settings: &Settings) -> anyhow::Result<Vec<Row>> {
    let cases = [
        (1, 1, "durable append, 1 appender × 1 event/call"),
        (16, 1, "durable append, 16 appenders × 1 event/call"),
        (256, 1, "durable append, 256 appenders × 1 event/call"),
        (
            16,
            1000,
            "durable append batched, 16 appenders × 1,000 events/call",
        ),
    ];
    let base = settings.tempdir()?;
    let mut rows = Vec::new();
    for (appenders, per_call, name) in cases {
        let mut samples = Vec::new();
        for _ in 0..settings.repeats {
            let sample = inproc::append(base.path(), appenders, per_call, settings.append).await?;
            progress(name, &sample);
            samples.push(sample);
        }
        rows.push(Row::ledger(name, "events/s", &samples).with_note("p50/p99: one append call"));
    }
    Ok(rows)
}

/// Read, rebuild, startup and memory over logs of each configured size (one log,
/// grown from one size to the next).
async fn log(settings: &Settings, suite: &str) -> anyhow::Result<Vec<Row>> {
    let dir = settings.tempdir()?;
    let data = dir.path().join("data");
    let mut rows = Vec::new();
    let mut sizes = settings.events.clone();
    sizes.sort_unstable();
    for size in sizes {
        let store = inproc::open(&data).await?;
        let started = Instant::now();
        let head = crate::dataset::fill(store.clone(), size, 16).await?;
        let fill_secs = started.elapsed().as_secs_f64();
        eprintln!(
            "  log filled to {head} events in {fill_secs:.1} s ({:.0} events/s)",
            head as f64 / fill_secs
        );
        let label = millions(head);
        if says(suite, "read") {
            let samples = repeat(settings, "read", || inproc::read_all(store.as_ref())).await?;
            rows.push(Row::ledger(
                format!("$all read, {label} events, pages of 4,096"),
                "events/s",
                &samples,
            ));
        }
        if says(suite, "rebuild") || says(suite, "startup") || says(suite, "memory") {
            let (mut file, mut memory) = (Vec::new(), Vec::new());
            for _ in 0..settings.repeats {
                let (sample, views) = inproc::rebuild(store.as_ref()).await?;
                progress("rebuild, in-memory views", &sample);
                memory.push(sample);
                drop(views);
                let sample = inproc::rebuild_file(store.clone(), &data).await?;
                progress("rebuild, view file", &sample);
                file.push(sample);
            }
            if says(suite, "rebuild") {
                rows.push(
                    Row::compared(
                        format!("full rebuild of the view file, {label} events"),
                        "events/s",
                        &file,
                        &memory,
                    )
                    .with_note("peer column: the same log folded into in-memory views, as every view was kept before the view file"),
                );
            }
        }
        if says(suite, "open") {
            store.close().await?;
            rows.push(open_rows(settings, &data, &label, false).await?);
            if settings.mode == "quick" {
                eprintln!("  quick mode: no cold-open row");
            } else if inproc::drop_page_cache() {
                rows.push(open_rows(settings, &data, &label, true).await?);
            } else {
                eprintln!("  the page cache cannot be dropped here: no cold-open row");
            }
            rows.push(verify_rows(settings, &data, &label).await?);
            rows.extend(store_rows(settings, &data, &label).await?);
            let reopened = inproc::open(&data).await?;
            if says(suite, "startup") || says(suite, "memory") {
                reopened.close().await?;
                rows.extend(probes(settings, suite, &data, &label).await?);
            } else {
                reopened.close().await?;
            }
        } else if says(suite, "startup") || says(suite, "memory") {
            store.close().await?;
            drop(store);
            rows.extend(probes(settings, suite, &data, &label).await?);
        } else {
            store.close().await?;
        }
    }
    Ok(rows)
}

/// The store's open time with the sealed segments' index files against the same log
/// opened as the previous format did (index files removed: every segment scanned),
/// alternating, in the peer column.
async fn open_rows(
    settings: &Settings,
    data: &std::path::Path,
    label: &str,
    cold: bool,
) -> anyhow::Result<Row> {
    let (mut indexed, mut scanned) = (Vec::new(), Vec::new());
    let mut reports = Vec::new();
    for _ in 0..quick_once(settings) {
        let (old, old_report) = inproc::open_once(data, true, cold).await?;
        progress("open, scanning every segment", &old);
        let (new, new_report) = inproc::open_once(data, false, cold).await?;
        progress("open, sealed segments from their index", &new);
        scanned.push(old);
        indexed.push(new);
        reports.push((old_report, new_report));
    }
    let (old_report, new_report) = reports.last().copied().unwrap_or_default();
    Ok(Row::compared(
        format!(
            "store open, {label} events, page cache {}",
            if cold { "dropped" } else { "warm" }
        ),
        "s",
        &indexed,
        &scanned,
    )
    .with_note(format!(
        "peer column: the same log opened as before index files (every segment scanned: {} segments); ledger: {} sealed segments from their index, {} scanned; lower is better",
        old_report.segments_scanned, new_report.segments_from_index, new_report.segments_scanned
    )))
}

/// An incremental verify of the last 100,000 events (from a digest there) against
/// one full verify of the same log (from position 1, proving the same digest).
async fn verify_rows(
    settings: &Settings,
    data: &std::path::Path,
    label: &str,
) -> anyhow::Result<Row> {
    const BACK: u64 = 100_000;
    let mut incremental = Vec::new();
    for _ in 0..quick_once(settings) {
        let sample = inproc::verify_tail(data, BACK, false).await?;
        progress("verify --digest, last 100k", &sample);
        incremental.push(sample);
    }
    let full = inproc::verify_tail(data, BACK, true).await?;
    progress("verify --digest --full", &full);
    Ok(Row::compared(
        format!("verify from a digest 100,000 events before the head, {label} events"),
        "s",
        &incremental,
        &[full],
    )
    .with_note("peer column: one full walk of the same log (--full); lower is better"))
}

/// The open store alone, in child processes: its resident memory, one stream's read
/// p99, and `$all` from the middle of the log.
async fn store_rows(
    settings: &Settings,
    data: &std::path::Path,
    label: &str,
) -> anyhow::Result<Vec<Row>> {
    let (mut memory, mut stream, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..quick_once(settings) {
        let probe = crate::store_probe::run(data).await?;
        eprintln!("  store probe: {probe:?}");
        let (m, s, a) = crate::store_probe::samples(&probe);
        memory.push(m);
        stream.push(s);
        all.push(a);
    }
    Ok(vec![
        Row::ledger(
            format!("resident memory of the open store, {label} events"),
            "MiB",
            &memory,
        )
        .with_note("growth of a fresh process's resident set over the open (one stream per incident, about 3 events each)"),
        Row::ledger(
            format!("one stream's events, {label} events, p99"),
            "ms",
            &stream,
        )
        .with_note("2,000 streams sampled evenly across the log, each read whole"),
        Row::ledger(
            format!("$all read from the middle, {label} events, pages of 4,096"),
            "events/s",
            &all,
        )
        .with_note("1,000,000 events (or to the head) from position head/2"),
    ])
}

/// Repeats of the open and verify rows: one in quick mode (a smoke test of the code
/// path; each open of a one-segment log scans it either way).
fn quick_once(settings: &Settings) -> usize {
    if settings.mode == "quick" {
        1
    } else {
        settings.repeats
    }
}

async fn probes(
    settings: &Settings,
    suite: &str,
    data: &std::path::Path,
    label: &str,
) -> anyhow::Result<Vec<Row>> {
    let (mut startup, mut memory) = (Vec::new(), Vec::new());
    for _ in 0..settings.repeats {
        let probe = inproc::run_probe(data).await?;
        eprintln!("  probe: {probe:?}");
        let (s, m) = inproc::probe_samples(&probe);
        startup.push(s);
        memory.push(m);
    }
    let mut rows = Vec::new();
    if says(suite, "startup") {
        rows.push(Row::ledger(
            format!("startup to ready, view file at the head, {label} events"),
            "s",
            &startup,
        ));
    }
    if says(suite, "memory") {
        rows.push(Row::ledger(
            format!("resident memory per 1M events ({label} in the views)"),
            "MiB",
            &memory,
        ));
    }
    Ok(rows)
}

async fn repeat<F, Fut>(
    settings: &Settings,
    what: &str,
    mut measure: F,
) -> anyhow::Result<Vec<Sample>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Sample>>,
{
    let mut samples = Vec::new();
    for _ in 0..settings.repeats {
        let sample = measure().await?;
        progress(what, &sample);
        samples.push(sample);
    }
    Ok(samples)
}

/// `1.0M`, `100k`: a log size for row labels.
pub fn millions(events: u64) -> String {
    if events >= 1_000_000 {
        format!("{:.1}M", events as f64 / 1e6)
    } else {
        format!("{}k", events / 1000)
    }
}

async fn fan_out(settings: &Settings, rate: u64) -> anyhow::Result<Row> {
    let mut samples = Vec::new();
    let mut lost = 0;
    for _ in 0..settings.repeats {
        let server = Server::start()?;
        let run = sse::fan_out(&server, settings.sse_subscribers, rate, settings.sse).await?;
        drop(server);
        progress("sse", &run.sample);
        lost += run.expected.saturating_sub(run.received);
        samples.push(run.sample);
    }
    let name = format!(
        "SSE fan-out, {} subscribers, {rate} appends/s",
        settings.sse_subscribers
    );
    let mut note = "deliveries/s; latency = receive − recorded_at".to_owned();
    if lost > 0 {
        note.push_str(&format!(
            "; {lost} deliveries not received within 2 s after the last append"
        ));
    }
    Ok(Row::ledger(name, "deliveries/s", &samples).with_note(note))
}
