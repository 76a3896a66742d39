//! Append throughput of the postgres backend with 1, 16 and 256 concurrent appenders
//! (one event per append, each appender on its own stream), and with 16 appenders
//! appending batches of 10 and 100 events per call (the issue #7 target: batched
//! append >= 20,000 events/s with 16 appenders), on a fresh database.
//!
//! `ALERT_LEDGER_TEST_PG=postgres://postgres@127.0.0.1:5432/postgres cargo bench --bench postgres_append`
//! Reports events/s and the mean appends per transaction (group commit); asserts
//! nothing.

use alert_ledger::store::postgres::PostgresStore;
use alert_ledger::store::{EventStore, ExpectedVersion, NewEvent};
use projections::ids::AlertId;
use projections::{Event, Metadata};
use std::time::{Duration, Instant};
use uuid::Uuid;

const RUN: Duration = Duration::from_secs(3);

fn note() -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event: Event::NoteAdded {
            alert_id: AlertId(Uuid::from_u128(7)),
            text: "x".repeat(120),
        },
        metadata: Metadata::default(),
    }
}

async fn admin(server: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(server, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client.batch_execute(sql).await
}

async fn measure(store: &PostgresStore, appenders: usize, per_call: usize) -> (f64, f64) {
    let batches_before = store.batches();
    let start = Instant::now();
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = format!("alert-bench{appenders}x{per_call}-{a}");
                let mut events = 0u64;
                while start.elapsed() < RUN {
                    let batch = (0..per_call).map(|_| note()).collect();
                    store
                        .append(&stream, ExpectedVersion::Any, batch)
                        .await
                        .expect("append");
                    events += per_call as u64;
                }
                events
            })
        })
        .collect();
    let mut events = 0;
    for task in tasks {
        events += task.await.expect("appender");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let batches = (store.batches() - batches_before).max(1);
    (events as f64 / elapsed, events as f64 / batches as f64)
}

#[tokio::main]
async fn main() {
    let Ok(server) = std::env::var("ALERT_LEDGER_TEST_PG") else {
        eprintln!("SKIPPED: ALERT_LEDGER_TEST_PG not set");
        return;
    };
    let name = format!("alert_ledger_bench_{}", Uuid::new_v4().simple());
    admin(&server, &format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, _) = server.rsplit_once('/').expect("URL with a database");
    let store = PostgresStore::connect(&format!("{base}/{name}"))
        .await
        .expect("connect");
    println!("appenders  events/append  events/s  events/transaction");
    for (appenders, per_call) in [(1, 1), (16, 1), (256, 1), (16, 10), (16, 100)] {
        let (rate, per_batch) = measure(&store, appenders, per_call).await;
        println!("{appenders:>9}  {per_call:>13}  {rate:>8.0}  {per_batch:>18.1}");
    }
    store.close().await.expect("close");
    admin(&server, &format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .expect("drop database");
}
