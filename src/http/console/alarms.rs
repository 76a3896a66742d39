//! The board (`/`): active alarms grouped by resource or by service with severity
//! counts, acknowledge and resolve inline, kept live by `/console/live` (SSE: an event
//! whenever the views move, `id:` = the position, resumed with `Last-Event-ID`), on
//! which the page's script fetches the board again (`?fragment=board`).

use super::actions::action_button;
use super::page::{badge, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::auth::Role;
use crate::http::HttpState;
use crate::projection::queries::{AlarmFilter, AlarmGroup, AlarmItem, Alarms};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup};
use projections::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Most alarms listed per group; the rest are a link to the filtered alert list.
pub const ROWS_PER_GROUP: usize = 50;

/// How long the live stream stays quiet before a heartbeat comment.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The board's query.
#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// `resource` (default) or `service`.
    group: Option<String>,
    /// `board`: only the board itself (the live script's refresh).
    fragment: Option<String>,
    /// A position or an RFC 3339 time.
    as_of: Option<String>,
}

/// How the board groups alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grouping {
    Resource,
    Service,
}

/// `GET /`: the board.
pub async fn board(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<BoardQuery>,
) -> Result<Response, Problem> {
    let grouping = match query.group.as_deref() {
        None | Some("") | Some("resource") => Grouping::Resource,
        Some("service") => Grouping::Service,
        Some(other) => {
            return Err(Problem::field(
                "group",
                format!("{other} is neither resource nor service"),
            ))
        }
    };
    let ctx = Ctx::new(&state, viewer, "/", query.as_of).await?;
    let alarms = ctx.read(&state, |views| views.alarms(&AlarmFilter::default()));
    let board = render_board(&ctx, &alarms, grouping);
    if query.fragment.as_deref() == Some("board") {
        return Ok(Html(board.into_string()).into_response());
    }
    let group = if grouping == Grouping::Service {
        "service"
    } else {
        "resource"
    };
    let body = html! {
        div.toolbar {
            span { "Group by " }
            a href=(ctx.href("/", &[])) aria-current=[(grouping == Grouping::Resource).then_some("true")] { "resource" }
            " · "
            a href=(ctx.href("/", &[("group", "service".into())])) aria-current=[(grouping == Grouping::Service).then_some("true")] { "service" }
            @if !ctx.in_past() {
                span #live .live data-state="connecting" aria-live="polite" { "connecting…" }
            }
        }
        div #board data-live=[(!ctx.in_past()).then_some("/console/live")]
            data-fragment=(format!("/?fragment=board&group={group}")) {
            (board)
        }
    };
    Ok(ctx.render("Active alarms", body))
}

fn render_board(ctx: &Ctx, alarms: &Alarms, grouping: Grouping) -> Markup {
    let groups = regroup(alarms, grouping);
    let mut totals: BTreeMap<Severity, u64> = Severity::ALL.into_iter().map(|s| (s, 0)).collect();
    for group in &groups {
        for (severity, count) in &group.counts {
            *totals.entry(*severity).or_default() += count;
        }
    }
    html! {
        p.summary #board-summary {
            strong #open-count { (alarms.total) } " open · "
            (alarms.unacknowledged) " unacknowledged · " (alarms.acknowledged) " acknowledged · "
            @for (severity, count) in &totals {
                (badge(severity.as_str())) " " (count) " "
            }
        }
        @if groups.is_empty() {
            p.empty { "No active alarms." }
        }
        @for group in &groups {
            section.group aria-label=(group.label) {
                h2 {
                    (group.label)
                    span.counts {
                        @for (severity, count) in &group.counts {
                            @if *count > 0 { (badge(severity.as_str())) " " (count) " " }
                        }
                        "· " (group.unacknowledged) " unacknowledged"
                    }
                }
                div.scroll {
                    table.alarms {
                        thead { tr { th { "Severity" } th { "Summary" } th { "Status" } th { "Open since" } th { span.sr { "Actions" } } } }
                        tbody {
                            @for item in group.items.iter().take(ROWS_PER_GROUP) {
                                (alarm_row(ctx, item))
                            }
                        }
                    }
                }
                @if group.items.len() > ROWS_PER_GROUP {
                    p.more {
                        a href=(ctx.href("/alerts", &group.filter)) {
                            (group.items.len() - ROWS_PER_GROUP) " more in the alert list"
                        }
                    }
                }
            }
        }
    }
}

fn alarm_row(ctx: &Ctx, item: &AlarmItem) -> Markup {
    let id = item.id.to_string();
    html! {
        tr data-alert=(id) {
            td { (badge(item.severity.as_str())) }
            td { a href=(ctx.href(&format!("/alerts/{id}"), &[])) { (item.summary) } }
            td { (badge(item.status.as_str())) }
            td { (time(item.since)) }
            td.row-actions {
                @if ctx.can(Role::Writer) {
                    @if item.status.as_str() == "triggered" {
                        (action_button(ctx, &id, "acknowledge", "Ack", "/"))
                    }
                    (action_button(ctx, &id, "resolve", "Resolve", "/"))
                }
            }
        }
    }
}

/// One group on the board.
struct BoardGroup {
    label: String,
    filter: Vec<(&'static str, String)>,
    counts: BTreeMap<Severity, u64>,
    unacknowledged: u64,
    items: Vec<AlarmItem>,
}

/// The (resource, service) groups of the view merged by resource or by service.
fn regroup(alarms: &Alarms, grouping: Grouping) -> Vec<BoardGroup> {
    let mut merged: BTreeMap<String, BoardGroup> = BTreeMap::new();
    for group in &alarms.groups {
        let (key, label, filter) = key_of(group, grouping);
        let entry = merged.entry(key).or_insert_with(|| BoardGroup {
            label,
            filter,
            counts: BTreeMap::new(),
            unacknowledged: 0,
            items: Vec::new(),
        });
        for (severity, count) in &group.counts {
            *entry.counts.entry(*severity).or_default() += count;
        }
        entry.unacknowledged += group.unacknowledged;
        entry.items.extend(group.items.iter().cloned());
    }
    let mut groups: Vec<BoardGroup> = merged.into_values().collect();
    for group in &mut groups {
        group
            .items
            .sort_by_key(|i| (i.severity, std::cmp::Reverse(i.since)));
    }
    groups
}

fn key_of(group: &AlarmGroup, grouping: Grouping) -> (String, String, Vec<(&'static str, String)>) {
    match grouping {
        Grouping::Service => (
            group.service.to_string(),
            format!("Service {}", group.service),
            vec![("service", group.service.to_string())],
        ),
        Grouping::Resource => match &group.resource {
            Some(resource) => (
                format!("1{resource}"),
                format!("Resource {resource}"),
                vec![("resource", resource.to_string())],
            ),
            None => (
                "2".into(),
                "No resource".into(),
                vec![("service", group.service.to_string())],
            ),
        },
    }
}

/// `GET /console/live`: an SSE event (`event: position`, `id:` and `data:` the views'
/// position) each time the views move, at once on connect when they moved since
/// `Last-Event-ID`; a heartbeat comment when quiet. Ends when the service shuts down.
pub async fn live(_viewer: Viewer, State(state): State<HttpState>, headers: HeaderMap) -> Response {
    let last: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let stream = futures_util::stream::unfold(
        (state, last, Instant::now(), true),
        |(state, mut last, mut quiet_since, first)| async move {
            loop {
                if state.app.shutting_down.load(Ordering::Relaxed) {
                    return None;
                }
                let applied = state.app.views.applied();
                if applied > last || (first && last == 0) {
                    last = applied;
                    let frame = format!("event: position\nid: {applied}\ndata: {applied}\n\n");
                    return Some((
                        Ok::<_, std::io::Error>(frame),
                        (state, last, Instant::now(), false),
                    ));
                }
                if quiet_since.elapsed() >= HEARTBEAT {
                    quiet_since = Instant::now();
                    return Some((
                        Ok(": heartbeat\n\n".to_owned()),
                        (state, last, quiet_since, false),
                    ));
                }
                let _ = state
                    .app
                    .views
                    .wait_for(last + 1, Duration::from_secs(1))
                    .await;
            }
        },
    );
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}
