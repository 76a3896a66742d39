//! The views' fold alone (issue 18): the events of the HTTP mix (incidents with one
//! delivered message each, every sixth acknowledged and resolved) folded into a fresh
//! view file through its writer, in batches of a few sizes: small ones as when the
//! views keep up with the log, large ones as when they catch up. The write-ahead log
//! is checkpointed every second on another thread, as the service does.
//!
//! One thread folds, so its CPU time per event is the figure that matters (the
//! machine's other load moves it less than wall time); events per second of wall time
//! are reported beside it.

use crate::inproc;
use crate::report::{Row, Sample};
use alert_ledger::projection::sqlite::{ViewFile, Writer};
use projections::RecordedEvent;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Batch sizes folded: as the follower's batches are when it keeps up at a few
/// thousand operations per second, when it catches up, and its largest
/// (`alert_ledger::projection::FOLLOW_BATCH`).
pub const BATCHES: [usize; 4] = [32, 1_024, 16_384, alert_ledger::projection::FOLLOW_BATCH];

/// The calling thread's CPU time (user + system).
fn thread_cpu(ticks: f64) -> anyhow::Result<Duration> {
    let secs = crate::wrk::cpu_secs_in("/proc/thread-self/stat", ticks)?;
    Ok(Duration::from_secs_f64(secs))
}

/// A log of at least `events` events of the mix, read back in order.
async fn log(dir: &Path, events: u64) -> anyhow::Result<Vec<RecordedEvent>> {
    let store = inproc::open(dir).await?;
    crate::views::fill(store.clone(), events).await?;
    let mut out = Vec::new();
    let mut from = 1;
    loop {
        let page = store.read_all(from, 65_536).await?;
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        out.extend(page);
    }
    Ok(out)
}

/// Folds `events` into a fresh file in `dir` in batches of `batch`; returns wall time
/// and the folding thread's CPU time.
fn fold(
    dir: &Path,
    events: &[RecordedEvent],
    batch: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let ticks = crate::wrk::clock_ticks()?;
    let path = dir.join(format!("fold-{batch}.sqlite"));
    let mut writer = Writer::open(&path)?;
    let file = Arc::new(ViewFile::new(path));
    let done = Arc::new(AtomicBool::new(false));
    let checkpointer = {
        let (file, done) = (file.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                let _ = file.checkpoint();
            }
        })
    };
    let timed = (|| {
        let (started, cpu) = (Instant::now(), thread_cpu(ticks)?);
        for chunk in events.chunks(batch) {
            writer.apply(chunk)?;
        }
        Ok((started.elapsed(), thread_cpu(ticks)?.saturating_sub(cpu)))
    })();
    // Stopped on every path, so a failed fold does not leave the thread checkpointing.
    done.store(true, Ordering::Relaxed);
    let _ = checkpointer.join();
    timed
}

/// Runs the suite on a log of `events` events, `repeats` times per batch size.
pub async fn run(dir: &Path, events: u64, repeats: usize) -> anyhow::Result<Vec<Row>> {
    let work = tempfile::tempdir_in(dir)?;
    let log = log(&work.path().join("log"), events).await?;
    let n = log.len() as f64;
    eprintln!("fold: {} events of the mix", log.len());
    let log = Arc::new(log);
    let mut rows = Vec::new();
    for batch in BATCHES {
        let (mut rates, mut cpus) = (Vec::new(), Vec::new());
        for repeat in 0..repeats.max(1) {
            let (dir, log) = (work.path().join(format!("r{repeat}")), log.clone());
            std::fs::create_dir_all(&dir)?;
            let (wall, cpu) =
                tokio::task::spawn_blocking(move || fold(&dir, &log, batch)).await??;
            eprintln!(
                "  batches of {batch}: {:.0} events/s, {:.2} µs CPU per event",
                n / wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e6 / n
            );
            rates.push(sample(n / wall.as_secs_f64()));
            cpus.push(sample(cpu.as_secs_f64() * 1e6 / n));
        }
        rows.push(Row::ledger(
            format!(
                "views fold, batches of {batch} ({} events of the mix)",
                log.len()
            ),
            "events/s",
            &rates,
        ));
        rows.push(Row::ledger(
            format!("views fold CPU per event, batches of {batch} (the folding thread)"),
            "µs",
            &cpus,
        ));
    }
    Ok(rows)
}

fn sample(value: f64) -> Sample {
    Sample {
        value,
        ..Sample::default()
    }
}
