//! The single writer: the one place that checks expected versions, answers idempotent
//! re-appends, assigns positions and writes.
//!
//! It runs on its own thread (file IO blocks). Each round takes the first queued
//! request, drains whatever else is queued (up to `max_batch_bytes`), encodes every
//! accepted append into one buffer, and makes it durable with one positional write and
//! one `fdatasync` (group commit), then records the batch's end in the durable-end
//! witness (a small overwrite of another file, synced by the witness's own thread off
//! this path: see `witness`). Only then are the index, the head watch and the replies
//! updated, so every acknowledged event lies at or before the witness and recovery can
//! tell damage to it from a torn write. If the write, the sync or the witness record
//! fails, every append of the batch is refused with `Unavailable`, nothing advances,
//! and the next batch is written at the same offset, zero-padded over whatever the
//! failed batch may have left.

use super::batch::{check, Batch, Check, Reply, Staged};
use super::format::{Record, MAX_BODY_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN};
use super::index::{IdEntry, IdIndex, SegmentIndex};
use super::sealing::write_index_in_background;
use super::segment::{create_segment, install_segment, prepare_segment, PreparedSegment};
use super::witness::WitnessFile;
use super::{EmbeddedOptions, Shared};
use crate::codec::{chain_hash, encode_body, encode_time, BodyRef, EncodedPayload};
use crate::io::{write_all_at, LogFile};
use crate::store::{AppendResult, DataLoss, ExpectedVersion, Head, NewEvent, StoreError};
use projections::{Hash, Position, RecordedEvent, StreamVersion};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};

/// A message to the writer.
pub(super) enum Command {
    /// Append events to a stream.
    Append(AppendRequest),
    /// Finish what is queued before this, then stop.
    Close(oneshot::Sender<Result<(), StoreError>>),
}

/// One append call waiting for the writer.
pub(super) struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// Set only by import: the time the events were first recorded (so an imported
    /// log hashes exactly as the exported one did). `None`: the batch's time.
    pub recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Each event's metadata and payload as JSON, encoded by the caller (the writer
    /// only adds the envelope around them).
    pub payloads: Vec<EncodedPayload>,
    pub reply: oneshot::Sender<Result<AppendResult, StoreError>>,
}

impl AppendRequest {
    /// A request for `events`, their metadata and payloads encoded here, on the
    /// caller's thread, rather than on the writer's.
    pub fn new(
        stream: String,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        recorded_at: Option<chrono::DateTime<chrono::Utc>>,
        reply: oneshot::Sender<Result<AppendResult, StoreError>>,
    ) -> Result<AppendRequest, StoreError> {
        let payloads = events
            .iter()
            .map(|event| EncodedPayload::new(&event.metadata, &event.event))
            .collect::<Result<_, _>>()?;
        Ok(AppendRequest {
            stream,
            expected,
            events,
            recorded_at,
            payloads,
            reply,
        })
    }
}

struct Writer {
    options: EmbeddedOptions,
    shared: Arc<Shared>,
    ids: IdIndex,
    file: Arc<dyn LogFile>,
    sequence: u64,
    write_offset: u64,
    dirty_end: u64,
    head: Head,
    head_tx: watch::Sender<Position>,
    /// Where the last durable batch ends, synced before any of it is acknowledged.
    witness: WitnessFile,
    body: Vec<u8>,
    /// The last batch's buffer, emptied, for the next batch to encode into.
    spare: Vec<u8>,
    /// The next segment, being zero-filled on a helper thread once the current one is
    /// half full, so a rollover does not stall appends behind a 64 MiB write.
    next_segment: Option<std::thread::JoinHandle<std::io::Result<PreparedSegment>>>,
    /// Index files of sealed segments being written on helper threads.
    index_writes: Vec<std::thread::JoinHandle<()>>,
    /// Where the events the tail lets go are sent to be freed, off this thread (a
    /// large batch frees thousands of events; `None`: freed here).
    dropper: Option<std::sync::mpsc::Sender<Vec<(RecordedEvent, usize)>>>,
}

/// What recovery hands the writer.
pub(super) struct Start {
    /// Recent event ids.
    pub ids: IdIndex,
    /// Where the next record goes in the last segment.
    pub write_offset: u64,
    /// End of possibly non-zero bytes after `write_offset`.
    pub dirty_end: u64,
    /// The durable-end witness.
    pub witness: WitnessFile,
    /// The witness was missing: write it before anything else.
    pub witness_stale: bool,
    /// Losses the operator accepted, recorded in the log before the writer serves.
    pub losses: Vec<DataLoss>,
}

/// Records accepted losses and a missing witness (on the calling thread, so the open
/// returns only once they are durable), then starts the writer thread.
pub(super) fn spawn(
    options: EmbeddedOptions,
    shared: Arc<Shared>,
    start: Start,
    head_tx: watch::Sender<Position>,
    commands: mpsc::Receiver<Command>,
) -> Result<(), StoreError> {
    let (file, sequence, head) = {
        let index = shared.read_index()?;
        let last = index
            .segments
            .last()
            .ok_or_else(|| StoreError::Unavailable("log has no segment".into()))?;
        (last.file.clone(), last.sequence, index.head)
    };
    let mut writer = Writer {
        options,
        shared,
        ids: start.ids,
        file,
        sequence,
        write_offset: start.write_offset,
        dirty_end: start.dirty_end,
        head,
        head_tx,
        witness: start.witness,
        body: Vec::with_capacity(1024),
        spare: Vec::new(),
        next_segment: None,
        index_writes: Vec::new(),
        dropper: spawn_dropper(),
    };
    if start.witness_stale && start.losses.is_empty() {
        writer.record_witness(writer.write_offset)?;
    }
    if !start.losses.is_empty() {
        for loss in start.losses {
            writer.record_loss(&loss)?;
        }
        writer
            .witness
            .sync()
            .map_err(|e| StoreError::io("sync the durable end", e))?;
    }
    std::thread::Builder::new()
        .name("alert-ledger-writer".into())
        .spawn(move || writer.run(commands))
        .map_err(|e| StoreError::io("spawn writer thread", e))?;
    Ok(())
}

impl Writer {
    /// Appends the event that records `loss`, as one batch of its own.
    fn record_loss(&mut self, loss: &DataLoss) -> Result<(), StoreError> {
        let (reply, mut response) = oneshot::channel();
        let request = AppendRequest::new(
            DataLoss::STREAM.into(),
            ExpectedVersion::Any,
            vec![loss.to_event()],
            None,
            reply,
        )?;
        let mut batch = self.new_batch();
        if let Some(request) = self.stage(&mut batch, request) {
            self.commit(batch);
            let mut batch = self.new_batch();
            let _ = self.stage(&mut batch, request);
            self.commit(batch);
        } else {
            self.commit(batch);
        }
        let result = response
            .try_recv()
            .map_err(|_| StoreError::Unavailable("the loss record was not written".into()))??;
        tracing::error!(
            position = result.first_position,
            first_lost_position = loss.first_lost_position,
            "data loss recorded in the log (stream {})",
            DataLoss::STREAM
        );
        Ok(())
    }

    /// Records in the witness that the log is durable up to the head, ending at `end`,
    /// and syncs it before anything else is written.
    fn record_witness(&mut self, end: u64) -> Result<(), StoreError> {
        self.witness
            .record(self.head.position, self.sequence, end, self.head.hash)
            .and_then(|()| self.witness.sync())
            .map_err(|e| StoreError::io("record the durable end", e))
    }

    fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut carried: Option<AppendRequest> = None;
        loop {
            let first = match carried.take() {
                Some(request) => Command::Append(request),
                None => match commands.blocking_recv() {
                    Some(command) => command,
                    None => return,
                },
            };
            let request = match first {
                Command::Append(request) => request,
                Command::Close(reply) => return self.close(reply),
            };
            let mut batch = self.new_batch();
            let mut close = None;
            carried = self.stage(&mut batch, request);
            while carried.is_none() && batch.bytes.len() < self.options.max_batch_bytes {
                self.write_early(&mut batch);
                match commands.try_recv() {
                    Ok(Command::Append(request)) => carried = self.stage(&mut batch, request),
                    Ok(Command::Close(reply)) => {
                        close = Some(reply);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch);
            if let Some(reply) = close {
                return self.close(reply);
            }
        }
    }

    fn close(mut self, reply: oneshot::Sender<Result<(), StoreError>>) {
        self.scrub();
        if let Some(preparing) = self.next_segment.take() {
            let _ = preparing.join();
        }
        for writing in self.index_writes.drain(..) {
            let _ = writing.join();
        }
        let result = self
            .file
            .sync_data()
            .and_then(|()| self.witness.sync())
            .map_err(|e| StoreError::io("sync on close", e));
        self.shared.closed.store(true, Ordering::Release);
        tracing::info!(head = self.head.position, "embedded store closed");
        let _ = reply.send(result);
    }

    /// Adds `request` to `batch`, or hands it back when it must wait for the next batch
    /// (it does not fit the current segment behind what the batch already holds).
    fn stage(&mut self, batch: &mut Batch, request: AppendRequest) -> Option<AppendRequest> {
        let checked = self
            .shared
            .read_index()
            .and_then(|index| check(&index, &self.ids, batch, &request));
        let current = match checked {
            Ok(Check::Write(current)) => current,
            Ok(Check::Replay(result)) => {
                batch.replies.push((request.reply, Ok(result)));
                return None;
            }
            Err(err) => {
                batch.replies.push((request.reply, Err(err)));
                return None;
            }
        };
        let mark = batch.bytes.len();
        let encoded = match self.encode(batch, &request, current) {
            Ok(encoded) => encoded,
            Err(err) => {
                batch.bytes.truncate(mark);
                batch.replies.push((request.reply, Err(err)));
                return None;
            }
        };
        let size = (batch.bytes.len() - mark) as u64;
        if self.write_offset + batch.bytes.len() as u64 > self.options.segment_size {
            batch.bytes.truncate(mark);
            if mark > 0 {
                return Some(request);
            }
            if let Err(err) = self.roll_over(size) {
                batch.replies.push((request.reply, Err(err)));
                return None;
            }
            return self.stage(batch, request);
        }
        self.accept(batch, request, current, mark, encoded);
        None
    }

    /// Records an encoded append in the batch's overlay, keeps its events as recorded
    /// (for the tail, once durable) and queues its reply. `encoded`: each event's
    /// chain hashes and body length, as encoded.
    fn accept(
        &mut self,
        batch: &mut Batch,
        request: AppendRequest,
        current: Option<StreamVersion>,
        mark: usize,
        encoded: Vec<Encoded>,
    ) {
        let append = batch.streams.len();
        let first_version = current.map_or(0, |v| v + 1);
        let recorded_at = request.recorded_at.unwrap_or(batch.recorded_at);
        let count = request.events.len() as u64;
        let mut offset = mark;
        for (i, (event, encoded)) in request.events.into_iter().zip(encoded).enumerate() {
            let entry = IdEntry {
                position: batch.head.position + 1 + i as u64,
                stream_version: first_version + i as u64,
            };
            batch.ids.insert(event.event_id, batch.records.len());
            batch.records.push(Staged {
                event_id: event.event_id,
                append,
                entry,
                offset_in_batch: offset,
            });
            offset += frame_len_at(&batch.bytes, offset);
            let recorded = RecordedEvent {
                event_id: event.event_id,
                stream: request.stream.clone(),
                stream_version: entry.stream_version,
                position: entry.position,
                recorded_at,
                schema_version: event.event.schema_version(),
                metadata: event.metadata,
                event: event.event,
                prev_hash: encoded.prev_hash,
                hash: encoded.hash,
            };
            batch.recorded.push((recorded, encoded.len));
        }
        let result = AppendResult {
            first_position: batch.head.position + 1,
            last_position: batch.head.position + count,
            stream_version: first_version + count - 1,
        };
        batch.head.position += count;
        batch.head.hash = last_hash_in(&batch.bytes, mark);
        batch
            .versions
            .insert(request.stream.clone(), result.stream_version);
        batch.streams.push(request.stream);
        batch.appends += 1;
        batch.replies.push((request.reply, Ok(result)));
    }

    /// Encodes every event of `request` into the batch buffer, chained to the batch
    /// head; returns each event's chain hashes and body length.
    fn encode(
        &mut self,
        batch: &mut Batch,
        request: &AppendRequest,
        current: Option<StreamVersion>,
    ) -> Result<Vec<Encoded>, StoreError> {
        let mut encoded = Vec::with_capacity(request.events.len());
        let mut prev_hash = batch.head.hash;
        let first_version = current.map_or(0, |v| v + 1);
        let last = request.events.len().saturating_sub(1);
        let recorded_at = encode_time(&request.recorded_at.unwrap_or(batch.recorded_at))?;
        for (i, (event, payload)) in request.events.iter().zip(&request.payloads).enumerate() {
            let position = batch.head.position + 1 + i as u64;
            self.body.clear();
            encode_body(
                &mut self.body,
                &BodyRef {
                    event_id: event.event_id,
                    stream: &request.stream,
                    stream_version: first_version + i as u64,
                    position,
                    recorded_at: &*recorded_at,
                    event_type: event.event.event_type(),
                    schema_version: event.event.schema_version(),
                    metadata: &*payload.metadata,
                    event: &*payload.event,
                },
            )?;
            if self.body.len() > MAX_BODY_LEN {
                return Err(StoreError::Unavailable(
                    format!(
                        "event {} is larger than {MAX_BODY_LEN} bytes",
                        event.event_id
                    )
                    .into(),
                ));
            }
            let hash = chain_hash(&prev_hash, &self.body);
            Record {
                last_of_append: i == last,
                prev_hash,
                hash,
                body: &self.body,
            }
            .encode_into(&mut batch.bytes);
            encoded.push(Encoded {
                prev_hash,
                hash,
                len: self.body.len(),
            });
            prev_hash = hash;
        }
        Ok(encoded)
    }

    /// Zeroes whatever a refused batch may have left past the durable end, so that a
    /// later open cannot mistake refused records for written ones. On failure the
    /// region stays dirty and the next batch pads over it.
    fn scrub(&mut self) {
        if self.dirty_end <= self.write_offset {
            return;
        }
        let zeros = vec![0u8; (self.dirty_end - self.write_offset) as usize];
        let scrubbed = write_all_at(self.file.as_ref(), &zeros, self.write_offset)
            .and_then(|()| self.file.sync_data());
        match scrubbed {
            Ok(()) => self.dirty_end = self.write_offset,
            Err(err) => tracing::warn!(error = %err, "could not clear a refused batch yet"),
        }
    }

    /// Moves writing to a fresh segment; fails if `size` cannot fit even there.
    fn roll_over(&mut self, size: u64) -> Result<(), StoreError> {
        if SEGMENT_HEADER_LEN as u64 + size > self.options.segment_size {
            return Err(StoreError::Unavailable(
                format!(
                    "append of {size} bytes exceeds the segment size {}",
                    self.options.segment_size
                )
                .into(),
            ));
        }
        self.scrub();
        if self.dirty_end > self.write_offset {
            return Err(StoreError::Unavailable(
                "cannot clear a refused batch before rollover".into(),
            ));
        }
        let sequence = self.sequence + 1;
        let (path, file) = self
            .take_prepared_segment(sequence)
            .or_else(|_| {
                create_segment(
                    self.options.fs.as_ref(),
                    &self.options.data_dir,
                    sequence,
                    self.options.segment_size,
                )
            })
            .map_err(|e| StoreError::io("create segment", e))?;
        tracing::info!(segment = %path.display(), "rolled over to a new segment");
        let mut index = self
            .shared
            .index
            .write()
            .map_err(|_| StoreError::Unavailable("index lock poisoned".into()))?;
        let sealed = index.seal_last();
        index.segments.push(SegmentIndex::active(
            sequence,
            path,
            file.clone(),
            self.head.position + 1,
            self.head.hash,
        ));
        drop(index);
        self.ids.seal_active();
        if let Some(sealed) = sealed {
            self.index_writes.retain(|writing| !writing.is_finished());
            let fs = self.options.fs.clone();
            let dir = self.options.data_dir.clone();
            let shared = Arc::downgrade(&self.shared);
            let sealed_sequence = sealed.sequence;
            let install = move |file| {
                if let Some(shared) = shared.upgrade() {
                    if let Ok(mut index) = shared.index.write() {
                        index.install_file(sealed_sequence, file);
                    }
                }
            };
            self.index_writes
                .extend(write_index_in_background(fs, dir, sealed, install));
        }
        self.file = file;
        self.sequence = sequence;
        self.write_offset = SEGMENT_HEADER_LEN as u64;
        self.dirty_end = self.write_offset;
        Ok(())
    }

    /// Starts zero-filling the next segment once the current one is half full.
    fn prepare_next_segment_early(&mut self) {
        if self.next_segment.is_some() || self.write_offset < self.options.segment_size / 2 {
            return;
        }
        let fs = self.options.fs.clone();
        let dir = self.options.data_dir.clone();
        let (sequence, size) = (self.sequence + 1, self.options.segment_size);
        let spawned = std::thread::Builder::new()
            .name("alert-ledger-prealloc".into())
            .spawn(move || prepare_segment(fs.as_ref(), &dir, sequence, size));
        match spawned {
            Ok(handle) => self.next_segment = Some(handle),
            Err(err) => tracing::warn!(error = %err, "cannot start segment preallocation"),
        }
    }

    /// Installs the segment prepared in the background, if it is the one wanted.
    fn take_prepared_segment(
        &mut self,
        sequence: u64,
    ) -> std::io::Result<(std::path::PathBuf, Arc<dyn LogFile>)> {
        let not_ready = || std::io::Error::other("no prepared segment");
        let handle = self.next_segment.take().ok_or_else(not_ready)?;
        let prepared = handle.join().map_err(|_| not_ready())??;
        if prepared.sequence() != sequence {
            return Err(not_ready());
        }
        install_segment(self.options.fs.as_ref(), &self.options.data_dir, prepared)
    }

    /// An empty batch after the head, encoding into the last batch's buffer.
    fn new_batch(&mut self) -> Batch {
        Batch::new(self.head, std::mem::take(&mut self.spare))
    }

    /// Once a batch holds `early_write_bytes` not yet written, writes them to the file
    /// and starts their writeback, so the disk works while the rest of the batch is
    /// encoded; the batch's one `fdatasync` then has less left to wait for. Nothing is
    /// acknowledged or published earlier than before: what is written here lies past
    /// the durable end until the batch's sync and witness record, and `dirty_end`
    /// covers it, so a batch that fails (or ends shorter) is padded or scrubbed over.
    /// A failed early write is left to the batch's own write, which reports it.
    fn write_early(&mut self, batch: &mut Batch) {
        let (from, to) = (batch.written_early, batch.bytes.len());
        if to - from < self.options.early_write_bytes.max(1) {
            return;
        }
        let offset = self.write_offset + from as u64;
        self.dirty_end = self.dirty_end.max(self.write_offset + to as u64);
        if write_all_at(self.file.as_ref(), &batch.bytes[from..to], offset).is_ok() {
            batch.written_early = to;
            let _ = self.file.start_writeback(offset, (to - from) as u64);
        }
    }

    /// Writes and syncs the batch, then publishes it; or refuses every append in it.
    /// Keeps the batch's buffer for the next one unless it grew unusually large.
    fn commit(&mut self, mut batch: Batch) {
        let mut bytes = std::mem::take(&mut batch.bytes);
        self.write_and_publish(batch, &mut bytes);
        if bytes.capacity() <= 2 * self.options.max_batch_bytes {
            self.spare = bytes;
        }
    }

    fn write_and_publish(&mut self, mut batch: Batch, bytes: &mut Vec<u8>) {
        let recorded = std::mem::take(&mut batch.recorded);
        if bytes.is_empty() {
            return send_replies(batch.replies);
        }
        let written = bytes.len() as u64;
        let padded_end = self.dirty_end.max(self.write_offset + written);
        bytes.resize((padded_end - self.write_offset) as usize, 0);
        let early = batch.written_early;
        let rest_offset = self.write_offset + early as u64;
        let durable = write_all_at(self.file.as_ref(), &bytes[early..], rest_offset)
            .and_then(|()| self.file.sync_data())
            .and_then(|()| {
                let end = self.write_offset + written;
                let (head, hash) = (batch.head.position, batch.head.hash);
                self.witness.record(head, self.sequence, end, hash)
            });
        let shared = self.shared.clone();
        let counters = &shared.counters;
        if let Err(err) = durable {
            self.dirty_end = padded_end;
            counters.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %err, offset = self.write_offset, "batch write, fdatasync or durable-end record failed; refusing its appends");
            let reason: Arc<str> =
                format!("write, fdatasync or durable-end record failed: {err}").into();
            for (reply, _) in batch.replies {
                let _ = reply.send(Err(StoreError::Unavailable(reason.clone())));
            }
            self.scrub();
            return;
        }
        if let Err(err) = self.publish(&batch, written, recorded) {
            for (reply, _) in batch.replies {
                let _ = reply.send(Err(err.clone()));
            }
            return;
        }
        self.prepare_next_segment_early();
        counters.batches.fetch_add(1, Ordering::Relaxed);
        if let Some(metrics) = &self.options.metrics {
            metrics.observe_store_batch(batch.records.len() as u64);
        }
        counters.appends.fetch_add(batch.appends, Ordering::Relaxed);
        counters
            .events
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        send_replies(batch.replies);
    }

    /// Makes a durable batch visible: index, ids, tail, head, watch.
    fn publish(
        &mut self,
        batch: &Batch,
        written: u64,
        recorded: Vec<(RecordedEvent, usize)>,
    ) -> Result<(), StoreError> {
        let mut index = self
            .shared
            .index
            .write()
            .map_err(|_| StoreError::Unavailable("index lock poisoned".into()))?;
        for record in &batch.records {
            let offset = (self.write_offset + record.offset_in_batch as u64) as u32;
            if let Some(sealing) = index.being_written() {
                sealing.push(
                    offset,
                    record.event_id,
                    &batch.streams[record.append],
                    record.entry.stream_version,
                    record.entry.position,
                );
            }
        }
        index.head = batch.head;
        if let Some(segment) = index.segments.last_mut() {
            segment.end = self.write_offset + written;
        }
        drop(index);
        for record in &batch.records {
            self.ids.insert(record.event_id, record.entry.position);
        }
        self.write_offset += written;
        self.dirty_end = self.write_offset;
        self.head = batch.head;
        let evicted = self.shared.tail.push(recorded);
        if let (Some(dropper), true) = (&self.dropper, evicted.len() >= DROP_ELSEWHERE_FROM) {
            let _ = dropper.send(evicted);
        }
        self.head_tx.send_replace(batch.head.position);
        Ok(())
    }
}

/// Evicted events freed on the dropper's thread only from this many: waking it costs
/// more than freeing a few (one connection's batches evict an event or two each).
const DROP_ELSEWHERE_FROM: usize = 256;

/// A thread that frees whatever it is sent, so the writer does not spend its time
/// dropping the events the tail evicts. It ends when the writer drops its sender.
fn spawn_dropper() -> Option<std::sync::mpsc::Sender<Vec<(RecordedEvent, usize)>>> {
    let (tx, rx) = std::sync::mpsc::channel::<Vec<(RecordedEvent, usize)>>();
    let spawned = std::thread::Builder::new()
        .name("alert-ledger-drop".into())
        .spawn(move || rx.into_iter().for_each(drop));
    match spawned {
        Ok(_) => Some(tx),
        Err(err) => {
            tracing::warn!(error = %err, "cannot start the thread that frees evicted events; the writer frees them");
            None
        }
    }
}

/// What encoding one event gave: its chain hashes and its body's length.
struct Encoded {
    prev_hash: Hash,
    hash: Hash,
    len: usize,
}

fn send_replies(replies: Vec<Reply>) {
    for (reply, result) in replies {
        let _ = reply.send(result);
    }
}

fn frame_len_at(bytes: &[u8], offset: usize) -> usize {
    let mut len = [0u8; 4];
    len.copy_from_slice(&bytes[offset..offset + 4]);
    RECORD_HEADER_LEN + u32::from_le_bytes(len) as usize
}

/// The chain hash of the last frame in `bytes[from..]`.
fn last_hash_in(bytes: &[u8], from: usize) -> projections::Hash {
    let mut offset = from;
    let mut hash = [0u8; 32];
    while offset < bytes.len() {
        hash.copy_from_slice(&bytes[offset + 48..offset + 80]);
        offset += frame_len_at(bytes, offset);
    }
    projections::Hash(hash)
}
