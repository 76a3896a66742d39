//! The incident workload shared by the ledger and the peer, and the closed-loop
//! generator that drives it.
//!
//! Mix: 60 % triggers with a new dedup key, 20 % repeat triggers of an open alert's
//! key, 10 % acknowledges and 10 % resolves of open alerts created earlier in the run
//! (with no open alert yet, the operation becomes a new trigger). Each of N workers
//! owns one connection and sends its next request as soon as the previous one answers.

use crate::report::Sample;
use futures_util::future::BoxFuture;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a worker sends next.
#[derive(Debug, Clone)]
pub enum Op {
    /// Trigger `key` (new or repeat): the target returns the alert id.
    Trigger {
        /// The dedup key.
        key: String,
        /// Varies the body (host name) so payloads are not identical.
        n: u64,
    },
    /// Acknowledge this alert.
    Acknowledge(String),
    /// Resolve this alert.
    Resolve(String),
}

/// Index of an operation kind in per-kind tallies.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// New trigger.
    New = 0,
    /// Repeat trigger.
    Repeat = 1,
    /// Acknowledge.
    Ack = 2,
    /// Resolve.
    Resolve = 3,
}

/// The service name every trigger uses.
pub const SERVICE: &str = "checkout-api";
/// The summary every trigger carries.
pub const SUMMARY: &str = "p99 latency above SLO on checkout for 5 minutes";
/// The channel every alert notifies.
pub const CHANNEL: &str = "oncall-webhook";

/// The trigger body (~300 bytes): the same fields for the ledger and the peer.
pub fn trigger_body(key: &str, n: u64) -> String {
    format!(
        r#"{{"service":"{SERVICE}","dedup_key":"{key}","summary":"{SUMMARY}","severity":"critical","details":{{"host":"web-{:02}","region":"eu-west-1","runbook":"https://runbooks.example/checkout-latency"}},"channels":["{CHANNEL}"]}}"#,
        n % 50
    )
}

/// Details of a trigger as the peer stores them (the same text).
pub fn details(n: u64) -> String {
    format!(
        r#"{{"host":"web-{:02}","region":"eu-west-1","runbook":"https://runbooks.example/checkout-latency"}}"#,
        n % 50
    )
}

/// A system under test: runs one operation over worker `worker`'s connection.
pub trait Target: Send + Sync + 'static {
    /// Runs `op`; a trigger answers the alert id.
    fn execute<'a>(&'a self, worker: usize, op: &'a Op) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// Open alerts (id, key) created earlier in the run, shared by the workers.
#[derive(Default)]
struct Open(Mutex<Vec<(String, String)>>);

/// A tiny deterministic generator (splitmix64): no `rand` dependency needed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The shared state of one run: key counter and open alerts.
pub struct Workload {
    nonce: u64,
    keys: AtomicU64,
    open: Open,
}

impl Workload {
    /// A workload whose keys never collide with another run's (`nonce`).
    pub fn new(nonce: u64) -> Arc<Workload> {
        Arc::new(Workload {
            nonce,
            keys: AtomicU64::new(0),
            open: Open::default(),
        })
    }

    fn pick(&self, rng: &mut Rng) -> (Kind, Op) {
        let roll = rng.next() % 100;
        let n = rng.next();
        let mut open = self.open.0.lock().expect("open alerts");
        if roll >= 60 && !open.is_empty() {
            let i = (rng.next() % open.len() as u64) as usize;
            return match roll {
                60..=79 => (
                    Kind::Repeat,
                    Op::Trigger {
                        key: open[i].1.clone(),
                        n,
                    },
                ),
                80..=89 => (Kind::Ack, Op::Acknowledge(open[i].0.clone())),
                _ => (Kind::Resolve, Op::Resolve(open.swap_remove(i).0)),
            };
        }
        drop(open);
        let k = self.keys.fetch_add(1, Ordering::Relaxed);
        let key = format!("k-{:x}-{k}", self.nonce);
        (Kind::New, Op::Trigger { key, n })
    }

    fn opened(&self, id: String, op: &Op) {
        if let Op::Trigger { key, .. } = op {
            self.open
                .0
                .lock()
                .expect("open alerts")
                .push((id, key.clone()));
        }
    }
}

/// What one load level measured.
pub struct LoadResult {
    /// Completed operations per second (all kinds).
    pub sample: Sample,
    /// Per kind (new, repeat, ack, resolve): completions/s, p50, p99.
    pub kinds: [Sample; 4],
    /// Operations that failed (non-2xx, transport or database errors).
    pub errors: u64,
    /// One failure's text, to say what went wrong.
    pub first_error: Option<String>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

struct Tally {
    all: Histogram<u64>,
    kinds: [Histogram<u64>; 4],
    errors: u64,
    first_error: Option<String>,
}

async fn worker(
    target: Arc<dyn Target>,
    workload: Arc<Workload>,
    id: usize,
    deadline: Instant,
) -> Tally {
    let mut rng = Rng(workload.nonce ^ (id as u64).wrapping_mul(0x1000_0000_01b3));
    let mut tally = Tally {
        all: histogram(),
        kinds: [histogram(), histogram(), histogram(), histogram()],
        errors: 0,
        first_error: None,
    };
    while Instant::now() < deadline {
        let (kind, op) = workload.pick(&mut rng);
        let started = Instant::now();
        let outcome = target.execute(id, &op).await;
        let micros = started.elapsed().as_micros().max(1) as u64;
        match outcome {
            Ok(alert_id) => {
                tally.all.saturating_record(micros);
                tally.kinds[kind as usize].saturating_record(micros);
                if matches!(kind, Kind::New) {
                    workload.opened(alert_id, &op);
                }
            }
            Err(err) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| format!("{err:#}"));
            }
        }
    }
    tally
}

fn sample(hist: &Histogram<u64>, secs: f64) -> Sample {
    let at = |q| Duration::from_micros(hist.value_at_quantile(q));
    Sample {
        value: hist.len() as f64 / secs,
        p50: (!hist.is_empty()).then(|| at(0.50)),
        p99: (!hist.is_empty()).then(|| at(0.99)),
    }
}

/// Runs `connections` closed-loop workers against `target` for `duration`.
pub async fn run(
    target: Arc<dyn Target>,
    workload: Arc<Workload>,
    connections: usize,
    duration: Duration,
) -> LoadResult {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..connections)
        .map(|id| tokio::spawn(worker(target.clone(), workload.clone(), id, deadline)))
        .collect();
    let mut all = histogram();
    let mut kinds = [histogram(), histogram(), histogram(), histogram()];
    let (mut errors, mut first_error) = (0, None);
    for handle in workers {
        let tally = handle.await.expect("load worker");
        all.add(&tally.all).expect("merge");
        for (sum, part) in kinds.iter_mut().zip(&tally.kinds) {
            sum.add(part).expect("merge");
        }
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    let secs = started.elapsed().as_secs_f64();
    LoadResult {
        sample: sample(&all, secs),
        kinds: kinds.each_ref().map(|h| sample(h, secs)),
        errors,
        first_error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_body_is_about_300_bytes_of_json() {
        let body = trigger_body("k-5eed-123456", 7);
        assert!((250..=330).contains(&body.len()), "{} bytes", body.len());
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(parsed["details"]["host"], "web-07");
    }

    #[test]
    fn the_mix_is_sixty_twenty_ten_ten_once_alerts_are_open() {
        let workload = Workload::new(1);
        workload.opened(
            "a".into(),
            &Op::Trigger {
                key: "k".into(),
                n: 0,
            },
        );
        let mut rng = Rng(42);
        let mut counts = [0u32; 4];
        for _ in 0..10_000 {
            let (kind, op) = workload.pick(&mut rng);
            counts[kind as usize] += 1;
            // Keep one alert open so every roll has a target.
            if matches!(kind, Kind::Resolve) {
                workload.opened(
                    "a".into(),
                    &Op::Trigger {
                        key: "k".into(),
                        n: 0,
                    },
                );
            }
            drop(op);
        }
        let share = |i: usize| f64::from(counts[i]) / 10_000.0;
        assert!((share(0) - 0.6).abs() < 0.03, "{counts:?}");
        assert!((share(1) - 0.2).abs() < 0.03, "{counts:?}");
        assert!((share(2) - 0.1).abs() < 0.02, "{counts:?}");
        assert!((share(3) - 0.1).abs() < 0.02, "{counts:?}");
    }
}
