//! Cutting the log: bytes that leave it are first copied into `<data-dir>/cut/` and
//! synced, and only then cleared from the segment (whose unused space must be zeros);
//! whole segments are renamed into `cut/`. Nothing is ever deleted.

use super::super::sealing::index_path;
use super::super::segment::display_name;
use super::scan::last_nonzero_end;
use crate::io::{write_all_at, FileSystem, LogFile};
use crate::store::StoreError;
use std::path::{Path, PathBuf};

/// The folder, inside the data directory, that keeps what recovery cut.
pub const CUT_DIR: &str = "cut";

/// Copies the non-zero bytes of `buf[from..]` (segment `segment`) into a new file under
/// `cut/`, then zeroes them in the segment. Returns the new file's path relative to
/// `data_dir` and how many bytes it holds; `None` when there was nothing to cut.
pub fn move_tail_aside(
    fs: &dyn FileSystem,
    data_dir: &Path,
    segment: &Path,
    file: &dyn LogFile,
    buf: &[u8],
    from: u64,
) -> Result<Option<(String, u64)>, StoreError> {
    let len = last_nonzero_end(&buf[from as usize..]);
    if len == 0 {
        return Ok(None);
    }
    let bytes = &buf[from as usize..(from + len) as usize];
    let name = format!("{}@{from}.{}.bin", display_name(segment), unique_suffix());
    let target = cut_dir(fs, data_dir)?.join(&name);
    let copy = fs
        .open(&target, true)
        .map_err(|e| StoreError::io("create cut file", e))?;
    write_all_at(copy.as_ref(), bytes, 0)
        .and_then(|()| copy.sync_data())
        .map_err(|e| StoreError::io("write cut file", e))?;
    fs.sync_dir(&data_dir.join(CUT_DIR))
        .map_err(|e| StoreError::io("sync cut dir", e))?;
    write_all_at(file, &vec![0u8; len as usize], from)
        .and_then(|()| file.sync_data())
        .map_err(|e| StoreError::io("clear the cut bytes from the segment", e))?;
    Ok(Some((format!("{CUT_DIR}/{name}"), len)))
}

/// Renames whole segments into `cut/`. Returns their new paths relative to `data_dir`.
pub fn move_segments_aside(
    fs: &dyn FileSystem,
    data_dir: &Path,
    segments: &[(u64, PathBuf)],
) -> Result<Vec<String>, StoreError> {
    if segments.is_empty() {
        return Ok(Vec::new());
    }
    let dir = cut_dir(fs, data_dir)?;
    let mut moved = Vec::new();
    for (sequence, path) in segments {
        let name = format!("{}.{}", display_name(path), unique_suffix());
        fs.rename(path, &dir.join(&name))
            .map_err(|e| StoreError::io("move a segment aside", e))?;
        moved.push(format!("{CUT_DIR}/{name}"));
        // Its index describes a segment that is no longer in the log (derived data:
        // nothing is lost by removing it, and a new segment of that number gets its own).
        let index = index_path(data_dir, *sequence);
        if let Err(err) = fs.remove_file(&index) {
            if err.kind() != std::io::ErrorKind::NotFound {
                return Err(StoreError::io("remove a moved segment's index", err));
            }
        }
    }
    fs.sync_dir(&dir)
        .and_then(|()| fs.sync_dir(data_dir))
        .map_err(|e| StoreError::io("sync after moving segments aside", e))?;
    Ok(moved)
}

fn cut_dir(fs: &dyn FileSystem, data_dir: &Path) -> Result<PathBuf, StoreError> {
    let dir = data_dir.join(CUT_DIR);
    fs.create_dir_all(&dir)
        .map_err(|e| StoreError::io("create cut dir", e))?;
    fs.sync_dir(data_dir)
        .map_err(|e| StoreError::io("sync data dir", e))?;
    Ok(dir)
}

/// Seconds and nanoseconds since the epoch: cut files of two recoveries never collide.
fn unique_suffix() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}-{:09}", now.as_secs(), now.subsec_nanos())
}
