//! The checkpoint row: how far the file reflects the log, committed in the same
//! transaction as the rows of each batch, and the state kept in memory between
//! batches (loaded from the file, never from history).

use super::rows::{decode, ROUTING_ID};
use super::schema::FORMAT_VERSION;
use projections::views::{ConsumerGroupView, ConsumersView, RoutingView};
use projections::{Hash, Position};
use rusqlite::{params, Connection, OptionalExtension};

/// How many rows each view holds (current rows, kept with the checkpoint so counting
/// never scans a table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Alerts.
    pub alerts: u64,
    /// Messages.
    pub messages: u64,
    /// Tasks.
    pub tasks: u64,
    /// Resources, deleted ones included.
    pub syncs: u64,
}

/// What the writer keeps between batches: the checkpoint, and the two small views
/// every batch may change (routing and consumer groups).
#[derive(Debug, Clone, Default)]
pub struct Resident {
    /// The last applied position.
    pub position: Position,
    /// The log's chain hash at `position`.
    pub hash: Hash,
    /// The log's chain hash at position 1: which log the file was built from.
    pub first_hash: Hash,
    /// The last position outside consumer-group streams.
    pub group_head: Position,
    /// Routing as of `position`.
    pub routing: RoutingView,
    /// Batches that changed the routing since this was loaded: whoever keeps a copy
    /// of `routing` knows it is stale when this moved.
    pub routing_changes: u64,
    /// Consumer groups as of `position`.
    pub consumers: ConsumersView,
    /// Row counts as of `position`.
    pub counts: Counts,
    /// Events that did not fold, over the file's life.
    pub fold_errors: u64,
}

/// The checkpoint as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The view format the file was written in.
    pub format: i64,
    /// The last applied position.
    pub position: Position,
    /// The chain hash at `position`.
    pub hash: Hash,
    /// The chain hash at position 1.
    pub first_hash: Hash,
}

fn hash(raw: Vec<u8>) -> Hash {
    let mut bytes = [0u8; 32];
    if raw.len() == 32 {
        bytes.copy_from_slice(&raw);
    }
    Hash(bytes)
}

/// Reads the checkpoint (`None`: a file no batch has committed to).
pub fn read(conn: &Connection) -> rusqlite::Result<Option<Checkpoint>> {
    conn.query_row(
        "SELECT format, position, hash, first_hash FROM checkpoint WHERE id = 1",
        [],
        |row| {
            Ok(Checkpoint {
                format: row.get(0)?,
                position: row.get::<_, i64>(1)? as Position,
                hash: hash(row.get(2)?),
                first_hash: hash(row.get(3)?),
            })
        },
    )
    .optional()
}

/// Loads what the writer keeps in memory from the file.
pub fn load_resident(conn: &Connection) -> rusqlite::Result<Resident> {
    let Some(row) = conn
        .query_row(
            "SELECT position, hash, first_hash, group_head, alerts, messages, tasks, syncs, fold_errors
             FROM checkpoint WHERE id = 1",
            [],
            |row| {
                Ok(Resident {
                    position: row.get::<_, i64>(0)? as Position,
                    hash: hash(row.get(1)?),
                    first_hash: hash(row.get(2)?),
                    group_head: row.get::<_, i64>(3)? as Position,
                    counts: Counts {
                        alerts: row.get::<_, i64>(4)? as u64,
                        messages: row.get::<_, i64>(5)? as u64,
                        tasks: row.get::<_, i64>(6)? as u64,
                        syncs: row.get::<_, i64>(7)? as u64,
                    },
                    fold_errors: row.get::<_, i64>(8)? as u64,
                    ..Resident::default()
                })
            },
        )
        .optional()?
    else {
        return Ok(Resident::default());
    };
    let mut resident = row;
    let routing: Option<String> = conn
        .query_row(
            "SELECT body FROM routing WHERE id = ?1 AND valid_to IS NULL",
            [ROUTING_ID],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(body) = routing {
        resident.routing = decode(&body)?;
    }
    let mut groups = conn.prepare("SELECT body FROM consumer_groups WHERE valid_to IS NULL")?;
    for body in groups.query_map([], |row| row.get::<_, String>(0))? {
        let group: ConsumerGroupView = decode(&body?)?;
        resident.consumers.groups.insert(group.name.clone(), group);
    }
    Ok(resident)
}

/// Writes the checkpoint of `resident` (inside the batch's transaction).
pub fn write(conn: &Connection, resident: &Resident) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO checkpoint
         (id, format, position, hash, first_hash, group_head, alerts, messages, tasks, syncs, fold_errors)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        FORMAT_VERSION,
        resident.position as i64,
        resident.hash.0.as_slice(),
        resident.first_hash.0.as_slice(),
        resident.group_head as i64,
        resident.counts.alerts as i64,
        resident.counts.messages as i64,
        resident.counts.tasks as i64,
        resident.counts.syncs as i64,
        resident.fold_errors as i64,
    ])?;
    Ok(())
}
