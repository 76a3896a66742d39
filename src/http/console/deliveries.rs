//! Deliveries (`/deliveries`): every channel's health (messages per state, success rate
//! over finished messages, the newest error), and the messages pending, retrying,
//! abandoned (or claimed, delivered) with their attempts and errors.

use super::alert::snake;
use super::page::{badge, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::HttpState;
use crate::projection::queries::MessageFilter;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use projections::views::DeliveryState;
use projections::Position;
use serde::Deserialize;

/// Messages per page.
const PAGE: usize = 50;

/// The tabs: state and label.
const TABS: [(DeliveryState, &str); 5] = [
    (DeliveryState::Pending, "Pending"),
    (DeliveryState::FailedWillRetry, "Retrying"),
    (DeliveryState::Abandoned, "Abandoned"),
    (DeliveryState::Claimed, "Being delivered"),
    (DeliveryState::Delivered, "Delivered"),
];

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct DeliveriesQuery {
    state: Option<String>,
    cursor: Option<String>,
    as_of: Option<String>,
}

/// `GET /deliveries`.
pub async fn page(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/deliveries", query.as_of).await?;
    let shown = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => DeliveryState::Pending,
        Some(s) => DeliveryState::parse(s)
            .ok_or_else(|| Problem::field("state", format!("no delivery state {s}")))?,
    };
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => Some(
            c.parse::<Position>()
                .map_err(|_| Problem::field("cursor", "must be a log position"))?,
        ),
    };
    let filter = MessageFilter {
        state: Some(shown),
        ..MessageFilter::default()
    };
    let (health, page) = ctx.read(&state, |views| {
        (
            views.channel_health(),
            views.messages(&filter, cursor, PAGE),
        )
    });
    let total = |s: DeliveryState| health.iter().map(|h| h.count(s)).sum::<u64>();
    let body = html! {
        section aria-labelledby="channels-h" {
            h2 #channels-h { "Channels" }
            @if health.is_empty() { p.empty { "No message has been queued yet." } }
            @else {
                div.scroll {
                    table #channel-health {
                        thead { tr { th { "Channel" } th { "Success rate" } th { "Delivered" } th { "Pending" } th { "Retrying" } th { "Abandoned" } th { "Last error" } } }
                        tbody {
                            @for h in &health {
                                tr data-channel=(h.channel) {
                                    td { (h.channel) }
                                    td { @match h.success_rate() { Some(rate) => { (format!("{:.1} %", rate * 100.0)) }, None => { "–" } } }
                                    td { (h.delivered()) }
                                    td { (h.count(DeliveryState::Pending) + h.count(DeliveryState::Claimed)) }
                                    td { (h.count(DeliveryState::FailedWillRetry)) }
                                    td { (h.count(DeliveryState::Abandoned)) }
                                    td { @if let Some((error, at)) = &h.last_error { span.error { (error) } " (" (time(*at)) ")" } }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="messages-h" {
            h2 #messages-h { "Messages" }
            nav.tabs aria-label="Delivery state" {
                @for (s, label) in TABS {
                    a href=(ctx.href("/deliveries", &[("state", s.as_str().into())]))
                        aria-current=[(s == shown).then_some("true")] { (label) " (" (total(s)) ")" }
                }
            }
            (messages(&ctx, &page.items))
            @if let Some(next) = &page.next_cursor {
                nav.pager aria-label="Pages" {
                    a href=(ctx.href("/deliveries", &[("state", shown.as_str().into()), ("cursor", next.clone())])) { "More →" }
                }
            }
        }
    };
    Ok(ctx.render("Deliveries", body))
}

fn messages(ctx: &Ctx, items: &[projections::views::MessageView]) -> Markup {
    html! {
        @if items.is_empty() { p.empty { "None." } }
        @else {
            div.scroll {
                table #messages {
                    thead { tr { th { "Queued" } th { "Alert" } th { "What" } th { "Channel" } th { "State" } th { "Attempts" } th { "Next attempt" } th { "Last error or receipt" } } }
                    tbody {
                        @for m in items {
                            tr data-message=(m.id) {
                                td { (time(m.queued_at)) }
                                td { a href=(ctx.href(&format!("/alerts/{}", m.alert_id), &[])) { "alert" } }
                                td { (snake(&m.kind, "")) }
                                td { (m.channel) }
                                td { (badge(m.state.as_str())) }
                                td { (m.attempts) }
                                td { @if let Some(t) = m.next_attempt_at { (time(t)) } }
                                td {
                                    @if let Some(r) = m.receipt.as_ref().filter(|_| m.state == DeliveryState::Delivered) { (r) }
                                    @else if let Some(e) = &m.last_error { span.error { (e) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
