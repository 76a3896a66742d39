//! Bearer tokens with roles.
//!
//! Every caller presents `Authorization: Bearer <token>`; the token maps to a
//! [`Principal`]: a name (recorded as the event `actor`, never the token) and a
//! [`Role`]. Only SHA-256 hashes of tokens are kept in memory, and a presented
//! token is compared in constant time against every configured hash.
//!
//! # Tokens file
//!
//! One token per line, three fields separated by whitespace:
//!
//! ```text
//! # role   name          token (plaintext, at least 16 characters)
//! writer   ci-pipeline   s3cr3t-0123456789abcdef
//! # or the SHA-256 of the token, so the file holds no secret:
//! #   printf %s "$TOKEN" | sha256sum
//! reader   auditor       sha256:a9f5e8962151156b8c65b208f3d8943953460b7758db7ae242fffbff55b78acf
//! ```
//!
//! - `role` is `reader`, `writer` or `admin` (each includes the ones before it).
//! - `name` is ASCII letters, digits and `-_.@:/`; it must be unique and may not be
//!   `anonymous` (reserved for the auth-off principal).
//! - `token` is any run of non-whitespace characters, at least 16 long, or
//!   `sha256:` followed by 64 hex digits (whose token's length cannot be checked:
//!   use a long random one). Tokens must be unique.
//! - Lines whose first non-blank character is `#` and blank lines are ignored.
//!
//! The inline form (`ALERT_LEDGER_TOKENS`) holds the same lines separated by `;`
//! or newlines. An inline value that is empty or only whitespace counts as unset.
//! A tokens file that defines no token at all is an error, so that a file with
//! everything commented out cannot silently switch auth off.
//!
//! When no token is configured, auth is off and every request is the
//! `anonymous` admin; the service allows that only on a loopback listener.

use crate::http::error::ApiError;
use axum::http::{header, HeaderMap};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

#[cfg(test)]
mod tests;

/// Shortest plaintext token accepted in a tokens file.
pub const MIN_TOKEN_LEN: usize = 16;

/// The principal name used for every request when auth is off.
pub const ANONYMOUS: &str = "anonymous";

/// What a token may do. Ordered: `Admin` ⊇ `Writer` ⊇ `Reader`, so a route
/// needing `needed` accepts any role `>= needed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Auditors: read views, history, the log and digests.
    Reader,
    /// Ingest and lifecycle: trigger, acknowledge, resolve, tasks, syncs.
    Writer,
    /// Operations: rebuild, verify, token administration.
    Admin,
}

impl Role {
    /// The lowercase name used in tokens files and in error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Writer => "writer",
            Role::Admin => "admin",
        }
    }

    /// Parses `reader`, `writer` or `admin` (exactly, lowercase).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "reader" => Some(Role::Reader),
            "writer" => Some(Role::Writer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: the token's label and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name from the tokens file; recorded as the event `actor`.
    pub name: String,
    /// What the token may do.
    pub role: Role,
}

impl Principal {
    /// The principal of every request when no token is configured.
    pub fn anonymous() -> Principal {
        Principal {
            name: ANONYMOUS.to_owned(),
            role: Role::Admin,
        }
    }
}

/// Where a token definition came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokensOrigin {
    /// A tokens file.
    File(PathBuf),
    /// The `ALERT_LEDGER_TOKENS` value.
    Inline,
}

impl fmt::Display for TokensOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokensOrigin::File(path) => write!(f, "tokens file {}", path.display()),
            TokensOrigin::Inline => f.write_str("ALERT_LEDGER_TOKENS"),
        }
    }
}

/// One source location: the origin and the 1-based line (file) or entry (inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenLocation {
    /// The file or the environment value.
    pub origin: TokensOrigin,
    /// 1-based line number (file) or `;`/newline-separated entry number (inline).
    pub line: usize,
}

impl fmt::Display for TokenLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.origin {
            TokensOrigin::File(_) => write!(f, "{} line {}", self.origin, self.line),
            TokensOrigin::Inline => write!(f, "{} entry {}", self.origin, self.line),
        }
    }
}

/// What is wrong with one token line. Never contains the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// The role field is not `reader`, `writer` or `admin`.
    #[error("unknown role {0:?} (expected reader, writer or admin)")]
    UnknownRole(String),
    /// Fewer than three fields.
    #[error("missing {0} (expected `role name token`)")]
    MissingField(&'static str),
    /// More than three fields (a token may not contain whitespace).
    #[error("too many fields (expected `role name token`; tokens may not contain spaces)")]
    TooManyFields,
    /// The name has characters outside ASCII letters, digits and `-_.@:/`, or is reserved.
    #[error(
        "invalid name {0:?} (use ASCII letters, digits and -_.@:/; \"anonymous\" is reserved)"
    )]
    InvalidName(String),
    /// A plaintext token is too short to resist guessing.
    #[error(
        "token is {len} characters, shorter than the minimum of {}",
        MIN_TOKEN_LEN
    )]
    TokenTooShort {
        /// Its length in characters.
        len: usize,
    },
    /// `sha256:` not followed by exactly 64 hex digits.
    #[error("hashed token must be sha256: followed by 64 hex digits")]
    BadHash,
    /// The same token (plaintext or hashed) is configured twice.
    #[error("duplicate token (already defined at {first})")]
    DuplicateToken {
        /// Where it was first defined.
        first: TokenLocation,
    },
    /// The same name is configured twice.
    #[error("duplicate name {name:?} (already defined at {first})")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where it was first defined.
        first: TokenLocation,
    },
}

/// Why the tokens could not be loaded. Startup should print it and exit non-zero.
#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    /// The tokens file could not be read. Fix the path or its permissions.
    #[error("cannot read tokens file {}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        cause: std::io::Error,
    },
    /// A line is invalid. Fix that line.
    #[error("{at}: {problem}")]
    Line {
        /// The file (or env value) and line.
        at: TokenLocation,
        /// What is wrong.
        problem: LineProblem,
    },
    /// A tokens file was given but defines no token. Add one, or drop the file
    /// to run without auth (loopback only).
    #[error("{0} defines no tokens")]
    NoTokens(TokensOrigin),
}

/// One configured token: its hash, never the token.
struct Entry {
    name: String,
    role: Role,
    hash: [u8; 32],
    at: TokenLocation,
}

/// The configured tokens. Cheap to look up; keep it in an `Arc` in app state.
#[derive(Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl Tokens {
    /// Loads tokens from a file and/or the inline env value (see the module
    /// docs for the format). Both sources are merged; names and tokens must be
    /// unique across them. Neither given means auth is off.
    pub fn load(file: Option<&Path>, inline: Option<&str>) -> Result<Tokens, TokensError> {
        let mut tokens = Tokens::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|cause| TokensError::Read {
                path: path.to_owned(),
                cause,
            })?;
            let origin = TokensOrigin::File(path.to_owned());
            if tokens.add_lines(text.lines(), &origin)? == 0 {
                return Err(TokensError::NoTokens(origin));
            }
        }
        if let Some(text) = inline.filter(|text| !text.trim().is_empty()) {
            let origin = TokensOrigin::Inline;
            if tokens.add_lines(text.split([';', '\n']), &origin)? == 0 {
                return Err(TokensError::NoTokens(origin));
            }
        }
        Ok(tokens)
    }

    /// True when no token is configured: auth is off.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The configured names, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|entry| entry.name.as_str())
    }

    /// Checks the `Authorization: Bearer <token>` header for a route that needs
    /// `needed`. Missing, repeated or malformed header, or an unknown token:
    /// [`ApiError::Unauthorized`]; a known token with a lower role:
    /// [`ApiError::Forbidden`]. With no tokens configured: the anonymous admin.
    pub fn authorize(&self, headers: &HeaderMap, needed: Role) -> Result<Principal, ApiError> {
        if self.is_empty() {
            return Ok(Principal::anonymous());
        }
        let token = bearer_token(headers).ok_or(ApiError::Unauthorized)?;
        self.authorize_token(token, needed)
    }

    /// Checks a token that arrived some other way (e.g. a `token` query
    /// parameter, as GoAlert's generic API sends it). Same outcomes as
    /// [`Tokens::authorize`].
    pub fn authorize_token(&self, token: &str, needed: Role) -> Result<Principal, ApiError> {
        if self.is_empty() {
            return Ok(Principal::anonymous());
        }
        let entry = self.lookup(token).ok_or(ApiError::Unauthorized)?;
        if entry.role < needed {
            return Err(ApiError::Forbidden {
                needed: needed.as_str(),
            });
        }
        Ok(Principal {
            name: entry.name.clone(),
            role: entry.role,
        })
    }

    /// Finds the entry whose hash equals the token's. Compares against every
    /// entry in constant time and selects the match without branching, so the
    /// time taken says nothing about which entry (if any) matched.
    fn lookup(&self, token: &str) -> Option<&Entry> {
        let digest = sha256(token.as_bytes());
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, entry) in self.entries.iter().enumerate() {
            let hit = entry.hash.ct_eq(&digest);
            index.conditional_assign(&(i as u64), hit);
            found |= hit;
        }
        bool::from(found).then(|| &self.entries[index as usize])
    }

    /// Adds every token line; returns how many tokens were added.
    fn add_lines<'a>(
        &mut self,
        lines: impl Iterator<Item = &'a str>,
        origin: &TokensOrigin,
    ) -> Result<usize, TokensError> {
        let mut added = 0;
        for (i, line) in lines.enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = TokenLocation {
                origin: origin.clone(),
                line: i + 1,
            };
            let entry = parse_line(line, at.clone())
                .and_then(|entry| self.check_unique(entry))
                .map_err(|problem| TokensError::Line { at, problem })?;
            self.entries.push(entry);
            added += 1;
        }
        Ok(added)
    }

    /// Rejects an entry whose name or token is already configured.
    fn check_unique(&self, entry: Entry) -> Result<Entry, LineProblem> {
        for existing in &self.entries {
            if existing.name == entry.name {
                return Err(LineProblem::DuplicateName {
                    name: entry.name,
                    first: existing.at.clone(),
                });
            }
            if bool::from(existing.hash.ct_eq(&entry.hash)) {
                return Err(LineProblem::DuplicateToken {
                    first: existing.at.clone(),
                });
            }
        }
        Ok(entry)
    }
}

impl fmt::Debug for Tokens {
    /// Prints the count and the names; never a token or a hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

/// Parses `role name token` (already trimmed, not a comment).
fn parse_line(line: &str, at: TokenLocation) -> Result<Entry, LineProblem> {
    let mut fields = line.split_whitespace();
    let role = fields.next().ok_or(LineProblem::MissingField("role"))?;
    let name = fields.next().ok_or(LineProblem::MissingField("name"))?;
    let token = fields.next().ok_or(LineProblem::MissingField("token"))?;
    if fields.next().is_some() {
        return Err(LineProblem::TooManyFields);
    }
    let role = Role::parse(role).ok_or_else(|| LineProblem::UnknownRole(role.to_owned()))?;
    if !valid_name(name) {
        return Err(LineProblem::InvalidName(name.to_owned()));
    }
    Ok(Entry {
        name: name.to_owned(),
        role,
        hash: token_hash(token)?,
        at,
    })
}

fn valid_name(name: &str) -> bool {
    name != ANONYMOUS
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:/".contains(&b))
}

/// The SHA-256 of a plaintext token, or the decoded `sha256:<hex>` form.
fn token_hash(token: &str) -> Result<[u8; 32], LineProblem> {
    if let Some(hex) = token.strip_prefix("sha256:") {
        return decode_hex32(hex).ok_or(LineProblem::BadHash);
    }
    let len = token.chars().count();
    if len < MIN_TOKEN_LEN {
        return Err(LineProblem::TokenTooShort { len });
    }
    Ok(sha256(token.as_bytes()))
}

fn decode_hex32(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }
    Some(out)
}

fn hex_digit(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    let well_formed = scheme.eq_ignore_ascii_case("bearer")
        && !token.is_empty()
        && !token.contains(char::is_whitespace);
    well_formed.then_some(token)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
