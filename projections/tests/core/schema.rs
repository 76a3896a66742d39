//! The wire shape of events: serde round trips, type tags, schema versions, upcasting
//! of stored v1 payloads, and the id newtypes.

use crate::harness::{at, channel, host, key, message_id, service, sync_id, task_id};
use projections::ids::{
    AlertId, ChannelId, DedupKey, HostName, IdError, MessageId, PolicyId, RuleId, SeriesId,
    ServiceName, SyncId, TimerId,
};
use projections::schema::{self, SchemaError};
use projections::{
    ChannelTarget, EscalationStep, Event, EventRef, Hash, MessageKind, Metadata, RecordedEvent,
    ResolvedBy, Severity, TaskSpec,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

const V1_FIXTURE: &str = include_str!("../fixtures/alert_triggered_v1.json");

fn alert() -> AlertId {
    AlertId::of(SeriesId::of(&service("payments-api"), &key("disk-full")), 0)
}

/// The position of a variant in the enum. The match has no catch-all arm, so adding a
/// variant does not compile until it is listed here and given a sample below.
fn variant(event: &Event) -> usize {
    match event {
        Event::AlertTriggered { .. } => 0,
        Event::TriggerRepeated { .. } => 1,
        Event::AlertAcknowledged { .. } => 2,
        Event::AlertEscalated { .. } => 3,
        Event::NoteAdded { .. } => 4,
        Event::AlertResolved { .. } => 5,
        Event::MessageQueued { .. } => 6,
        Event::TimerScheduled { .. } => 7,
        Event::TimerFired { .. } => 8,
        Event::SyncRegistered { .. } => 9,
        Event::SyncDeleted { .. } => 10,
        Event::MessageClaimed { .. } => 11,
        Event::DeliveryAttempted { .. } => 12,
        Event::MessageDelivered { .. } => 13,
        Event::MessageFailed { .. } => 14,
        Event::MessageAbandoned { .. } => 15,
        Event::TaskCreated { .. } => 16,
        Event::TaskHostStarted { .. } => 17,
        Event::TaskHostFinished { .. } => 18,
        Event::TaskHostTimedOut { .. } => 19,
        Event::TaskCancelled { .. } => 20,
        Event::ChannelCreated { .. } => 21,
        Event::ChannelUpdated { .. } => 22,
        Event::ChannelRemoved { .. } => 23,
        Event::ServiceRouteSet { .. } => 24,
        Event::EscalationPolicySet { .. } => 25,
        Event::TaskRuleSet { .. } => 26,
        Event::TaskRuleRemoved { .. } => 27,
        Event::DataLossRecorded { .. } => 28,
        Event::ConsumerGroupCreated { .. } => 29,
        Event::ConsumerAcked { .. } => 30,
        Event::ConsumerGroupDeleted { .. } => 31,
    }
}

/// One sample of every variant, with every optional field filled.
fn samples() -> Vec<Event> {
    let alert_id = alert();
    let cause = EventRef {
        stream: "alert-x".into(),
        version: 0,
    };
    let timer_id = TimerId::of(alert_id, 1);
    let (message, task) = (message_id(1), task_id(1));
    vec![
        Event::AlertTriggered {
            alert_id,
            service: service("payments-api"),
            dedup_key: key("disk-full"),
            summary: "disk 95% full".into(),
            severity: Severity::Critical,
            details: BTreeMap::from([("mount".into(), "/var".into())]),
            resource: Some(sync_id("db-1")),
            channels: vec![channel("pager")],
            escalation_secs: vec![60, 300],
            escalation_channels: Vec::new(),
            escalation_repeat: 0,
        },
        Event::TriggerRepeated {
            alert_id,
            summary: "disk 99% full".into(),
            severity: Severity::Error,
        },
        Event::AlertAcknowledged { alert_id },
        Event::AlertEscalated { alert_id, step: 2 },
        Event::NoteAdded {
            alert_id,
            text: "rotating logs".into(),
        },
        Event::AlertResolved {
            alert_id,
            resolved_by: ResolvedBy::Source,
        },
        Event::MessageQueued {
            message_id: MessageId::of(&cause, &channel("pager")),
            alert_id,
            cause,
            kind: MessageKind::NewAlert,
            channel: channel("pager"),
        },
        Event::TimerScheduled {
            timer_id,
            alert_id,
            step: 1,
            due_at: at(60),
        },
        Event::TimerFired { timer_id, alert_id },
        Event::SyncRegistered {
            sync_id: sync_id("db-1"),
            name: "primary database".into(),
        },
        Event::SyncDeleted {
            sync_id: sync_id("db-1"),
        },
        Event::MessageClaimed {
            message_id: message,
            instance: "dispatcher-a".into(),
            lease_until: at(30),
        },
        Event::DeliveryAttempted {
            message_id: message,
            attempt: 1,
        },
        Event::MessageDelivered {
            message_id: message,
            attempt: 1,
            receipt: "200 OK".into(),
        },
        Event::MessageFailed {
            message_id: message,
            attempt: 1,
            error: "503".into(),
            retry_at: Some(at(90)),
        },
        Event::MessageAbandoned {
            message_id: message,
            reason: "out of attempts".into(),
        },
        Event::TaskCreated {
            task_id: task,
            spec: TaskSpec {
                script: "restart.sh".into(),
                args: vec!["--graceful".into()],
                hosts: vec![host("web-1")],
                timeout_secs: 30,
            },
            alert_id: Some(alert_id),
        },
        Event::TaskHostStarted {
            task_id: task,
            host: host("web-1"),
        },
        Event::TaskHostFinished {
            task_id: task,
            host: host("web-1"),
            exit_code: 0,
            output_tail: "ok".into(),
        },
        Event::TaskHostTimedOut {
            task_id: task,
            host: host("web-1"),
        },
        Event::TaskCancelled {
            task_id: task,
            reason: "resolved".into(),
        },
        Event::ChannelCreated {
            channel_id: ChannelId::parse("oncall").unwrap(),
            name: "On-call webhook".into(),
            target: ChannelTarget::Webhook {
                url: "http://127.0.0.1:9000/hook".into(),
            },
        },
        Event::ChannelUpdated {
            channel_id: ChannelId::parse("oncall").unwrap(),
            name: "On-call Slack".into(),
            target: ChannelTarget::Slack {
                url: "http://127.0.0.1:9000/slack".into(),
            },
        },
        Event::ChannelRemoved {
            channel_id: ChannelId::parse("oncall").unwrap(),
        },
        Event::ServiceRouteSet {
            service: service("payments-api"),
            channels: vec![ChannelId::parse("oncall").unwrap()],
            policy: Some(PolicyId::parse("default").unwrap()),
        },
        Event::EscalationPolicySet {
            policy_id: PolicyId::parse("default").unwrap(),
            name: "Default".into(),
            steps: vec![EscalationStep {
                delay_secs: 300,
                channels: vec![ChannelId::parse("managers").unwrap()],
            }],
            repeat: 2,
        },
        Event::TaskRuleSet {
            rule_id: RuleId::parse("restart-on-critical").unwrap(),
            service: service("payments-api"),
            min_severity: Severity::Critical,
            template: TaskSpec {
                script: "systemctl restart payments".into(),
                args: vec![],
                hosts: vec![host("web-1")],
                timeout_secs: 60,
            },
        },
        Event::TaskRuleRemoved {
            rule_id: RuleId::parse("restart-on-critical").unwrap(),
        },
        Event::DataLossRecorded {
            first_lost_position: 100,
            witness_position: 200,
            witness: "durable-end checkpoint".into(),
            detail: "checksum mismatch in 0000000001.seg at byte 4096".into(),
            moved_aside: vec!["cut/0000000001.seg@4096.bin".into()],
            cut_bytes: 2048,
        },
        Event::ConsumerGroupCreated {
            group: projections::ids::ConsumerName::parse("billing").unwrap(),
            filter: projections::EventFilter {
                stream: Some("alert-x".into()),
                category: Some("alert".into()),
                event_types: vec!["alert_triggered".into()],
            },
            partitions: 16,
            start_after: 40,
            member_timeout_secs: 30,
        },
        Event::ConsumerAcked {
            group: projections::ids::ConsumerName::parse("billing").unwrap(),
            member: projections::ids::MemberId::parse("worker-1").unwrap(),
            checkpoints: vec![projections::PartitionCheckpoint {
                partition: 3,
                position: 77,
            }],
        },
        Event::ConsumerGroupDeleted {
            group: projections::ids::ConsumerName::parse("billing").unwrap(),
        },
    ]
}

#[test]
fn the_samples_cover_every_variant_once() {
    let seen: Vec<usize> = samples().iter().map(variant).collect();
    assert_eq!(seen, (0..Event::TYPES.len()).collect::<Vec<_>>());
}

#[test]
fn every_event_round_trips_through_json() {
    for event in samples() {
        let text = serde_json::to_string(&event).unwrap();
        let back: Event = serde_json::from_str(&text).unwrap();
        assert_eq!(back, event, "{text}");
    }
}

#[test]
fn every_event_is_tagged_with_its_event_type() {
    for event in samples() {
        let value = serde_json::to_value(&event).unwrap();
        assert_eq!(value["type"], event.event_type(), "{value}");
    }
}

#[test]
fn every_event_type_is_listed_once_in_types_with_its_schema_version() {
    let names: Vec<&str> = Event::TYPES.iter().map(|(name, _)| *name).collect();
    let events = samples();
    let tagged: Vec<&str> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        tagged, names,
        "TYPES lists every variant, in declaration order"
    );
    for (event, (_, version)) in events.iter().zip(Event::TYPES) {
        assert_eq!(event.schema_version(), version);
        assert_eq!(schema::current_version(event.event_type()), Some(version));
    }
}

#[test]
fn decode_reads_every_current_payload() {
    for event in samples() {
        let payload = serde_json::to_value(&event).unwrap();
        let decoded = schema::decode(event.event_type(), event.schema_version(), payload);
        assert_eq!(decoded.unwrap(), event);
    }
}

#[test]
fn decode_upcasts_a_stored_v1_alert_triggered() {
    let payload: Value = serde_json::from_str(V1_FIXTURE).unwrap();
    let event = schema::decode("alert_triggered", 1, payload).unwrap();
    let expected_id = AlertId::parse("0b6f3c8e-2a41-5c7d-9e10-3f5a7b9c1d2e").unwrap();
    assert_eq!(
        event,
        Event::AlertTriggered {
            alert_id: expected_id,
            service: service("payments-api"),
            dedup_key: key("disk-full db-1"),
            summary: "disk 95% full on db-1".into(),
            severity: Severity::Critical,
            details: BTreeMap::new(),
            resource: None,
            channels: Vec::new(),
            escalation_secs: Vec::new(),
            escalation_channels: Vec::new(),
            escalation_repeat: 0,
        }
    );
}

#[test]
fn a_v1_payload_stored_as_v2_is_a_payload_error() {
    let payload: Value = serde_json::from_str(V1_FIXTURE).unwrap();
    let error = schema::decode("alert_triggered", 2, payload).unwrap_err();
    assert!(matches!(error, SchemaError::Payload(_)), "{error}");
}

#[test]
fn a_v1_payload_with_an_unknown_field_is_refused() {
    let mut payload: Value = serde_json::from_str(V1_FIXTURE).unwrap();
    payload["assignee"] = json!("alice");
    let error = schema::decode("alert_triggered", 1, payload).unwrap_err();
    assert!(matches!(error, SchemaError::Payload(_)), "{error}");
}

#[test]
fn a_current_payload_with_an_unknown_field_is_refused() {
    let payload = json!({"type": "alert_acknowledged", "alert_id": alert(), "by": "bob"});
    let error = schema::decode("alert_acknowledged", 1, payload).unwrap_err();
    assert!(matches!(error, SchemaError::Payload(_)), "{error}");
}

#[test]
fn an_unknown_event_type_is_a_clear_error() {
    let payload = json!({"type": "alert_snoozed", "alert_id": alert()});
    let error = schema::decode("alert_snoozed", 1, payload).unwrap_err();
    assert!(matches!(&error, SchemaError::UnknownType(t) if t == "alert_snoozed"));
    assert_eq!(error.to_string(), "unknown event type `alert_snoozed`");
}

#[test]
fn a_version_newer_than_this_build_is_a_clear_error() {
    let payload = serde_json::to_value(&samples()[0]).unwrap();
    let error = schema::decode("alert_triggered", 3, payload).unwrap_err();
    assert!(matches!(
        error,
        SchemaError::UnknownVersion {
            version: 3,
            known: 2,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "event type `alert_triggered` version 3 is newer than this build (knows 2)"
    );
}

#[test]
fn version_zero_is_refused() {
    let payload = serde_json::to_value(&samples()[2]).unwrap();
    let error = schema::decode("alert_acknowledged", 0, payload).unwrap_err();
    assert!(matches!(
        error,
        SchemaError::UnknownVersion { version: 0, .. }
    ));
}

#[test]
fn a_recorded_event_round_trips_with_its_hashes_as_hex() {
    let record = RecordedEvent {
        event_id: Uuid::from_u128(42),
        stream: "sync-db-1".into(),
        stream_version: 3,
        position: 17,
        recorded_at: at(5),
        schema_version: 1,
        metadata: Metadata {
            actor: Some("alice".into()),
            correlation_id: Some(Uuid::from_u128(7)),
            causation_id: None,
            source: Some("api".into()),
        },
        event: samples()[10].clone(),
        prev_hash: Hash([0xab; 32]),
        hash: Hash([0x01; 32]),
    };
    let value = serde_json::to_value(&record).unwrap();
    assert_eq!(value["prev_hash"], "ab".repeat(32));
    assert!(value["metadata"].get("causation_id").is_none());
    let back: RecordedEvent = serde_json::from_value(value).unwrap();
    assert_eq!(back, record);
}

#[test]
fn a_hash_parses_only_64_hex_characters() {
    let hash = Hash([0x5c; 32]);
    assert_eq!(Hash::from_hex(&hash.to_hex()), Some(hash));
    assert_eq!(Hash::from_hex(&hash.to_hex().to_uppercase()), Some(hash));
    assert_eq!(Hash::from_hex("5c"), None);
    assert_eq!(Hash::from_hex(&"zz".repeat(32)), None);
}

mod ids {
    use super::*;

    #[test]
    fn series_ids_are_derived_from_service_and_key_only() {
        let a = SeriesId::of(&service("payments-api"), &key("disk-full"));
        assert_eq!(a, SeriesId::of(&service("payments-api"), &key("disk-full")));
        assert_ne!(a, SeriesId::of(&service("checkout"), &key("disk-full")));
        assert_ne!(a, SeriesId::of(&service("payments-api"), &key("disk-fulL")));
        // The separator keeps ("ab", "c") apart from ("a", "bc").
        assert_ne!(
            SeriesId::of(&service("ab"), &key("c")),
            SeriesId::of(&service("a"), &key("bc"))
        );
    }

    #[test]
    fn alert_ids_are_derived_from_series_and_generation() {
        let series = SeriesId::of(&service("payments-api"), &key("disk-full"));
        let other = SeriesId::of(&service("checkout"), &key("disk-full"));
        assert_eq!(AlertId::of(series, 0), AlertId::of(series, 0));
        assert_ne!(AlertId::of(series, 0), AlertId::of(series, 1));
        assert_ne!(AlertId::of(series, 0), AlertId::of(other, 0));
        assert_eq!(AlertId::of(series, 0).0.get_version_num(), 5);
    }

    #[test]
    fn message_and_timer_ids_are_derived_from_what_they_belong_to() {
        let cause = EventRef {
            stream: "alert-x".into(),
            version: 4,
        };
        let later = EventRef {
            version: 5,
            ..cause.clone()
        };
        let pager = channel("pager");
        assert_eq!(MessageId::of(&cause, &pager), MessageId::of(&cause, &pager));
        assert_ne!(MessageId::of(&cause, &pager), MessageId::of(&later, &pager));
        assert_ne!(
            MessageId::of(&cause, &pager),
            MessageId::of(&cause, &channel("email"))
        );
        assert_ne!(TimerId::of(alert(), 1), TimerId::of(alert(), 2));
    }

    #[test]
    fn a_uuid_id_parses_its_display_form() {
        let id = alert();
        assert_eq!(AlertId::parse(&id.to_string()), Ok(id));
        assert!(AlertId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn empty_or_blank_ids_are_rejected() {
        assert_eq!(ServiceName::parse(""), Err(IdError::Empty));
        assert_eq!(DedupKey::parse("  \t"), Err(IdError::Empty));
        assert_eq!(IdError::Empty.to_string(), "must not be empty");
    }

    #[test]
    fn ids_longer_than_their_limit_are_rejected() {
        let at_limit = "a".repeat(ServiceName::MAX_LEN);
        assert!(ServiceName::parse(&at_limit).is_ok());
        let error = ServiceName::parse(&format!("{at_limit}a")).unwrap_err();
        assert_eq!(error, IdError::TooLong { max: 128 });
        assert_eq!(error.to_string(), "must be at most 128 characters");
        // Limits count characters, not bytes.
        assert!(DedupKey::parse(&"é".repeat(DedupKey::MAX_LEN)).is_ok());
        assert_eq!(
            HostName::parse(&"h".repeat(254)),
            Err(IdError::TooLong { max: 253 })
        );
    }

    #[test]
    fn control_characters_are_rejected() {
        assert_eq!(DedupKey::parse("a\nb"), Err(IdError::ControlCharacter));
        assert_eq!(SyncId::parse("db\u{7f}1"), Err(IdError::ControlCharacter));
        assert_eq!(
            IdError::ControlCharacter.to_string(),
            "must not contain control characters"
        );
    }

    #[test]
    fn names_allow_only_letters_digits_and_dot_underscore_colon_dash() {
        assert!(ChannelId::parse("slack_ops.eu:1-b").is_ok());
        for bad in ["a b", "a/b", "ä", "db#1"] {
            assert_eq!(SyncId::parse(bad), Err(IdError::BadCharacter), "{bad:?}");
        }
        assert_eq!(
            IdError::BadCharacter.to_string(),
            "may only contain letters, digits and . _ : -"
        );
        // Dedup keys are free text: spaces and slashes are fine.
        assert!(DedupKey::parse("disk full /var on db-1").is_ok());
    }

    #[test]
    fn deserializing_an_id_applies_the_same_rules_as_parse() {
        let ok: ServiceName = serde_json::from_value(json!("payments-api")).unwrap();
        assert_eq!(ok, service("payments-api"));
        let error = serde_json::from_value::<ServiceName>(json!("payments api")).unwrap_err();
        assert!(error.to_string().contains("may only contain"), "{error}");
        assert!(serde_json::from_value::<DedupKey>(json!("")).is_err());
        let event = json!({"type": "sync_deleted", "sync_id": "db 1"});
        assert!(schema::decode("sync_deleted", 1, event).is_err());
    }
}
