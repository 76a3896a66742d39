//! The digest: what an auditor keeps to prove the log against later. The position and
//! chain hash of the last event it covers, the Merkle tree's size and root over the
//! events up to it, and optionally an Ed25519 signature by the ledger's digest key.
//!
//! The signature covers exactly these bytes (UTF-8, `\n` after each line), so any tool
//! can check it:
//!
//! ```text
//! alert-ledger digest v1
//! position=<position>
//! head_hash=<64 hex>
//! tree_size=<tree size>
//! root_hash=<64 hex>
//! ```
//!
//! `recorded_at` is not signed separately: the record at `position` holds it and
//! `head_hash` commits to that record.

use super::tree::MerkleTree;
use crate::store::{EventStore, StoreError};
use projections::Hash;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The digest key's file name in the data directory.
pub const KEY_FILE: &str = "digest.key";

/// `GET /v1/ledger/digest`, and what `--publish-digests` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Digest {
    /// Position of the last event covered (0 for an empty log).
    pub position: u64,
    /// Its chain hash (hex SHA-256).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub head_hash: String,
    /// When it was recorded (`null` for an empty log).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Events in the Merkle tree: positions 1 to `tree_size` (equal to `position`).
    /// Absent on a backend that keeps no tree (KurrentDB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// The tree's root (RFC 9162 `MTH`, hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub root_hash: Option<String>,
    /// The ledger's signature over the fields above, when it has a digest key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub signature: Option<DigestSignature>,
}

/// An Ed25519 signature of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DigestSignature {
    /// Always `ed25519`.
    #[schema(pattern = "^ed25519$")]
    pub algorithm: String,
    /// The signing key's public half (32 bytes, hex): pin it, do not trust it from here.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub public_key: String,
    /// The signature (64 bytes, hex) over the lines `alert-ledger digest v1`,
    /// `position=…`, `head_hash=…`, `tree_size=…`, `root_hash=…`, each ended by a newline
    /// (docs/audit.md).
    #[schema(pattern = "^[0-9a-f]{128}$")]
    pub signature: String,
}

impl Digest {
    /// The bytes the signature covers (see the module documentation).
    pub fn signed_bytes(&self) -> Option<Vec<u8>> {
        let (size, root) = (self.tree_size?, self.root_hash.as_deref()?);
        Some(
            format!(
                "alert-ledger digest v1\nposition={}\nhead_hash={}\ntree_size={size}\nroot_hash={root}\n",
                self.position, self.head_hash
            )
            .into_bytes(),
        )
    }

    /// The tree size and root, parsed; `None` for a digest without a tree.
    pub fn tree(&self) -> Result<Option<(u64, Hash)>, String> {
        match (self.tree_size, self.root_hash.as_deref()) {
            (None, None) => Ok(None),
            (Some(size), Some(root)) => Hash::from_hex(root)
                .map(|root| Some((size, root)))
                .ok_or_else(|| "`root_hash` must be 64 hex characters".into()),
            _ => Err("`tree_size` and `root_hash` go together".into()),
        }
    }

    /// The head hash, parsed.
    pub fn head_hash(&self) -> Result<Hash, String> {
        Hash::from_hex(&self.head_hash)
            .ok_or_else(|| "`head_hash` must be 64 hex characters".into())
    }

    /// Checks the signature. `Ok(None)`: not signed; `Ok(Some(key))`: signed by `key`
    /// (hex), which the caller must compare with the key it trusts.
    pub fn check_signature(&self) -> Result<Option<String>, String> {
        let Some(signature) = &self.signature else {
            return Ok(None);
        };
        if signature.algorithm != "ed25519" {
            return Err(format!(
                "unknown signature algorithm {:?}",
                signature.algorithm
            ));
        }
        let key = decode_hex(&signature.public_key).ok_or("`public_key` is not hex")?;
        let sig = decode_hex(&signature.signature).ok_or("`signature` is not hex")?;
        let message = self
            .signed_bytes()
            .ok_or("a signed digest must carry `tree_size` and `root_hash`")?;
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
            .verify(&message, &sig)
            .map_err(|_| "the signature does not match the digest".to_owned())?;
        Ok(Some(signature.public_key.to_ascii_lowercase()))
    }
}

/// The ledger's digest signing key.
pub struct DigestKey {
    pair: Ed25519KeyPair,
}

impl DigestKey {
    /// Reads a key file: the 32-byte Ed25519 seed as 64 hex characters.
    pub fn load(path: &Path) -> Result<DigestKey, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let seed = decode_hex(text.trim())
            .filter(|seed| seed.len() == 32)
            .ok_or_else(|| {
                format!(
                    "{}: expected 64 hex characters (an Ed25519 seed)",
                    path.display()
                )
            })?;
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(DigestKey { pair })
    }

    /// Creates a new key file at `path` (never replacing one), readable by its owner
    /// only, and returns the key.
    pub fn generate(path: &Path) -> Result<DigestKey, String> {
        use ring::rand::SecureRandom;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| "no randomness for a new key".to_owned())?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.write_all(format!("{}\n", Hash(seed).to_hex()).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        DigestKey::load(path)
    }

    /// The public half, hex.
    pub fn public_key(&self) -> String {
        encode_hex(self.pair.public_key().as_ref())
    }

    /// Signs `digest` in place.
    pub fn sign(&self, digest: &mut Digest) {
        let Some(message) = digest.signed_bytes() else {
            return;
        };
        digest.signature = Some(DigestSignature {
            algorithm: "ed25519".into(),
            public_key: self.public_key(),
            signature: encode_hex(self.pair.sign(&message).as_ref()),
        });
    }
}

/// The digest of the log now: the tree is given up to `wait` to reach the durable head
/// (it follows it closely); a digest covers what the tree holds, so its position and
/// tree size agree.
pub async fn current(
    store: &Arc<dyn EventStore>,
    tree: Option<&Arc<MerkleTree>>,
    key: Option<&DigestKey>,
    wait: Duration,
) -> Result<Digest, StoreError> {
    let head = store.head().await?;
    let (position, hash, tree) = match tree {
        Some(tree) => {
            let held = tree.wait_for(head.position, wait).await;
            (held.size, held.last_hash, Some((held.size, held.root)))
        }
        None => (head.position, head.hash, None),
    };
    let recorded_at = match position {
        0 => None,
        position => store
            .read_all(position, 1)
            .await?
            .first()
            .map(|e| e.recorded_at),
    };
    let mut digest = Digest {
        position,
        head_hash: hash.to_hex(),
        recorded_at,
        tree_size: tree.map(|(size, _)| size),
        root_hash: tree.map(|(_, root)| root.to_hex()),
        signature: None,
    };
    if let Some(key) = key {
        key.sign(&mut digest);
    }
    Ok(digest)
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (either case); `None` if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest {
            position: 200,
            head_hash: "ab".repeat(32),
            recorded_at: None,
            tree_size: Some(200),
            root_hash: Some("cd".repeat(32)),
            signature: None,
        }
    }

    #[test]
    fn a_signed_digest_checks_and_any_changed_field_fails() {
        let dir = tempfile::tempdir().unwrap();
        let key = DigestKey::generate(&dir.path().join(KEY_FILE)).unwrap();
        let mut signed = digest();
        key.sign(&mut signed);
        assert_eq!(signed.check_signature().unwrap(), Some(key.public_key()));
        let mut moved = signed.clone();
        moved.position = 199;
        assert!(moved.check_signature().is_err());
        let mut other_root = signed.clone();
        other_root.root_hash = Some("ce".repeat(32));
        assert!(other_root.check_signature().is_err());
        assert_eq!(digest().check_signature().unwrap(), None);
        // The file is the owner's alone, and a second key never replaces it.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(DigestKey::generate(&dir.path().join(KEY_FILE)).is_err());
        assert_eq!(
            DigestKey::load(&dir.path().join(KEY_FILE))
                .unwrap()
                .public_key(),
            key.public_key()
        );
    }
}
