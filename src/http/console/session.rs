//! Who is looking at the console, and whether a form they send may write.
//!
//! With tokens configured, a person signs in by pasting a token once; the console keeps
//! a random session id in an `HttpOnly`, `SameSite=Strict` cookie and the principal in
//! memory (the token itself is never stored, shown, put in a URL or logged). Sessions
//! end on sign-out, after [`SESSION_TTL`], or when the service restarts. Without tokens
//! (loopback only, as for the API) every visitor is the anonymous admin.
//!
//! Every form that writes carries the session's CSRF token, and its `Origin` (or, when
//! a browser sends none, its `Referer`) must be this server: [`Viewer::check_write`].

use super::page::{self, Problem};
use crate::http::auth::{Principal, Role};
use crate::http::HttpState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "alert_ledger_session";

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Most sessions kept at once; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// One signed-in person.
#[derive(Debug, Clone)]
struct Session {
    principal: Principal,
    csrf: String,
    started: Instant,
}

/// The console's sessions, in memory.
pub struct Sessions {
    random: SystemRandom,
    by_id: Mutex<HashMap<String, Session>>,
    /// The CSRF token of the anonymous visitor when no token is configured.
    anonymous_csrf: String,
}

impl Default for Sessions {
    fn default() -> Self {
        let random = SystemRandom::new();
        let anonymous_csrf = random_hex(&random);
        Sessions {
            random,
            by_id: Mutex::default(),
            anonymous_csrf,
        }
    }
}

impl Sessions {
    /// Starts a session for `principal`; returns its id (the cookie's value).
    pub fn start(&self, principal: Principal) -> String {
        let id = random_hex(&self.random);
        let session = Session {
            principal,
            csrf: random_hex(&self.random),
            started: Instant::now(),
        };
        let mut sessions = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.started.elapsed() < SESSION_TTL);
        if sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(id, _)| id.clone())
            {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.clone(), session);
        id
    }

    /// Ends the session `id` (nothing if there is none).
    pub fn end(&self, id: &str) {
        self.by_id
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    fn find(&self, id: &str) -> Option<Session> {
        let sessions = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        sessions
            .get(id)
            .filter(|s| s.started.elapsed() < SESSION_TTL)
            .cloned()
    }
}

fn random_hex(random: &SystemRandom) -> String {
    let mut bytes = [0u8; 32];
    random
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The person looking at a page: who, what they may do, and their form token.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Their principal (the anonymous admin without tokens).
    pub principal: Principal,
    /// The CSRF token every form they send must carry.
    pub csrf: String,
    /// Their session id; `None` when auth is off.
    pub session: Option<String>,
}

impl Viewer {
    /// Whether the viewer's role includes `role`.
    pub fn may(&self, role: Role) -> bool {
        self.principal.role >= role
    }

    /// Whether sign-in is in use (a sign-out button makes sense).
    pub fn signed_in(&self) -> bool {
        self.session.is_some()
    }

    /// Refuses a write unless it comes from this server's own page (`Origin`, else
    /// `Referer`), carries the session's CSRF token, and the viewer's role includes
    /// `needed`. Every refusal is a 403 page saying which check failed.
    pub fn check_write(
        &self,
        headers: &HeaderMap,
        csrf: Option<&str>,
        needed: Role,
    ) -> Result<(), Problem> {
        if !same_origin(headers) {
            return Err(Problem::forbidden(
                "this form did not come from this server's pages (Origin check)",
            ));
        }
        let given = csrf.unwrap_or_default().as_bytes();
        if !bool::from(given.ct_eq(self.csrf.as_bytes())) {
            return Err(Problem::forbidden(
                "the form's session token is missing or stale; reload the page and try again",
            ));
        }
        if !self.may(needed) {
            return Err(Problem::forbidden(format!(
                "{} has the {} role; this needs {}",
                self.principal.name, self.principal.role, needed
            )));
        }
        Ok(())
    }
}

/// Whether the request's `Origin` (or `Referer`) names the host it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let origin_of = |value: &str| {
        let rest = value
            .strip_prefix("http://")
            .or_else(|| value.strip_prefix("https://"))?;
        Some(rest.split('/').next().unwrap_or_default().to_owned())
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(origin_of);
    from.is_some_and(|from| from.eq_ignore_ascii_case(host))
}

/// The session id in the request's cookie, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str) -> HeaderValue {
    let value = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    HeaderValue::from_str(&value).expect("hex ids make a valid header")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("alert_ledger_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Why a page could not find its viewer: not signed in (pages go to the sign-in page,
/// other requests get a 401 page).
pub struct NotSignedIn {
    next: Option<String>,
}

impl IntoResponse for NotSignedIn {
    fn into_response(self) -> Response {
        match self.next {
            Some(next) => {
                let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
                Redirect::to(&format!("/login?{query}")).into_response()
            }
            None => page::problem_page(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "sign in to the console first",
            ),
        }
    }
}

impl FromRequestParts<HttpState> for Viewer {
    type Rejection = NotSignedIn;

    async fn from_request_parts(parts: &mut Parts, state: &HttpState) -> Result<Self, NotSignedIn> {
        let sessions = &state.console;
        if state.tokens.is_empty() {
            return Ok(Viewer {
                principal: Principal::anonymous(),
                csrf: sessions.anonymous_csrf.clone(),
                session: None,
            });
        }
        let found = session_cookie(&parts.headers).and_then(|id| {
            sessions.find(&id).map(|s| Viewer {
                principal: s.principal,
                csrf: s.csrf,
                session: Some(id),
            })
        });
        found.ok_or_else(|| NotSignedIn {
            next: (parts.method == Method::GET).then(|| {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_owned()
            }),
        })
    }
}
