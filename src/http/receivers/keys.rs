//! Integration keys: the PagerDuty routing keys and GoAlert integration tokens that
//! authorise calls to the compatible receivers, each tied to the service its alerts
//! belong to.
//!
//! # Integration keys file
//!
//! One key per line, three fields separated by whitespace:
//!
//! ```text
//! # kind      key (plaintext, at least 16 characters)   service
//! pagerduty   0123456789abcdef0123456789abcdef         payments-api
//! goalert     goalert-key-0123456789abcdef             checkout
//! # or the SHA-256 of the key, so the file holds no secret:
//! #   printf %s "$KEY" | sha256sum
//! pagerduty   sha256:a9f5e8962151156b8c65b208f3d8943953460b7758db7ae242fffbff55b78acf  batch
//! ```
//!
//! - `kind` is `pagerduty` (a routing key for `POST /v2/enqueue`) or `goalert` (a
//!   token for `POST /api/v2/generic/incoming`).
//! - `key` is any run of non-whitespace characters, at least 16 long, or `sha256:`
//!   followed by 64 hex digits. Keys must be unique across the file.
//! - `service` is the service name the key's alerts are recorded under (letters,
//!   digits, `. _ : -`, at most 128).
//! - Blank lines and lines whose first non-blank character is `#` are ignored.
//!
//! Only SHA-256 hashes are kept; a presented key is hashed and compared in constant
//! time against every configured hash. Errors name the line, never the key.

use projections::ids::ServiceName;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Shortest plaintext key accepted.
pub const MIN_KEY_LEN: usize = 16;

/// Which receiver a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integration {
    /// A PagerDuty Events API v2 routing key.
    PagerDuty,
    /// A GoAlert generic API integration token.
    GoAlert,
}

impl Integration {
    /// The name used in the keys file and in event actors.
    pub fn as_str(self) -> &'static str {
        match self {
            Integration::PagerDuty => "pagerduty",
            Integration::GoAlert => "goalert",
        }
    }

    fn parse(raw: &str) -> Option<Integration> {
        match raw {
            "pagerduty" => Some(Integration::PagerDuty),
            "goalert" => Some(Integration::GoAlert),
            _ => None,
        }
    }
}

/// What is wrong with one line. Never contains the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyLineProblem {
    /// The first field is not `pagerduty` or `goalert`.
    #[error("unknown kind {0:?} (expected pagerduty or goalert)")]
    UnknownKind(String),
    /// Fewer than three fields.
    #[error("missing {0} (expected `kind key service`)")]
    MissingField(&'static str),
    /// More than three fields.
    #[error("too many fields (expected `kind key service`; keys may not contain spaces)")]
    TooManyFields,
    /// A plaintext key is too short to resist guessing.
    #[error("key is {len} characters, shorter than the minimum of {MIN_KEY_LEN}")]
    KeyTooShort {
        /// Its length in characters.
        len: usize,
    },
    /// `sha256:` not followed by exactly 64 hex digits.
    #[error("hashed key must be sha256: followed by 64 hex digits")]
    BadHash,
    /// The service is not a valid service name.
    #[error("invalid service {service:?}: {reason}")]
    InvalidService {
        /// The service as written.
        service: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The same key (plaintext or hashed) appears twice.
    #[error("duplicate key (already defined on line {first})")]
    DuplicateKey {
        /// The line that defined it first.
        first: usize,
    },
}

/// Why the integration keys could not be loaded. Startup prints it and exits non-zero.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read. Fix the path or its permissions.
    #[error("cannot read integration keys file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        cause: std::io::Error,
    },
    /// A line is invalid. Fix that line.
    #[error("integration keys file {} line {line}: {problem}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: KeyLineProblem,
    },
    /// The file defines no key (everything commented out is almost certainly a
    /// mistake). Add a key or drop the option.
    #[error("integration keys file {} defines no keys", .0.display())]
    NoKeys(PathBuf),
}

/// One configured key: its hash, never the key.
struct Entry {
    kind: Integration,
    service: ServiceName,
    hash: [u8; 32],
    line: usize,
}

/// The configured integration keys; keep it in an `Arc` in app state.
#[derive(Default)]
pub struct IntegrationKeys {
    entries: Vec<Entry>,
}

impl IntegrationKeys {
    /// Loads the keys file; `None` means no integration keys (the PagerDuty and
    /// GoAlert receivers then refuse every call).
    pub fn load(path: Option<&Path>) -> Result<IntegrationKeys, KeysError> {
        let Some(path) = path else {
            return Ok(IntegrationKeys::default());
        };
        let text = std::fs::read_to_string(path).map_err(|cause| KeysError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let keys = IntegrationKeys::parse(&text).map_err(|(line, problem)| KeysError::Line {
            path: path.to_owned(),
            line,
            problem,
        })?;
        if keys.entries.is_empty() {
            return Err(KeysError::NoKeys(path.to_owned()));
        }
        Ok(keys)
    }

    /// Parses the file's text; an error carries the 1-based line number.
    pub fn parse(text: &str) -> Result<IntegrationKeys, (usize, KeyLineProblem)> {
        let mut keys = IntegrationKeys::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line, i + 1).map_err(|problem| (i + 1, problem))?;
            if let Some(first) = keys.entries.iter().find(|e| e.hash == entry.hash) {
                let problem = KeyLineProblem::DuplicateKey { first: first.line };
                return Err((i + 1, problem));
            }
            keys.entries.push(entry);
        }
        Ok(keys)
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The service `key` is tied to, if it is a configured key of `kind`. Hashes the
    /// key and compares it against every entry in constant time, selecting the match
    /// without branching on which entry it was.
    pub fn lookup(&self, kind: Integration, key: &str) -> Option<&ServiceName> {
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let hit = entry.hash.ct_eq(&digest) & Choice::from(u8::from(entry.kind == kind));
            index.conditional_assign(&(i as u64), hit);
            found |= hit;
        }
        bool::from(found).then(|| &self.entries[index as usize].service)
    }
}

impl fmt::Debug for IntegrationKeys {
    /// The count per kind; never a key or a hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |kind| self.entries.iter().filter(|e| e.kind == kind).count();
        f.debug_struct("IntegrationKeys")
            .field("pagerduty", &count(Integration::PagerDuty))
            .field("goalert", &count(Integration::GoAlert))
            .finish()
    }
}

fn parse_line(line: &str, number: usize) -> Result<Entry, KeyLineProblem> {
    let mut fields = line.split_whitespace();
    let kind = fields.next().ok_or(KeyLineProblem::MissingField("kind"))?;
    let key = fields.next().ok_or(KeyLineProblem::MissingField("key"))?;
    let service = fields
        .next()
        .ok_or(KeyLineProblem::MissingField("service"))?;
    if fields.next().is_some() {
        return Err(KeyLineProblem::TooManyFields);
    }
    let kind =
        Integration::parse(kind).ok_or_else(|| KeyLineProblem::UnknownKind(kind.to_owned()))?;
    let service = ServiceName::parse(service).map_err(|err| KeyLineProblem::InvalidService {
        service: service.to_owned(),
        reason: err.to_string(),
    })?;
    Ok(Entry {
        kind,
        service,
        hash: key_hash(key)?,
        line: number,
    })
}

/// The SHA-256 of a plaintext key, or the decoded `sha256:<hex>` form.
fn key_hash(key: &str) -> Result<[u8; 32], KeyLineProblem> {
    if let Some(hex) = key.strip_prefix("sha256:") {
        return decode_hex32(hex).ok_or(KeyLineProblem::BadHash);
    }
    let len = key.chars().count();
    if len < MIN_KEY_LEN {
        return Err(KeyLineProblem::KeyTooShort { len });
    }
    Ok(Sha256::digest(key.as_bytes()).into())
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PD_KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_key_maps_to_its_service_for_its_kind_only() {
        let keys = IntegrationKeys::parse(&format!(
            "# comment\n\npagerduty {PD_KEY} payments\ngoalert goalert-key-0123456789 checkout\n"
        ))
        .unwrap();
        assert_eq!(
            keys.lookup(Integration::PagerDuty, PD_KEY)
                .map(|s| s.as_str()),
            Some("payments")
        );
        assert_eq!(keys.lookup(Integration::GoAlert, PD_KEY), None);
        assert_eq!(
            keys.lookup(Integration::GoAlert, "goalert-key-0123456789")
                .map(|s| s.as_str()),
            Some("checkout")
        );
        assert_eq!(
            keys.lookup(Integration::PagerDuty, "unknown-key-0123456789"),
            None
        );
    }

    #[test]
    fn the_hashed_form_matches_the_plaintext_key() {
        let hash: [u8; 32] = Sha256::digest(PD_KEY.as_bytes()).into();
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let keys = IntegrationKeys::parse(&format!("pagerduty sha256:{hex} batch")).unwrap();
        assert_eq!(
            keys.lookup(Integration::PagerDuty, PD_KEY)
                .map(|s| s.as_str()),
            Some("batch")
        );
    }

    #[test]
    fn bad_lines_are_named_and_never_echo_the_key() {
        let cases = [
            (
                "pagerduty short-key svc",
                KeyLineProblem::KeyTooShort { len: 9 },
            ),
            (
                "opsgenie 0123456789abcdef0123 svc",
                KeyLineProblem::UnknownKind("opsgenie".into()),
            ),
            (
                "pagerduty 0123456789abcdef0123",
                KeyLineProblem::MissingField("service"),
            ),
            (
                "pagerduty 0123456789abcdef0123 svc extra",
                KeyLineProblem::TooManyFields,
            ),
            ("goalert sha256:abc svc", KeyLineProblem::BadHash),
        ];
        for (line, expected) in cases {
            let (number, problem) =
                IntegrationKeys::parse(&format!("# header\n{line}")).unwrap_err();
            assert_eq!((number, &problem), (2, &expected), "{line}");
            assert!(
                !problem.to_string().contains("0123456789abcdef"),
                "{problem}"
            );
        }
        let (_, problem) =
            IntegrationKeys::parse("pagerduty 0123456789abcdef0123 bad/service").unwrap_err();
        assert!(matches!(problem, KeyLineProblem::InvalidService { .. }));
    }

    #[test]
    fn a_key_defined_twice_is_refused_even_for_another_kind() {
        let text = format!("pagerduty {PD_KEY} a\ngoalert {PD_KEY} b\n");
        let (line, problem) = IntegrationKeys::parse(&text).unwrap_err();
        assert_eq!(
            (line, problem),
            (2, KeyLineProblem::DuplicateKey { first: 1 })
        );
    }

    #[test]
    fn a_file_without_keys_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, "# pagerduty 0123456789abcdef0123 svc\n").unwrap();
        let err = IntegrationKeys::load(Some(&path)).unwrap_err();
        assert!(matches!(err, KeysError::NoKeys(_)), "{err}");
        std::fs::write(&path, format!("pagerduty {PD_KEY} svc\npagerduty x svc\n")).unwrap();
        let err = IntegrationKeys::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains(PD_KEY), "{err}");
    }
}
