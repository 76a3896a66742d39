//! Naming the first changed position with O(log n) reads.
//!
//! A digest says what the log held up to its position; when the record there no longer
//! has the digest's hash, the hash chain alone says only *that* something before it
//! changed, not where: an edit at position 40 re-chained through position 200 is found
//! at 200. A tree that matched the digest (its root at the digest's size is the
//! digest's root, so each of its leaves is the original record's) answers where: the
//! log's record at `p` is the original exactly when its stored chain hash still gives
//! the tree's leaf `p`, and since each hash commits to everything before it, that holds
//! for every `p` below the first change and for none from it on. A binary search over
//! positions finds it with about log2(n) record reads.

use super::hash::leaf_hash;
use super::proof::{root, Nodes};
use crate::store::verify::RawLog;
use projections::{Hash, Position};

/// What the search found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bisected {
    /// The first position whose record is not the one the tree holds; `None` when the
    /// record at the digest's position still is.
    pub first_changed: Option<Position>,
    /// Records read.
    pub reads: u32,
}

/// Searches the log read through `log` against `tree`, which must hold the tree of
/// `size` events with root `digest_root`.
pub async fn first_changed(
    log: &dyn RawLog,
    tree: &(dyn Nodes + Sync),
    size: u64,
    digest_root: &Hash,
) -> Result<Bisected, String> {
    if size == 0 {
        return Ok(Bisected {
            first_changed: None,
            reads: 0,
        });
    }
    let held = root(tree, size).map_err(|e| format!("cannot read the tree: {e}"))?;
    if held != *digest_root {
        return Err(format!(
            "the tree file's root at size {size} is not the digest's: it was changed or rebuilt since, so it cannot say where the log changed"
        ));
    }
    let mut reads = 0;
    let mut same = |position: Position| {
        reads += 1;
        async move {
            let record = log
                .records_after(position - 1, 1)
                .await
                .map_err(|e| e.to_string())?;
            let leaf = tree
                .node(0, position - 1)
                .map_err(|e| format!("cannot read the tree: {e}"))?;
            Ok::<_, String>(
                record
                    .first()
                    .is_some_and(|r| r.position == position && leaf_hash(&r.hash) == leaf),
            )
        }
    };
    if same(size).await? {
        return Ok(Bisected {
            first_changed: None,
            reads: 1,
        });
    }
    // Invariant: the record at `lo - 1` is the original (or lo = 1), the one at `hi` is not.
    let (mut lo, mut hi) = (1, size);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if same(mid).await? {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(Bisected {
        first_changed: Some(hi),
        reads,
    })
}
