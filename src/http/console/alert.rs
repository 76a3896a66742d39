//! One alert (`/alerts/{id}`): its state, its actions, and one timeline that merges its
//! own log (who did what, when, why), every notification attempt (state, the provider's
//! receipt or error, latency), escalations, and the tasks it started with their
//! per-host results. Each entry shows its position and hash and, on demand, its raw
//! JSON. Everything is read from the log up to the page's moment.

use super::actions::action_button;
use super::page::{badge, csrf_field, duration, short_hash, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::auth::Role;
use crate::http::HttpState;
use crate::projection::queries::{MessageFilter, TaskFilter};
use crate::store::Direction;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use projections::ids::{AlertId, MessageId};
use projections::views::{AlertView, MessageView};
use projections::{streams, Event, Position, RecordedEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Most messages and tasks of one alert the page reads.
const MOST: usize = 500;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    as_of: Option<String>,
}

/// `GET /alerts/{id}`.
pub async fn detail(
    viewer: Viewer,
    State(state): State<HttpState>,
    Path(id): Path<String>,
    Query(query): Query<DetailQuery>,
) -> Result<Response, Problem> {
    let path = format!("/alerts/{id}");
    let ctx = Ctx::new(&state, viewer, &path, query.as_of).await?;
    let alert_id = AlertId::parse(&id)
        .map_err(|_| Problem::not_found(format!("no alert {id}: not an alert id")))?;
    let found = ctx.read(&state, |views| {
        views.alert(alert_id).map(|alert| {
            let messages = views.messages(
                &MessageFilter {
                    alert: Some(alert_id),
                    ..MessageFilter::default()
                },
                None,
                MOST,
            );
            let tasks = views.tasks(
                &TaskFilter {
                    alert: Some(alert_id),
                    ..TaskFilter::default()
                },
                None,
                MOST,
            );
            (alert, messages.items, tasks.items)
        })
    });
    let Some((alert, messages, tasks)) = found else {
        return Err(Problem::not_found(match ctx.at {
            Some(at) => format!("alert {alert_id} did not exist yet at position {at}"),
            None => format!("alert {alert_id} does not exist"),
        }));
    };
    let up_to = ctx.at.unwrap_or(Position::MAX);
    let mut events = state.app.alert_history(alert_id, up_to).await?;
    for message in &messages {
        events.extend(read_stream(&state, &streams::message(message.id), up_to).await?);
    }
    for task in &tasks {
        events.extend(read_stream(&state, &streams::task(task.id), up_to).await?);
    }
    events.sort_by_key(|e| e.position);
    events.dedup_by_key(|e| e.position);
    let body = html! {
        (summary(&ctx, &alert))
        (actions(&ctx, &alert, &path))
        section aria-labelledby="timeline-h" {
            h2 #timeline-h { "Timeline" }
            (timeline(&ctx, &events, &messages))
        }
        section aria-labelledby="deliveries-h" {
            h2 #deliveries-h { "Notifications" }
            (deliveries(&messages))
        }
        @if !tasks.is_empty() {
            section aria-labelledby="tasks-h" {
                h2 #tasks-h { "Tasks" }
                @for task in &tasks { (super::tasks::task_card(&ctx, task)) }
            }
        }
    };
    Ok(ctx.render(&format!("Alert: {}", alert.summary), body))
}

async fn read_stream(
    state: &HttpState,
    stream: &str,
    up_to: Position,
) -> Result<Vec<RecordedEvent>, Problem> {
    let events = state
        .app
        .store
        .read_stream(stream, 0, Direction::Forward, 4096)
        .await
        .map_err(crate::http::error::ApiError::from)?;
    Ok(events.into_iter().filter(|e| e.position <= up_to).collect())
}

fn summary(ctx: &Ctx, alert: &AlertView) -> Markup {
    html! {
        dl.facts #alert-facts {
            dt { "Status" } dd #alert-status { (badge(alert.status.as_str())) }
            dt { "Severity" } dd { (badge(alert.severity.as_str())) }
            dt { "Service" } dd { a href=(ctx.href("/alerts", &[("service", alert.service.to_string())])) { (alert.service) } }
            @if let Some(resource) = &alert.resource {
                dt { "Resource" } dd { a href=(ctx.href("/alerts", &[("resource", resource.to_string())])) { (resource) } }
            }
            dt { "Dedup key" } dd { code { (alert.dedup_key) } }
            dt { "Opened" } dd { (time(alert.created_at)) }
            @if let Some(by) = &alert.acknowledged_by { dt { "Acknowledged by" } dd { (by) } }
            dt { "Repeats" } dd { (alert.repeat_count) }
            dt { "Escalation step" } dd { (alert.escalation_step)
                @if let Some(next) = alert.next_escalation_at { " (next at " (time(next)) ")" } }
            dt { "Stream" } dd { code { (alert.stream) } }
            @for (key, value) in &alert.details { dt { (key) } dd { (value) } }
        }
    }
}

fn actions(ctx: &Ctx, alert: &AlertView, path: &str) -> Markup {
    let id = alert.id.to_string();
    let open = alert.status.as_str() != "resolved";
    html! {
        @if ctx.can(Role::Writer) {
            div.actions #alert-actions {
                @if alert.status.as_str() == "triggered" { (action_button(ctx, &id, "acknowledge", "Acknowledge", path)) }
                @if open {
                    (action_button(ctx, &id, "resolve", "Resolve", path))
                    (action_button(ctx, &id, "escalate", "Escalate", path))
                }
                form.note method="post" action=(format!("/alerts/{id}/notes")) {
                    (csrf_field(&ctx.viewer))
                    input type="hidden" name="back" value=(path);
                    label for="note-text" { "Note" }
                    textarea #note-text name="text" rows="2" maxlength="10000" required {}
                    button type="submit" class="act act-notes" { "Add note" }
                }
            }
        }
    }
}

/// The timeline: every event, oldest first, described for a person.
fn timeline(ctx: &Ctx, events: &[RecordedEvent], messages: &[MessageView]) -> Markup {
    let channels: HashMap<MessageId, String> = messages
        .iter()
        .map(|m| (m.id, m.channel.to_string()))
        .collect();
    let mut started: BTreeMap<(MessageId, u32), DateTime<Utc>> = BTreeMap::new();
    html! {
        ol.timeline #timeline {
            @for event in events {
                @let (kind, text) = describe(event, &channels, &mut started);
                li class=(format!("ev ev-{kind}")) data-type=(event.event.event_type()) {
                    div.when {
                        time datetime=(event.recorded_at.to_rfc3339()) { (time(event.recorded_at)) }
                        " · position "
                        a href=(ctx.href("/ledger", &[("position", event.position.to_string())])) { (event.position) }
                        " · " (short_hash(&event.hash.to_hex()))
                    }
                    div.what { (text) }
                    div.who {
                        "by " (event.metadata.actor.as_deref().unwrap_or("unknown"))
                        @if let Some(source) = &event.metadata.source { " via " (source) }
                    }
                    details.raw {
                        summary { "raw JSON" }
                        pre { (serde_json::to_string_pretty(event).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

/// What one event says, and its kind (for styling): alert, delivery, escalation, task.
fn describe(
    e: &RecordedEvent,
    channels: &HashMap<MessageId, String>,
    started: &mut BTreeMap<(MessageId, u32), DateTime<Utc>>,
) -> (&'static str, String) {
    let channel = |id: &MessageId| channels.get(id).cloned().unwrap_or_else(|| "?".into());
    let latency = |started: &BTreeMap<(MessageId, u32), DateTime<Utc>>, id: &MessageId, n: u32| {
        started
            .get(&(*id, n))
            .map(|t| {
                let ms = (e.recorded_at - *t).num_milliseconds();
                format!(" in {ms} ms")
            })
            .unwrap_or_default()
    };
    match &e.event {
        Event::AlertTriggered {
            summary,
            severity,
            service,
            ..
        } => (
            "alert",
            format!("Triggered on {service}: {summary} ({})", severity.as_str()),
        ),
        Event::TriggerRepeated {
            summary, severity, ..
        } => (
            "alert",
            format!("Triggered again: {summary} ({})", severity.as_str()),
        ),
        Event::AlertAcknowledged { .. } => ("alert", "Acknowledged".into()),
        Event::AlertEscalated { step, .. } => ("escalation", format!("Escalated to step {step}")),
        Event::NoteAdded { text, .. } => ("alert", format!("Note: {text}")),
        Event::AlertResolved { resolved_by, .. } => (
            "alert",
            format!("Resolved by the {}", snake(resolved_by, "by")),
        ),
        Event::SyncDeleted { sync_id } => (
            "alert",
            format!("Resource {sync_id} was deleted, which closed this alarm"),
        ),
        Event::MessageQueued { kind, channel, .. } => (
            "delivery",
            format!("Notification queued: {} to {channel}", snake(kind, "")),
        ),
        Event::TimerScheduled { step, due_at, .. } => (
            "escalation",
            format!("Escalation step {step} scheduled for {}", time(*due_at)),
        ),
        Event::TimerFired { .. } => ("escalation", "Escalation timer fired".into()),
        Event::MessageClaimed {
            message_id,
            instance,
            ..
        } => (
            "delivery",
            format!("{}: claimed by {instance}", channel(message_id)),
        ),
        Event::DeliveryAttempted {
            message_id,
            attempt,
        } => {
            started.insert((*message_id, *attempt), e.recorded_at);
            (
                "delivery",
                format!("{}: attempt {attempt} started", channel(message_id)),
            )
        }
        Event::MessageDelivered {
            message_id,
            attempt,
            receipt,
        } => (
            "delivered",
            format!(
                "{}: attempt {attempt} delivered{}; provider said: {receipt}",
                channel(message_id),
                latency(started, message_id, *attempt)
            ),
        ),
        Event::MessageFailed {
            message_id,
            attempt,
            error,
            retry_at,
        } => (
            "failed",
            format!(
                "{}: attempt {attempt} failed{}: {error}; {}",
                channel(message_id),
                latency(started, message_id, *attempt),
                match retry_at {
                    Some(at) => format!("next attempt at {}", time(*at)),
                    None => "no retry".into(),
                }
            ),
        ),
        Event::MessageAbandoned { message_id, reason } => (
            "failed",
            format!("{}: delivery abandoned: {reason}", channel(message_id)),
        ),
        Event::TaskCreated { task_id, spec, .. } => (
            "task",
            format!(
                "Task {task_id} created: {} on {} host(s)",
                spec.script,
                spec.hosts.len()
            ),
        ),
        Event::TaskHostStarted { host, .. } => ("task", format!("Task started on {host}")),
        Event::TaskHostFinished {
            host, exit_code, ..
        } => (
            "task",
            format!("Task finished on {host} with exit code {exit_code}"),
        ),
        Event::TaskHostTimedOut { host, .. } => ("task", format!("Task timed out on {host}")),
        Event::TaskCancelled { reason, .. } => ("task", format!("Task cancelled: {reason}")),
        other => ("alert", other.event_type().replace('_', " ")),
    }
}

/// A unit or tagged enum's wire name (`resolved_by: {by: person}` → `person`).
pub fn snake(value: &impl Serialize, tag: &str) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(map)) => map
            .get(tag)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
    .replace('_', " ")
}

fn deliveries(messages: &[MessageView]) -> Markup {
    html! {
        @if messages.is_empty() {
            p.empty { "No notification for this alert." }
        } @else {
            div.scroll {
                table #alert-messages {
                    thead { tr { th { "What" } th { "Channel" } th { "State" } th { "Attempts" } th { "Receipt or last error" } th { "Queued" } } }
                    tbody {
                        @for m in messages {
                            tr {
                                td { (snake(&m.kind, "")) }
                                td { (m.channel) }
                                td { (badge(m.state.as_str())) }
                                td { (m.attempts) }
                                td { @if let Some(r) = &m.receipt { (r) } @else if let Some(e) = &m.last_error { span.error { (e) } } }
                                td { (time(m.queued_at)) " (" (duration((m.updated_at - m.queued_at).num_milliseconds() as f64 / 1000.0)) " to last change)" }
                            }
                        }
                    }
                }
            }
        }
    }
}
