//! Decisions of an alert series: dedup, lifecycle, escalation timers.

use crate::harness::{at, channel, given, key, record, service, stray_alert, sync_id, Series};
use projections::decide::{
    decide_alert, AlertCommand, Rejection, ResourceCheck, SeriesState, StreamState, Trigger,
};
use projections::ids::{AlertId, ChannelId, MessageId, SeriesId, TimerId};
use projections::{streams, Event, EventRef, MessageKind, ResolvedBy, Severity};
use std::collections::BTreeMap;

fn series() -> SeriesId {
    SeriesId::of(&service("payments-api"), &key("disk-full db-1"))
}

fn stream() -> String {
    streams::alert_series(series())
}

fn alert(generation: u64) -> AlertId {
    AlertId::of(series(), generation)
}

fn pager() -> ChannelId {
    channel("pager")
}

fn slack() -> ChannelId {
    channel("slack-ops")
}

/// A trigger with no resource, channels or escalation policy, at `at(0)`.
fn trigger() -> Trigger {
    Trigger {
        service: service("payments-api"),
        dedup_key: key("disk-full db-1"),
        summary: "disk 95% full".into(),
        severity: Severity::Critical,
        details: BTreeMap::from([("mount".into(), "/var".into())]),
        resource: None,
        channels: Vec::new(),
        escalation_secs: Vec::new(),
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
        now: at(0),
    }
}

/// A trigger that pages two channels and escalates after 60 s, then 300 s.
fn paging_trigger() -> Trigger {
    Trigger {
        channels: vec![pager(), slack()],
        escalation_secs: vec![60, 300],
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
        ..trigger()
    }
}

/// The `alert_triggered` event `trigger` records as the `generation`-th alert.
fn triggered(trigger: &Trigger, generation: u64) -> Event {
    Event::AlertTriggered {
        alert_id: alert(generation),
        service: trigger.service.clone(),
        dedup_key: trigger.dedup_key.clone(),
        summary: trigger.summary.clone(),
        severity: trigger.severity,
        details: trigger.details.clone(),
        resource: match &trigger.resource {
            Some(ResourceCheck::Active(sync)) => Some(sync.clone()),
            _ => None,
        },
        channels: trigger.channels.clone(),
        escalation_secs: trigger.escalation_secs.clone(),
        escalation_channels: trigger.escalation_channels.clone(),
        escalation_repeat: trigger.escalation_repeat,
    }
}

/// The message queued on `channel`, caused by version `cause_version` of the series.
fn queued(generation: u64, cause_version: u64, kind: MessageKind, channel: ChannelId) -> Event {
    let cause = EventRef {
        stream: stream(),
        version: cause_version,
    };
    Event::MessageQueued {
        message_id: MessageId::of(&cause, &channel),
        alert_id: alert(generation),
        cause,
        kind,
        channel,
    }
}

/// Escalation step `step` of the `generation`-th alert, due at `at(due)`.
fn scheduled(generation: u64, step: u32, due: i64) -> Event {
    Event::TimerScheduled {
        timer_id: TimerId::of(alert(generation), step),
        alert_id: alert(generation),
        step,
        due_at: at(due),
    }
}

/// Everything the first paging trigger records (versions 0..=3).
fn paging_opened() -> Vec<Event> {
    vec![
        triggered(&paging_trigger(), 0),
        queued(0, 0, MessageKind::NewAlert, pager()),
        queued(0, 0, MessageKind::NewAlert, slack()),
        scheduled(0, 1, 60),
    ]
}

fn acknowledged(generation: u64) -> Event {
    Event::AlertAcknowledged {
        alert_id: alert(generation),
    }
}

fn resolved(generation: u64) -> Event {
    Event::AlertResolved {
        alert_id: alert(generation),
        resolved_by: ResolvedBy::Person,
    }
}

fn fire(step: u32, now: i64) -> AlertCommand {
    AlertCommand::FireTimer {
        timer_id: TimerId::of(alert(0), step),
        now: at(now),
    }
}

#[test]
fn first_trigger_opens_an_alert_with_a_deterministic_id() {
    given(Series(series()), [])
        .when(AlertCommand::Trigger(trigger()))
        .then([triggered(&trigger(), 0)]);
    assert_eq!(alert(0), AlertId::of(series(), 0));
}

#[test]
fn first_trigger_queues_one_new_alert_message_per_channel_caused_by_the_trigger() {
    let events = given(Series(series()), [])
        .when(AlertCommand::Trigger(paging_trigger()))
        .events();
    assert_eq!(events, paging_opened());
    let cause = EventRef {
        stream: stream(),
        version: 0,
    };
    for (event, channel) in events[1..3].iter().zip([pager(), slack()]) {
        let Event::MessageQueued {
            message_id,
            cause: named,
            kind,
            channel: to,
            ..
        } = event
        else {
            panic!("expected message_queued, got {event:?}");
        };
        assert_eq!(
            (named, *kind, to),
            (&cause, MessageKind::NewAlert, &channel)
        );
        assert_eq!(*message_id, MessageId::of(&cause, &channel));
    }
}

#[test]
fn first_trigger_schedules_escalation_step_one_when_the_policy_has_delays() {
    let events = given(Series(series()), [])
        .when(AlertCommand::Trigger(Trigger {
            escalation_secs: vec![90],
            escalation_channels: Vec::new(),
            escalation_repeat: 0,
            now: at(10),
            ..trigger()
        }))
        .events();
    assert_eq!(events.last(), Some(&scheduled(0, 1, 100)));
}

#[test]
fn the_same_trigger_on_the_same_history_decides_the_same_events() {
    let decide = || {
        given(
            Series(series()),
            paging_opened().into_iter().chain([resolved(0)]),
        )
        .when(AlertCommand::Trigger(paging_trigger()))
        .events()
    };
    assert_eq!(decide(), decide());
}

#[test]
fn repeat_trigger_on_open_alert_is_recorded_on_that_alert() {
    given(Series(series()), paging_opened())
        .when(AlertCommand::Trigger(Trigger {
            summary: "disk 99% full".into(),
            severity: Severity::Error,
            ..paging_trigger()
        }))
        .then([Event::TriggerRepeated {
            alert_id: alert(0),
            summary: "disk 99% full".into(),
            severity: Severity::Error,
        }]);
}

#[test]
fn repeat_trigger_on_acknowledged_alert_is_still_recorded_on_that_alert() {
    given(
        Series(series()),
        [triggered(&trigger(), 0), acknowledged(0)],
    )
    .when(AlertCommand::Trigger(trigger()))
    .then([Event::TriggerRepeated {
        alert_id: alert(0),
        summary: trigger().summary,
        severity: trigger().severity,
    }]);
}

#[test]
fn trigger_after_resolve_opens_a_new_alert() {
    given(Series(series()), [triggered(&trigger(), 0), resolved(0)])
        .when(AlertCommand::Trigger(trigger()))
        .then([triggered(&trigger(), 1)]);
    assert_ne!(alert(0), alert(1));
}

#[test]
fn new_alert_messages_name_the_trigger_by_its_version_in_a_series_with_history() {
    // Versions 0..=3 opened alert 0, version 4 resolved it: the new trigger is version 5.
    let history = paging_opened().into_iter().chain([resolved(0)]);
    let mut expected = vec![
        triggered(&paging_trigger(), 1),
        queued(1, 5, MessageKind::NewAlert, pager()),
        queued(1, 5, MessageKind::NewAlert, slack()),
    ];
    let timer = TimerId::of(alert(1), 1);
    expected.push(Event::TimerScheduled {
        timer_id: timer,
        alert_id: alert(1),
        step: 1,
        due_at: at(60),
    });
    given(Series(series()), history)
        .when(AlertCommand::Trigger(paging_trigger()))
        .then(expected);
}

#[test]
fn triggering_on_an_active_resource_records_the_resource_on_the_alert() {
    let on_db = Trigger {
        resource: Some(ResourceCheck::Active(sync_id("db-1"))),
        ..trigger()
    };
    let events = given(Series(series()), [])
        .when(AlertCommand::Trigger(on_db.clone()))
        .then([triggered(&on_db, 0)]);
    let Event::AlertTriggered { resource, .. } = &events[0].event else {
        unreachable!()
    };
    assert_eq!(resource, &Some(sync_id("db-1")));
}

#[test]
fn triggering_on_a_deleted_resource_is_rejected() {
    given(Series(series()), [])
        .when(AlertCommand::Trigger(Trigger {
            resource: Some(ResourceCheck::Deleted(sync_id("db-1"))),
            ..trigger()
        }))
        .then_err(Rejection::ResourceDeleted(sync_id("db-1")));
}

#[test]
fn triggering_on_an_unregistered_resource_is_rejected() {
    given(Series(series()), [])
        .when(AlertCommand::Trigger(Trigger {
            resource: Some(ResourceCheck::Unknown(sync_id("db-9"))),
            ..trigger()
        }))
        .then_err(Rejection::UnknownResource(sync_id("db-9")));
}

#[test]
fn acknowledging_a_triggered_alert_queues_acknowledged_messages_caused_by_the_ack() {
    given(Series(series()), paging_opened())
        .when(AlertCommand::Acknowledge { alert_id: alert(0) })
        .then([
            acknowledged(0),
            queued(0, 4, MessageKind::Acknowledged, pager()),
            queued(0, 4, MessageKind::Acknowledged, slack()),
        ]);
}

#[test]
fn acknowledging_a_resolved_alert_is_rejected_with_alert_already_resolved() {
    given(Series(series()), [triggered(&trigger(), 0), resolved(0)])
        .when(AlertCommand::Acknowledge { alert_id: alert(0) })
        .then_err(Rejection::AlertAlreadyResolved(alert(0)));
}

#[test]
fn acknowledging_an_earlier_alert_of_the_series_is_rejected_with_alert_already_resolved() {
    let history = [
        triggered(&trigger(), 0),
        resolved(0),
        triggered(&trigger(), 1),
    ];
    given(Series(series()), history)
        .when(AlertCommand::Acknowledge { alert_id: alert(0) })
        .then_err(Rejection::AlertAlreadyResolved(alert(0)));
}

/// The series after an alert on `db-1` was opened, as the service sees it once the
/// views show `db-1` deleted.
fn resolved_by_deletion() -> SeriesState {
    let on_db = Trigger {
        resource: Some(ResourceCheck::Active(sync_id("db-1"))),
        ..trigger()
    };
    let mut state = SeriesState::new(series());
    for event in record(&stream(), [triggered(&on_db, 0)]) {
        state.apply(&event);
    }
    state.resource_deleted(&sync_id("db-1"));
    state
}

#[test]
fn acting_on_an_alert_its_resources_deletion_resolved_says_the_resource_was_deleted() {
    let refused = decide_alert(
        &resolved_by_deletion(),
        AlertCommand::Acknowledge { alert_id: alert(0) },
    )
    .unwrap_err();
    assert_eq!(
        refused,
        Rejection::AlertResolvedByDeletion {
            alert_id: alert(0),
            sync_id: sync_id("db-1"),
        }
    );
    let message = refused.to_string();
    assert!(message.contains("resource db-1 was deleted"), "{message}");
    assert!(!message.contains("a new trigger"), "{message}");
}

#[test]
fn an_alert_its_resources_deletion_resolved_is_remembered_after_a_new_alert_opens() {
    let on_db = Trigger {
        resource: Some(ResourceCheck::Active(sync_id("db-1"))),
        ..trigger()
    };
    let mut state = SeriesState::new(series());
    // No resolution in the series: db-1's deletion (another stream) resolved alert 0.
    for event in record(&stream(), [triggered(&on_db, 0), triggered(&trigger(), 1)]) {
        state.apply(&event);
    }
    let refused = decide_alert(&state, AlertCommand::Acknowledge { alert_id: alert(0) });
    assert_eq!(
        refused,
        Err(Rejection::AlertResolvedByDeletion {
            alert_id: alert(0),
            sync_id: sync_id("db-1"),
        })
    );
}

#[test]
fn acknowledging_twice_is_a_no_op() {
    given(
        Series(series()),
        [triggered(&trigger(), 0), acknowledged(0)],
    )
    .when(AlertCommand::Acknowledge { alert_id: alert(0) })
    .then_nothing();
}

#[test]
fn acknowledging_an_unknown_alert_is_rejected() {
    given(Series(series()), [triggered(&trigger(), 0)])
        .when(AlertCommand::Acknowledge {
            alert_id: stray_alert(),
        })
        .then_err(Rejection::UnknownAlert(stray_alert()));
}

#[test]
fn acknowledging_a_not_yet_opened_generation_is_rejected_as_unknown() {
    given(Series(series()), [triggered(&trigger(), 0)])
        .when(AlertCommand::Acknowledge { alert_id: alert(1) })
        .then_err(Rejection::UnknownAlert(alert(1)));
}

#[test]
fn resolving_queues_resolved_messages_and_cancels_the_pending_step() {
    let log = given(Series(series()), paging_opened())
        .when(AlertCommand::Resolve {
            alert_id: alert(0),
            resolved_by: ResolvedBy::Person,
        })
        .then([
            resolved(0),
            queued(0, 4, MessageKind::Resolved, pager()),
            queued(0, 4, MessageKind::Resolved, slack()),
        ]);
    let events = log.into_iter().map(|r| r.event);
    given(Series(series()), events)
        .when(fire(1, 60))
        .then_err(Rejection::TimerNotPending(TimerId::of(alert(0), 1)));
}

#[test]
fn resolving_twice_is_rejected_with_alert_already_resolved() {
    given(Series(series()), [triggered(&trigger(), 0), resolved(0)])
        .when(AlertCommand::Resolve {
            alert_id: alert(0),
            resolved_by: ResolvedBy::Source,
        })
        .then_err(Rejection::AlertAlreadyResolved(alert(0)));
}

#[test]
fn firing_a_due_timer_escalates_and_schedules_the_next_step() {
    given(Series(series()), paging_opened())
        .when(fire(1, 61))
        .then([
            Event::TimerFired {
                timer_id: TimerId::of(alert(0), 1),
                alert_id: alert(0),
            },
            Event::AlertEscalated {
                alert_id: alert(0),
                step: 1,
            },
            queued(0, 5, MessageKind::Escalated, pager()),
            queued(0, 5, MessageKind::Escalated, slack()),
            scheduled(0, 2, 361),
        ]);
}

#[test]
fn a_timer_fires_at_exactly_its_due_time() {
    let events = given(Series(series()), paging_opened())
        .when(fire(1, 60))
        .events();
    assert!(matches!(events[0], Event::TimerFired { .. }));
}

#[test]
fn firing_the_last_step_schedules_nothing_more() {
    let history = paging_opened().into_iter().chain([
        Event::TimerFired {
            timer_id: TimerId::of(alert(0), 1),
            alert_id: alert(0),
        },
        Event::AlertEscalated {
            alert_id: alert(0),
            step: 1,
        },
        scheduled(0, 2, 360),
    ]);
    let events = given(Series(series()), history).when(fire(2, 400)).events();
    assert_eq!(
        events.iter().map(Event::event_type).collect::<Vec<_>>(),
        [
            "timer_fired",
            "alert_escalated",
            "message_queued",
            "message_queued"
        ]
    );
}

#[test]
fn firing_a_timer_before_it_is_due_is_rejected_with_timer_not_due() {
    given(Series(series()), paging_opened())
        .when(fire(1, 59))
        .then_err(Rejection::TimerNotDue {
            timer_id: TimerId::of(alert(0), 1),
            due_at: at(60),
        });
}

#[test]
fn firing_a_timer_after_acknowledge_is_rejected_as_not_pending() {
    given(
        Series(series()),
        paging_opened().into_iter().chain([acknowledged(0)]),
    )
    .when(fire(1, 61))
    .then_err(Rejection::TimerNotPending(TimerId::of(alert(0), 1)));
}

#[test]
fn acknowledging_cancels_the_pending_step_so_nothing_is_scheduled_again() {
    let events = given(Series(series()), paging_opened())
        .when(AlertCommand::Acknowledge { alert_id: alert(0) })
        .events();
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::TimerScheduled { .. })));
}

#[test]
fn firing_a_timer_twice_is_rejected_the_second_time() {
    let first = given(Series(series()), paging_opened())
        .when(fire(1, 61))
        .events();
    given(Series(series()), paging_opened().into_iter().chain(first))
        .when(fire(1, 62))
        .then_err(Rejection::TimerNotPending(TimerId::of(alert(0), 1)));
}

#[test]
fn firing_an_unknown_timer_is_rejected_as_not_pending() {
    given(Series(series()), [])
        .when(fire(1, 61))
        .then_err(Rejection::TimerNotPending(TimerId::of(alert(0), 1)));
}

#[test]
fn escalating_by_hand_moves_to_the_next_step_and_replaces_the_pending_timer() {
    let escalate = AlertCommand::Escalate {
        alert_id: alert(0),
        now: at(10),
    };
    let events = given(Series(series()), paging_opened())
        .when(escalate)
        .then([
            Event::AlertEscalated {
                alert_id: alert(0),
                step: 1,
            },
            queued(0, 4, MessageKind::Escalated, pager()),
            queued(0, 4, MessageKind::Escalated, slack()),
            scheduled(0, 2, 310),
        ]);
    let events = events.into_iter().map(|r| r.event);
    given(Series(series()), events)
        .when(fire(1, 61))
        .then_err(Rejection::TimerNotPending(TimerId::of(alert(0), 1)));
}

#[test]
fn escalating_an_acknowledged_alert_schedules_no_timer() {
    given(
        Series(series()),
        [triggered(&paging_trigger(), 0), acknowledged(0)],
    )
    .when(AlertCommand::Escalate {
        alert_id: alert(0),
        now: at(5),
    })
    .then([
        Event::AlertEscalated {
            alert_id: alert(0),
            step: 1,
        },
        queued(0, 2, MessageKind::Escalated, pager()),
        queued(0, 2, MessageKind::Escalated, slack()),
    ]);
}

#[test]
fn escalating_a_resolved_alert_is_rejected() {
    given(Series(series()), [triggered(&trigger(), 0), resolved(0)])
        .when(AlertCommand::Escalate {
            alert_id: alert(0),
            now: at(5),
        })
        .then_err(Rejection::AlertAlreadyResolved(alert(0)));
}

#[test]
fn notes_are_allowed_on_resolved_alerts() {
    let note = AlertCommand::AddNote {
        alert_id: alert(0),
        text: "root cause: log rotation".into(),
    };
    given(Series(series()), [triggered(&trigger(), 0), resolved(0)])
        .when(note)
        .then([Event::NoteAdded {
            alert_id: alert(0),
            text: "root cause: log rotation".into(),
        }]);
}

#[test]
fn notes_on_an_unknown_alert_are_rejected() {
    given(Series(series()), [triggered(&trigger(), 0)])
        .when(AlertCommand::AddNote {
            alert_id: stray_alert(),
            text: "?".into(),
        })
        .then_err(Rejection::UnknownAlert(stray_alert()));
}

/// A policy of one 60 s step that also pages `managers`, repeated once.
fn repeating_trigger() -> Trigger {
    Trigger {
        channels: vec![pager()],
        escalation_secs: vec![60],
        escalation_channels: vec![vec![channel("managers")]],
        escalation_repeat: 1,
        ..trigger()
    }
}

#[test]
fn an_escalation_step_also_notifies_the_steps_own_channels() {
    let opened = vec![
        triggered(&repeating_trigger(), 0),
        queued(0, 0, MessageKind::NewAlert, pager()),
        scheduled(0, 1, 60),
    ];
    given(Series(series()), opened).when(fire(1, 60)).then([
        Event::TimerFired {
            timer_id: TimerId::of(alert(0), 1),
            alert_id: alert(0),
        },
        Event::AlertEscalated {
            alert_id: alert(0),
            step: 1,
        },
        queued(0, 4, MessageKind::Escalated, pager()),
        queued(0, 4, MessageKind::Escalated, channel("managers")),
        scheduled(0, 2, 120),
    ]);
}

#[test]
fn a_repeating_policy_runs_its_steps_repeat_plus_one_times_then_stops() {
    let mut history = vec![
        triggered(&repeating_trigger(), 0),
        queued(0, 0, MessageKind::NewAlert, pager()),
        scheduled(0, 1, 60),
    ];
    let first = given(Series(series()), history.clone())
        .when(fire(1, 60))
        .events();
    assert!(
        first.contains(&scheduled(0, 2, 120)),
        "the repeat schedules step 2"
    );
    history.extend(first);
    let second = given(Series(series()), history).when(fire(2, 120)).events();
    assert!(
        second
            .iter()
            .any(|e| matches!(e, Event::AlertEscalated { step: 2, .. })),
        "step 2 (the repeat of step 1) escalates"
    );
    assert!(
        !second
            .iter()
            .any(|e| matches!(e, Event::TimerScheduled { .. })),
        "after 1 + repeat passes nothing more is scheduled: {second:?}"
    );
}
