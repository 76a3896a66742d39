//! The two hashes of RFC 9162 (section 2.1.1): a leaf is `SHA-256(0x00 ‖ data)` and an
//! inner node `SHA-256(0x01 ‖ left ‖ right)`; the tree of no leaves hashes to
//! `SHA-256("")`. A leaf's data here is the 32 bytes of one record's chain hash.

use projections::Hash;
use sha2::{Digest, Sha256};

/// The leaf of the record whose chain hash is `record_hash`.
pub fn leaf_hash(record_hash: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x00]);
    hasher.update(record_hash.0);
    Hash(hasher.finalize().into())
}

/// The node above `left` and `right`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0x01]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// The root of the tree with no leaves.
pub fn empty_root() -> Hash {
    Hash(Sha256::digest([]).into())
}

/// The largest power of two strictly below `n` (`n` ≥ 2): where RFC 9162 splits a
/// range of `n` leaves.
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(8), 4);
        assert_eq!(split_point(9), 8);
        assert_eq!(split_point(1 << 40), 1 << 39);
    }

    #[test]
    fn the_empty_tree_hashes_to_the_sha256_of_nothing() {
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
