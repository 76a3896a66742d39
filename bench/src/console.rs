//! The console (issue 19): server-side render time of its pages with 10,000 open alerts,
//! and how long a new trigger takes to reach a connected board.
//!
//! Each repeat starts the real service (`Application::build` + `run`, default settings,
//! no tokens: the console is open on loopback) on a fresh embedded store, then:
//! - a board is connected (`GET /console/live`, SSE) and `--triggers` critical alerts of
//!   a service and resource of their own are sent (`POST /v1/alerts`), ~100 ms apart; for
//!   each, the time from sending it to holding a `GET /?fragment=board` (what the page's
//!   script fetches on an SSE frame) that lists its id, after the frame whose position is
//!   at least the trigger's, fetched no sooner than [`REFRESH`] after the previous fetch
//!   started (the script's pace); then those alerts are resolved;
//! - `--alerts` alerts are opened over the HTTP API (32 connections; 12 services, four
//!   severities, 30 % on one of 40 registered resources, every fourth acknowledged), in
//!   two halves; the position after the first half is the time-travel target;
//! - once `/readyz` shows lag 0: `GET /`, `GET /alerts`, `GET /alerts?q=web-07` (a word
//!   in 2 % of the alerts' details) and `GET /?as_of=P` (the half, and the end of the
//!   fill), each `--requests` times in sequence after 10 warm-up requests, on one
//!   keep-alive connection, each timed until its whole body is read;
//! - the trigger-to-board measurement again, with the board holding those alarms; and
//!   once more with `--watchers` other boards connected, each fetching the board again
//!   on frames as the page's script does (one fetch at a time, at most one start per
//!   [`REFRESH`], frames meanwhile folded into the next fetch): several operators with
//!   the board open.
//!
//! Rows: p99 in ms per repeat as the value (median over repeats), with p50/p99 columns;
//! the note gives each repeat's max, the body size, and the targets (issue 19): the board
//! with 10,000 open alerts ≤ 100 ms p99, a trigger on a connected board ≤ 1 s.

use crate::ledger::Server;
use crate::report::{Row, Sample};
use anyhow::Context;
use futures_util::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The page script's pace (`REFRESH_MS` in src/http/console/static/console.js): a board
/// starts at most one fetch per this long.
const REFRESH: Duration = Duration::from_millis(500);

/// Services of the filled alerts.
const SERVICES: [&str; 12] = [
    "checkout-api",
    "payments",
    "search",
    "catalog",
    "auth",
    "inventory",
    "shipping",
    "email",
    "billing",
    "reports",
    "gateway",
    "storage",
];

/// Registered resources; 30 % of the filled alerts name one.
const RESOURCES: usize = 40;

/// Concurrent connections writing the fill.
const FILL_CONNECTIONS: usize = 32;

/// Warm-up requests before each timed page.
const WARM_UP: usize = 10;

/// The service and resource of the probe triggers: a group of their own on the board.
const PROBE_SERVICE: &str = "console-probe";
const PROBE_RESOURCE: &str = "console-probe-host";

/// A word in 2 % of the filled alerts (`details.host` and the summary).
const SEARCH_WORD: &str = "web-07";

/// Sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct ConsoleSettings {
    /// Open alerts on the board.
    pub alerts: usize,
    /// Timed requests per page.
    pub requests: usize,
    /// Probe triggers per trigger-to-board measurement.
    pub triggers: usize,
    /// Other boards connected during the last measurement, each fetching the board
    /// again on every frame as the page's script does.
    pub watchers: usize,
    /// Time between probe triggers.
    pub spacing: Duration,
    /// Fresh services measured.
    pub repeats: usize,
}

/// Latencies of one measured series.
#[derive(Debug, Default, Clone)]
struct Series {
    times: Vec<Duration>,
}

impl Series {
    fn push(&mut self, d: Duration) {
        self.times.push(d);
    }

    /// Nearest-rank quantile.
    fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.times.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((sorted.len() as f64) * q).ceil() as usize;
        sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
    }

    fn max(&self) -> Duration {
        self.times.iter().copied().max().unwrap_or_default()
    }

    fn sample(&self) -> Sample {
        let p99 = self.quantile(0.99);
        Sample {
            value: ms(p99),
            p50: Some(self.quantile(0.5)),
            p99: Some(p99),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One page's timings in one repeat.
struct Page {
    series: Series,
    bytes: usize,
}

/// One trigger-to-board measurement in one repeat: the whole, and its three parts.
#[derive(Default)]
struct Reach {
    total: Series,
    answered: Series,
    frame: Series,
    fragment: Series,
    missing: usize,
    /// Board fragments the other connected boards fetched meanwhile.
    watcher_fetches: usize,
}

/// What one repeat measured.
struct Repeat {
    pages: Vec<(String, Page)>,
    empty: Reach,
    full: Reach,
    watched: Reach,
    fill_secs: f64,
    open: u64,
}

/// Runs the suite.
pub async fn run(settings: ConsoleSettings) -> anyhow::Result<Vec<Row>> {
    let mut repeats = Vec::new();
    for r in 0..settings.repeats.max(1) {
        eprintln!("  console repeat {} of {}", r + 1, settings.repeats.max(1));
        repeats.push(one_repeat(&settings).await?);
    }
    Ok(rows(&settings, &repeats))
}

async fn one_repeat(settings: &ConsoleSettings) -> anyhow::Result<Repeat> {
    let server = Server::start()?;
    let base = server.url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()?;
    register(&client, &base, PROBE_RESOURCE).await?;

    let empty = reach(&client, &base, settings.triggers, 0, settings.spacing).await?;
    report_reach("trigger to board, empty board", &empty);

    let started = Instant::now();
    let fill_client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    for r in 0..RESOURCES {
        register(&fill_client, &base, &resource(r)).await?;
    }
    let half = settings.alerts / 2;
    let at_half = fill(&fill_client, &base, 0..half).await?;
    let at_end = fill(&fill_client, &base, half..settings.alerts).await?;
    caught_up(&client, &base).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "  {} alerts opened in {fill_secs:.1} s (half at position {at_half}, end at {at_end})",
        settings.alerts
    );

    let board = time_page(&client, &base, "/", settings.requests).await?;
    let open = open_count(&client, &base, "/").await?;
    anyhow::ensure!(
        open == settings.alerts as u64,
        "the board says {open} open, {} were opened",
        settings.alerts
    );
    let mut pages = vec![(format!("GET / (the board), {open} open alerts"), board)];
    let others = [
        (
            format!("GET /alerts (first page of 50), {open} open alerts"),
            "/alerts".to_owned(),
        ),
        (
            format!("GET /alerts?q={SEARCH_WORD} (a word in 2 % of them)"),
            format!("/alerts?q={SEARCH_WORD}"),
        ),
        (
            format!("GET /?as_of=P (board at the fill's half, {half} open)"),
            format!("/?as_of={at_half}"),
        ),
        (
            format!("GET /?as_of=P (board at the fill's end, {open} open)"),
            format!("/?as_of={at_end}"),
        ),
    ];
    for (name, path) in others {
        let page = time_page(&client, &base, &path, settings.requests).await?;
        pages.push((name, page));
    }
    for (name, page) in &pages {
        eprintln!(
            "  {name}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} bytes",
            ms(page.series.quantile(0.5)),
            ms(page.series.quantile(0.99)),
            ms(page.series.max()),
            page.bytes
        );
    }

    let full = reach(&client, &base, settings.triggers, 0, settings.spacing).await?;
    report_reach("trigger to board, full board", &full);
    let watched = reach(
        &client,
        &base,
        settings.triggers,
        settings.watchers,
        settings.spacing,
    )
    .await?;
    report_reach(
        &format!(
            "trigger to board, full board, {} more boards",
            settings.watchers
        ),
        &watched,
    );
    drop(client);
    drop(fill_client);
    tokio::task::block_in_place(|| drop(server));
    Ok(Repeat {
        pages,
        empty,
        full,
        watched,
        fill_secs,
        open,
    })
}

fn report_reach(what: &str, reach: &Reach) {
    eprintln!(
        "  {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; parts p50: answered {:.1}, frame {:.1}, fragment {:.1} ms; missing {}; other boards fetched {}",
        ms(reach.total.quantile(0.5)),
        ms(reach.total.quantile(0.99)),
        ms(reach.total.max()),
        ms(reach.answered.quantile(0.5)),
        ms(reach.frame.quantile(0.5)),
        ms(reach.fragment.quantile(0.5)),
        reach.missing,
        reach.watcher_fetches
    );
}

fn resource(r: usize) -> String {
    format!("host-{r:03}")
}

async fn register(client: &reqwest::Client, base: &str, id: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({ "id": id, "name": format!("bench host {id}") });
    let response = client
        .post(format!("{base}/v1/syncs"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    anyhow::ensure!(status.is_success(), "POST /v1/syncs {id}: {status} {text}");
    Ok(())
}

/// The trigger of filled alert `i`: a mix of services, severities and resources.
fn fill_body(i: usize) -> String {
    let severity = match i % 20 {
        0 => "critical",
        1..=4 => "error",
        5..=13 => "warning",
        _ => "info",
    };
    let host = format!("web-{:02}", i % 50);
    let mut body = serde_json::json!({
        "service": SERVICES[i % SERVICES.len()],
        "dedup_key": format!("console-{i}"),
        "summary": format!("{} above threshold on {host}", ["disk usage", "p99 latency", "error rate", "queue depth"][i % 4]),
        "severity": severity,
        "details": { "host": host, "region": "eu-west-1" },
    });
    if i % 10 < 3 {
        body["resource"] = resource(i / 10 % RESOURCES).into();
    }
    body.to_string()
}

/// A POST answered with `alert_id` and `position`.
struct Answer {
    alert_id: String,
    position: u64,
}

async fn post(
    client: &reqwest::Client,
    url: String,
    body: Option<String>,
) -> anyhow::Result<Answer> {
    let mut request = client.post(&url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    anyhow::ensure!(
        status.is_success(),
        "POST {url}: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    Ok(Answer {
        alert_id: value["alert_id"]
            .as_str()
            .context("no alert_id in the answer")?
            .to_owned(),
        position: value["position"]
            .as_u64()
            .context("no position in the answer")?,
    })
}

/// Opens alerts `range` over `FILL_CONNECTIONS` concurrent requests, acknowledging
/// every fourth; returns the highest position written.
async fn fill(
    client: &reqwest::Client,
    base: &str,
    range: std::ops::Range<usize>,
) -> anyhow::Result<u64> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let workers = (0..FILL_CONNECTIONS).map(|_| {
        let (client, base, next, end) = (client.clone(), base.to_owned(), next.clone(), range.end);
        tokio::spawn(async move {
            let mut highest = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    return anyhow::Ok(highest);
                }
                let opened = post(&client, format!("{base}/v1/alerts"), Some(fill_body(i))).await?;
                highest = highest.max(opened.position);
                if i % 4 == 1 {
                    let acked = post(
                        &client,
                        format!("{base}/v1/alerts/{}/acknowledge", opened.alert_id),
                        None,
                    )
                    .await?;
                    highest = highest.max(acked.position);
                }
            }
        })
    });
    let mut highest = 0;
    for worker in futures_util::future::join_all(workers).await {
        highest = highest.max(worker??);
    }
    Ok(highest)
}

/// Waits until `/readyz` says the views are at the head (lag 0).
async fn caught_up(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let body = client
            .get(format!("{base}/readyz"))
            .send()
            .await?
            .bytes()
            .await?;
        let value: serde_json::Value = serde_json::from_slice(&body)?;
        if value["lag"].as_u64() == Some(0) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the views did not catch up: {}",
            String::from_utf8_lossy(&body)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET `path`, the whole body read; fails on anything but 200.
async fn get(
    client: &reqwest::Client,
    base: &str,
    path: &str,
) -> anyhow::Result<axum::body::Bytes> {
    let response = client.get(format!("{base}{path}")).send().await?;
    let status = response.status();
    let body = response.bytes().await?;
    anyhow::ensure!(
        status == reqwest::StatusCode::OK,
        "GET {path}: {status} {}",
        String::from_utf8_lossy(&body[..body.len().min(600)])
    );
    Ok(body)
}

/// `requests` timed GETs of `path` after [`WARM_UP`] untimed ones.
async fn time_page(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    requests: usize,
) -> anyhow::Result<Page> {
    let mut bytes = 0;
    for _ in 0..WARM_UP {
        bytes = get(client, base, path).await?.len();
    }
    let mut series = Series::default();
    for _ in 0..requests {
        let started = Instant::now();
        let body = get(client, base, path).await?;
        series.push(started.elapsed());
        bytes = body.len();
    }
    Ok(Page { series, bytes })
}

/// The board's open count (`<strong id="open-count">N</strong>`).
async fn open_count(client: &reqwest::Client, base: &str, path: &str) -> anyhow::Result<u64> {
    let body = get(client, base, path).await?;
    let text = std::str::from_utf8(&body)?;
    const MARK: &str = "id=\"open-count\">";
    let start = text.find(MARK).context("no open count on the board")? + MARK.len();
    let end = start + text[start..].find('<').context("unterminated open count")?;
    Ok(text[start..end].trim().parse()?)
}

/// A connected board: reads `/console/live` and publishes the last position it named.
struct LiveBoard {
    position: tokio::sync::watch::Receiver<u64>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for LiveBoard {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl LiveBoard {
    async fn connect(base: &str) -> anyhow::Result<LiveBoard> {
        let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
        let response = client
            .get(format!("{base}/console/live"))
            .header("accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        let (tx, mut position) = tokio::sync::watch::channel(0u64);
        let reader = tokio::spawn(async move {
            let _client = client;
            let mut stream = response.bytes_stream();
            let mut pending = Vec::<u8>::new();
            while let Some(Ok(chunk)) = stream.next().await {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let line = String::from_utf8_lossy(&line);
                    if let Some(data) = line.trim_end().strip_prefix("data:") {
                        if let Ok(p) = data.trim().parse::<u64>() {
                            tx.send_modify(|last| *last = (*last).max(p));
                        }
                    }
                }
            }
        });
        // The stream names the current position at once on connect.
        tokio::time::timeout(Duration::from_secs(10), position.wait_for(|p| *p > 0))
            .await
            .context("no first frame on /console/live")??;
        Ok(LiveBoard { position, reader })
    }

    /// Waits for a frame at or after `at`.
    async fn reached(&mut self, at: u64) -> anyhow::Result<()> {
        tokio::time::timeout(
            Duration::from_secs(30),
            self.position.wait_for(|p| *p >= at),
        )
        .await
        .with_context(|| format!("no frame at or after {at} within 30 s"))??;
        Ok(())
    }
}

/// Another open board: on frames it fetches the board fragment again, one fetch at a
/// time and at most one start per [`REFRESH`], frames that arrive meanwhile folded into
/// the next fetch (the page's script). Counts its fetches.
async fn watcher(base: String, fetches: Arc<AtomicUsize>) -> anyhow::Result<()> {
    let mut live = LiveBoard::connect(&base).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()?;
    live.position.mark_unchanged();
    let mut started = Instant::now() - REFRESH;
    loop {
        live.position.changed().await?;
        tokio::time::sleep_until((started + REFRESH).into()).await;
        started = Instant::now();
        get(&client, &base, "/?fragment=board&group=resource").await?;
        fetches.fetch_add(1, Ordering::Relaxed);
    }
}

/// `triggers` probe triggers with a board connected (and `watchers` other boards): time
/// to a board fragment that lists each; then resolves them, so the board's open count is
/// back where it was.
async fn reach(
    client: &reqwest::Client,
    base: &str,
    triggers: usize,
    watchers: usize,
    spacing: Duration,
) -> anyhow::Result<Reach> {
    let fetches = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..watchers)
        .map(|_| tokio::spawn(watcher(base.to_owned(), fetches.clone())))
        .collect();
    let mut live = LiveBoard::connect(base).await?;
    let mut out = Reach::default();
    let mut opened = Vec::new();
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let mut fetched = Instant::now() - REFRESH;
    let mut tick = tokio::time::interval(spacing);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for n in 0..triggers {
        tick.tick().await;
        let body = serde_json::json!({
            "service": PROBE_SERVICE,
            "dedup_key": format!("probe-{run}-{n}"),
            "summary": format!("console probe {run}-{n}"),
            "severity": "critical",
            "resource": PROBE_RESOURCE,
        });
        let started = Instant::now();
        let answer = post(client, format!("{base}/v1/alerts"), Some(body.to_string())).await?;
        let answered = started.elapsed();
        live.reached(answer.position).await?;
        let framed = started.elapsed();
        tokio::time::sleep_until((fetched + REFRESH).into()).await;
        fetched = Instant::now();
        let fragment = get(client, base, "/?fragment=board&group=resource").await?;
        let total = started.elapsed();
        let needle = format!("data-alert=\"{}\"", answer.alert_id);
        if !std::str::from_utf8(&fragment)?.contains(&needle) {
            out.missing += 1;
        }
        out.total.push(total);
        out.answered.push(answered);
        out.frame.push(framed - answered);
        out.fragment.push(total - framed);
        opened.push(answer.alert_id);
    }
    drop(live);
    for other in &others {
        other.abort();
    }
    for other in others {
        if let Ok(Err(err)) = other.await {
            anyhow::bail!("a connected board failed: {err:#}");
        }
    }
    out.watcher_fetches = fetches.load(Ordering::Relaxed);
    for id in opened {
        post(client, format!("{base}/v1/alerts/{id}/resolve"), None).await?;
    }
    caught_up(client, base).await?;
    Ok(out)
}

fn rows(settings: &ConsoleSettings, repeats: &[Repeat]) -> Vec<Row> {
    let mut rows = Vec::new();
    let maxes = |pick: &dyn Fn(&Repeat) -> Duration| {
        repeats
            .iter()
            .map(|r| format!("{:.1}", ms(pick(r))))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let names: Vec<String> = repeats[0].pages.iter().map(|(n, _)| n.clone()).collect();
    for (k, name) in names.iter().enumerate() {
        let samples: Vec<Sample> = repeats
            .iter()
            .map(|r| r.pages[k].1.series.sample())
            .collect();
        let bytes = repeats[0].pages[k].1.bytes;
        let target = if k == 0 {
            "; target p99 ≤ 100 ms"
        } else {
            ""
        };
        rows.push(
            Row::ledger(format!("{name}, p99"), "ms", &samples).with_note(format!(
                "{} sequential requests after {WARM_UP} warm-up, one keep-alive connection, until the body is read; max per repeat {} ms; body {} bytes{target}",
                settings.requests,
                maxes(&|r: &Repeat| r.pages[k].1.series.max()),
                bytes
            )),
        );
    }
    let reach_row = |label: String, pick: &dyn Fn(&Repeat) -> &Reach, others: &str| {
        let samples: Vec<Sample> = repeats.iter().map(|r| pick(r).total.sample()).collect();
        let parts = |part: &dyn Fn(&Reach) -> &Series| {
            let values: Vec<f64> = repeats
                .iter()
                .map(|r| ms(part(pick(r)).quantile(0.5)))
                .collect();
            format!("{:.1}", crate::report::median(&values))
        };
        let missing: usize = repeats.iter().map(|r| pick(r).missing).sum();
        Row::ledger(label, "ms", &samples).with_note(format!(
            "{} triggers ~{} ms apart, SSE /console/live connected{others}; trigger sent → frame at its position → GET /?fragment=board read; max per repeat {} ms; p50 of the parts: answered {} ms, then frame {} ms, then fragment {} ms; fragments without the alert: {missing}; target ≤ 1 s",
            settings.triggers,
            settings.spacing.as_millis(),
            maxes(&|r: &Repeat| pick(r).total.max()),
            parts(&|x: &Reach| &x.answered),
            parts(&|x: &Reach| &x.frame),
            parts(&|x: &Reach| &x.fragment),
        ))
    };
    rows.push(reach_row(
        "trigger to a connected board, empty board, p99".into(),
        &|r: &Repeat| &r.empty,
        "",
    ));
    rows.push(reach_row(
        format!(
            "trigger to a connected board, {} open alerts, p99",
            repeats[0].open
        ),
        &|r: &Repeat| &r.full,
        "",
    ));
    let fetched = repeats
        .iter()
        .map(|r| r.watched.watcher_fetches.to_string())
        .collect::<Vec<_>>()
        .join(" / ");
    rows.push(reach_row(
        format!(
            "trigger to a connected board, {} open alerts, {} more boards connected, p99",
            repeats[0].open, settings.watchers
        ),
        &|r: &Repeat| &r.watched,
        &format!(
            " and {} more boards each fetching the board again on every frame (the page's script), {fetched} fetches per repeat",
            settings.watchers
        ),
    ));
    let fill: Vec<Sample> = repeats
        .iter()
        .map(|r| Sample {
            value: settings.alerts as f64 / r.fill_secs,
            ..Sample::default()
        })
        .collect();
    rows.push(
        Row::ledger(
            format!("opening the {} alerts over HTTP (setup, not a target)", settings.alerts),
            "alerts/s",
            &fill,
        )
        .with_note(format!(
            "{FILL_CONNECTIONS} connections, every fourth acknowledged, 40 resources registered first, until /readyz lag 0"
        )),
    );
    rows
}
