//! Example-based tests of the folds: what a user of each view would see.

use crate::harness::{
    at, channel, host, key, message_id, service, sync_id, task_id, views_of, Log,
};
use projections::ids::{AlertId, MessageId, SeriesId, SyncId};
use projections::views::{AlertStatus, FoldError, HostState, Resolution, Views};
use projections::{streams, Event, EventRef, MessageKind, ResolvedBy, Severity, TaskSpec};
use std::collections::BTreeMap;

fn series(dedup: &str) -> SeriesId {
    SeriesId::of(&service("payments-api"), &key(dedup))
}

fn triggered(dedup: &str, resource: Option<SyncId>) -> Event {
    Event::AlertTriggered {
        alert_id: AlertId::of(series(dedup), 0),
        service: service("payments-api"),
        dedup_key: key(dedup),
        summary: format!("{dedup} is failing"),
        severity: Severity::Error,
        details: BTreeMap::new(),
        resource,
        channels: Vec::new(),
        escalation_secs: Vec::new(),
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
    }
}

fn alert(dedup: &str) -> AlertId {
    AlertId::of(series(dedup), 0)
}

fn registered(sync: &str) -> Event {
    Event::SyncRegistered {
        sync_id: sync_id(sync),
        name: sync.to_uppercase(),
    }
}

/// db-1 registered; alerts `a` (db-1), `b` (db-1, resolved by hand) and `c` (no
/// resource) open; then db-1 deleted. Returns the log and the deletion's reference.
fn deletion_log() -> (Log, EventRef) {
    let mut log = Log::default();
    let db1 = streams::sync(&sync_id("db-1"));
    log.append(&db1, [registered("db-1")]);
    for dedup in ["a", "b", "c"] {
        let resource = (dedup != "c").then(|| sync_id("db-1"));
        log.append(
            &streams::alert_series(series(dedup)),
            [triggered(dedup, resource)],
        );
    }
    log.append(
        &streams::alert_series(series("b")),
        [Event::AlertResolved {
            alert_id: alert("b"),
            resolved_by: ResolvedBy::Source,
        }],
    );
    let deletion = log.append(
        &db1,
        [Event::SyncDeleted {
            sync_id: sync_id("db-1"),
        }],
    );
    (log, deletion[0].reference())
}

#[test]
fn deleting_a_resource_resolves_its_open_alerts_in_the_status_view() {
    let (log, deletion) = deletion_log();
    let views = views_of(&log.records);
    let a = &views.alerts.alerts[&alert("a")];
    assert_eq!(a.status, AlertStatus::Resolved);
    assert_eq!(
        a.resolution,
        Some(Resolution::ResourceDeleted {
            sync_id: sync_id("db-1")
        })
    );
    let last = a.status_changes.last().unwrap();
    assert_eq!(
        (last.status, &last.cause),
        (AlertStatus::Resolved, &deletion)
    );
    assert_eq!(a.next_escalation_at, None);
}

#[test]
fn deleting_a_resource_keeps_the_resolution_of_alerts_resolved_before() {
    let (log, _) = deletion_log();
    let views = views_of(&log.records);
    let b = &views.alerts.alerts[&alert("b")];
    assert_eq!(b.resolution, Some(Resolution::Source));
    assert_eq!(b.status_changes.len(), 2);
}

#[test]
fn deleting_a_resource_removes_its_alarms_and_keeps_the_others() {
    let (log, _) = deletion_log();
    let views = views_of(&log.records);
    assert_eq!(
        views.alarms.active.keys().collect::<Vec<_>>(),
        [&alert("c")]
    );
    let groups = views.alarms.groups();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].resource, None);
    assert_eq!(groups[0].counts[&Severity::Error], 1);
    assert_eq!(groups[0].counts[&Severity::Critical], 0);
    assert!(views.syncs.syncs[&sync_id("db-1")].deleted);
}

#[test]
fn a_trigger_that_raced_a_deletion_is_resolved_by_the_deletion_at_once() {
    let (mut log, deletion) = deletion_log();
    // Another instance checked db-1 before the deletion and appended after it.
    log.append(
        &streams::alert_series(series("d")),
        [triggered("d", Some(sync_id("db-1")))],
    );
    let views = views_of(&log.records);
    let d = &views.alerts.alerts[&alert("d")];
    let changes: Vec<_> = d
        .status_changes
        .iter()
        .map(|c| (c.status, &c.cause))
        .collect();
    let trigger = EventRef {
        stream: streams::alert_series(series("d")),
        version: 0,
    };
    assert_eq!(
        changes,
        [
            (AlertStatus::Triggered, &trigger),
            (AlertStatus::Resolved, &deletion)
        ]
    );
    assert!(!views.alarms.active.contains_key(&alert("d")));
}

#[test]
fn an_acknowledge_that_raced_a_deletion_is_recorded_without_reopening_the_alert() {
    let (mut log, _) = deletion_log();
    log.append(
        &streams::alert_series(series("a")),
        [Event::AlertAcknowledged {
            alert_id: alert("a"),
        }],
    );
    let views = views_of(&log.records);
    let a = &views.alerts.alerts[&alert("a")];
    assert_eq!(a.status, AlertStatus::Resolved);
    assert_eq!(a.last_position, log.records.len() as u64);
    assert!(!views.alarms.active.contains_key(&alert("a")));
}

/// Applies `bogus` after `log` and checks that it is refused with an error of the
/// expected kind and changes nothing but the position.
#[track_caller]
fn refused_without_effect(log: &Log, stream: &str, bogus: Event, expected: fn(&FoldError) -> bool) {
    let before = views_of(&log.records);
    let mut scratch = Log {
        records: log.records.clone(),
    };
    let record = scratch.append(stream, [bogus]).remove(0);
    let mut after = before.clone();
    let error = after
        .apply(&record)
        .expect_err("a bogus event must be refused");
    assert!(expected(&error), "unexpected error {error:?}");
    assert_eq!(
        after.position, record.position,
        "the position still advances"
    );
    assert_eq!(after.group_head, record.position, "so does the group head");
    assert_eq!(
        Views {
            position: before.position,
            group_head: before.group_head,
            ..after
        },
        before
    );
}

#[test]
fn acknowledging_an_unknown_alert_is_a_fold_error_that_changes_nothing() {
    let (log, _) = deletion_log();
    refused_without_effect(
        &log,
        &streams::alert_series(series("z")),
        Event::AlertAcknowledged {
            alert_id: alert("z"),
        },
        |e| matches!(e, FoldError::UnknownAlert { .. }),
    );
}

#[test]
fn a_duplicate_trigger_is_a_fold_error_that_leaves_the_alarms_alone() {
    let (log, _) = deletion_log();
    // Alert b is resolved; opening it again must not bring its alarm back.
    refused_without_effect(
        &log,
        &streams::alert_series(series("b")),
        triggered("b", None),
        |e| matches!(e, FoldError::DuplicateAlert { .. }),
    );
}

#[test]
fn deleting_an_unknown_resource_is_a_fold_error_that_resolves_nothing() {
    let mut log = Log::default();
    log.append(
        &streams::alert_series(series("a")),
        [triggered("a", Some(sync_id("db-9")))],
    );
    refused_without_effect(
        &log,
        &streams::sync(&sync_id("db-9")),
        Event::SyncDeleted {
            sync_id: sync_id("db-9"),
        },
        |e| matches!(e, FoldError::InvalidTransition { .. }),
    );
}

#[test]
fn deleting_a_resource_twice_is_a_fold_error_that_keeps_the_first_deletion_as_cause() {
    let (log, _) = deletion_log();
    refused_without_effect(
        &log,
        &streams::sync(&sync_id("db-1")),
        Event::SyncDeleted {
            sync_id: sync_id("db-1"),
        },
        |e| matches!(e, FoldError::InvalidTransition { .. }),
    );
}

#[test]
fn an_event_out_of_order_is_refused_and_the_position_stays() {
    let (log, _) = deletion_log();
    let mut views = views_of(&log.records);
    let before = views.clone();
    let stale = log.records[0].clone();
    assert_eq!(
        views.apply(&stale),
        Err(FoldError::OutOfOrder {
            last: log.records.len() as u64,
            got: 1
        })
    );
    assert_eq!(views, before);
}

#[test]
fn a_message_whose_cause_does_not_precede_it_in_its_stream_is_refused() {
    let mut log = Log::default();
    let stream = streams::alert_series(series("a"));
    log.append(&stream, [triggered("a", None)]);
    let cause = EventRef {
        stream: stream.clone(),
        version: 1,
    };
    let pager = channel("pager");
    let queued = Event::MessageQueued {
        message_id: MessageId::of(&cause, &pager),
        alert_id: alert("a"),
        cause,
        kind: MessageKind::NewAlert,
        channel: pager,
    };
    refused_without_effect(&log, &stream, queued, |e| {
        matches!(e, FoldError::CauseNotBefore { .. })
    });
}

#[test]
fn a_claim_on_a_message_never_queued_is_refused() {
    let log = Log::default();
    refused_without_effect(
        &log,
        &streams::message(message_id(7)),
        Event::MessageClaimed {
            message_id: message_id(7),
            instance: "dispatcher-a".into(),
            lease_until: at(30),
        },
        |e| matches!(e, FoldError::UnknownMessage { .. }),
    );
}

#[test]
fn cancelling_a_task_cancels_only_the_hosts_that_have_not_finished() {
    let mut log = Log::default();
    let stream = streams::task(task_id(1));
    let spec = TaskSpec {
        script: "restart.sh".into(),
        args: Vec::new(),
        hosts: vec![host("web-1"), host("web-2"), host("web-3")],
        timeout_secs: 30,
    };
    log.append(
        &stream,
        [
            Event::TaskCreated {
                task_id: task_id(1),
                spec,
                alert_id: None,
            },
            Event::TaskHostStarted {
                task_id: task_id(1),
                host: host("web-2"),
            },
            Event::TaskHostFinished {
                task_id: task_id(1),
                host: host("web-1"),
                exit_code: 3,
                output_tail: "permission denied".into(),
            },
            Event::TaskCancelled {
                task_id: task_id(1),
                reason: "alert resolved".into(),
            },
        ],
    );
    let views = views_of(&log.records);
    let task = &views.tasks.tasks[&task_id(1)];
    let states: Vec<_> = task
        .hosts
        .iter()
        .map(|(h, r)| (h.as_str(), r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("web-1", HostState::Failed),
            ("web-2", HostState::Cancelled),
            ("web-3", HostState::Cancelled)
        ]
    );
    assert_eq!(task.hosts[&host("web-1")].exit_code, Some(3));
    assert!(task.is_finished());
}

#[test]
fn views_survive_a_snapshot_round_trip() {
    let (log, _) = deletion_log();
    let views = views_of(&log.records);
    let bytes = serde_json::to_vec(&views).unwrap();
    let restored: Views = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(restored, views);
    assert_eq!(serde_json::to_vec(&restored).unwrap(), bytes);
}
