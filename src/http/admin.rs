//! Operator routes (admin role): projection status, online rebuild, and verification
//! of the hash chain.

use super::error::ApiError;
use super::extract::MaybeJson;
use super::{AdminAuth, HttpState};
use crate::app::limits::schema;
use crate::projection::health::ViewHealth;
use crate::projection::rebuild::{self, ProjectionName, RebuildStatus};
use crate::store::verify::{verify_raw_log, verify_segments, Target, VerifyFailure, VerifyReport};
use crate::store::Head;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use projections::Hash;
use serde::Deserialize;
use serde::Serialize;

/// One view and how big it is.
#[derive(Debug, Serialize)]
pub struct ProjectionRow {
    /// The view's name (the `{name}` of the rebuild route).
    pub name: ProjectionName,
    /// Rows (alerts, messages, active alarms, tasks, resources).
    pub rows: usize,
}

/// `GET /v1/admin/projections`.
#[derive(Debug, Serialize)]
pub struct ProjectionsStatus {
    /// Position the live views reflect.
    pub position: u64,
    /// The log's head.
    pub head: u64,
    /// Events the views are behind.
    pub lag: u64,
    /// Events that did not fold since start.
    pub fold_errors: u64,
    /// Whether the follower runs.
    pub following: bool,
    /// The view file: where it is and what its checks found.
    pub view_file: ViewFile,
    /// Every view.
    pub projections: Vec<ProjectionRow>,
    /// The current or last online rebuild.
    pub rebuild: Option<RebuildStatus>,
    /// Every consumer group's checkpoint and lag.
    pub consumers: Vec<ConsumerLag>,
}

/// The view file in the projection status.
#[derive(Debug, Serialize)]
pub struct ViewFile {
    /// Its path.
    pub path: String,
    /// What its checks found.
    #[serde(flatten)]
    pub health: ViewHealth,
}

/// How far a consumer group is behind.
#[derive(Debug, Serialize)]
pub struct ConsumerLag {
    /// The group.
    pub name: String,
    /// Every event at or before this position is acknowledged.
    pub checkpoint: u64,
    /// Positions between the checkpoint and the head.
    pub lag: u64,
}

/// `GET /v1/admin/projections`: status, lag, the view file's health and rebuild progress.
pub async fn projections(
    AdminAuth(_): AdminAuth,
    State(state): State<HttpState>,
) -> Result<Response, ApiError> {
    Ok(Json(projection_status(&state).await?).into_response())
}

/// The projections' status, lag, the view file's health and rebuild progress (the
/// admin route's body; the console's ledger page shows the same).
pub async fn projection_status(state: &HttpState) -> Result<ProjectionsStatus, ApiError> {
    let head = state.app.store.head().await?.position;
    let (position, sizes) = {
        let views = state.app.views.current();
        (views.position(), views.sizes())
    };
    let projections = ProjectionName::EACH
        .map(|name| ProjectionRow {
            name,
            rows: match name {
                ProjectionName::Alerts => sizes.alerts,
                ProjectionName::Messages => sizes.messages,
                ProjectionName::Alarms => sizes.alarms,
                ProjectionName::Tasks => sizes.tasks,
                ProjectionName::Syncs | ProjectionName::All => sizes.syncs,
            },
        })
        .into();
    let body = ProjectionsStatus {
        position,
        head,
        lag: head.saturating_sub(position),
        fold_errors: state.app.views.fold_errors(),
        following: state.app.views.is_following(),
        view_file: ViewFile {
            path: state.app.views.path().display().to_string(),
            health: state.app.views.health(),
        },
        projections,
        rebuild: state.app.views.rebuild.status(),
        consumers: state
            .app
            .consumer_statuses()
            .await?
            .into_iter()
            .map(|g| ConsumerLag {
                name: g.group.name.to_string(),
                checkpoint: g.checkpoint,
                lag: g.lag,
            })
            .collect(),
    };
    Ok(body)
}

/// `POST /v1/admin/projections/{name}/rebuild`: 202 and the rebuild's status; 409 if
/// one is running. The live views keep serving until the rebuilt ones are swapped in.
pub async fn rebuild(
    AdminAuth(principal): AdminAuth,
    State(state): State<HttpState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let projection = ProjectionName::parse(&name).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no projection {name}; use all, alerts, messages, alarms, tasks or syncs"
        ))
    })?;
    match rebuild::start(state.app.store.clone(), state.app.views.clone(), projection) {
        Ok(status) => {
            tracing::info!(actor = %principal.name, projection = projection.as_str(), "online rebuild started");
            Ok((StatusCode::ACCEPTED, Json(status)).into_response())
        }
        Err(_running) => Err(ApiError::RebuildRunning),
    }
}

/// A digest to prove the log against: the body of `GET /v1/ledger/digest`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DigestBody {
    /// The digest's position.
    #[schema(schema_with = schema::position::<1>)]
    pub position: u64,
    /// The chain hash at that position (64 hex characters).
    #[schema(schema_with = schema::hash)]
    pub head_hash: String,
    /// Ignored (present in exported digests).
    #[serde(default)]
    pub recorded_at: Option<String>,
    /// Ignored by the chain walk: the Merkle tree's size (`check-proof` uses it).
    #[serde(default)]
    #[schema(schema_with = schema::optional_position)]
    pub tree_size: Option<u64>,
    /// Ignored by the chain walk: the Merkle tree's root.
    #[serde(default)]
    pub root_hash: Option<String>,
    /// Ignored by the chain walk: the digest's signature.
    #[serde(default)]
    #[schema(schema_with = schema::any_json)]
    pub signature: Option<serde_json::Value>,
    /// Check only the digest's own record and what came after it, up to the head
    /// (default: every record up to the digest's position).
    #[serde(default)]
    #[schema(default = false)]
    pub incremental: bool,
}

/// What verification found.
#[derive(Debug, Serialize)]
pub struct VerifyOutcome {
    /// Whether every record up to the checked position is intact and chains to it.
    pub ok: bool,
    /// Records checked.
    pub events_checked: u64,
    /// The first position checked: 1, or the digest's for an incremental verify.
    pub from_position: u64,
    /// The position and hash verified up to.
    pub verified_to: Head,
    /// The first bad record, when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<VerifyFailureBody>,
}

/// The first record that broke a check.
#[derive(Debug, Serialize)]
pub struct VerifyFailureBody {
    /// Its position.
    pub position: Option<u64>,
    /// What failed.
    pub reason: String,
}

/// `POST /v1/ledger/verify`: walks the log's hash chain (and, on the embedded store,
/// every record's CRC) up to the current head or, with a digest body, up to the
/// digest's position, which must still hash to the digest. The same checks on every
/// backend that keeps a chain ([`crate::store::verify`]); 404 on one that does not
/// (KurrentDB). 200 with `ok: false` and the first bad position when the log is damaged.
pub async fn verify(
    AdminAuth(_): AdminAuth,
    State(state): State<HttpState>,
    MaybeJson(body): MaybeJson<DigestBody>,
) -> Result<Response, ApiError> {
    Ok(Json(run_verify(&state, body).await?).into_response())
}

/// Verifies the log up to the head, or against `digest` (the route's work; the
/// console's ledger page runs it too).
pub async fn run_verify(
    state: &HttpState,
    body: Option<DigestBody>,
) -> Result<VerifyOutcome, ApiError> {
    let head = state.app.store.head().await?;
    let (target, walk) = match body {
        None => (head, Target::UpTo(head)),
        Some(digest) if digest.incremental => {
            let digest = digest_target(&digest, head)?;
            let walk = Target::After {
                digest,
                up_to: Some(head),
            };
            (head, walk)
        }
        Some(digest) => {
            let digest = digest_target(&digest, head)?;
            (digest, Target::UpTo(digest))
        }
    };
    let checked = match (state.app.data_dir.clone(), state.app.store.raw_log().await?) {
        (Some(dir), _) => tokio::task::spawn_blocking(move || verify_segments(&dir, walk, |_| {}))
            .await
            .map_err(|err| ApiError::Internal(format!("verify task: {err}")))?,
        (None, Some(log)) => verify_raw_log(log.as_ref(), walk, |_| {}).await,
        (None, None) => {
            return Err(ApiError::NotFound(
                "this backend keeps no hash chain to verify (KurrentDB)".into(),
            ))
        }
    };
    let from = match walk {
        Target::After { digest, .. } => digest.position,
        _ => 1,
    };
    Ok(outcome(checked, target, from))
}

/// The head a digest body names, which must lie within the log.
fn digest_target(digest: &DigestBody, head: Head) -> Result<Head, ApiError> {
    let hash = Hash::from_hex(&digest.head_hash)
        .ok_or_else(|| ApiError::field("head_hash", "must be 64 hex characters"))?;
    if digest.position == 0 || digest.position > head.position {
        return Err(ApiError::field(
            "position",
            format!("must be between 1 and the log head {}", head.position),
        ));
    }
    Ok(Head {
        position: digest.position,
        hash,
    })
}

fn outcome(checked: Result<VerifyReport, VerifyFailure>, target: Head, from: u64) -> VerifyOutcome {
    match checked {
        Ok(report) => VerifyOutcome {
            ok: true,
            events_checked: report.events_checked,
            from_position: report.from_position,
            verified_to: report.head,
            failure: None,
        },
        Err(failure) => {
            tracing::error!(%failure, "ledger verification failed");
            VerifyOutcome {
                ok: false,
                events_checked: failure.position().map_or(0, |p| p.saturating_sub(from)),
                from_position: from,
                verified_to: target,
                failure: Some(VerifyFailureBody {
                    position: failure.position(),
                    reason: failure.reason().to_owned(),
                }),
            }
        }
    }
}
