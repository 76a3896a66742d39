//! Proofs checked against the RFC's recursive definition of the root, over random
//! tree sizes: every inclusion and consistency proof verifies, and any flipped bit,
//! in the proof, the root or the record, makes it fail.

use super::*;
use proptest::prelude::*;

/// `MTH(D[n])` straight from RFC 9162's definition, over leaf data.
fn reference_root(records: &[Hash]) -> Hash {
    match records.len() {
        0 => empty_root(),
        1 => leaf_hash(&records[0]),
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(
                &reference_root(&records[..k]),
                &reference_root(&records[k..]),
            )
        }
    }
}

fn records(n: usize, seed: u64) -> Vec<Hash> {
    (0..n as u64)
        .map(|i| Hash(*distinct_hash(seed, i)))
        .collect()
}

/// Distinct 32-byte values without a random-number crate: SHA-256 of (seed, i).
fn distinct_hash(seed: u64, i: u64) -> Box<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(i.to_le_bytes());
    Box::new(hasher.finalize().into())
}

fn flip(hash: &Hash, bit: usize) -> Hash {
    let mut out = *hash;
    out.0[(bit / 8) % 32] ^= 1 << (bit % 8);
    out
}

#[test]
fn roots_match_the_rfc_definition_for_every_size_up_to_130() {
    let all = records(130, 7);
    let mut tree = MemoryTree::default();
    for n in 1..=all.len() {
        tree.push(&all[n - 1]);
        assert_eq!(
            root(&tree, n as u64).unwrap(),
            reference_root(&all[..n]),
            "size {n}"
        );
    }
    assert_eq!(root(&tree, 0).unwrap(), empty_root());
}

#[test]
fn a_single_leaf_tree_proves_its_leaf_with_an_empty_path() {
    let all = records(1, 1);
    let tree = MemoryTree::from_records(&all);
    let path = inclusion_path(&tree, 0, 1).unwrap();
    assert!(path.is_empty());
    assert!(verify_inclusion(0, 1, &all[0], &path, &leaf_hash(&all[0])));
    assert!(!verify_inclusion(1, 1, &all[0], &path, &leaf_hash(&all[0])));
}

#[test]
fn proofs_outside_the_tree_are_refused() {
    let tree = MemoryTree::from_records(&records(5, 3));
    assert!(matches!(
        inclusion_path(&tree, 5, 5),
        Err(ProofError::OutOfRange(_))
    ));
    assert!(matches!(
        consistency_path(&tree, 0, 5),
        Err(ProofError::OutOfRange(_))
    ));
    assert!(matches!(
        consistency_path(&tree, 4, 3),
        Err(ProofError::OutOfRange(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn inclusion_proofs_verify_and_any_flipped_bit_fails(
        size in 1u64..600,
        pick in any::<u64>(),
        bit in 0usize..256,
        seed in any::<u64>(),
    ) {
        let all = records(size as usize, seed);
        let tree = MemoryTree::from_records(&all);
        let index = pick % size;
        let root = reference_root(&all);
        let path = inclusion_path(&tree, index, size).unwrap();
        prop_assert!(path.len() <= 64 - (size.leading_zeros() as usize) + 1);
        prop_assert!(verify_inclusion(index, size, &all[index as usize], &path, &root));
        prop_assert!(!verify_inclusion(index, size, &flip(&all[index as usize], bit), &path, &root));
        prop_assert!(!verify_inclusion(index, size, &all[index as usize], &path, &flip(&root, bit)));
        for at in 0..path.len() {
            let mut bad = path.clone();
            bad[at] = flip(&bad[at], bit);
            prop_assert!(!verify_inclusion(index, size, &all[index as usize], &bad, &root));
        }
        if size > 1 {
            let other = (index + 1 + pick % (size - 1)) % size;
            prop_assert!(!verify_inclusion(other, size, &all[index as usize], &path, &root));
        }
    }

    #[test]
    fn consistency_proofs_verify_and_any_flipped_bit_fails(
        second in 1u64..600,
        pick in any::<u64>(),
        bit in 0usize..256,
        seed in any::<u64>(),
    ) {
        let all = records(second as usize, seed);
        let tree = MemoryTree::from_records(&all);
        let first = 1 + pick % second;
        let first_root = reference_root(&all[..first as usize]);
        let second_root = reference_root(&all);
        let proof = consistency_path(&tree, first, second).unwrap();
        prop_assert!(verify_consistency(first, second, &first_root, &second_root, &proof));
        prop_assert!(!verify_consistency(first, second, &flip(&first_root, bit), &second_root, &proof));
        prop_assert!(!verify_consistency(first, second, &first_root, &flip(&second_root, bit), &proof));
        for at in 0..proof.len() {
            let mut bad = proof.clone();
            bad[at] = flip(&bad[at], bit);
            prop_assert!(!verify_consistency(first, second, &first_root, &second_root, &bad));
        }
        if first < second {
            // A tree whose first `first` leaves were changed is not an extension.
            let mut changed = all.clone();
            changed[(pick % first) as usize] = flip(&changed[(pick % first) as usize], bit);
            let forged = MemoryTree::from_records(&changed);
            let forged_proof = consistency_path(&forged, first, second).unwrap();
            let forged_root = reference_root(&changed);
            prop_assert!(!verify_consistency(first, second, &first_root, &forged_root, &forged_proof));
        }
    }
}
