//! What the checks of the view file found: a file moved aside at open, the deep page
//! check (`PRAGMA quick_check`, which reads the whole file, so it runs in the
//! background once the service is ready, and on demand), and failed reads. `/readyz`,
//! `/metrics` and `GET /v1/admin/projections` report it.

use super::sqlite::open::SetAside;
use super::ViewsHandle;
use crate::store::EventStore;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// The deep page check of the view file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum DeepCheck {
    /// Not run yet.
    #[default]
    NotRun,
    /// Reading the file.
    Running,
    /// Every page read back consistent.
    Passed {
        /// When it finished.
        at: DateTime<Utc>,
    },
    /// A page is damaged; an online rebuild was started.
    Failed {
        /// When it finished.
        at: DateTime<Utc>,
        /// What SQLite reported (first lines).
        detail: String,
    },
}

/// The view file's health.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ViewHealth {
    /// The position the file reflected when the service opened it (what start
    /// replayed is the log after it).
    pub opened_at_position: projections::Position,
    /// A file refused at open and moved aside (then rebuilt from the log).
    pub set_aside: Option<SetAside>,
    /// The last deep page check (of the file in use: a rebuilt file is checked again).
    pub deep_check: DeepCheck,
    /// The last page check that failed, kept after the rebuild replaced the file.
    pub last_damage: Option<DeepCheck>,
    /// Reads that failed since start (each answered empty and logged).
    pub read_errors: u64,
}

impl ViewHealth {
    /// Why the views cannot be trusted right now, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if let DeepCheck::Failed { detail, .. } = &self.deep_check {
            return Some(format!(
                "the view file failed its page check ({detail}); rebuilding"
            ));
        }
        (self.read_errors > 0).then(|| {
            format!(
                "{} reads of the view file failed; see the log, then rebuild the views",
                self.read_errors
            )
        })
    }
}

/// The deep check of a file just made live (by a rebuild), as the health to report.
pub fn checked_now(checked: Result<(), String>) -> DeepCheck {
    match checked {
        Ok(()) => DeepCheck::Passed { at: Utc::now() },
        Err(detail) => DeepCheck::Failed {
            at: Utc::now(),
            detail,
        },
    }
}

/// Reads every page of the file at `path`; `Ok(())` or what SQLite reported.
pub fn quick_check(path: &Path) -> Result<(), String> {
    let conn = super::sqlite::connect(path).map_err(|e| e.to_string())?;
    let mut statement = conn
        .prepare("PRAGMA quick_check(10)")
        .map_err(|e| e.to_string())?;
    let lines = statement
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| e.to_string())?;
    if lines != ["ok"] {
        return Err(lines.join("; "));
    }
    // Sound pages: refresh the planner's statistics while here (a sample per index).
    if let Err(err) = conn.execute_batch(super::sqlite::schema::ANALYZE) {
        tracing::warn!(%err, "could not refresh the view file's statistics");
    }
    Ok(())
}

/// Runs the deep check of the live file in the background; a failure starts an online
/// rebuild (the live file keeps serving until the rebuilt one is swapped in).
pub async fn deep_check(store: Arc<dyn EventStore>, views: Arc<ViewsHandle>) -> DeepCheck {
    views.update_health(|h| h.deep_check = DeepCheck::Running);
    let path = views.path().to_owned();
    let checked = tokio::task::spawn_blocking(move || quick_check(&path))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    let outcome = match checked {
        Ok(()) => DeepCheck::Passed { at: Utc::now() },
        Err(detail) => {
            tracing::error!(
                file = %views.path().display(),
                %detail,
                "VIEW FILE DAMAGED: page check failed; rebuilding the views online"
            );
            let started =
                super::rebuild::start(store, views.clone(), super::rebuild::ProjectionName::All);
            if let Err(running) = started {
                tracing::warn!(state = ?running.state, "a rebuild is already running");
            }
            DeepCheck::Failed {
                at: Utc::now(),
                detail,
            }
        }
    };
    views.update_health(|h| {
        h.deep_check = outcome.clone();
        if matches!(outcome, DeepCheck::Failed { .. }) {
            h.last_damage = Some(outcome.clone());
        }
    });
    outcome
}
