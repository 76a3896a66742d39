//! The console's writes: an alert's acknowledge, resolve, escalate and note, and
//! signing in and out. Each is an HTML form POST (it works without the script) that
//! passes [`Viewer::check_write`], calls the same application core as the API with the
//! viewer as the event's actor (`source: console`), waits until the views show the
//! write, and sends the browser back to the page it came from.

use super::page::{csrf_field, head, problem_page, Ctx, Problem};
use super::session::{self, Viewer};
use crate::app::App;
use crate::http::auth::Role;
use crate::http::HttpState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use projections::ids::AlertId;
use projections::ResolvedBy;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// A small form that POSTs `action` on alert `id` and comes back to `back`.
pub fn action_button(ctx: &Ctx, id: &str, action: &str, label: &str, back: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("/alerts/{id}/{action}")) {
            (csrf_field(&ctx.viewer))
            input type="hidden" name="back" value=(back);
            button type="submit" class=(format!("act act-{action}")) { (label) }
        }
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form<T: DeserializeOwned>(body: &Bytes) -> Result<T, Problem> {
    serde_urlencoded::from_bytes(body).map_err(|err| Problem::field("form", err))
}

/// Where to go after a write or a sign-in: a path on this server, else `default`.
/// Browsers read `/\host` and `/<tab>/host` as `//host` (another site), so a path with a
/// backslash or a control character anywhere is refused, as is `//`.
pub fn back_to(back: Option<&str>, default: &str) -> String {
    match back {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.chars().any(|c| c == '\\' || c.is_control()) =>
        {
            path.to_owned()
        }
        _ => default.to_owned(),
    }
}

/// The fields of an alert action's form.
#[derive(Debug, Deserialize)]
pub struct AlertActionForm {
    csrf: Option<String>,
    back: Option<String>,
    /// The note's text (`notes` only).
    text: Option<String>,
}

/// `POST /alerts/{id}/{action}`: `acknowledge`, `resolve`, `escalate` or `notes`.
pub async fn alert_action(
    viewer: Viewer,
    State(state): State<HttpState>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields: AlertActionForm = form(&body)?;
    viewer.check_write(&headers, fields.csrf.as_deref(), Role::Writer)?;
    let alert_id = AlertId::parse(&id).map_err(|_| Problem::not_found(format!("no alert {id}")))?;
    let metadata = App::metadata(&viewer.principal.name, "console");
    let app = &state.app;
    let written = match action.as_str() {
        "acknowledge" => app.acknowledge(alert_id, metadata).await?,
        "resolve" => app.resolve(alert_id, ResolvedBy::Person, metadata).await?,
        "escalate" => app.escalate(alert_id, metadata).await?,
        "notes" => {
            let text = fields.text.as_deref().unwrap_or_default();
            app.add_note(alert_id, text, metadata).await?
        }
        other => return Err(Problem::not_found(format!("no alert action {other}"))),
    };
    app.wait_for(written.position).await?;
    let back = back_to(fields.back.as_deref(), &format!("/alerts/{alert_id}"));
    Ok(Redirect::to(&back).into_response())
}

/// The sign-in query and form.
#[derive(Debug, Default, Deserialize)]
pub struct SignIn {
    /// Where to go once signed in.
    next: Option<String>,
    /// The token (form only; never echoed, stored or logged).
    token: Option<String>,
}

/// `GET /login`: the sign-in form (a page that says so when auth is off).
pub async fn login_page(
    State(state): State<HttpState>,
    axum::extract::Query(query): axum::extract::Query<SignIn>,
) -> Response {
    sign_in_page(&state, query.next.as_deref(), None, StatusCode::OK)
}

/// `POST /login`: checks the token against the configured ones, starts a session and
/// sets its cookie; a wrong token gets the form again with a 401.
pub async fn login(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let fields: SignIn = match form(&body) {
        Ok(fields) => fields,
        Err(problem) => return problem.into_response(),
    };
    if state.tokens.is_empty() {
        return Redirect::to("/").into_response();
    }
    if !session::same_origin(&headers) {
        return Problem::forbidden(
            "this form did not come from this server's pages (Origin check)",
        )
        .into_response();
    }
    let token = fields.token.unwrap_or_default();
    match state.tokens.authorize_token(token.trim(), Role::Reader) {
        Ok(principal) => {
            tracing::info!(actor = %principal.name, "console sign-in");
            let id = state.console.start(principal);
            let next = back_to(fields.next.as_deref(), "/");
            let mut response = Redirect::to(&next).into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::set_cookie(&id));
            response
        }
        Err(_) => sign_in_page(
            &state,
            fields.next.as_deref(),
            Some("That token is not accepted."),
            StatusCode::UNAUTHORIZED,
        ),
    }
}

/// The fields of the sign-out form.
#[derive(Debug, Deserialize)]
pub struct SignOut {
    csrf: Option<String>,
}

/// `POST /logout`: ends the session and clears its cookie.
pub async fn logout(
    viewer: Viewer,
    State(state): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields: SignOut = form(&body)?;
    viewer.check_write(&headers, fields.csrf.as_deref(), Role::Reader)?;
    if let Some(id) = &viewer.session {
        state.console.end(id);
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    Ok(response)
}

fn sign_in_page(
    state: &HttpState,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    if state.tokens.is_empty() {
        return problem_page(
            StatusCode::NOT_FOUND,
            "No sign-in here",
            "this ledger has no tokens configured: the console is open on loopback",
        );
    }
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body {
                main #main .signin {
                    h1 { "Sign in to alert-ledger" }
                    @if let Some(error) = error { p.problem role="alert" { (error) } }
                    form method="post" action="/login" {
                        input type="hidden" name="next" value=(back_to(next, "/"));
                        label for="token" { "API token" }
                        input #token name="token" type="password" autocomplete="current-password" required autofocus;
                        button type="submit" { "Sign in" }
                    }
                    p.hint { "Any token from the ledger's tokens file. A reader sees the console; a writer can also acknowledge, resolve and add notes; an admin can also verify and rebuild. The token is not kept: the browser gets a session cookie." }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

#[cfg(test)]
mod tests {
    use super::back_to;

    #[test]
    fn only_a_path_on_this_server_is_followed() {
        assert_eq!(back_to(Some("/alerts?q=x"), "/"), "/alerts?q=x");
        for elsewhere in [
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/ok\n",
            "https://evil.example/",
            "evil",
            "",
        ] {
            assert_eq!(back_to(Some(elsewhere), "/"), "/", "{elsewhere:?}");
        }
        assert_eq!(back_to(None, "/x"), "/x");
    }
}
