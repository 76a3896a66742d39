//! What can go wrong in an application command or query, said without HTTP: the HTTP
//! edge maps each variant onto a status and a problem type in one place
//! (`impl From<AppError> for ApiError` in `src/http/error.rs`); the workers match on
//! the variants to decide whether to retry.

use crate::commands::CommandError;
use crate::store::StoreError;
use projections::decide::Rejection;
use projections::Position;

/// Every way an application command or query can fail.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An input field is invalid; nothing was written.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field path (`summary`, `details.host`, `steps[0].delay_secs`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Nothing exists under this id.
    #[error("{0}")]
    NotFound(String),
    /// The domain refused the command; nothing was written.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Other writers kept winning the stream for the bounded number of retries.
    #[error("the stream kept changing; retry the request")]
    Conflict,
    /// The views had not applied `wanted` within the read wait.
    #[error("views have applied position {applied}, not yet {wanted}")]
    NotCaughtUp {
        /// The position waited for.
        wanted: Position,
        /// What the views have applied.
        applied: Position,
    },
    /// The store cannot take writes or reads right now; nothing was acknowledged.
    #[error("storage unavailable")]
    Unavailable,
    /// A bug or an unexpected failure; the cause is for the log, not for the caller.
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    /// An invalid `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict { .. } => AppError::Conflict,
            StoreError::IdempotencyMismatch { event_id } => AppError::field(
                "event_id",
                format!("event {event_id} was already appended as part of a different write"),
            ),
            StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "store unavailable");
                AppError::Unavailable
            }
            StoreError::Closed => AppError::Unavailable,
            other @ (StoreError::Corrupt { .. }
            | StoreError::Decode { .. }
            | StoreError::AcknowledgedLoss { .. }) => AppError::Internal(other.to_string()),
        }
    }
}

impl From<CommandError> for AppError {
    fn from(err: CommandError) -> Self {
        match err {
            CommandError::Rejected(rejection) => AppError::Rejected(rejection),
            CommandError::Store(store) => store.into(),
            CommandError::Conflict => AppError::Conflict,
        }
    }
}
