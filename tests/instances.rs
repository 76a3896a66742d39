//! Several instances on one engine (issue #7): two `alert-ledger serve` processes (the
//! compiled binary) on one PostgreSQL database, driven concurrently through both. Every
//! view converges to the same answer on both, dedup holds across them (one open alert
//! per key, also under a burst split across the two), every outgoing message reaches
//! the receiver exactly once although both dispatchers run, and the two instances'
//! Merkle trees of the shared log have the same root.
//!
//! The server comes from `ALERT_LEDGER_TEST_PG` (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`); the test creates its own database
//! `alert_ledger_test_<uuid>` and drops it afterwards. The test is
//! `#[ignore = "needs ALERT_LEDGER_TEST_PG"]`: plain `cargo test` reports it ignored;
//! `cargo test --test instances -- --ignored` runs it, and then a missing variable or an
//! unreachable server fails it.

use axum::http::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

const SECRET: &str = "instances-signing-secret";
const SERVICE: &str = "checkout";
/// Distinct dedup keys in the first round.
const KEYS: usize = 24;
/// Triggers per key in the first round (alternating instances).
const REPEATS: usize = 3;
/// Concurrent triggers of one key, split across both instances.
const BURST: usize = 50;

// ---------------------------------------------------------------------------
// The database

#[allow(dead_code)]
#[path = "support/test_database.rs"]
mod test_database;
use test_database::TestDatabase;

// ---------------------------------------------------------------------------
// The receiver

/// A webhook receiver on `127.0.0.1:0` counting requests per `X-Ledger-Message-Id`.
struct Receiver {
    url: String,
    counts: Arc<Mutex<HashMap<String, u32>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let counts = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
        let seen = counts.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let seen = seen.clone();
            async move {
                let id = headers
                    .get("x-ledger-message-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("<none>")
                    .to_owned();
                *seen.lock().unwrap().entry(id).or_default() += 1;
                "ok"
            }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            counts,
            server,
        }
    }

    fn counts(&self) -> HashMap<String, u32> {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

// ---------------------------------------------------------------------------
// The instances

/// One `alert-ledger serve` child process; killed if the test fails before it exits.
struct Instance {
    name: &'static str,
    base: String,
    child: Child,
    log: PathBuf,
    _data_dir: tempfile::TempDir,
}

#[path = "support/binary.rs"]
mod support_binary;
use support_binary::{binary, free_port};

impl Instance {
    fn spawn(name: &'static str, store: &str) -> Instance {
        let data_dir = tempfile::tempdir().unwrap();
        let log = data_dir.path().join("stderr.log");
        let port = free_port();
        let mut command = binary();
        command
            .env("RUST_LOG", "warn")
            .args(["serve", "--store", store])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .args(["--instance-id", &format!("instance-{name}")])
            .args(["--webhook-signing-secret", SECRET])
            .args(["--dispatch-backoff-ms", "50"])
            .args(["--dispatch-backoff-max-ms", "400"])
            .args(["--dispatch-timeout-ms", "2000"])
            .args(["--dispatch-lease-ms", "5000"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        let child = command.spawn().expect("the binary starts");
        Instance {
            name,
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
            _data_dir: data_dir,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "instance {} exited before it was ready ({status:?}): {}",
                    self.name,
                    self.stderr()
                );
            }
            let reply = client.get(format!("{}/readyz", self.base)).send().await;
            if matches!(&reply, Ok(r) if r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} not ready within 20 s: {}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then the exit status (within 15 s).
    async fn terminate(&mut self) -> std::process::ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} did not exit within 15 s of SIGTERM: {}",
                self.name,
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// HTTP

/// An answer: status and JSON body.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn position(&self) -> u64 {
        self.body["position"]
            .as_u64()
            .unwrap_or_else(|| panic!("no position in {self:?}"))
    }

    #[track_caller]
    fn str(&self, field: &str) -> String {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {self:?}"))
            .to_owned()
    }
}

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the instance answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("a body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply { status, body }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn post_empty(&self, path: &str) -> Reply {
        self.send(self.client.post(format!("{}{path}", self.base)))
            .await
    }

    async fn trigger(&self, key: &str) -> Reply {
        let body = json!({
            "service": SERVICE,
            "dedup_key": key,
            "summary": format!("{SERVICE} {key} is unhappy"),
            "severity": "critical",
        });
        self.post("/v1/alerts", body).await
    }

    /// The head position this instance's views reflect.
    async fn head(&self) -> u64 {
        let reply = self.get("/v1/ledger/digest").await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.position()
    }
}

/// The highest position seen in any write's answer.
#[derive(Clone, Default)]
struct MaxPosition(Arc<Mutex<u64>>);

impl MaxPosition {
    fn see(&self, reply: &Reply) -> Reply {
        if let Some(p) = reply.body["position"].as_u64() {
            let mut max = self.0.lock().unwrap();
            *max = (*max).max(p);
        }
        reply.clone()
    }

    fn get(&self) -> u64 {
        *self.0.lock().unwrap()
    }
}

/// Runs every future in `set` and returns their outputs (in completion order).
async fn all<T: 'static>(mut set: JoinSet<T>) -> Vec<T> {
    let mut out = Vec::new();
    while let Some(joined) = set.join_next().await {
        out.push(joined.expect("a request task did not panic"));
    }
    out
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if Instant::now() > deadline => {
                panic!("{what}: not within {within:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

// ---------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs ALERT_LEDGER_TEST_PG"]
async fn two_processes_on_one_postgres_database_agree_dedup_and_deliver_each_message_once() {
    let started = Instant::now();
    let db = TestDatabase::create().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let mut a = Instance::spawn("a", &db.url);
    let mut b = Instance::spawn("b", &db.url);
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    let api_a = Api {
        client: client.clone(),
        base: a.base.clone(),
    };
    let api_b = Api {
        client: client.clone(),
        base: b.base.clone(),
    };
    let apis = [api_a.clone(), api_b.clone()];
    let max = MaxPosition::default();
    let receiver = Receiver::start().await;
    let ready_at = started.elapsed();

    // Configuration through instance A; both must see the route before triggers read it.
    let channel =
        json!({ "id": "hook", "name": "hook channel", "kind": "webhook", "url": receiver.url });
    let created = max.see(&api_a.post("/v1/channels", channel).await);
    assert!(created.status < 300, "{created:?}");
    let routed = max.see(
        &api_a
            .post(
                &format!("/v1/services/{SERVICE}/route"),
                json!({ "channels": ["hook"] }),
            )
            .await,
    );
    assert!(routed.status < 300, "{routed:?}");
    for api in &apis {
        let seen = api
            .get(&format!("/v1/routing?min_position={}", max.get()))
            .await;
        assert_eq!(seen.status, 200, "{seen:?}");
    }

    // Syncs and tasks through both, so those views have something to agree on.
    let mut set = JoinSet::new();
    for n in 0..6 {
        let api = apis[n % 2].clone();
        let max = max.clone();
        set.spawn(async move {
            let sync = json!({ "id": format!("host-{n}"), "name": format!("host {n}") });
            let r = max.see(&api.post("/v1/syncs", sync).await);
            assert_eq!(r.status, 201, "{r:?}");
            let task = json!({
                "script": "/usr/local/bin/clean-disk",
                "args": ["--older-than", "7d"],
                "hosts": [format!("host-{n}")],
                "timeout_secs": 600,
            });
            let r = max.see(&api.post("/v1/tasks", task).await);
            assert_eq!(r.status, 201, "{r:?}");
        });
    }
    all(set).await;

    // Round 1: every key triggered REPEATS times, alternating instances, all at once.
    let mut set = JoinSet::new();
    for k in 0..KEYS {
        for r in 0..REPEATS {
            let api = apis[(k + r) % 2].clone();
            let max = max.clone();
            set.spawn(async move {
                let key = format!("key-{k}");
                let reply = max.see(&api.trigger(&key).await);
                assert!(matches!(reply.status, 200 | 201), "{reply:?}");
                (key, reply.status, reply.str("alert_id"))
            });
        }
    }
    let mut first: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (key, status, alert) in all(set).await {
        let entry = first.entry(key).or_default();
        entry.0 += usize::from(status == 201);
        entry.1.insert(alert);
    }
    for (key, (opened, alerts)) in &first {
        assert_eq!(*opened, 1, "{key}: exactly one trigger opened an alert");
        assert_eq!(alerts.len(), 1, "{key}: every repeat joined it: {alerts:?}");
    }
    let alert_of = |k: usize| first[&format!("key-{k}")].1.first().unwrap().clone();

    // Round 2, all at once: acknowledge the even keys through one instance, resolve every
    // third key through the other, and repeat-trigger the odd keys through both.
    let mut set = JoinSet::new();
    for k in 0..KEYS {
        let max = max.clone();
        let (here, there) = (apis[k % 2].clone(), apis[(k + 1) % 2].clone());
        let alert = alert_of(k);
        set.spawn(async move {
            if k % 2 == 0 {
                let r = max.see(
                    &here
                        .post_empty(&format!("/v1/alerts/{alert}/acknowledge"))
                        .await,
                );
                assert_eq!(r.status, 200, "{r:?}");
            } else {
                for api in [&here, &there] {
                    let r = max.see(&api.trigger(&format!("key-{k}")).await);
                    assert_eq!((r.status, r.str("alert_id")), (200, alert.clone()), "{r:?}");
                }
            }
            if k % 3 == 0 {
                let r = max.see(
                    &there
                        .post_empty(&format!("/v1/alerts/{alert}/resolve"))
                        .await,
                );
                assert_eq!(r.status, 200, "{r:?}");
            }
        });
    }
    all(set).await;

    // Round 3: a resolved key opens a new alert, once, although both instances try.
    let mut set = JoinSet::new();
    for k in (0..KEYS).filter(|k| k % 3 == 0) {
        for api in apis.clone() {
            let max = max.clone();
            set.spawn(async move {
                let reply = max.see(&api.trigger(&format!("key-{k}")).await);
                (k, reply.status, reply.str("alert_id"))
            });
        }
    }
    let mut reopened: BTreeMap<usize, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (k, status, alert) in all(set).await {
        assert!(matches!(status, 200 | 201), "key-{k}: {status}");
        let entry = reopened.entry(k).or_default();
        entry.0 += usize::from(status == 201);
        entry.1.insert(alert);
    }
    for (k, (opened, alerts)) in &reopened {
        assert_eq!(*opened, 1, "key-{k}: one new alert after the resolve");
        assert_eq!(alerts.len(), 1, "key-{k}: {alerts:?}");
        assert!(!alerts.contains(&alert_of(*k)), "key-{k}: a new alert");
    }

    // The burst: BURST concurrent triggers of one key, split across both instances.
    let mut set = JoinSet::new();
    for n in 0..BURST {
        let api = apis[n % 2].clone();
        let max = max.clone();
        set.spawn(async move {
            let reply = max.see(&api.trigger("burst").await);
            (reply.status, reply.str("alert_id"))
        });
    }
    let burst = all(set).await;
    let opened = burst.iter().filter(|(s, _)| *s == 201).count();
    let repeats = burst.iter().filter(|(s, _)| *s == 200).count();
    let ids: BTreeSet<&String> = burst.iter().map(|(_, id)| id).collect();
    assert_eq!((opened, repeats, ids.len()), (1, BURST - 1, 1), "{burst:?}");
    let burst_alert = ids.into_iter().next().unwrap().clone();
    for api in &apis {
        let row = api
            .get(&format!(
                "/v1/alerts/{burst_alert}?min_position={}",
                max.get()
            ))
            .await;
        assert_eq!(row.status, 200, "{row:?}");
        assert_eq!(row.body["repeat_count"], BURST as u64 - 1, "{row:?}");
    }
    let driven_at = started.elapsed();

    // Every message delivered (seen through A; the dispatchers keep appending until then).
    let messages = eventually(
        "every message delivered",
        Duration::from_secs(30),
        || async {
            let page = api_a
                .get(&format!(
                    "/v1/messages?limit=1000&min_position={}",
                    max.get()
                ))
                .await;
            let items = page.body["items"].as_array().cloned().unwrap_or_default();
            let pending: Vec<&Value> = items.iter().filter(|m| m["state"] != "delivered").collect();
            if page.status == 200 && !items.is_empty() && pending.is_empty() {
                Ok(items)
            } else {
                Err(format!(
                    "{} of {} not delivered: {pending:?}",
                    pending.len(),
                    items.len()
                ))
            }
        },
    )
    .await;
    let delivered_at = started.elapsed();

    // (a) Every view converges to the same JSON on both instances.
    let head = api_a.head().await.max(api_b.head().await).max(max.get());
    for view in [
        "/v1/alerts?limit=1000",
        "/v1/alarms",
        "/v1/messages?limit=1000",
        "/v1/syncs",
        "/v1/tasks",
    ] {
        eventually(
            &format!("{view} to agree"),
            Duration::from_secs(10),
            || async {
                let separator = if view.contains('?') { '&' } else { '?' };
                let path = format!("{view}{separator}min_position={head}");
                let (x, y) = (api_a.get(&path).await, api_b.get(&path).await);
                if x.status == 200 && y.status == 200 && x.body == y.body {
                    Ok(())
                } else {
                    Err(format!("A {x:?}\nB {y:?}"))
                }
            },
        )
        .await;
    }

    // (a') Each instance keeps its own Merkle tree file; both trees of the shared log
    // have the same root at the same size, and either one's proofs check against it.
    let path = format!("/v1/ledger/proof/consistency?from=1&to={head}");
    let (x, y) = (api_a.get(&path).await, api_b.get(&path).await);
    assert_eq!((x.status, y.status), (200, 200), "A {x:?}\nB {y:?}");
    assert_eq!(
        x.body["to_root"], y.body["to_root"],
        "the trees of one log agree"
    );
    let proof = api_b
        .get(&format!(
            "/v1/ledger/proof/inclusion?position={}&tree_size={head}",
            head / 2 + 1
        ))
        .await;
    assert_eq!(proof.body["root_hash"], x.body["to_root"], "{proof:?}");

    // (b) One open alert per key, and exactly the alerts the triggers reported.
    let alerts = api_a
        .get(&format!("/v1/alerts?limit=1000&min_position={head}"))
        .await;
    let items = alerts.body["items"].as_array().expect("alerts").clone();
    assert!(alerts.body["next_cursor"].is_null(), "one page: {alerts:?}");
    let mut open_per_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut all_per_key: BTreeMap<String, usize> = BTreeMap::new();
    for alert in &items {
        let key = alert["dedup_key"].as_str().expect("a dedup key").to_owned();
        *all_per_key.entry(key.clone()).or_default() += 1;
        if alert["status"] != "resolved" {
            *open_per_key.entry(key).or_default() += 1;
        }
    }
    assert!(open_per_key.values().all(|&n| n == 1), "{open_per_key:?}");
    assert_eq!(open_per_key.len(), KEYS + 1, "every key and the burst key");
    let expected_alerts = KEYS + reopened.len() + 1;
    assert_eq!(items.len(), expected_alerts, "{all_per_key:?}");

    // (c) Every message delivered exactly once.
    let counts = receiver.counts();
    let ids: BTreeSet<String> = messages
        .iter()
        .map(|m| m["id"].as_str().expect("a message id").to_owned())
        .collect();
    assert_eq!(ids.len(), messages.len(), "message ids are distinct");
    assert!(
        !counts.contains_key("<none>"),
        "every request names its message"
    );
    let twice: Vec<_> = counts.iter().filter(|(_, &n)| n != 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let got: BTreeSet<String> = counts.keys().cloned().collect();
    assert_eq!(
        got, ids,
        "the receiver got exactly the messages in the view"
    );
    // One claim won per message (the losing instance's claim was refused, not recorded).
    let mut claims_by: BTreeMap<String, usize> = BTreeMap::new();
    for (n, id) in ids.iter().enumerate() {
        let stream = apis[n % 2]
            .get(&format!("/v1/streams/message-{id}?limit=1000"))
            .await;
        let events = stream.body["events"]
            .as_array()
            .unwrap_or_else(|| panic!("a stream page: {stream:?}"));
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event"]["type"].as_str().expect("a typed event"))
            .collect();
        assert_eq!(
            types,
            ["message_claimed", "delivery_attempted", "message_delivered"],
            "message {id}"
        );
        let instance = events[0]["event"]["instance"].as_str().unwrap().to_owned();
        *claims_by.entry(instance).or_default() += 1;
    }
    let checked_at = started.elapsed();

    for instance in [&mut a, &mut b] {
        let status = instance.terminate().await;
        assert_eq!(
            status.code(),
            Some(0),
            "instance {} after SIGTERM: {status:?}: {}",
            instance.name,
            instance.stderr()
        );
    }
    drop(db);
    let _ = writeln!(
        std::io::stderr(),
        "instances: ready {ready_at:?}, driven {driven_at:?}, delivered {delivered_at:?} ({} messages, sent by {claims_by:?}; {} alerts), checked {checked_at:?}, done {:?}",
        messages.len(),
        items.len(),
        started.elapsed()
    );
}
