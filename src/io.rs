//! File IO behind a small trait, so the embedded store can be tested against a failing
//! disk.
//!
//! - [`FileSystem`] opens files and manages directory entries; [`LogFile`] is one open
//!   file with positional reads and writes, `sync_data` and `set_len`.
//! - [`RealFileSystem`] is the production implementation (std, `pread`/`pwrite`).
//! - [`FaultyFileSystem`] wraps another file system and injects faults on demand: a
//!   failed `fdatasync`, a short write followed by an error, or a full disk (`ENOSPC`).
//!   Service-level tests can hold a [`FaultInjector`] and flip faults while a store runs.
//! - [`probe`]: writes to one file delayed or skipped (crash test, benchmarks).

pub mod probe;

use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One open file. All methods take `&self`, so readers and the writer share a handle.
pub trait LogFile: Send + Sync + 'static {
    /// Reads at `offset`; may return fewer bytes than asked (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes at `offset`; may write fewer bytes than given.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Makes written data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing `len` bytes from `offset` back to the disk without waiting for
    /// them, so the disk works while the caller goes on; only a later
    /// [`LogFile::sync_data`] makes them durable. A hint: by default it does nothing.
    fn start_writeback(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// Truncates or extends the file.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length in bytes.
    fn size(&self) -> io::Result<u64>;
}

/// Opening files and changing directory entries.
pub trait FileSystem: Send + Sync + 'static {
    /// Opens `path` for reading and writing, creating it if `create` is set.
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>>;
    /// Creates `dir` and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The paths of the entries of `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes directory entries of `dir` (creations, renames) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
pub fn read_exact_at(file: &dyn LogFile, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, offset)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Writes all of `buf` at `offset`, retrying short writes until one fails.
pub fn write_all_at(file: &dyn LogFile, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.write_at(buf, offset)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// The operating system's file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFileSystem;

struct RealFile(std::fs::File);

impl LogFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.0.write_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    /// Linux starts writing dirty pages back when told their cached copies are not
    /// needed (`POSIX_FADV_DONTNEED`) and does not wait for it; the pages it then
    /// drops are clean ones only, so a range just written stays cached. (There is no
    /// safe wrapper of `sync_file_range`, which says this directly.)
    #[cfg(target_os = "linux")]
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        use rustix::fs::{fadvise, Advice};
        let Some(len) = std::num::NonZeroU64::new(len) else {
            return Ok(());
        };
        fadvise(&self.0, offset, Some(len), Advice::DontNeed).map_err(io::Error::from)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
}

impl FileSystem for RealFileSystem {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(path)?;
        Ok(Arc::new(RealFile(file)))
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

/// A [`FileSystem`] handle that can sit in a `Debug` + `Clone` configuration
/// ([`crate::config::ServeConfig::file_system`]): service-level tests hand the service a
/// [`FaultyFileSystem`] through it.
#[derive(Clone)]
pub struct SharedFileSystem(pub Arc<dyn FileSystem>);

impl std::fmt::Debug for SharedFileSystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedFileSystem(..)")
    }
}

/// Switches for the faults a [`FaultyFileSystem`] injects. Cheap to clone; every clone
/// controls the same file system.
#[derive(Debug, Clone, Default)]
pub struct FaultInjector {
    state: Arc<FaultState>,
}

#[derive(Debug, Default)]
struct FaultState {
    /// How many upcoming `sync_data` calls fail.
    failing_syncs: AtomicU64,
    /// How many upcoming writes write half their buffer and arm `fail_after_short`.
    short_writes: AtomicU64,
    /// Set by a short write: the next write call fails, as a real short write is
    /// followed by the error that stopped it.
    fail_after_short: AtomicBool,
    /// While set, every write fails with `ENOSPC` and writes nothing.
    disk_full: AtomicBool,
    /// Counts of injected faults, for assertions.
    injected: AtomicU64,
}

impl FaultInjector {
    /// The next `count` calls of `sync_data` fail with an IO error (after the data was
    /// possibly written: the page cache state is unknown, as with a real EIO).
    pub fn fail_next_syncs(&self, count: u64) {
        self.state.failing_syncs.store(count, Ordering::SeqCst);
    }
    /// The next `count` writes write only half of their buffer, and the write after each
    /// fails, as a short write followed by an error does.
    pub fn short_next_writes(&self, count: u64) {
        self.state.short_writes.store(count, Ordering::SeqCst);
    }
    /// While `full`, every write fails with `ENOSPC`.
    pub fn set_disk_full(&self, full: bool) {
        self.state.disk_full.store(full, Ordering::SeqCst);
    }
    /// Clears every armed fault.
    pub fn clear(&self) {
        self.state.failing_syncs.store(0, Ordering::SeqCst);
        self.state.short_writes.store(0, Ordering::SeqCst);
        self.state.fail_after_short.store(false, Ordering::SeqCst);
        self.state.disk_full.store(false, Ordering::SeqCst);
    }
    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.state.injected.load(Ordering::SeqCst)
    }

    fn take(counter: &AtomicU64) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// A file system that delegates to another and injects the faults its
/// [`FaultInjector`] arms.
pub struct FaultyFileSystem {
    inner: Arc<dyn FileSystem>,
    faults: FaultInjector,
}

impl FaultyFileSystem {
    /// Wraps `inner`; returns the file system and the switch board controlling it.
    pub fn new(inner: Arc<dyn FileSystem>) -> (Arc<FaultyFileSystem>, FaultInjector) {
        let faults = FaultInjector::default();
        let fs = Arc::new(FaultyFileSystem {
            inner,
            faults: faults.clone(),
        });
        (fs, faults)
    }
}

struct FaultyFile {
    inner: Arc<dyn LogFile>,
    faults: FaultInjector,
}

impl FaultyFile {
    fn injected(&self, kind: io::ErrorKind, what: &str) -> io::Error {
        self.faults.state.injected.fetch_add(1, Ordering::SeqCst);
        io::Error::new(kind, format!("injected fault: {what}"))
    }
}

impl LogFile for FaultyFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.inner.read_at(buf, offset)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        let state = &self.faults.state;
        if state.disk_full.load(Ordering::SeqCst) {
            return Err(self.injected(io::ErrorKind::StorageFull, "no space left on device"));
        }
        if state.fail_after_short.swap(false, Ordering::SeqCst) {
            return Err(self.injected(io::ErrorKind::Other, "write failed after short write"));
        }
        if buf.len() > 1 && FaultInjector::take(&state.short_writes) {
            state.fail_after_short.store(true, Ordering::SeqCst);
            return self.inner.write_at(&buf[..buf.len() / 2], offset);
        }
        self.inner.write_at(buf, offset)
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.start_writeback(offset, len)
    }
    fn sync_data(&self) -> io::Result<()> {
        if FaultInjector::take(&self.faults.state.failing_syncs) {
            return Err(self.injected(io::ErrorKind::Other, "fdatasync failed (EIO)"));
        }
        self.inner.sync_data()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl FileSystem for FaultyFileSystem {
    fn open(&self, path: &Path, create: bool) -> io::Result<Arc<dyn LogFile>> {
        let inner = self.inner.open(path, create)?;
        Ok(Arc::new(FaultyFile {
            inner,
            faults: self.faults.clone(),
        }))
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
