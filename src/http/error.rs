//! One error type for the HTTP boundary, rendered as RFC 9457
//! `application/problem+json` with a stable `type` per kind of problem.
//!
//! Internal failures get a generic body; their cause goes to the log only.

use crate::app::AppError;
use crate::store::StoreError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use projections::decide::Rejection;
use projections::Position;
use serde::Serialize;

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field failed validation. 422.
    #[error("{field}: {message}")]
    Validation {
        /// The field path (`summary`, `details.host`, `query.limit`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The body is not JSON of the expected shape. 400.
    #[error("malformed request body: {detail}")]
    MalformedBody {
        /// The field path, when the parser knows it.
        field: Option<String>,
        /// The parser's message.
        detail: String,
    },
    /// The body is not `application/json`. 415.
    #[error("expected Content-Type application/json")]
    UnsupportedMediaType,
    /// The body exceeds the configured limit. 413.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The route exists but not with this method. 405 (with `Allow`).
    #[error("this route does not take this method; see the Allow header")]
    MethodNotAllowed,
    /// Nothing at this id. 404.
    #[error("{0}")]
    NotFound(String),
    /// The domain refused the command. 404/409/422.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Optimistic concurrency kept failing after the bounded retries. 409.
    #[error("the stream kept changing; retry the request")]
    Conflict,
    /// An online rebuild is already running. 409.
    #[error("a rebuild is already running; watch GET /v1/admin/projections")]
    RebuildRunning,
    /// An `Idempotency-Key` was reused with a different request. 422.
    #[error("Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    /// No or unknown bearer token. 401.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The token's role may not do this. 403.
    #[error("this needs the {needed} role")]
    Forbidden {
        /// The role the route needs.
        needed: &'static str,
    },
    /// `min_position` was not reached in time. 503 with Retry-After.
    #[error("views have applied position {applied}, not yet {wanted}")]
    NotCaughtUp {
        /// What the client asked for.
        wanted: Position,
        /// What the views have applied.
        applied: Position,
    },
    /// The Merkle tree has not reached the tree size a proof asks for yet.
    #[error("the Merkle tree holds {held} events, not yet {wanted}")]
    TreeNotCaughtUp {
        /// The tree size asked for.
        wanted: Position,
        /// What the tree holds.
        held: Position,
    },
    /// The request body did not arrive within the body read timeout. 408; the
    /// connection is closed.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// The store cannot take writes or reads right now. 503 with Retry-After.
    #[error("storage unavailable")]
    Unavailable,
    /// A bug or an unexpected failure. 500; the cause is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A validation error for `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::MalformedBody { .. } => StatusCode::BAD_REQUEST,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Rejected(rejection) => rejection_status(rejection),
            ApiError::Conflict | ApiError::RebuildRunning => StatusCode::CONFLICT,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotCaughtUp { .. }
            | ApiError::TreeNotCaughtUp { .. }
            | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem type: `urn:alert-ledger:problem:<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } => "validation",
            ApiError::MalformedBody { .. } => "malformed-body",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::PayloadTooLarge { .. } => "payload-too-large",
            ApiError::RequestTimeout => "request-timeout",
            ApiError::NotFound(_) => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Rejected(rejection) => rejection_kind(rejection),
            ApiError::Conflict => "conflict",
            ApiError::RebuildRunning => "rebuild-running",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotCaughtUp { .. } | ApiError::TreeNotCaughtUp { .. } => "not-caught-up",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

fn rejection_status(rejection: &Rejection) -> StatusCode {
    match rejection {
        Rejection::UnknownAlert(_)
        | Rejection::UnknownSync(_)
        | Rejection::UnknownTask(_)
        | Rejection::UnknownHost { .. }
        | Rejection::UnknownChannel(_)
        | Rejection::UnknownTaskRule(_)
        | Rejection::UnknownConsumerGroup(_) => StatusCode::NOT_FOUND,
        Rejection::UnknownResource(_)
        | Rejection::RepeatedEntry { .. }
        | Rejection::UnknownReference { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Rejection::AlertAlreadyResolved(_)
        | Rejection::AlertResolvedByDeletion { .. }
        | Rejection::ResourceDeleted(_)
        | Rejection::TimerNotPending(_)
        | Rejection::TimerNotDue { .. }
        | Rejection::SyncAlreadyRegistered(_)
        | Rejection::SyncWasDeleted(_)
        | Rejection::TaskAlreadyExists(_)
        | Rejection::HostAlreadyFinished { .. }
        | Rejection::MessageFinished(_)
        | Rejection::MessageClaimedElsewhere { .. }
        | Rejection::MessageNotClaimed(_)
        | Rejection::ChannelWasRemoved(_)
        | Rejection::ChannelInUse { .. }
        | Rejection::ConsumerGroupExists(_) => StatusCode::CONFLICT,
    }
}

fn rejection_kind(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::UnknownAlert(_)
        | Rejection::UnknownSync(_)
        | Rejection::UnknownTask(_)
        | Rejection::UnknownHost { .. }
        | Rejection::UnknownChannel(_)
        | Rejection::UnknownTaskRule(_)
        | Rejection::UnknownConsumerGroup(_) => "not-found",
        Rejection::UnknownResource(_) => "unknown-resource",
        Rejection::AlertAlreadyResolved(_) | Rejection::AlertResolvedByDeletion { .. } => {
            "alert-resolved"
        }
        Rejection::ResourceDeleted(_) => "resource-deleted",
        Rejection::TimerNotPending(_) | Rejection::TimerNotDue { .. } => "timer-not-due",
        Rejection::SyncAlreadyRegistered(_) | Rejection::SyncWasDeleted(_) => "sync-exists",
        Rejection::TaskAlreadyExists(_) => "task-exists",
        Rejection::HostAlreadyFinished { .. } => "host-finished",
        Rejection::MessageFinished(_)
        | Rejection::MessageClaimedElsewhere { .. }
        | Rejection::MessageNotClaimed(_) => "message-state",
        Rejection::ChannelWasRemoved(_) => "channel-removed",
        Rejection::RepeatedEntry { .. } => "validation",
        Rejection::UnknownReference { .. } => "unknown-reference",
        Rejection::ChannelInUse { .. } => "channel-in-use",
        Rejection::ConsumerGroupExists(_) => "consumer-group-exists",
    }
}

/// The one mapping of the application core's errors onto HTTP problems.
impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::InvalidField { field, message } => ApiError::Validation { field, message },
            AppError::NotFound(what) => ApiError::NotFound(what),
            AppError::Rejected(rejection) => ApiError::Rejected(rejection),
            AppError::Conflict => ApiError::Conflict,
            AppError::NotCaughtUp { wanted, applied } => ApiError::NotCaughtUp { wanted, applied },
            AppError::Unavailable => ApiError::Unavailable,
            AppError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

/// Reads that go to the store directly (streams, pages of `$all`) fail as the
/// application core would report it.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        AppError::from(err).into()
    }
}

/// The RFC 9457 body.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let field = match &self {
            ApiError::Validation { field, .. } => Some(field.as_str()),
            ApiError::MalformedBody { field, .. } => field.as_deref(),
            ApiError::Rejected(rejection) => rejection.field(),
            _ => None,
        };
        let body = Problem {
            kind: format!("urn:alert-ledger:problem:{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            field,
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"alert-ledger\""),
                );
            }
            ApiError::NotCaughtUp { .. }
            | ApiError::TreeNotCaughtUp { .. }
            | ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
