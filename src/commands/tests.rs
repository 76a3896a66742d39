//! The command cycle with cached states, as two instances sharing one store see it.

use super::{CommandError, Commands};
use crate::metrics::Metrics;
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::EventStore;
use chrono::Utc;
use projections::decide::{decide_alert, AlertCommand, SeriesState, Trigger};
use projections::ids::{AlertId, DedupKey, SeriesId, ServiceName};
use projections::{streams, Event, Metadata, ResolvedBy, Severity};
use std::sync::Arc;

fn trigger() -> AlertCommand {
    AlertCommand::Trigger(Trigger {
        service: ServiceName::parse("checkout").unwrap(),
        dedup_key: DedupKey::parse("5xx").unwrap(),
        summary: "5xx above 1%".into(),
        severity: Severity::Error,
        details: Default::default(),
        resource: None,
        channels: Vec::new(),
        escalation_secs: Vec::new(),
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
        now: Utc::now(),
    })
}

async fn run(
    commands: &Commands,
    series: SeriesId,
    command: AlertCommand,
) -> Result<Vec<Event>, CommandError> {
    let stream = streams::alert_series(series);
    let outcome = commands
        .execute(
            &stream,
            SeriesState::new(series),
            Metadata::default(),
            |s| decide_alert(s, command.clone()),
        )
        .await?;
    Ok(outcome.events)
}

/// An embedded store in `dir` with small segments.
fn embedded(dir: &std::path::Path) -> Arc<dyn EventStore> {
    let mut options = EmbeddedOptions::new(dir);
    options.segment_size = 1024 * 1024;
    Arc::new(EmbeddedStore::open(options).unwrap())
}

/// Two command runners (two instances) over one store.
fn two_instances(store: &Arc<dyn EventStore>) -> (Commands, Commands) {
    let metrics = Arc::new(Metrics::new());
    (
        Commands::new(store.clone(), metrics.clone()),
        Commands::new(store.clone(), metrics),
    )
}

/// The series of service `checkout` and `key`.
fn checkout(key: &str) -> SeriesId {
    SeriesId::of(
        &ServiceName::parse("checkout").unwrap(),
        &DedupKey::parse(key).unwrap(),
    )
}

#[tokio::test]
async fn a_state_cached_by_one_instance_and_changed_by_another_is_reloaded_after_the_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = embedded(dir.path());
    let (a, b) = two_instances(&store);
    let series = checkout("5xx");
    let first = run(&a, series, trigger()).await.unwrap();
    assert!(matches!(first[0], Event::AlertTriggered { .. }));
    // Instance b resolves the alert; a's cached state still says it is open.
    let resolve = AlertCommand::Resolve {
        alert_id: AlertId::of(series, 0),
        resolved_by: ResolvedBy::Source,
    };
    run(&b, series, resolve).await.unwrap();
    // a's next trigger must open a new alert, not record a repeat on the resolved one.
    let second = run(&a, series, trigger()).await.unwrap();
    match &second[0] {
        Event::AlertTriggered { alert_id, .. } => assert_eq!(*alert_id, AlertId::of(series, 1)),
        other => panic!("expected a new alert, got {other:?}"),
    }
    // And a cached repeat still works without reading the stream.
    let third = run(&a, series, trigger()).await.unwrap();
    assert!(matches!(third[0], Event::TriggerRepeated { .. }));
    store.close().await.unwrap();
}

/// The embedded store as a server backend looks to the command runner: reads of a
/// stream "cost a round trip", and are counted.
struct Remote {
    inner: Arc<dyn EventStore>,
    stream_reads: std::sync::atomic::AtomicUsize,
}

impl EventStore for Remote {
    fn append<'a>(
        &'a self,
        stream: &'a str,
        expected: crate::store::ExpectedVersion,
        events: Vec<crate::store::NewEvent>,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<crate::store::AppendResult, crate::store::StoreError>,
    > {
        self.inner.append(stream, expected, events)
    }

    fn read_stream<'a>(
        &'a self,
        stream: &'a str,
        from: projections::StreamVersion,
        direction: crate::store::Direction,
        limit: usize,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<Vec<projections::RecordedEvent>, crate::store::StoreError>,
    > {
        self.stream_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_stream(stream, from, direction, limit)
    }

    fn read_all(
        &self,
        from: projections::Position,
        limit: usize,
    ) -> futures_util::future::BoxFuture<
        '_,
        Result<Vec<projections::RecordedEvent>, crate::store::StoreError>,
    > {
        self.inner.read_all(from, limit)
    }

    fn stream_version<'a>(
        &'a self,
        stream: &'a str,
    ) -> futures_util::future::BoxFuture<
        'a,
        Result<Option<projections::StreamVersion>, crate::store::StoreError>,
    > {
        self.inner.stream_version(stream)
    }

    fn remote_reads(&self) -> bool {
        true
    }

    fn head(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<crate::store::Head, crate::store::StoreError>>
    {
        self.inner.head()
    }

    fn watch_head(&self) -> tokio::sync::watch::Receiver<projections::Position> {
        self.inner.watch_head()
    }

    fn close(&self) -> futures_util::future::BoxFuture<'_, Result<(), crate::store::StoreError>> {
        self.inner.close()
    }
}

#[tokio::test]
async fn on_a_remote_store_a_new_stream_is_written_without_a_read_and_an_unseen_one_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let inner = embedded(dir.path());
    let remote = Arc::new(Remote {
        inner: inner.clone(),
        stream_reads: Default::default(),
    });
    let reads = || {
        remote
            .stream_reads
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let store: Arc<dyn EventStore> = remote.clone();
    let (a, b) = two_instances(&store);
    let series = checkout("5xx");
    let first = run(&a, series, trigger()).await.unwrap();
    assert!(matches!(first[0], Event::AlertTriggered { .. }));
    assert_eq!(reads(), 0, "a new stream is appended to without reading it");
    // b has not seen the series: its guess (a new stream) conflicts, it reads the
    // stream and records a repeat of a's alert, not a second alert.
    let repeat = run(&b, series, trigger()).await.unwrap();
    assert!(
        matches!(repeat[0], Event::TriggerRepeated { alert_id, .. } if alert_id == AlertId::of(series, 0)),
        "{repeat:?}"
    );
    assert_eq!(reads(), 1, "read once, after the conflict");
    // A command the empty stream refuses (acknowledging an alert it does not hold)
    // reads the stream instead of answering from the guess.
    let other = checkout("latency");
    run(&a, other, trigger()).await.unwrap();
    let fresh = Commands::new(store.clone(), Arc::new(Metrics::new()));
    let ack = AlertCommand::Acknowledge {
        alert_id: AlertId::of(other, 0),
    };
    let acked = run(&fresh, other, ack).await.unwrap();
    assert!(
        matches!(acked[0], Event::AlertAcknowledged { .. }),
        "{acked:?}"
    );
    assert_eq!(reads(), 2);
    let events = inner.read_all(1, 100).await.unwrap();
    assert_eq!(
        events.len(),
        4,
        "two alerts, a repeat and an ack; nothing else"
    );
    inner.close().await.unwrap();
}
