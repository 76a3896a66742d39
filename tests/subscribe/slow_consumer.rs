//! A subscriber that stops reading holds the server to one page of events and the
//! socket buffers: its backlog stays in the log, not in memory.

use crate::support::{new_event, note, spawn_alone_with, TestApp};
use alert_ledger::store::ExpectedVersion;
use std::time::{Duration, Instant};

const BACKLOG: u64 = 100_000;
const BATCH: u64 = 100;
/// Concurrent appenders, so group commit shortens the test.
const WRITERS: u64 = 4;
const MB: i64 = 1024 * 1024;

/// Anonymous resident memory of this process (client and server both: the heap, not
/// the log's file pages in the page cache), in bytes.
fn rss() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: i64 = status
        .lines()
        .find_map(|line| line.strip_prefix("RssAnon:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line");
    kb * 1024
}

/// Appends [`BACKLOG`] notes in batches of [`BATCH`], waits for the views to apply
/// them, and returns how much the RSS grew.
async fn rss_growth_of_backlog(app: &TestApp) -> i64 {
    let before = rss();
    let writers = (0..WRITERS).map(|_| {
        let store = app.store.clone();
        tokio::spawn(async move {
            let text = "x".repeat(120);
            let mut last = 0;
            for _ in 0..BACKLOG / BATCH / WRITERS {
                let events = (0..BATCH).map(|_| new_event(note(&text))).collect();
                let appended = store
                    .append("alert-bulk", ExpectedVersion::Any, events)
                    .await
                    .expect("the append succeeds");
                last = appended.last_position;
            }
            last
        })
    });
    let mut last = 0;
    for writer in writers.collect::<Vec<_>>() {
        last = last.max(writer.await.expect("the writer finishes"));
    }
    app.views
        .wait_for(last, Duration::from_secs(60))
        .await
        .expect("the views catch up");
    rss() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_subscriber_does_not_grow_server_memory_and_later_reads_everything_in_order() {
    let started = Instant::now();
    // The ring of encoded frames every subscriber shares fills once, whoever listens;
    // kept at 1 MiB here so the comparison below shows what a stalled subscriber adds.
    let app = spawn_alone_with(|config| config.sse_ring_bytes = 1024 * 1024).await;
    app.append("alert-bulk", vec![note("first")]).await;
    let mut reader = app.subscribe("from=1", &[]).await;
    assert_eq!(reader.event().await.0, 1);

    // The subscriber stops reading while the backlog is written.
    let stalled = rss_growth_of_backlog(&app).await;
    let stalled_done = started.elapsed();

    let bytes_before = reader.bytes;
    for expected in 2..=BACKLOG + 1 {
        let id = reader.next_id().await;
        assert_eq!(id, expected, "positions arrive in order without a gap");
    }
    let backlog_bytes = (reader.bytes - bytes_before) as i64;
    drop(reader);
    let read_done = started.elapsed();

    // Control: the same writes with nobody subscribed.
    let control = rss_growth_of_backlog(&app).await;
    let extra = stalled - control;
    eprintln!(
        "slow consumer: RSS growth with a stalled subscriber {:.1} MB, without {:.1} MB, \
         extra {:.1} MB; backlog on the wire {:.1} MB; timings: stalled phase {:.1}s, \
         read back {:.1}s, total {:.1}s",
        stalled as f64 / MB as f64,
        control as f64 / MB as f64,
        extra as f64 / MB as f64,
        backlog_bytes as f64 / MB as f64,
        stalled_done.as_secs_f64(),
        (read_done - stalled_done).as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    assert!(
        backlog_bytes > 30 * MB,
        "the backlog is large enough to show"
    );
    // Buffering the backlog would cost at least its wire size (58 MB here); the store
    // and views growing by 6-18 MB per phase make a few MB of noise, so the bound is
    // a third of the backlog rather than a few MB.
    assert!(
        extra < backlog_bytes / 3,
        "a stalled subscriber cost {extra} bytes for a {backlog_bytes}-byte backlog"
    );
}
