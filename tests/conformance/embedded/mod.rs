//! The embedded backend: the conformance suite on a fresh temp dir per test, plus the
//! tests only a file-based log needs (recovery, injected faults, rollover, verify).

mod faults;
mod recovery;
mod rollover;
mod sealed_index;
mod verify;

use crate::support::Harness;
use alert_ledger::store::embedded::format::{decode_frame, Frame, SEGMENT_HEADER_LEN};
use alert_ledger::store::embedded::{segment_path, EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::EventStore;
use futures_util::future::BoxFuture;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

/// A store in its own temp dir, reopened with the same options.
pub struct EmbeddedHarness {
    pub dir: TempDir,
    pub options: EmbeddedOptions,
    pub store: Arc<EmbeddedStore>,
}

impl EmbeddedHarness {
    /// 8 MiB segments, so the larger cases also cross segment boundaries.
    pub fn fresh() -> EmbeddedHarness {
        EmbeddedHarness::with(|options| options.segment_size = 8 * 1024 * 1024)
    }

    /// A fresh store with adjusted options.
    pub fn with(adjust: impl FnOnce(&mut EmbeddedOptions)) -> EmbeddedHarness {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut options = EmbeddedOptions::new(dir.path());
        adjust(&mut options);
        let store = Arc::new(EmbeddedStore::open(options.clone()).expect("open"));
        EmbeddedHarness {
            dir,
            options,
            store,
        }
    }

    /// Closes the store (so its files can be edited).
    pub async fn close(&self) {
        self.store.close().await.expect("close");
    }

    /// Opens the data dir again with the harness options.
    pub fn open_again(&self) -> Result<EmbeddedStore, alert_ledger::store::StoreError> {
        EmbeddedStore::open(self.options.clone())
    }

    /// The path of segment `sequence`.
    pub fn segment(&self, sequence: u64) -> PathBuf {
        segment_path(self.dir.path(), sequence)
    }
}

impl Harness for EmbeddedHarness {
    fn store(&self) -> Arc<dyn EventStore> {
        self.store.clone()
    }

    fn reopen(&mut self) -> BoxFuture<'_, Arc<dyn EventStore>> {
        Box::pin(async move {
            self.close().await;
            self.store = Arc::new(self.open_again().expect("reopen"));
            self.store.clone() as Arc<dyn EventStore>
        })
    }
}

crate::conformance_suite!(EmbeddedHarness::fresh());

/// Byte offset and length of every record frame in a segment file.
pub fn record_frames(path: &Path) -> Vec<(usize, usize)> {
    let bytes = std::fs::read(path).expect("read segment");
    let mut offset = SEGMENT_HEADER_LEN;
    let mut frames = Vec::new();
    while let Ok(Frame::Record(record)) = decode_frame(&bytes[offset..]) {
        frames.push((offset, record.frame_len()));
        offset += record.frame_len();
    }
    frames
}

/// Rewrites a file through `edit`.
pub fn edit_file(path: &Path, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("read");
    edit(&mut bytes);
    std::fs::write(path, bytes).expect("write");
}
