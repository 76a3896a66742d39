//! Lists of ids that name one id twice. A trigger with channels `["x","x"]` once
//! recorded two `message_queued` events with one message id, and the views refused the
//! second for good. Every decision that records a list of ids now refuses a repeat,
//! naming the entry; the property below is the invariant that would have caught it.

use crate::harness::{channel, given, host, key, service, t0, task_id, views_of, Series, Task};
use crate::properties::{config, MAX_OPS};
use crate::scenario::ops;
use crate::world::World;
use projections::decide::{
    decide_config, AlertCommand, ConfigCommand, ConfigState, Rejection, TaskCommand, Trigger,
};
use projections::ids::{AlertId, MessageId, PolicyId, RuleId, SeriesId};
use projections::{streams, EscalationStep, Event, EventRef, MessageKind, Severity, TaskSpec};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use std::collections::{BTreeMap, BTreeSet};

/// The entry at `field` repeats the one at `first`, id `id`.
fn repeated(field: &str, first: &str, id: &str) -> Rejection {
    Rejection::RepeatedEntry {
        field: field.into(),
        first: first.into(),
        id: id.into(),
    }
}

/// Whether `ids` names one id twice.
fn has_repeat<T: Ord>(ids: &[T]) -> bool {
    ids.iter().collect::<BTreeSet<_>>().len() != ids.len()
}

/// The list of `event` that names an id twice, if any.
fn list_with_repeat(event: &Event) -> Option<&'static str> {
    match event {
        Event::AlertTriggered { channels, .. } if has_repeat(channels) => Some("channels"),
        Event::AlertTriggered {
            escalation_channels,
            ..
        } if escalation_channels.iter().any(|s| has_repeat(s)) => Some("escalation_channels"),
        Event::ServiceRouteSet { channels, .. } if has_repeat(channels) => Some("channels"),
        Event::EscalationPolicySet { steps, .. }
            if steps.iter().any(|s| has_repeat(&s.channels)) =>
        {
            Some("steps[].channels")
        }
        Event::TaskCreated { spec, .. } | Event::TaskRuleSet { template: spec, .. }
            if has_repeat(&spec.hosts) =>
        {
            Some("hosts")
        }
        _ => None,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Over random commands, with repeated channels, hosts and ids among them, whatever
    /// a decision records folds into the views, and lists no id twice.
    #[test]
    fn every_event_any_decision_produces_folds_into_the_views(ops in ops(MAX_OPS)) {
        let world = World::run(&ops);
        prop_assert!(
            world.fold_errors.is_empty(),
            "decided events the views refuse: {:?}",
            world.fold_errors
        );
        for record in &world.log {
            let list = list_with_repeat(&record.event);
            prop_assert!(
                list.is_none(),
                "position {} lists an id twice in {:?}: {:?}",
                record.position,
                list,
                record.event
            );
        }
    }
}

/// Guards the property: the generator must offer a repeat in every kind of list, and
/// each must be refused naming its entry, or the property above passes vacuously.
#[test]
fn the_generator_offers_a_repeated_id_in_every_kind_of_list() {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(Config::default().rng_algorithm),
    );
    let mut refused = BTreeSet::new();
    for _ in 0..64 {
        let ops = ops(MAX_OPS).new_tree(&mut runner).unwrap().current();
        for (stream, rejection) in World::run(&ops).rejected {
            if let Rejection::RepeatedEntry { field, .. } = rejection {
                let kind = stream.split('-').next().unwrap_or("").to_owned();
                let shape: String = field.chars().filter(|c| !c.is_ascii_digit()).collect();
                refused.insert(format!("{kind} {shape}"));
            }
        }
    }
    let expected = [
        "alert channels[]",
        "alert escalation_channels[][]",
        "task hosts[]",
        "service channels[]",
        "policy steps[].channels[]",
        "taskrule hosts[]",
    ];
    let missing: Vec<_> = expected
        .iter()
        .filter(|kind| !refused.contains(**kind))
        .collect();
    assert!(
        missing.is_empty(),
        "never refused: {missing:?} (saw {refused:?})"
    );
}

fn trigger(channels: &[&str], escalation_channels: Vec<Vec<&str>>) -> AlertCommand {
    AlertCommand::Trigger(Trigger {
        service: service("payments-api"),
        dedup_key: key("disk-full"),
        summary: "disk full".into(),
        severity: Severity::Critical,
        details: BTreeMap::new(),
        resource: None,
        channels: channels.iter().map(|c| channel(c)).collect(),
        escalation_secs: vec![60; escalation_channels.len()],
        escalation_channels: escalation_channels
            .into_iter()
            .map(|step| step.into_iter().map(channel).collect())
            .collect(),
        escalation_repeat: 0,
        now: t0(),
    })
}

fn series() -> Series {
    Series(SeriesId::of(&service("payments-api"), &key("disk-full")))
}

#[test]
fn a_trigger_naming_a_channel_twice_is_refused_at_the_repeat() {
    given(series(), [])
        .when(trigger(&["pager", "email", "pager"], Vec::new()))
        .then_err(repeated("channels[2]", "channels[0]", "pager"));
}

#[test]
fn a_repeat_trigger_naming_a_channel_twice_is_refused_too() {
    let opened = given(series(), [])
        .when(trigger(&["pager"], Vec::new()))
        .events();
    given(series(), opened)
        .when(trigger(&["x", "x"], Vec::new()))
        .then_err(repeated("channels[1]", "channels[0]", "x"));
}

#[test]
fn a_trigger_whose_escalation_step_names_a_channel_twice_is_refused() {
    given(series(), [])
        .when(trigger(&["pager"], vec![vec!["email"], vec!["sms", "sms"]]))
        .then_err(repeated(
            "escalation_channels[1][1]",
            "escalation_channels[1][0]",
            "sms",
        ));
}

/// An alert recorded before repeats were refused keeps its repeated channel; what is
/// decided on it must still fold, so each (cause, channel) gets one message.
#[test]
fn an_alert_recorded_with_a_repeated_channel_notifies_it_once_when_acknowledged() {
    let alert_id = AlertId::of(series().0, 0);
    let legacy = Event::AlertTriggered {
        alert_id,
        service: service("payments-api"),
        dedup_key: key("disk-full"),
        summary: "disk full".into(),
        severity: Severity::Critical,
        details: BTreeMap::new(),
        resource: None,
        channels: vec![channel("x"), channel("x")],
        escalation_secs: Vec::new(),
        escalation_channels: Vec::new(),
        escalation_repeat: 0,
    };
    let cause = EventRef {
        stream: streams::alert_series(series().0),
        version: 1,
    };
    let log = given(series(), [legacy])
        .when(AlertCommand::Acknowledge { alert_id })
        .then([
            Event::AlertAcknowledged { alert_id },
            Event::MessageQueued {
                message_id: MessageId::of(&cause, &channel("x")),
                alert_id,
                cause,
                kind: MessageKind::Acknowledged,
                channel: channel("x"),
            },
        ]);
    views_of(&log);
}

fn spec(hosts: &[&str]) -> TaskSpec {
    TaskSpec {
        script: "/opt/heal/restart.sh".into(),
        args: Vec::new(),
        hosts: hosts.iter().map(|h| host(h)).collect(),
        timeout_secs: 60,
    }
}

#[test]
fn a_task_naming_a_host_twice_is_refused_at_the_repeat() {
    given(Task(task_id(1)), [])
        .when(TaskCommand::Create {
            task_id: task_id(1),
            spec: spec(&["web-1", "web-2", "web-1"]),
            alert_id: None,
        })
        .then_err(repeated("hosts[2]", "hosts[0]", "web-1"));
}

#[track_caller]
fn config_refused(command: ConfigCommand, expected: Rejection) {
    assert_eq!(
        decide_config(&ConfigState::default(), command),
        Err(expected)
    );
}

#[test]
fn a_route_naming_a_channel_twice_is_refused_at_the_repeat() {
    config_refused(
        ConfigCommand::SetRoute {
            service: service("checkout"),
            channels: vec![channel("pager"), channel("pager")],
            policy: None,
        },
        repeated("channels[1]", "channels[0]", "pager"),
    );
}

#[test]
fn a_policy_step_naming_a_channel_twice_is_refused_at_the_repeat() {
    let step = |channels: &[&str]| EscalationStep {
        delay_secs: 60,
        channels: channels.iter().map(|c| channel(c)).collect(),
    };
    config_refused(
        ConfigCommand::SetPolicy {
            policy_id: PolicyId::parse("standard").unwrap(),
            name: "Standard".into(),
            // The same channel in two steps is fine: each step notifies it once.
            steps: vec![step(&["pager"]), step(&["pager", "email", "email"])],
            repeat: 0,
        },
        repeated("steps[1].channels[2]", "steps[1].channels[1]", "email"),
    );
}

#[test]
fn a_task_rule_naming_a_host_twice_is_refused_at_the_repeat() {
    config_refused(
        ConfigCommand::SetTaskRule {
            rule_id: RuleId::parse("restart").unwrap(),
            service: service("checkout"),
            min_severity: Severity::Error,
            template: spec(&["web-1", "web-1"]),
        },
        repeated("hosts[1]", "hosts[0]", "web-1"),
    );
}

#[test]
fn the_rejection_names_its_field_and_says_what_repeats_what() {
    let rejection = repeated("steps[0].channels[1]", "steps[0].channels[0]", "pager");
    assert_eq!(rejection.field(), Some("steps[0].channels[1]"));
    assert_eq!(
        rejection.to_string(),
        "steps[0].channels[1] repeats steps[0].channels[0] (pager); list each id once"
    );
    assert_eq!(Rejection::UnknownTask(task_id(1)).field(), None);
}
