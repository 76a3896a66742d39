//! Invariants over random valid logs (see [`crate::world`] for how they are built).

use crate::scenario::ops;
use crate::world::World;
use projections::ids::{AlertId, MessageId, SyncId, TaskId};
use projections::views::{AlertStatus, DeliveryState, HostState, Resolution, Views};
use projections::{
    streams, Event, EventRef, Hash, MessageKind, Metadata, RecordedEvent, ResolvedBy, Severity,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// Cases per property; every property builds its own random logs.
const CASES: u32 = 256;
/// The longest scenario, in operations (a scenario records up to a few hundred events).
pub const MAX_OPS: usize = 200;

type Check = Result<(), TestCaseError>;

/// Records by (stream, version), to resolve an [`EventRef`].
fn index(log: &[RecordedEvent]) -> BTreeMap<EventRef, &RecordedEvent> {
    log.iter().map(|r| (r.reference(), r)).collect()
}

/// The alert an alert-stream event names.
fn names_alert(event: &Event) -> Option<AlertId> {
    match event {
        Event::AlertTriggered { alert_id, .. }
        | Event::TriggerRepeated { alert_id, .. }
        | Event::AlertAcknowledged { alert_id }
        | Event::AlertEscalated { alert_id, .. }
        | Event::NoteAdded { alert_id, .. }
        | Event::AlertResolved { alert_id, .. }
        | Event::MessageQueued { alert_id, .. }
        | Event::TimerScheduled { alert_id, .. }
        | Event::TimerFired { alert_id, .. } => Some(*alert_id),
        _ => None,
    }
}

fn replayed(log: &[RecordedEvent]) -> Result<Views, TestCaseError> {
    let mut views = Views::default();
    for record in log {
        views
            .apply(record)
            .map_err(|e| TestCaseError::fail(format!("replay: {e}")))?;
    }
    Ok(views)
}

fn replay_equals_incremental(world: &World) -> Check {
    prop_assert!(
        world.fold_errors.is_empty(),
        "fold errors: {:?}",
        world.fold_errors
    );
    let views = replayed(&world.log)?;
    prop_assert_eq!(&views, &world.views);
    let bytes = serde_json::to_vec(&views).unwrap();
    prop_assert_eq!(&bytes, &serde_json::to_vec(&world.views).unwrap());
    let restored: Views = serde_json::from_slice(&bytes).unwrap();
    prop_assert_eq!(&restored, &views, "a snapshot restores the same views");
    Ok(())
}

/// The dispatcher's index lists exactly the messages not yet delivered or abandoned.
fn unfinished_index_matches_message_states(world: &World) -> Check {
    let messages = &world.views.messages;
    let expected: BTreeSet<_> = messages
        .messages
        .values()
        .filter(|m| !matches!(m.state, DeliveryState::Delivered | DeliveryState::Abandoned))
        .map(|m| (m.queued_at, m.id))
        .collect();
    prop_assert_eq!(&messages.unfinished, &expected);
    Ok(())
}

fn messages_name_causes_that_precede_them(world: &World) -> Check {
    let by_ref = index(&world.log);
    let mut queued = BTreeSet::new();
    for record in &world.log {
        let Event::MessageQueued {
            message_id,
            alert_id,
            cause,
            kind,
            channel,
        } = &record.event
        else {
            continue;
        };
        queued.insert(*message_id);
        let found = by_ref.get(cause);
        prop_assert!(
            found.is_some(),
            "message {} names a missing cause {:?}",
            message_id,
            cause
        );
        let caused_by = found.unwrap();
        prop_assert!(caused_by.position < record.position, "cause after message");
        prop_assert_eq!(names_alert(&caused_by.event), Some(*alert_id));
        prop_assert_eq!(*message_id, MessageId::of(cause, channel));
        let expected = match caused_by.event {
            Event::AlertTriggered { .. } => Some(MessageKind::NewAlert),
            Event::AlertAcknowledged { .. } => Some(MessageKind::Acknowledged),
            Event::AlertEscalated { .. } => Some(MessageKind::Escalated),
            Event::AlertResolved { .. } => Some(MessageKind::Resolved),
            _ => None,
        };
        prop_assert_eq!(Some(*kind), expected, "kind matches its cause");
    }
    let in_view: BTreeSet<MessageId> = world.views.messages.messages.keys().copied().collect();
    prop_assert_eq!(
        &in_view,
        &queued,
        "a message row exists iff its message_queued does"
    );
    for (id, message) in &world.views.messages.messages {
        let delivery: Vec<&Event> = world
            .log
            .iter()
            .filter(|r| r.stream == streams::message(*id))
            .map(|r| &r.event)
            .collect();
        let attempts = delivery
            .iter()
            .filter(|e| matches!(e, Event::DeliveryAttempted { .. }))
            .count();
        prop_assert_eq!(message.attempts as usize, attempts);
        let delivered = delivery
            .iter()
            .any(|e| matches!(e, Event::MessageDelivered { .. }));
        prop_assert_eq!(message.state == DeliveryState::Delivered, delivered);
        let given_up = delivery.iter().any(|e| {
            matches!(
                e,
                Event::MessageAbandoned { .. } | Event::MessageFailed { retry_at: None, .. }
            )
        });
        prop_assert_eq!(message.state == DeliveryState::Abandoned, given_up);
    }
    Ok(())
}

fn deleted_resources_own_no_active_alarm(world: &World) -> Check {
    let views = &world.views;
    let deleted: BTreeMap<&SyncId, &RecordedEvent> = world
        .log
        .iter()
        .filter_map(|r| match &r.event {
            Event::SyncDeleted { sync_id } => Some((sync_id, r)),
            _ => None,
        })
        .collect();
    for (id, alarm) in &views.alarms.active {
        if let Some(resource) = &alarm.resource {
            prop_assert!(
                !deleted.contains_key(resource),
                "alarm {} on deleted {}",
                id,
                resource
            );
        }
    }
    for alert in views.alerts.alerts.values() {
        let Some(deletion) = alert.resource.as_ref().and_then(|r| deleted.get(r)) else {
            continue;
        };
        prop_assert_eq!(
            alert.status,
            AlertStatus::Resolved,
            "alert {} outlived its resource",
            alert.id
        );
        let resolved = alert.status_changes.last().unwrap();
        let by_deletion = Resolution::ResourceDeleted {
            sync_id: alert.resource.clone().unwrap(),
        };
        if alert.resolution.as_ref() == Some(&by_deletion) {
            prop_assert_eq!(&resolved.cause, &deletion.reference());
        } else {
            prop_assert!(
                resolved.position < deletion.position,
                "resolved before the deletion"
            );
        }
    }
    // The alarm view is exactly the open part of the status view.
    let open: BTreeSet<AlertId> = views
        .alerts
        .alerts
        .values()
        .filter(|a| a.status != AlertStatus::Resolved)
        .map(|a| a.id)
        .collect();
    let active: BTreeSet<AlertId> = views.alarms.active.keys().copied().collect();
    prop_assert_eq!(&active, &open);
    for (id, alarm) in &views.alarms.active {
        let alert = &views.alerts.alerts[id];
        prop_assert_eq!(
            alarm.acknowledged,
            alert.status == AlertStatus::Acknowledged
        );
        prop_assert_eq!(alarm.severity, alert.severity);
    }
    Ok(())
}

fn tasks_and_host_states_come_from_events(world: &World) -> Check {
    let created: BTreeSet<TaskId> = world
        .log
        .iter()
        .filter_map(|r| match &r.event {
            Event::TaskCreated { task_id, .. } if r.stream == streams::task(*task_id) => {
                Some(*task_id)
            }
            _ => None,
        })
        .collect();
    let listed: BTreeSet<TaskId> = world.views.tasks.tasks.keys().copied().collect();
    prop_assert_eq!(
        &listed,
        &created,
        "a task is listed iff its task_created exists"
    );
    for task in world.views.tasks.tasks.values() {
        let stream: Vec<&RecordedEvent> = world
            .log
            .iter()
            .filter(|r| r.stream == streams::task(task.id))
            .collect();
        let cancel = stream
            .iter()
            .find(|r| matches!(r.event, Event::TaskCancelled { .. }));
        for (host, run) in &task.hosts {
            let ends: Vec<&&RecordedEvent> = stream
                .iter()
                .filter(|r| match &r.event {
                    Event::TaskHostFinished { host: h, .. }
                    | Event::TaskHostTimedOut { host: h, .. } => h == host,
                    _ => false,
                })
                .collect();
            prop_assert!(ends.len() <= 1, "host {} ended twice", host);
            let started = stream
                .iter()
                .any(|r| matches!(&r.event, Event::TaskHostStarted { host: h, .. } if h == host));
            let end = ends.first().map(|r| (&r.event, r.recorded_at));
            match (run.state, end) {
                (HostState::Waiting, None) => prop_assert!(!started && cancel.is_none()),
                (HostState::Running, None) => prop_assert!(started && cancel.is_none()),
                (HostState::Cancelled, None) => {
                    let cancel = cancel.expect("cancelled only by task_cancelled");
                    prop_assert_eq!(run.finished_at, Some(cancel.recorded_at));
                }
                (
                    HostState::Succeeded | HostState::Failed,
                    Some((Event::TaskHostFinished { exit_code, .. }, at)),
                ) => {
                    prop_assert_eq!(run.state == HostState::Succeeded, *exit_code == 0);
                    prop_assert_eq!(run.exit_code, Some(*exit_code));
                    prop_assert_eq!(run.finished_at, Some(at));
                }
                (HostState::TimedOut, Some((Event::TaskHostTimedOut { .. }, at))) => {
                    prop_assert_eq!(run.finished_at, Some(at));
                }
                (state, end) => {
                    return Err(TestCaseError::fail(format!(
                        "host {host} is {state:?} after {end:?}"
                    )))
                }
            }
        }
        if task.is_finished() {
            prop_assert!(task
                .hosts
                .values()
                .all(|r| r.state.is_terminal() && r.finished_at.is_some()));
        }
    }
    Ok(())
}

fn status_changes_are_caused_by_events(world: &World) -> Check {
    let by_ref = index(&world.log);
    for alert in world.views.alerts.alerts.values() {
        prop_assert_eq!(
            alert.status_changes.first().map(|c| c.status),
            Some(AlertStatus::Triggered)
        );
        prop_assert_eq!(
            alert.status_changes.last().map(|c| c.status),
            Some(alert.status)
        );
        let mut last_position = 0;
        for (i, change) in alert.status_changes.iter().enumerate() {
            let cause = by_ref.get(&change.cause);
            prop_assert!(
                cause.is_some(),
                "alert {} change {:?} has no event",
                alert.id,
                change
            );
            let cause = cause.unwrap();
            prop_assert!(cause.position <= change.position && last_position <= change.position);
            last_position = change.position;
            let own =
                change.cause.stream == alert.stream && names_alert(&cause.event) == Some(alert.id);
            let fits = match (&cause.event, change.status) {
                (Event::AlertTriggered { .. }, AlertStatus::Triggered)
                | (Event::AlertAcknowledged { .. }, AlertStatus::Acknowledged)
                | (Event::AlertResolved { .. }, AlertStatus::Resolved) => own,
                (Event::SyncDeleted { sync_id }, AlertStatus::Resolved) => {
                    alert.resource.as_ref() == Some(sync_id)
                }
                _ => false,
            };
            prop_assert!(
                fits,
                "alert {} changed to {:?} by {:?}",
                alert.id,
                change.status,
                cause.event
            );
            if i + 1 < alert.status_changes.len() {
                prop_assert_ne!(change.status, AlertStatus::Resolved, "resolved is terminal");
            }
        }
    }
    Ok(())
}

/// An event the views must refuse, chosen from the world's state; `kind` picks which.
fn bogus_event(world: &World, kind: u8) -> (String, Event) {
    let views = &world.views;
    let stray = AlertId(Uuid::from_u128(0xdead));
    let stray_stream = "alert-00000000-0000-0000-0000-00000000dead".to_owned();
    let first_alert = views.alerts.alerts.values().next();
    let resolved = views.alerts.alerts.values().find(|a| {
        a.status == AlertStatus::Resolved
            && !matches!(a.resolution, Some(Resolution::ResourceDeleted { .. }))
    });
    let message = views.messages.messages.values().next();
    let task = views.tasks.tasks.values().next();
    let sync = views.syncs.syncs.values().next();
    let deleted_sync = views.syncs.syncs.values().find(|s| s.deleted);
    let ghost = SyncId::parse("ghost-1").unwrap();
    match (
        kind,
        first_alert,
        resolved,
        message,
        task,
        sync,
        deleted_sync,
    ) {
        (1, Some(a), ..) => (
            a.stream.clone(),
            Event::AlertTriggered {
                alert_id: a.id,
                service: a.service.clone(),
                dedup_key: a.dedup_key.clone(),
                summary: "again".into(),
                severity: Severity::Info,
                details: BTreeMap::new(),
                resource: None,
                channels: Vec::new(),
                escalation_secs: Vec::new(),
                escalation_channels: Vec::new(),
                escalation_repeat: 0,
            },
        ),
        (2, _, Some(a), ..) => (
            a.stream.clone(),
            Event::AlertAcknowledged { alert_id: a.id },
        ),
        (3, _, Some(a), ..) => (
            a.stream.clone(),
            Event::AlertResolved {
                alert_id: a.id,
                resolved_by: ResolvedBy::Person,
            },
        ),
        (4, ..) => (streams::sync(&ghost), Event::SyncDeleted { sync_id: ghost }),
        (5, .., Some(s)) => (
            streams::sync(&s.id),
            Event::SyncDeleted {
                sync_id: s.id.clone(),
            },
        ),
        (6, .., Some(s), _) => (
            streams::sync(&s.id),
            Event::SyncRegistered {
                sync_id: s.id.clone(),
                name: "again".into(),
            },
        ),
        (7, _, _, Some(m), ..) => (
            m.cause.stream.clone(),
            Event::MessageQueued {
                message_id: m.id,
                alert_id: m.alert_id,
                cause: m.cause.clone(),
                kind: m.kind,
                channel: m.channel.clone(),
            },
        ),
        (8, _, _, Some(m), ..) => (
            streams::message(m.id),
            Event::MessageClaimed {
                message_id: MessageId(Uuid::from_u128(0xbad)),
                instance: "dispatcher-a".into(),
                lease_until: m.queued_at,
            },
        ),
        (9, _, _, _, Some(t), ..) => (
            streams::task(t.id),
            Event::TaskCreated {
                task_id: t.id,
                spec: t.spec.clone(),
                alert_id: None,
            },
        ),
        (10, _, _, _, Some(t), ..) => (
            streams::task(t.id),
            Event::TaskHostStarted {
                task_id: TaskId(Uuid::from_u128(0xbad)),
                host: t
                    .spec
                    .hosts
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "web-1".parse_host()),
            },
        ),
        (11, ..) => (
            stray_stream,
            Event::TriggerRepeated {
                alert_id: stray,
                summary: "?".into(),
                severity: Severity::Info,
            },
        ),
        _ => (stray_stream, Event::AlertAcknowledged { alert_id: stray }),
    }
}

trait ParseHost {
    fn parse_host(self) -> projections::ids::HostName;
}

impl ParseHost for &str {
    fn parse_host(self) -> projections::ids::HostName {
        projections::ids::HostName::parse(self).unwrap()
    }
}

fn refused_event_changes_nothing(world: &World, kind: u8) -> Check {
    let (stream, event) = bogus_event(world, kind);
    let record = RecordedEvent {
        event_id: Uuid::from_u128(0xb065),
        stream,
        stream_version: 0,
        position: world.log.len() as u64 + 1,
        recorded_at: world
            .log
            .last()
            .map_or(crate::harness::t0(), |r| r.recorded_at),
        schema_version: event.schema_version(),
        metadata: Metadata::default(),
        event,
        prev_hash: Hash::GENESIS,
        hash: Hash::GENESIS,
    };
    let mut after = world.views.clone();
    let result = after.apply(&record);
    prop_assert!(result.is_err(), "{:?} was accepted", record.event);
    prop_assert_eq!(
        after.position,
        record.position,
        "the position advances past it"
    );
    after.position = world.views.position;
    after.group_head = world.views.group_head;
    prop_assert_eq!(
        &after,
        &world.views,
        "refused {:?} changed a view",
        record.event
    );
    Ok(())
}

/// `CASES` per property, or `PROPTEST_CASES` when set (longer runs, docs/testing.md).
pub fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(CASES);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Runs one invariant, naming it in the failure.
fn check(name: &str, invariant: fn(&World) -> Check, world: &World) -> Check {
    invariant(world).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
}

proptest! {
    #![proptest_config(config())]

    /// Every invariant is checked on every generated log: building the log costs more
    /// than checking it, so each invariant gets all `CASES` cases.
    #[test]
    fn every_valid_log_keeps_every_invariant(ops in ops(MAX_OPS)) {
        let world = World::run(&ops);
        check("replay equals incremental application", replay_equals_incremental, &world)?;
        check("every message's cause precedes it", messages_name_causes_that_precede_them, &world)?;
        check("no active alarm on a deleted resource", deleted_resources_own_no_active_alarm, &world)?;
        check("tasks and host states come from events", tasks_and_host_states_come_from_events, &world)?;
        check("status changes are caused by events", status_changes_are_caused_by_events, &world)?;
        check("the unfinished-message index matches the states", unfinished_index_matches_message_states, &world)?;
    }

    #[test]
    fn a_refused_event_changes_no_view_but_the_position(ops in ops(MAX_OPS), kind in 0u8..12) {
        refused_event_changes_nothing(&World::run(&ops), kind)?;
    }
}

/// Guards the generator: if a change to the decisions or to [`crate::world`] stopped it
/// from producing some event type, the properties above would pass vacuously.
#[test]
fn the_generator_reaches_every_event_type_and_the_deletion_race() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(Config::default().rng_algorithm),
    );
    let mut seen = BTreeSet::new();
    let mut raced = 0;
    for _ in 0..64 {
        let ops = ops(MAX_OPS).new_tree(&mut runner).unwrap().current();
        let world = World::run(&ops);
        seen.extend(world.log.iter().map(|r| r.event.event_type()));
        raced += world
            .views
            .alerts
            .alerts
            .values()
            .filter(|a| {
                a.status_changes.len() == 2
                    && a.status_changes[0].position == a.status_changes[1].position
            })
            .count();
    }
    // No decision records a data loss: the service appends it itself, when the
    // operator starts it on a log that lost acknowledged events.
    let decided = |name: &&str| *name != "data_loss_recorded";
    let missing: Vec<_> = projections::Event::TYPES
        .iter()
        .map(|(name, _)| *name)
        .filter(decided)
        .filter(|name| !seen.contains(name))
        .collect();
    assert!(missing.is_empty(), "never generated: {missing:?}");
    assert!(raced > 0, "no trigger raced a deletion");
}
