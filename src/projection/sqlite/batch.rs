//! One projection batch: load the rows its events touch, fold them with the pure folds
//! of the `projections` crate, and write every changed row's versions and the
//! checkpoint in one transaction.
//!
//! The working set is a partial [`Views`]: exactly the rows [`touched`] names for the
//! batch, plus what the alert fold knows of the resources it names. The fold is
//! `Views::apply`, the same one the in-memory oracle runs, so a store that loads the
//! right rows decides exactly as a full replay would (the property tests check it).

use super::rows::{self, load_current, load_current_row, SyncRow, Tracked, Versions, ROUTING_ID};
use super::Resident;
use projections::ids::{AlertId, MessageId, SyncId, TaskId};
use projections::views::touch::touched;
use projections::views::{AlertView, Views};
use projections::RecordedEvent;
use rusqlite::Transaction;
use std::collections::{BTreeMap, BTreeSet};

/// What the batch changed, per kind of row.
#[derive(Default)]
struct Changes {
    alerts: Tracked<AlertId, AlertView>,
    messages: Tracked<MessageId, projections::views::MessageView>,
    tasks: Tracked<TaskId, projections::views::TaskView>,
    syncs: Tracked<SyncId, SyncRow>,
    groups: Tracked<projections::ids::ConsumerName, projections::views::ConsumerGroupView>,
    routing: Tracked<&'static str, projections::views::RoutingView>,
}

/// Folds `events` (in position order, after `resident.position`) into the file and
/// `resident`. Returns how many events did not fold. On an error nothing is committed
/// and `resident` must be reloaded from the file.
pub fn apply(
    tx: &Transaction,
    resident: &mut Resident,
    events: &[RecordedEvent],
) -> rusqlite::Result<u64> {
    let Some(last) = events.last() else {
        return Ok(0);
    };
    let mut work = Views {
        position: resident.position,
        group_head: resident.group_head,
        routing: std::mem::take(&mut resident.routing),
        consumers: std::mem::take(&mut resident.consumers),
        ..Views::default()
    };
    let mut changes = load(tx, &mut work, events)?;
    let text_before: BTreeMap<AlertId, Option<rows::AlertText>> = changes
        .alerts
        .iter()
        .map(|(id, v)| {
            (
                *id,
                v.last().map(|a| (a.summary.clone(), a.details.clone())),
            )
        })
        .collect();
    let mut failed = 0;
    for event in events {
        if let Err(err) = work.apply(event) {
            failed += 1;
            tracing::warn!(position = event.position, %err, "event not applied to views");
        }
        observe(&work, event, &mut changes);
    }
    let new_alerts = rows::write(tx, &changes.alerts)?;
    rows::write_alert_text(tx, &changes.alerts, &text_before)?;
    let new_messages = rows::write(tx, &changes.messages)?;
    let new_tasks = rows::write(tx, &changes.tasks)?;
    let new_syncs = rows::write(tx, &changes.syncs)?;
    rows::write(tx, &changes.groups)?;
    rows::write(tx, &changes.routing)?;
    if !changes.routing.is_empty() {
        resident.routing_changes += 1;
    }
    resident.position = work.position;
    resident.group_head = work.group_head;
    resident.routing = work.routing;
    resident.consumers = work.consumers;
    resident.counts.alerts += new_alerts;
    resident.counts.messages += new_messages;
    resident.counts.tasks += new_tasks;
    resident.counts.syncs += new_syncs;
    resident.fold_errors += failed;
    resident.hash = last.hash;
    if last.position == 1 || resident.first_hash == projections::Hash::GENESIS {
        if let Some(first) = events.iter().find(|e| e.position == 1) {
            resident.first_hash = first.hash;
        }
    }
    super::checkpoint::write(tx, resident)?;
    Ok(failed)
}

/// Loads every row the batch touches into `work` and starts tracking it.
fn load(tx: &Transaction, work: &mut Views, events: &[RecordedEvent]) -> rusqlite::Result<Changes> {
    let mut alerts = BTreeSet::new();
    let mut resources = BTreeSet::new();
    let mut deletions = BTreeSet::new();
    let mut syncs = BTreeSet::new();
    let mut messages = BTreeSet::new();
    let mut tasks = BTreeSet::new();
    let mut changes = Changes::default();
    for event in events {
        let touch = touched(&event.event);
        alerts.extend(touch.alert);
        if let (Some(resource), projections::Event::SyncDeleted { .. }) =
            (&touch.resource, &event.event)
        {
            deletions.insert(resource.clone());
        }
        resources.extend(touch.resource);
        syncs.extend(touch.sync);
        messages.extend(touch.message);
        tasks.extend(touch.task);
        if let Some(group) = touch.group {
            let state = work.consumers.groups.get(&group).cloned();
            changes
                .groups
                .entry(group)
                .or_insert_with(|| Versions::from_file(state));
        }
        if touch.routing && changes.routing.is_empty() {
            let state = Some(work.routing.clone());
            changes
                .routing
                .insert(ROUTING_ID, Versions::from_file(state));
        }
    }
    for id in alerts {
        let current = load_current_row::<AlertView>(tx, "alerts", &id.to_string())?;
        if let Some(alert) = &current {
            work.alerts.alerts.insert(id, alert.state.clone());
        }
        changes.alerts.insert(id, Versions::from_row(current));
    }
    for resource in resources {
        let row: Option<SyncRow> = load_current(tx, "syncs", resource.as_str())?;
        let mut open = BTreeSet::new();
        if deletions.contains(&resource) {
            for current in rows::open_on_resource(tx, &resource)? {
                let id = current.state.id;
                open.insert(id);
                if let std::collections::btree_map::Entry::Vacant(entry) = changes.alerts.entry(id)
                {
                    work.alerts.alerts.insert(id, current.state.clone());
                    entry.insert(Versions::from_row(Some(current)));
                }
            }
        }
        work.alerts
            .seed_resource(resource, open, row.and_then(|row| row.deleted_by));
    }
    for id in syncs {
        let current = load_current_row::<SyncRow>(tx, "syncs", id.as_str())?;
        if let Some(row) = &current {
            work.syncs.syncs.insert(id.clone(), row.state.view.clone());
        }
        changes.syncs.insert(id, Versions::from_row(current));
    }
    for id in messages {
        let current =
            load_current_row::<projections::views::MessageView>(tx, "messages", &id.to_string())?;
        if let Some(rows::Current { state: message, .. }) = &current {
            if !matches!(
                message.state,
                projections::views::DeliveryState::Delivered
                    | projections::views::DeliveryState::Abandoned
            ) {
                work.messages.unfinished.insert((message.queued_at, id));
            }
            work.messages.messages.insert(id, message.clone());
        }
        changes.messages.insert(id, Versions::from_row(current));
    }
    for id in tasks {
        let current =
            load_current_row::<projections::views::TaskView>(tx, "tasks", &id.to_string())?;
        if let Some(task) = &current {
            work.tasks.tasks.insert(id, task.state.clone());
        }
        changes.tasks.insert(id, Versions::from_row(current));
    }
    Ok(changes)
}

/// Records, after `event` folded, the state of every row it may have changed.
fn observe(work: &Views, event: &RecordedEvent, changes: &mut Changes) {
    let position = event.position;
    let touch = touched(&event.event);
    if let Some(id) = touch.alert {
        if let Some(versions) = changes.alerts.get_mut(&id) {
            versions.observe(position, work.alerts.alerts.get(&id));
        }
    }
    if let (Some(resource), projections::Event::SyncDeleted { .. }) =
        (&touch.resource, &event.event)
    {
        for (id, versions) in changes.alerts.iter_mut() {
            let alert = work.alerts.alerts.get(id);
            if alert.is_some_and(|a| a.resource.as_ref() == Some(resource)) {
                versions.observe(position, alert);
            }
        }
    }
    if let Some(id) = touch.sync {
        if let Some(versions) = changes.syncs.get_mut(&id) {
            let row = work.syncs.syncs.get(&id).map(|view| SyncRow {
                view: view.clone(),
                deleted_by: work.alerts.deleted_by(&id).cloned(),
            });
            versions.observe(position, row.as_ref());
        }
    }
    if let Some(id) = touch.message {
        if let Some(versions) = changes.messages.get_mut(&id) {
            versions.observe(position, work.messages.messages.get(&id));
        }
    }
    if let Some(id) = touch.task {
        if let Some(versions) = changes.tasks.get_mut(&id) {
            versions.observe(position, work.tasks.tasks.get(&id));
        }
    }
    if let Some(group) = touch.group {
        if let Some(versions) = changes.groups.get_mut(&group) {
            versions.observe(position, work.consumers.groups.get(&group));
        }
    }
    if touch.routing {
        if let Some(versions) = changes.routing.get_mut(ROUTING_ID) {
            versions.observe(position, Some(&work.routing));
        }
    }
}
