use super::*;
use kurrentdb::GrpcConnectionError;
use projections::ids::AlertId;
use projections::Event;
use uuid::Uuid;

fn note(text: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event: Event::NoteAdded {
            alert_id: AlertId(Uuid::from_u128(7)),
            text: text.into(),
        },
        metadata: Metadata {
            actor: Some("ops".into()),
            correlation_id: Some(Uuid::from_u128(1)),
            causation_id: Some(Uuid::from_u128(2)),
            source: Some("api".into()),
        },
    }
}

fn at() -> DateTime<Utc> {
    "2026-01-02T03:04:05.123456Z".parse().unwrap()
}

fn stored<'a>(
    stream: &'a str,
    revision: u64,
    commit: u64,
    event: &'a EncodedEvent,
) -> StoredRecord<'a> {
    StoredRecord {
        stream,
        event_type: event.event_type,
        revision,
        commit,
        data: &event.data,
        custom_metadata: &event.custom_metadata,
    }
}

#[test]
fn expected_versions_map_to_stream_states_and_back() {
    let cases = [
        (ExpectedVersion::Any, StreamState::Any),
        (ExpectedVersion::NoStream, StreamState::NoStream),
        (ExpectedVersion::Exact(0), StreamState::StreamRevision(0)),
        (ExpectedVersion::Exact(41), StreamState::StreamRevision(41)),
        (
            ExpectedVersion::Exact(u64::MAX - 1),
            StreamState::StreamRevision(u64::MAX - 1),
        ),
    ];
    for (ours, theirs) in cases {
        assert_eq!(to_stream_state(ours), theirs);
        assert_eq!(from_stream_state(theirs), ours);
    }
    assert_eq!(
        from_stream_state(StreamState::StreamExists),
        ExpectedVersion::Any
    );
}

#[test]
fn revisions_are_stream_versions() {
    assert_eq!(from_current_revision(CurrentRevision::NoStream), None);
    assert_eq!(from_current_revision(CurrentRevision::Current(0)), Some(0));
    assert_eq!(
        from_current_revision(CurrentRevision::Current(99)),
        Some(99)
    );
}

#[test]
fn positions_are_odd_strictly_increasing_and_never_zero() {
    let commits = [0u64, 1, 2, 127, 128, 4096, 1 << 40];
    let positions: Vec<Position> = commits.iter().map(|&c| to_position(c)).collect();
    assert!(positions.iter().all(|p| p % 2 == 1 && *p > 0));
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert_eq!(to_position(u64::MAX), u64::MAX, "saturates");
    let all = to_all_position(4096);
    assert_eq!((all.commit, all.prepare), (4096, 4096));
}

#[test]
fn read_all_from_a_position_or_one_past_it_names_a_record_boundary() {
    assert_eq!(read_from(0), ReadFrom::Start);
    assert_eq!(read_from(1), ReadFrom::Start);
    for commit in [0u64, 5, 4096, 1 << 40] {
        let position = to_position(commit);
        if commit > 0 {
            assert_eq!(
                read_from(position),
                ReadFrom::At(commit),
                "the record itself"
            );
        }
        assert_eq!(
            read_from(position + 1),
            ReadFrom::After(commit),
            "strictly after it"
        );
    }
}

#[test]
fn wrong_expected_version_is_a_conflict_with_the_actual_version() {
    let err = conflict(
        "alert-1",
        ExpectedVersion::Exact(3),
        CurrentRevision::Current(5),
    );
    match err {
        StoreError::Conflict {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, "alert-1");
            assert_eq!(expected, ExpectedVersion::Exact(3));
            assert_eq!(actual, Some(5));
        }
        other => panic!("{other:?}"),
    }
    let err = conflict(
        "alert-1",
        ExpectedVersion::Exact(0),
        CurrentRevision::NoStream,
    );
    assert!(
        matches!(err, StoreError::Conflict { actual: None, .. }),
        "{err:?}"
    );
}

#[test]
fn transport_and_server_failures_are_unavailable() {
    let cases = [
        kurrentdb::Error::ConnectionClosed,
        kurrentdb::Error::GrpcConnectionError(GrpcConnectionError::Grpc(
            "transport error: Connection refused (os error 111)".into(),
        )),
        kurrentdb::Error::GrpcConnectionError(GrpcConnectionError::MaxDiscoveryAttemptReached(10)),
        kurrentdb::Error::DeadlineExceeded,
        kurrentdb::Error::ServerError("status: Unavailable".into()),
        kurrentdb::Error::ResourceDeleted,
        kurrentdb::Error::AccessDenied,
    ];
    for err in cases {
        let shown = err.to_string();
        match map_error("append", err) {
            StoreError::Unavailable(text) => {
                assert!(text.starts_with("kurrentdb append"), "{text}");
                assert!(!text.is_empty() && !shown.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    let refused = map_error(
        "read $all",
        kurrentdb::Error::GrpcConnectionError(GrpcConnectionError::Grpc(
            "Connection refused".into(),
        )),
    );
    assert!(
        refused.to_string().contains("connection failed"),
        "{refused}"
    );
    let deleted = map_error("read stream", kurrentdb::Error::ResourceDeleted);
    assert!(deleted.to_string().contains("deleted"), "{deleted}");
}

#[test]
fn events_round_trip_through_data_and_custom_metadata_byte_exact() {
    let events = vec![note("first"), note("second"), note("third")];
    let (encoded, tip) = encode_events("alert-7", 4, at(), ChainTip::GENESIS, &events).unwrap();
    assert_eq!(tip.seq, 3);
    assert_eq!(tip.hash, encoded[2].hash);

    let mut prev = Hash::GENESIS;
    for (i, (record, event)) in encoded.iter().zip(&events).enumerate() {
        assert_eq!(record.event_type, event.event.event_type());
        // The data is exactly what the codec hashes.
        assert_eq!(record.hash, codec::chain_hash(&prev, &record.data));
        let chain: ChainMetadata = serde_json::from_slice(&record.custom_metadata).unwrap();
        assert_eq!(chain.seq, i as u64 + 1);
        assert_eq!(chain.prev_hash, prev.to_hex());
        assert_eq!(chain.hash, record.hash.to_hex());
        assert_eq!(chain.metadata, event.metadata);
        assert_eq!(
            chain.correlation_id.as_deref(),
            Some(Uuid::from_u128(1).to_string().as_str())
        );

        let commit = 1000 + 150 * i as u64;
        let decoded = decode_record(&stored("alert-7", 4 + i as u64, commit, record)).unwrap();
        assert_eq!(decoded.event_id, event.event_id);
        assert_eq!(decoded.stream, "alert-7");
        assert_eq!(decoded.stream_version, 4 + i as u64);
        assert_eq!(decoded.position, to_position(commit));
        assert_eq!(decoded.recorded_at, at());
        assert_eq!(decoded.schema_version, event.event.schema_version());
        assert_eq!(decoded.metadata, event.metadata);
        assert_eq!(decoded.event, event.event);
        assert_eq!(decoded.prev_hash, prev);
        assert_eq!(decoded.hash, record.hash);
        assert!(hash_matches(&stored("alert-7", 4 + i as u64, commit, record), &prev).unwrap());
        assert!(is_ours(&stored("alert-7", 4 + i as u64, commit, record)));
        assert_eq!(
            chain_tip(&stored("alert-7", 4 + i as u64, commit, record)).unwrap(),
            ChainTip {
                seq: i as u64 + 1,
                hash: record.hash
            }
        );
        prev = record.hash;
    }

    // The next append chains on from the tip.
    let (more, _) = encode_events("task-1", 0, at(), tip, &[note("later")]).unwrap();
    let chain: ChainMetadata = serde_json::from_slice(&more[0].custom_metadata).unwrap();
    assert_eq!((chain.seq, chain.prev_hash), (4, tip.hash.to_hex()));
}

#[test]
fn tampered_or_mislabelled_records_do_not_decode_or_verify() {
    let (encoded, _) = encode_events("alert-7", 0, at(), ChainTip::GENESIS, &[note("x")]).unwrap();
    let record = &encoded[0];

    let mut data = record.data.clone();
    let at_x = data.iter().rposition(|b| *b == b'x').unwrap();
    data[at_x] = b'y';
    let tampered = StoredRecord {
        data: &data,
        ..stored("alert-7", 0, 10, record)
    };
    assert!(!hash_matches(&tampered, &Hash::GENESIS).unwrap());

    let wrong_stream = stored("alert-8", 0, 10, record);
    assert!(matches!(
        decode_record(&wrong_stream),
        Err(StoreError::Decode { .. })
    ));
    let wrong_revision = stored("alert-7", 1, 10, record);
    assert!(matches!(
        decode_record(&wrong_revision),
        Err(StoreError::Decode { .. })
    ));
    let wrong_type = StoredRecord {
        event_type: "AlertTriggered",
        ..stored("alert-7", 0, 10, record)
    };
    assert!(matches!(
        decode_record(&wrong_type),
        Err(StoreError::Decode { .. })
    ));

    let foreign = StoredRecord {
        custom_metadata: b"{}",
        ..stored("alert-7", 0, 10, record)
    };
    assert!(!is_ours(&foreign));
    match decode_record(&foreign) {
        Err(StoreError::Decode { position, .. }) => assert_eq!(position, to_position(10)),
        other => panic!("{other:?}"),
    }
    let system = StoredRecord {
        stream: "$stats-127.0.0.1:2113",
        ..stored("alert-7", 0, 10, record)
    };
    assert!(!is_ours(&system));
}

#[test]
fn our_urls_become_client_connection_strings() {
    let ok = [
        (
            "kurrentdb://localhost:2113?tls=false",
            "kurrentdb://localhost:2113?tls=false",
        ),
        (
            "esdb://admin:changeit@db:2113",
            "kurrentdb://admin:changeit@db:2113",
        ),
        (
            "esdb+discover://a:2113,b:2113?tls=false",
            "kurrentdb+discover://a:2113,b:2113?tls=false",
        ),
        (
            "kurrentdb+discover://cluster.local:2113",
            "kurrentdb+discover://cluster.local:2113",
        ),
    ];
    for (ours, theirs) in ok {
        assert_eq!(connection_string(ours).unwrap(), theirs);
        assert!(
            theirs.parse::<kurrentdb::ClientSettings>().is_ok(),
            "{theirs}"
        );
    }
    for bad in [
        "postgres://x",
        "kurrentdb://",
        "kurrentdb:///x",
        "localhost:2113",
    ] {
        assert!(
            matches!(connection_string(bad), Err(StoreError::Unavailable(_))),
            "{bad}"
        );
    }
}
