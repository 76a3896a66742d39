//! Reading and writing versioned rows: the current state of one entity, and the
//! versions a batch produced for it.

use super::schema::time;
use projections::ids::SyncId;
use projections::views::{
    AlertView, ConsumerGroupView, MessageView, RoutingView, SyncView, TaskView,
};
use projections::{EventRef, Position};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Transaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Display;

/// The states one entity went through in a batch, from what the file held before it.
#[derive(Debug)]
pub struct Versions<V> {
    /// What the file held before the batch.
    pub before: Option<V>,
    /// That current row as the file holds it, when it was read from the file (not kept
    /// in memory): the batch then rewrites it in place (see [`write`]).
    pub stored: Option<StoredRow>,
    /// Each change: the position that made it and the state after it (`None`: gone).
    pub changes: Vec<(Position, Option<V>)>,
}

impl<V: Clone + PartialEq> Versions<V> {
    /// Starts from the state the file held (its row not known: kept in memory).
    pub fn from_file(state: Option<V>) -> Self {
        Versions {
            before: state,
            stored: None,
            changes: Vec::new(),
        }
    }

    /// Starts from the current row [`load_current_row`] read.
    pub fn from_row(current: Option<Current<V>>) -> Self {
        match current {
            Some(Current { stored, state }) => Versions {
                before: Some(state),
                stored: Some(stored),
                changes: Vec::new(),
            },
            None => Versions::from_file(None),
        }
    }

    /// Whether the file held a current row for it before the batch.
    pub fn existed(&self) -> bool {
        self.before.is_some()
    }

    /// The last state seen (before the batch, or after its last change).
    pub fn last(&self) -> Option<&V> {
        match self.changes.last() {
            Some((_, state)) => state.as_ref(),
            None => self.before.as_ref(),
        }
    }

    /// Records the state after the event at `position`, if it changed.
    pub fn observe(&mut self, position: Position, now: Option<&V>) {
        if self.last() != now {
            self.changes.push((position, now.cloned()));
        }
    }
}

/// Every entity of one kind a batch touched.
pub type Tracked<K, V> = BTreeMap<K, Versions<V>>;

/// Where an entity's current row is and what it holds, as stored.
#[derive(Debug)]
pub struct StoredRow {
    /// Its rowid.
    pub row: i64,
    /// The position its state holds from.
    pub valid_from: Position,
    /// Its body as stored (copied unchanged when the row becomes a closed version).
    pub body: String,
}

/// An entity's current row, decoded.
#[derive(Debug)]
pub struct Current<V> {
    /// The row.
    pub stored: StoredRow,
    /// Its state.
    pub state: V,
}

/// The current row of `id` in `table`.
pub fn load_current<V: DeserializeOwned>(
    tx: &Transaction,
    table: &str,
    id: &str,
) -> rusqlite::Result<Option<V>> {
    Ok(load_current_row(tx, table, id)?.map(|current| current.state))
}

/// The current row of `id` in `table`, with its rowid.
///
/// The current row is the entity's newest version (each change closes the previous
/// one), and it is current unless that version was closed (the entity is gone). So
/// this reads one entry of the `(id, valid_from)` index from its end and one row,
/// where `valid_to IS NULL` would check every version the entity ever had.
pub fn load_current_row<V: DeserializeOwned>(
    tx: &Transaction,
    table: &str,
    id: &str,
) -> rusqlite::Result<Option<Current<V>>> {
    let newest = tx
        .prepare_cached(&format!(
            "SELECT rowid, valid_from, body, valid_to IS NULL FROM {table} WHERE id = ?1 \
             ORDER BY valid_from DESC LIMIT 1"
        ))?
        .query_row([id], |row| Ok((stored_row(row)?, row.get::<_, bool>(3)?)))
        .optional()?;
    match newest {
        Some((stored, true)) => Ok(Some(Current {
            state: decode(&stored.body)?,
            stored,
        })),
        _ => Ok(None),
    }
}

/// A [`StoredRow`] from a row whose first columns are `rowid, valid_from, body`.
fn stored_row(row: &rusqlite::Row) -> rusqlite::Result<StoredRow> {
    Ok(StoredRow {
        row: row.get(0)?,
        valid_from: row.get::<_, i64>(1)? as Position,
        body: row.get(2)?,
    })
}

/// A body as stored, or a conversion error naming what did not decode.
pub fn decode<V: DeserializeOwned>(body: &str) -> rusqlite::Result<V> {
    serde_json::from_str(body).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(err))
    })
}

fn encode<V: Serialize>(value: &V) -> rusqlite::Result<String> {
    serde_json::to_string(value)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))
}

/// How one kind of entity is stored: its table and the columns copied from it.
pub trait Stored: Clone + PartialEq + Serialize + DeserializeOwned {
    /// The table.
    const TABLE: &'static str;
    /// Columns besides `id`, `valid_from`, `valid_to` and `body`.
    const COLUMNS: &'static [&'static str];
    /// Their values, in the order of [`Stored::COLUMNS`].
    fn columns(&self) -> Vec<Value>;
}

fn text(value: impl Display) -> Value {
    Value::Text(value.to_string())
}

fn optional_time(at: Option<&chrono::DateTime<chrono::Utc>>) -> Value {
    at.map_or(Value::Null, |at| Value::Text(time(at)))
}

impl Stored for AlertView {
    const TABLE: &'static str = "alerts";
    const COLUMNS: &'static [&'static str] = &[
        "opened",
        "status",
        "service",
        "severity",
        "resource",
        "summary",
        "created_at",
        "acknowledged_at",
        "resolved_at",
        "next_escalation_at",
    ];

    fn columns(&self) -> Vec<Value> {
        use projections::views::AlertStatus;
        let first = |status: AlertStatus| {
            self.status_changes
                .iter()
                .find(|change| change.status == status)
                .map(|change| &change.at)
        };
        vec![
            Value::Integer(opened(self) as i64),
            text(self.status.as_str()),
            text(self.service.as_str()),
            text(self.severity.as_str()),
            self.resource
                .as_ref()
                .map_or(Value::Null, |r| text(r.as_str())),
            text(&self.summary),
            Value::Text(time(&self.created_at)),
            optional_time(first(AlertStatus::Acknowledged)),
            optional_time(first(AlertStatus::Resolved)),
            optional_time(self.next_escalation_at.as_ref()),
        ]
    }
}

/// The position of the trigger that opened `alert` (its first status change): the
/// stable key list cursors walk and full-text rows are filed under.
pub fn opened(alert: &AlertView) -> Position {
    alert
        .status_changes
        .first()
        .map_or(alert.last_position, |change| change.position)
}

impl Stored for MessageView {
    const TABLE: &'static str = "messages";
    const COLUMNS: &'static [&'static str] =
        &["alert_id", "channel", "state", "queued_at", "queued"];

    fn columns(&self) -> Vec<Value> {
        vec![
            text(self.alert_id),
            text(self.channel.as_str()),
            text(self.state.as_str()),
            Value::Text(time(&self.queued_at)),
            Value::Integer(self.queued_position as i64),
        ]
    }
}

impl Stored for TaskView {
    const TABLE: &'static str = "tasks";
    const COLUMNS: &'static [&'static str] = &["alert_id", "finished", "created_at"];

    fn columns(&self) -> Vec<Value> {
        vec![
            self.alert_id.map_or(Value::Null, text),
            Value::Integer(i64::from(self.is_finished())),
            Value::Text(time(&self.created_at)),
        ]
    }
}

/// A resource row with the event that deleted it (which the alert fold needs to
/// resolve a trigger that raced the deletion).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SyncRow {
    /// The resource as the API shows it.
    #[serde(flatten)]
    pub view: SyncView,
    /// The deletion, once deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_by: Option<EventRef>,
}

impl Stored for SyncRow {
    const TABLE: &'static str = "syncs";
    const COLUMNS: &'static [&'static str] = &["deleted", "deleted_by"];

    fn columns(&self) -> Vec<Value> {
        vec![
            Value::Integer(i64::from(self.view.deleted)),
            self.deleted_by.as_ref().map_or(Value::Null, |by| {
                text(format!("{}@{}", by.stream, by.version))
            }),
        ]
    }
}

impl Stored for RoutingView {
    const TABLE: &'static str = "routing";
    const COLUMNS: &'static [&'static str] = &[];

    fn columns(&self) -> Vec<Value> {
        Vec::new()
    }
}

impl Stored for ConsumerGroupView {
    const TABLE: &'static str = "consumer_groups";
    const COLUMNS: &'static [&'static str] = &[];

    fn columns(&self) -> Vec<Value> {
        Vec::new()
    }
}

/// The key of the single routing row.
pub const ROUTING_ID: &str = "routing";

/// Writes the versions of every entity in `tracked`: one row per state it went
/// through, each closed where the next began. Returns how many entities are new (had
/// no row before and have one now).
///
/// An entity whose current row was read from the file and which still exists after
/// the batch keeps that row: it is rewritten in place with the last state (only the
/// columns that changed, so indexes on the others are not touched), and the state it
/// held is inserted as a closed version. The rows the file holds are the same as if
/// the row had been closed and a new one inserted, but a closed row is in none of the
/// current rows' partial indexes: a change then costs a few index entries instead of
/// removing the row from every current index and adding a new one to each.
pub fn write<K: Display, V: Stored>(
    tx: &Transaction,
    tracked: &Tracked<K, V>,
) -> rusqlite::Result<u64> {
    if tracked.values().all(|versions| versions.changes.is_empty()) {
        return Ok(0);
    }
    let mut close = tx.prepare_cached(&format!(
        "UPDATE {} SET valid_to = ?1 WHERE id = ?2 AND valid_to IS NULL",
        V::TABLE
    ))?;
    let mut close_row = tx.prepare_cached(&format!(
        "UPDATE {} SET valid_to = ?1 WHERE rowid = ?2",
        V::TABLE
    ))?;
    let names = V::COLUMNS.join(", ");
    let marks = (0..V::COLUMNS.len() + 4)
        .map(|i| format!("?{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ");
    let separator = if V::COLUMNS.is_empty() { "" } else { ", " };
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO {} (id, valid_from, valid_to, body{separator}{names}) VALUES ({marks})",
        V::TABLE
    ))?;
    let mut insert_version =
        |id: &str, from: Position, to: Value, body: String, columns: Vec<Value>| {
            let mut values = vec![
                Value::Text(id.to_owned()),
                Value::Integer(from as i64),
                to,
                Value::Text(body),
            ];
            values.extend(columns);
            insert.execute(rusqlite::params_from_iter(values))
        };
    let mut created = 0;
    for (key, versions) in tracked {
        let Some((first, _)) = versions.changes.first() else {
            continue;
        };
        let id = key.to_string();
        let last = versions.changes.len() - 1;
        let mut in_place = false;
        match (&versions.stored, &versions.before, &versions.changes[last]) {
            (Some(stored), Some(before), (at, Some(now))) => {
                let held = before.columns();
                rewrite(tx, stored.row, &held, *at, now)?;
                insert_version(
                    &id,
                    stored.valid_from,
                    Value::Integer(*first as i64),
                    stored.body.clone(),
                    held,
                )?;
                in_place = true;
            }
            (Some(stored), _, _) => {
                close_row.execute(params![*first as i64, stored.row])?;
            }
            (None, _, _) if versions.existed() => {
                close.execute(params![*first as i64, id])?;
            }
            (None, _, _) => {
                if versions.last().is_some() {
                    created += 1;
                }
            }
        }
        for (index, (from, state)) in versions.changes.iter().enumerate() {
            let Some(state) = state else { continue };
            if in_place && index == last {
                continue;
            }
            let to = versions
                .changes
                .get(index + 1)
                .map_or(Value::Null, |(next, _)| Value::Integer(*next as i64));
            insert_version(&id, *from, to, encode(state)?, state.columns())?;
        }
    }
    Ok(created)
}

/// Rewrites the current row `row`, whose columns hold `held`, to `now` (valid from
/// `at`), setting only the columns whose values differ.
fn rewrite<V: Stored>(
    tx: &Transaction,
    row: i64,
    held: &[Value],
    at: Position,
    now: &V,
) -> rusqlite::Result<()> {
    let mut set = String::from("valid_from = ?1, body = ?2");
    let mut values = vec![Value::Integer(at as i64), Value::Text(encode(now)?)];
    for ((name, old), new) in V::COLUMNS.iter().zip(held).zip(now.columns()) {
        if *old != new {
            values.push(new);
            set.push_str(&format!(", {name} = ?{}", values.len()));
        }
    }
    values.push(Value::Integer(row));
    let sql = format!(
        "UPDATE {} SET {set} WHERE rowid = ?{}",
        V::TABLE,
        values.len()
    );
    tx.prepare_cached(&sql)?
        .execute(rusqlite::params_from_iter(values))
        .map(drop)
}

/// An alert's searchable text: its summary and details.
pub type AlertText = (String, BTreeMap<String, String>);

/// Refiles the searchable text of every alert whose summary or details changed.
///
/// The full-text index buffers what it is given and writes it out as a new segment
/// whenever a row id is below the last one written, or equal to it after an insertion
/// (SQLite's `sqlite3Fts5IndexBeginWrite`); every segment is merged again later. So
/// the rows are refiled in row id order, each one's removal just before its insertion:
/// one segment per batch instead of about one per alert, as came of walking the alerts
/// in id order, which is not the order they opened in.
pub fn write_alert_text(
    tx: &Transaction,
    tracked: &Tracked<projections::ids::AlertId, AlertView>,
    before: &BTreeMap<projections::ids::AlertId, Option<AlertText>>,
) -> rusqlite::Result<()> {
    let mut refiled = Vec::new();
    for (id, versions) in tracked {
        let Some(alert) = versions.last() else {
            continue;
        };
        let previous = before.get(id).and_then(Option::as_ref);
        if previous.is_some_and(|(summary, details)| {
            *summary == alert.summary && *details == alert.details
        }) {
            continue;
        }
        refiled.push((opened(alert) as i64, previous.is_some(), alert));
    }
    refiled.sort_unstable_by_key(|(key, _, _)| *key);
    let mut remove = tx.prepare_cached("DELETE FROM alert_text WHERE rowid = ?1")?;
    let mut insert =
        tx.prepare_cached("INSERT INTO alert_text (rowid, summary, details) VALUES (?1, ?2, ?3)")?;
    for (key, filed, alert) in refiled {
        if filed {
            remove.execute([key])?;
        }
        insert.execute(params![key, alert.summary, details_text(&alert.details)])?;
    }
    Ok(())
}

/// Details as searchable text: one `key value` line each.
fn details_text(details: &BTreeMap<String, String>) -> String {
    details
        .iter()
        .map(|(key, value)| format!("{key} {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The current rows of every open alert on `resource`.
pub fn open_on_resource(
    tx: &Transaction,
    resource: &SyncId,
) -> rusqlite::Result<Vec<Current<AlertView>>> {
    let mut statement = tx.prepare_cached(
        "SELECT rowid, valid_from, body FROM alerts \
         WHERE resource = ?1 AND valid_to IS NULL AND status != 'resolved'",
    )?;
    let rows = statement
        .query_map([resource.as_str()], stored_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|stored| {
            Ok(Current {
                state: decode(&stored.body)?,
                stored,
            })
        })
        .collect()
}
