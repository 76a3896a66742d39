//! The auditor's routes: the digest (head, Merkle tree size and root, signature) and
//! proofs over the tree, each O(log n) hashes and checkable offline
//! (`alert-ledger check-proof`, or any RFC 9162 verifier).

use super::error::ApiError;
use super::query;
use super::query::schema;
use super::{HttpState, ReaderAuth};
use crate::merkle::check::{ConsistencyProof, InclusionProof, ProofRecord};
use crate::merkle::proof::ProofError;
use crate::merkle::MerkleTree;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;
use utoipa::IntoParams;

/// `GET /v1/ledger/digest`: the position and chain hash of the last event, the tree's
/// size and root over the events up to it, signed when the ledger has a digest key.
pub async fn digest(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
) -> Result<Response, ApiError> {
    let digest = current_digest(&state).await?;
    let position = digest.position;
    Ok((super::reads::position_header(position), Json(digest)).into_response())
}

/// The digest of the log as it is now (signed when the ledger has a key): the body of
/// `GET /v1/ledger/digest` and of the console's download.
pub async fn current_digest(state: &HttpState) -> Result<crate::merkle::digest::Digest, ApiError> {
    let app = &state.app;
    Ok(crate::merkle::digest::current(
        &app.store,
        app.tree.as_ref(),
        app.digest_key.as_deref(),
        app.read_wait,
    )
    .await?)
}

/// `GET /v1/ledger/proof/inclusion`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The event's position (at most tree_size)
    #[param(value_type = schema::TreeSize, inline)]
    position: u64,
    /// The tree to prove it in, e.g. a saved digest's tree_size (default: the tree now;
    /// at most the head)
    #[param(value_type = Option<schema::TreeSize>, inline)]
    tree_size: Option<u64>,
}

/// `GET /v1/ledger/proof/consistency`'s parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The earlier tree's size, e.g. an older digest's tree_size (at most to)
    #[param(value_type = schema::TreeSize, inline)]
    from: u64,
    /// The later tree's size (default: the tree now; at most the head)
    #[param(value_type = Option<schema::TreeSize>, inline)]
    to: Option<u64>,
}

/// `GET /v1/ledger/proof/inclusion?position=P&tree_size=N`: the audit path of the
/// event at `P` in the tree of `N` events (default: the tree's current size), with the
/// stored record.
pub async fn inclusion(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let InclusionQuery {
        position,
        tree_size: asked,
    } = query::parse(raw.as_deref())?;
    let tree = tree_of(&state)?;
    let size = tree_size(&state, tree, asked, "tree_size").await?;
    if position == 0 || position > size {
        return Err(ApiError::field(
            "query.position",
            format!("must be between 1 and the tree size {size}"),
        ));
    }
    let audit_path = tree.inclusion(position, size).await.map_err(proof_error)?;
    let root_hash = tree.root_at(size).await.map_err(proof_error)?;
    let record = stored_record(&state, position).await?;
    Ok(Json(InclusionProof {
        kind: "inclusion".into(),
        position,
        leaf_index: position - 1,
        tree_size: size,
        root_hash,
        audit_path,
        record,
    })
    .into_response())
}

/// `GET /v1/ledger/proof/consistency?from=N1&to=N2`: the proof that the tree of `N2`
/// events (default: the current size) extends the tree of `N1` events.
pub async fn consistency(
    ReaderAuth(_): ReaderAuth,
    State(state): State<HttpState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let ConsistencyQuery { from, to } = query::parse(raw.as_deref())?;
    let tree = tree_of(&state)?;
    let to = tree_size(&state, tree, to, "to").await?;
    if from == 0 || from > to {
        return Err(ApiError::field(
            "query.from",
            format!("must be between 1 and `to` ({to})"),
        ));
    }
    let proof = tree.consistency(from, to).await.map_err(proof_error)?;
    let from_root = tree.root_at(from).await.map_err(proof_error)?;
    let to_root = tree.root_at(to).await.map_err(proof_error)?;
    Ok(Json(ConsistencyProof {
        kind: "consistency".into(),
        from,
        to,
        from_root,
        to_root,
        proof,
    })
    .into_response())
}

fn tree_of(state: &HttpState) -> Result<&Arc<MerkleTree>, ApiError> {
    state
        .app
        .tree
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("this backend keeps no Merkle tree (KurrentDB)".into()))
}

/// The tree size a request names in `name` (default: what the tree holds), which the
/// tree is given `read_wait` to reach if the log already holds it.
async fn tree_size(
    state: &HttpState,
    tree: &Arc<MerkleTree>,
    asked: Option<u64>,
    name: &str,
) -> Result<u64, ApiError> {
    let head = state.app.store.head().await?.position;
    let Some(size) = asked else {
        return Ok(tree.wait_for(head, state.app.read_wait).await.size);
    };
    if size > head {
        return Err(ApiError::field(
            format!("query.{name}"),
            format!("must be at most the log's head position {head}"),
        ));
    }
    let held = tree.wait_for(size, state.app.read_wait).await.size;
    if held < size {
        return Err(ApiError::TreeNotCaughtUp { wanted: size, held });
    }
    Ok(size)
}

/// The record at `position` exactly as stored.
async fn stored_record(state: &HttpState, position: u64) -> Result<ProofRecord, ApiError> {
    let log = state
        .app
        .store
        .raw_log()
        .await?
        .ok_or_else(|| ApiError::NotFound("this backend keeps no records to prove".into()))?;
    let record = log
        .records_after(position - 1, 1)
        .await?
        .into_iter()
        .next()
        .filter(|r| r.position == position)
        .ok_or_else(|| ApiError::NotFound(format!("no record at position {position}")))?;
    let body = String::from_utf8(record.body).map_err(|_| {
        ApiError::Internal(format!("the record at position {position} is not UTF-8"))
    })?;
    Ok(ProofRecord {
        position,
        prev_hash: record.prev_hash,
        hash: record.hash,
        body,
    })
}

fn proof_error(err: ProofError) -> ApiError {
    match err {
        ProofError::OutOfRange(why) => ApiError::field("query", why),
        ProofError::Io(err) => ApiError::Internal(format!("Merkle tree: {err}")),
    }
}
