//! Configuration of `alert-ledger serve`, separate from how the CLI parses it so tests
//! can build one directly.

use crate::store::embedded::RecoveryMode;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded log in `data_dir`.
    Embedded,
    /// A server URL (`postgres://…`, `kurrentdb://…`, `esdb://…`).
    Url(String),
}

impl StoreLocation {
    /// Parses `--store`: empty or `embedded` means the embedded log.
    pub fn parse(raw: Option<&str>) -> Result<StoreLocation, String> {
        match raw.map(str::trim) {
            None | Some("") | Some("embedded") => Ok(StoreLocation::Embedded),
            Some(url) if ["postgres://", "postgresql://", "kurrentdb://", "esdb://"]
                .iter()
                .any(|scheme| url.starts_with(scheme)) =>
            {
                Ok(StoreLocation::Url(url.to_owned()))
            }
            Some(other) => Err(format!(
                "unsupported --store `{other}`: use embedded, postgres://…, kurrentdb://… or esdb://…"
            )),
        }
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Embedded store directory.
    pub data_dir: PathBuf,
    /// Which store.
    pub store: StoreLocation,
    /// Damage policy for the embedded log.
    pub recovery: RecoveryMode,
    /// Tokens file (`role name token` per line).
    pub tokens_file: Option<PathBuf>,
    /// Inline tokens (same lines, `;`-separated).
    pub tokens: Option<String>,
    /// Integration keys file (`pagerduty|goalert key service` per line): who may call
    /// the PagerDuty and GoAlert compatible receivers, and for which service.
    pub integration_keys_file: Option<PathBuf>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Longest a read waits for `min_position`.
    pub read_wait: Duration,
    /// Size of each preallocated embedded log segment (bytes).
    pub segment_size: u64,
    /// Idle interval between `/v1/subscribe` heartbeats.
    pub heartbeat: Duration,
    /// Bytes of encoded `/v1/subscribe` frames kept for live subscribers.
    pub sse_ring_bytes: usize,
    /// How long after the last subscriber or consumer looked at the ring its frames
    /// go on being encoded (no flag: tests shorten it to cross idle stretches).
    pub sse_ring_idle: Duration,
    /// The view file (`None`: `<data_dir>/views.sqlite3`).
    pub views_file: Option<PathBuf>,
    /// From this many events an empty view file is built in bulk before the service
    /// starts (no flag: tests lower it to run that path on small logs).
    pub views_bulk_build_from: u64,
    /// How outgoing messages are delivered (instance id, signing secret, retries).
    pub dispatch: crate::dispatch::DispatchConfig,
    /// The Ed25519 key that signs digests (`None`: `<data_dir>/digest.key` if it
    /// exists, else digests are unsigned).
    pub digest_key: Option<PathBuf>,
    /// Where to publish a digest every `publish_every` (`None`: nowhere).
    pub publish_digests: Option<crate::merkle::publish::Target>,
    /// How often digests are published.
    pub publish_every: Duration,
    /// The embedded store's file system (`None`: the operating system's). There is no
    /// flag for it: service-level tests put a `FaultyFileSystem` here to fail fsyncs,
    /// fill the disk or cut a write short under a running service.
    pub file_system: Option<crate::io::SharedFileSystem>,
    /// How long a client may take to send request headers and bodies.
    pub timeouts: crate::http::serve::Timeouts,
}

impl ServeConfig {
    /// Defaults for a data directory, listening on `listen`.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> ServeConfig {
        ServeConfig {
            listen,
            data_dir: data_dir.into(),
            store: StoreLocation::Embedded,
            recovery: RecoveryMode::default(),
            tokens_file: None,
            tokens: None,
            integration_keys_file: None,
            body_limit: 1024 * 1024,
            read_wait: Duration::from_secs(5),
            segment_size: 64 * 1024 * 1024,
            heartbeat: crate::http::subscribe::DEFAULT_HEARTBEAT,
            sse_ring_bytes: crate::http::frames::DEFAULT_RING_BYTES,
            sse_ring_idle: crate::http::frames::IDLE_AFTER,
            views_file: None,
            views_bulk_build_from: crate::projection::BULK_BUILD_FROM,
            dispatch: crate::dispatch::DispatchConfig::default(),
            digest_key: None,
            publish_digests: None,
            publish_every: Duration::from_secs(300),
            file_system: None,
            timeouts: crate::http::serve::Timeouts::default(),
        }
    }

    /// The Merkle tree file.
    pub fn tree_file(&self) -> PathBuf {
        self.data_dir.join(crate::merkle::file::TREE_FILE)
    }

    /// The view file in use.
    pub fn views_file(&self) -> PathBuf {
        self.views_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join(crate::projection::VIEW_FILE))
    }
}
