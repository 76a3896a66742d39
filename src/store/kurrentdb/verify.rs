//! `verify` for the KurrentDB backend: the whole of `$all` re-read and the chain of
//! our records checked ([`super::KurrentStore::verify`]).

use super::mapping::{self, ChainTip, ReadFrom};
use super::read::read_all_page;
use crate::store::{Head, StoreError};
use kurrentdb::Client;
use projections::Hash;

/// Reads all of `$all` and checks the chain: sequences 1, 2, … without gap or fork,
/// each `prev_hash` the previous record's hash, each hash recomputed from the stored
/// data, each body decodable. The head it ends at, or `Corrupt` at the first bad
/// record (`segment` = `$all`, `offset` = its commit position).
pub(super) async fn verify(client: &Client) -> Result<Head, StoreError> {
    let mut tip = ChainTip::GENESIS;
    let mut head = Head {
        position: 0,
        hash: Hash::GENESIS,
    };
    let mut from = ReadFrom::Start;
    loop {
        let page = read_all_page(client, from, 1024).await?;
        let Some(last) = page.last() else {
            return Ok(head);
        };
        from = ReadFrom::After(last.commit);
        for record in &page {
            let stored = record.as_stored();
            if !mapping::is_ours(&stored) {
                continue;
            }
            let position = mapping::to_position(stored.commit);
            let corrupt = |reason: String| StoreError::Corrupt {
                segment: "$all".into(),
                offset: stored.commit,
                position,
                reason,
            };
            let next = mapping::chain_tip(&stored)?;
            if next.seq != tip.seq + 1 {
                return Err(corrupt(format!(
                    "chain sequence {} follows {} (a gap, or two writers forked the chain)",
                    next.seq, tip.seq
                )));
            }
            if !mapping::hash_matches(&stored, &tip.hash)? {
                return Err(corrupt("hash chain broken".into()));
            }
            mapping::decode_record(&stored).map_err(|err| corrupt(err.to_string()))?;
            tip = next;
            head = Head {
                position,
                hash: next.hash,
            };
        }
    }
}
