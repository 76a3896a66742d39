//! The shared ring of encoded frames: subscribers that fall behind it read the log and
//! rejoin it, at any speed, with no gap and no duplicate; a stalled subscriber does
//! not hold up the others.

use crate::support::{spawn_with, SseReader, TestApp};
use std::time::Duration;

/// A ring of 16 KiB holds a few dozen frames, so every subscriber below crosses its
/// boundary many times.
const SMALL_RING: usize = 16 * 1024;

/// A ring that stops encoding 20 ms after the last look at it: subscribers cross idle
/// stretches (the ring empty at the head) as well as its boundary.
async fn idling_ring_app() -> TestApp {
    spawn_with(|config| {
        config.sse_ring_bytes = SMALL_RING;
        config.sse_ring_idle = Duration::from_millis(20);
    })
    .await
}

async fn small_ring_app() -> TestApp {
    spawn_with(|config| config.sse_ring_bytes = SMALL_RING).await
}

/// xorshift64*, seeded, so a failing case can be rerun.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Reads `count` ids, pausing between reads as `pauses` says (milliseconds, 0: none).
async fn read_with_pauses(mut reader: SseReader, count: usize, mut pauses: Rng) -> Vec<u64> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.push(reader.next_id().await);
        match pauses.below(40) {
            0 => tokio::time::sleep(Duration::from_millis(30 + pauses.below(120))).await,
            1..=3 => tokio::time::sleep(Duration::from_millis(pauses.below(5))).await,
            _ => {}
        }
    }
    ids
}

/// Asserts that each reader (started at its first position) read every event up to
/// `last` once, in order.
async fn each_read_all(
    readers: Vec<(u64, tokio::task::JoinHandle<Vec<u64>>)>,
    last: u64,
    what: &str,
) {
    for (first, reader) in readers {
        let ids = tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("every subscriber reads to the end")
            .expect("the reader task");
        assert_eq!(
            ids,
            (first..=last).collect::<Vec<u64>>(),
            "a subscriber from {first} ({what})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_at_random_speeds_cross_the_ring_both_ways_without_gap_or_duplicate() {
    let seed = std::env::var("ALERT_LEDGER_RING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_4a11);
    eprintln!("ring property seed {seed} (ALERT_LEDGER_RING_SEED)");
    let app = small_ring_app().await;
    app.append_notes("alert-before", 300).await;
    let total = 300 + 40 * 30;
    let mut readers = Vec::new();
    for i in 0..6u64 {
        let from = match i % 3 {
            0 => "from=1".to_owned(),
            1 => format!("from={}", 150 + i),
            _ => "from=end".to_owned(),
        };
        let first = match i % 3 {
            0 => 1,
            1 => 150 + i,
            _ => 301,
        };
        let reader = app.subscribe(&from, &[]).await;
        let count = (total - first + 1) as usize;
        let pauses = Rng(seed ^ (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        readers.push((first, tokio::spawn(read_with_pauses(reader, count, pauses))));
    }
    for _ in 0..40 {
        app.append_notes("alert-live", 30).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    each_read_all(readers, total, &format!("seed {seed}")).await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_subscriber_does_not_hold_up_the_others() {
    let app = small_ring_app().await;
    let mut stalled = app.subscribe("from=1", &[]).await;
    let mut live = app.subscribe("from=1", &[]).await;
    app.append_notes("alert-a", 1).await;
    assert_eq!(stalled.next_id().await, 1);
    let (ids, last) = tokio::join!(live.ids(2_000), app.append_notes("alert-a", 1_999));
    assert_eq!(last, 2_000);
    assert_eq!(ids, (1..=2_000).collect::<Vec<u64>>());
    let rest = tokio::time::timeout(Duration::from_secs(30), stalled.ids(1_999))
        .await
        .expect("the stalled subscriber catches up from the log");
    assert_eq!(rest, (2..=2_000).collect::<Vec<u64>>());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscribers_of_a_ring_nobody_read_for_a_while_miss_nothing() {
    let app = idling_ring_app().await;
    app.append_notes("alert-unread", 50).await;
    // Nobody looks: the ring goes idle and passes the next events unencoded.
    tokio::time::sleep(Duration::from_millis(60)).await;
    app.append_notes("alert-unread", 50).await;
    let from_start = app.subscribe("from=1", &[]).await;
    let from_end = app.subscribe("from=end", &[]).await;
    let readers = [
        (1, tokio::spawn(read_with_pauses(from_start, 400, Rng(7)))),
        (101, tokio::spawn(read_with_pauses(from_end, 300, Rng(11)))),
    ];
    for round in 0..10 {
        app.append_notes("alert-live", 30).await;
        // Every other round, long enough for the ring to go idle between looks.
        let pause = if round % 2 == 0 { 60 } else { 2 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    each_read_all(readers.into(), 400, "across idle stretches").await;
    app.stop().await.unwrap();
}
