//! The web console over HTTP, as a browser would see it (the real-browser scenarios
//! are in tests/browser/, run by `.ci/browser`): sign-in with a session cookie that is
//! `HttpOnly` and `SameSite=Strict`, roles (a reader gets no write button and a 403 on
//! a forged POST), CSRF and Origin checks, writes recorded with the viewer as actor,
//! time travel, export, error pages, and the live feed.

use crate::helpers::{
    spawn_app, spawn_app_with_tokens, trigger_body, TestApp, ADMIN_TOKEN, READER_TOKEN,
    WRITER_TOKEN,
};
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use std::time::Duration;

/// A browser without a cookie jar of its own: redirects are not followed, so each
/// test sees them.
struct Browser {
    client: reqwest::Client,
    address: String,
    cookie: Option<String>,
}

/// A page as the browser got it.
struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    content_type: String,
    html: String,
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            address: app.address.clone(),
            cookie: None,
        }
    }

    async fn read(response: reqwest::Response) -> Page {
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
        };
        let location = header(LOCATION);
        let set_cookie = header(SET_COOKIE);
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        Page {
            status: response.status().as_u16(),
            location,
            set_cookie,
            content_type,
            html: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        let mut request = self.client.get(format!("{}{path}", self.address));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        Browser::read(request.send().await.unwrap()).await
    }

    /// A form POST from this server's own page (its Origin).
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, Some(&self.address.clone()))
            .await
    }

    async fn post_from(&self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        Browser::read(request.send().await.unwrap()).await
    }

    /// Signs in with `token`; returns the sign-in answer.
    async fn sign_in(&mut self, token: &str) -> Page {
        let page = self
            .post("/login", &[("token", token), ("next", "/")])
            .await;
        if let Some(set) = &page.set_cookie {
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        page
    }
}

/// The value of the first hidden `csrf` input on `html`.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a csrf field");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

async fn trigger(app: &TestApp, key: &str, severity: &str) -> (String, u64) {
    let reply = app.trigger(&trigger_body("checkout", key, severity)).await;
    (reply.str("alert_id"), reply.position())
}

#[tokio::test]
async fn every_page_answers_html_and_a_missing_alert_is_a_404_page() {
    let app = spawn_app().await;
    let (id, _) = trigger(&app, "disk", "critical").await;
    let browser = Browser::new(&app);
    for path in [
        "/",
        "/?group=service",
        "/alerts",
        &format!("/alerts/{id}"),
        "/deliveries",
        "/tasks?show=all",
        "/ledger",
        "/ledger?position=1",
        "/trends",
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.html);
        assert!(page.content_type.starts_with("text/html"), "{path}");
        assert!(page.html.contains("alert-ledger"), "{path} has the layout");
    }
    let missing = browser
        .get("/alerts/6c1a9c1e-3a4f-4a5e-9a1c-1d2e3f405060")
        .await;
    assert_eq!(missing.status, 404);
    assert!(missing.content_type.starts_with("text/html"));
    assert!(missing.html.contains("does not exist"), "{}", missing.html);
    let garbage = browser.get("/alerts/not-an-id").await;
    assert_eq!(garbage.status, 404);
    let bad = browser.get("/alerts?severity=loud").await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.html.contains("severity: no severity loud"),
        "{}",
        bad.html
    );
    assert!(!bad.html.contains("panicked") && !bad.html.contains("src/"));
    let beyond = browser.get("/?as_of=999999").await;
    assert_eq!(beyond.status, 422);
    assert!(beyond.html.contains("as_of"), "{}", beyond.html);
}

#[tokio::test]
async fn on_loopback_without_tokens_the_console_is_open_and_writes_as_anonymous() {
    let app = spawn_app().await;
    let (id, _) = trigger(&app, "cpu", "error").await;
    let browser = Browser::new(&app);
    let board = browser.get("/").await;
    assert!(
        board.html.contains("act-acknowledge"),
        "the anonymous admin may write"
    );
    assert!(!board.html.contains("Sign out"), "nobody signed in");
    let csrf = csrf_of(&board.html);
    let done = browser
        .post(
            &format!("/alerts/{id}/acknowledge"),
            &[("csrf", &csrf), ("back", "/")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(done.location.as_deref(), Some("/"));
    let alert = app.get_alert(&id, 0).await.expect(200);
    assert_eq!(alert.str("status"), "acknowledged");
    let events = app.all_events().await;
    let ack = events
        .iter()
        .find(|e| e["event"]["type"] == "alert_acknowledged")
        .unwrap();
    assert_eq!(ack["metadata"]["actor"], "anonymous");
    assert_eq!(ack["metadata"]["source"], "console");
}

#[tokio::test]
async fn a_session_cookie_is_http_only_and_strict_and_the_token_appears_nowhere() {
    let app = spawn_app_with_tokens().await;
    let mut browser = Browser::new(&app);
    let first = browser.get("/alerts?status=triggered").await;
    assert_eq!(
        first.status, 303,
        "a page without a session goes to sign-in"
    );
    assert_eq!(
        first.location.as_deref(),
        Some("/login?next=%2Falerts%3Fstatus%3Dtriggered")
    );
    let wrong = browser.sign_in("wrong-token-0123456789abcdef").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.set_cookie.is_none());
    let signed = browser.sign_in(WRITER_TOKEN).await;
    assert_eq!(signed.status, 303, "{}", signed.html);
    let cookie = signed.set_cookie.unwrap();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains(WRITER_TOKEN),
        "the cookie is not the token"
    );
    for path in ["/", "/alerts", "/ledger", "/deliveries"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.html.contains("ingest (writer)"),
            "{path} names the viewer"
        );
        assert!(!page.html.contains(WRITER_TOKEN), "{path} shows no token");
    }
    let forged = browser
        .post_from(
            "/login",
            &[("token", ADMIN_TOKEN)],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(
        forged.status, 403,
        "a sign-in from another origin is refused"
    );
}

#[tokio::test]
async fn a_reader_sees_no_write_button_and_a_forged_post_is_refused() {
    let app = spawn_app_with_tokens().await;
    let (id, _) = trigger(&app, "mem", "warning").await;
    let mut reader = Browser::new(&app);
    reader.sign_in(READER_TOKEN).await;
    let board = reader.get("/").await;
    assert!(
        board.html.contains("data-alert"),
        "the reader sees the alarm"
    );
    assert!(!board.html.contains("act-"), "no write button for a reader");
    let detail = reader.get(&format!("/alerts/{id}")).await;
    assert!(!detail.html.contains("alert-actions"));
    let ledger = reader.get("/ledger").await;
    assert!(!ledger.html.contains("rebuild-start") && !ledger.html.contains("id=\"verify\""));
    let csrf = csrf_of(&board.html);
    let forged = reader
        .post(&format!("/alerts/{id}/acknowledge"), &[("csrf", &csrf)])
        .await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    assert!(
        forged.html.contains("auditor has the reader role"),
        "{}",
        forged.html
    );
    let verify = reader.post("/ledger/verify", &[("csrf", &csrf)]).await;
    assert_eq!(verify.status, 403);
    let alert = app.get_alert(&id, 0).await.expect(200);
    assert_eq!(alert.str("status"), "triggered", "nothing was written");
}

#[tokio::test]
async fn a_write_needs_the_session_token_and_this_servers_origin() {
    let app = spawn_app_with_tokens().await;
    let (id, _) = trigger(&app, "net", "critical").await;
    let mut writer = Browser::new(&app);
    writer.sign_in(WRITER_TOKEN).await;
    let page = writer.get(&format!("/alerts/{id}")).await;
    let csrf = csrf_of(&page.html);
    let path = format!("/alerts/{id}/notes");
    let no_token = writer.post(&path, &[("text", "x")]).await;
    assert_eq!(no_token.status, 403);
    assert!(no_token.html.contains("session token"), "{}", no_token.html);
    let other_origin = writer
        .post_from(
            &path,
            &[("csrf", &csrf), ("text", "x")],
            Some("http://evil.example"),
        )
        .await;
    assert_eq!(other_origin.status, 403);
    assert!(
        other_origin.html.contains("Origin"),
        "{}",
        other_origin.html
    );
    let no_origin = writer
        .post_from(&path, &[("csrf", &csrf), ("text", "x")], None)
        .await;
    assert_eq!(no_origin.status, 403, "neither Origin nor Referer");
    let mut stranger = Browser::new(&app);
    stranger.cookie = Some("alert_ledger_session=0000".into());
    let stale = stranger
        .post(&path, &[("csrf", &csrf), ("text", "x")])
        .await;
    assert_eq!(stale.status, 401, "an unknown session writes nothing");
    assert_eq!(app.history_types(&id, 0).await, ["alert_triggered"]);
    let empty = writer.post(&path, &[("csrf", &csrf), ("text", "")]).await;
    assert_eq!(empty.status, 422, "{}", empty.html);
    assert!(empty.html.contains("text"), "the error names the field");
    let noted = writer
        .post(
            &path,
            &[("csrf", &csrf), ("text", "rolled back the deploy")],
        )
        .await;
    assert_eq!(noted.status, 303);
    let detail = writer.get(&format!("/alerts/{id}")).await;
    assert!(detail.html.contains("Note: rolled back the deploy"));
    assert!(
        detail.html.contains("by ingest via console"),
        "who, and how"
    );
}

#[tokio::test]
async fn time_travel_shows_the_alert_as_triggered_before_its_ack_and_links_stay_there() {
    let app = spawn_app().await;
    let (id, triggered_at) = trigger(&app, "latency", "error").await;
    app.ack(&id).await.expect(200);
    let browser = Browser::new(&app);
    let now = browser.get(&format!("/alerts/{id}")).await;
    assert!(now.html.contains("b-acknowledged"));
    assert!(!now.html.contains("past-banner"));
    let past = browser
        .get(&format!("/alerts/{id}?as_of={triggered_at}"))
        .await;
    assert_eq!(past.status, 200);
    assert!(
        past.html.contains("past-banner"),
        "the banner says it is the past"
    );
    let status = &past.html[past.html.find("id=\"alert-status\"").unwrap()..];
    assert!(status[..200].contains("triggered"), "{}", &status[..200]);
    assert!(
        !past.html.contains("alert_acknowledged"),
        "the ack came later"
    );
    assert!(
        !past.html.contains("alert-actions"),
        "no writes in the past"
    );
    assert!(past
        .html
        .contains(&format!("href=\"/alerts?as_of={triggered_at}\"")));
    let board = browser.get(&format!("/?as_of={triggered_at}")).await;
    assert!(board.html.contains("b-triggered"));
    let before = browser.get("/?as_of=1970-01-01T00:00:00Z").await;
    assert_eq!(
        before.status, 200,
        "a time before the first event: the empty ledger"
    );
    assert!(before.html.contains("No active alarms"));
}

#[tokio::test]
async fn the_export_holds_every_alert_of_the_filter_in_csv_and_ndjson() {
    let app = spawn_app().await;
    for n in 0..1_205 {
        let severity = if n % 5 == 0 { "critical" } else { "info" };
        app.trigger(&trigger_body("checkout", &format!("k{n}"), severity))
            .await;
    }
    let mut body = trigger_body("checkout", "quoted", "critical");
    body["summary"] = "disk, \"full\"".into();
    app.trigger(&body).await;
    let browser = Browser::new(&app);
    let csv = browser.get("/alerts/export.csv?severity=critical").await;
    assert_eq!(csv.status, 200);
    assert!(csv.content_type.starts_with("text/csv"));
    let lines: Vec<&str> = csv.html.lines().collect();
    assert!(lines[0].starts_with("id,created_at,status,severity"));
    assert_eq!(
        lines.len(),
        1 + 241 + 1,
        "a header and every critical alert"
    );
    assert!(
        csv.html.contains("\"disk, \"\"full\"\"\""),
        "quoted as RFC 4180 says"
    );
    let ndjson = browser.get("/alerts/export.ndjson").await;
    let alerts: Vec<serde_json::Value> = ndjson
        .html
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 1_206, "more than one step of the export");
    let page = browser.get("/alerts?severity=critical").await;
    assert!(page.html.contains("id=\"next-page\""), "paged by cursor");
}

/// The next SSE frame of `live` (without its blank line).
async fn next_frame(live: &mut reqwest::Response, seen: &mut String) -> String {
    loop {
        if let Some(end) = seen.find("\n\n") {
            let frame = seen[..end].to_owned();
            seen.drain(..end + 2);
            return frame;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), live.chunk())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn the_live_feed_sends_the_views_position_at_once_after_each_write_and_resumes() {
    let app = spawn_app().await;
    let (a, first) = trigger(&app, "a", "info").await;
    app.get_alert(&a, first).await.expect(200);
    let client = reqwest::Client::new();
    let url = format!("{}/console/live", app.address);
    let mut live = client.get(&url).send().await.unwrap();
    assert_eq!(live.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    let frame = |p: u64| format!("event: position\nid: {p}\ndata: {p}");
    assert_eq!(next_frame(&mut live, &mut seen).await, frame(first));
    let (_, second) = trigger(&app, "b", "info").await;
    assert_eq!(next_frame(&mut live, &mut seen).await, frame(second));
    let mut resumed = client
        .get(&url)
        .header("last-event-id", second.to_string())
        .send()
        .await
        .unwrap();
    let (c, third) = trigger(&app, "c", "info").await;
    let mut resumed_seen = String::new();
    assert_eq!(
        next_frame(&mut resumed, &mut resumed_seen).await,
        frame(third),
        "a resumed board gets only what it missed"
    );
    app.get_alert(&c, third).await.expect(200);
    let mut behind = client
        .get(&url)
        .header("last-event-id", first.to_string())
        .send()
        .await
        .unwrap();
    let mut behind_seen = String::new();
    assert_eq!(
        next_frame(&mut behind, &mut behind_seen).await,
        frame(third),
        "a board that missed writes is told at once"
    );
}

#[tokio::test]
async fn sign_out_ends_the_session() {
    let app = spawn_app_with_tokens().await;
    let mut browser = Browser::new(&app);
    browser.sign_in(ADMIN_TOKEN).await;
    let board = browser.get("/").await;
    assert_eq!(board.status, 200);
    let csrf = csrf_of(&board.html);
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(out.set_cookie.unwrap().contains("Max-Age=0"));
    let after = browser.get("/").await;
    assert_eq!(after.status, 303, "the old cookie no longer signs in");
}
