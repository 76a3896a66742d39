//! The service under SIGKILL (issue #9): `alert-ledger serve` (the compiled binary) is
//! driven over HTTP by concurrent triggers, repeats, acknowledgements, resolves and
//! notes, killed with SIGKILL at a random moment, and restarted, cycle after cycle.
//! Every 2xx answer is recorded as an acknowledged write. At the end:
//!
//! - every acknowledged write shows in the views after the last restart (the alert
//!   exists, repeats and notes are counted at least as often as they were
//!   acknowledged, an acknowledged ack or resolve is reflected in its status);
//! - every acknowledged position is at or below the head;
//! - `/readyz` turned 200 after every restart;
//! - `alert-ledger verify` passes on the data directory;
//! - with 1 MiB segments the log rolls over several times, so kills also land while
//!   sealed segments' index files are written, and index files exist at the end;
//! - every batch of the views commits its rows and checkpoint together, so a kill
//!   (during a projection batch or not) leaves a view file that resumes where it was:
//!   after the first cycles every restart opens the file at a position above 0 and
//!   replays only the tail after it;
//! - the views served after the crashes (view file + tail) equal the views of a fresh
//!   replay of the whole log (a new view file);
//! - the Merkle tree file kept across the kills (synced once a second, cut back to its
//!   last sync at every start) gives the root of the log's chain hashes.
//!
//! Cycles: `ALERT_LEDGER_CRASH_CYCLES` (default 10, the CI mode; run with 500 on
//! demand, see docs/testing.md). The kill moment is random; the seed is printed and
//! can be fixed with `ALERT_LEDGER_CRASH_SEED`.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent HTTP clients per cycle.
const CLIENTS: usize = 6;
/// Services the clients spread their alerts over.
const SERVICES: [&str; 3] = ["checkout", "payments", "search"];

fn cycles() -> usize {
    std::env::var("ALERT_LEDGER_CRASH_CYCLES")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or(10)
}

/// A small xorshift generator: the test needs reproducible randomness, not quality.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the server acknowledged with a 2xx.
#[derive(Debug, Clone)]
enum Acked {
    /// A trigger; `repeat` when the answer was 200 (recorded on the open alert).
    Trigger {
        alert_id: String,
        repeat: bool,
        position: u64,
    },
    Acknowledge {
        alert_id: String,
        position: u64,
    },
    Resolve {
        alert_id: String,
        position: u64,
    },
    Note {
        alert_id: String,
        position: u64,
    },
}

impl Acked {
    fn position(&self) -> u64 {
        match self {
            Acked::Trigger { position, .. }
            | Acked::Acknowledge { position, .. }
            | Acked::Resolve { position, .. }
            | Acked::Note { position, .. } => *position,
        }
    }
}

// ---------------------------------------------------------------------------
// The server process

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

#[path = "support/binary.rs"]
mod support_binary;
use support_binary::{binary, free_port};

impl Server {
    fn spawn(data_dir: &Path, views_file: &Path, run: usize) -> Server {
        let port = free_port();
        let log = data_dir.join(format!("server-{run}.log"));
        let child = binary()
            .env("RUST_LOG", "warn")
            .args(["serve", "--data-dir"])
            .arg(data_dir.join("log"))
            .arg("--views-file")
            .arg(views_file)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--segment-size-mib", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("the binary starts");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200; panics (with the server's stderr) after 30 s.
    async fn wait_ready(&mut self, client: &reqwest::Client) -> Duration {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "server exited before ready ({status:?}):\n{}",
                    self.stderr()
                );
            }
            let reply = client.get(format!("{}/readyz", self.base)).send().await;
            if matches!(&reply, Ok(r) if r.status() == StatusCode::OK) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "/readyz not 200 within 30 s:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL is sent");
        self.child.wait().expect("the killed server is reaped");
    }

    fn terminate(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "SIGTERM exit: {status:?}\n{}",
                    self.stderr()
                );
                return;
            }
            assert!(Instant::now() < deadline, "no exit 20 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// The load

/// Alerts a client may act on: (alert id, dedup key, service).
type Known = Arc<Mutex<Vec<(String, String, &'static str)>>>;

async fn drive(
    client: reqwest::Client,
    base: String,
    mut rng: Rng,
    tag: String,
    known: Known,
    acked: Arc<Mutex<Vec<Acked>>>,
) {
    for step in 0u64.. {
        let pick = {
            let known = known.lock().unwrap();
            (!known.is_empty()).then(|| known[rng.below(known.len() as u64) as usize].clone())
        };
        let roll = rng.below(10);
        let (path, body) = match (&pick, roll) {
            (Some((_, key, service)), 0..=2) => (
                "/v1/alerts".to_owned(),
                json!({ "service": service, "dedup_key": key, "summary": "again", "severity": "error" }),
            ),
            (Some((id, _, _)), 3) => (format!("/v1/alerts/{id}/acknowledge"), json!({})),
            (Some((id, _, _)), 4) => (format!("/v1/alerts/{id}/resolve"), json!({})),
            (Some((id, _, _)), 5) => (
                format!("/v1/alerts/{id}/notes"),
                json!({ "text": format!("note {tag}-{step}") }),
            ),
            _ => {
                let service = SERVICES[rng.below(SERVICES.len() as u64) as usize];
                let severity = ["critical", "error", "warning", "info"][rng.below(4) as usize];
                (
                    "/v1/alerts".to_owned(),
                    json!({
                        "service": service,
                        "dedup_key": format!("{tag}-{step}"),
                        "summary": format!("{service} {tag}-{step} is failing"),
                        "severity": severity,
                    }),
                )
            }
        };
        let Ok(reply) = client
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
        else {
            return; // the server is gone: this cycle's load ends
        };
        let status = reply.status();
        let Ok(answer) = reply.json::<Value>().await else {
            return; // killed while answering: not acknowledged
        };
        if !status.is_success() {
            // 409/422 (e.g. acknowledging a resolved alert) are refusals, not writes.
            assert!(
                status.is_client_error(),
                "{path} answered {status}: {answer}"
            );
            continue;
        }
        let position = answer["position"].as_u64().expect("a position");
        let alert_id = answer["alert_id"].as_str().unwrap_or_default().to_owned();
        let record = if path == "/v1/alerts" {
            if status == StatusCode::CREATED {
                let key = body["dedup_key"].as_str().unwrap().to_owned();
                let service = SERVICES
                    .iter()
                    .find(|s| **s == body["service"].as_str().unwrap())
                    .unwrap();
                known.lock().unwrap().push((alert_id.clone(), key, service));
            }
            Acked::Trigger {
                alert_id,
                repeat: status == StatusCode::OK,
                position,
            }
        } else if path.ends_with("/acknowledge") {
            if answer["changed"] == json!(false) {
                continue;
            }
            Acked::Acknowledge { alert_id, position }
        } else if path.ends_with("/resolve") {
            if answer["changed"] == json!(false) {
                continue;
            }
            Acked::Resolve { alert_id, position }
        } else {
            Acked::Note { alert_id, position }
        };
        acked.lock().unwrap().push(record);
    }
}

// ---------------------------------------------------------------------------
// Reading the views

async fn get(client: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    let reply = client.get(url).send().await.expect("GET is answered");
    let status = reply.status();
    (status, reply.json().await.expect("a JSON body"))
}

/// Every page of a list route, concatenated.
async fn all_pages(client: &reqwest::Client, base: &str, route: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}{route}?limit=500&cursor={c}"),
            None => format!("{base}{route}?limit=500"),
        };
        let (status, page) = get(client, &url).await;
        assert_eq!(status, StatusCode::OK, "{route}: {page}");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// The views a user reads: alerts, alarms, messages, tasks, syncs.
async fn views(client: &reqwest::Client, base: &str) -> BTreeMap<&'static str, Value> {
    let mut views = BTreeMap::new();
    for route in ["/v1/alerts", "/v1/messages"] {
        views.insert(route, Value::Array(all_pages(client, base, route).await));
    }
    for route in ["/v1/alarms", "/v1/tasks", "/v1/syncs", "/v1/routing"] {
        let (status, body) = get(client, &format!("{base}{route}")).await;
        assert_eq!(status, StatusCode::OK, "{route}: {body}");
        views.insert(route, body);
    }
    views
}

fn head(views_alerts: &Value) -> usize {
    views_alerts.as_array().map_or(0, Vec::len)
}

// ---------------------------------------------------------------------------
// The test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill_cycles() {
    let cycles = cycles();
    let seed = std::env::var("ALERT_LEDGER_CRASH_SEED")
        .ok()
        .and_then(|raw| raw.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash loop: {cycles} cycles, seed {seed} (ALERT_LEDGER_CRASH_SEED)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let views_file = dir.path().join("views.sqlite3");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let known: Known = Arc::default();
    let mut slowest_ready = Duration::ZERO;
    // (position the view file was opened at, events replayed after it) per restart.
    let mut resumed = Vec::new();

    for cycle in 0..cycles {
        let mut server = Server::spawn(dir.path(), &views_file, cycle);
        slowest_ready = slowest_ready.max(server.wait_ready(&client).await);
        resumed.push(resumed_from(&client, &server.base).await);
        let load: Vec<_> = (0..CLIENTS)
            .map(|n| {
                tokio::spawn(drive(
                    client.clone(),
                    server.base.clone(),
                    Rng(rng.next() | 1),
                    format!("c{cycle}n{n}"),
                    known.clone(),
                    acked.clone(),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50 + rng.below(700))).await;
        tokio::task::spawn_blocking(move || server.kill())
            .await
            .unwrap();
        for task in load {
            task.await.expect("a load task did not panic");
        }
    }

    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= cycles,
        "too little load to prove anything: {} acknowledged writes",
        acked.len()
    );
    let mut server = Server::spawn(dir.path(), &views_file, cycles);
    slowest_ready = slowest_ready.max(server.wait_ready(&client).await);
    resumed.push(resumed_from(&client, &server.base).await);

    // Every acknowledged write is reflected in the views.
    let head_reply = client
        .get(format!("{}/v1/ledger/digest", server.base))
        .send()
        .await
        .unwrap();
    let head_position: u64 = head_reply
        .headers()
        .get("x-ledger-position")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("X-Ledger-Position on the digest");
    let mut repeats: HashMap<&str, u64> = HashMap::new();
    let mut notes: HashMap<&str, u64> = HashMap::new();
    let mut acknowledged: HashMap<&str, ()> = HashMap::new();
    let mut resolved: HashMap<&str, ()> = HashMap::new();
    let mut alerts: Vec<&str> = Vec::new();
    for write in &acked {
        assert!(
            write.position() <= head_position,
            "acknowledged at {} but the head is {head_position}: {write:?}",
            write.position()
        );
        match write {
            Acked::Trigger {
                alert_id, repeat, ..
            } => {
                alerts.push(alert_id);
                if *repeat {
                    *repeats.entry(alert_id).or_default() += 1;
                }
            }
            Acked::Acknowledge { alert_id, .. } => {
                acknowledged.insert(alert_id, ());
            }
            Acked::Resolve { alert_id, .. } => {
                resolved.insert(alert_id, ());
            }
            Acked::Note { alert_id, .. } => *notes.entry(alert_id).or_default() += 1,
        }
    }
    alerts.sort_unstable();
    alerts.dedup();
    for alert_id in &alerts {
        let (status, alert) = get(&client, &format!("{}/v1/alerts/{alert_id}", server.base)).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "acknowledged alert {alert_id} is missing"
        );
        let repeat_count = alert["repeat_count"].as_u64().unwrap();
        let want = repeats.get(alert_id).copied().unwrap_or(0);
        assert!(
            repeat_count >= want,
            "{alert_id}: {want} repeats acknowledged, {repeat_count} in the view"
        );
        let note_count = alert["note_count"].as_u64().unwrap();
        let want = notes.get(alert_id).copied().unwrap_or(0);
        assert!(
            note_count >= want,
            "{alert_id}: {want} notes acknowledged, {note_count} in the view"
        );
        let status = alert["status"].as_str().unwrap();
        if resolved.contains_key(alert_id) {
            assert_eq!(status, "resolved", "{alert_id}: resolve acknowledged");
        } else if acknowledged.contains_key(alert_id) {
            assert!(
                status == "acknowledged" || status == "resolved",
                "{alert_id}: ack acknowledged, status {status}"
            );
        }
    }

    // The views after the crashes (view file + tail) equal a fresh replay.
    let served = views(&client, &server.base).await;
    // The Merkle tree kept across the kills is the tree of the log.
    let (tree_size, root) = tree_root(&client, &server.base).await;
    let recomputed = root_of_log(&client, &server.base, tree_size).await;
    assert_eq!(
        root, recomputed,
        "the tree after the crashes differs from the log's"
    );
    server.terminate();
    let fresh_views = dir.path().join("fresh-views.sqlite3");
    let mut fresh = Server::spawn(dir.path(), &fresh_views, cycles + 1);
    fresh.wait_ready(&client).await;
    let replayed = views(&client, &fresh.base).await;
    for (route, view) in &served {
        assert_eq!(
            view, &replayed[route],
            "{route} after the crashes differs from a fresh replay"
        );
    }
    fresh.terminate();

    // The chain verifies.
    let verify = binary()
        .env("RUST_LOG", "warn")
        .args(["verify", "--data-dir"])
        .arg(dir.path().join("log"))
        .output()
        .expect("verify runs");
    assert!(
        verify.status.success(),
        "verify failed: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    let log_files: Vec<String> = std::fs::read_dir(dir.path().join("log"))
        .expect("log dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let count = |ext: &str| log_files.iter().filter(|n| n.ends_with(ext)).count();
    let (segments, indexes) = (count(".seg"), count(".idx"));
    eprintln!("{segments} segments, {indexes} sealed segment index files after {cycles} kills");
    assert!(
        segments < 2 || indexes > 0,
        "{segments} segments but no index file: the kills never met a sealed segment"
    );

    // No service here ever shut down cleanly, yet every restart after the first
    // resumed from the view file: what start replays is the tail the killed run had
    // not projected, not the log.
    for (cycle, (opened_at, tail)) in resumed.iter().enumerate().skip(1) {
        assert!(
            *opened_at > 0 || *tail == 0,
            "restart {cycle} replayed the whole log: {resumed:?}"
        );
    }
    let longest_tail = resumed.iter().map(|(_, tail)| *tail).max().unwrap_or(0);
    eprintln!(
        "crash loop: {cycles} SIGKILL cycles, {} acknowledged writes ({} alerts, {} in the views), none lost; slowest /readyz {:?}; longest tail replayed at a restart {longest_tail} events; head {head_position}",
        acked.len(),
        alerts.len(),
        head(&served["/v1/alerts"]),
        slowest_ready
    );
}

/// Where a restarted service's view file was (`opened_at_position`) and how many
/// events it replayed after it to be ready.
/// The served digest's tree size and root.
async fn tree_root(client: &reqwest::Client, base: &str) -> (u64, String) {
    let (status, digest) = get(client, &format!("{base}/v1/ledger/digest")).await;
    assert_eq!(status, StatusCode::OK, "{digest}");
    let size = digest["tree_size"].as_u64().expect("a tree size");
    let root = digest["root_hash"].as_str().expect("a root").to_owned();
    (size, root)
}

/// The RFC 9162 root over the chain hashes of positions 1 to `size`, read from `$all`.
async fn root_of_log(client: &reqwest::Client, base: &str, size: u64) -> String {
    let mut tree = alert_ledger::merkle::proof::MemoryTree::default();
    while tree.size() < size {
        let url = format!("{base}/v1/events?from={}&limit=10000", tree.size() + 1);
        let (status, page) = get(client, &url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        for event in page["events"].as_array().expect("events") {
            if tree.size() < size {
                let hash = event["hash"].as_str().expect("a hash");
                tree.push(&projections::Hash::from_hex(hash).expect("hex"));
            }
        }
    }
    alert_ledger::merkle::proof::root(&tree, size)
        .expect("an in-memory tree")
        .to_hex()
}

async fn resumed_from(client: &reqwest::Client, base: &str) -> (u64, u64) {
    let (status, body) = get(client, &format!("{base}/v1/admin/projections")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let opened_at = body["view_file"]["opened_at_position"].as_u64().unwrap();
    let position = body["position"].as_u64().unwrap();
    (opened_at, position.saturating_sub(opened_at))
}
