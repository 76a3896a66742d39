//! Realistic logs for the in-process measurements, written with the same pure
//! decisions the service runs (`decide_alert`), so every event folds.
//!
//! Incident `i` is one alert series: a trigger (alert + one queued message); every
//! third incident gets a repeat trigger; every sixth is acknowledged and resolved
//! (each with its message). That is the HTTP mix's 6 : 2 : 1 : 1 of operations, about
//! 3 events per incident.

use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use chrono::Utc;
use projections::decide::{decide_alert, AlertCommand, SeriesState, StreamState, Trigger};
use projections::ids::{ChannelId, DedupKey, SeriesId, ServiceName};
use projections::{Event, Hash, Metadata, RecordedEvent, ResolvedBy, Severity};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use uuid::Uuid;

/// Unique event ids without a `getrandom` call each, so the bench measures the store.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn metadata() -> Metadata {
    Metadata {
        actor: Some("bench".into()),
        source: Some("api".into()),
        ..Metadata::default()
    }
}

/// Events with fresh ids and the bench's metadata.
pub fn wrap(events: Vec<Event>) -> Vec<NewEvent> {
    events
        .into_iter()
        .map(|event| NewEvent {
            event_id: Uuid::from_u64_pair(
                0x5eed_0000_0000_4000,
                NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ),
            event,
            metadata: metadata(),
        })
        .collect()
}

fn trigger(nonce: u64, i: u64) -> Trigger {
    let details = BTreeMap::from([
        ("host".to_owned(), format!("web-{:02}", i % 50)),
        ("region".to_owned(), "eu-west-1".to_owned()),
        (
            "runbook".to_owned(),
            "https://runbooks.example/checkout-latency".to_owned(),
        ),
    ]);
    Trigger {
        service: ServiceName::parse(crate::mix::SERVICE).expect("service"),
        dedup_key: DedupKey::parse(&format!("k-{nonce:x}-{i}")).expect("key"),
        summary: crate::mix::SUMMARY.to_owned(),
        severity: Severity::Critical,
        details,
        resource: None,
        channels: vec![ChannelId::parse(crate::mix::CHANNEL).expect("channel")],
        escalation_secs: Vec::new(),
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
        now: Utc::now(),
    }
}

/// Folds `events` into `state` as if they had been appended at its next versions.
fn fold(state: &mut SeriesState, events: &[Event]) {
    for event in events {
        let recorded = RecordedEvent {
            event_id: Uuid::nil(),
            stream: String::new(),
            stream_version: state.version.map_or(0, |v| v + 1),
            position: 0,
            recorded_at: Utc::now(),
            schema_version: 1,
            metadata: Metadata::default(),
            event: event.clone(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        };
        state.apply(&recorded);
    }
}

/// A nonce no other fill of this process uses.
pub fn fresh_nonce() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed) << 20
}

/// The appends of incident `i` (run `nonce`): (stream, events) in order.
pub fn incident(nonce: u64, i: u64) -> (String, Vec<Vec<NewEvent>>) {
    incident_closed(nonce, i, i.is_multiple_of(6))
}

/// Incident `i`, acknowledged and resolved when `close` (repeated every third).
pub fn incident_closed(nonce: u64, i: u64, close: bool) -> (String, Vec<Vec<NewEvent>>) {
    let t = trigger(nonce, i);
    let mut state = SeriesState::new(SeriesId::of(&t.service, &t.dedup_key));
    let mut appends = Vec::new();
    let mut step = |state: &mut SeriesState, command| {
        let events = decide_alert(state, command).expect("the bench's commands are valid");
        fold(state, &events);
        appends.push(wrap(events));
    };
    step(&mut state, AlertCommand::Trigger(t.clone()));
    let alert_id = state.open.as_ref().expect("opened").alert_id;
    if i.is_multiple_of(3) {
        step(&mut state, AlertCommand::Trigger(t));
    }
    if close {
        step(&mut state, AlertCommand::Acknowledge { alert_id });
        let resolved_by = ResolvedBy::Person;
        step(
            &mut state,
            AlertCommand::Resolve {
                alert_id,
                resolved_by,
            },
        );
    }
    (state.stream(), appends)
}

/// A single ~300-byte new-alert event (the trigger of a fresh series), for append
/// throughput.
pub fn one_trigger(nonce: u64, i: u64) -> (String, Vec<NewEvent>) {
    let (stream, mut appends) = incident(nonce, i * 6 + 1);
    let mut events = appends.swap_remove(0);
    events.truncate(1);
    (stream, events)
}

/// Appends incidents until the log holds at least `target` events, from `writers`
/// concurrent tasks (each incident's events as one append: the writer's group commit
/// is what is being filled, not measured). Returns the head position.
pub async fn fill(store: Arc<dyn EventStore>, target: u64, writers: u64) -> anyhow::Result<u64> {
    let nonce = fresh_nonce();
    fill_with(store, target, writers, move |i| {
        let (stream, appends) = incident(nonce, i);
        vec![(stream, appends.into_iter().flatten().collect())]
    })
    .await
}

/// Appends what `appends_of(i)` gives for i = 0, 1, … (each (stream, events) one append,
/// `ExpectedVersion::Any`) from `writers` concurrent tasks until the log holds at least
/// `target` events. Returns the head position.
pub async fn fill_with(
    store: Arc<dyn EventStore>,
    target: u64,
    writers: u64,
    appends_of: impl Fn(u64) -> Vec<(String, Vec<NewEvent>)> + Send + Sync + 'static,
) -> anyhow::Result<u64> {
    let appends_of = Arc::new(appends_of);
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..writers)
        .map(|_| {
            let (store, next, appends_of) = (store.clone(), next.clone(), appends_of.clone());
            tokio::spawn(async move {
                loop {
                    if store.head().await?.position >= target {
                        return anyhow::Ok(());
                    }
                    for (stream, events) in appends_of(next.fetch_add(1, Ordering::Relaxed)) {
                        store.append(&stream, ExpectedVersion::Any, events).await?;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    Ok(store.head().await?.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_average_about_three_events_and_a_trigger_is_about_300_bytes() {
        let events: usize = (0..600)
            .map(|i| incident(1, i).1.iter().map(Vec::len).sum::<usize>())
            .sum();
        assert_eq!(events, 600 * 2 + 200 + 100 * 4);
        let (_, one) = one_trigger(1, 5);
        let bytes = serde_json::to_vec(&one[0].event).expect("json").len();
        assert!((250..=450).contains(&bytes), "{bytes} bytes");
    }
}
