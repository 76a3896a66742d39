//! HMAC-SHA256 request signatures (RFC 2104 over `sha2`, so no extra crate).
//!
//! A request carries `X-Ledger-Timestamp: <unix seconds>` and
//! `X-Ledger-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
//! Binding the timestamp lets a receiver refuse replays older than its tolerance;
//! the `v1=` prefix leaves room to rotate the scheme. `docs/delivery.md` shows how a
//! receiver checks it.

use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;

/// SHA-256's block size: keys longer than this are hashed first.
const BLOCK: usize = 64;

/// The shared webhook signing secret. Its `Debug` never shows the value, so it cannot
/// reach a log line through a `{:?}` of the configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Arc<[u8]>);

impl SigningSecret {
    /// Wraps a secret; `None` for an empty one (an empty key signs nothing useful).
    pub fn new(secret: impl AsRef<[u8]>) -> Option<SigningSecret> {
        let secret = secret.as_ref();
        (!secret.is_empty()).then(|| SigningSecret(secret.into()))
    }

    /// The `X-Ledger-Signature` value for `body` sent at `timestamp`.
    pub fn signature(&self, timestamp: i64, body: &[u8]) -> String {
        signature(&self.0, timestamp, body)
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut message = Vec::with_capacity(body.len() + 21);
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    format!("v1={}", hex(&hmac_sha256(secret, &message)))
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).collect();
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&inner_pad)
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(&outer_pad)
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        let case1 = hmac_sha256(&[0x0b; 20], b"Hi There");
        assert_eq!(
            hex(&case1),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let case2 = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex(&case2),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let case6 = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex(&case6),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_signature_binds_the_timestamp_and_the_body() {
        let secret = SigningSecret::new("s3cret").expect("a secret");
        let signed = secret.signature(1_700_000_000, b"{}");
        assert!(signed.starts_with("v1=") && signed.len() == 3 + 64);
        assert_eq!(
            signed,
            format!("v1={}", hex(&hmac_sha256(b"s3cret", b"1700000000.{}")))
        );
        assert_ne!(signed, secret.signature(1_700_000_001, b"{}"));
        assert_ne!(signed, secret.signature(1_700_000_000, b"{ }"));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output_and_empty_secrets_are_refused() {
        let secret = SigningSecret::new("hunter2").expect("a secret");
        assert!(!format!("{secret:?}").contains("hunter2"));
        assert!(SigningSecret::new("").is_none());
    }
}
