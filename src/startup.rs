//! Startup and shutdown, in the order the design fixes: open the store → replay the
//! views → bind → serve (ready) → on shutdown stop accepting, finish in-flight
//! requests, close the store.
//!
//! [`Application::build`] does everything that can fail before anything is served, so
//! a bad data directory, a corrupt log, a bad tokens file or a taken port ends the
//! process at once with one line; [`Application::run`] serves until `shutdown`
//! completes. Tests build with port 0 and stop the server through their own future.

use crate::app::{App, AppParts, RecentAlerts, WriteMarks};
use crate::commands::Commands;
use crate::config::{ServeConfig, StoreLocation};
use crate::http::auth::Tokens;
use crate::http::{self, HttpParts, HttpSettings, HttpState};
use crate::metrics::Metrics;
use crate::projection::{self, ViewsHandle};
use crate::store::embedded::{EmbeddedOptions, EmbeddedStore};
use crate::store::EventStore;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// A service that has opened its store, replayed its views and bound its port.
pub struct Application {
    listener: TcpListener,
    timeouts: http::serve::Timeouts,
    state: HttpState,
    dispatcher: crate::dispatch::Dispatcher,
    publish: Option<(crate::merkle::publish::Target, std::time::Duration)>,
}

/// How long in-flight requests may take to finish after shutdown begins.
const DRAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Application {
    /// Opens the store, replays the views and binds. Every failure here is a startup
    /// failure with a one-line cause.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Application> {
        let tokens = Tokens::load(config.tokens_file.as_deref(), config.tokens.as_deref())
            .context("cannot load tokens")?;
        let integrations = crate::http::receivers::keys::IntegrationKeys::load(
            config.integration_keys_file.as_deref(),
        )
        .context("cannot load integration keys")?;
        if tokens.is_empty() && !config.listen.ip().is_loopback() {
            anyhow::bail!(
                "refusing to listen on {} without tokens: set --tokens-file (or ALERT_LEDGER_TOKENS), or listen on 127.0.0.1",
                config.listen
            );
        }
        let metrics = Arc::new(Metrics::new());
        let store = open_store_on(
            &config.store,
            &config.data_dir,
            config.recovery,
            config.segment_size,
            config.file_system.clone(),
            Some(metrics.clone()),
        )
        .await?;
        let started = Instant::now();
        let accept_loss = config.recovery == crate::store::embedded::RecoveryMode::AcceptDataLoss;
        remove_old_snapshots(&config.data_dir);
        let views = ViewsHandle::open(
            &store,
            &config.views_file(),
            accept_loss,
            config.views_bulk_build_from,
        )
        .await
        .context("cannot open the view file")?;
        let replayed = projection::catch_up_or_rebuild(&store, &views)
            .await
            .context("cannot replay the log into the views")?;
        tracing::info!(
            events = replayed,
            position = views.applied(),
            seconds = started.elapsed().as_secs_f64(),
            "views caught up"
        );
        let tree = crate::merkle::MerkleTree::open(&store, &config.tree_file())
            .await
            .context("cannot open the Merkle tree file")?;
        let digest_key = load_digest_key(&config)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let head = store.head().await.context("cannot read the log's head")?;
        let frames = Arc::new(
            http::frames::FrameRing::new(head.position, config.sse_ring_bytes)
                .with_idle_after(config.sse_ring_idle),
        );
        let app = App::new(AppParts {
            commands: Commands::new(store.clone(), metrics.clone()),
            store,
            views,
            metrics,
            read_wait: config.read_wait,
            shutting_down: Arc::new(AtomicBool::new(false)),
            dispatch: crate::app::DispatchStatus::default(),
            marks: Arc::new(WriteMarks::default()),
            recent_alerts: Arc::new(RecentAlerts::new(65_536)),
            members: Arc::default(),
            tree,
            digest_key,
            data_dir: matches!(config.store, StoreLocation::Embedded)
                .then(|| config.data_dir.clone()),
        });
        let state = HttpState::new(HttpParts {
            app,
            tokens: Arc::new(tokens),
            integrations: Arc::new(integrations),
            idempotency: Arc::new(http::idempotency::IdempotencyCache::new(100_000)),
            settings: Arc::new(HttpSettings {
                body_limit: config.body_limit,
                heartbeat: config.heartbeat,
                body_read_timeout: config.timeouts.body_read,
            }),
            frames,
            console: Arc::default(),
        });
        let dispatcher = crate::dispatch::Dispatcher::new(
            &state.app,
            config.dispatch.clone(),
            state.app.dispatch.clone(),
        )
        .context("cannot start the dispatcher")?;
        Ok(Application {
            listener,
            timeouts: config.timeouts,
            state,
            dispatcher,
            publish: config
                .publish_digests
                .clone()
                .map(|target| (target, config.publish_every)),
        })
    }

    /// The bound address (the real port when built with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The application core's state (tests use it to reach the store and views
    /// directly, and to run a second dispatcher or scheduler over them).
    pub fn state(&self) -> &App {
        &self.state.app
    }

    /// The HTTP layer's state (the core plus tokens, integration keys and limits).
    pub fn http_state(&self) -> &HttpState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish, stops following the log and closes the store.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            timeouts,
            state,
            dispatcher,
            publish,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let follower = tokio::spawn(projection::run(
            state.app.store.clone(),
            state.app.views.clone(),
            wait_true(stop_rx),
        ));
        // The deep page check reads the whole view file: in the background, once ready.
        tokio::spawn(projection::health::deep_check(
            state.app.store.clone(),
            state.app.views.clone(),
        ));
        let tree = state.app.tree.clone().map(|tree| {
            tokio::spawn(crate::merkle::tree::follow(
                tree,
                state.app.store.clone(),
                wait_true(stop_tx.subscribe()),
            ))
        });
        if let Some((target, every)) = publish {
            tokio::spawn(crate::merkle::publish::run(
                target,
                every,
                state.app.store.clone(),
                state.app.tree.clone(),
                state.app.digest_key.clone(),
                wait_true(stop_tx.subscribe()),
            ));
        }
        let scheduler = crate::scheduler::spawn(state.app.clone(), wait_true(stop_tx.subscribe()));
        let tail = tokio::spawn(http::frames::run_tail(
            state.app.store.clone(),
            state.frames.clone(),
            wait_true(stop_tx.subscribe()),
        ));
        // Stopped before the follower, so its last records reach the views.
        let (dispatch_stop, dispatch_stop_rx) = tokio::sync::watch::channel(false);
        let dispatching = tokio::spawn(dispatcher.run(wait_true(dispatch_stop_rx)));
        let flag = state.app.shutting_down.clone();
        let (began_tx, mut began_rx) = tokio::sync::watch::channel(false);
        let graceful = async move {
            shutdown.await;
            flag.store(true, Ordering::Relaxed);
            let _ = began_tx.send(true);
            tracing::info!("shutting down: no new connections, finishing in-flight requests");
        };
        let router = http::router(state.clone());
        tracing::info!(address = %listener.local_addr()?, "listening");
        let serve = http::serve::serve(listener, router, timeouts, graceful);
        // A client that stops reading (a stalled SSE subscriber) must not hold the
        // process forever: in-flight requests get DRAIN_LIMIT to finish.
        let drain_expired = async move {
            let _ = began_rx.wait_for(|began| *began).await;
            tokio::time::sleep(DRAIN_LIMIT).await;
        };
        tokio::select! {
            () = serve => {}
            _ = drain_expired => {
                tracing::warn!(seconds = DRAIN_LIMIT.as_secs(), "connections still open after the drain limit; closing them");
            }
        };
        let _ = dispatch_stop.send(true);
        let _ = dispatching.await;
        let _ = stop_tx.send(true);
        let _ = follower.await;
        let _ = scheduler.await;
        let _ = tail.await;
        if let Some(tree) = tree {
            let _ = tree.await;
        }
        // The follower stopped at the durable head; the file alone now holds it all.
        state.app.views.close().await;
        state.app.store.close().await.context("closing the store")?;
        tracing::info!(position = state.app.views.applied(), "stopped");
        Ok(())
    }
}

/// The digest key: `--digest-key`, else `<data-dir>/digest.key` if it exists.
fn load_digest_key(config: &ServeConfig) -> anyhow::Result<Option<Arc<crate::merkle::DigestKey>>> {
    let default = config.data_dir.join(crate::merkle::digest::KEY_FILE);
    let path = match &config.digest_key {
        Some(path) => path.clone(),
        None if default.exists() => default,
        None => return Ok(None),
    };
    let key = crate::merkle::DigestKey::load(&path)
        .map_err(|why| anyhow::anyhow!("cannot load the digest key: {why}"))?;
    tracing::info!(public_key = %key.public_key(), file = %path.display(), "digests are signed");
    Ok(Some(Arc::new(key)))
}

/// Removes the whole-view JSON snapshots of versions before the view file (they are
/// never read again: the view file's checkpoint replaced them as the log's witness).
fn remove_old_snapshots(data_dir: &std::path::Path) {
    let dir = data_dir.join("snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let old = name.is_some_and(|n| n.starts_with("views-") && n.contains(".snap"));
        if old && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    let _ = std::fs::remove_dir(&dir);
    if removed > 0 {
        tracing::info!(files = removed, dir = %dir.display(), "removed whole-view snapshots of an older version (the view file replaces them)");
    }
}

async fn wait_true(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

/// Opens the store at `location` (the embedded one lives in `data_dir`).
pub async fn open_store(
    location: &StoreLocation,
    data_dir: &std::path::Path,
    recovery: crate::store::embedded::RecoveryMode,
    segment_size: u64,
) -> anyhow::Result<Arc<dyn EventStore>> {
    open_store_on(location, data_dir, recovery, segment_size, None, None).await
}

/// [`open_store`] with the embedded store on `file_system` (`None`: the operating
/// system's); the other backends ignore it.
pub async fn open_store_on(
    location: &StoreLocation,
    data_dir: &std::path::Path,
    recovery: crate::store::embedded::RecoveryMode,
    segment_size: u64,
    file_system: Option<crate::io::SharedFileSystem>,
    metrics: Option<Arc<Metrics>>,
) -> anyhow::Result<Arc<dyn EventStore>> {
    match location {
        StoreLocation::Embedded => {
            let mut options = EmbeddedOptions::new(data_dir);
            options.recovery = recovery;
            options.segment_size = segment_size;
            if let Some(file_system) = file_system {
                options.fs = file_system.0;
            }
            options.metrics = metrics;
            let dir = data_dir.display().to_string();
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(options))
                .await
                .context("store open task failed")?
                .with_context(|| format!("cannot open the log in {dir}"))?;
            Ok(Arc::new(store))
        }
        StoreLocation::Url(url)
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            let store = crate::store::postgres::PostgresStore::connect(url)
                .await
                .context("cannot open the postgres store")?;
            Ok(Arc::new(store))
        }
        StoreLocation::Url(url)
            if url.starts_with("kurrentdb://") || url.starts_with("esdb://") =>
        {
            let store = crate::store::kurrentdb::KurrentStore::connect(url)
                .await
                .context("cannot open the kurrentdb store")?;
            Ok(Arc::new(store))
        }
        StoreLocation::Url(url) => anyhow::bail!("store {url}: unsupported URL scheme"),
    }
}

/// Completes on SIGTERM or ctrl-c.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    // Registered now, not when the future is first polled: a SIGTERM that arrives once
    // the service answers (the listener is polled before the shutdown future) must
    // start a graceful shutdown, not end the process with the default action.
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(terminate) => {},
                () = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
