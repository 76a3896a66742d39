//! The abstract operations of a random scenario and their generator; [`crate::world`]
//! turns each into a real command against the current state.
//!
//! Lists of ids (a trigger's channels, a task's hosts, a route's channels, a policy
//! step's channels, a task rule's hosts) sometimes carry a [`Repeat`]: a copy of one
//! of their entries, the input that once wrote two messages with one id.

use proptest::prelude::*;

/// How many task ids scenarios use (so creating one twice happens).
pub const TASKS: u8 = 4;

/// A copy of entry `from` (modulo the length) inserted before index `at` (modulo the
/// length plus one) of a list of ids.
pub type Repeat = Option<(u8, u8)>;

/// `items` with the repeat applied (an empty list stays empty).
pub fn with_repeat<T: Clone>(mut items: Vec<T>, repeat: Repeat) -> Vec<T> {
    if let Some((from, at)) = repeat.filter(|_| !items.is_empty()) {
        let copy = items[usize::from(from) % items.len()].clone();
        items.insert(usize::from(at) % (items.len() + 1), copy);
    }
    items
}

/// One step of a random scenario; indices are taken modulo what exists.
#[derive(Debug, Clone)]
pub enum Op {
    Trigger {
        service: u8,
        key: u8,
        resource: Option<u8>,
        /// The service read the resource before a deletion on another instance.
        stale: bool,
        channels: u8,
        /// Repeats one of the trigger's own channels.
        repeat: Repeat,
        escalation: u8,
        /// Repeats a channel of the escalation step.
        step_repeat: Repeat,
        severity: u8,
    },
    /// Create (0), acknowledge (1) or delete (2) a consumer group; an
    /// acknowledgement names a partition and a position `back` events before the end.
    Consumer {
        kind: u8,
        group: u8,
        partition: u8,
        back: u16,
    },
    Acknowledge(u8),
    Resolve(u8, bool),
    Escalate(u8),
    Note(u8),
    FireTimer {
        timer: u8,
        early: bool,
    },
    Tick(u16),
    RegisterSync {
        sync: u8,
        name: u8,
    },
    DeleteSync(u8),
    CreateTask {
        task: u8,
        hosts: u8,
        repeat: Repeat,
        alert: Option<u8>,
    },
    StartHost {
        task: u8,
        host: u8,
    },
    FinishHost {
        task: u8,
        host: u8,
        exit_code: i8,
    },
    TimeOutHost {
        task: u8,
        host: u8,
    },
    CancelTask(u8),
    /// `instance` 2 means "whoever holds the claim now".
    Claim {
        message: u8,
        instance: u8,
        lease: u16,
    },
    Attempt {
        message: u8,
        instance: u8,
    },
    Deliver {
        message: u8,
        instance: u8,
    },
    Fail {
        message: u8,
        instance: u8,
        retry: bool,
    },
    Abandon(u8),
    /// Channels, routes, policies and task rules; `kind` picks which command, and
    /// `repeat` applies to the route's channels, the last policy step's channels or
    /// the rule's hosts.
    Config {
        kind: u8,
        a: u8,
        b: u8,
        repeat: Repeat,
    },
}

/// Mostly no repeat: most commands must go through for the log to grow.
fn repeat() -> impl Strategy<Value = Repeat> {
    prop::option::weighted(0.15, (any::<u8>(), any::<u8>()))
}

/// A random operation, weighted towards the ones that open paths for the others.
pub fn op() -> impl Strategy<Value = Op> {
    let trigger = (
        (0u8..2, 0u8..3, prop::option::of(0u8..3), any::<bool>()),
        (0u8..4, repeat(), 0u8..4, repeat(), 0u8..4),
    )
        .prop_map(
            |(
                (service, key, resource, stale),
                (channels, repeat, escalation, step_repeat, severity),
            )| Op::Trigger {
                service,
                key,
                resource,
                stale,
                channels,
                repeat,
                escalation,
                step_repeat,
                severity,
            },
        );
    let n = || 0u8..16;
    prop_oneof![
        6 => trigger,
        2 => n().prop_map(Op::Acknowledge),
        2 => (n(), any::<bool>()).prop_map(|(a, s)| Op::Resolve(a, s)),
        1 => n().prop_map(Op::Escalate),
        1 => n().prop_map(Op::Note),
        3 => (n(), prop::bool::weighted(0.2)).prop_map(|(timer, early)| Op::FireTimer { timer, early }),
        2 => (1u16..900).prop_map(Op::Tick),
        3 => (0u8..3, 0u8..2).prop_map(|(sync, name)| Op::RegisterSync { sync, name }),
        1 => (0u8..3).prop_map(Op::DeleteSync),
        2 => (0..TASKS, 0u8..8, repeat(), prop::option::of(n()))
            .prop_map(|(task, hosts, repeat, alert)| Op::CreateTask { task, hosts, repeat, alert }),
        2 => (0..TASKS, 0u8..3).prop_map(|(task, host)| Op::StartHost { task, host }),
        2 => (0..TASKS, 0u8..3, -2i8..3)
            .prop_map(|(task, host, exit_code)| Op::FinishHost { task, host, exit_code }),
        1 => (0..TASKS, 0u8..3).prop_map(|(task, host)| Op::TimeOutHost { task, host }),
        1 => (0..TASKS).prop_map(Op::CancelTask),
        4 => (n(), 0u8..3, 1u16..120)
            .prop_map(|(message, instance, lease)| Op::Claim { message, instance, lease }),
        3 => (n(), 0u8..3).prop_map(|(message, instance)| Op::Attempt { message, instance }),
        2 => (n(), 0u8..3).prop_map(|(message, instance)| Op::Deliver { message, instance }),
        2 => (n(), 0u8..3, any::<bool>())
            .prop_map(|(message, instance, retry)| Op::Fail { message, instance, retry }),
        1 => n().prop_map(Op::Abandon),
        2 => (0u8..6, 0u8..3, 0u8..4, repeat())
            .prop_map(|(kind, a, b, repeat)| Op::Config { kind, a, b, repeat }),
        1 => (0u8..3, 0u8..2, 0u8..4, any::<u16>())
            .prop_map(|(kind, group, partition, back)| Op::Consumer { kind, group, partition, back }),
    ]
}

/// A scenario of up to `max` operations.
pub fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 1..max)
}
