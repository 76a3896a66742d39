//! Server-Sent Events frames, encoded once per event and shared by every subscriber.
//!
//! One tail task per process follows the log (any backend, through a
//! [`Subscription`]) and encodes each event's whole SSE frame (`id`, `event`, `data`)
//! once into [`Bytes`], with the keys filters need beside it (stream, event type). The
//! frames go into a [`FrameRing`] bounded in bytes; the position of its newest frame is
//! published on a `watch`. A subscriber holds only a cursor: it takes the frames after
//! it, filters them and writes them as one chunk. One that falls behind the ring reads
//! the log itself until it reaches the ring again (`subscribe.rs`).
//!
//! The ring covers every event with a position after [`Ring::covers_after`] up to its
//! newest frame, in log order, so switching between the log and the ring at a cursor
//! can neither skip nor repeat an event.
//!
//! Nobody reading, nothing encoded: until a subscriber or consumer first looks at the
//! ring, and once nobody has looked at it for [`IDLE_AFTER`], the tail neither reads
//! nor encodes events: it follows the log's head alone and keeps the ring empty there
//! (its start moves with the head). The next reader finds it behind, reads the log
//! itself for that stretch, and its look makes the tail read and encode again from
//! the ring's start. A service that nobody subscribes to spends nothing on frames.

use crate::store::subscription::{EventFilter, Subscription};
use crate::store::EventStore;
use bytes::{Bytes, BytesMut};
use projections::{Position, RecordedEvent};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Bytes of frames the ring keeps unless configured otherwise.
pub const DEFAULT_RING_BYTES: usize = 8 * 1024 * 1024;

/// Most bytes of frames a subscriber writes as one chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// How long after the last look at the ring the tail goes on encoding frames.
pub const IDLE_AFTER: Duration = Duration::from_secs(30);

/// [`FrameRing::looked_at`] of a ring nobody has looked at yet.
const NEVER_LOOKED: u64 = u64::MAX;

/// What the ring counts per frame besides its bytes (the frame, its stream name,
/// allocator overhead), so its capacity bounds the memory it holds.
const FRAME_OVERHEAD: usize = 128;

/// One event's encoded frame and what filters look at.
pub struct Frame {
    /// The event's position in `$all`.
    pub position: Position,
    /// Its stream.
    pub stream: Box<str>,
    /// Its event type.
    pub event_type: &'static str,
    /// `id: …\nevent: …\ndata: …\n\n`.
    pub bytes: Bytes,
    /// Where the `data` value (the recorded event's JSON) starts in `bytes`.
    pub data_start: usize,
}

impl Frame {
    /// The frame of `event`.
    pub fn encode(event: &RecordedEvent) -> Result<Frame, serde_json::Error> {
        let event_type = event.event.event_type();
        let mut bytes = Vec::with_capacity(512);
        bytes.extend_from_slice(
            format!("id: {}\nevent: {event_type}\ndata: ", event.position).as_bytes(),
        );
        let data_start = bytes.len();
        serde_json::to_writer(&mut bytes, event)?;
        bytes.extend_from_slice(b"\n\n");
        Ok(Frame {
            position: event.position,
            stream: event.stream.as_str().into(),
            event_type,
            bytes: Bytes::from(bytes.into_boxed_slice()),
            data_start,
        })
    }

    /// The recorded event as one JSON object (the `data` line's value).
    pub fn data(&self) -> Bytes {
        self.bytes.slice(self.data_start..self.bytes.len() - 2)
    }

    /// Whether the frame passes `filter`.
    pub fn matches(&self, filter: &EventFilter) -> bool {
        filter.matches_keys(&self.stream, self.event_type)
    }
}

/// The frames held, oldest first.
struct Ring {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// Every event after this position, up to the newest frame, is held.
    covers_after: Position,
}

/// What a subscriber at a cursor can take from the ring.
pub enum Take {
    /// The ring no longer holds the events after the cursor: read the log.
    Behind,
    /// Nothing after the cursor yet: wait for the ring to move.
    Nothing,
    /// The matching frames after the cursor (possibly none matched), as one chunk, and
    /// the position of the last frame looked at (the new cursor).
    Frames {
        chunk: Option<Bytes>,
        last: Position,
    },
}

/// What a reader at a cursor found in the ring, with what it kept of each frame.
pub enum Visit<T> {
    /// The ring no longer holds the events after the cursor: read the log.
    Behind,
    /// Nothing after the cursor yet: wait for the ring to move.
    Nothing,
    /// What was kept of the frames looked at (possibly nothing), and the position of
    /// the last frame looked at (the new cursor).
    Visited {
        /// What `keep` returned for the frames it kept, in log order.
        kept: Vec<T>,
        /// The last position looked at.
        last: Position,
    },
}

/// The shared, bounded ring of encoded frames.
pub struct FrameRing {
    ring: RwLock<Ring>,
    newest: watch::Sender<Position>,
    capacity: usize,
    /// When the ring was made: [`FrameRing::looked_at`] counts from it.
    born: Instant,
    /// Milliseconds after `born` of the last look at the ring (`visit`);
    /// [`NEVER_LOOKED`] before the first.
    looked_at: AtomicU64,
    /// How long after the last look the tail goes on encoding ([`IDLE_AFTER`]).
    idle_after: Duration,
}

impl FrameRing {
    /// An empty ring that will hold the events after `start_after`, at most
    /// `capacity` bytes of them.
    pub fn new(start_after: Position, capacity: usize) -> FrameRing {
        FrameRing {
            ring: RwLock::new(Ring {
                frames: VecDeque::new(),
                bytes: 0,
                covers_after: start_after,
            }),
            newest: watch::channel(start_after).0,
            capacity,
            born: Instant::now(),
            looked_at: AtomicU64::new(NEVER_LOOKED),
            idle_after: IDLE_AFTER,
        }
    }

    /// The same ring, idle after `idle_after` without a look instead of [`IDLE_AFTER`].
    pub fn with_idle_after(mut self, idle_after: Duration) -> FrameRing {
        self.idle_after = idle_after;
        self
    }

    fn millis_since_born(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether someone looked at the ring within its idle time: whether the tail
    /// should read and encode events. A new ring is not read until its first look.
    pub fn is_read(&self) -> bool {
        let looked_at = self.looked_at.load(Ordering::Relaxed);
        if looked_at == NEVER_LOOKED {
            return false;
        }
        let idle = self.millis_since_born().saturating_sub(looked_at);
        u128::from(idle) < self.idle_after.as_millis()
    }

    /// With nobody reading: the ring holds nothing and starts after `position` (the
    /// tail's newest event), so a reader at an older cursor reads the log instead.
    pub fn pass(&self, position: Position) {
        if let Ok(mut ring) = self.ring.write() {
            ring.frames.clear();
            ring.bytes = 0;
            ring.covers_after = position;
        }
        self.newest.send_replace(position);
    }

    /// The position the ring holds events after (where the tail starts).
    pub fn covers_after(&self) -> Position {
        self.ring.read().map_or(0, |ring| ring.covers_after)
    }

    /// The newest position held, as it changes.
    pub fn watch(&self) -> watch::Receiver<Position> {
        self.newest.subscribe()
    }

    /// Adds frames (in log order, after everything held), dropping the oldest beyond
    /// the capacity.
    pub fn push(&self, frames: Vec<Frame>) {
        let Some(newest) = frames.last().map(|f| f.position) else {
            return;
        };
        if let Ok(mut ring) = self.ring.write() {
            for frame in frames {
                ring.bytes += frame.bytes.len() + FRAME_OVERHEAD;
                ring.frames.push_back(frame);
            }
            while ring.bytes > self.capacity && ring.frames.len() > 1 {
                let oldest = ring.frames.pop_front().expect("more than one frame");
                ring.bytes -= oldest.bytes.len() + FRAME_OVERHEAD;
                ring.covers_after = oldest.position;
            }
        }
        self.newest.send_replace(newest);
    }

    /// The frames after `cursor` that pass `filter`, up to about [`CHUNK_BYTES`].
    pub fn take(&self, cursor: Position, filter: &EventFilter) -> Take {
        let visit = self.visit(cursor, usize::MAX, |frame| {
            frame.matches(filter).then(|| frame.bytes.clone())
        });
        match visit {
            Visit::Behind => Take::Behind,
            Visit::Nothing => Take::Nothing,
            Visit::Visited { kept, last } => {
                let mut chunk = BytesMut::new();
                kept.iter().for_each(|bytes| chunk.extend_from_slice(bytes));
                let chunk = (!chunk.is_empty()).then(|| chunk.freeze());
                Take::Frames { chunk, last }
            }
        }
    }

    /// Looks at the frames after `cursor` in log order, keeping what `keep` returns,
    /// until about [`CHUNK_BYTES`] of kept frames or `max_kept` of them.
    pub fn visit<T>(
        &self,
        cursor: Position,
        max_kept: usize,
        mut keep: impl FnMut(&Frame) -> Option<T>,
    ) -> Visit<T> {
        self.looked_at
            .store(self.millis_since_born(), Ordering::Relaxed);
        let Ok(ring) = self.ring.read() else {
            return Visit::Behind;
        };
        if cursor < ring.covers_after {
            return Visit::Behind;
        }
        let from = ring.frames.partition_point(|f| f.position <= cursor);
        if from == ring.frames.len() {
            return Visit::Nothing;
        }
        let mut kept = Vec::new();
        let mut bytes = 0;
        let mut last = cursor;
        for frame in ring.frames.range(from..) {
            if bytes >= CHUNK_BYTES || kept.len() >= max_kept {
                break;
            }
            last = frame.position;
            if let Some(value) = keep(frame) {
                bytes += frame.bytes.len();
                kept.push(value);
            }
        }
        Visit::Visited { kept, last }
    }
}

/// Follows the log from where `ring` starts and fills it, until `stop` completes or
/// the store closes. While nobody reads the ring, it follows the head alone
/// ([`FrameRing::pass`]); while someone does, it reads and encodes every event. A read
/// that fails is retried from the same position.
pub async fn run_tail(
    store: Arc<dyn EventStore>,
    ring: Arc<FrameRing>,
    stop: impl Future<Output = ()> + Send + 'static,
) {
    let mut stop = std::pin::pin!(stop);
    let mut head = store.watch_head();
    let mut next = ring.covers_after() + 1;
    loop {
        if !ring.is_read() {
            let newest = *head.borrow_and_update();
            if newest >= next {
                ring.pass(newest);
                next = newest + 1;
            }
            tokio::select! {
                () = &mut stop => return,
                changed = head.changed() => if changed.is_err() { return },
            }
            continue;
        }
        match encode_while_read(&store, &ring, &mut next, &mut stop).await {
            Encoding::Stopped => return,
            Encoding::Idle => {}
            Encoding::Failed => tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
            },
        }
    }
}

/// Why [`encode_while_read`] returned.
enum Encoding {
    /// `stop` completed or the store closed.
    Stopped,
    /// Nobody has looked at the ring for its idle time.
    Idle,
    /// A read failed; `next` is where to retry.
    Failed,
}

/// Reads the log from `next` and pushes each event's frame into `ring`, as long as
/// someone reads it; `next` follows the last event pushed.
async fn encode_while_read(
    store: &Arc<dyn EventStore>,
    ring: &FrameRing,
    next: &mut Position,
    stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Encoding {
    let mut subscription = Subscription::new(store.clone(), *next);
    loop {
        let item = tokio::select! {
            () = stop.as_mut() => return Encoding::Stopped,
            item = subscription.next() => item,
        };
        match item {
            None => return Encoding::Stopped,
            Some(Ok(event)) => {
                *next = event.position + 1;
                match Frame::encode(&event) {
                    Ok(frame) => ring.push(vec![frame]),
                    Err(err) => {
                        tracing::error!(position = event.position, %err, "cannot encode event for subscribers");
                        ring.pass(event.position);
                    }
                }
                if !ring.is_read() {
                    return Encoding::Idle;
                }
            }
            Some(Err(err)) => {
                tracing::warn!(%err, position = *next, "the subscribers' tail cannot read the log; retrying");
                return Encoding::Failed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(position: Position, stream: &str) -> Frame {
        Frame {
            position,
            stream: stream.into(),
            event_type: "note_added",
            bytes: Bytes::from(format!("id: {position}\n\n")),
            data_start: 0,
        }
    }

    fn taken(ring: &FrameRing, cursor: Position, filter: &EventFilter) -> (String, Position) {
        match ring.take(cursor, filter) {
            Take::Frames { chunk, last } => (
                String::from_utf8(chunk.map_or_else(Vec::new, |c| c.to_vec())).unwrap(),
                last,
            ),
            Take::Behind => ("behind".into(), cursor),
            Take::Nothing => ("nothing".into(), cursor),
        }
    }

    #[test]
    fn the_ring_serves_what_follows_a_cursor_until_it_drops_it() {
        let every = EventFilter::default();
        let ring = FrameRing::new(10, 3 * (8 + FRAME_OVERHEAD));
        assert_eq!(taken(&ring, 10, &every).0, "nothing");
        assert_eq!(
            taken(&ring, 9, &every).0,
            "behind",
            "before where it starts"
        );
        ring.push((11..=13).map(|p| frame(p, "alert-a")).collect());
        assert_eq!(
            taken(&ring, 11, &every),
            ("id: 12\n\nid: 13\n\n".into(), 13)
        );
        ring.push(vec![frame(14, "alert-b")]);
        assert_eq!(ring.covers_after(), 11, "the oldest frame left");
        assert_eq!(taken(&ring, 10, &every).0, "behind");
        assert_eq!(taken(&ring, 11, &every).1, 14);
        assert_eq!(*ring.watch().borrow(), 14);
        let only_b = EventFilter {
            stream: Some("alert-b".into()),
            ..EventFilter::default()
        };
        assert_eq!(taken(&ring, 11, &only_b), ("id: 14\n\n".into(), 14));
        let only_a = EventFilter {
            category: Some("alert".into()),
            event_types: vec!["alert_triggered".into()],
            ..EventFilter::default()
        };
        assert_eq!(
            taken(&ring, 11, &only_a),
            (String::new(), 14),
            "skipped, cursor moves"
        );
        assert_eq!(taken(&ring, 14, &every).0, "nothing");
    }

    #[test]
    fn an_unread_ring_holds_nothing_and_starts_at_the_newest_event() {
        let every = EventFilter::default();
        let fresh = FrameRing::new(10, 1 << 20);
        assert!(!fresh.is_read(), "a new ring is idle until its first look");
        let ring = FrameRing::new(10, 1 << 20).with_idle_after(Duration::ZERO);
        assert!(!ring.is_read(), "idle at once");
        ring.push(vec![frame(11, "alert-a")]);
        ring.pass(12);
        assert_eq!(ring.covers_after(), 12);
        assert_eq!(
            taken(&ring, 10, &every).0,
            "behind",
            "the passed events are read from the log"
        );
        assert_eq!(taken(&ring, 11, &every).0, "behind");
        assert_eq!(taken(&ring, 12, &every).0, "nothing");
        assert_eq!(*ring.watch().borrow(), 12, "waiting readers wake");
        let looked = FrameRing::new(10, 1 << 20).with_idle_after(Duration::from_secs(60));
        let _ = looked.take(10, &every);
        assert!(looked.is_read(), "a look keeps it encoding");
    }

    /// Appends `count` notes, one append each.
    async fn append_notes(store: &Arc<dyn EventStore>, count: usize) {
        for i in 0..count {
            let note = crate::store::NewEvent {
                event_id: uuid::Uuid::new_v4(),
                event: projections::Event::NoteAdded {
                    alert_id: projections::ids::AlertId(uuid::Uuid::from_u128(7)),
                    text: format!("note {i}"),
                },
                metadata: projections::Metadata::default(),
            };
            store
                .append("alert-a", crate::store::ExpectedVersion::Any, vec![note])
                .await
                .unwrap();
        }
    }

    /// Waits (bounded) until `done` holds.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn the_tail_follows_the_head_alone_until_someone_looks_then_encodes_from_there() {
        let dir = tempfile::tempdir().unwrap();
        let options = crate::store::embedded::EmbeddedOptions::new(dir.path());
        let store: Arc<dyn EventStore> =
            Arc::new(crate::store::embedded::EmbeddedStore::open(options).unwrap());
        let ring = Arc::new(FrameRing::new(0, 1 << 20));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tail = tokio::spawn(run_tail(store.clone(), ring.clone(), async move {
            let _ = stopped.await;
        }));
        append_notes(&store, 3).await;
        eventually("the unread ring's start follows the head", || {
            ring.covers_after() == 3
        })
        .await;
        let every = EventFilter::default();
        assert_eq!(
            taken(&ring, 0, &every).0,
            "behind",
            "nothing was encoded while nobody read"
        );
        append_notes(&store, 2).await;
        eventually("the looked-at ring holds the events after the look", || {
            matches!(ring.take(3, &every), Take::Frames { last: 5, .. })
        })
        .await;
        let (frames, last) = taken(&ring, 3, &every);
        assert_eq!(last, 5);
        assert!(
            frames.starts_with("id: 4\n") && frames.contains("id: 5\n"),
            "{frames}"
        );
        let _ = stop.send(());
        tail.await.unwrap();
    }
}
