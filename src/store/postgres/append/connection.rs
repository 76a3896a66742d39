//! The writer's connection and the statements it prepares once.

use super::guarded::{GUARDED_INSERT_SQL, HOLD_SQL, NOTIFY_WRITTEN_SQL};
use super::locked::{STORED_SQL, VERSIONS_SQL};
use super::rows::INSERT_SQL;
use crate::store::postgres::read::HEAD_SQL;
use crate::store::postgres::{connect, pg_error, PostgresOptions};
use crate::store::StoreError;
use std::sync::Arc;
use tokio_postgres::{Client, Statement};

/// The writer's connection and its prepared statements. The client is shared with the
/// batches in flight on it ([`super::pipeline`]).
pub(super) struct Connected {
    pub client: Arc<Client>,
    pub statements: Statements,
}

/// Every statement a batch runs, prepared once per connection (a statement sent as
/// text costs a second round trip to prepare it, every time). Cheap to clone.
#[derive(Clone)]
pub(super) struct Statements {
    pub begin: Statement,
    pub lock: Statement,
    pub head: Statement,
    pub versions: Statement,
    pub stored: Statement,
    pub insert: Statement,
    pub notify: Statement,
    pub commit: Statement,
    pub guarded_insert: Statement,
    pub notify_written: Statement,
    pub hold: Statement,
}

pub(super) async fn ensure_connected<'c>(
    connected: &'c mut Option<Connected>,
    options: &PostgresOptions,
) -> Result<&'c mut Connected, StoreError> {
    if connected.as_ref().is_none_or(|c| c.client.is_closed()) {
        *connected = None;
        let client = connect(&options.config).await?;
        let prepare = |sql: &'static str| client.prepare(sql);
        let (begin, lock, head, versions, stored, insert, notify, commit) = tokio::try_join!(
            prepare("BEGIN"),
            prepare("SELECT pg_advisory_xact_lock($1)"),
            prepare(HEAD_SQL),
            prepare(VERSIONS_SQL),
            prepare(STORED_SQL),
            prepare(INSERT_SQL),
            prepare("SELECT pg_notify($1, $2)"),
            prepare("COMMIT"),
        )
        .map_err(pg_error)?;
        let (guarded_insert, notify_written, hold) = tokio::try_join!(
            prepare(GUARDED_INSERT_SQL),
            prepare(NOTIFY_WRITTEN_SQL),
            prepare(HOLD_SQL),
        )
        .map_err(pg_error)?;
        let statements = Statements {
            begin,
            lock,
            head,
            versions,
            stored,
            insert,
            notify,
            commit,
            guarded_insert,
            notify_written,
            hold,
        };
        *connected = Some(Connected {
            client: Arc::new(client),
            statements,
        });
    }
    Ok(connected.as_mut().expect("just connected"))
}
