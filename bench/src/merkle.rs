//! The Merkle tree (issue 21), in-process and through the CLI:
//! - durable batched append (16 appenders × 1,000 events per call) with the tree's
//!   follower running on the same store, against the same store without it, repeats
//!   alternating: the tree's overhead on appends;
//! - on a log of each `--events` size (default 10M): the tree built from the log
//!   (events/s), then inclusion and consistency proofs as the HTTP handlers build them
//!   (the audit path and root from the tree file, and for inclusion the stored record),
//!   p50/p99 over random positions and sizes;
//! - the same log copied with event 40 changed and every hash after it computed again
//!   (what an attacker with the code and the disk does), then `alert-ledger verify
//!   --digest` run as a process against it with the original tree file: wall time until
//!   it names position 40.

use crate::inproc;
use crate::report::{Row, Sample};
use alert_ledger::merkle::{tree, MerkleTree};
use alert_ledger::store::embedded::{EmbeddedOptions, EmbeddedStore};
use alert_ledger::store::EventStore;
use hdrhistogram::Histogram;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs the suite; `proofs` timed proofs of each kind per size.
pub async fn run(
    dir: &Path,
    sizes: &[u64],
    proofs: usize,
    repeats: usize,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = vec![append_overhead(dir, repeats).await?];
    for &size in sizes {
        rows.extend(at_size(dir, size, proofs).await?);
    }
    Ok(rows)
}

async fn append_overhead(dir: &Path, repeats: usize) -> anyhow::Result<Row> {
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for repeat in 0..repeats.max(3) {
        // Alternate which side goes first, so drift in the disk favours neither.
        for tree_on in [repeat % 2 == 0, repeat % 2 == 1] {
            let sample = batched_append(dir, tree_on, Duration::from_secs(8)).await?;
            eprintln!(
                "  batched append {} the tree: {:.0} events/s",
                if tree_on { "with" } else { "without" },
                sample.value
            );
            if tree_on {
                with.push(sample)
            } else {
                without.push(sample)
            }
        }
    }
    Ok(Row::compared(
        "durable batched append, 16 × 1,000 events/call, with the tree follower",
        "events/s",
        &with,
        &without,
    )
    .with_note("peer column: the same store without the tree follower, repeats alternating; ratio = with / without"))
}

async fn batched_append(base: &Path, tree_on: bool, duration: Duration) -> anyhow::Result<Sample> {
    let dir = tempfile::tempdir_in(base)?;
    let store = inproc::open(dir.path()).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = if tree_on {
        let tree = MerkleTree::open(&store, &dir.path().join("merkle.tree"))
            .await?
            .expect("the embedded store keeps a tree");
        Some((
            tree.clone(),
            tokio::spawn(tree::follow(tree, store.clone(), async move {
                let _ = stopped.await;
            })),
        ))
    } else {
        None
    };
    let sample = inproc::append_on(&store, 16, 1000, duration).await?;
    let _ = stop.send(());
    if let Some((tree, follower)) = follower {
        follower.await?;
        let head = store.head().await?.position;
        anyhow::ensure!(
            tree.head().size == head,
            "the tree stopped at {} of {head}",
            tree.head().size
        );
    }
    store.close().await?;
    Ok(Sample {
        p50: None,
        p99: None,
        ..sample
    })
}

async fn at_size(base: &Path, size: u64, proofs: usize) -> anyhow::Result<Vec<Row>> {
    let work = tempfile::tempdir_in(base)?;
    let data = work.path().join("data");
    let store = inproc::open(&data).await?;
    let started = Instant::now();
    let head = crate::dataset::fill(store.clone(), size, 16).await?;
    eprintln!(
        "  log filled to {head} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let label = crate::suites::millions(head);
    let started = Instant::now();
    let tree = MerkleTree::open(&store, &data.join("merkle.tree"))
        .await?
        .expect("a tree");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let follower = tokio::spawn(tree::follow(tree.clone(), store.clone(), async move {
        let _ = stopped.await;
    }));
    let held = tree.wait_for(head, Duration::from_secs(3600)).await;
    let build_secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        held.size == head,
        "the tree reached {} of {head}",
        held.size
    );
    eprintln!("  tree built over {head} events in {build_secs:.1} s");
    let mut rows = vec![Row::ledger(
        format!("tree built from the log, {label} events"),
        "events/s",
        &[Sample {
            value: head as f64 / build_secs,
            ..Sample::default()
        }],
    )];
    let log = store.raw_log().await?.expect("raw records");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        1 + seed % bound
    };
    let mut inclusion = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for _ in 0..proofs {
        let position = next(head);
        let t = Instant::now();
        let path = tree.inclusion(position, head).await?;
        let root = tree.root_at(head).await?;
        let record = log.records_after(position - 1, 1).await?;
        inclusion.saturating_record(t.elapsed().as_micros().max(1) as u64);
        anyhow::ensure!(
            alert_ledger::merkle::proof::verify_inclusion(
                position - 1,
                head,
                &record[0].hash,
                &path,
                &root
            ),
            "the proof of {position} does not verify"
        );
    }
    let mut consistency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for _ in 0..proofs {
        let from = next(head);
        let t = Instant::now();
        let proof = tree.consistency(from, head).await?;
        let (first, second) = (tree.root_at(from).await?, tree.root_at(head).await?);
        consistency.saturating_record(t.elapsed().as_micros().max(1) as u64);
        anyhow::ensure!(
            alert_ledger::merkle::proof::verify_consistency(from, head, &first, &second, &proof),
            "the proof from {from} does not verify"
        );
    }
    let latency = |hist: &Histogram<u64>| Sample {
        value: hist.len() as f64,
        p50: Some(Duration::from_micros(hist.value_at_quantile(0.5))),
        p99: Some(Duration::from_micros(hist.value_at_quantile(0.99))),
    };
    rows.push(
        Row::ledger(format!("inclusion proof, {label} events"), "proofs", &[latency(&inclusion)])
            .with_note("audit path + root from the tree file + the stored record; random positions, tree of the whole log"),
    );
    rows.push(
        Row::ledger(
            format!("consistency proof, {label} events"),
            "proofs",
            &[latency(&consistency)],
        )
        .with_note("proof + both roots; random earlier sizes to the whole log"),
    );
    let digest =
        alert_ledger::merkle::digest::current(&store, Some(&tree), None, Duration::from_secs(5))
            .await?;
    let _ = stop.send(());
    follower.await?;
    drop(log);
    store.close().await?;
    rows.push(names_the_edit(work.path(), &data, &digest, &label).await?);
    Ok(rows)
}

/// Copies the log with event 40 changed and every later hash computed again, then times
/// `alert-ledger verify --digest` naming position 40 with the original tree file.
async fn names_the_edit(
    work: &Path,
    data: &Path,
    digest: &alert_ledger::merkle::Digest,
    label: &str,
) -> anyhow::Result<Row> {
    let tampered = work.join("tampered");
    let original = inproc::open(data).await?;
    let copy = EmbeddedStore::open(EmbeddedOptions::new(&tampered))?;
    let started = Instant::now();
    let mut from = 1;
    loop {
        let mut page = original.read_all(from, 65_536).await?;
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        if from == 1 {
            page[39].metadata.actor = Some("mallory".into());
        }
        copy.import(page).await?;
        from = last + 1;
    }
    copy.close().await?;
    original.close().await?;
    eprintln!(
        "  tampered copy written in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let digest_file = work.join("digest.json");
    std::fs::write(&digest_file, serde_json::to_vec(digest)?)?;
    let binary = std::env::current_exe()?.with_file_name("alert-ledger");
    let mut samples = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let out = tokio::process::Command::new(&binary)
            .arg("verify")
            .arg("--data-dir")
            .arg(&tampered)
            .arg("--digest")
            .arg(&digest_file)
            .arg("--tree")
            .arg(data.join("merkle.tree"))
            .output()
            .await?;
        let secs = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stderr);
        anyhow::ensure!(
            text.contains("position 40 is the first event"),
            "verify did not name position 40: {text}"
        );
        eprintln!("  verify --digest named position 40 in {secs:.3} s");
        samples.push(Sample {
            value: secs,
            ..Sample::default()
        });
    }
    Ok(Row::ledger(
        format!("verify --digest names the edited position 40, {label} events"),
        "s",
        &samples,
    )
    .with_note("the alert-ledger process, start to exit, incl. opening the log; edit re-chained to the end"))
}
