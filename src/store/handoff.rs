//! The hand-off from callers to a backend's single writer task (PostgreSQL,
//! KurrentDB): a bounded queue of [`Command`]s, each append answered on a oneshot.
//! The embedded log's writer takes more per request (an import's original time), so it
//! keeps its own request type.

use super::{AppendResult, ExpectedVersion, NewEvent, StoreError};
use projections::Position;
use tokio::sync::{mpsc, oneshot};

/// One caller's append, waiting for the writer.
pub(super) struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

/// What the writer task is asked to do.
pub(super) enum Command {
    Append(AppendRequest),
    /// Finish what is queued, then stop.
    Close(oneshot::Sender<()>),
}

/// Queues an append for the writer behind `commands` and waits for its answer;
/// `Closed` if the writer is gone.
pub(super) async fn append(
    commands: &mpsc::Sender<Command>,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<AppendResult, StoreError> {
    let (reply, response) = oneshot::channel();
    let request = AppendRequest {
        stream: stream.to_owned(),
        expected,
        events,
        reply,
    };
    commands
        .send(Command::Append(request))
        .await
        .map_err(|_| StoreError::Closed)?;
    response.await.map_err(|_| StoreError::Closed)?
}

/// Asks the writer behind `commands` to finish what is queued and stop, and waits
/// until it has (at once if it is gone already).
pub(super) async fn close(commands: &mpsc::Sender<Command>) {
    let (done, finished) = oneshot::channel();
    if commands.send(Command::Close(done)).await.is_ok() {
        let _ = finished.await;
    }
}

/// Moves a head watch's `current` forward to `position`; whether it moved (for
/// `watch::Sender::send_if_modified`).
pub(super) fn advance(current: &mut Position, position: Position) -> bool {
    if position > *current {
        *current = position;
        true
    } else {
        false
    }
}
