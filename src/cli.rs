//! The command line. Every flag can also come from an `ALERT_LEDGER_*` environment
//! variable. Errors end the process with one line on stderr and a non-zero exit.

pub mod proofs;
pub mod tail;
pub mod tail_group;

use crate::config::{ServeConfig, StoreLocation};
use crate::startup::{shutdown_signal, Application};
use crate::store::embedded::RecoveryMode;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// An append-only, tamper-evident ledger of alerts.
#[derive(Debug, Parser)]
#[command(name = "alert-ledger", version, about)]
struct Cli {
    /// Log output: `pretty` for people, `json` for collectors.
    #[arg(long, global = true, env = "ALERT_LEDGER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeArgs>),
    /// Check the hash chain of the log (and every record's CRC in an embedded log).
    Verify(VerifyArgs),
    /// Print the OpenAPI document the service serves at /openapi.json.
    Openapi,
    /// Write recorded events (envelopes and hashes included) as NDJSON.
    Export(ExportArgs),
    /// Read an export into an empty embedded log: same events, positions and hashes.
    Import(ImportArgs),
    /// Build a fresh view file from the whole log and rename it into place (offline:
    /// stop the service first); prints events/s and an ETA while it runs.
    Rebuild(RebuildArgs),
    /// Follow the log through /v1/subscribe, one line per event, reconnecting as needed.
    Tail(crate::cli::tail::TailArgs),
    /// Run this host's self-healing tasks: poll the service, run scripts, report results.
    Agent(crate::agent::AgentArgs),
    /// Create the Ed25519 key that signs digests and print its public key.
    Keygen(crate::cli::proofs::KeygenArgs),
    /// Fetch and save the digest, an inclusion proof (`--position`) or a consistency
    /// proof (`--from-digest`) from a running service.
    Prove(crate::cli::proofs::ProveArgs),
    /// Check a saved proof against saved digests, offline (no store, no server).
    CheckProof(crate::cli::proofs::CheckProofArgs),
}

/// Where the log is.
#[derive(Debug, Args)]
struct StoreArgs {
    /// Directory of the embedded log.
    #[arg(long, env = "ALERT_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// `embedded` (default) or a server URL.
    #[arg(long, env = "ALERT_LEDGER_STORE")]
    store: Option<String>,
    /// What to do with a damaged log. tolerate-torn-tail: move aside only a torn write
    /// that was never acknowledged, refuse to start on anything else; strict: refuse
    /// any damage; accept-data-loss: cut the log where acknowledged events are damaged
    /// or missing (or the view file's checkpoint disagrees with it), keep the cut bytes under cut/, and
    /// record the loss in the log.
    #[arg(
        long,
        env = "ALERT_LEDGER_RECOVERY",
        default_value = "tolerate-torn-tail"
    )]
    recovery: RecoveryMode,
    /// Size of each preallocated log segment, in MiB (applies to new segments).
    #[arg(long, env = "ALERT_LEDGER_SEGMENT_SIZE_MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    segment_size_mib: u64,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on. Non-loopback addresses require tokens.
    #[arg(long, env = "ALERT_LEDGER_LISTEN", default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// File of bearer tokens, one `role name token` per line.
    #[arg(long, env = "ALERT_LEDGER_TOKENS_FILE")]
    tokens_file: Option<PathBuf>,
    /// Tokens inline, `role name token` entries separated by `;`.
    #[arg(long, env = "ALERT_LEDGER_TOKENS", hide_env_values = true)]
    tokens: Option<String>,
    /// File of integration keys for the PagerDuty and GoAlert receivers, one
    /// `pagerduty|goalert key service` per line.
    #[arg(long, env = "ALERT_LEDGER_INTEGRATION_KEYS_FILE")]
    integration_keys_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, env = "ALERT_LEDGER_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Longest a read waits for `min_position`, in milliseconds.
    #[arg(long, env = "ALERT_LEDGER_READ_WAIT_MS", default_value_t = 5000)]
    read_wait_ms: u64,
    /// Idle seconds between `/v1/subscribe` heartbeat comments.
    #[arg(long, env = "ALERT_LEDGER_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    heartbeat_secs: u64,
    /// MiB of encoded `/v1/subscribe` frames kept in memory for live subscribers (one
    /// behind them reads the log instead).
    #[arg(long, env = "ALERT_LEDGER_SSE_RING_MIB", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=4096))]
    sse_ring_mib: u64,
    /// Seconds a client may take to send a request's headers (then the connection is
    /// closed: slow-loris protection).
    #[arg(long, env = "ALERT_LEDGER_HEADER_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_secs: u64,
    /// Seconds a client may take to send a request's body (then 408).
    #[arg(long, env = "ALERT_LEDGER_BODY_READ_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_secs: u64,
    /// The view file (default: `<data-dir>/views.sqlite3`). Disposable: delete it
    /// and the service rebuilds it from the log.
    #[arg(long, env = "ALERT_LEDGER_VIEWS_FILE")]
    views_file: Option<PathBuf>,
    /// The Ed25519 key that signs digests (64 hex characters; `alert-ledger keygen`
    /// makes one). Default: `<data-dir>/digest.key` if it exists; without one,
    /// digests are unsigned.
    #[arg(long, env = "ALERT_LEDGER_DIGEST_KEY")]
    digest_key: Option<PathBuf>,
    /// Publish a digest every `--publish-every-secs` outside the ledger: into this
    /// directory (one file per digest) or, for an `http(s)://` URL, as a POST.
    #[arg(long, env = "ALERT_LEDGER_PUBLISH_DIGESTS")]
    publish_digests: Option<String>,
    /// Seconds between published digests.
    #[arg(long, env = "ALERT_LEDGER_PUBLISH_EVERY_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    publish_every_secs: u64,
    #[command(flatten)]
    dispatch: crate::dispatch::DispatchArgs,
}

#[derive(Debug, Args)]
struct ExportArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// First position (inclusive).
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Last position (inclusive; default: the head).
    #[arg(long)]
    to: Option<u64>,
    /// Only this stream.
    #[arg(long, conflicts_with = "category")]
    stream: Option<String>,
    /// Only streams of this category (`alert`, `sync`, `task`, `message`).
    #[arg(long)]
    category: Option<String>,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The log to import into (empty, or ending where the input starts): the embedded
    /// log in `--data-dir`, or `--store postgres://…`.
    #[command(flatten)]
    store: StoreArgs,
    /// The NDJSON export (default: standard input).
    #[arg(long, short)]
    input: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct RebuildArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The view file to rebuild (default: `<data-dir>/views.sqlite3`).
    #[arg(long, env = "ALERT_LEDGER_VIEWS_FILE")]
    views_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Directory of the embedded log.
    #[arg(long, env = "ALERT_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// `embedded` (default: the log in `--data-dir`) or `postgres://…` (read only:
    /// nothing is created or changed in that database).
    #[arg(long, env = "ALERT_LEDGER_STORE")]
    store: Option<String>,
    /// A digest saved from `GET /v1/ledger/digest`: check that the record at its
    /// position is still the one it names, then verify only what came after it
    /// (incremental; with `--full`, walk the whole log and prove it still hashes to the
    /// digest).
    #[arg(long)]
    digest: Option<PathBuf>,
    /// With `--digest` carrying a tree: the Merkle tree file that matched the digest,
    /// used to name the first changed position (default: `<data-dir>/merkle.tree`; an
    /// auditor may keep a copy of their own).
    #[arg(long, requires = "digest")]
    tree: Option<PathBuf>,
    /// With `--digest`: verify every record from position 1, not only those after the
    /// digest.
    #[arg(long, requires = "digest")]
    full: bool,
    /// Check the view file instead of the log: read every page (`PRAGMA quick_check`)
    /// and its checkpoint. Safe while the service runs.
    #[arg(long, conflicts_with_all = ["digest", "full"])]
    views: bool,
    /// The view file `--views` checks (default: `<data-dir>/views.sqlite3`).
    #[arg(long, env = "ALERT_LEDGER_VIEWS_FILE", requires = "views")]
    views_file: Option<PathBuf>,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    // In the runtime's context: `shutdown_signal()` registers its handlers when called.
    let _context = runtime.enter();
    let outcome = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(*args)),
        Command::Verify(args) => runtime.block_on(verify(args)),
        Command::Openapi => print_openapi(),
        Command::Rebuild(args) => runtime.block_on(rebuild(args)),
        Command::Export(args) => runtime.block_on(export(args)),
        Command::Import(args) => runtime.block_on(import(args)),
        Command::Tail(args) => runtime.block_on(crate::cli::tail::run(args, shutdown_signal())),
        Command::Agent(args) => runtime.block_on(crate::agent::run(args, shutdown_signal())),
        Command::Keygen(args) => crate::cli::proofs::keygen(args),
        Command::Prove(args) => runtime.block_on(crate::cli::proofs::prove(args)),
        Command::CheckProof(args) => crate::cli::proofs::check_proof(args),
    };
    if let Err(err) = outcome {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = StoreLocation::parse(args.store.store.as_deref()).map_err(anyhow::Error::msg)?;
    let config = ServeConfig {
        listen: args.listen,
        data_dir: args.store.data_dir,
        store,
        recovery: args.store.recovery,
        tokens_file: args.tokens_file,
        tokens: args.tokens,
        integration_keys_file: args.integration_keys_file,
        body_limit: args.body_limit,
        read_wait: Duration::from_millis(args.read_wait_ms),
        segment_size: args.store.segment_size_mib * 1024 * 1024,
        heartbeat: Duration::from_secs(args.heartbeat_secs),
        sse_ring_bytes: args.sse_ring_mib as usize * 1024 * 1024,
        sse_ring_idle: crate::http::frames::IDLE_AFTER,
        views_file: args.views_file,
        views_bulk_build_from: crate::projection::BULK_BUILD_FROM,
        dispatch: args.dispatch.into_config(),
        digest_key: args.digest_key,
        publish_digests: args
            .publish_digests
            .as_deref()
            .map(crate::merkle::publish::Target::parse),
        publish_every: Duration::from_secs(args.publish_every_secs),
        file_system: None,
        timeouts: crate::http::serve::Timeouts {
            header_read: Duration::from_secs(args.header_read_timeout_secs),
            body_read: Duration::from_secs(args.body_read_timeout_secs),
        },
    };
    let app = Application::build(config).await?;
    app.run(shutdown_signal()).await
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: a file, a pipe or a journal gets
    // plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    use crate::store::verify::Target;
    use std::io::Write;
    if args.views {
        let file = args
            .views_file
            .unwrap_or_else(|| args.data_dir.join(crate::projection::VIEW_FILE));
        return verify_views(&file);
    }
    let location = StoreLocation::parse(args.store.as_deref()).map_err(anyhow::Error::msg)?;
    let target = match &args.digest {
        None => Target::Whole,
        Some(file) => {
            let (position, hash) = read_digest(file)?;
            let digest = crate::store::Head { position, hash };
            if args.full {
                Target::Digest(digest)
            } else {
                Target::After {
                    digest,
                    up_to: None,
                }
            }
        }
    };
    // With a digest that carries a tree, the first changed position is looked for
    // first (O(log n) reads); what stopped the search is said only if the walk fails.
    let mut bisect_note = None;
    let mut signed = None;
    if let Some(file) = &args.digest {
        let digest = crate::cli::proofs::read_digest(file)?;
        if digest.signature.is_some() {
            signed = Some(crate::cli::proofs::signer(&digest, "the digest", &[])?);
        }
        let tree_file = args
            .tree
            .clone()
            .unwrap_or_else(|| args.data_dir.join(crate::merkle::file::TREE_FILE));
        let started = std::time::Instant::now();
        match bisect(&location, &args.data_dir, &tree_file, &digest).await {
            Ok(Some((position, reads))) => anyhow::bail!(
                "verification failed: position {position} is the first event that is not the one the digest committed to (the digest's position {} no longer holds its hash; named with {reads} record reads in {:.3}s by bisecting the Merkle tree in {}, which matches the digest's root)",
                digest.position,
                started.elapsed().as_secs_f64(),
                tree_file.display()
            ),
            Ok(None) => {}
            Err(why) => bisect_note = Some(why),
        }
    }
    let started = std::time::Instant::now();
    let progress = |checked: u64| {
        eprint!("\rverifying: {checked} events checked");
        let _ = std::io::stderr().flush();
    };
    let (report, what) = match &location {
        StoreLocation::Embedded => {
            let dir = args.data_dir.clone();
            let report = tokio::task::spawn_blocking(move || {
                crate::store::verify::verify_segments(&dir, target, progress)
            })
            .await?;
            (report, None)
        }
        StoreLocation::Url(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let log = crate::store::postgres::PostgresStore::open_raw_log(url)
                .await
                .map_err(|err| anyhow::anyhow!("cannot read the postgres store: {err}"))?;
            let report = crate::store::verify::verify_raw_log(log.as_ref(), target, progress).await;
            (report, Some(format!("table {}", log.table())))
        }
        StoreLocation::Url(url) => anyhow::bail!(
            "cannot verify {url}: only the embedded store and postgres keep the hash chain this build checks"
        ),
    };
    eprintln!();
    let report = report.map_err(|failure| match &bisect_note {
        Some(why) => anyhow::anyhow!(
            "verification failed: {failure} (the first changed position could not be named from the Merkle tree: {why})"
        ),
        None => anyhow::anyhow!("verification failed: {failure}"),
    })?;
    let source = what.unwrap_or_else(|| format!("{} segments", report.segments));
    let range = if report.from_position > 1 {
        format!(
            " (positions {} to {}, from the digest on; --full checks every record)",
            report.from_position, report.head.position
        )
    } else {
        String::new()
    };
    println!(
        "ok: {} events{range} in {source} verified in {:.2}s; head position {} hash {}",
        report.events_checked,
        started.elapsed().as_secs_f64(),
        report.head.position,
        report.head.hash
    );
    if let Some(digest) = report.matched {
        println!(
            "digest matched: position {} hash {}",
            digest.position, digest.hash
        );
    }
    for loss in &report.losses {
        println!("{loss}");
    }
    if let Some(line) = signed {
        println!("{line}");
    }
    Ok(())
}

fn print_openapi() -> anyhow::Result<()> {
    let document = crate::http::openapi::document();
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let location = StoreLocation::parse(args.store.store.as_deref()).map_err(anyhow::Error::msg)?;
    let store = crate::startup::open_store(
        &location,
        &args.store.data_dir,
        args.store.recovery,
        args.store.segment_size_mib * 1024 * 1024,
    )
    .await?;
    let file = args
        .views_file
        .unwrap_or_else(|| args.store.data_dir.join(crate::projection::VIEW_FILE));
    let started = std::time::Instant::now();
    let mut last_print = std::time::Instant::now();
    let progress = move |position: u64, head: u64| {
        if last_print.elapsed().as_millis() >= 200 || position == head {
            last_print = std::time::Instant::now();
            let rate = position as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let percent = if head == 0 {
                100.0
            } else {
                position as f64 * 100.0 / head as f64
            };
            let eta = head.saturating_sub(position) as f64 / rate.max(1.0);
            eprint!("\rrebuild: {position} / {head} events ({percent:.0}%), {rate:.0} events/s, ETA {eta:.0} s   ");
            let _ = std::io::stderr().flush();
        }
    };
    let (events, failed) =
        crate::projection::rebuild::rebuild_offline(store.clone(), &file, progress).await?;
    eprintln!();
    let elapsed = started.elapsed().as_secs_f64();
    store.close().await?;
    println!(
        "rebuilt {events} events in {elapsed:.2}s ({:.0} events/s); events that did not fold: {failed}; views in {}",
        events as f64 / elapsed.max(1e-9),
        file.display()
    );
    Ok(())
}

/// `verify --views`: the view file's pages and checkpoint.
fn verify_views(file: &std::path::Path) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let checkpoint = crate::projection::sqlite::open::read_checkpoint(file)
        .map_err(|refused| anyhow::anyhow!("view file {}: {refused}", file.display()))?;
    crate::projection::health::quick_check(file).map_err(|detail| {
        anyhow::anyhow!(
            "view file {} failed its page check: {detail}; rebuild it (POST /v1/admin/projections/all/rebuild, or alert-ledger rebuild with the service stopped)",
            file.display()
        )
    })?;
    let at = checkpoint.map_or_else(
        || "no batch committed yet".to_owned(),
        |c| {
            format!(
                "checkpoint at position {} (view format {})",
                c.position, c.format
            )
        },
    );
    println!(
        "ok: view file {}: every page consistent, {at}; checked in {:.2}s (the service compares the checkpoint with the log's chain hash at every start)",
        file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads a saved digest's position and head hash.
fn read_digest(file: &std::path::Path) -> anyhow::Result<(u64, projections::Hash)> {
    let digest = crate::cli::proofs::read_digest(file)?;
    let hash = digest
        .head_hash()
        .map_err(|why| anyhow::anyhow!("digest {}: {why}", file.display()))?;
    Ok((digest.position, hash))
}

/// `verify --digest`'s first step: the first changed position, from the Merkle tree.
async fn bisect(
    location: &StoreLocation,
    data_dir: &std::path::Path,
    tree_file: &std::path::Path,
    digest: &crate::merkle::Digest,
) -> Result<Option<(u64, u32)>, String> {
    if digest.tree_size.is_none() {
        return Ok(None);
    }
    match location {
        StoreLocation::Embedded => {
            // Strict: the auditor's open changes nothing on disk, not even a torn tail.
            let mut options = crate::store::embedded::EmbeddedOptions::new(data_dir);
            options.recovery = RecoveryMode::Strict;
            let store = tokio::task::spawn_blocking(move || {
                crate::store::embedded::EmbeddedStore::open(options)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot open the log read-only: {e}"))?;
            let store: std::sync::Arc<dyn crate::store::EventStore> = std::sync::Arc::new(store);
            let log = store.raw_log().await.map_err(|e| e.to_string())?;
            let found = match log {
                Some(log) => {
                    crate::cli::proofs::first_changed(log.as_ref(), tree_file, digest).await
                }
                None => Ok(None),
            };
            let _ = store.close().await;
            found
        }
        StoreLocation::Url(url)
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            let log = crate::store::postgres::PostgresStore::open_raw_log(url)
                .await
                .map_err(|e| e.to_string())?;
            crate::cli::proofs::first_changed(log.as_ref(), tree_file, digest).await
        }
        StoreLocation::Url(_) => Ok(None),
    }
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let location = StoreLocation::parse(args.store.store.as_deref()).map_err(anyhow::Error::msg)?;
    let store = crate::startup::open_store(
        &location,
        &args.store.data_dir,
        args.store.recovery,
        args.store.segment_size_mib * 1024 * 1024,
    )
    .await?;
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let range = crate::export::ExportRange {
        from: args.from,
        to: args.to,
        stream: args.stream,
        category: args.category,
    };
    let started = std::time::Instant::now();
    let progress = |position: u64, last: u64| {
        eprint!("\rexport: position {position} of {last}   ");
        let _ = std::io::stderr().flush();
    };
    let written = crate::export::export(store.as_ref(), &range, &mut out, progress).await?;
    drop(out);
    store.close().await?;
    eprintln!(
        "\nexported {written} events in {:.2}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn import(args: ImportArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let location = StoreLocation::parse(args.store.store.as_deref()).map_err(anyhow::Error::msg)?;
    let store: Box<dyn crate::export::ImportTarget> = match &location {
        StoreLocation::Embedded => {
            let mut options = crate::store::embedded::EmbeddedOptions::new(&args.store.data_dir);
            options.recovery = args.store.recovery;
            options.segment_size = args.store.segment_size_mib * 1024 * 1024;
            let dir = args.store.data_dir.display().to_string();
            Box::new(
                tokio::task::spawn_blocking(move || {
                    crate::store::embedded::EmbeddedStore::open(options)
                })
                .await?
                .with_context(|| format!("cannot open the log in {dir}"))?,
            )
        }
        StoreLocation::Url(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Box::new(
                crate::store::postgres::PostgresStore::connect(url)
                    .await
                    .context("cannot open the postgres store")?,
            )
        }
        StoreLocation::Url(url) => anyhow::bail!(
            "cannot import into {url}: only the embedded store and postgres keep the exported positions (KurrentDB assigns its own; see docs/deployment.md)"
        ),
    };
    let input: Box<dyn std::io::BufRead> = match &args.input {
        Some(path) => Box::new(std::io::BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let started = std::time::Instant::now();
    let progress = |imported: u64| {
        eprint!("\rimport: {imported} events   ");
        let _ = std::io::stderr().flush();
    };
    let outcome = crate::export::import(store.as_ref(), input, progress).await;
    eprintln!();
    let head = store.head().await?;
    store.close().await?;
    let imported = outcome.with_context(|| match &location {
        StoreLocation::Embedded => {
            format!(
                "cannot import into data directory {}",
                args.store.data_dir.display()
            )
        }
        StoreLocation::Url(_) => "cannot import into the postgres database".to_owned(),
    })?;
    println!(
        "imported {imported} events in {:.2}s; head position {} hash {}",
        started.elapsed().as_secs_f64(),
        head.position,
        head.hash
    );
    Ok(())
}
