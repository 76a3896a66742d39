//! The head watch: `LISTEN alert_ledger_events` on a dedicated connection, with a
//! periodic `SELECT max(position)` as the fallback for lost notifications and
//! reconnects.
//!
//! Appends of this instance move the watch themselves after commit; this task brings
//! in what other instances commit. Both only ever move the watch forward, and only to
//! committed positions, so a `Subscription` woken by it finds every event up to there.
//!
//! A notification at or below the last position this instance's writer has sent
//! (`sent`) is left to the writer, which moves the watch that far itself once the
//! batch lands (or past it, deciding a refused batch again under the lock): otherwise
//! the watch would often run ahead of the events the writer keeps for reads
//! ([`super::recent`]) by the few microseconds between the notification and the
//! writer's answer. The poll is never filtered.

use super::{pg_error, NOTIFY_CHANNEL};
use crate::store::handoff::advance;
use crate::store::StoreError;
use projections::Position;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Config, NoTls};

/// Follows the head until `stop` turns true (or its sender is dropped).
pub(super) async fn run(
    config: Config,
    poll_interval: Duration,
    head: watch::Sender<Position>,
    sent: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            result = listen(&config, poll_interval, &head, &sent) => {
                if let Err(err) = result {
                    tracing::warn!(error = %err, "postgres head listener lost; reconnecting");
                }
            }
        }
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            _ = tokio::time::sleep(poll_interval) => {}
        }
    }
}

/// Listens and polls on one connection until it fails.
async fn listen(
    config: &Config,
    poll_interval: Duration,
    head: &watch::Sender<Position>,
    sent: &AtomicU64,
) -> Result<(), StoreError> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg_error)?;
    let (notes_tx, mut notes) = mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    let _ = notes_tx.send(note.payload().parse::<Position>().ok());
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "postgres listener connection failed");
                    break;
                }
            }
        }
    });
    // Not a prepared statement: a channel name cannot be a parameter.
    client
        .batch_execute(&format!("LISTEN {NOTIFY_CHANNEL}"))
        .await
        .map_err(pg_error)?;
    let mut poll = tokio::time::interval(poll_interval);
    let result = loop {
        tokio::select! {
            note = notes.recv() => match note {
                Some(Some(position)) if position > sent.load(Ordering::Acquire) => {
                    head.send_if_modified(|current| advance(current, position));
                }
                Some(Some(_)) => {}
                Some(None) => {}
                None => break Err(StoreError::Unavailable("listener connection closed".into())),
            },
            _ = poll.tick() => {
                // Also right after LISTEN: catches commits from before it.
                match client.query_one("SELECT coalesce(max(position), 0) FROM events", &[]).await {
                    Ok(row) => {
                        let position = row.get::<_, i64>(0) as Position;
                        head.send_if_modified(|current| advance(current, position));
                    }
                    Err(err) => break Err(pg_error(err)),
                }
            }
        }
    };
    drop(client);
    driver.abort();
    result
}
