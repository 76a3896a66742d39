//! The accept loop and the time limits on what a client sends.
//!
//! `axum::serve` sets no timer on its connections, so a client that sends its headers
//! one byte a minute (slow loris) would hold a connection and a task forever. This
//! loop serves each connection with hyper's HTTP/1 server and a tokio timer:
//!
//! - request headers must arrive within [`Timeouts::header_read`], or hyper closes the
//!   connection;
//! - a request body must arrive within [`Timeouts::body_read`] of the request's start
//!   ([`body_deadline`] wraps every body), or reading it fails and the request is
//!   answered 408 (`ApiError::RequestTimeout`).
//!
//! Shutdown: when `shutdown` completes the loop stops accepting, asks every open
//! connection to finish its in-flight request and close, and returns once all have
//! closed (the caller bounds the wait).

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// How long a client may take to send what it sends.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request to the end of its headers.
    pub header_read: Duration,
    /// From the request's arrival to the end of its body.
    pub body_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header_read: Duration::from_secs(30),
            body_read: Duration::from_secs(30),
        }
    }
}

/// Why a body read failed: the client did not send it in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyReadTimedOut(pub Duration);

/// Middleware: the body of every request must arrive within `limit`. Reading a body
/// that is late fails with [`BodyReadTimedOut`] (the extractors answer 408).
pub async fn body_deadline(
    State(limit): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let deadline = tokio::time::Instant::now() + limit;
    let (parts, body) = request.into_parts();
    let chunks = body.into_data_stream();
    let timed = futures_util::stream::unfold(Some(chunks), move |chunks| async move {
        let mut chunks = chunks?;
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(chunks))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(BodyReadTimedOut(limit))), None)),
        }
    });
    next.run(Request::from_parts(parts, Body::from_stream(timed)))
        .await
}

/// Whether `err` (or one of its sources) is a [`BodyReadTimedOut`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.is::<BodyReadTimedOut>() {
            return true;
        }
        current = err.source();
    }
    false
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// connections finish their in-flight requests and returns when all have closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    // Every connection task holds a receiver; `closed()` completes when all are gone.
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of file descriptors or a connection reset before accept: keep
                // serving the others, without spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            router.clone(),
            timeouts,
            stop_rx.clone(),
        ));
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    stop_tx.closed().await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    router: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    // `Router` serves hyper's `Incoming` body directly.
    let service = TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            changed = stop.wait_for(|stop| *stop), if !stopping => {
                stopping = true;
                let _ = changed;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}
