//! Prometheus metrics through `prometheus-client`, the official Rust client
//! (docs/adr/0016-prometheus-client.md): every series is registered once in a
//! [`Registry`], and the exposition (escaping, histogram layout, `_total` suffixes, the
//! 0.0.4 text format and OpenMetrics) is the library's.
//!
//! [`Metrics`] is shared in an `Arc`; every method takes `&self` and only touches
//! atomics or a label family's lock, never across an `.await`.
//!
//! Label values come from the caller: pass the *matched route template*
//! (`/v1/alerts/{id}`), never the raw path, or the series count grows with
//! every id. Unknown HTTP methods are folded into `OTHER` for the same reason.
//!
//! Values that are read at scrape time rather than counted (positions, the view
//! file's state, the Merkle tree's size) are gauges set by the scrape handler, and
//! `alert_ledger_view_file_read_errors_total` (which goes back to 0 when a rebuild
//! replaces the file) is encoded from an atomic by a collector.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[cfg(test)]
mod tests;

/// Upper bounds (seconds) for request and append latency: 0.5 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Upper bounds (seconds) from queueing a message to its delivery: 50 ms to an hour.
pub const DELIVERY_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// Upper bounds for batch sizes (events per append, events per fsync).
pub const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];

/// The `Content-Type` of the Prometheus text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `Content-Type` of OpenMetrics text 1.0.0.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Severity {
    severity: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Group {
    group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Attempt {
    channel: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Channel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Source {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

fn delivery_histogram() -> Histogram {
    Histogram::new(DELIVERY_BUCKETS.iter().copied())
}

fn batch_histogram() -> Histogram {
    Histogram::new(BATCH_BUCKETS.iter().copied())
}

/// The service's metrics. Every method takes `&self` and never blocks for long.
pub struct Metrics {
    registry: Registry,
    requests: Family<Request, Counter>,
    request_durations: HistogramFamily<Route>,
    append_duration: Histogram,
    append_batch: Histogram,
    events_appended: Counter,
    store_batch: Histogram,
    view_position: Gauge,
    head_position: Gauge,
    view_lag: Gauge,
    merkle_tree_size: Gauge,
    view_file_set_aside: Gauge,
    view_file_page_check_failed: Gauge,
    view_file_read_errors: Arc<AtomicU64>,
    fold_errors: Arc<AtomicU64>,
    /// Severities once seen stay (at 0) so a series does not vanish when its count
    /// drops to zero.
    open_alerts: Family<Severity, Gauge>,
    severities_seen: Mutex<BTreeSet<String>>,
    subscribers: Gauge,
    consumer_lag: Family<Group, Gauge>,
    consumer_members: Family<Group, Gauge>,
    dispatches: Family<Attempt, Counter>,
    dispatch_durations: HistogramFamily<Channel>,
    delivery_latency: HistogramFamily<Channel>,
    tasks_created: Family<Source, Counter>,
    task_hosts: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// A counter whose value is kept elsewhere and copied in before a scrape (the view
/// file's failed reads, which a rebuild resets; fold errors, which the views count),
/// encoded from its atomic at each scrape.
#[derive(Debug)]
struct ScrapedCounter {
    name: &'static str,
    help: &'static str,
    value: Arc<AtomicU64>,
}

impl Collector for ScrapedCounter {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let counter = ConstCounter::new(self.value.load(Ordering::Relaxed));
        let metric =
            encoder.encode_descriptor(self.name, self.help, None, counter.metric_type())?;
        counter.encode(metric)
    }
}

impl Metrics {
    /// All series at zero, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let metrics = Metrics {
            requests: Family::default(),
            request_durations: Family::new_with_constructor(latency_histogram),
            append_duration: latency_histogram(),
            append_batch: batch_histogram(),
            events_appended: Counter::default(),
            store_batch: batch_histogram(),
            view_position: Gauge::default(),
            head_position: Gauge::default(),
            view_lag: Gauge::default(),
            merkle_tree_size: Gauge::default(),
            view_file_set_aside: Gauge::default(),
            view_file_page_check_failed: Gauge::default(),
            view_file_read_errors: Arc::default(),
            fold_errors: Arc::default(),
            open_alerts: Family::default(),
            severities_seen: Mutex::default(),
            subscribers: Gauge::default(),
            consumer_lag: Family::default(),
            consumer_members: Family::default(),
            dispatches: Family::default(),
            dispatch_durations: Family::new_with_constructor(latency_histogram),
            delivery_latency: Family::new_with_constructor(delivery_histogram),
            tasks_created: Family::default(),
            task_hosts: Family::default(),
            registry: Registry::default(),
        };
        metrics.register(&mut registry);
        Metrics {
            registry,
            ..metrics
        }
    }

    /// Registers every series (names without `_total`: the library adds it to counters).
    fn register(&self, r: &mut Registry) {
        r.register(
            "alert_ledger_http_requests",
            "HTTP requests by method, route and status",
            self.requests.clone(),
        );
        r.register(
            "alert_ledger_http_request_duration_seconds",
            "HTTP request latency by method and route",
            self.request_durations.clone(),
        );
        r.register(
            "alert_ledger_append_duration_seconds",
            "Latency of acknowledged appends",
            self.append_duration.clone(),
        );
        r.register(
            "alert_ledger_append_batch_events",
            "Events per append",
            self.append_batch.clone(),
        );
        r.register(
            "alert_ledger_events_appended",
            "Events appended to the log",
            self.events_appended.clone(),
        );
        r.register(
            "alert_ledger_store_batch_events",
            "Events per fsync of the embedded store",
            self.store_batch.clone(),
        );
        r.register(
            "alert_ledger_view_position",
            "Global position the views have applied",
            self.view_position.clone(),
        );
        r.register(
            "alert_ledger_head_position",
            "Global position of the log head",
            self.head_position.clone(),
        );
        r.register(
            "alert_ledger_view_lag_events",
            "Events appended but not yet applied to the views",
            self.view_lag.clone(),
        );
        r.register(
            "alert_ledger_merkle_tree_size",
            "Events in the Merkle tree (digests cover these; 0 on a backend without one)",
            self.merkle_tree_size.clone(),
        );
        r.register(
            "alert_ledger_view_file_set_aside",
            "1 when the view file was refused at start, moved aside and rebuilt",
            self.view_file_set_aside.clone(),
        );
        r.register(
            "alert_ledger_view_file_page_check_failed",
            "1 when the view file failed its page check (an online rebuild follows)",
            self.view_file_page_check_failed.clone(),
        );
        r.register_collector(Box::new(ScrapedCounter {
            name: "alert_ledger_view_file_read_errors",
            help: "Reads of the view file that failed (0 again after a rebuild replaced the file)",
            value: self.view_file_read_errors.clone(),
        }));
        r.register_collector(Box::new(ScrapedCounter {
            name: "alert_ledger_fold_errors",
            help: "Events a fold refused since start",
            value: self.fold_errors.clone(),
        }));
        r.register(
            "alert_ledger_open_alerts",
            "Open (not resolved) alerts by severity",
            self.open_alerts.clone(),
        );
        r.register(
            "alert_ledger_consumer_lag_positions",
            "Positions between a consumer group's checkpoint and the log head",
            self.consumer_lag.clone(),
        );
        r.register(
            "alert_ledger_consumer_members",
            "Members of a consumer group reading from this instance",
            self.consumer_members.clone(),
        );
        r.register(
            "alert_ledger_subscribers",
            "Live event-stream subscribers",
            self.subscribers.clone(),
        );
        r.register(
            "alert_ledger_dispatch_attempts",
            "Outgoing message delivery attempts by channel and outcome",
            self.dispatches.clone(),
        );
        r.register(
            "alert_ledger_dispatch_duration_seconds",
            "Duration of one delivery attempt by channel",
            self.dispatch_durations.clone(),
        );
        r.register(
            "alert_ledger_delivery_latency_seconds",
            "Time from queueing a message to its delivery, by channel",
            self.delivery_latency.clone(),
        );
        r.register(
            "alert_ledger_tasks_created",
            "Self-healing tasks created, by source",
            self.tasks_created.clone(),
        );
        r.register(
            "alert_ledger_task_hosts",
            "Task host runs that ended, by outcome",
            self.task_hosts.clone(),
        );
    }

    /// One HTTP request: `route` is the matched route template.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let method = known_method(method);
        self.requests
            .get_or_create(&Request {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.request_durations
            .get_or_create(&Route {
                method,
                route: route.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// One acknowledged append of `events` events that took `latency`.
    pub fn observe_append(&self, latency: Duration, events: usize) {
        self.append_duration.observe(latency.as_secs_f64());
        self.append_batch.observe(events as f64);
        self.events_appended.inc_by(events as u64);
    }

    /// One fsync of the embedded store covering `events` events (group commit).
    pub fn observe_store_batch(&self, events: u64) {
        self.store_batch.observe(events as f64);
    }

    /// The global position the views have applied.
    pub fn set_applied_position(&self, position: u64) {
        self.view_position.set(gauge(position));
        self.update_lag();
    }

    /// What the view file's checks found: a file set aside at start, a failed page
    /// check, and how many reads failed.
    pub fn set_view_file(&self, set_aside: bool, page_check_failed: bool, read_errors: u64) {
        self.view_file_set_aside.set(i64::from(set_aside));
        self.view_file_page_check_failed
            .set(i64::from(page_check_failed));
        self.view_file_read_errors
            .store(read_errors, Ordering::Relaxed);
    }

    /// The global position of the log's head.
    pub fn set_head_position(&self, position: u64) {
        self.head_position.set(gauge(position));
        self.update_lag();
    }

    fn update_lag(&self) {
        let lag = self.head_position.get() - self.view_position.get();
        self.view_lag.set(lag.max(0));
    }

    /// Records how many events the Merkle tree holds (read at scrape time).
    pub fn set_merkle_tree_size(&self, size: u64) {
        self.merkle_tree_size.set(gauge(size));
    }

    /// Events the folds refused since start (the views count them).
    pub fn set_fold_errors(&self, count: u64) {
        self.fold_errors.store(count, Ordering::Relaxed);
    }

    /// The current open-alert count per severity. Severities not listed but
    /// seen before are set to 0.
    pub fn set_open_alerts(&self, counts: &[(&str, u64)]) {
        let mut seen = self
            .severities_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (severity, _) in counts {
            seen.insert((*severity).to_owned());
        }
        for severity in seen.iter() {
            let count = counts
                .iter()
                .find(|(s, _)| s == severity)
                .map_or(0, |(_, c)| *c);
            self.open_alerts
                .get_or_create(&Severity {
                    severity: severity.clone(),
                })
                .set(gauge(count));
        }
    }

    /// The live subscribers now.
    pub fn subscribers(&self) -> i64 {
        self.subscribers.get()
    }

    /// The number of live subscribers.
    pub fn set_subscribers(&self, count: i64) {
        self.subscribers.set(count);
    }

    /// Every consumer group's lag (positions between its checkpoint and the head) and
    /// members on this instance; groups not listed are dropped.
    pub fn set_consumers(&self, groups: &[(&str, u64, u64)]) {
        self.consumer_lag.clear();
        self.consumer_members.clear();
        for (group, lag, members) in groups {
            let labels = Group {
                group: (*group).to_owned(),
            };
            self.consumer_lag.get_or_create(&labels).set(gauge(*lag));
            self.consumer_members
                .get_or_create(&labels)
                .set(gauge(*members));
        }
    }

    /// A subscriber connected.
    pub fn inc_subscribers(&self) {
        self.subscribers.inc();
    }

    /// A subscriber went away.
    pub fn dec_subscribers(&self) {
        self.subscribers.dec();
    }

    /// One delivery attempt on `channel` (`webhook`, `slack`) with `outcome`
    /// (`delivered`, `failed`, `abandoned`).
    pub fn inc_dispatch(&self, channel: &str, outcome: &str) {
        self.dispatches
            .get_or_create(&Attempt {
                channel: channel.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// A task was created through `source` (`api`, `task-rule`).
    pub fn inc_task_created(&self, source: &str) {
        self.tasks_created
            .get_or_create(&Source {
                source: source.to_owned(),
            })
            .inc();
    }

    /// A task host reached `outcome` (`succeeded`, `failed`, `timed_out`).
    pub fn inc_task_host(&self, outcome: &str) {
        self.task_hosts
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One delivery attempt on `channel` (kind) took `latency`.
    pub fn observe_dispatch_duration(&self, channel: &str, latency: Duration) {
        self.dispatch_durations
            .get_or_create(&Channel {
                channel: channel.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// A message on `channel` (kind) was delivered `latency` after it was queued.
    pub fn observe_delivery_latency(&self, channel: &str, latency: Duration) {
        self.delivery_latency
            .get_or_create(&Channel {
                channel: channel.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Every series in the Prometheus text format 0.0.4 ([`TEXT_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// Every series in OpenMetrics text 1.0.0 ([`OPENMETRICS_CONTENT_TYPE`]), ending in
    /// `# EOF`.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// A count as a gauge value (positions and counts stay far below `i64::MAX`).
fn gauge(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn known_method(method: &str) -> &'static str {
    const METHODS: &[&str] = &[
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    METHODS
        .iter()
        .find(|known| **known == method)
        .copied()
        .unwrap_or("OTHER")
}
