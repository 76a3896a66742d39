//! The service's tree: the tree file kept up to the log's durable head by a follower
//! task, the head it has published, and proofs over it.
//!
//! Only the follower writes (under a mutex, on a blocking thread); readers read the
//! nodes through their own file handle and only ever ask for subtrees of a size the
//! follower has published, which it does after the nodes are written. The follower
//! makes the file durable once a second and at shutdown ([`super::file`]); what it
//! had not synced is folded again from the log at the next start.

use super::file::{Opened, TreeFile, TreeReader};
use super::hash::leaf_hash;
use super::proof::{self, ProofError};
use crate::store::verify::RawLog;
use crate::store::{EventStore, StoreError};
use projections::{Hash, Position};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Records read from the log per step of the follower.
const PAGE: usize = 8192;

/// How often the follower makes the tree file durable.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What the tree holds: its size, its root and the last record it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// Leaves: the events at positions 1 to `size`.
    pub size: u64,
    /// The root over them (RFC 9162 `MTH`).
    pub root: Hash,
    /// The chain hash of the event at position `size` (`GENESIS` when empty).
    pub last_hash: Hash,
}

/// The ledger's Merkle tree, shared by the follower and the readers.
pub struct MerkleTree {
    path: PathBuf,
    writer: Mutex<TreeFile>,
    reader: TreeReader,
    head: RwLock<TreeHead>,
    size: watch::Sender<u64>,
}

impl MerkleTree {
    /// Opens the tree file at `path` for the log of `store`, keeping what it holds if it
    /// is a prefix of this log (the leaf at its last durable size is that record's),
    /// starting it over otherwise. `None` when the store keeps no readable hash chain
    /// (KurrentDB).
    pub async fn open(
        store: &Arc<dyn EventStore>,
        path: &Path,
    ) -> Result<Option<Arc<MerkleTree>>, StoreError> {
        let Some(log) = store.raw_log().await? else {
            return Ok(None);
        };
        let log_head = store.head().await?;
        let opened_path = path.to_owned();
        let (mut file, opened) = blocking(move || {
            if let Some(dir) = opened_path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            TreeFile::open(&opened_path)
        })
        .await?;
        let mut last_hash = Hash::GENESIS;
        if let Some(why) = match opened {
            Opened::StartedOver(why) => Some(why),
            Opened::Created | Opened::Resumed(0) => None,
            Opened::Resumed(size) if size > log_head.position => Some(format!(
                "it holds {size} events but the log ends at {}",
                log_head.position
            )),
            Opened::Resumed(size) => {
                let record = log.records_after(size - 1, 1).await?;
                let stored = file.read_node(0, size - 1).map_err(io_error)?;
                match record.first() {
                    Some(r) if r.position == size && leaf_hash(&r.hash) == stored => {
                        last_hash = r.hash;
                        None
                    }
                    _ => Some(format!(
                        "its leaf {size} is not the log's record at position {size}"
                    )),
                }
            }
        } {
            tracing::warn!(file = %path.display(), %why, "Merkle tree file not usable; building it again from the log");
            file.reset().map_err(io_error)?;
        }
        let head = TreeHead {
            size: file.leaves(),
            root: file.root(),
            last_hash,
        };
        let reader = file.reader().map_err(io_error)?;
        tracing::info!(file = %path.display(), size = head.size, "Merkle tree open");
        Ok(Some(Arc::new(MerkleTree {
            path: path.to_owned(),
            writer: Mutex::new(file),
            reader,
            head: RwLock::new(head),
            size: watch::channel(head.size).0,
        })))
    }

    /// The tree file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the tree holds now.
    pub fn head(&self) -> TreeHead {
        *self.head.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `limit` until the tree holds `size` events; returns what it holds then.
    pub async fn wait_for(&self, size: u64, limit: Duration) -> TreeHead {
        let mut watch = self.size.subscribe();
        let _ = tokio::time::timeout(limit, watch.wait_for(|held| *held >= size)).await;
        self.head()
    }

    /// The root of the first `size` events (`size` ≤ the published size).
    pub async fn root_at(self: &Arc<Self>, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        let tree = self.clone();
        run_blocking(move || Ok(proof::root(&tree.reader, size)?)).await
    }

    /// The audit path of the event at `position` in the tree of `size` events.
    pub async fn inclusion(
        self: &Arc<Self>,
        position: Position,
        size: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if position == 0 || position > size {
            return Err(ProofError::OutOfRange(format!(
                "position {position} is not in the tree of {size} events"
            )));
        }
        let tree = self.clone();
        run_blocking(move || proof::inclusion_path(&tree.reader, position - 1, size)).await
    }

    /// The proof that the tree of `to` events extends the tree of `from` events.
    pub async fn consistency(
        self: &Arc<Self>,
        from: u64,
        to: u64,
    ) -> Result<Vec<Hash>, ProofError> {
        self.check_size(to)?;
        let tree = self.clone();
        run_blocking(move || proof::consistency_path(&tree.reader, from, to)).await
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let held = self.head().size;
        if size > held {
            return Err(ProofError::OutOfRange(format!(
                "the tree holds {held} events, not {size}"
            )));
        }
        Ok(())
    }

    /// Appends the records (the next positions of the log) and publishes the new head.
    fn append(&self, records: &[(Position, Hash)]) -> Result<(), StoreError> {
        let Some(&(_, last_hash)) = records.last() else {
            return Ok(());
        };
        let mut file = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        for (expected, &(position, hash)) in (file.leaves() + 1..).zip(records) {
            if position != expected {
                return Err(StoreError::Unavailable(
                    format!(
                        "the log has position {position} where the tree expected {expected}: the tree needs gap-free positions"
                    )
                    .into(),
                ));
            }
            file.push(&hash);
        }
        file.flush().map_err(io_error)?;
        let head = TreeHead {
            size: file.leaves(),
            root: file.root(),
            last_hash,
        };
        *self.head.write().unwrap_or_else(|p| p.into_inner()) = head;
        self.size.send_replace(head.size);
        Ok(())
    }

    /// Makes the tree file durable up to what it holds.
    fn sync(&self) -> Result<(), StoreError> {
        let mut file = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        file.sync().map_err(io_error)
    }
}

/// Keeps `tree` up to the durable head of `store` until `stop` completes, making it
/// durable every second and once more at the end.
pub async fn follow(
    tree: Arc<MerkleTree>,
    store: Arc<dyn EventStore>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut heads = store.watch_head();
    let mut ticks = tokio::time::interval(SYNC_EVERY);
    let mut log: Option<Box<dyn RawLog>> = None;
    let mut synced = tree.head().size;
    loop {
        let head = *heads.borrow_and_update();
        if let Err(err) = catch_up(&tree, &store, &mut log, head).await {
            tracing::warn!(error = %err, "Merkle tree: cannot follow the log; trying again in a second");
            log = None;
            tokio::time::sleep(SYNC_EVERY).await;
            continue;
        }
        tokio::select! {
            () = &mut stop => break,
            changed = heads.changed() => if changed.is_err() { break },
            _ = ticks.tick() => {
                let size = tree.head().size;
                if size != synced {
                    synced = size;
                    sync_in_background(&tree).await;
                }
            }
        }
    }
    let head = *heads.borrow();
    if let Err(err) = catch_up(&tree, &store, &mut log, head).await {
        tracing::warn!(error = %err, "Merkle tree: did not reach the head before stopping");
    }
    sync_in_background(&tree).await;
}

async fn catch_up(
    tree: &Arc<MerkleTree>,
    store: &Arc<dyn EventStore>,
    log: &mut Option<Box<dyn RawLog>>,
    head: Position,
) -> Result<(), StoreError> {
    while tree.head().size < head {
        if log.is_none() {
            *log = store.raw_log().await?;
        }
        let Some(reader) = log.as_ref() else {
            return Ok(());
        };
        let records = reader.hashes_after(tree.head().size, PAGE).await?;
        if records.is_empty() {
            return Ok(());
        }
        let writer = tree.clone();
        blocking(move || Ok::<_, std::io::Error>(writer.append(&records))).await??;
    }
    Ok(())
}

async fn sync_in_background(tree: &Arc<MerkleTree>) {
    let tree = tree.clone();
    match blocking(move || Ok::<_, std::io::Error>(tree.sync())).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) | Err(err) => {
            tracing::warn!(error = %err, "Merkle tree: cannot make the tree file durable")
        }
    }
}

fn io_error(err: std::io::Error) -> StoreError {
    StoreError::io("Merkle tree file", err)
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| StoreError::Unavailable(format!("tree task failed: {err}").into()))?
        .map_err(io_error)
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ProofError> + Send + 'static,
) -> Result<T, ProofError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| ProofError::Io(std::io::Error::other(format!("proof task failed: {err}"))))?
}
