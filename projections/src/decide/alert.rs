//! Alerts: trigger with dedup, acknowledge, escalate, note, resolve, and escalation
//! timers.
//!
//! All alerts that share a (service, dedup key) live in one *series* stream
//! (`alert-<series>`, ADR 0001). A trigger therefore reads and writes one stream, and
//! the stream's expected version makes "at most one open alert per key" hold under
//! concurrency on one instance or many.

use super::{require_unique, Rejection, StreamState};
use crate::ids::{AlertId, ChannelId, DedupKey, SeriesId, ServiceName, SyncId, TimerId};
use crate::{Event, EventRef, MessageKind, RecordedEvent, ResolvedBy, Severity, StreamVersion};
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// A series stream folded: what a decision needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesState {
    /// The series.
    pub series: SeriesId,
    /// Version of the stream's last event (`None`: no alert ever).
    pub version: Option<StreamVersion>,
    /// How many alerts this series has opened.
    pub generation: u64,
    /// The open alert, if any.
    pub open: Option<OpenAlert>,
    /// Alerts of this series that their resource's deletion resolved (an event in
    /// the resource's stream, not in this one), with that resource.
    pub deleted_with: BTreeMap<AlertId, SyncId>,
}

/// The one open alert of a series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAlert {
    /// Its id.
    pub alert_id: AlertId,
    /// Whether someone acknowledged it.
    pub acknowledged: bool,
    /// Channels that receive its messages.
    pub channels: Vec<ChannelId>,
    /// Delay before each escalation step, in seconds.
    pub escalation_secs: Vec<u32>,
    /// Extra channels per escalation step (aligned with `escalation_secs`).
    pub escalation_channels: Vec<Vec<ChannelId>>,
    /// How many times the steps repeat after the last one.
    pub escalation_repeat: u32,
    /// The escalation step it is on (0: not escalated).
    pub step: u32,
    /// The next escalation timer, if one is pending.
    pub pending_timer: Option<(TimerId, DateTime<Utc>)>,
    /// The resource that owns it: its deletion (an event in another stream) resolves it.
    pub resource: Option<SyncId>,
}

impl SeriesState {
    /// The state of a series with no events.
    pub fn new(series: SeriesId) -> Self {
        SeriesState {
            series,
            version: None,
            generation: 0,
            open: None,
            deleted_with: BTreeMap::new(),
        }
    }

    /// The stream name of this series.
    pub fn stream(&self) -> String {
        crate::streams::alert_series(self.series)
    }
}

impl StreamState for SeriesState {
    /// Folds one event of the series stream.
    fn apply(&mut self, event: &RecordedEvent) {
        self.version = Some(event.stream_version);
        match &event.event {
            Event::AlertTriggered {
                alert_id,
                channels,
                escalation_secs,
                escalation_channels,
                escalation_repeat,
                resource,
                ..
            } => {
                // A new alert while one is open: only the open one's resource deletion
                // (outside this stream) can have resolved it.
                if let Some(OpenAlert {
                    alert_id,
                    resource: Some(sync_id),
                    ..
                }) = self.open.take()
                {
                    self.deleted_with.insert(alert_id, sync_id);
                }
                self.generation += 1;
                self.open = Some(OpenAlert {
                    alert_id: *alert_id,
                    acknowledged: false,
                    channels: channels.clone(),
                    escalation_secs: escalation_secs.clone(),
                    escalation_channels: escalation_channels.clone(),
                    escalation_repeat: *escalation_repeat,
                    step: 0,
                    pending_timer: None,
                    resource: resource.clone(),
                });
            }
            Event::AlertAcknowledged { .. } => {
                if let Some(open) = &mut self.open {
                    open.acknowledged = true;
                    open.pending_timer = None;
                }
            }
            Event::AlertEscalated { step, .. } => {
                if let Some(open) = &mut self.open {
                    open.step = *step;
                    open.pending_timer = None;
                }
            }
            Event::AlertResolved { .. } => self.open = None,
            Event::TimerScheduled {
                timer_id, due_at, ..
            } => {
                if let Some(open) = &mut self.open {
                    open.pending_timer = Some((*timer_id, *due_at));
                }
            }
            Event::TimerFired { .. } => {
                if let Some(open) = &mut self.open {
                    open.pending_timer = None;
                }
            }
            Event::TriggerRepeated { .. }
            | Event::NoteAdded { .. }
            | Event::MessageQueued { .. }
            | Event::SyncRegistered { .. }
            | Event::SyncDeleted { .. }
            | Event::MessageClaimed { .. }
            | Event::DeliveryAttempted { .. }
            | Event::MessageDelivered { .. }
            | Event::MessageFailed { .. }
            | Event::MessageAbandoned { .. }
            | Event::TaskCreated { .. }
            | Event::TaskHostStarted { .. }
            | Event::TaskHostFinished { .. }
            | Event::TaskHostTimedOut { .. }
            | Event::TaskCancelled { .. }
            | Event::ChannelCreated { .. }
            | Event::ChannelUpdated { .. }
            | Event::ChannelRemoved { .. }
            | Event::ServiceRouteSet { .. }
            | Event::EscalationPolicySet { .. }
            | Event::TaskRuleSet { .. }
            | Event::TaskRuleRemoved { .. }
            | Event::DataLossRecorded { .. }
            | Event::ConsumerGroupCreated { .. }
            | Event::ConsumerAcked { .. }
            | Event::ConsumerGroupDeleted { .. } => {}
        }
    }

    fn version(&self) -> Option<StreamVersion> {
        self.version
    }
}

impl SeriesState {
    /// Records that the open alert's resource has been deleted, which resolved the
    /// alert. The deletion is an event in the resource's stream, which this state does
    /// not fold, so the service (which sees it in the views) tells the state before
    /// deciding: afterwards the alert counts as resolved, and a trigger opens a new one.
    pub fn resource_deleted(&mut self, sync_id: &SyncId) {
        if self.open.as_ref().and_then(|o| o.resource.as_ref()) == Some(sync_id) {
            if let Some(open) = self.open.take() {
                self.deleted_with.insert(open.alert_id, sync_id.clone());
            }
        }
    }

    /// The version the next appended event will get.
    fn next_version(&self) -> StreamVersion {
        self.version.map_or(0, |v| v + 1)
    }

    /// Whether `alert_id` is an earlier, resolved alert of this series.
    fn was_resolved(&self, alert_id: AlertId) -> bool {
        let open_generations = u64::from(self.open.is_some());
        (0..self.generation - open_generations).any(|g| AlertId::of(self.series, g) == alert_id)
    }

    fn open_alert(&self, alert_id: AlertId) -> Result<&OpenAlert, Rejection> {
        match &self.open {
            Some(open) if open.alert_id == alert_id => Ok(open),
            _ if self.was_resolved(alert_id) => Err(match self.deleted_with.get(&alert_id) {
                Some(sync_id) => Rejection::AlertResolvedByDeletion {
                    alert_id,
                    sync_id: sync_id.clone(),
                },
                None => Rejection::AlertAlreadyResolved(alert_id),
            }),
            _ => Err(Rejection::UnknownAlert(alert_id)),
        }
    }
}

/// Whether the resource a trigger names may own an alarm, as the service saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceCheck {
    /// Registered and not deleted.
    Active(SyncId),
    /// Registered, then deleted.
    Deleted(SyncId),
    /// Never registered.
    Unknown(SyncId),
}

/// A trigger: open a new alert or record a repeat on the open one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Service the alert belongs to.
    pub service: ServiceName,
    /// Dedup key (with `service`, selects the series).
    pub dedup_key: DedupKey,
    /// One-line description.
    pub summary: String,
    /// How bad it is.
    pub severity: Severity,
    /// Context from the source.
    pub details: BTreeMap<String, String>,
    /// The owning resource and its state, if any.
    pub resource: Option<ResourceCheck>,
    /// Channels subscribed to the service, for a new alert's messages.
    pub channels: Vec<ChannelId>,
    /// Escalation delays (seconds) of the service's policy, for a new alert.
    pub escalation_secs: Vec<u32>,
    /// Extra channels per escalation step (aligned with `escalation_secs`).
    pub escalation_channels: Vec<Vec<ChannelId>>,
    /// How many times the steps repeat after the last one.
    pub escalation_repeat: u32,
    /// The service's clock, for scheduling the first escalation.
    pub now: DateTime<Utc>,
}

/// What can be asked of an alert series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertCommand {
    /// Open an alert or record a repeat.
    Trigger(Trigger),
    /// Take ownership; stops escalation. A second acknowledge is a no-op.
    Acknowledge {
        /// The alert.
        alert_id: AlertId,
    },
    /// Move to the next escalation step now.
    Escalate {
        /// The alert.
        alert_id: AlertId,
        /// The service's clock, for scheduling the following step.
        now: DateTime<Utc>,
    },
    /// Attach a note (allowed on resolved alerts too: post-incident notes).
    AddNote {
        /// The alert.
        alert_id: AlertId,
        /// The note.
        text: String,
    },
    /// Close the alert.
    Resolve {
        /// The alert.
        alert_id: AlertId,
        /// Who closed it.
        resolved_by: ResolvedBy,
    },
    /// Fire a due escalation timer.
    FireTimer {
        /// The timer.
        timer_id: TimerId,
        /// The scheduler's clock.
        now: DateTime<Utc>,
    },
}

/// Decides what an alert command records.
pub fn decide_alert(state: &SeriesState, command: AlertCommand) -> Result<Vec<Event>, Rejection> {
    match command {
        AlertCommand::Trigger(trigger) => trigger_alert(state, trigger),
        AlertCommand::Acknowledge { alert_id } => {
            let open = state.open_alert(alert_id)?;
            if open.acknowledged {
                return Ok(Vec::new());
            }
            let mut events = vec![Event::AlertAcknowledged { alert_id }];
            queue_messages(state, &mut events, open, MessageKind::Acknowledged);
            Ok(events)
        }
        AlertCommand::Escalate { alert_id, now } => {
            let open = state.open_alert(alert_id)?;
            Ok(escalate(state, open, Vec::new(), now))
        }
        AlertCommand::AddNote { alert_id, text } => {
            if state.open.as_ref().map(|o| o.alert_id) != Some(alert_id)
                && !state.was_resolved(alert_id)
            {
                return Err(Rejection::UnknownAlert(alert_id));
            }
            Ok(vec![Event::NoteAdded { alert_id, text }])
        }
        AlertCommand::Resolve {
            alert_id,
            resolved_by,
        } => {
            let open = state.open_alert(alert_id)?;
            let mut events = vec![Event::AlertResolved {
                alert_id,
                resolved_by,
            }];
            queue_messages(state, &mut events, open, MessageKind::Resolved);
            Ok(events)
        }
        AlertCommand::FireTimer { timer_id, now } => fire_timer(state, timer_id, now),
    }
}

fn trigger_alert(state: &SeriesState, trigger: Trigger) -> Result<Vec<Event>, Rejection> {
    require_unique("channels", &trigger.channels)?;
    for (i, step) in trigger.escalation_channels.iter().enumerate() {
        require_unique(&format!("escalation_channels[{i}]"), step)?;
    }
    match trigger.resource {
        Some(ResourceCheck::Deleted(sync)) => return Err(Rejection::ResourceDeleted(sync)),
        Some(ResourceCheck::Unknown(sync)) => return Err(Rejection::UnknownResource(sync)),
        Some(ResourceCheck::Active(_)) | None => {}
    }
    if let Some(open) = &state.open {
        return Ok(vec![Event::TriggerRepeated {
            alert_id: open.alert_id,
            summary: trigger.summary,
            severity: trigger.severity,
        }]);
    }
    let alert_id = AlertId::of(state.series, state.generation);
    let resource = match trigger.resource {
        Some(ResourceCheck::Active(sync)) => Some(sync),
        _ => None,
    };
    let opened = OpenAlert {
        alert_id,
        acknowledged: false,
        channels: trigger.channels.clone(),
        escalation_secs: trigger.escalation_secs.clone(),
        escalation_channels: trigger.escalation_channels.clone(),
        escalation_repeat: trigger.escalation_repeat,
        step: 0,
        pending_timer: None,
        resource: resource.clone(),
    };
    let mut events = vec![Event::AlertTriggered {
        alert_id,
        service: trigger.service,
        dedup_key: trigger.dedup_key,
        summary: trigger.summary,
        severity: trigger.severity,
        details: trigger.details,
        resource,
        channels: trigger.channels,
        escalation_secs: trigger.escalation_secs,
        escalation_channels: trigger.escalation_channels,
        escalation_repeat: trigger.escalation_repeat,
    }];
    queue_messages(state, &mut events, &opened, MessageKind::NewAlert);
    schedule_step(&mut events, &opened, 1, trigger.now);
    Ok(events)
}

fn fire_timer(
    state: &SeriesState,
    timer_id: TimerId,
    now: DateTime<Utc>,
) -> Result<Vec<Event>, Rejection> {
    let open = state
        .open
        .as_ref()
        .filter(|open| open.pending_timer.map(|(id, _)| id) == Some(timer_id))
        .ok_or(Rejection::TimerNotPending(timer_id))?;
    let (_, due_at) = open
        .pending_timer
        .ok_or(Rejection::TimerNotPending(timer_id))?;
    if due_at > now {
        return Err(Rejection::TimerNotDue { timer_id, due_at });
    }
    let fired = vec![Event::TimerFired {
        timer_id,
        alert_id: open.alert_id,
    }];
    Ok(escalate(state, open, fired, now))
}

/// Appends an escalation to `events`: the step, its messages, and the next timer.
fn escalate(
    state: &SeriesState,
    open: &OpenAlert,
    mut events: Vec<Event>,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let step = open.step + 1;
    events.push(Event::AlertEscalated {
        alert_id: open.alert_id,
        step,
    });
    let mut notified = open.clone();
    for channel in open.step_channels(step) {
        if !notified.channels.contains(channel) {
            notified.channels.push(channel.clone());
        }
    }
    queue_messages(state, &mut events, &notified, MessageKind::Escalated);
    if !open.acknowledged {
        schedule_step(&mut events, open, step + 1, now);
    }
    events
}

/// Queues one message per channel, caused by the last event in `events`. A channel
/// listed twice (by an alert recorded before triggers refused repeated channels) gets
/// one message: a message's id is (cause, channel), so a second one could not fold.
fn queue_messages(
    state: &SeriesState,
    events: &mut Vec<Event>,
    open: &OpenAlert,
    kind: MessageKind,
) {
    let cause = EventRef {
        stream: state.stream(),
        version: state.next_version() + events.len() as u64 - 1,
    };
    for (i, channel) in open.channels.iter().enumerate() {
        if open.channels[..i].contains(channel) {
            continue;
        }
        events.push(Event::MessageQueued {
            message_id: crate::ids::MessageId::of(&cause, channel),
            alert_id: open.alert_id,
            cause: cause.clone(),
            kind,
            channel: channel.clone(),
        });
    }
}

impl OpenAlert {
    /// The policy index (0-based) of escalation `step` (1-based), if the policy
    /// reaches it: the steps run through `1 + escalation_repeat` times.
    fn step_index(&self, step: u32) -> Option<usize> {
        let len = self.escalation_secs.len();
        if len == 0 || step == 0 {
            return None;
        }
        let zero_based = step as usize - 1;
        let cycle = zero_based / len;
        (cycle <= self.escalation_repeat as usize).then_some(zero_based % len)
    }

    /// The extra channels of escalation `step`.
    fn step_channels(&self, step: u32) -> &[ChannelId] {
        match self.step_index(step) {
            Some(index) => self
                .escalation_channels
                .get(index)
                .map_or(&[], Vec::as_slice),
            None => &[],
        }
    }
}

/// Schedules escalation `step` (1-based) if the policy reaches it.
fn schedule_step(events: &mut Vec<Event>, open: &OpenAlert, step: u32, now: DateTime<Utc>) {
    let Some(delay) = open
        .step_index(step)
        .and_then(|index| open.escalation_secs.get(index))
    else {
        return;
    };
    events.push(Event::TimerScheduled {
        timer_id: TimerId::of(open.alert_id, step),
        alert_id: open.alert_id,
        step,
        due_at: now + Duration::seconds(i64::from(*delay)),
    });
}
