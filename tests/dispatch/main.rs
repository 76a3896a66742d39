//! Dispatcher tests (issue #6): a real service delivering to a real local receiver,
//! black-box over HTTP where a user would look (the message view, the message's
//! stream, what the receiver got), and over the shared state where a test plays a
//! second instance.

/// The API test suite's helpers, shared rather than copied.
#[allow(dead_code, unused_imports)]
#[path = "../api"]
mod api_support {
    pub mod helpers;
}
use api_support::helpers;

mod delivery;
mod failures;
mod instances;
mod receiver;

use alert_ledger::app::App as AppState;
use alert_ledger::config::ServeConfig;
use alert_ledger::dispatch::backoff::Backoff;
use alert_ledger::dispatch::sign::SigningSecret;
use alert_ledger::startup::Application;
use helpers::{eventually, Api, Reply};
use serde_json::{json, Value};
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The signing secret of every test ledger.
pub const SECRET: &str = "test-signing-secret";

/// A running service with its state reachable (to play a second dispatcher).
pub struct Ledger {
    /// Its HTTP API.
    pub api: Api,
    /// Its shared state.
    pub state: AppState,
    /// Its data directory (handed back by [`Ledger::stop`]).
    pub data_dir: TempDir,
    stop: oneshot::Sender<()>,
    server: JoinHandle<anyhow::Result<()>>,
}

/// Dispatcher settings that keep tests quick: short timeout, backoff and lease,
/// three attempts, a signing secret.
pub fn fast_dispatch(config: &mut ServeConfig) {
    let dispatch = &mut config.dispatch;
    dispatch.enabled = true;
    dispatch.signing_secret = SigningSecret::new(SECRET);
    dispatch.max_attempts = 3;
    dispatch.attempt_timeout = Duration::from_millis(500);
    dispatch.backoff = Backoff {
        base: Duration::from_millis(50),
        max: Duration::from_millis(400),
    };
    dispatch.lease = Duration::from_millis(1_600);
}

/// A ledger with fast dispatch settings, adjusted by `configure`.
pub async fn spawn_ledger(configure: impl FnOnce(&mut ServeConfig)) -> Ledger {
    spawn_ledger_in(tempfile::tempdir().unwrap(), configure).await
}

/// A ledger on an existing data directory.
pub async fn spawn_ledger_in(
    data_dir: TempDir,
    configure: impl FnOnce(&mut ServeConfig),
) -> Ledger {
    let mut config = helpers::test_config(data_dir.path());
    fast_dispatch(&mut config);
    configure(&mut config);
    let app = Application::build(config).await.expect("the ledger builds");
    let state = app.state().clone();
    let api = Api {
        address: format!("http://{}", app.local_addr()),
        client: reqwest::Client::new(),
        token: None,
    };
    let (stop, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    Ledger {
        api,
        state,
        data_dir,
        stop,
        server,
    }
}

impl Ledger {
    /// Shuts down gracefully and hands back the data directory.
    pub async fn stop(self) -> TempDir {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.server)
            .await
            .expect("the ledger stops within 30 s")
            .expect("the server task did not panic")
            .expect("the ledger ran cleanly");
        self.data_dir
    }
}

/// Creates channel `id` of `kind` at `url`.
pub async fn create_channel(api: &Api, id: &str, kind: &str, url: &str) {
    let body = json!({ "id": id, "name": format!("{id} channel"), "kind": kind, "url": url });
    let reply = api.post("/v1/channels", &body).await;
    assert!(reply.status.is_success(), "channel not created: {reply:?}");
}

/// Routes `service`'s new alerts to `channels`.
pub async fn route(api: &Api, service: &str, channels: &[&str]) {
    let path = format!("/v1/services/{service}/route");
    let reply = api.post(&path, &json!({ "channels": channels })).await;
    assert!(reply.status.is_success(), "route not set: {reply:?}");
    // A trigger reads the route from the views without waiting for them to catch up,
    // so wait here until they show it.
    let seen = format!("/v1/routing?min_position={}", reply.position());
    api.get(&seen).await.expect(200);
}

/// Triggers an alert on `service` and returns `(alert id, message ids)`: the
/// messages queued with it, one per routed channel.
pub async fn trigger(api: &Api, service: &str, key: &str) -> (String, Vec<String>) {
    let body = helpers::trigger_body(service, key, "critical");
    let reply = api.trigger(&body).await.expect(201);
    let alert = reply.str("alert_id");
    let page = api
        .get(&format!(
            "/v1/messages?alert_id={alert}&min_position={}",
            reply.position()
        ))
        .await
        .expect(200);
    let ids = page.body["items"]
        .as_array()
        .expect("a page of messages")
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    (alert, ids)
}

/// A service routed to one new channel of `kind` at `url`; returns the service.
pub async fn service_with_channel(api: &Api, name: &str, kind: &str, url: &str) -> String {
    let channel = format!("{name}-{kind}");
    create_channel(api, &channel, kind, url).await;
    route(api, name, &[&channel]).await;
    name.to_owned()
}

/// Triggers one alert on `service` and returns its single message id.
pub async fn one_message(api: &Api, service: &str, key: &str) -> String {
    let (_, ids) = trigger(api, service, key).await;
    assert_eq!(ids.len(), 1, "one routed channel, one message: {ids:?}");
    ids[0].clone()
}

/// `GET /v1/messages/{id}`.
pub async fn message(api: &Api, id: &str) -> Reply {
    api.get(&format!("/v1/messages/{id}")).await.expect(200)
}

/// Waits until message `id` is in `state`, then returns its row.
pub async fn wait_for_state(api: &Api, id: &str, state: &str) -> Value {
    eventually(
        &format!("message {id} to be {state}"),
        Duration::from_secs(15),
        || async {
            let row = message(api, id).await.body;
            (row["state"] == state).then_some(row)
        },
    )
    .await
}

/// The events of `message-<id>`, oldest first.
pub async fn message_events(api: &Api, id: &str) -> Vec<Value> {
    let page = api
        .get(&format!("/v1/streams/message-{id}?limit=1000"))
        .await
        .expect(200);
    page.body["events"]
        .as_array()
        .expect("a stream page")
        .iter()
        .map(|e| e["event"].clone())
        .collect()
}

/// The `type`s of `events`.
pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("a typed event"))
        .collect()
}
