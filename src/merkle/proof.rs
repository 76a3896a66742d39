//! Proofs over the tree, generated from stored complete subtrees and verified from the
//! proof alone (RFC 9162, sections 2.1.3 and 2.1.4).
//!
//! Generation follows the RFC's recursive definitions of `PATH` and `PROOF`, with every
//! `MTH` of a range computed by [`range_hash`] from the complete, aligned subtrees a
//! [`Nodes`] source keeps: O(log n) node reads per proof. Verification implements the
//! RFC's bit-shifting algorithms, so a proof from this ledger checks with any RFC 9162
//! verifier and the ledger's own checker needs nothing but the proof and a digest.

use super::hash::{empty_root, leaf_hash, node_hash, split_point};
use projections::Hash;

/// A source of complete subtree hashes: the subtree at `level` (0 = leaves) number
/// `index` covers leaves `index·2^level .. (index+1)·2^level`.
pub trait Nodes {
    /// The hash of that subtree; callers ask only for subtrees the tree has completed.
    fn node(&self, level: u32, index: u64) -> std::io::Result<Hash>;
}

/// Why a proof cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The request names leaves or sizes the tree does not have.
    #[error("{0}")]
    OutOfRange(String),
    /// The tree file could not be read.
    #[error("cannot read the tree: {0}")]
    Io(#[from] std::io::Error),
}

/// `MTH(D[start:end])`: the root over leaves `start..end`. `start` is aligned the way
/// every range of a proof is (a multiple of the largest power of two ≤ its length).
pub fn range_hash(nodes: &dyn Nodes, start: u64, end: u64) -> std::io::Result<Hash> {
    let n = end - start;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return nodes.node(level, start >> level);
    }
    let k = split_point(n);
    let left = range_hash(nodes, start, start + k)?;
    let right = range_hash(nodes, start + k, end)?;
    Ok(node_hash(&left, &right))
}

/// The root of the first `size` leaves.
pub fn root(nodes: &dyn Nodes, size: u64) -> std::io::Result<Hash> {
    range_hash(nodes, 0, size)
}

/// The audit path of leaf `index` in the tree of `size` leaves, leaf side first
/// (RFC 9162 `PATH(m, D[n])`).
pub fn inclusion_path(nodes: &dyn Nodes, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::OutOfRange(format!(
            "leaf {index} is not in a tree of {size} leaves"
        )));
    }
    let mut path = Vec::new();
    path_into(nodes, index, 0, size, &mut path)?;
    Ok(path)
}

fn path_into(
    nodes: &dyn Nodes,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Hash>,
) -> std::io::Result<()> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split_point(n);
    if m < k {
        path_into(nodes, m, start, start + k, out)?;
        out.push(range_hash(nodes, start + k, end)?);
    } else {
        path_into(nodes, m - k, start + k, end, out)?;
        out.push(range_hash(nodes, start, start + k)?);
    }
    Ok(())
}

/// The proof that the tree of `second` leaves extends the tree of `first` leaves
/// (RFC 9162 `PROOF(m, D[n])`); empty when the sizes are equal.
pub fn consistency_path(
    nodes: &dyn Nodes,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::OutOfRange(format!(
            "no consistency proof from {first} to {second} leaves: need 1 ≤ from ≤ to"
        )));
    }
    let mut proof = Vec::new();
    subproof_into(nodes, first, 0, second, true, &mut proof)?;
    Ok(proof)
}

fn subproof_into(
    nodes: &dyn Nodes,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> std::io::Result<()> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(range_hash(nodes, start, end)?);
        }
        return Ok(());
    }
    let k = split_point(n);
    if m <= k {
        subproof_into(nodes, m, start, start + k, whole, out)?;
        out.push(range_hash(nodes, start + k, end)?);
    } else {
        subproof_into(nodes, m - k, start + k, end, false, out)?;
        out.push(range_hash(nodes, start, start + k)?);
    }
    Ok(())
}

/// Whether `path` proves that the record whose chain hash is `record_hash` is leaf
/// `index` of the tree of `size` leaves with root `root` (RFC 9162, 2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    record_hash: &Hash,
    path: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = leaf_hash(record_hash);
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows that the tree of `second` leaves with root `second_root`
/// extends the tree of `first` leaves with root `first_root` (RFC 9162, 2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((seed, rest)) = path.split_first() else {
        return false;
    };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

/// Every level of a tree in memory: the reference the file-backed tree is tested
/// against, and a [`Nodes`] source for tests and tools.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// The tree over records with these chain hashes.
    pub fn from_records(records: &[Hash]) -> MemoryTree {
        let mut tree = MemoryTree::default();
        for record in records {
            tree.push(record);
        }
        tree
    }

    /// Appends the leaf of one record and completes the subtrees it closes.
    pub fn push(&mut self, record_hash: &Hash) {
        let mut hash = leaf_hash(record_hash);
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(hash);
            let row = &self.levels[level];
            if row.len() % 2 == 1 {
                return;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Leaves held.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }
}

impl Nodes for MemoryTree {
    fn node(&self, level: u32, index: u64) -> std::io::Result<Hash> {
        self.levels
            .get(level as usize)
            .and_then(|row| row.get(index as usize))
            .copied()
            .ok_or_else(|| std::io::Error::other(format!("no node at level {level} index {index}")))
    }
}

#[cfg(test)]
mod tests;
