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

#[tokio::test]
async fn a_state_cached_by_one_instance_and_changed_by_another_is_reloaded_after_the_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = EmbeddedOptions::new(dir.path());
    options.segment_size = 1024 * 1024;
    let store: Arc<dyn EventStore> = Arc::new(EmbeddedStore::open(options).unwrap());
    let metrics = Arc::new(Metrics::new());
    let (a, b) = (
        Commands::new(store.clone(), metrics.clone()),
        Commands::new(store.clone(), metrics),
    );
    let series = SeriesId::of(
        &ServiceName::parse("checkout").unwrap(),
        &DedupKey::parse("5xx").unwrap(),
    );
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
