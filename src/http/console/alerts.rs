//! The alert list (`/alerts`): status, service, severity, resource and time-range
//! filters plus full-text search, all in the URL (a view can be shared and survives a
//! reload), cursor paging, and the current filter exported as CSV or NDJSON
//! (`/alerts/export.csv`, `/alerts/export.ndjson`, streamed page by page).

use super::page::{badge, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::alerts::search_query;
use crate::http::HttpState;
use crate::projection::queries::AlertFilter;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{html, Markup};
use projections::views::{AlertStatus, AlertView};
use projections::{Position, Severity};
use serde::Deserialize;

/// Alerts per page of the list.
pub const PAGE: usize = 50;

/// Alerts read per step of an export.
const EXPORT_STEP: usize = 1_000;

/// The list's form: every field optional, an empty one means "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    service: Option<String>,
    severity: Option<String>,
    resource: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    as_of: Option<String>,
}

impl ListQuery {
    /// The filter this form asks for; a bad field is a 422 page naming it.
    fn filter(&self, in_past: bool) -> Result<AlertFilter, Problem> {
        let status = match given(&self.status) {
            None => None,
            Some(s) => Some(
                AlertStatus::parse(s)
                    .ok_or_else(|| Problem::field("status", format!("no status {s}")))?,
            ),
        };
        let severity = match given(&self.severity) {
            None => None,
            Some(s) => Some(
                Severity::parse(s)
                    .ok_or_else(|| Problem::field("severity", format!("no severity {s}")))?,
            ),
        };
        let query =
            match given(&self.q) {
                None => None,
                Some(_) if in_past => return Err(Problem::field(
                    "q",
                    "full-text search covers the alerts' current text; clear it to travel in time",
                )),
                Some(q) => Some(search_query(q).map_err(|e| Problem::field("q", e))?),
            };
        Ok(AlertFilter {
            status,
            severity,
            service: given(&self.service).map(str::to_owned),
            resource: given(&self.resource).map(str::to_owned),
            since: given(&self.since)
                .map(|s| parse_time("since", s))
                .transpose()?,
            until: given(&self.until)
                .map(|s| parse_time("until", s))
                .transpose()?,
            query,
        })
    }

    /// The filter's fields as query pairs (for links: paging, export).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        vec![
            ("status", field(&self.status)),
            ("service", field(&self.service)),
            ("severity", field(&self.severity)),
            ("resource", field(&self.resource)),
            ("since", field(&self.since)),
            ("until", field(&self.until)),
            ("q", field(&self.q)),
        ]
    }
}

fn given(field: &Option<String>) -> Option<&str> {
    field.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An RFC 3339 time, a `datetime-local` value (`2026-12-01T09:30`, UTC) or a day.
fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, Problem> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(raw, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(Problem::field(
        field,
        "must be an RFC 3339 time, YYYY-MM-DDTHH:MM (UTC) or YYYY-MM-DD",
    ))
}

/// `GET /alerts`.
pub async fn list(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/alerts", query.as_of.clone()).await?;
    let filter = query.filter(ctx.in_past())?;
    let cursor = match given(&query.cursor) {
        None => None,
        Some(c) => Some(
            c.parse::<Position>()
                .map_err(|_| Problem::field("cursor", "must be a position"))?,
        ),
    };
    let page = ctx.read(&state, |views| views.alerts(&filter, cursor, PAGE));
    let pairs = query.pairs();
    let body = html! {
        (filter_form(&ctx, &query))
        p.toolbar {
            "Export this filter: "
            a #export-csv href=(ctx.href("/alerts/export.csv", &pairs)) { "CSV" } " · "
            a #export-ndjson href=(ctx.href("/alerts/export.ndjson", &pairs)) { "NDJSON" }
        }
        @if page.items.is_empty() {
            p.empty { "No alert matches." }
        } @else {
            div.scroll {
                table.alerts #alerts {
                    thead { tr { th { "Opened" } th { "Status" } th { "Severity" } th { "Service" } th { "Resource" } th { "Summary" } } }
                    tbody {
                        @for alert in &page.items { (row(&ctx, alert)) }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if cursor.is_some() {
                a href=(ctx.href("/alerts", &pairs)) { "← Newest" }
            }
            @if let Some(next) = &page.next_cursor {
                a #next-page href=(ctx.href("/alerts", &[pairs.clone(), vec![("cursor", next.clone())]].concat())) { "Older →" }
            }
        }
    };
    Ok(ctx.render("Alerts", body))
}

fn row(ctx: &Ctx, alert: &AlertView) -> Markup {
    html! {
        tr data-alert=(alert.id) {
            td { (time(alert.created_at)) }
            td { (badge(alert.status.as_str())) }
            td { (badge(alert.severity.as_str())) }
            td { (alert.service) }
            td { @if let Some(r) = &alert.resource { (r) } }
            td { a href=(ctx.href(&format!("/alerts/{}", alert.id), &[])) { (alert.summary) } }
        }
    }
}

fn filter_form(ctx: &Ctx, query: &ListQuery) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let choose = |name: &str, current: &Option<String>, options: &[&str]| {
        html! {
            label { (name) " "
                select name=(name) {
                    option value="" { "any" }
                    @for option in options {
                        option value=(option) selected[given(current) == Some(*option)] { (option) }
                    }
                }
            }
        }
    };
    let statuses: Vec<&str> = AlertStatus::ALL.iter().map(|s| s.as_str()).collect();
    let severities: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    html! {
        form.filters #filters method="get" action="/alerts" role="search" aria-label="Filter alerts" {
            @if let Some(at) = ctx.at { input type="hidden" name="as_of" value=(at); }
            label { "search " input name="q" type="search" value=(value(&query.q)) placeholder="words in summary or details"; }
            (choose("status", &query.status, &statuses))
            (choose("severity", &query.severity, &severities))
            label { "service " input name="service" type="text" size="12" value=(value(&query.service)); }
            label { "resource " input name="resource" type="text" size="12" value=(value(&query.resource)); }
            label { "since " input name="since" type="text" size="17" placeholder="2026-12-01T09:00" value=(value(&query.since)); }
            label { "until " input name="until" type="text" size="17" placeholder="2026-12-02" value=(value(&query.until)); }
            button type="submit" { "Filter" }
            a href=(ctx.href("/alerts", &[])) { "Clear" }
        }
    }
}

/// `GET /alerts/export.csv`.
pub async fn export_csv(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    export(viewer, state, query, true).await
}

/// `GET /alerts/export.ndjson`.
pub async fn export_ndjson(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, Problem> {
    export(viewer, state, query, false).await
}

/// Every alert the filter matches, newest first, streamed a thousand at a time (the
/// views are read once per step, never held across a wait).
async fn export(
    viewer: Viewer,
    state: HttpState,
    query: ListQuery,
    csv: bool,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/alerts", query.as_of.clone()).await?;
    let filter = query.filter(ctx.in_past())?;
    let at = ctx.at;
    let header_line = csv.then(|| CSV_COLUMNS.join(",") + "\n");
    let steps = futures_util::stream::unfold(
        (state, Some(None::<Position>), header_line),
        move |(state, cursor, header_line)| {
            let filter = filter.clone();
            async move {
                let cursor = cursor?;
                let page = match at {
                    Some(at) => state.app.views.at(at).alerts(&filter, cursor, EXPORT_STEP),
                    None => state
                        .app
                        .views
                        .current()
                        .alerts(&filter, cursor, EXPORT_STEP),
                };
                let mut chunk = header_line.unwrap_or_default();
                for alert in &page.items {
                    if csv {
                        chunk.push_str(&csv_line(alert));
                    } else {
                        chunk.push_str(&serde_json::to_string(alert).unwrap_or_default());
                        chunk.push('\n');
                    }
                }
                let next = page.next_cursor.and_then(|c| c.parse().ok()).map(Some);
                Some((Ok::<_, std::io::Error>(chunk), (state, next, None)))
            }
        },
    );
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "alerts.csv")
    } else {
        ("application/x-ndjson", "alerts.ndjson")
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(steps),
    )
        .into_response())
}

/// The export's CSV columns.
const CSV_COLUMNS: [&str; 11] = [
    "id",
    "created_at",
    "status",
    "severity",
    "service",
    "resource",
    "dedup_key",
    "summary",
    "acknowledged_by",
    "updated_at",
    "last_position",
];

fn csv_line(alert: &AlertView) -> String {
    let fields = [
        alert.id.to_string(),
        alert.created_at.to_rfc3339(),
        alert.status.as_str().to_owned(),
        alert.severity.as_str().to_owned(),
        alert.service.to_string(),
        alert
            .resource
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_default(),
        alert.dedup_key.to_string(),
        alert.summary.clone(),
        alert.acknowledged_by.clone().unwrap_or_default(),
        alert.updated_at.to_rfc3339(),
        alert.last_position.to_string(),
    ];
    let mut line = fields.map(|f| csv_field(&f)).join(",");
    line.push('\n');
    line
}

/// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}
