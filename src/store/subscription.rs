//! Catch-up-then-live reading of `$all`, for any backend.
//!
//! Built only on [`EventStore::read_all`] and [`EventStore::watch_head`]: the
//! subscription reads pages from its position until it reaches the head, then waits
//! for the head to move and reads again. There is no separate live channel, so the
//! switch from catch-up to live cannot open a gap or deliver a duplicate, and a slow
//! consumer simply reads from the log at its own pace: memory is one page.

use super::{EventStore, StoreError};
use futures_util::Stream;
use projections::{Position, RecordedEvent};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::watch;

/// Events to read per page while catching up.
pub const DEFAULT_PAGE_SIZE: usize = 512;

pub use projections::EventFilter;

/// An ordered, gap-free reader of `$all` from a position, catching up then following
/// the head.
pub struct Subscription {
    store: Arc<dyn EventStore>,
    head: watch::Receiver<Position>,
    next_position: Position,
    buffer: VecDeque<RecordedEvent>,
    page_size: usize,
    filter: EventFilter,
}

impl Subscription {
    /// Subscribes to every event with position `>= from` (use 1, or 0, for all).
    pub fn new(store: Arc<dyn EventStore>, from: Position) -> Subscription {
        let head = store.watch_head();
        Subscription {
            store,
            head,
            next_position: from.max(1),
            buffer: VecDeque::new(),
            page_size: DEFAULT_PAGE_SIZE,
            filter: EventFilter::default(),
        }
    }

    /// Only delivers events that match `filter` (the rest are read and skipped).
    pub fn with_filter(mut self, filter: EventFilter) -> Subscription {
        self.filter = filter;
        self
    }

    /// Reads `page_size` events per `read_all` call (at least 1).
    pub fn with_page_size(mut self, page_size: usize) -> Subscription {
        self.page_size = page_size.max(1);
        self
    }

    /// The position the next read starts from: a checkpoint to resume from.
    pub fn next_position(&self) -> Position {
        self.buffer
            .front()
            .map_or(self.next_position, |event| event.position)
    }

    /// The next event, waiting for one if caught up. `None` once the store is closed
    /// (its head watch ends) and everything written was delivered. A read error is
    /// returned once; the next call retries from the same position.
    pub async fn next(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            while let Some(event) = self.buffer.pop_front() {
                if self.filter.matches(&event) {
                    return Some(Ok(event));
                }
            }
            let head = *self.head.borrow_and_update();
            if self.next_position <= head {
                match self.fill().await {
                    Ok(()) => {}
                    Err(StoreError::Closed) => return None,
                    Err(err) => return Some(Err(err)),
                }
                if !self.buffer.is_empty() {
                    continue;
                }
            }
            if self.head.changed().await.is_err() && *self.head.borrow() < self.next_position {
                return None;
            }
        }
    }

    /// Reads the next page into the buffer, dropping anything already delivered.
    async fn fill(&mut self) -> Result<(), StoreError> {
        let page = self
            .store
            .read_all(self.next_position, self.page_size)
            .await?;
        for event in page {
            if event.position >= self.next_position {
                self.next_position = event.position + 1;
                self.buffer.push_back(event);
            }
        }
        Ok(())
    }

    /// The subscription as a `Stream` of events.
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordedEvent, StoreError>> {
        futures_util::stream::unfold(self, |mut subscription| async move {
            let item = subscription.next().await?;
            Some((item, subscription))
        })
    }
}
