//! The ledger (`/ledger`): the head's position and hash, the digest to download, one
//! event by position (its raw JSON and chain hashes), the projections' status and lag,
//! and for an admin: verify the chain, start an online rebuild and follow it.

use super::actions::form;
use super::alert::snake;
use super::page::{csrf_field, short_hash, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::admin::{projection_status, run_verify, ProjectionsStatus, VerifyOutcome};
use crate::http::auth::Role;
use crate::http::error::ApiError;
use crate::http::HttpState;
use crate::projection::rebuild::{self, ProjectionName, RebuildState, RebuildStatus};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup};
use projections::{Position, RecordedEvent};
use serde::Deserialize;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct LedgerQuery {
    /// Show the event at this position.
    position: Option<String>,
    /// `rebuild`: only the rebuild's progress (the script polls it while one runs).
    fragment: Option<String>,
    as_of: Option<String>,
}

/// `GET /ledger`.
pub async fn page(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<LedgerQuery>,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/ledger", query.as_of.clone()).await?;
    let admin = ctx.viewer.may(Role::Admin);
    if query.fragment.as_deref() == Some("rebuild") {
        // Polled every second while a rebuild runs: its progress alone.
        let rebuild = admin.then(|| state.app.views.rebuild.status()).flatten();
        let html = rebuild_progress(&ctx, rebuild.as_ref()).into_string();
        return Ok(Html(html).into_response());
    }
    let status = if admin {
        Some(projection_status(&state).await?)
    } else {
        None
    };
    let event = match query.position.as_deref().filter(|p| !p.is_empty()) {
        None => None,
        Some(raw) => Some(event_at(&state, &ctx, raw).await?),
    };
    Ok(render(&ctx, status.as_ref(), event.as_ref(), None))
}

fn render(
    ctx: &Ctx,
    status: Option<&ProjectionsStatus>,
    event: Option<&RecordedEvent>,
    verified: Option<&VerifyOutcome>,
) -> Response {
    let (position, hash) = (ctx.shown.position, ctx.shown.hash.to_hex());
    let body = html! {
        section aria-labelledby="head-h" {
            h2 #head-h { "Head" }
            dl.facts {
                dt { "Position" } dd #head-position { (position) }
                dt { "Chain hash" } dd #head-hash { code { (hash) } }
                @if !ctx.in_past() {
                    dt { "Digest" } dd { a #digest-link href="/ledger/digest.json" download { "Download the signed digest (JSON)" } }
                }
            }
            form.lookup method="get" action="/ledger" {
                @if let Some(at) = ctx.at { input type="hidden" name="as_of" value=(at); }
                label for="position" { "Show the event at position " }
                input #position name="position" type="number" min="1" max=(position);
                button type="submit" { "Show" }
            }
        }
        @if let Some(event) = event { (event_section(event)) }
        @if let Some(outcome) = verified { (verify_section(outcome)) }
        @if let Some(status) = status {
            (status_section(ctx, status))
        } @else {
            p.hint { "Projection status, verification and rebuilds are for admins." }
        }
    };
    ctx.render("Ledger", body)
}

async fn event_at(state: &HttpState, ctx: &Ctx, raw: &str) -> Result<RecordedEvent, Problem> {
    let position: Position = raw
        .parse()
        .map_err(|_| Problem::field("position", "must be a log position"))?;
    let limit = ctx.at.unwrap_or(ctx.head);
    if position == 0 || position > limit {
        return Err(Problem::field(
            "position",
            format!("must be between 1 and {limit}"),
        ));
    }
    let found = state
        .app
        .store
        .read_all(position, 1)
        .await
        .map_err(ApiError::from)?;
    found
        .into_iter()
        .find(|e| e.position == position)
        .ok_or_else(|| Problem::not_found(format!("no event at position {position}")))
}

fn event_section(event: &RecordedEvent) -> Markup {
    html! {
        section #event aria-labelledby="event-h" {
            h2 #event-h { "Event at position " (event.position) }
            dl.facts {
                dt { "Type" } dd { (event.event.event_type()) }
                dt { "Stream" } dd { code { (event.stream) } " version " (event.stream_version) }
                dt { "Recorded" } dd { (time(event.recorded_at)) }
                dt { "Hash" } dd { code { (event.hash.to_hex()) } }
                dt { "Previous hash" } dd { code { (event.prev_hash.to_hex()) } }
            }
            pre.raw { (serde_json::to_string_pretty(event).unwrap_or_default()) }
        }
    }
}

fn verify_section(outcome: &VerifyOutcome) -> Markup {
    html! {
        section #verify-result aria-labelledby="verify-h" {
            h2 #verify-h { "Verification" }
            @if outcome.ok {
                p.ok role="status" { "The chain is intact: " (outcome.events_checked) " events checked up to position "
                    (outcome.verified_to.position) " (" (short_hash(&outcome.verified_to.hash.to_hex())) ")." }
            } @else {
                p.problem role="alert" { "The chain is broken"
                    @if let Some(f) = &outcome.failure {
                        @if let Some(p) = f.position { " at position " (p) }
                        ": " (f.reason)
                    } }
            }
        }
    }
}

fn status_section(ctx: &Ctx, status: &ProjectionsStatus) -> Markup {
    html! {
        section aria-labelledby="proj-h" {
            h2 #proj-h { "Projections (now)" }
            dl.facts #projection-status {
                dt { "Views at" } dd { (status.position) }
                dt { "Log head" } dd { (status.head) }
                dt { "Lag" } dd #lag { (status.lag) " events" }
                dt { "Following" } dd { (if status.following { "yes" } else { "no" }) }
                dt { "Fold errors" } dd { (status.fold_errors) }
                dt { "View file" } dd { code { (status.view_file.path) } }
            }
            div.scroll {
                table {
                    thead { tr { th { "View" } th { "Rows" } } }
                    tbody { @for p in &status.projections { tr { td { (p.name.as_str()) } td { (p.rows) } } } }
                }
            }
            @if !status.consumers.is_empty() {
                h3 { "Consumer groups" }
                div.scroll { table {
                    thead { tr { th { "Group" } th { "Checkpoint" } th { "Lag" } } }
                    tbody { @for c in &status.consumers { tr { td { (c.name) } td { (c.checkpoint) } td { (c.lag) } } } }
                } }
            }
            (rebuild_progress(ctx, status.rebuild.as_ref()))
            @if ctx.can(Role::Admin) {
                div.actions {
                    form.inline method="post" action="/ledger/verify" {
                        (csrf_field(&ctx.viewer))
                        button #verify type="submit" { "Verify the chain" }
                    }
                    form.inline method="post" action="/ledger/rebuild" {
                        (csrf_field(&ctx.viewer))
                        label for="projection" { "Rebuild " }
                        select #projection name="projection" {
                            option value="all" { "all" }
                            @for name in ProjectionName::EACH { option value=(name.as_str()) { (name.as_str()) } }
                        }
                        button #rebuild-start type="submit" { "Start online rebuild" }
                    }
                }
            }
        }
    }
}

fn rebuild_progress(ctx: &Ctx, rebuild: Option<&RebuildStatus>) -> Markup {
    let running = rebuild.is_some_and(|r| r.state == RebuildState::Running);
    html! {
        div #rebuild data-poll=[(running && !ctx.in_past()).then_some("/ledger?fragment=rebuild")] {
            @if let Some(r) = rebuild {
                p {
                    "Rebuild of " (r.projection.as_str()) ": " strong #rebuild-state { (snake(&r.state, "")) }
                    " · " (r.position) " of " (r.target)
                    " · " (format!("{:.0}", r.events_per_sec)) " events/s"
                    " · started " (time(r.started_at))
                    @if let Some(done) = r.finished_at { " · ended " (time(done)) }
                    @if let Some(error) = &r.error { " · " span.error { (error) } }
                }
            }
        }
    }
}

/// The verify and rebuild forms.
#[derive(Debug, Deserialize)]
pub struct AdminForm {
    csrf: Option<String>,
    projection: Option<String>,
}

/// `POST /ledger/verify` (admin): walks the chain and shows the ledger page with the
/// outcome.
pub async fn verify(
    viewer: Viewer,
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields: AdminForm = form(&body)?;
    viewer.check_write(&headers, fields.csrf.as_deref(), Role::Admin)?;
    let outcome = run_verify(&state, None).await?;
    let ctx = Ctx::new(&state, viewer, "/ledger", None).await?;
    let status = projection_status(&state).await?;
    Ok(render(&ctx, Some(&status), None, Some(&outcome)))
}

/// `POST /ledger/rebuild` (admin): starts an online rebuild and goes back to the
/// ledger page, which follows its progress.
pub async fn start_rebuild(
    viewer: Viewer,
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields: AdminForm = form(&body)?;
    viewer.check_write(&headers, fields.csrf.as_deref(), Role::Admin)?;
    let name = fields.projection.unwrap_or_else(|| "all".into());
    let projection = ProjectionName::parse(&name)
        .ok_or_else(|| Problem::field("projection", format!("no projection {name}")))?;
    match rebuild::start(state.app.store.clone(), state.app.views.clone(), projection) {
        Ok(_) => {
            tracing::info!(actor = %viewer.principal.name, projection = projection.as_str(), "online rebuild started from the console");
            Ok(Redirect::to("/ledger#rebuild").into_response())
        }
        Err(_running) => Err(ApiError::RebuildRunning.into()),
    }
}

/// `GET /ledger/digest.json`: the current digest as a file to keep.
pub async fn digest(_viewer: Viewer, State(state): State<HttpState>) -> Result<Response, Problem> {
    let digest = crate::http::proofs::current_digest(&state).await?;
    let name = format!(
        "attachment; filename=\"ledger-digest-{}.json\"",
        digest.position
    );
    let body = serde_json::to_string_pretty(&digest).unwrap_or_default();
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    )
        .into_response())
}
