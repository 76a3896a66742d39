//! `spawn_app()` and the typed request helpers every API test uses (zero2prod style):
//! a real `Application` on `127.0.0.1:0` with its own temporary data directory, run on
//! a tokio task that the test stops through a oneshot.

use alert_ledger::config::ServeConfig;
use alert_ledger::startup::Application;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod routes;
pub use routes::{route_table, Role, RouteCase};

/// Token of the `reader` principal in apps built with [`spawn_app_with_tokens`].
pub const READER_TOKEN: &str = "reader-token-0123456789abcdef";
/// Token of the `writer` principal.
pub const WRITER_TOKEN: &str = "writer-token-0123456789abcdef";
/// Token of the `admin` principal.
pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";
/// A well-formed token nobody configured.
pub const WRONG_TOKEN: &str = "wrong-token-0123456789abcdef";

/// The inline tokens value that defines the three principals above.
pub fn inline_tokens() -> String {
    format!("reader auditor {READER_TOKEN}; writer ingest {WRITER_TOKEN}; admin ops {ADMIN_TOKEN}")
}

/// The HTTP side of a running app: base address, a pooled client and an optional
/// bearer token. Cheap to clone, so tasks can each hold one.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// A client with a connection pool.
    pub client: reqwest::Client,
    /// Sent as `Authorization: Bearer` when set.
    pub token: Option<String>,
}

/// A running app: its [`Api`] (through `Deref`), its data directory and the handle
/// that stops it.
pub struct TestApp {
    api: Api,
    /// Kept alive for as long as the app runs (and handed back by [`TestApp::stop`]).
    pub data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// What [`TestApp::stop`] hands back.
pub struct Stopped {
    /// The data directory, still on disk.
    pub data_dir: TempDir,
    /// What `Application::run` returned.
    pub result: anyhow::Result<()>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// A config for `data_dir` listening on an ephemeral loopback port, with a short
/// `read_wait` so tests of `min_position` timeouts stay quick.
pub fn test_config(data_dir: &std::path::Path) -> ServeConfig {
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), data_dir);
    config.read_wait = Duration::from_secs(5);
    // Small segments: every test opens a fresh log, and each new segment is
    // preallocated and synced.
    config.segment_size = 4 * 1024 * 1024;
    // No deliveries: API and replay tests see messages stay as queued (the dispatcher
    // has its own suite, tests/dispatch, which turns it on).
    config.dispatch.enabled = false;
    config
}

/// An app with default settings and auth off.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app with reader, writer and admin tokens; its [`Api`] carries the admin token.
pub async fn spawn_app_with_tokens() -> TestApp {
    let mut app = spawn_app_with(|config| config.tokens = Some(inline_tokens())).await;
    app.api.token = Some(ADMIN_TOKEN.to_owned());
    app
}

/// An app whose config `configure` adjusted.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    spawn_app_in(data_dir, configure).await
}

/// An app on an existing data directory (to reopen a log an earlier app wrote).
pub async fn spawn_app_in(data_dir: TempDir, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let mut config = test_config(data_dir.path());
    configure(&mut config);
    let app = Application::build(config)
        .await
        .expect("the application builds");
    let addr = app.local_addr();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a reqwest client");
    TestApp {
        api: Api {
            address: format!("http://{addr}"),
            client,
            token: None,
        },
        data_dir,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    /// Starts a graceful shutdown and waits for the server task to end.
    pub async fn stop(mut self) -> Stopped {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let server = self.server.take().expect("the server task is running");
        let result = tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("the server stops within 30 s")
            .expect("the server task did not panic");
        Stopped {
            data_dir: self.data_dir,
            result,
        }
    }

    /// A copy of the API that sends `token` (or none).
    pub fn with_token(&self, token: Option<&str>) -> Api {
        Api {
            token: token.map(str::to_owned),
            ..self.api.clone()
        }
    }

    /// The API as a plain value, for moving into spawned tasks.
    pub fn api(&self) -> Api {
        self.api.clone()
    }
}

/// A response read to the end: status, headers and JSON body (or `Null`).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The raw body.
    pub text: String,
    /// The body parsed as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Reply {
    /// Reads `response` to the end.
    pub async fn read(response: Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a response body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Ledger-Position`, parsed.
    #[track_caller]
    pub fn position_header(&self) -> u64 {
        self.header("x-ledger-position")
            .unwrap_or_else(|| panic!("no X-Ledger-Position on {self:?}"))
            .parse()
            .expect("X-Ledger-Position is a number")
    }

    /// `position` from the body.
    #[track_caller]
    pub fn position(&self) -> u64 {
        self.body["position"]
            .as_u64()
            .unwrap_or_else(|| panic!("no position in {self:?}"))
    }

    /// A string field of the body.
    #[track_caller]
    pub fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field} in {self:?}"))
            .to_owned()
    }

    /// Asserts the status.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status.as_u16(), status, "unexpected status: {self:?}");
        self
    }

    /// Asserts an RFC 9457 problem with `status` and type `urn:alert-ledger:problem:<kind>`.
    #[track_caller]
    pub fn expect_problem(self, status: u16, kind: &str) -> Reply {
        let reply = self.expect(status);
        assert_problem_shape(&reply);
        assert_eq!(
            reply.body["type"],
            format!("urn:alert-ledger:problem:{kind}"),
            "problem type of {reply:?}"
        );
        reply
    }
}

/// Asserts the body is a problem document: content type, `type`, `title`, `status`
/// equal to the HTTP status, and `detail`.
#[track_caller]
pub fn assert_problem_shape(reply: &Reply) {
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "content type of {reply:?}"
    );
    for field in ["type", "title", "detail"] {
        assert!(
            reply.body[field].as_str().is_some_and(|s| !s.is_empty()),
            "problem without {field}: {reply:?}"
        );
    }
    assert_eq!(
        reply.body["status"].as_u64(),
        Some(u64::from(reply.status.as_u16())),
        "problem status of {reply:?}"
    );
}

/// A trigger body for `service`/`dedup_key`.
pub fn trigger_body(service: &str, dedup_key: &str, severity: &str) -> Value {
    json!({
        "service": service,
        "dedup_key": dedup_key,
        "summary": format!("{service} {dedup_key} is unhappy"),
        "severity": severity,
    })
}

impl Api {
    /// A request with the bearer token (if any).
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.address));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends `method path` with an optional JSON body and reads the reply.
    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let request = self.request(method, path);
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        Reply::read(request.send().await.expect("the request is sent")).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `POST path` without a body.
    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, None).await
    }

    /// `POST /v1/alerts`.
    pub async fn trigger(&self, body: &Value) -> Reply {
        self.post("/v1/alerts", body).await
    }

    /// `POST /v1/alerts/{id}/acknowledge`.
    pub async fn ack(&self, id: &str) -> Reply {
        self.post_empty(&format!("/v1/alerts/{id}/acknowledge"))
            .await
    }

    /// `POST /v1/alerts/{id}/resolve`.
    pub async fn resolve(&self, id: &str) -> Reply {
        self.post_empty(&format!("/v1/alerts/{id}/resolve")).await
    }

    /// `POST /v1/alerts/{id}/escalate`.
    pub async fn escalate(&self, id: &str) -> Reply {
        self.post_empty(&format!("/v1/alerts/{id}/escalate")).await
    }

    /// `POST /v1/alerts/{id}/notes`.
    pub async fn note(&self, id: &str, text: &str) -> Reply {
        self.post(&format!("/v1/alerts/{id}/notes"), &json!({ "text": text }))
            .await
    }

    /// `GET /v1/alerts/{id}?min_position=..`.
    pub async fn get_alert(&self, id: &str, min_position: u64) -> Reply {
        self.get(&format!("/v1/alerts/{id}?min_position={min_position}"))
            .await
    }

    /// `GET /v1/alerts?<query>`.
    pub async fn list_alerts(&self, query: &str) -> Reply {
        self.get(&format!("/v1/alerts?{query}")).await
    }

    /// `GET /v1/alerts/{id}/history?min_position=..`.
    pub async fn history(&self, id: &str, min_position: u64) -> Reply {
        self.get(&format!(
            "/v1/alerts/{id}/history?min_position={min_position}"
        ))
        .await
    }

    /// The event types of an alert's history, oldest first.
    pub async fn history_types(&self, id: &str, min_position: u64) -> Vec<String> {
        let reply = self.history(id, min_position).await.expect(200);
        reply.body["events"]
            .as_array()
            .expect("history has events")
            .iter()
            .map(|e| e["event"]["type"].as_str().expect("typed event").to_owned())
            .collect()
    }

    /// `POST /v1/syncs`.
    pub async fn register_sync(&self, id: &str, name: &str) -> Reply {
        self.post("/v1/syncs", &json!({ "id": id, "name": name }))
            .await
    }

    /// `DELETE /v1/syncs/{id}`.
    pub async fn delete_sync(&self, id: &str) -> Reply {
        self.send(Method::DELETE, &format!("/v1/syncs/{id}"), None)
            .await
    }

    /// `GET /v1/ledger/digest` → the head position.
    pub async fn head_position(&self) -> u64 {
        self.get("/v1/ledger/digest").await.expect(200).position()
    }

    /// Every event in `$all`, in order, paging through `GET /v1/events`.
    pub async fn all_events(&self) -> Vec<Value> {
        let mut events = Vec::new();
        let mut from = 1;
        loop {
            let page = self
                .get(&format!("/v1/events?from={from}&limit=500"))
                .await
                .expect(200);
            events.extend(page.body["events"].as_array().expect("events").clone());
            match page.body["next"].as_u64() {
                Some(next) => from = next,
                None => return events,
            }
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
