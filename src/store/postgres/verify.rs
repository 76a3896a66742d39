//! Re-checks the chain as stored: positions gap-free from 1, each `prev_hash` the
//! previous row's `hash`, each `hash = SHA-256(prev_hash || body)`, and each body
//! decodable at its position.

use super::{pg_error, to_pg};
use crate::codec;
use crate::store::{Head, StoreError};
use projections::Hash;
use tokio_postgres::Client;

/// Rows read per query.
const PAGE: i64 = 1000;

/// Walks the whole table; the head it ends at, or `Corrupt` at the first bad row.
pub(super) async fn verify(client: &Client) -> Result<Head, StoreError> {
    let statement = client
        .prepare(
            "SELECT position, body, prev_hash, hash FROM events
             WHERE position > $1 ORDER BY position LIMIT $2",
        )
        .await
        .map_err(pg_error)?;
    let mut head = Head {
        position: 0,
        hash: Hash::GENESIS,
    };
    loop {
        let rows = client
            .query(&statement, &[&to_pg(head.position), &PAGE])
            .await
            .map_err(pg_error)?;
        if rows.is_empty() {
            return Ok(head);
        }
        for row in rows {
            let position = row.get::<_, i64>(0) as u64;
            let body: &[u8] = row.get(1);
            let broken = |reason: String| StoreError::Corrupt {
                segment: "events".into(),
                offset: 0,
                position: head.position + 1,
                reason,
            };
            if position != head.position + 1 {
                return Err(broken(format!("next row is at position {position}")));
            }
            if row.get::<_, &[u8]>(2) != head.hash.0.as_slice() {
                return Err(broken("prev_hash is not the previous row's hash".into()));
            }
            let hash = codec::chain_hash(&head.hash, body);
            if row.get::<_, &[u8]>(3) != hash.0.as_slice() {
                return Err(broken(
                    "hash does not match SHA-256(prev_hash || body)".into(),
                ));
            }
            codec::decode_body(body, position, head.hash, hash)?;
            head = Head { position, hash };
        }
    }
}
