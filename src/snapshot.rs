//! Snapshot files of the views, so startup replays only the tail of the log.
//!
//! A snapshot is one file `views-<position, 20 digits>.snap` in the snapshot
//! directory (default `<data-dir>/snapshots`):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "ALSNAP\0\n"
//! 8       4     view format version (u32 LE): FORMAT_VERSION when written
//! 12      8     position the views reflect (u64 LE)
//! 20      32    chain hash of the event at that position (binds it to one log)
//! 52      8     body length in bytes (u64 LE)
//! 60      32    SHA-256 of the body
//! 92      n     body: the views as JSON
//! ```
//!
//! A file is written to a temporary name, synced, renamed and the directory synced,
//! so a crash leaves either the old set or the new file whole. On load a snapshot is
//! refused, by name and with the reason, when its checksum fails, its format is not
//! this build's, it is ahead of the log, or the log's hash at its position differs
//! (the log it was taken from is not this one). Refused snapshots are never used.

use crate::store::{EventStore, StoreError};
use projections::views::Views;
use projections::{Hash, Position};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bump when the shape of `Views` changes: older snapshots are then replayed over.
pub const FORMAT_VERSION: u32 = 3;
const MAGIC: &[u8; 8] = b"ALSNAP\0\n";
const HEADER_LEN: usize = 92;

/// Why a snapshot file was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotRejected {
    /// Unreadable, truncated, bad magic or checksum mismatch.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Written by a build with another view format.
    #[error("view format {found}, this build reads {FORMAT_VERSION}")]
    OldFormat {
        /// The file's format version.
        found: u32,
    },
    /// Reflects a position the log does not have.
    #[error("ahead of the log: snapshot at position {snapshot}, log head {head}")]
    AheadOfLog {
        /// The snapshot's position.
        snapshot: Position,
        /// The log's head.
        head: Position,
    },
    /// The log's event at the snapshot's position has another hash.
    #[error("taken from a different log: hash at position {position} differs")]
    OtherLog {
        /// The snapshot's position.
        position: Position,
    },
}

/// A decoded snapshot header and body.
pub struct Snapshot {
    /// The file it came from (empty when decoded from bytes by [`decode`]).
    pub path: PathBuf,
    /// Position the views reflect.
    pub position: Position,
    /// Chain hash of the event at `position`.
    pub hash: Hash,
    /// The views.
    pub views: Views,
}

/// The snapshot directory.
#[derive(Debug, Clone)]
pub struct SnapshotDir {
    dir: PathBuf,
    keep: usize,
}

impl SnapshotDir {
    /// Snapshots in `dir`, keeping the newest `keep` files.
    pub fn new(dir: impl Into<PathBuf>, keep: usize) -> Self {
        SnapshotDir {
            dir: dir.into(),
            keep: keep.max(1),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes a snapshot of views at `position` (whose event has `hash`), given their
    /// encoded `body` (see [`encode`]), and removes all but the newest `keep` files.
    pub fn write(&self, position: Position, hash: Hash, body: &[u8]) -> std::io::Result<PathBuf> {
        let file_bytes = encode_file(position, hash, body);
        fs::create_dir_all(&self.dir)?;
        let path = self.dir.join(file_name(position));
        let temporary = path.with_extension("snap.tmp");
        let mut file = fs::File::create(&temporary)?;
        file.write_all(&file_bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        fs::File::open(&self.dir)?.sync_all()?;
        self.prune()?;
        Ok(path)
    }

    /// Snapshot files, newest (highest position) first.
    pub fn list(&self) -> Vec<(Position, PathBuf)> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<(Position, PathBuf)> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter_map(|path| parse_name(&path).map(|position| (position, path)))
            .collect();
        found.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
        found
    }

    /// Reads and checks one file (checksum and format only).
    pub fn read(path: &Path) -> Result<Snapshot, SnapshotRejected> {
        let bytes = fs::read(path).map_err(|err| SnapshotRejected::Corrupt(err.to_string()))?;
        let mut snapshot = decode(&bytes)?;
        snapshot.path = path.to_owned();
        Ok(snapshot)
    }

    /// The newest snapshot at or below `at_most` that `store` confirms (the log has
    /// that position with the same hash), and every newer file that was refused, with
    /// the reason. Files above `at_most` that the log does reach are skipped silently
    /// (time travel asks for older views); those it does not reach are refused.
    pub async fn newest_valid(
        &self,
        store: &dyn EventStore,
        at_most: Position,
    ) -> Result<(Option<Snapshot>, Vec<(PathBuf, SnapshotRejected)>), StoreError> {
        let head = store.head().await?.position;
        let mut refused = Vec::new();
        for (position, path) in self.list() {
            if position > head {
                refused.push((
                    path,
                    SnapshotRejected::AheadOfLog {
                        snapshot: position,
                        head,
                    },
                ));
                continue;
            }
            if position > at_most {
                continue;
            }
            let read_path = path.clone();
            let read = tokio::task::spawn_blocking(move || Self::read(&read_path))
                .await
                .map_err(|err| StoreError::Unavailable(format!("snapshot reader: {err}").into()))?;
            let snapshot = match read {
                Ok(snapshot) => snapshot,
                Err(reason) => {
                    refused.push((path, reason));
                    continue;
                }
            };
            if snapshot.position > 0
                && hash_at(store, snapshot.position).await? != Some(snapshot.hash)
            {
                refused.push((path, SnapshotRejected::OtherLog { position }));
                continue;
            }
            return Ok((Some(snapshot), refused));
        }
        Ok((None, refused))
    }

    fn prune(&self) -> std::io::Result<()> {
        for (_, path) in self.list().into_iter().skip(self.keep) {
            fs::remove_file(path)?;
        }
        Ok(())
    }
}

/// Encodes views as a snapshot body.
pub fn encode(views: &Views) -> serde_json::Result<Vec<u8>> {
    serde_json::to_vec(views)
}

/// The bytes of a snapshot file of views at `position` (whose event has `hash`), given
/// their encoded `body`: the header laid out above, then the body.
pub fn encode_file(position: Position, hash: Hash, body: &[u8]) -> Vec<u8> {
    let mut file_bytes = Vec::with_capacity(HEADER_LEN + body.len());
    file_bytes.extend_from_slice(MAGIC);
    file_bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file_bytes.extend_from_slice(&position.to_le_bytes());
    file_bytes.extend_from_slice(&hash.0);
    file_bytes.extend_from_slice(&(body.len() as u64).to_le_bytes());
    file_bytes.extend_from_slice(&Sha256::digest(body));
    file_bytes.extend_from_slice(body);
    file_bytes
}

fn file_name(position: Position) -> String {
    format!("views-{position:020}.snap")
}

fn parse_name(path: &Path) -> Option<Position> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("views-")?
        .strip_suffix(".snap")?
        .parse()
        .ok()
}

/// Decodes and checks the bytes of a snapshot file (header, checksum, format, body),
/// as [`SnapshotDir::read`] does after reading the file; `path` is left empty. Pure;
/// the fuzz target `snapshot_decoder` feeds it arbitrary bytes.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotRejected> {
    let corrupt = |what: &str| SnapshotRejected::Corrupt(what.to_owned());
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(corrupt(
            "not a snapshot file (bad magic or truncated header)",
        ));
    }
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
    let format = u32_at(8);
    if format != FORMAT_VERSION {
        return Err(SnapshotRejected::OldFormat { found: format });
    }
    let position = u64_at(12);
    let mut hash = [0u8; 32];
    hash.copy_from_slice(&bytes[20..52]);
    let body_len = u64_at(52);
    let body = &bytes[HEADER_LEN..];
    if body.len() as u64 != body_len {
        return Err(corrupt("body length does not match the header"));
    }
    if Sha256::digest(body)[..] != bytes[60..92] {
        return Err(corrupt("checksum mismatch"));
    }
    let views = decode_views(body)?;
    if views.position != position {
        return Err(corrupt("body position differs from the header"));
    }
    Ok(Snapshot {
        path: PathBuf::new(),
        position,
        hash: Hash(hash),
        views,
    })
}

/// Decodes a snapshot body (the views as JSON) whose checksum already matched.
pub fn decode_views(body: &[u8]) -> Result<Views, SnapshotRejected> {
    serde_json::from_slice(body)
        .map_err(|err| SnapshotRejected::Corrupt(format!("body does not decode: {err}")))
}

/// The log's chain hash at `position`, if the log reaches it.
pub async fn hash_at(
    store: &dyn EventStore,
    position: Position,
) -> Result<Option<Hash>, StoreError> {
    let found = store.read_all(position, 1).await?;
    Ok(found
        .first()
        .filter(|event| event.position == position)
        .map(|event| event.hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_from_the_writer_decodes_to_the_same_views() {
        let views = Views {
            position: 7,
            ..Views::default()
        };
        let body = encode(&views).unwrap();
        let snapshot = decode(&encode_file(7, Hash([3; 32]), &body)).unwrap();
        assert_eq!(snapshot.views, views);
        assert_eq!((snapshot.position, snapshot.hash), (7, Hash([3; 32])));
    }

    #[test]
    fn a_changed_body_byte_is_refused_as_a_checksum_mismatch() {
        let body = encode(&Views::default()).unwrap();
        let mut file = encode_file(0, Hash::GENESIS, &body);
        *file.last_mut().unwrap() ^= 1;
        let refused = decode(&file).err().unwrap();
        assert_eq!(
            refused,
            SnapshotRejected::Corrupt("checksum mismatch".into())
        );
    }

    #[test]
    fn a_truncated_header_is_refused_not_a_panic() {
        let file = encode_file(0, Hash::GENESIS, b"{}");
        for len in [0, 7, 8, 91] {
            assert!(matches!(
                decode(&file[..len]),
                Err(SnapshotRejected::Corrupt(_))
            ));
        }
    }
}
