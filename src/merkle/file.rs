//! The tree file `<data-dir>/merkle.tree`: every node of the tree, 32 bytes each, in
//! the order the tree completes them (post-order), after a 64-byte header.
//!
//! Appending a leaf appends it and then every subtree it completes, so the file only
//! ever grows at its end and the node of the subtree at `level` number `index` is at a
//! fixed place ([`node_offset`]): with `s = index·2^level` leaves before it, `2s −
//! popcount(s)` nodes precede its subtree, and the subtree's root is its last node.
//! Holding every node (64 bytes per event) makes a proof a few dozen reads and needs
//! no record of the log.
//!
//! The header records how many leaves were last made durable (`fdatasync` of the
//! nodes, then the header, then `fdatasync` again), with a CRC. On open, nodes past
//! that count are cut off and folded again from the log; a header that fails its CRC,
//! names another format or promises more nodes than the file holds starts the file
//! over. The file is derived from the log: losing it costs a rebuild, never an event.

use super::hash::{leaf_hash, node_hash};
use super::proof::Nodes;
use projections::Hash;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The tree file's name in the data directory.
pub const TREE_FILE: &str = "merkle.tree";

const MAGIC: &[u8; 8] = b"ALMERKLE";
const FORMAT: u32 = 1;
const HEADER_LEN: u64 = 64;
const NODE_LEN: u64 = 32;

/// Nodes a tree of `leaves` leaves holds: every leaf, and one node per completed pair.
pub fn node_count(leaves: u64) -> u64 {
    2 * leaves - u64::from(leaves.count_ones())
}

/// Byte offset of the subtree root at `level` number `index`.
pub fn node_offset(level: u32, index: u64) -> u64 {
    let before = index << level;
    let within = (2u64 << level) - 2;
    HEADER_LEN + (node_count(before) + within) * NODE_LEN
}

/// What opening found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// The file held this many durable leaves.
    Resumed(u64),
    /// The file was missing: a new, empty tree.
    Created,
    /// The file could not be used (why): it was started over.
    StartedOver(String),
}

/// The tree file, open for appending and positional reads.
pub struct TreeFile {
    file: File,
    /// Leaves written (the durable ones and those since the last [`TreeFile::sync`]).
    leaves: u64,
    /// Roots of the complete subtrees the leaves so far form, largest first, with their
    /// levels: the right edge the next leaf joins.
    frontier: Vec<(u32, Hash)>,
    /// Nodes computed but not yet written.
    pending: Vec<u8>,
}

impl TreeFile {
    /// Opens (or creates) the tree file at `path`, keeping the leaves its header says
    /// are durable.
    pub fn open(path: &Path) -> io::Result<(TreeFile, Opened)> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut tree = TreeFile {
            file,
            leaves: 0,
            frontier: Vec::new(),
            pending: Vec::new(),
        };
        if !existed {
            tree.reset()?;
            return Ok((tree, Opened::Created));
        }
        match tree.read_header() {
            Ok(leaves) => {
                tree.file
                    .set_len(HEADER_LEN + node_count(leaves) * NODE_LEN)?;
                tree.leaves = leaves;
                tree.frontier = tree.load_frontier()?;
                Ok((tree, Opened::Resumed(leaves)))
            }
            Err(why) => {
                tree.reset()?;
                Ok((tree, Opened::StartedOver(why)))
            }
        }
    }

    /// Empties the tree (the log it followed is not this one, or the file was damaged).
    pub fn reset(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.leaves = 0;
        self.frontier.clear();
        self.pending.clear();
        self.write_header(0)?;
        self.file.sync_all()
    }

    /// The durable leaf count, or why the header cannot be trusted.
    fn read_header(&self) -> Result<u64, String> {
        let mut header = [0u8; HEADER_LEN as usize];
        let len = self.file.metadata().map_err(|e| e.to_string())?.len();
        if len < HEADER_LEN {
            return Err(format!("{len} bytes, shorter than its header"));
        }
        self.file
            .read_exact_at(&mut header, 0)
            .map_err(|e| e.to_string())?;
        if &header[..8] != MAGIC {
            return Err("not a tree file (magic)".into());
        }
        let crc = u32::from_le_bytes(header[24..28].try_into().expect("4 bytes"));
        if crc32c::crc32c(&header[..24]) != crc {
            return Err("header fails its CRC".into());
        }
        let format = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if format != FORMAT {
            return Err(format!("format {format}, this build writes {FORMAT}"));
        }
        let leaves = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
        let needed = HEADER_LEN + node_count(leaves) * NODE_LEN;
        if len < needed {
            return Err(format!(
                "the header promises {leaves} leaves ({needed} bytes) but the file holds {len}"
            ));
        }
        Ok(leaves)
    }

    fn write_header(&self, leaves: u64) -> io::Result<()> {
        let mut header = [0u8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&FORMAT.to_le_bytes());
        header[16..24].copy_from_slice(&leaves.to_le_bytes());
        let crc = crc32c::crc32c(&header[..24]);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all_at(&header, 0)
    }

    /// The right edge of a tree of `self.leaves` leaves, read from the file.
    fn load_frontier(&self) -> io::Result<Vec<(u32, Hash)>> {
        let mut frontier = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if self.leaves & (1 << level) != 0 {
                frontier.push((level, self.read_node(level, start >> level)?));
                start += 1 << level;
            }
        }
        Ok(frontier)
    }

    /// Leaves in the tree (written, durable or not).
    pub fn leaves(&self) -> u64 {
        self.leaves
    }

    /// The root of the whole tree, from the right edge.
    pub fn root(&self) -> Hash {
        let mut nodes = self.frontier.iter().rev();
        let Some((_, last)) = nodes.next() else {
            return super::hash::empty_root();
        };
        nodes.fold(*last, |right, (_, left)| node_hash(left, &right))
    }

    /// Appends the leaf of one record and every subtree it completes (kept in memory
    /// until [`TreeFile::flush`]).
    pub fn push(&mut self, record_hash: &Hash) {
        let mut hash = leaf_hash(record_hash);
        let mut level = 0;
        self.pending.extend_from_slice(&hash.0);
        while let Some(&(top_level, top)) = self.frontier.last() {
            if top_level != level {
                break;
            }
            self.frontier.pop();
            hash = node_hash(&top, &hash);
            level += 1;
            self.pending.extend_from_slice(&hash.0);
        }
        self.frontier.push((level, hash));
        self.leaves += 1;
    }

    /// Writes the nodes pushed since the last flush at the end of the file (not yet
    /// durable: [`TreeFile::sync`]). Readers may ask for them once this returns.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = node_count(self.leaves) * NODE_LEN - self.pending.len() as u64;
        self.file
            .write_all_at(&self.pending, HEADER_LEN + written)?;
        self.pending.clear();
        Ok(())
    }

    /// Makes every flushed node durable, then records their leaf count in the header.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_data()?;
        self.write_header(self.leaves)?;
        self.file.sync_data()
    }

    /// Reads one stored node.
    pub fn read_node(&self, level: u32, index: u64) -> io::Result<Hash> {
        read_node_at(&self.file, level, index)
    }

    /// A second handle on the file for readers, which never wait for the writer.
    pub fn reader(&self) -> io::Result<TreeReader> {
        Ok(TreeReader {
            file: self.file.try_clone()?,
        })
    }
}

fn read_node_at(file: &File, level: u32, index: u64) -> io::Result<Hash> {
    let mut out = [0u8; NODE_LEN as usize];
    file.read_exact_at(&mut out, node_offset(level, index))?;
    Ok(Hash(out))
}

impl Nodes for TreeFile {
    fn node(&self, level: u32, index: u64) -> io::Result<Hash> {
        self.read_node(level, index)
    }
}

/// Positional reads of a tree file's written nodes.
pub struct TreeReader {
    file: File,
}

impl TreeReader {
    /// Opens a tree file read-only (the offline auditor's `verify --digest`), with the
    /// leaf count its header says is durable.
    pub fn open(path: &Path) -> Result<(TreeReader, u64), String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let probe = TreeFile {
            file,
            leaves: 0,
            frontier: Vec::new(),
            pending: Vec::new(),
        };
        let leaves = probe
            .read_header()
            .map_err(|why| format!("{}: {why}", path.display()))?;
        Ok((TreeReader { file: probe.file }, leaves))
    }
}

impl Nodes for TreeReader {
    fn node(&self, level: u32, index: u64) -> io::Result<Hash> {
        read_node_at(&self.file, level, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::proof::{root, MemoryTree};

    fn record(i: u64) -> Hash {
        Hash(crate::codec::chain_hash(&Hash::GENESIS, &i.to_le_bytes()).0)
    }

    #[test]
    fn node_offsets_follow_post_order() {
        // Leaves 0, 1, node(1,0), leaf 2, leaf 3, node(1,1), node(2,0), leaf 4 …
        let at = |level, index| (node_offset(level, index) - HEADER_LEN) / NODE_LEN;
        assert_eq!(
            [
                at(0, 0),
                at(0, 1),
                at(1, 0),
                at(0, 2),
                at(0, 3),
                at(1, 1),
                at(2, 0),
                at(0, 4)
            ],
            [0, 1, 2, 3, 4, 5, 6, 7]
        );
    }

    #[test]
    fn the_file_holds_the_same_nodes_as_the_reference_and_resumes_after_sync() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TREE_FILE);
        let (mut tree, opened) = TreeFile::open(&path).unwrap();
        assert_eq!(opened, Opened::Created);
        let mut reference = MemoryTree::default();
        for i in 0..1000 {
            tree.push(&record(i));
            reference.push(&record(i));
            if i % 37 == 0 {
                tree.flush().unwrap();
            }
        }
        tree.sync().unwrap();
        for size in [1, 2, 3, 512, 999, 1000] {
            assert_eq!(root(&tree, size).unwrap(), root(&reference, size).unwrap());
        }
        assert_eq!(tree.root(), root(&reference, 1000).unwrap());
        // Nodes flushed after the last sync are not trusted on open.
        for i in 1000..1010 {
            tree.push(&record(i));
        }
        tree.flush().unwrap();
        drop(tree);
        let (tree, opened) = TreeFile::open(&path).unwrap();
        assert_eq!(opened, Opened::Resumed(1000));
        assert_eq!(tree.root(), root(&reference, 1000).unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            HEADER_LEN + node_count(1000) * NODE_LEN
        );
    }

    #[test]
    fn a_damaged_header_starts_the_tree_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TREE_FILE);
        let (mut tree, _) = TreeFile::open(&path).unwrap();
        for i in 0..10 {
            tree.push(&record(i));
        }
        tree.sync().unwrap();
        drop(tree);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[17] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let (tree, opened) = TreeFile::open(&path).unwrap();
        assert!(
            matches!(opened, Opened::StartedOver(ref why) if why.contains("CRC")),
            "{opened:?}"
        );
        assert_eq!(tree.leaves(), 0);
    }
}
