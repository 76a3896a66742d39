//! SSE fan-out: N subscribers on `GET /v1/subscribe` (all of `$all`, live) while
//! single-event appends go into the store at a fixed rate. Latency of a delivery is
//! its receive time minus the event's `recorded_at` (same machine, same clock; the
//! store sets `recorded_at` when it builds the batch, so fsync is included).

use crate::dataset;
use crate::ledger::Server;
use crate::report::Sample;
use alert_ledger::store::ExpectedVersion;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one fan-out run measured.
pub struct FanOut {
    /// Deliveries per second over all subscribers, with latency p50/p99.
    pub sample: Sample,
    /// Deliveries expected (appended × subscribers) and received.
    pub expected: u64,
    /// Deliveries received before the subscribers stopped.
    pub received: u64,
}

const RECORDED_AT: &str = "\"recorded_at\":\"";

/// Reads one subscriber's stream until `stop`, recording each delivery's latency.
async fn subscriber(response: reqwest::Response, stop: Instant) -> anyhow::Result<Histogram<u64>> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    let mut stream = response.bytes_stream();
    let mut pending = Vec::<u8>::new();
    loop {
        let left = stop.saturating_duration_since(Instant::now());
        let chunk = match tokio::time::timeout(left, stream.next()).await {
            Ok(Some(chunk)) => chunk?,
            Ok(None) | Err(_) => return Ok(hist),
        };
        let now = Utc::now();
        pending.extend_from_slice(&chunk);
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else {
            continue;
        };
        for line in pending[..end].split(|b| *b == b'\n') {
            if let Some(at) = recorded_at(line) {
                let micros = (now - at).num_microseconds().unwrap_or(i64::MAX).max(1);
                hist.saturating_record(micros as u64);
            }
        }
        pending.drain(..=end);
    }
}

fn recorded_at(line: &[u8]) -> Option<DateTime<Utc>> {
    let line = std::str::from_utf8(line).ok()?.strip_prefix("data:")?;
    let start = line.find(RECORDED_AT)? + RECORDED_AT.len();
    let end = start + line[start..].find('"')?;
    DateTime::parse_from_rfc3339(&line[start..end])
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Appends single events at `rate` per second until `stop` (in ticks of 10 ms, each
/// tick's appends concurrent, as many producers would send them).
async fn appender(server: &Server, rate: u64, stop: Instant) -> anyhow::Result<u64> {
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut appended = 0;
    while Instant::now() < stop {
        tick.tick().await;
        let appends = (0..per_tick).map(|_| {
            let (stream, events) = dataset::one_trigger(11, NEXT.fetch_add(1, Ordering::Relaxed));
            let store = server.store.clone();
            async move { store.append(&stream, ExpectedVersion::Any, events).await }
        });
        for result in futures_util::future::join_all(appends).await {
            result?;
            appended += 1;
        }
    }
    Ok(appended)
}

/// One fan-out run: `subscribers` live subscribers, appends at `rate`/s for `duration`.
pub async fn fan_out(
    server: &Server,
    subscribers: usize,
    rate: u64,
    duration: Duration,
) -> anyhow::Result<FanOut> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(subscribers)
        .tcp_nodelay(true)
        .build()?;
    let mut responses = Vec::new();
    for _ in 0..subscribers {
        let response = client
            .get(format!("{}/v1/subscribe", server.url()))
            .header("accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        responses.push(response);
    }
    let stop_appending = Instant::now() + duration;
    // Subscribers keep reading a little longer so the last appends can arrive.
    let stop_reading = stop_appending + Duration::from_secs(2);
    let readers: Vec<_> = responses
        .into_iter()
        .map(|r| tokio::spawn(subscriber(r, stop_reading)))
        .collect();
    let appended = appender(server, rate, stop_appending).await?;
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
    for reader in readers {
        hist.add(reader.await??)?;
    }
    let secs = duration.as_secs_f64();
    Ok(FanOut {
        sample: Sample {
            value: hist.len() as f64 / secs,
            p50: Some(Duration::from_micros(hist.value_at_quantile(0.5))),
            p99: Some(Duration::from_micros(hist.value_at_quantile(0.99))),
        },
        expected: appended * subscribers as u64,
        received: hist.len(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn recorded_at_is_read_from_a_data_line() {
        let line = br#"data: {"event_id":"x","position":3,"recorded_at":"2026-11-22T10:00:00.123456Z","event":{}}"#;
        let at = super::recorded_at(line).expect("recorded_at");
        assert_eq!(at.timestamp_subsec_micros(), 123_456);
        assert!(super::recorded_at(b"id: 3").is_none());
    }
}
