//! A webhook receiver for the tests: an axum server on `127.0.0.1:0` that records
//! every request and answers from a per-path script (then 200 OK).

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status with a short body.
    Status(u16),
    /// 429 with `Retry-After: <seconds>`.
    TooMany(u64),
    /// Wait this long, then 200 (longer than the dispatcher's timeout: a slow receiver).
    Slow(Duration),
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path of the request.
    pub path: String,
    /// Its headers.
    pub headers: HeaderMap,
    /// The raw body, exactly as signed.
    pub body: Bytes,
    /// When it arrived.
    pub at: DateTime<Utc>,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Received>>,
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Receiver {
    /// Starts a receiver.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a receiver port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let handler_state = shared.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = handler_state.clone();
            async move { answer(shared, uri, headers, body).await }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            base,
            shared,
            server,
        }
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers the next requests to `path` with `answers`, in order (then 200).
    pub fn script(&self, path: &str, answers: impl IntoIterator<Item = Answer>) {
        self.shared
            .script
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .extend(answers);
    }

    /// Every request so far to `path`.
    pub fn requests(&self, path: &str) -> Vec<Received> {
        let all = self.shared.requests.lock().unwrap();
        all.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Every request so far carrying `message_id` in `X-Ledger-Message-Id`.
    pub fn requests_for(&self, message_id: &str) -> Vec<Received> {
        let all = self.shared.requests.lock().unwrap();
        all.iter()
            .filter(|r| r.header("x-ledger-message-id") == Some(message_id))
            .cloned()
            .collect()
    }
}

async fn answer(shared: Arc<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    shared.requests.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body,
        at: Utc::now(),
    });
    let next = shared
        .script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    match next {
        None => (StatusCode::OK, "ok").into_response(),
        Some(Answer::Status(code)) => {
            let status = StatusCode::from_u16(code).expect("a valid status");
            (status, format!("scripted {code}")).into_response()
        }
        Some(Answer::TooMany(seconds)) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", seconds.to_string())],
            "slow down",
        )
            .into_response(),
        Some(Answer::Slow(delay)) => {
            tokio::time::sleep(delay).await;
            (StatusCode::OK, "late").into_response()
        }
    }
}

/// A URL where nothing listens (connections are refused).
pub async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook")
}
