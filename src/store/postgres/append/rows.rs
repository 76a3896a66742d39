//! The rows a batch writes: column arrays for one multi-row `INSERT`, built the same
//! way by appends and imports so their bodies and hashes are the same bytes.

use super::super::to_pg;
use crate::codec::{self, BodyRef};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// One multi-row insert from column arrays.
pub(in crate::store::postgres) const INSERT_SQL: &str = "INSERT INTO events
             (position, stream, stream_version, event_id, body, prev_hash, hash, recorded_at)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::uuid[],
                              $5::bytea[], $6::bytea[], $7::bytea[], $8::timestamptz[])";

/// Column arrays for one `INSERT … SELECT * FROM unnest(…)`.
#[derive(Default)]
pub(in crate::store::postgres) struct Rows {
    pub position: Vec<i64>,
    pub stream: Vec<String>,
    pub stream_version: Vec<i64>,
    pub event_id: Vec<Uuid>,
    pub body: Vec<Vec<u8>>,
    pub prev_hash: Vec<Vec<u8>>,
    pub hash: Vec<Vec<u8>>,
    pub recorded_at: Vec<DateTime<Utc>>,
}

impl Rows {
    /// Encodes one event's body, chains it to `prev` and stages its row; returns its
    /// chain hash. Appends and imports build rows the same way, so their bodies and
    /// hashes are the same bytes.
    pub(in crate::store::postgres) fn push(
        &mut self,
        prev: projections::Hash,
        fields: &BodyRef<'_>,
    ) -> Result<projections::Hash, StoreError> {
        let mut body = Vec::with_capacity(512);
        codec::encode_body(&mut body, fields)?;
        let hash = codec::chain_hash(&prev, &body);
        self.position.push(to_pg(fields.position));
        self.stream.push(fields.stream.to_owned());
        self.stream_version.push(to_pg(fields.stream_version));
        self.event_id.push(fields.event_id);
        self.body.push(body);
        self.prev_hash.push(prev.0.to_vec());
        self.hash.push(hash.0.to_vec());
        self.recorded_at.push(fields.recorded_at);
        Ok(hash)
    }

    pub(super) fn extend(&mut self, other: Rows) {
        self.position.extend(other.position);
        self.stream.extend(other.stream);
        self.stream_version.extend(other.stream_version);
        self.event_id.extend(other.event_id);
        self.body.extend(other.body);
        self.prev_hash.extend(other.prev_hash);
        self.hash.extend(other.hash);
        self.recorded_at.extend(other.recorded_at);
    }
}

/// Inserts `rows` with `statement` ([`INSERT_SQL`], prepared on `client`'s
/// connection); `sql` text works too (the import's one-off transaction).
pub(in crate::store::postgres) async fn insert<C, T>(
    client: &C,
    statement: &T,
    rows: &Rows,
) -> Result<u64, tokio_postgres::Error>
where
    C: GenericClient + Sync,
    T: tokio_postgres::ToStatement + Sync + Send + ?Sized,
{
    client
        .execute(
            statement,
            &[
                &rows.position,
                &rows.stream,
                &rows.stream_version,
                &rows.event_id,
                &rows.body,
                &rows.prev_hash,
                &rows.hash,
                &rows.recorded_at,
            ],
        )
        .await
}
