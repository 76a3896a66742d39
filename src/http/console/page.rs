//! What every console page shares: the layout (navigation, the time-travel control
//! and banner, sign-out), links that keep the page in the past, the views a page reads
//! (now or as of a position), error pages, and small formatting helpers.

use super::session::Viewer;
use crate::app::AppError;
use crate::http::auth::Role;
use crate::http::error::ApiError;
use crate::http::query::ViewAt;
use crate::http::reads::as_of_position;
use crate::http::HttpState;
use crate::projection::ViewQueries;
use crate::store::Head;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{html, Markup, DOCTYPE};
use projections::{Hash, Position};

/// The pages in the navigation: path and label.
const NAV: [(&str, &str); 6] = [
    ("/", "Alarms"),
    ("/alerts", "Alerts"),
    ("/deliveries", "Deliveries"),
    ("/tasks", "Tasks"),
    ("/ledger", "Ledger"),
    ("/trends", "Trends"),
];

/// One page request: who looks, and at which moment of the ledger.
pub struct Ctx {
    /// The viewer.
    pub viewer: Viewer,
    /// The position the page shows when travelling in time (`None`: now).
    pub at: Option<Position>,
    /// When the event at `at` was recorded.
    pub at_time: Option<DateTime<Utc>>,
    /// The log's head when the page was asked for.
    pub head: Position,
    /// The position the page shows (`at`, or the head) and that event's chain hash.
    pub shown: Head,
    /// The path of the page (the time-travel form submits to it).
    pub path: String,
}

impl Ctx {
    /// Resolves `as_of` (a position or an RFC 3339 time, as in the API) and waits until
    /// the views can answer for it.
    pub async fn new(
        state: &HttpState,
        viewer: Viewer,
        path: &str,
        as_of: Option<String>,
    ) -> Result<Ctx, Problem> {
        let as_of = as_of.filter(|s| !s.trim().is_empty());
        let now = state.app.store.head().await.map_err(ApiError::from)?;
        let head = now.position;
        let at = as_of_position(
            state,
            &ViewAt {
                min_position: None,
                as_of: as_of.map(|s| s.trim().to_owned()),
            },
        )
        .await?;
        let (mut at_time, mut shown) = (None, now);
        if at.is_none() {
            // A page shows everything acknowledged before it was asked for (a write
            // made through the API a moment ago is on it); when the views lag longer
            // than the read wait, it shows what they hold.
            let _ = state.app.views.wait_for(head, state.app.read_wait).await;
        }
        if let Some(at) = at {
            state.app.wait_for(at).await?;
            shown = Head {
                position: at,
                hash: Hash::GENESIS,
            };
            if at > 0 {
                let events = state
                    .app
                    .store
                    .read_all(at, 1)
                    .await
                    .map_err(ApiError::from)?;
                if let Some(event) = events.first() {
                    at_time = Some(event.recorded_at);
                    shown.hash = event.hash;
                }
            }
        }
        Ok(Ctx {
            viewer,
            at,
            at_time,
            head,
            shown,
            path: path.to_owned(),
        })
    }

    /// Reads the views the page shows: as of [`Ctx::at`], or now.
    pub fn read<T>(&self, state: &HttpState, read: impl FnOnce(&dyn ViewQueries) -> T) -> T {
        match self.at {
            Some(at) => read(&*state.app.views.at(at)),
            None => read(&*state.app.views.current()),
        }
    }

    /// Whether the page shows the past (no write buttons then).
    pub fn in_past(&self) -> bool {
        self.at.is_some()
    }

    /// Whether the page may offer a write needing `role`: the viewer has it and the page
    /// shows the ledger as it is now.
    pub fn can(&self, role: Role) -> bool {
        !self.in_past() && self.viewer.may(role)
    }

    /// A link to `path` with `query`, keeping the page's moment in the past.
    pub fn href(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut pairs: Vec<(&str, String)> = query
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        if let Some(at) = self.at {
            pairs.push(("as_of", at.to_string()));
        }
        if pairs.is_empty() {
            return path.to_owned();
        }
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }

    /// The whole page: navigation, time-travel control and banner, then `body`.
    pub fn render(&self, title: &str, body: Markup) -> Response {
        let markup = html! {
            (DOCTYPE)
            html lang="en" {
                (head(title))
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        nav aria-label="Console" {
                            span.brand { "alert-ledger" }
                            @for (path, label) in NAV.iter() {
                                a href=(self.href(path, &[]))
                                    aria-current=[(self.path == *path).then_some("page")] { (label) }
                            }
                        }
                        (self.travel_form())
                        @if self.viewer.signed_in() {
                            form.signout method="post" action="/logout" {
                                (csrf_field(&self.viewer))
                                span.who { (self.viewer.principal.name) " (" (self.viewer.principal.role) ")" }
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    @if let Some(at) = self.at {
                        div.banner role="status" id="past-banner" {
                            strong { "You are looking at the past." }
                            " This page shows the ledger as it stood at position " (at)
                            @if let Some(t) = self.at_time { " (" (time(t)) ")" }
                            "; the head is at " (self.head) ". Every link keeps you there. "
                            a href=(self.path) { "Back to now" }
                        }
                    }
                    main id="main" {
                        h1 { (title) }
                        (body)
                    }
                    script src="/console/static/console.js" defer {}
                }
            }
        };
        Html(markup.into_string()).into_response()
    }

    fn travel_form(&self) -> Markup {
        html! {
            form.travel method="get" action=(self.path) role="search" aria-label="Time travel" {
                label for="as_of" { "As of" }
                input #as_of name="as_of" type="text" size="22"
                    placeholder="position or 2026-12-01T09:00:00Z"
                    value=[self.at.map(|a| a.to_string())];
                button type="submit" { "Go" }
            }
        }
    }
}

/// The `<head>` of every console page.
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · alert-ledger" }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

/// The hidden CSRF field every writing form carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// A page that could not be shown: its status, a title and the problem's detail
/// (never a stack trace).
#[derive(Debug)]
pub struct Problem {
    /// HTTP status.
    pub status: StatusCode,
    /// One line.
    pub title: String,
    /// What went wrong, as the API's problem detail says it.
    pub detail: String,
}

impl Problem {
    /// 403 with `detail`.
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed".into(),
            detail: detail.into(),
        }
    }

    /// 404 with `detail`.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem {
            status: StatusCode::NOT_FOUND,
            title: "Not found".into(),
            detail: detail.into(),
        }
    }

    /// 422 naming a field of the page's form.
    pub fn field(field: &str, detail: impl std::fmt::Display) -> Problem {
        Problem {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Check the form".into(),
            detail: format!("{field}: {detail}"),
        }
    }
}

impl From<ApiError> for Problem {
    fn from(err: ApiError) -> Problem {
        let status = err.status();
        let title = match status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => "Not allowed",
            s if s.is_client_error() => "Check the request",
            _ => "The ledger could not answer",
        };
        Problem {
            status,
            title: title.into(),
            detail: err.to_string(),
        }
    }
}

impl From<AppError> for Problem {
    fn from(err: AppError) -> Problem {
        Problem::from(ApiError::from(err))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), detail = %self.detail, "console page failed");
        }
        problem_page(self.status, &self.title, &self.detail)
    }
}

/// An error page: status, title, detail, and a way back.
pub fn problem_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    nav aria-label="Console" {
                        span.brand { "alert-ledger" }
                        @for (path, label) in NAV.iter() {
                            a href=(path) { (label) }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    p.problem role="alert" { (status.as_u16()) " · " (detail) }
                    p { a href="/" { "Back to the alarms" } }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A time as the console shows it (UTC, to the second).
pub fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A duration in seconds, shortly (`42 s`, `3 min 5 s`, `2 h 4 min`, `1 d 3 h`).
pub fn duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// The first 12 hex digits of a hash, with the whole one on hover.
pub fn short_hash(hex: &str) -> Markup {
    html! { code title=(hex) { (hex.get(..12).unwrap_or(hex)) "…" } }
}

/// A badge for a status or severity, styled by its name.
pub fn badge(text: &str) -> Markup {
    html! { span class=(format!("badge b-{text}")) { (text) } }
}
