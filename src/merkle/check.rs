//! Proofs as the API serves them and `alert-ledger prove` saves them, and their checks
//! against saved digests: what `alert-ledger check-proof` runs, with no store and no
//! server.

use super::digest::Digest;
use super::proof::{verify_consistency, verify_inclusion};
use projections::Hash;
use serde::{Deserialize, Serialize};

/// How a [`Hash`] is written in JSON: 64 lowercase hex characters (stands for its
/// schema in the OpenAPI document).
pub struct HexHash;

impl utoipa::PartialSchema for HexHash {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some("^[0-9a-f]{64}$"))
            .into()
    }
}

impl utoipa::ToSchema for HexHash {}

/// One stored record, exactly as hashed into the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProofRecord {
    /// Its position.
    pub position: u64,
    /// The chain hash of the record before it.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub prev_hash: Hash,
    /// Its chain hash: `SHA-256(prev_hash ‖ body)`, the leaf's data.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: Hash,
    /// The stored body (a JSON document, as text), byte for byte what was hashed.
    pub body: String,
}

/// `GET /v1/ledger/proof/inclusion`: the event at `position` is leaf `position − 1` of
/// the tree of `tree_size` events with root `root_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    /// Always `inclusion`.
    #[schema(pattern = "^inclusion$")]
    pub kind: String,
    /// The event's position.
    pub position: u64,
    /// Its leaf index (`position − 1`).
    pub leaf_index: u64,
    /// The tree's size.
    pub tree_size: u64,
    /// The tree's root.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub root_hash: Hash,
    /// Sibling hashes from the leaf up (RFC 9162 audit path), each 64 hex characters.
    #[schema(value_type = Vec<HexHash>, inline)]
    pub audit_path: Vec<Hash>,
    /// The record itself.
    #[schema(inline)]
    pub record: ProofRecord,
}

/// `GET /v1/ledger/proof/consistency`: the tree of `to` events extends the tree of
/// `from` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    /// Always `consistency`.
    #[schema(pattern = "^consistency$")]
    pub kind: String,
    /// The earlier tree's size.
    pub from: u64,
    /// The later tree's size.
    pub to: u64,
    /// The earlier tree's root.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub from_root: Hash,
    /// The later tree's root.
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub to_root: Hash,
    /// The RFC 9162 consistency proof: hashes of 64 hex characters.
    #[schema(value_type = Vec<HexHash>, inline)]
    pub proof: Vec<Hash>,
}

/// What a checked inclusion proof established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Included {
    /// The event's position.
    pub position: u64,
    /// Its type and stream, read from the checked body.
    pub event_type: String,
    /// Its stream.
    pub stream: String,
}

/// The digest's tree, or why it has none.
fn digest_tree(digest: &Digest, name: &str) -> Result<(u64, Hash), String> {
    digest
        .tree()
        .map_err(|why| format!("{name}: {why}"))?
        .ok_or_else(|| format!("{name} carries no tree (`tree_size`, `root_hash`): take digests from a ledger that keeps one"))
}

/// Checks that `proof` shows its record in the tree `digest` names: the body hashes to
/// the record's chain hash, the record's leaf and audit path give the digest's root.
pub fn check_inclusion(proof: &InclusionProof, digest: &Digest) -> Result<Included, String> {
    let (size, root) = digest_tree(digest, "the digest")?;
    if proof.tree_size != size {
        return Err(format!(
            "the proof is for the tree of {} events, the digest for {size} events: fetch the proof for the digest's size (alert-ledger prove --digest)",
            proof.tree_size
        ));
    }
    if proof.root_hash != root {
        return Err(format!(
            "the ledger's tree of {size} events has root {}, not the digest's {root}: the log up to position {size} was changed since the digest, or the digest is from another ledger",
            proof.root_hash
        ));
    }
    let record = &proof.record;
    if record.position != proof.position || proof.leaf_index + 1 != proof.position {
        return Err(format!(
            "the proof names position {} (leaf {}) but carries the record of position {}",
            proof.position, proof.leaf_index, record.position
        ));
    }
    let hashed = crate::codec::chain_hash(&record.prev_hash, record.body.as_bytes());
    if hashed != record.hash {
        return Err(format!(
            "the record's body hashes to {hashed}, not to its chain hash {}: the body was changed",
            record.hash
        ));
    }
    let event = crate::codec::decode_body(
        record.body.as_bytes(),
        record.position,
        record.prev_hash,
        record.hash,
    )
    .map_err(|e| format!("the record's body is not an event of this ledger: {e}"))?;
    if !verify_inclusion(
        proof.leaf_index,
        size,
        &record.hash,
        &proof.audit_path,
        &root,
    ) {
        return Err(format!(
            "the audit path does not lead from the record at position {} to the digest's root {root}: the event is not in that tree",
            record.position
        ));
    }
    Ok(Included {
        position: record.position,
        event_type: event.event.event_type().to_owned(),
        stream: event.stream,
    })
}

/// Checks that `proof` shows the tree of `newer` extending the tree of `older`. The
/// roots the proof states must be the digests' own (a proof of the ledger as it is now
/// states its roots now: an older root that differs is history rewritten since).
pub fn check_consistency(
    proof: &ConsistencyProof,
    older: &Digest,
    newer: &Digest,
) -> Result<(), String> {
    let (first, first_root) = digest_tree(older, "the older digest")?;
    let (second, second_root) = digest_tree(newer, "the newer digest")?;
    if (proof.from, proof.to) != (first, second) {
        return Err(format!(
            "the proof is from {} to {} events, the digests are for {first} and {second} events: fetch the proof between these digests (alert-ledger prove --from-digest)",
            proof.from, proof.to
        ));
    }
    if proof.to_root != second_root {
        return Err(format!(
            "the ledger's tree of {second} events has root {}, not the newer digest's {second_root}: the log up to position {second} was changed since that digest, or it is from another ledger",
            proof.to_root
        ));
    }
    if proof.from_root != first_root {
        return Err(format!(
            "the tree of {second} events does not extend the tree of {first} events the older digest saved: the ledger's tree of {first} events now has root {}, not the digest's {first_root}, so the log before position {} was changed, or a digest is not of this ledger",
            proof.from_root,
            first + 1
        ));
    }
    if !verify_consistency(first, second, &first_root, &second_root, &proof.proof) {
        return Err(format!(
            "the tree of {second} events (root {second_root}) does not extend the tree of {first} events (root {first_root}): the log before position {} was changed, or a digest is not of this ledger",
            first + 1
        ));
    }
    Ok(())
}
