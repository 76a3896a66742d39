//! Prometheus metrics in the text exposition format 0.0.4, without a metrics crate.
//!
//! [`Metrics`] is shared in an `Arc`. Unlabelled series are atomics; labelled
//! series sit in a `std::sync::Mutex<BTreeMap>` that is locked only for a map
//! lookup and a few atomic adds (nothing in this module awaits), and the
//! `BTreeMap` keeps [`Metrics::render`] output in a stable order.
//!
//! Label values come from the caller: pass the *matched route template*
//! (`/v1/alerts/{id}`), never the raw path, or the series count grows with
//! every id. Unknown HTTP methods are folded into `OTHER` for the same reason.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
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

/// The service's metrics. Every method takes `&self` and never blocks for long.
pub struct Metrics {
    /// `(method, route, status)` → requests.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    /// `(method, route)` → latency histogram.
    request_durations: Mutex<BTreeMap<(&'static str, String), Histogram>>,
    append_duration: Histogram,
    append_batch: Histogram,
    events_appended: AtomicU64,
    store_batch: Histogram,
    view_position: AtomicU64,
    /// The view file: set aside at start (0/1), page check failed (0/1), failed reads.
    view_file: [AtomicU64; 3],
    head_position: AtomicU64,
    merkle_tree_size: AtomicU64,
    fold_errors: AtomicU64,
    /// Severity → open alerts. Severities once seen stay (at 0) so a series
    /// does not vanish when its count drops to zero.
    open_alerts: Mutex<BTreeMap<String, u64>>,
    subscribers: AtomicI64,
    /// Consumer group → (positions behind the head, members reading on this instance).
    consumers: Mutex<BTreeMap<String, (u64, u64)>>,
    /// `(channel, outcome)` → delivery attempts.
    dispatches: Mutex<BTreeMap<(String, String), u64>>,
    /// Channel kind → duration of one delivery attempt (the HTTP round trip).
    dispatch_durations: Mutex<BTreeMap<String, Histogram>>,
    /// Channel kind → time from queueing a message to its recorded delivery.
    delivery_latency: Mutex<BTreeMap<String, Histogram>>,
    /// Source (`api`, `task-rule`) → tasks created, as seen in the log.
    tasks_created: Mutex<BTreeMap<String, u64>>,
    /// Outcome (`succeeded`, `failed`, `timed_out`) → task host runs, as seen in the log.
    task_hosts: Mutex<BTreeMap<String, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// All series at zero.
    pub fn new() -> Metrics {
        Metrics {
            requests: Mutex::default(),
            request_durations: Mutex::default(),
            append_duration: Histogram::new(LATENCY_BUCKETS),
            append_batch: Histogram::new(BATCH_BUCKETS),
            events_appended: AtomicU64::new(0),
            store_batch: Histogram::new(BATCH_BUCKETS),
            view_position: AtomicU64::new(0),
            view_file: Default::default(),
            head_position: AtomicU64::new(0),
            merkle_tree_size: AtomicU64::new(0),
            fold_errors: AtomicU64::new(0),
            open_alerts: Mutex::default(),
            subscribers: AtomicI64::new(0),
            consumers: Mutex::default(),
            dispatches: Mutex::default(),
            dispatch_durations: Mutex::default(),
            delivery_latency: Mutex::default(),
            tasks_created: Mutex::default(),
            task_hosts: Mutex::default(),
        }
    }

    /// One HTTP request: `route` is the matched route template.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, latency: Duration) {
        let method = known_method(method);
        *lock(&self.requests)
            .entry((method, route.to_owned(), status))
            .or_insert(0) += 1;
        lock(&self.request_durations)
            .entry((method, route.to_owned()))
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(latency.as_secs_f64());
    }

    /// One acknowledged append of `events` events that took `latency`.
    pub fn observe_append(&self, latency: Duration, events: usize) {
        self.append_duration.observe(latency.as_secs_f64());
        self.append_batch.observe(events as f64);
        self.events_appended
            .fetch_add(events as u64, Ordering::Relaxed);
    }

    /// One fsync of the embedded store covering `events` events (group commit).
    pub fn observe_store_batch(&self, events: u64) {
        self.store_batch.observe(events as f64);
    }

    /// The global position the views have applied.
    pub fn set_applied_position(&self, position: u64) {
        self.view_position.store(position, Ordering::Relaxed);
    }

    /// What the view file's checks found: a file set aside at start, a failed page
    /// check, and how many reads failed.
    pub fn set_view_file(&self, set_aside: bool, page_check_failed: bool, read_errors: u64) {
        let values = [
            u64::from(set_aside),
            u64::from(page_check_failed),
            read_errors,
        ];
        for (slot, value) in self.view_file.iter().zip(values) {
            slot.store(value, Ordering::Relaxed);
        }
    }

    /// The global position of the log's head.
    pub fn set_head_position(&self, position: u64) {
        self.head_position.store(position, Ordering::Relaxed);
    }

    /// Records how many events the Merkle tree holds (read at scrape time).
    pub fn set_merkle_tree_size(&self, size: u64) {
        self.merkle_tree_size.store(size, Ordering::Relaxed);
    }

    /// A fold refused an event.
    pub fn inc_fold_errors(&self) {
        self.fold_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The current open-alert count per severity. Severities not listed but
    /// seen before are set to 0.
    pub fn set_open_alerts(&self, counts: &[(&str, u64)]) {
        let mut open = lock(&self.open_alerts);
        open.values_mut().for_each(|count| *count = 0);
        for (severity, count) in counts {
            open.insert((*severity).to_owned(), *count);
        }
    }

    /// The live subscribers now.
    pub fn subscribers(&self) -> i64 {
        self.subscribers.load(Ordering::Relaxed)
    }

    /// The number of live subscribers.
    pub fn set_subscribers(&self, count: i64) {
        self.subscribers.store(count, Ordering::Relaxed);
    }

    /// Every consumer group's lag (positions between its checkpoint and the head) and
    /// members on this instance; groups not listed are dropped.
    pub fn set_consumers(&self, groups: &[(&str, u64, u64)]) {
        let mut consumers = lock(&self.consumers);
        consumers.clear();
        for (group, lag, members) in groups {
            consumers.insert((*group).to_owned(), (*lag, *members));
        }
    }

    /// A subscriber connected.
    pub fn inc_subscribers(&self) {
        self.subscribers.fetch_add(1, Ordering::Relaxed);
    }

    /// A subscriber went away.
    pub fn dec_subscribers(&self) {
        self.subscribers.fetch_sub(1, Ordering::Relaxed);
    }

    /// One delivery attempt on `channel` (`webhook`, `slack`) with `outcome`
    /// (`delivered`, `failed`, `abandoned`).
    pub fn inc_dispatch(&self, channel: &str, outcome: &str) {
        *lock(&self.dispatches)
            .entry((channel.to_owned(), outcome.to_owned()))
            .or_insert(0) += 1;
    }

    /// A task was created through `source` (`api`, `task-rule`).
    pub fn inc_task_created(&self, source: &str) {
        *lock(&self.tasks_created)
            .entry(source.to_owned())
            .or_insert(0) += 1;
    }

    /// A task host reached `outcome` (`succeeded`, `failed`, `timed_out`).
    pub fn inc_task_host(&self, outcome: &str) {
        *lock(&self.task_hosts)
            .entry(outcome.to_owned())
            .or_insert(0) += 1;
    }

    /// One delivery attempt on `channel` (kind) took `latency`.
    pub fn observe_dispatch_duration(&self, channel: &str, latency: Duration) {
        lock(&self.dispatch_durations)
            .entry(channel.to_owned())
            .or_insert_with(|| Histogram::new(LATENCY_BUCKETS))
            .observe(latency.as_secs_f64());
    }

    /// A message on `channel` (kind) was delivered `latency` after it was queued.
    pub fn observe_delivery_latency(&self, channel: &str, latency: Duration) {
        lock(&self.delivery_latency)
            .entry(channel.to_owned())
            .or_insert_with(|| Histogram::new(DELIVERY_BUCKETS))
            .observe(latency.as_secs_f64());
    }

    /// Every series in the Prometheus text format 0.0.4
    /// (`Content-Type: text/plain; version=0.0.4`).
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        self.render_http(&mut out);
        self.render_store(&mut out);
        self.render_views(&mut out);
        self.render_delivery(&mut out);
        self.render_tasks(&mut out);
        out.text
    }

    fn render_http(&self, out: &mut Exposition) {
        let name = "alert_ledger_http_requests_total";
        out.header(
            name,
            "HTTP requests by method, route and status.",
            "counter",
        );
        for ((method, route, status), count) in lock(&self.requests).iter() {
            let status = status.to_string();
            let labels = [("method", *method), ("route", route), ("status", &status)];
            out.sample(name, &labels, *count as f64);
        }
        let name = "alert_ledger_http_request_duration_seconds";
        out.header(
            name,
            "HTTP request latency by method and route.",
            "histogram",
        );
        for ((method, route), histogram) in lock(&self.request_durations).iter() {
            out.histogram(name, &[("method", method), ("route", route)], histogram);
        }
    }

    fn render_store(&self, out: &mut Exposition) {
        let name = "alert_ledger_append_duration_seconds";
        out.header(name, "Latency of acknowledged appends.", "histogram");
        out.histogram(name, &[], &self.append_duration);
        let name = "alert_ledger_append_batch_events";
        out.header(name, "Events per append.", "histogram");
        out.histogram(name, &[], &self.append_batch);
        let name = "alert_ledger_events_appended_total";
        out.header(name, "Events appended to the log.", "counter");
        out.sample(name, &[], load(&self.events_appended));
        let name = "alert_ledger_store_batch_events";
        out.header(name, "Events per fsync of the embedded store.", "histogram");
        out.histogram(name, &[], &self.store_batch);
    }

    fn render_views(&self, out: &mut Exposition) {
        let applied = self.view_position.load(Ordering::Relaxed);
        let head = self.head_position.load(Ordering::Relaxed);
        out.gauge(
            "alert_ledger_view_position",
            "Global position the views have applied.",
            applied as f64,
        );
        out.gauge(
            "alert_ledger_head_position",
            "Global position of the log head.",
            head as f64,
        );
        let lag = head.saturating_sub(applied) as f64;
        out.gauge(
            "alert_ledger_view_lag_events",
            "Events appended but not yet applied to the views.",
            lag,
        );
        out.gauge(
            "alert_ledger_merkle_tree_size",
            "Events in the Merkle tree (digests cover these; 0 on a backend without one).",
            self.merkle_tree_size.load(Ordering::Relaxed) as f64,
        );
        let [set_aside, page_check, read_errors] = self
            .view_file
            .each_ref()
            .map(|v| v.load(Ordering::Relaxed) as f64);
        out.gauge(
            "alert_ledger_view_file_set_aside",
            "1 when the view file was refused at start, moved aside and rebuilt.",
            set_aside,
        );
        out.gauge(
            "alert_ledger_view_file_page_check_failed",
            "1 when the view file failed its page check (an online rebuild follows).",
            page_check,
        );
        let name = "alert_ledger_view_file_read_errors_total";
        out.header(name, "Reads of the view file that failed.", "counter");
        out.sample(name, &[], read_errors);
        let name = "alert_ledger_fold_errors_total";
        out.header(name, "Events a fold refused.", "counter");
        out.sample(name, &[], load(&self.fold_errors));
        let name = "alert_ledger_open_alerts";
        out.header(name, "Open (not resolved) alerts by severity.", "gauge");
        for (severity, count) in lock(&self.open_alerts).iter() {
            out.sample(name, &[("severity", severity)], *count as f64);
        }
        let consumers = lock(&self.consumers);
        let name = "alert_ledger_consumer_lag_positions";
        out.header(
            name,
            "Positions between a consumer group's checkpoint and the log head.",
            "gauge",
        );
        for (group, (lag, _)) in consumers.iter() {
            out.sample(name, &[("group", group)], *lag as f64);
        }
        let name = "alert_ledger_consumer_members";
        out.header(
            name,
            "Members of a consumer group reading from this instance.",
            "gauge",
        );
        for (group, (_, members)) in consumers.iter() {
            out.sample(name, &[("group", group)], *members as f64);
        }
    }

    fn render_delivery(&self, out: &mut Exposition) {
        let subscribers = self.subscribers.load(Ordering::Relaxed) as f64;
        out.gauge(
            "alert_ledger_subscribers",
            "Live event-stream subscribers.",
            subscribers,
        );
        let name = "alert_ledger_dispatch_attempts_total";
        out.header(
            name,
            "Outgoing message delivery attempts by channel and outcome.",
            "counter",
        );
        for ((channel, outcome), count) in lock(&self.dispatches).iter() {
            out.sample(
                name,
                &[("channel", channel), ("outcome", outcome)],
                *count as f64,
            );
        }
        let name = "alert_ledger_dispatch_duration_seconds";
        out.header(
            name,
            "Duration of one delivery attempt by channel.",
            "histogram",
        );
        for (channel, histogram) in lock(&self.dispatch_durations).iter() {
            out.histogram(name, &[("channel", channel)], histogram);
        }
        let name = "alert_ledger_delivery_latency_seconds";
        out.header(
            name,
            "Time from queueing a message to its delivery, by channel.",
            "histogram",
        );
        for (channel, histogram) in lock(&self.delivery_latency).iter() {
            out.histogram(name, &[("channel", channel)], histogram);
        }
    }
}

impl Metrics {
    fn render_tasks(&self, out: &mut Exposition) {
        let name = "alert_ledger_tasks_created_total";
        out.header(name, "Self-healing tasks created, by source.", "counter");
        for (source, count) in lock(&self.tasks_created).iter() {
            out.sample(name, &[("source", source)], *count as f64);
        }
        let name = "alert_ledger_task_hosts_total";
        out.header(name, "Task host runs that ended, by outcome.", "counter");
        for (outcome, count) in lock(&self.task_hosts).iter() {
            out.sample(name, &[("outcome", outcome)], *count as f64);
        }
    }
}

/// A fixed-bucket histogram. Counts are per bucket (not cumulative) so one
/// observation is one atomic add; [`Exposition::histogram`] accumulates them,
/// and `_count` is their total, so it always equals the `+Inf` bucket.
struct Histogram {
    bounds: &'static [f64],
    /// One slot per bound plus the overflow slot (`> last bound`).
    counts: Box<[AtomicU64]>,
    /// f64 bits of the sum of observations.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    fn observe(&self, value: f64) {
        let slot = self.bounds.partition_point(|bound| *bound < value);
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
        // fetch_update only fails when the closure returns None; it never does.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
    }
}

/// The text being rendered.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn header(&mut self, name: &str, help: &str, kind: &str) {
        self.text += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.header(name, help, "gauge");
        self.sample(name, &[], value);
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text += name;
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            self.text += &format!("{{{}}}", pairs.join(","));
        }
        self.text += &format!(" {}\n", format_value(value));
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0u64;
        let les = histogram.bounds.iter().map(|b| format_value(*b));
        for (le, count) in les.chain(["+Inf".to_owned()]).zip(histogram.counts.iter()) {
            cumulative += count.load(Ordering::Relaxed);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        let sum = f64::from_bits(histogram.sum.load(Ordering::Relaxed));
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A sample value as Prometheus expects it (`+Inf`, `-Inf`, `NaN`).
fn format_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
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

fn load(counter: &AtomicU64) -> f64 {
    counter.load(Ordering::Relaxed) as f64
}

/// Locks a series map. A panic elsewhere while holding it leaves counts that
/// are still valid numbers, so poisoning is ignored rather than propagated.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
