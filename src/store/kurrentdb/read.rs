//! Reads from the server: a stream either way, pages of `$all` (non-system records,
//! resuming strictly after a commit position), the newest record of ours, and the
//! fields of a client record we keep.

use super::mapping::{self, ChainTip, ReadFrom, StoredRecord};
use crate::store::{Direction, StoreError};
use kurrentdb::{Client, ReadAllOptions, ReadStreamOptions, StreamPosition, SubscriptionFilter};
use projections::StreamVersion;

/// The fields of a client record we keep (owned).
pub(super) struct Record {
    pub(super) stream: String,
    pub(super) event_type: String,
    pub(super) event_id: uuid::Uuid,
    pub(super) revision: u64,
    pub(super) commit: u64,
    pub(super) data: Vec<u8>,
    pub(super) custom_metadata: Vec<u8>,
}

impl Record {
    pub(super) fn from_client(event: &kurrentdb::ResolvedEvent) -> Record {
        let original = event.get_original_event();
        Record {
            stream: original.stream_id().to_owned(),
            event_type: original.event_type.clone(),
            event_id: original.id,
            revision: original.revision,
            commit: original.position.commit,
            data: original.data.to_vec(),
            custom_metadata: original.custom_metadata.to_vec(),
        }
    }

    pub(super) fn as_stored(&self) -> StoredRecord<'_> {
        StoredRecord {
            stream: &self.stream,
            event_type: &self.event_type,
            revision: self.revision,
            commit: self.commit,
            data: &self.data,
            custom_metadata: &self.custom_metadata,
        }
    }
}

pub(super) fn non_system() -> SubscriptionFilter {
    SubscriptionFilter::on_stream_name().exclude_system_events()
}

/// Up to `count` non-system records of `$all` from `from`, forwards.
pub(super) async fn read_all_page(
    client: &Client,
    from: ReadFrom,
    count: usize,
) -> Result<Vec<Record>, StoreError> {
    let (position, skip) = match from {
        ReadFrom::Start => (StreamPosition::Start, None),
        ReadFrom::At(commit) => (
            StreamPosition::Position(mapping::to_all_position(commit)),
            None,
        ),
        ReadFrom::After(commit) => (
            StreamPosition::Position(mapping::to_all_position(commit)),
            Some(commit),
        ),
    };
    let extra = usize::from(skip.is_some());
    let options = ReadAllOptions::default()
        .forwards()
        .position(position)
        .filter(non_system())
        .max_count(count + extra);
    let mut reader = client
        .read_all(&options)
        .await
        .map_err(|err| mapping::map_error("read $all", err))?;
    let mut out = Vec::with_capacity(count);
    while let Some(event) = reader
        .next()
        .await
        .map_err(|err| mapping::map_error("read $all", err))?
    {
        let record = Record::from_client(&event);
        if skip.is_some_and(|after| record.commit <= after) {
            continue;
        }
        out.push(record);
    }
    out.truncate(count);
    Ok(out)
}

/// The newest record of ours in `$all` (its commit position and chain tip).
pub(super) async fn last_record(client: &Client) -> Result<Option<(u64, ChainTip)>, StoreError> {
    let mut position = StreamPosition::End;
    loop {
        let options = ReadAllOptions::default()
            .backwards()
            .position(position)
            .filter(non_system())
            .max_count(256);
        let mut reader = client
            .read_all(&options)
            .await
            .map_err(|err| mapping::map_error("read $all", err))?;
        let mut seen = 0;
        let mut oldest = None;
        while let Some(event) = reader
            .next()
            .await
            .map_err(|err| mapping::map_error("read $all", err))?
        {
            seen += 1;
            let record = Record::from_client(&event);
            let stored = record.as_stored();
            if mapping::is_ours(&stored) {
                return Ok(Some((record.commit, mapping::chain_tip(&stored)?)));
            }
            oldest = Some(record.commit);
        }
        match oldest {
            Some(commit) if seen == 256 && commit > 0 => {
                position = StreamPosition::Position(mapping::to_all_position(commit));
            }
            _ => return Ok(None),
        }
    }
}

pub(super) async fn read_stream_records(
    client: &Client,
    stream: &str,
    from: StreamVersion,
    direction: Direction,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let options = match direction {
        Direction::Forward => ReadStreamOptions::default()
            .forwards()
            .position(StreamPosition::Position(from)),
        Direction::Backward if from == u64::MAX => ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::End),
        Direction::Backward => ReadStreamOptions::default()
            .backwards()
            .position(StreamPosition::Position(from)),
    }
    .max_count(limit);
    let mut reader = match client.read_stream(stream, &options).await {
        Ok(reader) => reader,
        Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
        Err(err) => return Err(mapping::map_error("read stream", err)),
    };
    let mut out = Vec::new();
    loop {
        match reader.next().await {
            Ok(Some(event)) => out.push(Record::from_client(&event)),
            Ok(None) => return Ok(out),
            Err(kurrentdb::Error::ResourceNotFound) => return Ok(Vec::new()),
            Err(err) => return Err(mapping::map_error("read stream", err)),
        }
    }
}

pub(super) async fn stream_version(
    client: &Client,
    stream: &str,
) -> Result<Option<StreamVersion>, StoreError> {
    let last = read_stream_records(client, stream, u64::MAX, Direction::Backward, 1).await?;
    Ok(last.first().map(|record| record.revision))
}
