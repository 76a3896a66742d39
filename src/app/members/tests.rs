use super::*;
use projections::EventFilter;

fn group(partitions: u16, timeout_secs: u32) -> ConsumerGroupView {
    ConsumerGroupView {
        name: ConsumerName::parse("billing").unwrap(),
        filter: EventFilter::default(),
        partitions,
        member_timeout_secs: timeout_secs,
        start_after: 10,
        checkpoints: vec![10; usize::from(partitions)],
        created_at: chrono::Utc::now(),
        created_position: 1,
        acked_at: None,
        last_position: 1,
    }
}

fn member(name: &str) -> MemberId {
    MemberId::parse(name).unwrap()
}

fn partitions(plan: &Plan) -> Vec<u16> {
    plan.seen.keys().copied().collect()
}

#[test]
fn a_lone_member_holds_every_partition_from_the_checkpoint() {
    let members = Members::default();
    let view = group(4, 30);
    let plan = members.read_started(&view, &member("a"), Instant::now());
    assert_eq!(partitions(&plan), [0, 1, 2, 3]);
    assert_eq!(plan.cursor(), Some(10));
    assert!(plan.wants(2, 11));
    assert!(
        !plan.wants(2, 10),
        "at the checkpoint: already acknowledged"
    );
}

#[test]
fn a_partition_moves_to_a_new_member_only_once_its_holder_acknowledged_it() {
    let members = Members::default();
    let view = group(2, 30);
    let now = Instant::now();
    let (a, b) = (member("a"), member("b"));
    let plan = members.read_started(&view, &a, now);
    // a is handed an event in each partition, and looks at the log up to 20.
    let kept = members.handed(&view.name, &a, &plan, 20, &[(0, 15), (1, 18)]);
    assert_eq!(kept.into_iter().collect::<Vec<_>>(), [0, 1]);

    // b joins: partition 1 is b's target, but a has not acknowledged event 18 yet.
    let plan_b = members.read_started(&view, &b, now);
    assert!(partitions(&plan_b).is_empty(), "nothing until a drains");
    let plan_a = members.plan(&view.name, &a, now);
    assert_eq!(
        partitions(&plan_a),
        [0],
        "a is handed nothing new of partition 1"
    );

    // a acknowledges up to 16: everything it was handed in partition 0 (15), so
    // partition 0 moves to what was looked at (20); partition 1 (handed 18) to 16.
    let moved = members.ack(&view.name, &a, 16, now).unwrap();
    assert_eq!(
        moved,
        [
            PartitionCheckpoint {
                partition: 0,
                position: 20
            },
            PartitionCheckpoint {
                partition: 1,
                position: 16
            },
        ]
    );
    members.acked(&view.name, &moved, now);
    assert!(partitions(&members.plan(&view.name, &b, now)).is_empty());

    // a acknowledges 18, everything it was handed: partition 1 moves to what it
    // looked at, and goes to b from there.
    let moved = members.ack(&view.name, &a, 18, now).unwrap();
    assert_eq!(
        moved,
        [PartitionCheckpoint {
            partition: 1,
            position: 20
        }]
    );
    members.acked(&view.name, &moved, now);
    let plan_b = members.plan(&view.name, &b, now);
    assert_eq!(plan_b.seen, BTreeMap::from([(1, 20)]));
    assert_eq!(partitions(&members.plan(&view.name, &a, now)), [0]);
}

#[test]
fn events_of_a_partition_that_moved_while_the_log_was_read_are_not_handed() {
    let members = Members::default();
    let view = group(2, 1);
    let start = Instant::now();
    let (a, b) = (member("a"), member("b"));
    let plan_a = members.read_started(&view, &a, start);
    members.read_ended(&view.name, &a, start);
    // b reads while a is idle; a times out, so b takes both partitions.
    let later = start + Duration::from_secs(5);
    let plan_b = members.read_started(&view, &b, later);
    assert_eq!(partitions(&plan_b), [0, 1]);
    // a's read, planned before, ends: nothing of it may be handed.
    assert!(members
        .handed(&view.name, &a, &plan_a, 30, &[(0, 12)])
        .is_empty());
    assert_eq!(
        members.ack(&view.name, &a, 30, later),
        Err(AckRefusal::NotMember)
    );
}

#[test]
fn a_member_that_times_out_leaves_its_unacknowledged_events_to_the_others() {
    let members = Members::default();
    let view = group(2, 1);
    let start = Instant::now();
    let (a, b) = (member("a"), member("b"));
    members.read_started(&view, &a, start);
    members.read_started(&view, &b, start);
    // a held both partitions before b joined; it keeps partition 0 (its target).
    let plan = members.plan(&view.name, &a, start);
    assert!(plan.seen.contains_key(&0));
    members.handed(&view.name, &a, &plan, 40, &[(0, 35)]);
    members.read_ended(&view.name, &a, start);
    // While a is within its timeout, b is not handed a's partitions.
    let soon = start + Duration::from_millis(500);
    let held_by_b = partitions(&members.plan(&view.name, &b, soon));
    assert!(!held_by_b.contains(&0), "{held_by_b:?}");
    // After it, b holds both, partition 0 from the checkpoint (35 was never acked).
    let later = start + Duration::from_secs(3);
    let plan_b = members.plan(&view.name, &b, later);
    assert_eq!(plan_b.seen.get(&0), Some(&10));
    assert_eq!(partitions(&plan_b), [0, 1]);
}

#[test]
fn a_new_read_is_handed_again_what_the_last_did_not_acknowledge() {
    let members = Members::default();
    let view = group(1, 30);
    let now = Instant::now();
    let a = member("a");
    let plan = members.read_started(&view, &a, now);
    members.handed(&view.name, &a, &plan, 50, &[(0, 40)]);
    assert!(
        !members.plan(&view.name, &a, now).wants(0, 40),
        "within the read"
    );
    members.read_ended(&view.name, &a, now);
    let moved = members.ack(&view.name, &a, 30, now).unwrap();
    members.acked(&view.name, &moved, now);
    let again = members.read_started(&view, &a, now);
    assert_eq!(again.seen, BTreeMap::from([(0, 30)]), "from the checkpoint");
    assert!(again.wants(0, 40));
}

#[test]
fn a_partition_draining_from_a_member_moves_when_that_member_starts_a_new_read() {
    let members = Members::default();
    let view = group(2, 30);
    let now = Instant::now();
    let (a, b) = (member("a"), member("b"));
    let plan = members.read_started(&view, &a, now);
    members.handed(&view.name, &a, &plan, 20, &[(1, 18)]);
    members.read_ended(&view.name, &a, now);
    members.read_started(&view, &b, now);
    assert!(
        partitions(&members.plan(&view.name, &b, now)).is_empty(),
        "a drains 1"
    );
    // a reads again without acknowledging 18: it gives it up, so partition 1 moves to
    // b from the checkpoint, and 18 is handed again there.
    let plan_a = members.read_started(&view, &a, now);
    assert_eq!(partitions(&plan_a), [0]);
    let plan_b = members.plan(&view.name, &b, now);
    assert_eq!(plan_b.seen, BTreeMap::from([(1, 10)]));
    assert!(plan_b.wants(1, 18));
}
