//! The command line. Every flag can also come from an `ALERT_LEDGER_*` environment
//! variable. Errors end the process with one line on stderr and a non-zero exit.

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
    Serve(ServeArgs),
    /// Check every record's CRC and the hash chain of an embedded log.
    Verify(VerifyArgs),
    /// Print the OpenAPI document the service serves at /openapi.json.
    Openapi,
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
    /// What to do with a damaged embedded log: tolerate-torn-tail, strict,
    /// truncate-after-corruption.
    #[arg(
        long,
        env = "ALERT_LEDGER_RECOVERY",
        default_value = "tolerate-torn-tail"
    )]
    recovery: RecoveryMode,
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
    /// Largest request body, in bytes.
    #[arg(long, env = "ALERT_LEDGER_BODY_LIMIT", default_value_t = 1024 * 1024)]
    body_limit: usize,
    /// Longest a read waits for `min_position`, in milliseconds.
    #[arg(long, env = "ALERT_LEDGER_READ_WAIT_MS", default_value_t = 5000)]
    read_wait_ms: u64,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Directory of the embedded log.
    #[arg(long, env = "ALERT_LEDGER_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

/// Parses the command line and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Verify(args) => verify(&args.data_dir),
        Command::Openapi => print_openapi(),
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
        body_limit: args.body_limit,
        read_wait: Duration::from_millis(args.read_wait_ms),
    };
    let app = Application::build(config).await?;
    app.run(shutdown_signal()).await
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn verify(data_dir: &std::path::Path) -> anyhow::Result<()> {
    use std::io::Write;
    let started = std::time::Instant::now();
    let progress = |checked: u64| {
        eprint!("\rverifying: {checked} events checked");
        let _ = std::io::stderr().flush();
    };
    let report = crate::verify::verify_data_dir(data_dir, progress);
    eprintln!();
    let report = report.map_err(|failure| anyhow::anyhow!("verification failed: {failure}"))?;
    println!(
        "ok: {} events in {} segments verified in {:.2}s; head position {} hash {}",
        report.events_checked,
        report.segments,
        started.elapsed().as_secs_f64(),
        report.head.position,
        report.head.hash
    );
    Ok(())
}

fn print_openapi() -> anyhow::Result<()> {
    let document = crate::http::openapi::document();
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}
