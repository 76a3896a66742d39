//! `given(aggregate, events).when(command).then(events)` / `.then_err(rejection)`, in the
//! style of cqrs-es `TestFramework` and disintegrate `TestHarness`.
//!
//! `given` wraps domain events into [`RecordedEvent`]s of the aggregate's stream
//! (positions 1.., stream versions 0.., a fixed `recorded_at`, zero hashes), folds them
//! into the aggregate's state, and `when` runs the real decision on that state.

use chrono::{DateTime, Duration, TimeZone, Utc};
use projections::decide::{
    decide_alert, decide_message, decide_sync, decide_task, AlertCommand, MessageCommand,
    MessageState, Rejection, SeriesState, StreamState, SyncCommand, SyncState, TaskCommand,
    TaskState,
};
use projections::ids::{
    AlertId, ChannelId, DedupKey, HostName, MessageId, SeriesId, ServiceName, SyncId, TaskId,
};
use projections::views::Views;
use projections::{streams, Event, Hash, Metadata, RecordedEvent};
use std::fmt::Debug;
use uuid::Uuid;

/// The instant every `given` event is recorded at, and the origin of [`at`].
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `secs` seconds after [`t0`].
pub fn at(secs: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(secs)
}

/// One aggregate: its stream, its folded state and its decision.
pub trait Aggregate {
    /// What the decision reads.
    type State;
    /// What the decision is asked.
    type Command: Debug;
    /// The stream holding the aggregate's events.
    fn stream(&self) -> String;
    /// The state of an empty stream.
    fn initial(&self) -> Self::State;
    /// Folds one event of the stream.
    fn fold(state: &mut Self::State, event: &RecordedEvent);
    /// The real decision.
    fn decide(state: &Self::State, command: Self::Command) -> Result<Vec<Event>, Rejection>;
}

/// An alert series (`alert-<series>`).
pub struct Series(pub SeriesId);
/// A resource (`sync-<id>`).
pub struct Sync(pub SyncId);
/// A task (`task-<id>`).
pub struct Task(pub TaskId);
/// A message's delivery stream (`message-<id>`).
pub struct Message(pub MessageId);

impl Aggregate for Series {
    type State = SeriesState;
    type Command = AlertCommand;
    fn stream(&self) -> String {
        streams::alert_series(self.0)
    }
    fn initial(&self) -> SeriesState {
        SeriesState::new(self.0)
    }
    fn fold(state: &mut SeriesState, event: &RecordedEvent) {
        state.apply(event);
    }
    fn decide(state: &SeriesState, command: AlertCommand) -> Result<Vec<Event>, Rejection> {
        decide_alert(state, command)
    }
}

impl Aggregate for Sync {
    type State = SyncState;
    type Command = SyncCommand;
    fn stream(&self) -> String {
        streams::sync(&self.0)
    }
    fn initial(&self) -> SyncState {
        SyncState::default()
    }
    fn fold(state: &mut SyncState, event: &RecordedEvent) {
        state.apply(event);
    }
    fn decide(state: &SyncState, command: SyncCommand) -> Result<Vec<Event>, Rejection> {
        decide_sync(state, command)
    }
}

impl Aggregate for Task {
    type State = TaskState;
    type Command = TaskCommand;
    fn stream(&self) -> String {
        streams::task(self.0)
    }
    fn initial(&self) -> TaskState {
        TaskState::default()
    }
    fn fold(state: &mut TaskState, event: &RecordedEvent) {
        state.apply(event);
    }
    fn decide(state: &TaskState, command: TaskCommand) -> Result<Vec<Event>, Rejection> {
        decide_task(state, command)
    }
}

impl Aggregate for Message {
    type State = MessageState;
    type Command = MessageCommand;
    fn stream(&self) -> String {
        streams::message(self.0)
    }
    fn initial(&self) -> MessageState {
        MessageState::default()
    }
    fn fold(state: &mut MessageState, event: &RecordedEvent) {
        state.apply(event);
    }
    fn decide(state: &MessageState, command: MessageCommand) -> Result<Vec<Event>, Rejection> {
        decide_message(state, command)
    }
}

/// Wraps `events` as the consecutive records of `stream`, starting at `first` (used as
/// both the first position, 1-based, and, minus one, the first stream version).
pub fn record_from(
    stream: &str,
    first: u64,
    events: impl IntoIterator<Item = Event>,
) -> Vec<RecordedEvent> {
    events
        .into_iter()
        .zip(first..)
        .map(|(event, position)| RecordedEvent {
            event_id: Uuid::from_u128(u128::from(position)),
            stream: stream.to_owned(),
            stream_version: position - 1,
            position,
            recorded_at: t0(),
            schema_version: event.schema_version(),
            metadata: Metadata::default(),
            event,
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        })
        .collect()
}

/// Wraps `events` as the whole of `stream` (positions 1.., versions 0..).
pub fn record(stream: &str, events: impl IntoIterator<Item = Event>) -> Vec<RecordedEvent> {
    record_from(stream, 1, events)
}

/// The history of an aggregate, ready for a command.
pub struct Given<A: Aggregate> {
    aggregate: A,
    history: Vec<RecordedEvent>,
}

/// Starts a decision test: `aggregate`'s stream already holds `events`.
pub fn given<A: Aggregate>(aggregate: A, events: impl IntoIterator<Item = Event>) -> Given<A> {
    let history = record(&aggregate.stream(), events);
    Given { aggregate, history }
}

impl<A: Aggregate> Given<A> {
    /// Folds the history and runs the decision.
    pub fn when(self, command: A::Command) -> When {
        let mut state = self.aggregate.initial();
        for event in &self.history {
            A::fold(&mut state, event);
        }
        let asked = format!("{command:?}");
        When {
            stream: self.aggregate.stream(),
            history: self.history,
            asked,
            result: A::decide(&state, command),
        }
    }
}

/// The outcome of a decision, to assert on.
pub struct When {
    stream: String,
    history: Vec<RecordedEvent>,
    asked: String,
    result: Result<Vec<Event>, Rejection>,
}

impl When {
    /// Asserts the decision recorded exactly `expected`; returns the whole stream
    /// (history, then the new events) as recorded, for further checks.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = Event>) -> Vec<RecordedEvent> {
        let expected: Vec<Event> = expected.into_iter().collect();
        let first = self.history.len() as u64 + 1;
        let (stream, mut history) = (self.stream.clone(), self.history.clone());
        let events = self.events();
        assert_eq!(events, expected, "events decided for the command");
        history.extend(record_from(&stream, first, events));
        history
    }

    /// Asserts the command was accepted and recorded nothing (an idempotent no-op).
    #[track_caller]
    pub fn then_nothing(self) {
        let asked = self.asked.clone();
        let events = self.events();
        assert!(
            events.is_empty(),
            "`{asked}` should record nothing, recorded {events:#?}"
        );
    }

    /// Asserts the command was refused with `expected`.
    #[track_caller]
    pub fn then_err(self, expected: Rejection) {
        match self.result {
            Err(rejection) => assert_eq!(rejection, expected, "rejection of `{}`", self.asked),
            Ok(events) => panic!(
                "`{}` should be rejected with {expected:?}, but recorded {events:#?}",
                self.asked
            ),
        }
    }

    /// The events decided, for assertions that look at parts of them.
    #[track_caller]
    pub fn events(self) -> Vec<Event> {
        match self.result {
            Ok(events) => events,
            Err(rejection) => panic!("`{}` was rejected: {rejection:?}", self.asked),
        }
    }
}

/// Folds `log` into fresh views, asserting that every event applies cleanly.
#[track_caller]
pub fn views_of(log: &[RecordedEvent]) -> Views {
    let mut views = Views::default();
    for event in log {
        if let Err(error) = views.apply(event) {
            panic!("event at {} did not apply: {error}", event.position);
        }
    }
    views
}

/// A log of several streams in one `$all` order, built append by append: positions
/// 1.., each stream's versions 0.., and `recorded_at` one second per position.
#[derive(Default)]
pub struct Log {
    /// Every record, in position order.
    pub records: Vec<RecordedEvent>,
}

impl Log {
    /// Appends `events` to `stream`; returns the records appended.
    pub fn append(
        &mut self,
        stream: &str,
        events: impl IntoIterator<Item = Event>,
    ) -> Vec<RecordedEvent> {
        let first = self.records.iter().filter(|r| r.stream == stream).count() as u64;
        let mut appended = Vec::new();
        for (version, event) in (first..).zip(events) {
            let position = self.records.len() as u64 + 1;
            let record = RecordedEvent {
                stream_version: version,
                position,
                recorded_at: at(position as i64),
                ..record_from(stream, position, [event]).remove(0)
            };
            appended.push(record.clone());
            self.records.push(record);
        }
        appended
    }
}

/// A service name.
pub fn service(raw: &str) -> ServiceName {
    ServiceName::parse(raw).unwrap()
}

/// A dedup key.
pub fn key(raw: &str) -> DedupKey {
    DedupKey::parse(raw).unwrap()
}

/// A channel.
pub fn channel(raw: &str) -> ChannelId {
    ChannelId::parse(raw).unwrap()
}

/// A resource id.
pub fn sync_id(raw: &str) -> SyncId {
    SyncId::parse(raw).unwrap()
}

/// A host name.
pub fn host(raw: &str) -> HostName {
    HostName::parse(raw).unwrap()
}

/// A task id that reads as a number.
pub fn task_id(n: u128) -> TaskId {
    TaskId(Uuid::from_u128(0x7a5c_0000 + n))
}

/// A message id that reads as a number.
pub fn message_id(n: u128) -> MessageId {
    MessageId(Uuid::from_u128(0x3e55_0000 + n))
}

/// An alert id that no series derives.
pub fn stray_alert() -> AlertId {
    AlertId(Uuid::from_u128(0xdead_beef))
}
