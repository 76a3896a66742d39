//! Claims across instances and restarts: exactly one sender per attempt, a lapsed
//! lease is taken over, a restart neither loses nor re-sends, and readiness follows
//! the dispatcher.

use crate::receiver::Receiver;
use crate::{
    message_events, one_message, service_with_channel, spawn_ledger, spawn_ledger_in, types,
    wait_for_state, Ledger,
};
use alert_ledger::app::App as AppState;
use alert_ledger::app::DispatchStatus;
use alert_ledger::commands::Commands;
use alert_ledger::dispatch::{DispatchConfig, Dispatcher};
use projections::decide::{decide_message, MessageCommand, MessageState};
use projections::ids::MessageId;
use projections::{streams, Metadata};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A dispatcher started by the test over `state` as instance `instance`.
struct Instance {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

fn start(state: &AppState, instance: &str, status: DispatchStatus) -> Instance {
    let mut config = DispatchConfig::default();
    let fast = {
        let mut serve = alert_ledger::config::ServeConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            std::path::PathBuf::from("unused"),
        );
        crate::fast_dispatch(&mut serve);
        serve.dispatch
    };
    config.instance_id = instance.to_owned();
    config.concurrency = 4;
    config.signing_secret = fast.signing_secret;
    config.attempt_timeout = fast.attempt_timeout;
    config.backoff = fast.backoff;
    config.lease = fast.lease;
    config.max_attempts = fast.max_attempts;
    let dispatcher = Dispatcher::new(state, config, status).expect("a dispatcher");
    let (stop, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(dispatcher.run(async move {
        let _ = rx.await;
    }));
    Instance { stop, task }
}

impl Instance {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the dispatcher stops")
            .expect("the dispatcher did not panic");
    }
}

/// A ledger whose own dispatcher is off: the test plays the instances.
async fn quiet_ledger() -> Ledger {
    spawn_ledger(|config| config.dispatch.enabled = false).await
}

#[tokio::test]
async fn two_dispatchers_on_one_store_deliver_each_message_exactly_once() {
    let receiver = Receiver::start().await;
    let ledger = quiet_ledger().await;
    let api = &ledger.api;
    let service = service_with_channel(api, "shared", "webhook", &receiver.url("/hook")).await;
    let mut ids = Vec::new();
    for n in 0..24 {
        ids.push(one_message(api, &service, &format!("key-{n}")).await);
    }
    // Instance b has its own command runner, so nothing in this process serialises
    // the two: only the expected version on the message's stream decides.
    let mut other = (*ledger.state).clone();
    other.commands = Commands::new(other.store.clone(), other.metrics.clone());
    let other = AppState::new(other);
    let a = start(&ledger.state, "instance-a", DispatchStatus::default());
    let b = start(&other, "instance-b", DispatchStatus::default());

    for id in &ids {
        wait_for_state(api, id, "delivered").await;
    }
    a.stop().await;
    b.stop().await;
    let mut claimers = std::collections::BTreeSet::new();
    for id in &ids {
        assert_eq!(receiver.requests_for(id).len(), 1, "message {id} sent once");
        let events = message_events(api, id).await;
        assert_eq!(
            types(&events),
            ["message_claimed", "delivery_attempted", "message_delivered"],
            "one claim won for {id}"
        );
        claimers.insert(events[0]["instance"].as_str().unwrap().to_owned());
    }
    assert_eq!(receiver.requests("/hook").len(), ids.len());
    assert!(!claimers.is_empty());
    ledger.stop().await;
}

#[tokio::test]
async fn a_lapsed_lease_is_taken_over_and_the_message_is_delivered_by_the_new_holder() {
    let receiver = Receiver::start().await;
    let ledger = quiet_ledger().await;
    let api = &ledger.api;
    let service = service_with_channel(api, "takeover", "webhook", &receiver.url("/hook")).await;
    let id = one_message(api, &service, "k").await;
    // A "ghost" instance claims the message, starts an attempt and dies before
    // recording the outcome.
    let message_id = MessageId::parse(&id).unwrap();
    let lease_until = chrono::Utc::now() + chrono::Duration::milliseconds(1_200);
    record(&ledger.state, message_id, |s| {
        decide_message(
            s,
            MessageCommand::Claim {
                message_id,
                instance: "ghost".into(),
                now: chrono::Utc::now(),
                lease_until,
            },
        )
    })
    .await;
    record(&ledger.state, message_id, |s| {
        decide_message(
            s,
            MessageCommand::Attempt {
                message_id,
                instance: "ghost".into(),
            },
        )
    })
    .await;

    let b = start(&ledger.state, "instance-b", DispatchStatus::default());
    let row = wait_for_state(api, &id, "delivered").await;
    b.stop().await;
    assert_eq!(row["attempts"], 2, "the ghost's attempt counts");
    let got = receiver.requests_for(&id);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].at >= lease_until,
        "not sent before the ghost's lease lapsed"
    );
    assert_eq!(got[0].header("x-ledger-attempt"), Some("2"));
    let events = message_events(api, &id).await;
    assert_eq!(
        types(&events),
        [
            "message_claimed",
            "delivery_attempted",
            "message_claimed",
            "delivery_attempted",
            "message_delivered"
        ]
    );
    assert_eq!(events[0]["instance"], "ghost");
    assert_eq!(events[2]["instance"], "instance-b");
    ledger.stop().await;
}

async fn record(
    state: &AppState,
    id: MessageId,
    decide: impl Fn(&MessageState) -> Result<Vec<projections::Event>, projections::decide::Rejection>,
) {
    let outcome = state
        .commands
        .execute(
            &streams::message(id),
            MessageState::default(),
            Metadata::default(),
            decide,
        )
        .await
        .expect("recorded");
    let position = outcome.append.expect("appended").last_position;
    state
        .views
        .wait_for(position, Duration::from_secs(5))
        .await
        .expect("the views caught up");
}

#[tokio::test]
async fn a_restart_never_resends_a_delivered_message_and_delivers_the_pending_one() {
    let receiver = Receiver::start().await;
    let first = spawn_ledger(|_| {}).await;
    let service =
        service_with_channel(&first.api, "restart", "webhook", &receiver.url("/hook")).await;
    let delivered = one_message(&first.api, &service, "before").await;
    wait_for_state(&first.api, &delivered, "delivered").await;
    let data_dir = first.stop().await;

    // Queued while no instance sends.
    let quiet = spawn_ledger_in(data_dir, |config| config.dispatch.enabled = false).await;
    let pending = one_message(&quiet.api, &service, "during").await;
    let data_dir = quiet.stop().await;

    let again = spawn_ledger_in(data_dir, |_| {}).await;
    wait_for_state(&again.api, &pending, "delivered").await;
    // Both were in the views at start; the delivered one was not picked again.
    assert_eq!(receiver.requests_for(&pending).len(), 1);
    assert_eq!(receiver.requests_for(&delivered).len(), 1);
    let events = message_events(&again.api, &delivered).await;
    assert_eq!(
        types(&events),
        ["message_claimed", "delivery_attempted", "message_delivered"]
    );
    again.stop().await;
}

#[tokio::test]
async fn readiness_follows_the_dispatcher() {
    // The app's own dispatcher runs while the app serves.
    let ledger = spawn_ledger(|_| {}).await;
    let ready = crate::helpers::eventually("ready", Duration::from_secs(10), || async {
        let reply = ledger.api.get("/readyz").await;
        (reply.status == 200).then_some(reply)
    })
    .await;
    assert_eq!(ready.body["status"], "ready");
    assert!(ledger.state.dispatch.is_running());
    ledger.stop().await;

    // A dispatcher disabled on purpose does not hold readiness back.
    let quiet = quiet_ledger().await;
    let reply = crate::helpers::eventually("ready", Duration::from_secs(10), || async {
        let reply = quiet.api.get("/readyz").await;
        (reply.status == 200).then_some(reply)
    })
    .await;
    assert_eq!(reply.body["status"], "ready");
    quiet.stop().await;

    // Serve a state whose dispatcher is started and stopped by the test.
    let dir = tempfile::tempdir().unwrap();
    let app = alert_ledger::startup::Application::build(crate::helpers::test_config(dir.path()))
        .await
        .unwrap();
    let state = app.state().clone();
    let (stop_views, views_rx) = oneshot::channel::<()>();
    let follower = tokio::spawn(alert_ledger::projection::run(
        state.store.clone(),
        state.views.clone(),
        async move {
            let _ = views_rx.await;
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}/readyz", listener.local_addr().unwrap());
    let router = alert_ledger::http::router(app.http_state().clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let readyz = |want: u16| {
        let address = address.clone();
        async move {
            crate::helpers::eventually("readiness", Duration::from_secs(10), || async {
                let reply = reqwest::get(&address).await.unwrap();
                let status = reply.status().as_u16();
                let body: serde_json::Value = reply.json().await.unwrap();
                (status == want).then_some(body)
            })
            .await
        }
    };
    let before = readyz(503).await;
    assert_eq!(before["reason"], "the dispatcher has not started");
    let instance = start(&state, "probe", state.dispatch.clone());
    readyz(200).await;
    instance.stop().await;
    let after = readyz(503).await;
    assert_eq!(after["reason"], "the dispatcher is not running");
    server.abort();
    let _ = stop_views.send(());
    let _ = follower.await;
    drop(app);
}
