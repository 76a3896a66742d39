//! Random *valid* logs: abstract operations are turned into real commands against the
//! current state, run through the real decisions, and whatever they decide is appended
//! (rejected commands are skipped), exactly as the service would do it one command at
//! a time. Views are applied incrementally as the log grows. The operations and
//! their generator are in [`crate::scenario`].

use crate::scenario::{with_repeat, Op, Repeat};
use chrono::{DateTime, Duration, Utc};
use projections::decide::{
    decide_alert, decide_config, decide_consumer, decide_message, decide_sync, decide_task,
    AlertCommand, ConfigCommand, ConfigState, ConsumerCommand, ConsumerState, MessageCommand,
    MessageState, Rejection, ResourceCheck, SeriesState, StreamState, SyncCommand, SyncState,
    TaskCommand, TaskState, Trigger,
};
use projections::ids::{
    AlertId, ChannelId, ConsumerName, DedupKey, HostName, MemberId, MessageId, PolicyId, RuleId,
    SeriesId, ServiceName, SyncId, TaskId, TimerId,
};
use projections::views::{FoldError, Views};
use projections::{streams, Event, Hash, Metadata, RecordedEvent, ResolvedBy, Severity, TaskSpec};
use projections::{ChannelTarget, EscalationStep};
use std::collections::BTreeMap;
use uuid::Uuid;

const SERVICES: [&str; 2] = ["payments-api", "checkout"];
const KEYS: [&str; 3] = ["disk-full", "latency p99", "5xx"];
const SYNCS: [&str; 3] = ["db-1", "db-2", "cache-1"];
const CHANNELS: [&str; 3] = ["pager", "slack-ops", "email"];
const HOSTS: [&str; 3] = ["web-1", "web-2", "db-1"];
const INSTANCES: [&str; 2] = ["dispatcher-a", "dispatcher-b"];
const DELAYS: [u32; 3] = [30, 120, 600];

/// A log under construction with its incrementally applied views.
pub struct World {
    /// Every record, in position order.
    pub log: Vec<RecordedEvent>,
    /// The views, applied one event at a time as the log grew.
    pub views: Views,
    /// Fold errors met while applying (must stay empty for valid logs).
    pub fold_errors: Vec<FoldError>,
    /// Commands the decisions refused (skipped), with the stream they were for.
    pub rejected: Vec<(String, Rejection)>,
    clock: DateTime<Utc>,
    streams: BTreeMap<String, Vec<usize>>,
    alerts: Vec<(AlertId, SeriesId)>,
    timers: Vec<(TimerId, SeriesId, DateTime<Utc>)>,
}

impl World {
    /// Runs every operation of a scenario.
    pub fn run(ops: &[Op]) -> World {
        let mut world = World {
            log: Vec::new(),
            views: Views::default(),
            fold_errors: Vec::new(),
            rejected: Vec::new(),
            clock: crate::harness::t0(),
            streams: BTreeMap::new(),
            alerts: Vec::new(),
            timers: Vec::new(),
        };
        for op in ops {
            world.step(op);
        }
        world
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Trigger { .. } => self.trigger(op),
            Op::Acknowledge(a) => {
                self.on_alert(*a, |alert_id, _| AlertCommand::Acknowledge { alert_id })
            }
            Op::Resolve(a, by_source) => {
                let resolved_by = if *by_source {
                    ResolvedBy::Source
                } else {
                    ResolvedBy::Person
                };
                self.on_alert(*a, |alert_id, _| AlertCommand::Resolve {
                    alert_id,
                    resolved_by,
                })
            }
            Op::Escalate(a) => {
                self.on_alert(*a, |alert_id, now| AlertCommand::Escalate { alert_id, now })
            }
            Op::Note(a) => self.on_alert(*a, |alert_id, _| AlertCommand::AddNote {
                alert_id,
                text: "looked at it".into(),
            }),
            Op::FireTimer { timer, early } => self.fire_timer(*timer, *early),
            Op::Tick(secs) => self.clock += Duration::seconds(i64::from(*secs)),
            Op::RegisterSync { sync, name } => {
                let sync_id = pick_sync(*sync);
                let name = format!("resource {name}");
                self.sync(sync_id.clone(), SyncCommand::Register { sync_id, name });
            }
            Op::DeleteSync(sync) => {
                let sync_id = pick_sync(*sync);
                self.sync(sync_id.clone(), SyncCommand::Delete { sync_id });
            }
            Op::CreateTask {
                task,
                hosts,
                repeat,
                alert,
            } => {
                let spec = TaskSpec {
                    script: "/opt/heal/restart.sh".into(),
                    args: vec![format!("--task={task}")],
                    hosts: with_repeat(
                        (0..3u8)
                            .filter(|h| hosts & (1 << h) != 0)
                            .map(pick_host)
                            .collect(),
                        *repeat,
                    ),
                    timeout_secs: 60,
                };
                let alert_id = alert.and_then(|a| self.pick_alert(a)).map(|(id, _)| id);
                let task_id = pick_task(*task);
                self.task(
                    task_id,
                    TaskCommand::Create {
                        task_id,
                        spec,
                        alert_id,
                    },
                );
            }
            Op::StartHost { task, host } => {
                let (task_id, host) = (pick_task(*task), pick_host(*host));
                self.task(task_id, TaskCommand::StartHost { task_id, host });
            }
            Op::FinishHost {
                task,
                host,
                exit_code,
            } => {
                let (task_id, host) = (pick_task(*task), pick_host(*host));
                let command = TaskCommand::FinishHost {
                    task_id,
                    host,
                    exit_code: i32::from(*exit_code),
                    output_tail: format!("exit {exit_code}"),
                };
                self.task(task_id, command);
            }
            Op::TimeOutHost { task, host } => {
                let (task_id, host) = (pick_task(*task), pick_host(*host));
                self.task(task_id, TaskCommand::TimeOutHost { task_id, host });
            }
            Op::CancelTask(task) => {
                let task_id = pick_task(*task);
                let reason = "operator".into();
                self.task(task_id, TaskCommand::Cancel { task_id, reason });
            }
            Op::Claim { .. }
            | Op::Attempt { .. }
            | Op::Deliver { .. }
            | Op::Fail { .. }
            | Op::Abandon(_) => self.message(op),
            Op::Config { kind, a, b, repeat } => self.config(*kind, *a, *b, *repeat),
            Op::Consumer {
                kind,
                group,
                partition,
                back,
            } => self.consumer(*kind, *group, *partition, *back),
        }
    }

    fn consumer(&mut self, kind: u8, group: u8, partition: u8, back: u16) {
        let group = ConsumerName::parse(&format!("group-{group}")).unwrap();
        let end = self.log.len() as u64;
        let command = match kind {
            0 => ConsumerCommand::Create {
                group: group.clone(),
                filter: projections::EventFilter::default(),
                partitions: 4,
                start_after: end.saturating_sub(u64::from(back)),
                member_timeout_secs: 30,
            },
            1 => ConsumerCommand::Ack {
                group: group.clone(),
                member: MemberId::parse("m").unwrap(),
                checkpoints: vec![projections::PartitionCheckpoint {
                    partition: u16::from(partition),
                    position: end.saturating_sub(u64::from(back % 8)),
                }],
            },
            _ => ConsumerCommand::Delete {
                group: group.clone(),
            },
        };
        let stream = streams::consumer(&group);
        let mut state = ConsumerState::default();
        self.fold_stream(&stream, |e| state.apply(e));
        let decided = decide_consumer(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn trigger(&mut self, op: &Op) {
        let Op::Trigger {
            service,
            key,
            resource,
            stale,
            channels,
            repeat,
            escalation,
            step_repeat,
            severity,
        } = op
        else {
            return;
        };
        let service = ServiceName::parse(SERVICES[usize::from(*service)]).unwrap();
        let dedup_key = DedupKey::parse(KEYS[usize::from(*key)]).unwrap();
        let resource = resource.map(|r| {
            let sync_id = pick_sync(r);
            match self.views.syncs.syncs.get(&sync_id) {
                None => ResourceCheck::Unknown(sync_id),
                Some(sync) if sync.deleted && !stale => ResourceCheck::Deleted(sync_id),
                Some(_) => ResourceCheck::Active(sync_id),
            }
        });
        let series = SeriesId::of(&service, &dedup_key);
        let trigger = Trigger {
            summary: format!("{} on {}", dedup_key, service),
            severity: Severity::ALL[usize::from(*severity)],
            details: BTreeMap::from([("op".into(), "trigger".into())]),
            resource,
            channels: with_repeat(
                CHANNELS[..usize::from(*channels)]
                    .iter()
                    .map(|c| ChannelId::parse(c).unwrap())
                    .collect(),
                *repeat,
            ),
            escalation_secs: DELAYS[..usize::from(*escalation)].to_vec(),
            escalation_channels: vec![with_repeat(
                vec![ChannelId::parse(CHANNELS[2]).unwrap()],
                *step_repeat,
            )],
            escalation_repeat: u32::from(*severity % 2),
            now: self.clock,
            service,
            dedup_key,
        };
        self.alert(series, AlertCommand::Trigger(trigger));
    }

    fn pick_alert(&self, index: u8) -> Option<(AlertId, SeriesId)> {
        (!self.alerts.is_empty()).then(|| self.alerts[usize::from(index) % self.alerts.len()])
    }

    fn on_alert(
        &mut self,
        index: u8,
        command: impl FnOnce(AlertId, DateTime<Utc>) -> AlertCommand,
    ) {
        if let Some((alert_id, series)) = self.pick_alert(index) {
            let command = command(alert_id, self.clock);
            self.alert(series, command);
        }
    }

    fn fire_timer(&mut self, index: u8, early: bool) {
        if self.timers.is_empty() {
            return;
        }
        let (timer_id, series, due_at) = self.timers[usize::from(index) % self.timers.len()];
        let now = if early {
            due_at - Duration::seconds(1)
        } else {
            self.clock = self.clock.max(due_at);
            self.clock
        };
        self.alert(series, AlertCommand::FireTimer { timer_id, now });
    }

    fn alert(&mut self, series: SeriesId, command: AlertCommand) {
        let stream = streams::alert_series(series);
        let mut state = SeriesState::new(series);
        self.fold_stream(&stream, |e| state.apply(e));
        let decided = decide_alert(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn sync(&mut self, sync_id: SyncId, command: SyncCommand) {
        let stream = streams::sync(&sync_id);
        let mut state = SyncState::default();
        self.fold_stream(&stream, |e| state.apply(e));
        let decided = decide_sync(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn task(&mut self, task_id: TaskId, command: TaskCommand) {
        let stream = streams::task(task_id);
        let mut state = TaskState::default();
        self.fold_stream(&stream, |e| state.apply(e));
        let decided = decide_task(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn message(&mut self, op: &Op) {
        let ids: Vec<MessageId> = self.views.messages.messages.keys().copied().collect();
        let (index, instance) = match op {
            Op::Claim {
                message, instance, ..
            }
            | Op::Attempt { message, instance }
            | Op::Deliver { message, instance }
            | Op::Fail {
                message, instance, ..
            } => (*message, *instance),
            Op::Abandon(message) => (*message, 0),
            _ => return,
        };
        let Some(&message_id) = ids.get(usize::from(index) % ids.len().max(1)) else {
            return;
        };
        let stream = streams::message(message_id);
        let mut state = MessageState::default();
        self.fold_stream(&stream, |e| state.apply(e));
        let instance = match (instance, &state.claim) {
            (2, Some((holder, _))) => holder.clone(),
            (i, _) => INSTANCES[usize::from(i) % 2].to_owned(),
        };
        let now = self.clock;
        let command = match op {
            Op::Claim { lease, .. } => MessageCommand::Claim {
                message_id,
                instance,
                now,
                lease_until: now + Duration::seconds(i64::from(*lease)),
            },
            Op::Attempt { .. } => MessageCommand::Attempt {
                message_id,
                instance,
            },
            Op::Deliver { .. } => MessageCommand::Deliver {
                message_id,
                instance,
                receipt: "202 Accepted".into(),
            },
            Op::Fail { retry, .. } => MessageCommand::Fail {
                message_id,
                instance,
                error: "connection reset".into(),
                retry_at: retry.then(|| now + Duration::seconds(30)),
            },
            _ => MessageCommand::Abandon {
                message_id,
                reason: "out of attempts".into(),
            },
        };
        let decided = decide_message(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn config(&mut self, kind: u8, a: u8, b: u8, repeat: Repeat) {
        let channel = ChannelId::parse(CHANNELS[usize::from(a) % CHANNELS.len()]).unwrap();
        let service = ServiceName::parse(SERVICES[usize::from(a) % SERVICES.len()]).unwrap();
        let policy = PolicyId::parse(["standard", "urgent"][usize::from(b) % 2]).unwrap();
        let rule = RuleId::parse(["restart", "clear-cache"][usize::from(a) % 2]).unwrap();
        let (stream, command) = match kind {
            0 => (
                streams::channel(&channel),
                ConfigCommand::PutChannel {
                    channel_id: channel.clone(),
                    name: format!("channel {b}"),
                    target: match b % 2 {
                        0 => ChannelTarget::Webhook {
                            url: format!("http://127.0.0.1/{b}"),
                        },
                        _ => ChannelTarget::Slack {
                            url: format!("http://127.0.0.1/s{b}"),
                        },
                    },
                },
            ),
            1 => (
                streams::channel(&channel),
                ConfigCommand::RemoveChannel {
                    channel_id: channel.clone(),
                },
            ),
            2 => (
                streams::service(&service),
                ConfigCommand::SetRoute {
                    service,
                    channels: with_repeat(vec![channel], repeat),
                    policy: b.is_multiple_of(2).then_some(policy),
                },
            ),
            3 => (
                streams::policy(&policy),
                ConfigCommand::SetPolicy {
                    policy_id: policy.clone(),
                    name: format!("policy {b}"),
                    // One or two steps; the repeat goes into the last one.
                    steps: (0..=b % 2)
                        .map(|step| EscalationStep {
                            delay_secs: DELAYS[usize::from(b + step) % DELAYS.len()],
                            channels: if step == b % 2 {
                                with_repeat(vec![channel.clone()], repeat)
                            } else {
                                vec![channel.clone()]
                            },
                        })
                        .collect(),
                    repeat: u32::from(b % 3),
                },
            ),
            4 => (
                streams::task_rule(&rule),
                ConfigCommand::SetTaskRule {
                    rule_id: rule.clone(),
                    service,
                    min_severity: Severity::ALL[usize::from(b) % 4],
                    template: TaskSpec {
                        script: "restart.sh".into(),
                        args: vec![format!("{b}")],
                        hosts: with_repeat(vec![pick_host(b)], repeat),
                        timeout_secs: 30,
                    },
                },
            ),
            _ => (
                streams::task_rule(&rule),
                ConfigCommand::RemoveTaskRule {
                    rule_id: rule.clone(),
                },
            ),
        };
        let mut state = ConfigState::default();
        self.fold_stream(&stream, |e| state.apply(e));
        let decided = decide_config(&state, command);
        self.append(&stream, state.version, decided);
    }

    fn fold_stream(&self, stream: &str, mut fold: impl FnMut(&RecordedEvent)) {
        for &i in self.streams.get(stream).into_iter().flatten() {
            fold(&self.log[i]);
        }
    }

    /// Appends what a decision decided with the expected version it read, as the store
    /// would, and applies it to the views.
    fn append(
        &mut self,
        stream: &str,
        expected: Option<u64>,
        decided: Result<Vec<Event>, Rejection>,
    ) {
        let events = match decided {
            Ok(events) => events,
            Err(rejection) => return self.rejected.push((stream.to_owned(), rejection)),
        };
        let indexes = self.streams.entry(stream.to_owned()).or_default();
        assert_eq!(
            expected.map_or(0, |v| v + 1),
            indexes.len() as u64,
            "expected version"
        );
        for event in events {
            let position = self.log.len() as u64 + 1;
            if let Event::TimerScheduled {
                timer_id,
                alert_id,
                due_at,
                ..
            } = &event
            {
                let series = self.alerts.iter().find(|(a, _)| a == alert_id).unwrap().1;
                self.timers.push((*timer_id, series, *due_at));
            }
            if let Event::AlertTriggered {
                alert_id,
                service,
                dedup_key,
                ..
            } = &event
            {
                self.alerts
                    .push((*alert_id, SeriesId::of(service, dedup_key)));
            }
            let record = RecordedEvent {
                event_id: Uuid::from_u128(u128::from(position)),
                stream: stream.to_owned(),
                stream_version: indexes.len() as u64,
                position,
                recorded_at: self.clock,
                schema_version: event.schema_version(),
                metadata: Metadata {
                    actor: Some("tester".into()),
                    ..Metadata::default()
                },
                event,
                prev_hash: Hash::GENESIS,
                hash: Hash::GENESIS,
            };
            self.clock += Duration::seconds(1);
            if let Err(error) = self.views.apply(&record) {
                self.fold_errors.push(error);
            }
            indexes.push(self.log.len());
            self.log.push(record);
        }
    }
}

fn pick_sync(index: u8) -> SyncId {
    SyncId::parse(SYNCS[usize::from(index) % SYNCS.len()]).unwrap()
}

fn pick_host(index: u8) -> HostName {
    HostName::parse(HOSTS[usize::from(index) % HOSTS.len()]).unwrap()
}

fn pick_task(index: u8) -> TaskId {
    TaskId(Uuid::from_u128(0x7a5c_0000 + u128::from(index)))
}
