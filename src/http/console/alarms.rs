//! The board (`/`): active alarms grouped by resource or by service with severity
//! counts, the most urgent group first, acknowledge and resolve inline, kept live by
//! `/console/live` (SSE: an event whenever the views move, `id:` = the position,
//! resumed with `Last-Event-ID`), on which the page's script fetches the board again
//! (`?fragment=board`). A group too long for the board links to itself expanded
//! (`?expand=<key>`), which lists all its alarms.

use super::page::{badge, csrf_field, time, Ctx, Problem};
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

/// Most alarms a group lists on the board.
pub const ROWS_PER_GROUP: usize = 50;

/// Alarms every group lists however many groups there are.
pub const ROWS_EVERY_GROUP: usize = 3;

/// Most alarms listed on the board beyond each group's first [`ROWS_EVERY_GROUP`], so
/// that a board of 10,000 open alerts stays a page a browser redraws quickly.
pub const ROWS_ON_BOARD: usize = 500;

/// Most alarms an expanded group lists.
pub const ROWS_EXPANDED: usize = 5_000;

/// How long the live stream stays quiet before a heartbeat comment.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The key of the group of alarms without a resource (no resource id has parentheses).
const NO_RESOURCE: &str = "(none)";

/// The board's query.
#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// `resource` (default) or `service`.
    group: Option<String>,
    /// Only this group (a resource, `(none)` for none, or a service), with all its alarms.
    expand: Option<String>,
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

impl Grouping {
    fn as_str(self) -> &'static str {
        match self {
            Grouping::Resource => "resource",
            Grouping::Service => "service",
        }
    }
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
    let expand = query.expand.filter(|e| !e.is_empty());
    let ctx = Ctx::new(&state, viewer, "/", query.as_of).await?;
    // Reading 10,000 rows and rendering them takes tens of milliseconds of CPU: off the
    // async workers, so requests in flight keep being served.
    let reader = state.clone();
    let expanded = expand.clone();
    let (ctx, board) = tokio::task::spawn_blocking(move || {
        let alarms = ctx.read(&reader, |views| views.alarms(&AlarmFilter::default()));
        let board = render_board(&ctx, &alarms, grouping, expanded.as_deref());
        (ctx, board)
    })
    .await
    .map_err(|err| {
        Problem::from(crate::http::error::ApiError::Internal(format!(
            "board: {err}"
        )))
    })?;
    if query.fragment.as_deref() == Some("board") {
        return Ok(Html(board.into_string()).into_response());
    }
    let mut fragment = vec![
        ("fragment", "board".to_owned()),
        ("group", grouping.as_str().to_owned()),
    ];
    if let Some(key) = &expand {
        fragment.push(("expand", key.clone()));
    }
    let fragment = format!(
        "/?{}",
        serde_urlencoded::to_string(&fragment).unwrap_or_default()
    );
    let body = html! {
        div.toolbar {
            span { "Group by " }
            a href=(ctx.href("/", &[])) aria-current=[(grouping == Grouping::Resource).then_some("true")] { "resource" }
            " · "
            a href=(ctx.href("/", &[("group", "service".into())])) aria-current=[(grouping == Grouping::Service).then_some("true")] { "service" }
            @if expand.is_some() {
                " · " a href=(ctx.href("/", &[("group", grouping.as_str().into())])) { "every group" }
            }
            @if !ctx.in_past() {
                span #live .live data-state="connecting" aria-live="polite" { "connecting…" }
            }
        }
        @if ctx.can(Role::Writer) {
            // One form for every Ack and Resolve button (each names its own action).
            form #board-act method="post" action="/" hidden {
                (csrf_field(&ctx.viewer))
                input type="hidden" name="back" value=(ctx.href("/", &[("group", grouping.as_str().into())]));
            }
        }
        div #board data-live=[(!ctx.in_past()).then_some("/console/live")] data-fragment=(fragment)
            data-position=(ctx.head) {
            (board)
        }
    };
    Ok(ctx.render("Active alarms", body))
}

fn render_board(ctx: &Ctx, alarms: &Alarms, grouping: Grouping, expand: Option<&str>) -> Markup {
    let mut groups = regroup(alarms, grouping);
    if let Some(key) = expand {
        groups.retain(|g| g.key == key);
        for group in &mut groups {
            group.shown = group.items.len().min(ROWS_EXPANDED);
        }
    }
    let mut totals: BTreeMap<Severity, u64> = Severity::ALL.into_iter().map(|s| (s, 0)).collect();
    for group in &alarms.groups {
        for (severity, count) in &group.counts {
            *totals.entry(*severity).or_default() += count;
        }
    }
    let writer = ctx.can(Role::Writer);
    html! {
        p.summary #board-summary {
            strong #open-count { (alarms.total) } " open · "
            (alarms.unacknowledged) " unacknowledged · " (alarms.acknowledged) " acknowledged · "
            @for (severity, count) in &totals {
                (badge(severity.as_str())) " " (count) " "
            }
        }
        @if groups.is_empty() {
            p.empty { @if expand.is_some() { "No active alarm in this group." } @else { "No active alarms." } }
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
                            @for item in group.items.iter().take(group.shown) {
                                (alarm_row(ctx, item, writer))
                            }
                        }
                    }
                }
                @if group.items.len() > group.shown {
                    p.more {
                        a href=(ctx.href("/", &[("group", grouping.as_str().into()), ("expand", group.key.clone())])) {
                            "All " (group.items.len()) " alarms of this group"
                        }
                    }
                }
            }
        }
    }
}

fn alarm_row(ctx: &Ctx, item: &AlarmItem, writer: bool) -> Markup {
    let id = item.id.to_string();
    html! {
        tr data-alert=(id) {
            td { (badge(item.severity.as_str())) }
            td { a href=(ctx.href(&format!("/alerts/{id}"), &[])) { (item.summary) } }
            td { (badge(item.status.as_str())) }
            td { (time(item.since)) }
            td.row-actions {
                @if writer {
                    @if item.status.as_str() == "triggered" {
                        button type="submit" form="board-act" class="act act-acknowledge"
                            formaction=(format!("/alerts/{id}/acknowledge")) { "Ack" }
                    }
                    button type="submit" form="board-act" class="act act-resolve"
                        formaction=(format!("/alerts/{id}/resolve")) { "Resolve" }
                }
            }
        }
    }
}

/// One group on the board.
struct BoardGroup {
    /// The resource (`(none)` for none) or the service.
    key: String,
    label: String,
    counts: BTreeMap<Severity, u64>,
    unacknowledged: u64,
    items: Vec<AlarmItem>,
    /// How many of `items` the board lists.
    shown: usize,
}

/// The (resource, service) groups of the view merged by resource or by service, the
/// most urgent first (the worst severity, then the most unacknowledged), each group's
/// alarms by severity then newest first, with how many each lists.
fn regroup(alarms: &Alarms, grouping: Grouping) -> Vec<BoardGroup> {
    let mut merged: BTreeMap<String, BoardGroup> = BTreeMap::new();
    for group in &alarms.groups {
        let (key, label) = key_of(group, grouping);
        let entry = merged.entry(key.clone()).or_insert_with(|| BoardGroup {
            key,
            label,
            counts: BTreeMap::new(),
            unacknowledged: 0,
            items: Vec::new(),
            shown: 0,
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
    groups.sort_by(|a, b| {
        let worst = |g: &BoardGroup| g.items.first().map(|i| i.severity);
        worst(a)
            .cmp(&worst(b))
            .then(b.unacknowledged.cmp(&a.unacknowledged))
            .then(a.label.cmp(&b.label))
    });
    let mut budget = ROWS_ON_BOARD;
    for group in &mut groups {
        let more = group
            .items
            .len()
            .min(ROWS_PER_GROUP)
            .saturating_sub(ROWS_EVERY_GROUP);
        let extra = more.min(budget);
        budget -= extra;
        group.shown = group.items.len().min(ROWS_EVERY_GROUP) + extra;
    }
    groups
}

fn key_of(group: &AlarmGroup, grouping: Grouping) -> (String, String) {
    match (grouping, &group.resource) {
        (Grouping::Service, _) => (
            group.service.to_string(),
            format!("Service {}", group.service),
        ),
        (Grouping::Resource, Some(resource)) => {
            (resource.to_string(), format!("Resource {resource}"))
        }
        (Grouping::Resource, None) => (NO_RESOURCE.into(), "No resource".into()),
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
