use super::*;
use projections::ids::AlertId;

const V1_FIXTURE: &[u8] = include_bytes!("../../tests/fixtures/alert_triggered_v1.json");

fn note_body(position: Position) -> Vec<u8> {
    let event = Event::NoteAdded {
        alert_id: AlertId(Uuid::from_u128(7)),
        text: "checked the disk".into(),
    };
    let metadata = Metadata {
        actor: Some("ops".into()),
        ..Metadata::default()
    };
    let recorded_at = DateTime::from_timestamp(1_700_000_000, 0).expect("valid time");
    body_at(position, &event, &metadata, &event, recorded_at)
}

#[test]
fn a_stored_version_1_alert_triggered_is_upcast_to_the_current_shape() {
    let recorded = decode_body(V1_FIXTURE, 1, Hash::GENESIS, Hash([1; 32])).expect("decodes");
    match &recorded.event {
        Event::AlertTriggered {
            summary,
            details,
            channels,
            ..
        } => {
            assert_eq!(summary, "Disk almost full on db-1");
            assert!(details.is_empty() && channels.is_empty());
        }
        other => panic!("expected alert_triggered, got {other:?}"),
    }
    assert_eq!(recorded.schema_version, 1, "the stored version is reported");
    assert_eq!(recorded.metadata.actor.as_deref(), Some("alertmanager"));
}

#[test]
fn an_unknown_event_type_is_a_decode_error_naming_the_type_and_position() {
    let body = String::from_utf8(note_body(9))
        .expect("utf-8")
        .replace("note_added", "alert_teleported");
    let err = decode_body(body.as_bytes(), 9, Hash::GENESIS, Hash::GENESIS).unwrap_err();
    let DecodeError { position, reason } = err;
    assert_eq!(position, 9);
    assert!(reason.contains("alert_teleported"), "reason: {reason}");
}

#[test]
fn a_version_newer_than_this_build_is_a_decode_error() {
    let body = String::from_utf8(note_body(2))
        .expect("utf-8")
        .replace("\"schema_version\":1", "\"schema_version\":9");
    let err = decode_body(body.as_bytes(), 2, Hash::GENESIS, Hash::GENESIS).unwrap_err();
    assert!(matches!(err, DecodeError { position: 2, .. }), "{err:?}");
}

#[test]
fn a_body_round_trips_through_encode_and_decode() {
    let body = note_body(5);
    let recorded = decode_body(&body, 5, Hash::GENESIS, Hash([2; 32])).expect("decodes");
    assert_eq!(recorded.stream, "alert-1");
    assert_eq!(recorded.stream_version, 3);
    assert_eq!(recorded.hash, Hash([2; 32]));
    let fields = decode_index_fields(&body).expect("index fields");
    assert_eq!((fields.position, fields.stream.as_ref()), (5, "alert-1"));
}

#[test]
fn a_body_found_at_another_position_is_rejected() {
    let body = note_body(5);
    assert!(decode_body(&body, 6, Hash::GENESIS, Hash::GENESIS).is_err());
}

#[test]
fn the_chain_hash_depends_on_the_previous_hash_and_every_body_byte() {
    let body = note_body(1);
    let base = chain_hash(&Hash::GENESIS, &body);
    assert_ne!(base, chain_hash(&Hash([1; 32]), &body));
    let mut edited = body.clone();
    edited[10] ^= 1;
    assert_ne!(base, chain_hash(&Hash::GENESIS, &edited));
}

#[test]
fn a_body_from_encoded_parts_is_the_typed_body_byte_for_byte() {
    let fixture = decode_body(V1_FIXTURE, 1, Hash::GENESIS, Hash([1; 32])).expect("decodes");
    let note = Event::NoteAdded {
        alert_id: AlertId(Uuid::from_u128(7)),
        text: "quote \" backslash \\ newline \n tab \t bell \u{7} é ✓ 🔥".into(),
    };
    let metadata = Metadata {
        actor: Some("ops \"night\" shift".into()),
        correlation_id: Some(Uuid::from_u128(9)),
        causation_id: None,
        source: Some("api".into()),
    };
    for (event, metadata) in [(&fixture.event, &fixture.metadata), (&note, &metadata)] {
        let recorded_at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("time");
        let typed = body_at(12, event, metadata, event, recorded_at);
        let payload = EncodedPayload::new(metadata, event).expect("encodes");
        let time = encode_time(&recorded_at).expect("encodes");
        let spliced = body_at(12, event, &*payload.metadata, &*payload.event, &*time);
        assert_eq!(
            String::from_utf8_lossy(&spliced),
            String::from_utf8_lossy(&typed)
        );
        let decoded = decode_body(&spliced, 12, Hash::GENESIS, Hash([3; 32])).expect("decodes");
        assert_eq!(&decoded.event, event);
    }
}

/// The body of `event` at `position` (stream `alert-1`, version 3), its metadata,
/// payload and time given as any serializable form of them.
fn body_at<M, E, T>(
    position: Position,
    event: &Event,
    metadata: &M,
    payload: &E,
    recorded_at: T,
) -> Vec<u8>
where
    M: Serialize + ?Sized,
    E: Serialize + ?Sized,
    T: Serialize,
{
    let mut out = Vec::new();
    encode_body(
        &mut out,
        &BodyRef {
            event_id: Uuid::from_u128(1),
            stream: "alert-1",
            stream_version: 3,
            position,
            recorded_at,
            event_type: event.event_type(),
            schema_version: event.schema_version(),
            metadata,
            event: payload,
        },
    )
    .expect("encodes");
    out
}
