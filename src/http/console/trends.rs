//! Trends (`/trends`): per service per day, alerts opened, MTTA (mean time to the first
//! acknowledgement) and MTTR (mean time to resolution) of the alerts that opened that
//! day, drawn on the server as SVG (bars: alerts; lines: MTTA and MTTR) beside the
//! table of the same figures.

use super::page::{duration, Ctx, Problem};
use super::session::Viewer;
use crate::http::HttpState;
use crate::projection::stats::DayTrend;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Duration, NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Days shown by default, and at most.
const DEFAULT_DAYS: i64 = 14;
const MOST_DAYS: i64 = 90;

/// Services drawn as charts (the busiest); the table lists every one.
const CHARTS: usize = 6;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct TrendsQuery {
    days: Option<String>,
    service: Option<String>,
    as_of: Option<String>,
}

/// `GET /trends`.
pub async fn page(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<TrendsQuery>,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/trends", query.as_of).await?;
    let days = match query.days.as_deref().filter(|d| !d.is_empty()) {
        None => DEFAULT_DAYS,
        Some(d) => d
            .parse::<i64>()
            .ok()
            .filter(|d| (1..=MOST_DAYS).contains(d))
            .ok_or_else(|| Problem::field("days", format!("must be 1 to {MOST_DAYS}")))?,
    };
    let end = ctx.at_time.unwrap_or_else(Utc::now).date_naive();
    let first_day = end - Duration::days(days - 1);
    let since = first_day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let service = query.service.filter(|s| !s.trim().is_empty());
    let rows: Vec<DayTrend> = ctx
        .read(&state, |views| views.trends(since))
        .into_iter()
        .filter(|r| service.as_deref().is_none_or(|s| r.service == s))
        .collect();
    let mut by_service: BTreeMap<&str, Vec<&DayTrend>> = BTreeMap::new();
    for row in &rows {
        by_service.entry(&row.service).or_default().push(row);
    }
    let mut busiest: Vec<(&str, u64)> = by_service
        .iter()
        .map(|(s, rows)| (*s, rows.iter().map(|r| r.opened).sum()))
        .collect();
    busiest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let day_list: Vec<NaiveDate> = (0..days).map(|i| first_day + Duration::days(i)).collect();
    let body = html! {
        form.filters method="get" action="/trends" {
            @if let Some(at) = ctx.at { input type="hidden" name="as_of" value=(at); }
            label { "days " input name="days" type="number" min="1" max=(MOST_DAYS) value=(days); }
            label { "service " input name="service" type="text" size="14" value=(service.clone().unwrap_or_default()); }
            button type="submit" { "Show" }
        }
        p.hint { "Alerts that opened each day (UTC), " (first_day) " to " (end)
            ", and of those the mean time to the first acknowledgement (MTTA) and to resolution (MTTR)." }
        @if rows.is_empty() { p.empty { "No alert opened in this period." } }
        div.trends {
            div.charts {
                @for (name, _) in busiest.iter().take(CHARTS) {
                    figure.chart {
                        (chart(name, &day_list, &by_service[name]))
                        figcaption { "Service " (name) }
                    }
                }
            }
            div.scroll {
                table #trends-table {
                    thead { tr { th { "Day" } th { "Service" } th { "Alerts" } th { "Acknowledged" } th { "MTTA" } th { "Resolved" } th { "MTTR" } } }
                    tbody {
                        @for row in rows.iter().rev() {
                            tr {
                                td { (row.day) } td { (row.service) } td { (row.opened) }
                                td { (row.acknowledged) } td { (opt_duration(row.mtta_secs)) }
                                td { (row.resolved) } td { (opt_duration(row.mttr_secs)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(ctx.render("Trends", body))
}

fn opt_duration(secs: Option<f64>) -> String {
    secs.map_or_else(|| "–".into(), duration)
}

/// One service's chart: a bar per day (alerts opened, left axis) and two lines (MTTA
/// and MTTR in minutes, right axis).
fn chart(service: &str, days: &[NaiveDate], rows: &[&DayTrend]) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 50.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 30.0;
    let by_day: BTreeMap<String, &DayTrend> = rows.iter().map(|r| (r.day.clone(), *r)).collect();
    let day_of = |d: &NaiveDate| by_day.get(&d.format("%Y-%m-%d").to_string()).copied();
    let most_alerts = rows.iter().map(|r| r.opened).max().unwrap_or(1).max(1) as f64;
    let minutes = |s: Option<f64>| s.map(|s| s / 60.0);
    let most_minutes = rows
        .iter()
        .flat_map(|r| [minutes(r.mtta_secs), minutes(r.mttr_secs)])
        .flatten()
        .fold(1.0_f64, f64::max);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let step = plot_w / days.len().max(1) as f64;
    let x = |i: usize| LEFT + step * i as f64 + step / 2.0;
    let y_alerts = |n: f64| TOP + plot_h - plot_h * n / most_alerts;
    let y_minutes = |m: f64| TOP + plot_h - plot_h * m / most_minutes;
    let points = |pick: &dyn Fn(&DayTrend) -> Option<f64>| -> Vec<(f64, f64)> {
        days.iter()
            .enumerate()
            .filter_map(|(i, d)| {
                day_of(d)
                    .and_then(pick)
                    .map(|secs| (x(i), y_minutes(secs / 60.0)))
            })
            .collect()
    };
    let polyline = |points: &[(f64, f64)]| {
        points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mtta = points(&|r| r.mtta_secs);
    let mttr = points(&|r| r.mttr_secs);
    let label = format!("Alerts per day, MTTA and MTTR of service {service}");
    html! {
        svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(label) class="chart" {
            title { (label) }
            line x1=(LEFT) y1=(TOP + plot_h) x2=(W - RIGHT) y2=(TOP + plot_h) class="axis" {}
            text x="4" y=(TOP + 4.0) class="tick" { (most_alerts as u64) }
            text x="4" y=(TOP + plot_h) class="tick" { "0" }
            text x=(W - RIGHT + 4.0) y=(TOP + 4.0) class="tick" { (format!("{most_minutes:.0} min")) }
            @for (i, d) in days.iter().enumerate() {
                @if let Some(r) = day_of(d) {
                    @let top = y_alerts(r.opened as f64);
                    rect x=(format!("{:.1}", x(i) - step * 0.35)) y=(format!("{top:.1}"))
                        width=(format!("{:.1}", step * 0.7)) height=(format!("{:.1}", TOP + plot_h - top)) class="bar" {
                        title { (r.day) ": " (r.opened) " alerts" }
                    }
                }
                @if i % (days.len() / 7).max(1) == 0 {
                    text x=(format!("{:.1}", x(i))) y=(H - 10.0) class="tick" text-anchor="middle" { (d.format("%m-%d")) }
                }
            }
            polyline points=(polyline(&mtta)) class="mtta" {}
            polyline points=(polyline(&mttr)) class="mttr" {}
            @for (px, py) in &mtta { circle cx=(format!("{px:.1}")) cy=(format!("{py:.1}")) r="3" class="dot-mtta" {} }
            @for (px, py) in &mttr { circle cx=(format!("{px:.1}")) cy=(format!("{py:.1}")) r="3" class="dot-mttr" {} }
            g.legend {
                rect x=(LEFT) y="2" width="10" height="8" class="bar" {}
                text x=(LEFT + 14.0) y="10" class="tick" { "alerts" }
                line x1=(LEFT + 70.0) y1="6" x2=(LEFT + 84.0) y2="6" class="mtta" {}
                text x=(LEFT + 88.0) y="10" class="tick" { "MTTA" }
                line x1=(LEFT + 130.0) y1="6" x2=(LEFT + 144.0) y2="6" class="mttr" {}
                text x=(LEFT + 148.0) y="10" class="tick" { "MTTR (right axis, minutes)" }
            }
        }
    }
}
