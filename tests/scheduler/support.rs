//! A running service whose `AppState` the test can reach, and scheduler instances
//! over it on a manual clock.

use crate::helpers::{self, Api};
use alert_ledger::app::App as AppState;
use alert_ledger::commands::Commands;
use alert_ledger::metrics::Metrics;
use alert_ledger::scheduler::{ManualClock, Scheduler, SchedulerSettings};
use alert_ledger::startup::Application;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running app plus its shared state.
pub struct Service {
    /// The HTTP side.
    pub api: Api,
    /// The state the handlers and the service's own scheduler use.
    pub state: AppState,
    data_dir: TempDir,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Starts a service on a fresh data directory.
pub async fn start() -> Service {
    start_in(tempfile::tempdir().expect("a temporary directory")).await
}

/// Starts a service on `data_dir` (reopening whatever log is there).
pub async fn start_in(data_dir: TempDir) -> Service {
    start_in_with(data_dir, |_| {}).await
}

/// Starts a service on `data_dir` with a config `configure` adjusted.
pub async fn start_in_with(
    data_dir: TempDir,
    configure: impl FnOnce(&mut alert_ledger::config::ServeConfig),
) -> Service {
    let mut config = helpers::test_config(data_dir.path());
    configure(&mut config);
    let app = Application::build(config).await.expect("the app builds");
    let address = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (shutdown, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    Service {
        api: Api {
            address,
            client,
            token: None,
        },
        state,
        data_dir,
        shutdown,
        server,
    }
}

impl Service {
    /// Stops the service and hands back its data directory.
    pub async fn stop(self) -> TempDir {
        let _ = self.shutdown.send(());
        self.server
            .await
            .expect("the server task did not panic")
            .expect("the server stopped cleanly");
        self.data_dir
    }

    /// A scheduler instance sharing this service's state (and so its command runner).
    /// It counts into metrics of its own: the service's `/metrics` shows what the
    /// service's own scheduler counted, following the whole log once, as in production
    /// (a second scheduler in one process would count some events twice, depending on
    /// when it started following).
    pub fn scheduler(&self, clock: &ManualClock) -> Scheduler {
        let mut state = (*self.state).clone();
        state.metrics = Arc::new(Metrics::new());
        Scheduler::new(
            AppState::new(state),
            Arc::new(clock.clone()),
            SchedulerSettings::default(),
        )
    }

    /// A scheduler instance with a command runner of its own, as another service
    /// instance on the same store would have: its appends race through expected
    /// versions, not through this process's stream locks. Its metrics are its own.
    pub fn other_instance(&self, clock: &ManualClock) -> Scheduler {
        let mut state = (*self.state).clone();
        state.metrics = Arc::new(Metrics::new());
        state.commands = Commands::new(state.store.clone(), state.metrics.clone());
        Scheduler::new(
            AppState::new(state),
            Arc::new(clock.clone()),
            SchedulerSettings::default(),
        )
    }

    /// The event types of a stream, oldest first.
    pub async fn stream_types(&self, stream: &str) -> Vec<String> {
        let reply = self
            .api
            .get(&format!("/v1/streams/{stream}?limit=10000"))
            .await
            .expect(200);
        reply.body["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["event"]["type"].as_str().expect("a type").to_owned())
            .collect()
    }

    /// An alert's view, as of the head.
    pub async fn alert(&self, id: &str) -> Value {
        let head = self.api.head_position().await;
        self.api.get_alert(id, head).await.expect(200).body
    }

    /// A task's view, as of the head.
    pub async fn task(&self, id: &str) -> Value {
        let head = self.api.head_position().await;
        self.api
            .get(&format!("/v1/tasks/{id}?min_position={head}"))
            .await
            .expect(200)
            .body
    }

    /// Every task, as of the head.
    pub async fn tasks(&self) -> Vec<Value> {
        let head = self.api.head_position().await;
        let reply = self
            .api
            .get(&format!("/v1/tasks?min_position={head}"))
            .await
            .expect(200);
        reply.body["items"].as_array().expect("items").clone()
    }
}

impl Service {
    /// Waits until `/metrics` has the line `series value`.
    pub async fn expect_metric(&self, series: &str, value: u64) {
        let line = format!("{series} {value}");
        crate::helpers::eventually(&line, Duration::from_secs(10), || async {
            let text = self.api.get("/metrics").await.expect(200).text;
            text.lines().any(|l| l == line).then_some(())
        })
        .await;
    }
}

/// A manual clock standing at the wall clock's now.
pub fn clock() -> ManualClock {
    ManualClock::new(chrono::Utc::now())
}

/// How many times `kind` occurs in `types`.
pub fn count(types: &[String], kind: &str) -> usize {
    types.iter().filter(|t| *t == kind).count()
}
