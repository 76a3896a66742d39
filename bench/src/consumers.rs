//! A durable consumer group under load, with a member killed and the server restarted:
//! the service on the embedded store in this process, appends straight into its store
//! at a fixed rate, and four members that are real `alert-ledger tail --group`
//! processes (the binary next to this one). One member is SIGKILLed a third of the way
//! in; the service is stopped and started again on the same data directory at two
//! thirds. After the load, the members run until the group's lag is zero.
//!
//! What it reports, from the members' output and from the ledger itself:
//! - every event of the group's filter delivered at least once (`missing` must be 0);
//! - every such event acknowledged exactly once: covered by exactly one
//!   `consumer_acked` range, recorded by a member that had printed it;
//! - how many deliveries were repeats (at least once: the killed member's unacknowledged
//!   page, and pages in flight across the restart).

use crate::dataset;
use crate::ledger::Server;
use crate::soak::free_port;
use alert_ledger::store::{EventStore, ExpectedVersion};
use anyhow::Context;
use projections::{category, Event, Position};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The group the run creates.
const GROUP: &str = "bench";
/// Members, each an `alert-ledger tail --group` process.
const MEMBERS: usize = 4;

/// What the run found.
#[derive(Debug, serde::Serialize)]
pub struct GroupRun {
    /// Events appended (all in the group's filter).
    pub appended: u64,
    /// Appends per second achieved over the load.
    pub rate: f64,
    /// Events of the filter in the log.
    pub expected: u64,
    /// Deliveries printed by the members, repeats included.
    pub deliveries: u64,
    /// Deliveries of an event a member had printed before, or another member had.
    pub repeats: u64,
    /// Events of the filter no member printed.
    pub missing: u64,
    /// Events covered by exactly one acknowledgement, by a member that printed them.
    pub acked_once: u64,
    /// Events covered by no acknowledgement.
    pub not_acked: u64,
    /// Events covered by an acknowledgement of a member that never printed them.
    pub acked_unseen: u64,
    /// `consumer_acked` events written.
    pub ack_events: u64,
    /// Seconds from the end of the load until the group's lag was zero.
    pub drain_secs: f64,
    /// Seconds the service was down for its restart (no appends meanwhile; `rate`
    /// averages over them).
    pub restart_secs: f64,
}

/// One member process and what it printed (position, stream).
struct Member {
    name: String,
    child: Child,
    printed: Arc<Mutex<Vec<Position>>>,
}

impl Member {
    fn start(tail: &std::path::Path, server: &str, name: &str) -> anyhow::Result<Member> {
        let mut child = Command::new(tail)
            .args([
                "tail", "--server", server, "--group", GROUP, "--member", name,
            ])
            .arg("--json")
            .env_remove("ALERT_LEDGER_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", tail.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let printed = Arc::new(Mutex::new(Vec::new()));
        let sink = printed.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(position) = position_of(&line) {
                    sink.lock().expect("printed").push(position);
                }
            }
        });
        Ok(Member {
            name: name.to_owned(),
            child,
            printed,
        })
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `position` of a printed recorded event, without a full parse.
fn position_of(line: &str) -> Option<Position> {
    const FIELD: &str = "\"position\":";
    let start = line.find(FIELD)? + FIELD.len();
    let digits: String = line[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The store the appender writes to; `None` while the service restarts.
type StoreSlot = Arc<RwLock<Option<Arc<dyn EventStore>>>>;

/// Appends one-event triggers at `rate` per second until `stop`, to whatever store the
/// slot holds (waiting while it holds none; an append the closing store refuses is
/// not counted).
async fn append_at(slot: StoreSlot, rate: u64, stop: Instant, appended: Arc<AtomicU64>) {
    let per_tick = (rate / 100).max(1);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let next = AtomicU64::new(0);
    while Instant::now() < stop {
        tick.tick().await;
        let Some(store) = slot.read().expect("slot").clone() else {
            continue;
        };
        let appends = (0..per_tick).map(|_| {
            let (stream, events) = dataset::one_trigger(17, next.fetch_add(1, Ordering::Relaxed));
            let store = store.clone();
            async move { store.append(&stream, ExpectedVersion::Any, events).await }
        });
        for result in futures_util::future::join_all(appends).await {
            if result.is_ok() {
                appended.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The run: `rate` appends per second for `duration`.
pub async fn run(rate: u64, duration: Duration) -> anyhow::Result<GroupRun> {
    let tail = std::env::current_exe()?.with_file_name("alert-ledger");
    anyhow::ensure!(
        tail.exists(),
        "{} not found: build it beside the bench (cargo build --release --bin alert-ledger)",
        tail.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("alert-ledger-group-")
        .tempdir()?;
    let data_dir = dir.path().join("data");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let mut server = Some(Server::start_at(&data_dir, listen)?);
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let body = serde_json::json!({"name": GROUP, "category": "alert", "partitions": 16, "member_timeout_secs": 2});
    let created = client
        .post(format!("{base}/v1/consumers"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        created.status() == 201,
        "creating the group: {}",
        created.status()
    );

    let mut members: Vec<Member> = (0..MEMBERS)
        .map(|i| Member::start(&tail, &base, &format!("member-{i}")))
        .collect::<anyhow::Result<_>>()?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let slot: StoreSlot = Arc::new(RwLock::new(server.as_ref().map(|s| s.store.clone())));
    let appended = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let stop = started + duration;
    let load = tokio::spawn(append_at(slot.clone(), rate, stop, appended.clone()));

    tokio::time::sleep(duration / 3).await;
    eprintln!("consumer group: SIGKILL {}", members[0].name);
    members[0].kill();
    tokio::time::sleep(duration / 3).await;
    eprintln!("consumer group: restarting the service");
    *slot.write().expect("slot") = None;
    let restart_began = Instant::now();
    let stopping = server.take();
    tokio::task::spawn_blocking(move || drop(stopping)).await?;
    let restarted = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || Server::start_at(&data_dir, listen)
    })
    .await??;
    *slot.write().expect("slot") = Some(restarted.store.clone());
    let restart_secs = restart_began.elapsed().as_secs_f64();
    server = Some(restarted);
    load.await?;
    let load_secs = started.elapsed().as_secs_f64();

    let drained_at = Instant::now();
    let deadline = drained_at + Duration::from_secs(120);
    loop {
        let group: serde_json::Value = client
            .get(format!("{base}/v1/consumers/{GROUP}"))
            .send()
            .await?
            .json()
            .await?;
        if group["lag"].as_u64() == Some(0) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the group never drained: {group}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_secs = drained_at.elapsed().as_secs_f64();
    for member in &mut members {
        member.kill();
    }
    let store = server.as_ref().context("the service runs")?.store.clone();
    let outcome = count(&store, &members, appended.load(Ordering::Relaxed)).await?;
    drop(server);
    Ok(GroupRun {
        rate: outcome.appended as f64 / load_secs,
        drain_secs,
        restart_secs,
        ..outcome
    })
}

/// Compares what the members printed with the log and the group's acknowledgements.
async fn count(
    store: &Arc<dyn EventStore>,
    members: &[Member],
    appended: u64,
) -> anyhow::Result<GroupRun> {
    let mut partition_of: BTreeMap<Position, u16> = BTreeMap::new();
    let mut acks: Vec<(String, u16, Position, Position)> = Vec::new();
    let mut checkpoints: HashMap<u16, Position> = HashMap::new();
    let mut ack_events = 0;
    let mut partitions = 1;
    let mut from = 1;
    loop {
        let page = store.read_all(from, 4096).await?;
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        for event in &page {
            match &event.event {
                Event::ConsumerGroupCreated {
                    partitions: p,
                    start_after,
                    ..
                } => {
                    partitions = *p;
                    checkpoints = (0..*p).map(|i| (i, *start_after)).collect();
                }
                Event::ConsumerAcked {
                    member,
                    checkpoints: moved,
                    ..
                } => {
                    ack_events += 1;
                    for c in moved {
                        let old = checkpoints.insert(c.partition, c.position).unwrap_or(0);
                        acks.push((member.to_string(), c.partition, old, c.position));
                    }
                }
                _ if category(&event.stream) == "alert" => {
                    let p = projections::views::consumers::partition(&event.stream, partitions);
                    partition_of.insert(event.position, p);
                }
                _ => {}
            }
        }
    }
    let mut printed_by: HashMap<Position, Vec<&str>> = HashMap::new();
    let mut deliveries = 0;
    for member in members {
        for &position in member.printed.lock().expect("printed").iter() {
            printed_by.entry(position).or_default().push(&member.name);
            deliveries += 1;
        }
    }
    let repeats = printed_by.values().map(|v| v.len() as u64 - 1).sum();
    let missing = partition_of
        .keys()
        .filter(|p| !printed_by.contains_key(p))
        .count() as u64;
    let (mut acked_once, mut not_acked, mut acked_unseen) = (0, 0, 0);
    for (&position, &partition) in &partition_of {
        let covering: Vec<&String> = acks
            .iter()
            .filter(|(_, p, old, new)| *p == partition && position > *old && position <= *new)
            .map(|(member, ..)| member)
            .collect();
        match covering.as_slice() {
            [] => not_acked += 1,
            [member] => {
                let seen = printed_by
                    .get(&position)
                    .is_some_and(|by| by.contains(&member.as_str()));
                if seen {
                    acked_once += 1;
                } else {
                    acked_unseen += 1;
                }
            }
            _ => anyhow::bail!("position {position} is covered by several acknowledgements"),
        }
    }
    Ok(GroupRun {
        appended,
        rate: 0.0,
        expected: partition_of.len() as u64,
        deliveries,
        repeats,
        missing,
        acked_once,
        not_acked,
        acked_unseen,
        ack_events,
        drain_secs: 0.0,
        restart_secs: 0.0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_position_is_read_from_a_printed_event() {
        let line = r#"{"event_id":"x","stream":"alert-1","stream_version":0,"position":4711,"recorded_at":"…"}"#;
        assert_eq!(super::position_of(line), Some(4711));
        assert_eq!(super::position_of("tail: retrying"), None);
    }
}
