//! `alert-ledger-bench`: the ledger against a GoAlert-style PostgreSQL schema on one
//! machine in one run (issue #8), plus in-process figures of the library. Prints one
//! Markdown table and writes the same as JSON. See `docs/benchmarks.md`.
//!
//! # Layout
//! - [`mix`]: the incident workload and the closed-loop generator (HDR histograms).
//! - [`ledger`]: the service in-process on a temp dir, and its HTTP client.
//! - [`peer`]: the relational peer (tokio-postgres, one transaction per operation).
//! - [`dataset`]: realistic logs for the in-process figures, written via `decide_alert`.
//! - [`inproc`]: append, `$all` read, rebuild, startup and memory (child-process probe).
//! - [`store_probe`]: the open store alone (child process): memory, stream read p99, `$all`.
//! - [`sse`]: fan-out latency of `/v1/subscribe`.
//! - [`console`]: the web console's render time and trigger-to-board latency.
//! - [`soak`]: long mixed load with subscribers; memory, errors and p99 over time.
//! - [`suites`]: each sub-benchmark as table rows.
//! - [`report`]: medians, spread, Markdown and JSON.

#![forbid(unsafe_code)]

mod console;
mod consumers;
mod dataset;
mod fold;
mod inproc;
mod ledger;
mod merkle;
mod mix;
mod peer;
mod report;
mod soak;
mod sse;
mod store_probe;
mod suites;
mod views;
mod wrk;

/// The allocator `alert-ledger serve` uses (src/main.rs): the in-process service
/// must be measured as it runs, and glibc's malloc took ~20 % of this process's CPU
/// under the incident mix.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use report::{Machine, Report, Row};
use std::path::PathBuf;
use std::time::Instant;
use suites::Settings;

#[derive(Parser)]
#[command(
    version,
    about = "Benchmarks alert-ledger against a GoAlert-style PostgreSQL peer"
)]
struct Cli {
    #[command(subcommand)]
    suite: Option<Suite>,
    #[command(flatten)]
    options: Options,
}

#[derive(clap::Args, Clone)]
struct Options {
    /// Short durations and small logs (< 2 min): a smoke test, not figures to quote.
    #[arg(long, global = true)]
    quick: bool,
    /// Where the JSON result goes (default `$CARGO_TARGET_DIR/bench-results.json`,
    /// else `target/bench-results.json`).
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    /// PostgreSQL server for the peer; the bench creates and drops its own database.
    #[arg(
        long,
        global = true,
        env = "ALERT_LEDGER_BENCH_PG",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Seconds per HTTP load level (default 8, quick 1).
    #[arg(long, global = true)]
    http_secs: Option<u64>,
    /// Log sizes for read/rebuild/startup/memory, comma-separated (default
    /// 1000000; quick 100000).
    #[arg(long, global = true, value_delimiter = ',')]
    events: Option<Vec<u64>>,
    /// Appends per second during the SSE fan-out, comma-separated (default
    /// 1000,10000; quick 1000).
    #[arg(long, global = true, value_delimiter = ',')]
    sse_rates: Option<Vec<u64>>,
    /// Live subscribers during the SSE fan-out.
    #[arg(long, global = true, default_value_t = 100)]
    sse_subscribers: usize,
    /// Connection levels of the HTTP and `wrk` suites, comma-separated (default
    /// 1,16,64,256): `--levels 64` measures (or profiles) one level alone.
    #[arg(long, global = true, value_delimiter = ',')]
    levels: Option<Vec<usize>>,
    /// Repeats per measurement; the table shows the median (at least 3).
    #[arg(long, global = true, default_value_t = 3)]
    repeats: usize,
    /// Run the ledger of the HTTP suite on the postgres backend (`--pg-url`'s server,
    /// a fresh database per repeat) instead of the embedded store.
    #[arg(long, global = true)]
    ledger_on_postgres: bool,
    /// Directory for the logs the in-process figures write (pick the disk to measure).
    #[arg(long, global = true, env = "ALERT_LEDGER_BENCH_DIR")]
    dir: Option<PathBuf>,
}

#[derive(Subcommand, Clone)]
enum Suite {
    /// Everything below (the default).
    All,
    /// The incident mix over HTTP against the ledger and the peer at 1/16/64/256.
    Http,
    /// The peer alone at the same levels.
    Peer,
    /// The ledger alone at the same levels (to profile it without the peer).
    Ledger,
    /// Durable append at 1/16/256 single-event appenders, and batched.
    Append,
    /// `$all` read throughput.
    Read,
    /// Full rebuild (`replay_all`) throughput.
    Rebuild,
    /// Startup to ready with a snapshot at the head.
    Startup,
    /// Resident memory of the ready service per million events.
    Memory,
    /// Store open time with the sealed segments' index files, against the same log
    /// opened by scanning every segment (the format before index files).
    Open,
    /// SSE fan-out latency, 100 subscribers.
    Sse,
    /// Long mixed load with live subscribers (not part of `all`): resident memory at
    /// start and end, errors (must be 0), p99 per window. Fails on a broken promise.
    Soak {
        /// Seconds of load (default 600; quick 60).
        #[arg(long)]
        secs: Option<u64>,
        /// Closed-loop HTTP connections.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Live `/v1/subscribe` subscribers.
        #[arg(long, default_value_t = 10)]
        subscribers: usize,
        /// How many subscribers stop reading for the whole load (then catch up).
        #[arg(long, default_value_t = 0)]
        paused: usize,
    },
    /// A durable consumer group: 4 `alert-ledger tail --group` members at a fixed
    /// append rate, one member SIGKILLed and the service restarted (not part of `all`).
    /// Needs the `alert-ledger` binary beside this one.
    Consumers {
        /// Seconds of load (default 30; quick 12).
        #[arg(long)]
        secs: Option<u64>,
        /// Appends per second.
        #[arg(long, default_value_t = 10_000)]
        rate: u64,
    },
    /// (internal) The service the soak drives, in a child process.
    #[command(hide = true)]
    ServeChild {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        port: u16,
    },
    /// The view file against the in-memory views it replaced (not part of `all`):
    /// rebuild, startup, memory, `as_of`, filtered lists and search, on logs of
    /// `--events` (default 1000000,10000000; quick 100000) with 10,000 open alerts.
    Views {
        /// Timed reads per query kind.
        #[arg(long, default_value_t = 1000)]
        reads: usize,
    },
    /// The Merkle tree (not part of `all`): its overhead on durable batched append, then
    /// on logs of `--events` (default 10000000; quick 100000) the tree's build rate,
    /// inclusion and consistency proof latency, and `alert-ledger verify --digest`
    /// naming an edited position. Needs the `alert-ledger` binary beside this one.
    Merkle {
        /// Timed proofs of each kind per size.
        #[arg(long, default_value_t = 2000)]
        proofs: usize,
    },
    /// The web console (not part of `all`): render time of the board, the alert list,
    /// a search and the time-travel board with `--alerts` open alerts (default 10,000;
    /// quick 1,000), and trigger-to-board latency with the live stream connected, on an
    /// empty board, on the full one, and on the full one with `--watchers` more boards
    /// open. Repeats: `--repeats` (quick: 1).
    Console {
        /// Open alerts on the board (default 10000; quick 1000).
        #[arg(long)]
        alerts: Option<usize>,
        /// Timed requests per page, after 10 warm-up ones (default 200; quick 30).
        #[arg(long)]
        requests: Option<usize>,
        /// Probe triggers per trigger-to-board measurement (default 50; quick 10).
        #[arg(long)]
        triggers: Option<usize>,
        /// Other boards connected during a last trigger-to-board measurement, each
        /// fetching the board again on every frame (default 4; quick 2).
        #[arg(long)]
        watchers: Option<usize>,
        /// Milliseconds between probe triggers (default 100: faster than the page
        /// script's two fetches a second, so every fetch waits for its pace; above 500:
        /// a board that is quiet when each trigger comes).
        #[arg(long, default_value_t = 100)]
        spacing_ms: u64,
    },
    /// New triggers from `wrk` (an external process) against `alert-ledger serve` in its
    /// own process, with the service's CPU per trigger (needs wrk and the release
    /// binary: cargo build --release --bin alert-ledger).
    Wrk {
        /// Connection levels (the global `--levels`, when given, wins).
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        connections: Vec<usize>,
        /// Seconds of load per level and repeat (default 10; quick 2).
        #[arg(long)]
        secs: Option<u64>,
        /// wrk threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// The views' fold alone (not part of `all`): a log of `--events` events of the
    /// mix (default 300000; quick 30000) folded into a fresh view file in batches of
    /// 32, 1,024, 16,384 and 65,536 events; events/s and the folding thread's CPU per
    /// event.
    Fold,
    /// (internal) Folds a data dir's log into in-memory views; memory and decode time.
    #[command(hide = true)]
    ViewsOldProbe {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// (internal) Builds the service over a data dir and reports time and memory.
    #[command(hide = true)]
    Probe {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// (internal) Opens the store alone over a data dir: open time, memory, reads.
    #[command(hide = true)]
    StoreProbe {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

impl Suite {
    fn name(&self) -> &'static str {
        match self {
            Suite::All => "all",
            Suite::Http => "http",
            Suite::Peer => "peer",
            Suite::Ledger => "ledger",
            Suite::Append => "append",
            Suite::Read => "read",
            Suite::Rebuild => "rebuild",
            Suite::Startup => "startup",
            Suite::Memory => "memory",
            Suite::Open => "open",
            Suite::Sse => "sse",
            Suite::Soak { .. } => "soak",
            Suite::Consumers { .. } => "consumers",
            Suite::ServeChild { .. } => "serve-child",
            Suite::Probe { .. } => "probe",
            Suite::Views { .. } => "views",
            Suite::Merkle { .. } => "merkle",
            Suite::Console { .. } => "console",
            Suite::Wrk { .. } => "wrk",
            Suite::Fold => "fold",
            Suite::ViewsOldProbe { .. } => "views-old-probe",
            Suite::StoreProbe { .. } => "store-probe",
        }
    }
}

fn default_json() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("bench-results.json")
}

/// `--events`, else 100,000 in quick mode, else `full`.
fn sizes_or(options: &Options, full: &[u64]) -> Vec<u64> {
    options.events.clone().unwrap_or_else(|| {
        if options.quick {
            vec![100_000]
        } else {
            full.to_vec()
        }
    })
}

/// Runs one suite that is not part of `all`, prints its table and writes
/// `<suite>-results.json` (or `--json`).
fn run_suite(
    options: &Options,
    suite: &str,
    rows: impl FnOnce() -> anyhow::Result<Vec<Row>>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut machine = Machine::now();
    let rows = rows()?;
    machine.loadavg_end = report::loadavg();
    let report = Report {
        machine,
        mode: if options.quick { "quick" } else { "full" },
        suites: vec![suite.to_owned()],
        rows,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    print!("{}", report.markdown());
    let json = options
        .json
        .clone()
        .unwrap_or_else(|| default_json().with_file_name(format!("{suite}-results.json")));
    report.write_json(&json)?;
    eprintln!("wrote {}", json.display());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let suite = cli.suite.unwrap_or(Suite::All);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Suite::Probe { data_dir } = &suite {
        let probe = runtime.block_on(inproc::probe(data_dir))?;
        println!("{}", serde_json::to_string(&probe)?);
        return Ok(());
    }
    if let Suite::ViewsOldProbe { data_dir } = &suite {
        let probe = runtime.block_on(views::old_probe(data_dir))?;
        println!("{}", serde_json::to_string(&probe)?);
        return Ok(());
    }
    if let Suite::StoreProbe { data_dir } = &suite {
        let probe = runtime.block_on(store_probe::probe(data_dir))?;
        println!("{}", serde_json::to_string(&probe)?);
        return Ok(());
    }
    if let Suite::ServeChild { data_dir, port } = &suite {
        return runtime.block_on(soak::serve_child(data_dir, *port));
    }
    let options = cli.options;
    if let Suite::Soak {
        secs,
        connections,
        subscribers,
        paused,
    } = &suite
    {
        let default_secs = if options.quick { 60 } else { 600 };
        let settings = soak::SoakSettings {
            duration: std::time::Duration::from_secs(secs.unwrap_or(default_secs)),
            window: std::time::Duration::from_secs(if options.quick { 5 } else { 10 }),
            connections: *connections,
            subscribers: *subscribers,
            paused: *paused,
            json: options
                .json
                .unwrap_or_else(|| default_json().with_file_name("soak-results.json")),
        };
        return runtime.block_on(soak::run(&settings));
    }
    if let Suite::Consumers { secs, rate } = &suite {
        let default_secs = if options.quick { 12 } else { 30 };
        let duration = std::time::Duration::from_secs(secs.unwrap_or(default_secs));
        let run = runtime.block_on(consumers::run(*rate, duration))?;
        println!("{}", serde_json::to_string_pretty(&run)?);
        let json = options
            .json
            .unwrap_or_else(|| default_json().with_file_name("consumers-results.json"));
        std::fs::write(&json, serde_json::to_vec_pretty(&run)?)?;
        eprintln!("wrote {}", json.display());
        anyhow::ensure!(
            run.missing == 0 && run.not_acked == 0 && run.acked_unseen == 0,
            "a promise of the consumer group was broken"
        );
        return Ok(());
    }
    if let Suite::Fold = &suite {
        let events = match &options.events {
            Some(sizes) => sizes.first().copied().unwrap_or(300_000),
            None if options.quick => 30_000,
            None => 300_000,
        };
        let dir = options.dir.clone().unwrap_or_else(std::env::temp_dir);
        return run_suite(&options, "fold", || {
            runtime.block_on(fold::run(&dir, events, options.repeats))
        });
    }
    if let Suite::Merkle { proofs } = &suite {
        let sizes = sizes_or(&options, &[10_000_000]);
        let dir = options.dir.clone().unwrap_or_else(std::env::temp_dir);
        return run_suite(&options, "merkle", || {
            runtime.block_on(merkle::run(&dir, &sizes, *proofs, options.repeats))
        });
    }
    if let Suite::Console {
        alerts,
        requests,
        triggers,
        watchers,
        spacing_ms,
    } = &suite
    {
        let quick = options.quick;
        let pick = |given: Option<usize>, q: usize, full: usize| {
            given.unwrap_or(if quick { q } else { full })
        };
        let settings = console::ConsoleSettings {
            alerts: pick(*alerts, 1_000, 10_000),
            requests: pick(*requests, 30, 200),
            triggers: pick(*triggers, 10, 50),
            watchers: pick(*watchers, 2, 4),
            spacing: std::time::Duration::from_millis(*spacing_ms),
            repeats: if quick { 1 } else { options.repeats.max(1) },
        };
        let machine = Machine::now();
        eprintln!(
            "alert-ledger-bench console ({} mode) on {} cores; load average {}; {settings:?}",
            if quick { "quick" } else { "full" },
            machine.nproc,
            machine.loadavg_start
        );
        return run_suite(&options, "console", || {
            runtime.block_on(console::run(settings))
        });
    }
    if let Suite::Wrk {
        connections,
        secs,
        threads,
    } = &suite
    {
        let settings = wrk::WrkSettings {
            // The global `--levels` applies here too, as it does to the HTTP suites.
            connections: options
                .levels
                .clone()
                .unwrap_or_else(|| connections.clone()),
            secs: secs.unwrap_or(if options.quick { 2 } else { 10 }),
            threads: *threads,
            repeats: if options.quick {
                1
            } else {
                options.repeats.max(1)
            },
        };
        return run_suite(&options, "wrk", || runtime.block_on(wrk::run(settings)));
    }
    if let Suite::Views { reads } = &suite {
        let sizes = sizes_or(&options, &[1_000_000, 10_000_000]);
        let dir = options.dir.clone().unwrap_or_else(std::env::temp_dir);
        return run_suite(&options, "views", || {
            runtime.block_on(views::run(&dir, &sizes, *reads))
        });
    }
    anyhow::ensure!(options.repeats >= 1, "--repeats must be at least 1");
    let settings = Settings::new(&options);
    let started = Instant::now();
    let mut machine = Machine::now();
    eprintln!(
        "alert-ledger-bench {} ({} mode) on {} cores; load average {}",
        suite.name(),
        settings.mode,
        machine.nproc,
        machine.loadavg_start
    );
    let rows = runtime.block_on(suites::run(&settings, suite.name()))?;
    machine.loadavg_end = report::loadavg();
    let report = Report {
        machine,
        mode: settings.mode,
        suites: vec![suite.name().to_owned()],
        rows,
        wall_secs: started.elapsed().as_secs_f64(),
    };
    print!("{}", report.markdown());
    let json = options.json.unwrap_or_else(default_json);
    report.write_json(&json)?;
    eprintln!("wrote {}", json.display());
    Ok(())
}
