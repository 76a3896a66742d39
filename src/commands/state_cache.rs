//! The decision states of recently used streams, so a command on a hot stream (a
//! flapping alert's series) does not re-read the whole stream every time.
//!
//! An entry is only a starting guess: appends name the version the state reflects, so
//! a stale entry (another instance wrote) fails with a conflict, the entry is dropped
//! and the stream is read again. Bounded; the oldest entries go first.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Type-erased states by stream name.
pub struct StateCache {
    entries: Mutex<Entries>,
    capacity: usize,
}

#[derive(Default)]
struct Entries {
    by_stream: HashMap<String, Box<dyn Any + Send>>,
    oldest_first: VecDeque<String>,
}

impl StateCache {
    /// A cache of at most `capacity` streams.
    pub fn new(capacity: usize) -> Self {
        StateCache {
            entries: Mutex::new(Entries::default()),
            capacity,
        }
    }

    /// A copy of the cached state of `stream`, if it is cached as an `S`.
    pub fn get<S: Clone + 'static>(&self, stream: &str) -> Option<S> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.by_stream.get(stream)?.downcast_ref::<S>().cloned()
    }

    /// Remembers the state of `stream`.
    pub fn put<S: Send + 'static>(&self, stream: &str, state: S) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries
            .by_stream
            .insert(stream.to_owned(), Box::new(state))
            .is_none()
        {
            entries.oldest_first.push_back(stream.to_owned());
        }
        while entries.oldest_first.len() > self.capacity {
            if let Some(oldest) = entries.oldest_first.pop_front() {
                entries.by_stream.remove(&oldest);
            }
        }
    }

    /// Forgets `stream` (after a conflict or a failed append).
    pub fn remove(&self, stream: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.by_stream.remove(stream).is_some() {
            entries.oldest_first.retain(|s| s != stream);
        }
    }
}
