//! A sealed segment whose index file has been checked: what readers and the writer
//! need from it is read from the file on demand, with small positional reads, so its
//! memory is its stream filter and a sparse guide to its directory (about 1.3 bytes per
//! stream), not its records or streams.

use crate::io::{read_exact_at, LogFile};
use crate::store::embedded::format::sealed::{bloom, IndexFileError, IndexLayout};
use projections::{Position, StreamVersion};
use std::io;
use std::sync::Arc;

/// One in this many directory hashes is kept in memory.
const FENCE_STRIDE: usize = 64;

const DIRECTORY_ENTRY_LEN: u64 = 12;

/// A sealed segment's index file, open for lookups.
pub struct SealedFile {
    file: Arc<dyn LogFile>,
    layout: IndexLayout,
    filter: Box<[u64]>,
    fences: Box<[u64]>,
}

/// One stream's records in a sealed segment.
pub struct FileRun {
    /// The version of its first record here.
    pub first_version: StreamVersion,
    /// How many records it has here.
    pub count: u64,
    positions_at: u64,
}

impl SealedFile {
    /// Checks the index file's `bytes` (read from `file`) whole and keeps what lookups
    /// need.
    pub fn new(file: Arc<dyn LogFile>, bytes: &[u8]) -> Result<SealedFile, IndexFileError> {
        let layout = IndexLayout::parse(bytes)?;
        Ok(SealedFile {
            filter: layout.filter(bytes).into_boxed_slice(),
            fences: layout
                .directory_fences(bytes, FENCE_STRIDE)
                .into_boxed_slice(),
            file,
            layout,
        })
    }

    /// The file's checked shape.
    pub fn layout(&self) -> &IndexLayout {
        &self.layout
    }

    /// The byte offset of record `i` and of the one after it (`None` for the last).
    pub fn offsets(&self, i: u64) -> io::Result<(u64, Option<u64>)> {
        let mut buf = [0u8; 32];
        let next = i + 1 < self.layout.count;
        let len = if next { 32 } else { 4 };
        read_exact_at(
            self.file.as_ref(),
            &mut buf[..len],
            IndexLayout::record_at(i),
        )?;
        let start = u64::from(u32::from_le_bytes(buf[0..4].try_into().expect("4")));
        let after = next.then(|| u64::from(u32::from_le_bytes(buf[28..32].try_into().expect("4"))));
        Ok((start, after))
    }

    /// The records of `stream` in this segment, if it has any.
    pub fn run(&self, stream: &str) -> io::Result<Option<FileRun>> {
        let hash = bloom::stream_hash(stream);
        if !bloom::may_contain(&self.filter, hash) {
            return Ok(None);
        }
        let block = self.fences.partition_point(|fence| *fence < hash);
        let mut i = (block.saturating_sub(1) * FENCE_STRIDE) as u64;
        let total = self.layout.stream_count;
        let mut buf = vec![0u8; FENCE_STRIDE * 2 * DIRECTORY_ENTRY_LEN as usize];
        while i < total {
            let take = (total - i).min(2 * FENCE_STRIDE as u64);
            let chunk = &mut buf[..(take * DIRECTORY_ENTRY_LEN) as usize];
            let at = self.layout.directory_at as u64 + i * DIRECTORY_ENTRY_LEN;
            read_exact_at(self.file.as_ref(), chunk, at)?;
            for entry in chunk.chunks_exact(DIRECTORY_ENTRY_LEN as usize) {
                let entry_hash = u64::from_le_bytes(entry[0..8].try_into().expect("8"));
                if entry_hash > hash {
                    return Ok(None);
                }
                if entry_hash == hash {
                    let at = u64::from(u32::from_le_bytes(entry[8..12].try_into().expect("4")));
                    if let Some(run) = self.entry_if_named(at, stream)? {
                        return Ok(Some(run));
                    }
                }
            }
            i += take;
        }
        Ok(None)
    }

    /// The stream entry at `at`, if it is `stream`'s.
    fn entry_if_named(&self, at: u64, stream: &str) -> io::Result<Option<FileRun>> {
        let mut head = vec![0u8; 2 + stream.len() + 12];
        read_exact_at(self.file.as_ref(), &mut head, at)?;
        let name_len = u16::from_le_bytes([head[0], head[1]]) as usize;
        if name_len != stream.len() || &head[2..2 + name_len] != stream.as_bytes() {
            return Ok(None);
        }
        let rest = &head[2 + name_len..];
        Ok(Some(FileRun {
            first_version: u64::from_le_bytes(rest[0..8].try_into().expect("8")),
            count: u64::from(u32::from_le_bytes(rest[8..12].try_into().expect("4"))),
            positions_at: at + head.len() as u64,
        }))
    }

    /// The positions of `run`'s records `skip..skip + take` (clamped to the run).
    pub fn positions(&self, run: &FileRun, skip: u64, take: u64) -> io::Result<Vec<Position>> {
        let skip = skip.min(run.count);
        let take = take.min(run.count - skip);
        let end = run.positions_at + run.count * 4;
        if end > self.layout.directory_at as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a stream entry runs past the streams of its index file",
            ));
        }
        let mut buf = vec![0u8; (take * 4) as usize];
        read_exact_at(self.file.as_ref(), &mut buf, run.positions_at + skip * 4)?;
        let first = self.layout.first_position;
        Ok(buf
            .chunks_exact(4)
            .map(|relative| first + u64::from(u32::from_le_bytes(relative.try_into().expect("4"))))
            .collect())
    }
}
