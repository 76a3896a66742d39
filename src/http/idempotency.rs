//! `Idempotency-Key` on POST: a retry with the same key, credentials, path and body
//! gets the first response again and writes nothing; the same key with a different
//! body is a 422.
//!
//! The cache is in memory and bounded (oldest entries are evicted first); it does not
//! survive a restart. ADR 0004 says why that is acceptable and what clients should do.
//!
//! The layer's own refusals (a bad or reused key, a body too large or too slow) are
//! problem documents, except on `POST /v2/enqueue`, which answers only in PagerDuty's
//! shapes (`docs/receivers.md`).

use super::error::ApiError;
use super::HttpState;
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Lock stripes that serialise concurrent requests with the same key.
const STRIPES: usize = 256;

/// A stored first response.
#[derive(Clone)]
struct Entry {
    fingerprint: [u8; 32],
    status: StatusCode,
    headers: Vec<(header::HeaderName, HeaderValue)>,
    body: Bytes,
}

/// The stored responses and their insertion order (for eviction).
#[derive(Default)]
struct Entries {
    by_scope: HashMap<[u8; 32], Entry>,
    oldest_first: VecDeque<[u8; 32]>,
}

/// Bounded map from (credentials, method, path, key) to the first response.
pub struct IdempotencyCache {
    entries: Mutex<Entries>,
    capacity: usize,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl IdempotencyCache {
    /// A cache holding at most `capacity` responses.
    pub fn new(capacity: usize) -> Self {
        IdempotencyCache {
            entries: Mutex::new(Entries::default()),
            capacity,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    fn get(&self, scope: &[u8; 32]) -> Option<Entry> {
        let guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        guard.by_scope.get(scope).cloned()
    }

    fn put(&self, scope: [u8; 32], entry: Entry) {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let entries = &mut *guard;
        if entries.by_scope.insert(scope, entry).is_none() {
            entries.oldest_first.push_back(scope);
        }
        while entries.oldest_first.len() > self.capacity {
            if let Some(oldest) = entries.oldest_first.pop_front() {
                entries.by_scope.remove(&oldest);
            }
        }
    }
}

/// Middleware: replays stored responses for repeated `Idempotency-Key`s.
pub async fn replay(State(state): State<HttpState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER).cloned() else {
        return next.run(request).await;
    };
    let pagerduty = request.uri().path() == crate::http::receivers::pagerduty::PATH;
    match replay_keyed(&state, key, request, next).await {
        Ok(response) => response,
        Err(err) if pagerduty => {
            crate::http::receivers::pagerduty::PdError::from(err).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn replay_keyed(
    state: &HttpState,
    key: HeaderValue,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let key = validate_key(&key)?;
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, state.settings.body_limit)
        .await
        .map_err(|err| {
            if super::serve::is_body_timeout(&err) {
                ApiError::RequestTimeout
            } else {
                ApiError::PayloadTooLarge {
                    limit: state.settings.body_limit,
                }
            }
        })?;
    let scope = scope_of(&parts.headers, parts.method.as_str(), parts.uri.path(), key);
    let fingerprint: [u8; 32] = Sha256::digest(&bytes).into();
    let cache = &state.idempotency;
    let _guard = cache.stripes[scope[0] as usize % STRIPES].lock().await;
    if let Some(entry) = cache.get(&scope) {
        if entry.fingerprint != fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        return Ok(rebuild(entry));
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    if !is_cacheable(response.status()) {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|err| ApiError::Internal(format!("buffering a response: {err}")))?;
    let kept = [header::CONTENT_TYPE.as_str(), super::POSITION_HEADER];
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| kept.contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let entry = Entry {
        fingerprint,
        status: parts.status,
        headers,
        body,
    };
    cache.put(scope, entry.clone());
    Ok(rebuild(entry))
}

/// Responses that describe the outcome of the request itself; auth failures,
/// conflicts and unavailability are not remembered, so a retry can succeed.
fn is_cacheable(status: StatusCode) -> bool {
    let transient = [401, 403, 409, 429];
    status.as_u16() < 500 && !transient.contains(&status.as_u16())
}

fn validate_key(key: &HeaderValue) -> Result<&str, ApiError> {
    let text = key.to_str().unwrap_or("");
    let visible = text.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if text.is_empty() || text.len() > 255 || !visible {
        return Err(ApiError::field(
            "header.Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(text)
}

fn scope_of(headers: &HeaderMap, method: &str, path: &str, key: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let credentials = headers
        .get(header::AUTHORIZATION)
        .map_or(&b""[..], |v| v.as_bytes());
    for part in [
        credentials,
        method.as_bytes(),
        path.as_bytes(),
        key.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn rebuild(entry: Entry) -> Response {
    let mut response = (entry.status, entry.body).into_response();
    for (name, value) in entry.headers {
        response.headers_mut().insert(name, value);
    }
    response
}
