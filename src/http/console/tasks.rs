//! Self-healing tasks (`/tasks`): each task with its per-host state, exit code and the
//! tail of its output; unfinished ones first by default, or every task.

use super::page::{badge, time, Ctx, Problem};
use super::session::Viewer;
use crate::http::HttpState;
use crate::projection::queries::TaskFilter;
use axum::extract::{Query, State};
use axum::response::Response;
use maud::{html, Markup};
use projections::ids::TaskId;
use projections::views::TaskView;
use serde::Deserialize;

/// Tasks per page.
const PAGE: usize = 50;

/// The page's query.
#[derive(Debug, Default, Deserialize)]
pub struct TasksQuery {
    /// `all` lists finished tasks too.
    show: Option<String>,
    cursor: Option<String>,
    as_of: Option<String>,
}

/// `GET /tasks`.
pub async fn list(
    viewer: Viewer,
    State(state): State<HttpState>,
    Query(query): Query<TasksQuery>,
) -> Result<Response, Problem> {
    let ctx = Ctx::new(&state, viewer, "/tasks", query.as_of).await?;
    let all = query.show.as_deref() == Some("all");
    let cursor = match query.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            Some(TaskId::parse(c).map_err(|_| Problem::field("cursor", "must be a task id"))?)
        }
    };
    let filter = TaskFilter {
        pending: !all,
        ..TaskFilter::default()
    };
    let page = ctx.read(&state, |views| views.tasks(&filter, cursor, PAGE));
    let show = if all { "all" } else { "" }.to_owned();
    let body = html! {
        p.toolbar {
            a href=(ctx.href("/tasks", &[])) aria-current=[(!all).then_some("true")] { "Unfinished" }
            " · "
            a href=(ctx.href("/tasks", &[("show", "all".into())])) aria-current=[all.then_some("true")] { "All" }
        }
        @if page.items.is_empty() {
            p.empty { @if all { "No task yet." } @else { "No unfinished task." } }
        }
        @for task in &page.items { (task_card(&ctx, task)) }
        @if let Some(next) = &page.next_cursor {
            nav.pager aria-label="Pages" {
                a href=(ctx.href("/tasks", &[("show", show), ("cursor", next.clone())])) { "More →" }
            }
        }
    };
    Ok(ctx.render("Tasks", body))
}

/// One task: what runs, for which alert, and each host's run.
pub fn task_card(ctx: &Ctx, task: &TaskView) -> Markup {
    html! {
        article.task data-task=(task.id) {
            h3 { code { (task.spec.script) } @for arg in &task.spec.args { " " code { (arg) } } }
            p.meta {
                "Task " code { (task.id) } " · created " (time(task.created_at))
                " · timeout " (task.spec.timeout_secs) " s"
                @if let Some(alert) = task.alert_id {
                    " · for " a href=(ctx.href(&format!("/alerts/{alert}"), &[])) { "alert " (alert) }
                }
                @if let Some(reason) = &task.cancel_reason { " · cancelled: " (reason) }
            }
            div.scroll {
                table.hosts {
                    thead { tr { th { "Host" } th { "State" } th { "Exit code" } th { "Started" } th { "Finished" } th { "Output (tail)" } } }
                    tbody {
                        @for (host, run) in &task.hosts {
                            @let state = super::alert::snake(&run.state, "");
                            tr {
                                td { (host) }
                                td { (badge(&state.replace(' ', "_"))) }
                                td { @if let Some(code) = run.exit_code { (code) } }
                                td { @if let Some(t) = run.started_at { (time(t)) } }
                                td { @if let Some(t) = run.finished_at { (time(t)) } }
                                td { @if let Some(out) = &run.output_tail { pre.tail { (out) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}
