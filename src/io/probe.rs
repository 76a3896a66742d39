//! [`ProbedFileSystem`]: another file system, except that writes to files of one name
//! are delayed or skipped. The crash test delays the durable-end witness so that kills
//! land between a batch's data sync and its witness update; the append benchmark skips
//! it to measure what the witness costs.

use super::{FileSystem, LogFile};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What happens to writes and syncs of the probed files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// Each write waits this long first.
    DelayWrites(Duration),
    /// Writes and syncs report success and do nothing.
    SkipWrites,
}

/// Wraps `inner`; files whose name is `name` get the [`Probe`].
pub struct ProbedFileSystem {
    inner: Arc<dyn FileSystem>,
    name: &'static str,
    probe: Probe,
}

impl ProbedFileSystem {
    /// Probes the files named `name` (a file name, not a path) on `inner`.
    pub fn new(inner: Arc<dyn FileSystem>, name: &'static str, probe: Probe) -> Self {
        ProbedFileSystem { inner, name, probe }
    }
}

struct ProbedFile {
    inner: Arc<dyn LogFile>,
    probe: Probe,
}

impl LogFile for ProbedFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        match self.probe {
            Probe::DelayWrites(delay) => {
                std::thread::sleep(delay);
                self.inner.write_at(buf, offset)
            }
            Probe::SkipWrites => Ok(buf.len()),
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        match self.probe {
            Probe::DelayWrites(_) => self.inner.sync_data(),
            Probe::SkipWrites => Ok(()),
        }
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        match self.probe {
            Probe::DelayWrites(_) => self.inner.start_writeback(offset, len),
            Probe::SkipWrites => Ok(()),
        }
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl FileSystem for ProbedFileSystem {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = self.inner.open(path, create)?;
        if path.file_name().is_some_and(|name| name == self.name) {
            return Ok(Arc::new(ProbedFile {
                inner: file,
                probe: self.probe,
            }));
        }
        Ok(file)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.list(dir)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
}
