//! The view file's tables and indexes (documented for operators in docs/views.md).
//!
//! Every view table holds versions: a row is the state of one entity from the event at
//! `valid_from` up to, not including, the event at `valid_to` (`NULL`: still current).
//! "As of P" is then `valid_from <= P AND (valid_to IS NULL OR valid_to > P)`, and the
//! partial indexes `WHERE valid_to IS NULL` serve the current views. `body` is the
//! whole entity as JSON (what the API returns); the other columns are copies of its
//! fields for filters, indexes and operators' queries. Times are RFC 3339 UTC with
//! nanoseconds (nine digits), so text order is time order.

/// Bump when a table or a body changes shape: a file of another format is moved aside
/// and rebuilt from the log.
pub const FORMAT_VERSION: i64 = 2;

/// Tables and the indexes the fold itself needs (created before any load).
pub const TABLES: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    format      INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    hash        BLOB    NOT NULL,
    first_hash  BLOB    NOT NULL,
    group_head  INTEGER NOT NULL,
    alerts      INTEGER NOT NULL,
    messages    INTEGER NOT NULL,
    tasks       INTEGER NOT NULL,
    syncs       INTEGER NOT NULL,
    fold_errors INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    id                 TEXT    NOT NULL,
    valid_from         INTEGER NOT NULL,
    valid_to           INTEGER,
    opened             INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    service            TEXT    NOT NULL,
    severity           TEXT    NOT NULL,
    resource           TEXT,
    summary            TEXT    NOT NULL,
    created_at         TEXT    NOT NULL,
    acknowledged_at    TEXT,
    resolved_at        TEXT,
    next_escalation_at TEXT,
    body               TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_version ON alerts(id, valid_from);
CREATE INDEX IF NOT EXISTS alerts_open_on_resource ON alerts(resource)
    WHERE valid_to IS NULL AND status != 'resolved';
CREATE VIRTUAL TABLE IF NOT EXISTS alert_text USING fts5(summary, details);
CREATE TABLE IF NOT EXISTS messages (
    id         TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    alert_id   TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    queued_at  TEXT    NOT NULL,
    queued     INTEGER NOT NULL,
    body       TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_version ON messages(id, valid_from);
CREATE TABLE IF NOT EXISTS tasks (
    id         TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    alert_id   TEXT,
    finished   INTEGER NOT NULL,
    created_at TEXT    NOT NULL,
    body       TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_version ON tasks(id, valid_from);
CREATE TABLE IF NOT EXISTS syncs (
    id         TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    deleted    INTEGER NOT NULL,
    deleted_by TEXT,
    body       TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS syncs_version ON syncs(id, valid_from);
CREATE TABLE IF NOT EXISTS routing (
    id         TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    body       TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS routing_version ON routing(id, valid_from);
CREATE TABLE IF NOT EXISTS consumer_groups (
    id         TEXT    NOT NULL,
    valid_from INTEGER NOT NULL,
    valid_to   INTEGER,
    body       TEXT    NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS consumer_groups_version ON consumer_groups(id, valid_from);
";

/// Indexes only reads use: a rebuild creates them after the load.
pub const READ_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS alerts_now ON alerts(opened) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS alerts_now_status ON alerts(status, opened) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS alerts_now_service ON alerts(service, opened) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS alerts_now_severity ON alerts(severity, opened) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS alerts_now_resource ON alerts(resource, opened) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS alerts_history ON alerts(opened, valid_from, valid_to);
CREATE INDEX IF NOT EXISTS alerts_now_escalation ON alerts(id)
    WHERE valid_to IS NULL AND next_escalation_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_now_unfinished ON messages(queued_at, id)
    WHERE valid_to IS NULL AND state NOT IN ('delivered', 'abandoned');
CREATE INDEX IF NOT EXISTS messages_now ON messages(queued) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS messages_history ON messages(queued, valid_from, valid_to);
CREATE INDEX IF NOT EXISTS messages_now_alert ON messages(alert_id, queued) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS messages_now_state ON messages(state, queued) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS messages_now_channel ON messages(channel, queued) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS tasks_now_pending ON tasks(id) WHERE valid_to IS NULL AND finished = 0;
CREATE INDEX IF NOT EXISTS tasks_now_alert ON tasks(alert_id, id) WHERE valid_to IS NULL;
CREATE INDEX IF NOT EXISTS syncs_now ON syncs(deleted, id) WHERE valid_to IS NULL;
";

/// Table statistics for the query planner, from a sample of each index (so it picks
/// `alerts_now_status` for a status list, not a scan): after a build, and after the
/// page check of a live file.
pub const ANALYZE: &str = "PRAGMA analysis_limit = 1000; ANALYZE;";

/// RFC 3339 UTC with all nine digits of nanoseconds: text order is time order, and a
/// time read back from a column is the instant the API shows in the body.
pub fn time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
