//! The checks a view file passes before the service uses it, each O(1): the file is
//! whole (not shorter than its header says), its format is this build's, and its
//! checkpoint is a position of this log with this log's chain hash there.
//!
//! A file that fails is moved aside (`views.sqlite3.refused-<time>`) and rebuilt, and
//! the service starts, saying so in the log, a metric and `/readyz`. Two failures are
//! more than a bad file: a checkpoint ahead of the log, or a hash that differs from
//! the log's while the file was built from this log (same first event), means the log
//! lost or rewrote events the views had seen. The file is then a witness, like the
//! durable-end marker: the start is refused unless `--recovery accept-data-loss`, which
//! records the loss in the log first (ADR 0014).

use super::{checkpoint, connect, schema, Writer};
use crate::store::{DataLoss, EventStore, ExpectedVersion, StoreError};
use projections::{Hash, Position};
use std::path::{Path, PathBuf};

/// Why a view file was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Shorter than its header says, or not a readable database.
    #[error("unreadable: {0}")]
    Unreadable(String),
    /// Written by a build with another view format.
    #[error("view format {found}, this build reads {}", schema::FORMAT_VERSION)]
    Format {
        /// The file's format.
        found: i64,
    },
    /// Built from another log (its first event differs from this log's).
    #[error("built from another log: the chain hash of position 1 differs")]
    OtherLog,
    /// Reflects positions this log no longer has.
    #[error("ahead of the log: the views reflect position {position}, the log ends at {head}")]
    AheadOfLog {
        /// The file's checkpoint.
        position: Position,
        /// The log's head.
        head: Position,
    },
    /// This log's hash at the checkpoint differs: the log was rewritten there.
    #[error("the log's chain hash at position {position} differs from the views' checkpoint")]
    Rewritten {
        /// The file's checkpoint.
        position: Position,
    },
}

impl Refused {
    /// The loss this refusal proves, if it proves one.
    fn loss(&self, name: &str) -> Option<DataLoss> {
        let (first_lost_position, witness_position) = match self {
            Refused::AheadOfLog { position, head } => (head + 1, *position),
            Refused::Rewritten { position } => (*position, *position),
            Refused::Unreadable(_) | Refused::Format { .. } | Refused::OtherLog => return None,
        };
        Some(DataLoss {
            first_lost_position,
            witness_position,
            witness: format!("view file {name}"),
            detail: format!("the view file {name} disagrees with the log: {self}"),
            moved_aside: Vec::new(),
            cut_bytes: 0,
        })
    }
}

/// A file that was moved aside at open, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SetAside {
    /// Where it went.
    pub file: PathBuf,
    /// Why.
    pub reason: String,
}

/// The opened file: its writer and what happened to a refused one.
pub struct Opened {
    /// The writer (of the checked file, or of a fresh one).
    pub writer: Writer,
    /// The refused file, if one was moved aside.
    pub set_aside: Option<SetAside>,
}

/// Opens the view file at `path`, checking it against `store` (see the module docs).
pub async fn open(
    path: &Path,
    store: &dyn EventStore,
    accept_loss: bool,
) -> Result<Opened, StoreError> {
    let mut set_aside = None;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // On PostgreSQL or KurrentDB nothing else creates the data directory.
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io("create the view file's directory", e))?;
    }
    if !path.exists() {
        // An operator deleted the file but not its write-ahead log: a new file must not
        // pick that log up.
        super::build::remove_with_companions(path)
            .map_err(|e| StoreError::io("remove a stale view write-ahead log", e))?;
    }
    if path.exists() {
        match check(path, store).await? {
            Ok(()) => {
                let path = path.to_owned();
                let writer = tokio::task::spawn_blocking(move || Writer::open(&path))
                    .await
                    .map_err(|e| StoreError::io("open the view file", std::io::Error::other(e)))?;
                match writer {
                    Ok(writer) => {
                        return Ok(Opened {
                            writer,
                            set_aside: None,
                        })
                    }
                    Err(err) => set_aside = Some(Refused::Unreadable(err.to_string())),
                }
            }
            Err(refused) => set_aside = Some(refused),
        }
    }
    let set_aside = match set_aside {
        Some(refused) => Some(move_aside(path, store, refused, accept_loss).await?),
        None => None,
    };
    let writer = Writer::open(path).map_err(|e| sqlite_error("create the view file", e))?;
    Ok(Opened { writer, set_aside })
}

/// A SQLite failure as a store error (the service cannot start without its views).
pub fn sqlite_error(what: &str, err: rusqlite::Error) -> StoreError {
    StoreError::io(what, std::io::Error::other(err))
}

/// The O(1) checks; `Ok(Err(..))` is a refusal, `Err` a failure to read the log.
pub async fn check(path: &Path, store: &dyn EventStore) -> Result<Result<(), Refused>, StoreError> {
    let checkpoint = match read_checkpoint(path) {
        Ok(Some(checkpoint)) => checkpoint,
        Ok(None) => return Ok(Ok(())),
        Err(refused) => return Ok(Err(refused)),
    };
    if checkpoint.format != schema::FORMAT_VERSION {
        return Ok(Err(Refused::Format {
            found: checkpoint.format,
        }));
    }
    if checkpoint.position == 0 {
        return Ok(Ok(()));
    }
    let head = store.head().await?.position;
    let first = hash_at(store, 1).await?;
    let same_log = first.is_none_or(|first| first == checkpoint.first_hash);
    if !same_log {
        return Ok(Err(Refused::OtherLog));
    }
    if checkpoint.position > head {
        return Ok(Err(Refused::AheadOfLog {
            position: checkpoint.position,
            head,
        }));
    }
    if hash_at(store, checkpoint.position).await? != Some(checkpoint.hash) {
        return Ok(Err(Refused::Rewritten {
            position: checkpoint.position,
        }));
    }
    Ok(Ok(()))
}

/// The checkpoint, after checking the file is as long as its header says (what the
/// O(1) checks read of the file itself; `fuzz/fuzz_targets/view_file_checks.rs`).
pub fn read_checkpoint(path: &Path) -> Result<Option<checkpoint::Checkpoint>, Refused> {
    let unreadable = |what: String| Refused::Unreadable(what);
    let mut header = [0u8; 100];
    let length = {
        use std::io::Read;
        let mut file = std::fs::File::open(path).map_err(|e| unreadable(e.to_string()))?;
        let length = file
            .metadata()
            .map_err(|e| unreadable(e.to_string()))?
            .len();
        if length > 0 {
            file.read_exact(&mut header)
                .map_err(|_| unreadable(format!("{length} bytes: shorter than a header")))?;
        }
        length
    };
    if length > 0 {
        if &header[..16] != b"SQLite format 3\0" {
            return Err(unreadable("not a SQLite database".into()));
        }
        let page_size = match u16::from_be_bytes([header[16], header[17]]) {
            1 => 65_536,
            size => u64::from(size),
        };
        let pages = u64::from(u32::from_be_bytes([
            header[28], header[29], header[30], header[31],
        ]));
        if length < pages * page_size {
            return Err(unreadable(format!(
                "truncated: {length} bytes, the header says {pages} pages of {page_size}"
            )));
        }
    }
    let conn = connect(path).map_err(|e| unreadable(e.to_string()))?;
    let has_table: bool = conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'checkpoint')",
            [],
            |row| row.get(0),
        )
        .map_err(|e| unreadable(e.to_string()))?;
    if !has_table {
        return Ok(None);
    }
    checkpoint::read(&conn).map_err(|e| unreadable(e.to_string()))
}

async fn hash_at(store: &dyn EventStore, position: Position) -> Result<Option<Hash>, StoreError> {
    let found = store.read_all(position, 1).await?;
    Ok(found
        .first()
        .filter(|event| event.position == position)
        .map(|event| event.hash))
}

/// Moves a refused file aside, after refusing the start (or recording the loss) when
/// the refusal proves one.
pub async fn move_aside(
    path: &Path,
    store: &dyn EventStore,
    refused: Refused,
    accept_loss: bool,
) -> Result<SetAside, StoreError> {
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let loss = refused.loss(&name);
    if let Some(loss) = &loss {
        if !accept_loss {
            return Err(StoreError::AcknowledgedLoss {
                position: loss.first_lost_position,
                detail: loss.detail.clone(),
            });
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let aside = path.with_file_name(format!("{name}.refused-{stamp}"));
    std::fs::rename(path, &aside).map_err(|e| StoreError::io("move the view file aside", e))?;
    for suffix in ["-wal", "-shm"] {
        let companion = PathBuf::from(format!("{}{suffix}", path.display()));
        if companion.exists() {
            let moved = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(&companion, moved)
                .map_err(|e| StoreError::io("move the view file aside", e))?;
        }
    }
    if let Some(loss) = loss {
        let written = store
            .append(
                DataLoss::STREAM,
                ExpectedVersion::Any,
                vec![loss.to_event()],
            )
            .await?;
        tracing::error!(
            file = %aside.display(),
            position = written.first_position,
            detail = %loss.detail,
            "recovery accept-data-loss: view file set aside; the disagreement is recorded in the log"
        );
    }
    match refused {
        // An upgrade: every build that changes the view format rebuilds the file once.
        Refused::Format { found } if found < schema::FORMAT_VERSION => tracing::warn!(
            file = %aside.display(),
            reason = %refused,
            "view file of an older format: moved aside; the views are rebuilt from the log"
        ),
        _ => tracing::error!(
            file = %aside.display(),
            reason = %refused,
            "VIEW FILE REFUSED: moved aside; the views are rebuilt from the log"
        ),
    }
    Ok(SetAside {
        file: aside,
        reason: refused.to_string(),
    })
}
