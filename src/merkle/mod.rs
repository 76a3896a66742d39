//! A Merkle tree over the log (RFC 9162, as in Certificate Transparency): proofs an
//! auditor can check without the whole log. The hash chain stays; the tree sits beside
//! it and is derived from it.
//!
//! Leaf `i` is `SHA-256(0x00 ‖ chain hash of the event at position i+1)`, an inner node
//! `SHA-256(0x01 ‖ left ‖ right)`. An inclusion proof shows that one event is in the
//! tree with a given root; a consistency proof that a later tree extends an earlier one,
//! so nothing before was changed. Each is O(log n) hashes.
//!
//! # Layout
//! - [`hash`]: the leaf and node hashes.
//! - [`proof`]: proof generation over stored subtrees, and verification from the proof
//!   alone (what `alert-ledger check-proof` runs).
//! - [`file`]: the tree file `merkle.tree` in the data directory (every node, appended
//!   in post-order; resumed on open from its last durable size).
//! - [`tree`]: the service's tree, kept at the durable head by a follower task.
//! - [`digest`]: the digest (head, tree size, root), and its Ed25519 signature.
//! - [`publish`]: `--publish-digests`, digests written or POSTed outside the ledger.
//! - [`check`]: proofs as served and saved, checked against saved digests.
//! - [`bisect`]: `verify --digest` names the first changed position with O(log n)
//!   reads against a tree that matched the digest.
//!
//! The tree needs gap-free positions and readable records: it is kept on the embedded
//! and PostgreSQL stores, not on KurrentDB.

pub mod bisect;
pub mod check;
pub mod digest;
pub mod file;
pub mod hash;
pub mod proof;
pub mod publish;
pub mod tree;

pub use digest::{Digest, DigestKey};
pub use tree::{MerkleTree, TreeHead};
