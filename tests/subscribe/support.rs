//! A running app, direct appends and an SSE reader.

use alert_ledger::config::ServeConfig;
use alert_ledger::startup::Application;
use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use futures_util::StreamExt;
use projections::ids::{AlertId, SyncId};
use projections::{Event, Metadata};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::{oneshot, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a test waits for one frame before failing.
pub const FRAME_WAIT: Duration = Duration::from_secs(10);

/// A running app.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The store, for direct appends.
    pub store: Arc<dyn EventStore>,
    /// The metrics, to read the subscriber gauge.
    pub metrics: Arc<alert_ledger::metrics::Metrics>,
    /// The views, to wait until they caught up.
    pub views: Arc<alert_ledger::projection::ViewsHandle>,
    /// A plain client.
    pub client: reqwest::Client,
    _data_dir: TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _guard: Guard,
}

/// Held (shared) by every running [`TestApp`] and (exclusively) by a test that
/// measures this process's memory, so no other test allocates or frees meanwhile.
static MEASURING: LazyLock<Arc<RwLock<()>>> = LazyLock::new(Arc::default);

/// An app with default settings.
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// An app whose config `configure` adjusted.
pub async fn spawn_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let guard = Guard::Shared(MEASURING.clone().read_owned().await);
    spawn_guarded(guard, configure).await
}

/// An app that runs while no other test in this binary does.
pub async fn spawn_alone_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let guard = Guard::Exclusive(MEASURING.clone().write_owned().await);
    spawn_guarded(guard, configure).await
}

/// Keeps a test's hold on [`MEASURING`].
enum Guard {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

async fn spawn_guarded(guard: Guard, configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("a temporary data directory");
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), data_dir.path());
    configure(&mut config);
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://{}", app.local_addr());
    let store = app.state().store.clone();
    let metrics = app.state().metrics.clone();
    let views = app.state().views.clone();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    TestApp {
        address,
        store,
        metrics,
        views,
        client: reqwest::Client::new(),
        _data_dir: data_dir,
        shutdown: Some(tx),
        server: Some(server),
        _guard: guard,
    }
}

impl TestApp {
    /// Opens `/v1/subscribe?<query>` with extra headers; returns the response as is.
    pub async fn open(&self, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self
            .client
            .get(format!("{}/v1/subscribe?{query}", self.address))
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the request is sent")
    }

    /// Opens a subscription that must succeed.
    pub async fn subscribe(&self, query: &str, headers: &[(&str, &str)]) -> SseReader {
        let response = self.open(query, headers).await;
        assert_eq!(response.status(), 200, "subscribe?{query}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "content type"
        );
        SseReader::new(response)
    }

    /// Appends `events` to `stream` and returns the last position.
    pub async fn append(&self, stream: &str, events: Vec<Event>) -> u64 {
        let events = events.into_iter().map(new_event).collect();
        self.store
            .append(stream, ExpectedVersion::Any, events)
            .await
            .expect("the append succeeds")
            .last_position
    }

    /// Appends `count` notes to `stream`, one append each.
    pub async fn append_notes(&self, stream: &str, count: usize) -> u64 {
        let mut last = 0;
        for i in 0..count {
            last = self.append(stream, vec![note(&format!("{i}"))]).await;
        }
        last
    }

    /// The `alert_ledger_subscribers` gauge.
    pub fn subscribers(&self) -> i64 {
        let text = self.metrics.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("alert_ledger_subscribers "))
            .expect("the subscriber gauge is rendered");
        line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as i64
    }

    /// Starts a graceful shutdown and waits (bounded) for the server to stop.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        let server = self.server.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server stops within 10 s")
            .expect("the server task did not panic")
    }
}

/// A note about an alert nobody triggered (the views refuse it; the log keeps it).
pub fn note(text: &str) -> Event {
    Event::NoteAdded {
        alert_id: AlertId(Uuid::from_u128(7)),
        text: text.to_owned(),
    }
}

/// A resource registration.
pub fn sync(id: &str) -> Event {
    Event::SyncRegistered {
        sync_id: SyncId::parse(id).expect("a valid sync id"),
        name: format!("resource {id}"),
    }
}

/// A `NewEvent` with a fresh id.
pub fn new_event(event: Event) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event,
        metadata: Metadata {
            actor: Some("subscribe-test".into()),
            ..Metadata::default()
        },
    }
}

/// One thing read off an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// An event.
    Event {
        /// `id:`.
        id: u64,
        /// `event:`.
        event: String,
        /// `data:` (JSON on one line).
        data: String,
    },
    /// A comment line (`: text`).
    Comment(String),
}

type Body = Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// Reads frames off a subscription's body, one at a time.
pub struct SseReader {
    body: Body,
    pending: Vec<u8>,
    frames: VecDeque<Frame>,
    fields: Vec<(String, String)>,
    /// Bytes received so far.
    pub bytes: usize,
    /// `X-Ledger-Position` of the response.
    pub starts_after: u64,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> SseReader {
        let starts_after = response.headers()["x-ledger-position"]
            .to_str()
            .unwrap()
            .parse()
            .expect("a numeric X-Ledger-Position");
        SseReader {
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec())),
            ),
            pending: Vec::new(),
            frames: VecDeque::new(),
            fields: Vec::new(),
            bytes: 0,
            starts_after,
        }
    }

    /// The next frame, failing the test after [`FRAME_WAIT`].
    pub async fn frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return frame;
            }
            let chunk = tokio::time::timeout(FRAME_WAIT, self.body.next())
                .await
                .expect("a frame within the wait")
                .expect("the stream is still open")
                .expect("the body reads");
            self.bytes += chunk.len();
            self.pending.extend_from_slice(&chunk);
            self.split_lines();
        }
    }

    /// The next event, skipping comments.
    pub async fn event(&mut self) -> (u64, String, serde_json::Value) {
        loop {
            if let Frame::Event { id, event, data } = self.frame().await {
                let data = serde_json::from_str(&data).expect("JSON data on one line");
                return (id, event, data);
            }
        }
    }

    /// The ids of the next `count` events.
    pub async fn ids(&mut self, count: usize) -> Vec<u64> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(self.next_id().await);
        }
        ids
    }

    /// The id of the next event, skipping comments, without parsing its data.
    pub async fn next_id(&mut self) -> u64 {
        loop {
            if let Frame::Event { id, .. } = self.frame().await {
                return id;
            }
        }
    }

    /// Waits for the end of the body (`true`) or `wait` to pass (`false`).
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    fn split_lines(&mut self) {
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8(line[..end].to_vec()).expect("UTF-8 lines");
            if line.is_empty() {
                self.dispatch();
            } else if let Some(comment) = line.strip_prefix(':') {
                self.frames
                    .push_back(Frame::Comment(comment.trim().to_owned()));
            } else {
                let (field, value) = line.split_once(':').expect("field: value");
                let value = value.strip_prefix(' ').unwrap_or(value);
                self.fields.push((field.to_owned(), value.to_owned()));
            }
        }
    }

    fn dispatch(&mut self) {
        if self.fields.is_empty() {
            return;
        }
        let fields = std::mem::take(&mut self.fields);
        let get = |name: &str| {
            let values: Vec<&str> = fields
                .iter()
                .filter(|(f, _)| f == name)
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(values.len(), 1, "exactly one {name}: in {fields:?}");
            values[0].to_owned()
        };
        self.frames.push_back(Frame::Event {
            id: get("id").parse().expect("a numeric id"),
            event: get("event"),
            data: get("data"),
        });
    }
}
