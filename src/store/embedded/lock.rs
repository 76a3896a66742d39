//! One process per data directory: an exclusive lock on `<data-dir>/LOCK`, taken
//! before recovery (which may truncate a torn tail) and held while the store is open.
//! The kernel drops it when the process dies, so a crash never leaves it behind.

use crate::store::StoreError;
use std::fs::{File, OpenOptions};
use std::path::Path;

/// The held lock; dropping it releases the directory.
#[derive(Debug)]
pub(super) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or fails at once, naming the directory.
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|err| StoreError::io(&dir.display().to_string(), err))?;
        let path = dir.join("LOCK");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|err| StoreError::io(&path.display().to_string(), err))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(
                format!(
                    "{} is in use by another process (one process per data directory)",
                    dir.display()
                )
                .into(),
            )),
            Err(std::fs::TryLockError::Error(err)) => {
                Err(StoreError::io(&path.display().to_string(), err))
            }
        }
    }
}
