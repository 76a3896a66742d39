//! The ledger under test: the real service (`Application::build` + `run`, the same
//! code `alert-ledger serve` runs) on the embedded store in a temp dir, on a runtime
//! of its own, and an HTTP client per worker.

use crate::mix::{trigger_body, Op, Target, CHANNEL};
use alert_ledger::config::ServeConfig;
use alert_ledger::projection::ViewsHandle;
use alert_ledger::startup::Application;
use alert_ledger::store::EventStore;
use anyhow::Context;
use futures_util::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Worker threads of the service's runtime: the machine's cores, as `serve` uses.
fn server_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// A running service; stops (gracefully, closing the store) when dropped.
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its store, for appending directly (SSE fan-out).
    pub store: Arc<dyn EventStore>,
    /// Its views, to read how far they trail the log without a request.
    views: Arc<ViewsHandle>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<TempDir>,
}

impl Server {
    /// Starts the service on a fresh embedded store and waits until it is ready.
    pub fn start() -> anyhow::Result<Server> {
        Server::start_on(None)
    }

    /// Starts the service on `store` (a `postgres://` URL of an empty database), or on
    /// a fresh embedded store when `None`, and waits until it is ready.
    pub fn start_on(store: Option<&str>) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("alert-ledger-bench-")
            .tempdir()?;
        let mut config = ServeConfig::new("127.0.0.1:0".parse()?, dir.path().join("data"));
        if let Some(url) = store {
            config.store = alert_ledger::config::StoreLocation::Url(url.to_owned());
        }
        Server::start_with(config, Some(dir))
    }

    /// Starts the service on the embedded store in `data_dir` (kept when it stops),
    /// listening on `listen`, and waits until it is ready.
    pub fn start_at(data_dir: &std::path::Path, listen: SocketAddr) -> anyhow::Result<Server> {
        Server::start_with(ServeConfig::new(listen, data_dir), None)
    }

    fn start_with(config: ServeConfig, dir: Option<TempDir>) -> anyhow::Result<Server> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ledger-service".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(server_threads())
                    .thread_name("ledger-worker")
                    .enable_all()
                    .build()?;
                runtime.block_on(async move {
                    let app = match Application::build(config).await {
                        Ok(app) => app,
                        Err(err) => {
                            let _ = ready_tx.send(Err(format!("{err:#}")));
                            return Ok(());
                        }
                    };
                    let state = app.state();
                    let _ = ready_tx.send(Ok((
                        app.local_addr(),
                        state.store.clone(),
                        state.views.clone(),
                    )));
                    app.run(async move {
                        let _ = stopped.await;
                    })
                    .await
                })
            })?;
        let (addr, store, views) = ready_rx
            .recv()
            .context("service thread ended before it was ready")?
            .map_err(anyhow::Error::msg)?;
        Ok(Server {
            addr,
            store,
            views,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// The base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many events the views trail the log by now (what `/readyz` and `/metrics`
    /// report, read in-process: `/metrics` also counts the open alerts, which polling
    /// would pay for): work a load window left for after it ends.
    pub async fn views_lag(&self) -> anyhow::Result<u64> {
        let head = self.store.head().await?.position;
        Ok(head.saturating_sub(self.views.applied()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Err(err)) => eprintln!("service stopped with an error: {err:#}"),
                Err(_) => eprintln!("service thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}

/// The ledger over HTTP: one keep-alive connection per worker, and the webhook
/// receiver of the channel the mix's triggers name.
pub struct HttpLedger {
    base: String,
    clients: Vec<reqwest::Client>,
    receiver: tokio::task::JoinHandle<()>,
}

impl Drop for HttpLedger {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

impl HttpLedger {
    /// Clients for `workers` workers against `base`, once the channel the triggers
    /// name exists: references must exist when they are written (ADR 0009). The
    /// channel delivers to a receiver in this process that accepts every message
    /// (204), as a healthy webhook receiver would.
    pub async fn connect(base: String, workers: usize) -> anyhow::Result<HttpLedger> {
        let clients: Vec<reqwest::Client> = (0..workers)
            .map(|_| {
                reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .build()
            })
            .collect::<Result<_, _>>()?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let accept_all =
            axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
        let receiver = tokio::spawn(async move {
            let _ = axum::serve(listener, accept_all).await;
        });
        let channel = serde_json::json!({ "id": CHANNEL, "name": "bench on-call", "kind": "webhook", "url": url });
        let created = clients[0]
            .post(format!("{base}/v1/channels"))
            .header("content-type", "application/json")
            .body(channel.to_string())
            .send()
            .await?;
        anyhow::ensure!(
            created.status().is_success(),
            "creating channel {CHANNEL}: {}",
            created.status()
        );
        Ok(HttpLedger {
            base,
            clients,
            receiver,
        })
    }

    async fn send(&self, worker: usize, op: &Op) -> anyhow::Result<String> {
        let client = &self.clients[worker];
        let request = match op {
            Op::Trigger { key, n } => client
                .post(format!("{}/v1/alerts", self.base))
                .header("content-type", "application/json")
                .body(trigger_body(key, *n)),
            Op::Acknowledge(id) => client.post(format!("{}/v1/alerts/{id}/acknowledge", self.base)),
            Op::Resolve(id) => client.post(format!("{}/v1/alerts/{id}/resolve", self.base)),
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        // A resolve racing a repeat of the same alert may find it resolved: a 409 is
        // the ledger answering correctly, not a failure of the system under test.
        if status == reqwest::StatusCode::CONFLICT && !matches!(op, Op::Trigger { .. }) {
            return Ok(String::new());
        }
        anyhow::ensure!(
            status.is_success(),
            "{status}: {}",
            String::from_utf8_lossy(&body)
        );
        if !matches!(op, Op::Trigger { .. }) {
            return Ok(String::new());
        }
        alert_id(&body)
    }
}

/// The `alert_id` of a trigger's answer, without a full JSON parse.
fn alert_id(body: &[u8]) -> anyhow::Result<String> {
    const FIELD: &str = "\"alert_id\":\"";
    let text = std::str::from_utf8(body)?;
    let start = text.find(FIELD).context("no alert_id in the answer")? + FIELD.len();
    let end = text[start..].find('"').context("unterminated alert_id")?;
    Ok(text[start..start + end].to_owned())
}

impl Target for HttpLedger {
    fn execute<'a>(&'a self, worker: usize, op: &'a Op) -> BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(self.send(worker, op))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn alert_id_is_read_from_a_trigger_answer() {
        let body = br#"{"alert_id":"3f2c-1","deduplicated":false,"changed":true,"position":2}"#;
        assert_eq!(super::alert_id(body).expect("id"), "3f2c-1");
    }
}
