//! What every conformance case needs: a harness over one backend and event builders.

use alert_ledger::store::{EventStore, NewEvent};
use futures_util::future::BoxFuture;
use projections::ids::AlertId;
use projections::{Event, Metadata};
use std::sync::Arc;
use uuid::Uuid;

/// One backend under test, holding a fresh store and whatever keeps its data alive
/// (a temp dir, a database).
pub trait Harness: Send {
    /// The store under test.
    fn store(&self) -> Arc<dyn EventStore>;
    /// Closes the store and opens a new one on the same data.
    fn reopen(&mut self) -> BoxFuture<'_, Arc<dyn EventStore>>;
}

/// A note of roughly 300 bytes once encoded, with a fresh event id.
pub fn note(label: &str) -> NewEvent {
    NewEvent {
        event_id: Uuid::new_v4(),
        event: Event::NoteAdded {
            alert_id: AlertId(Uuid::from_u128(42)),
            text: format!("{label}: {}", "x".repeat(96)),
        },
        metadata: Metadata {
            actor: Some("conformance".into()),
            ..Metadata::default()
        },
    }
}

/// `count` notes labelled `label-0`, `label-1`, ...
pub fn notes(label: &str, count: usize) -> Vec<NewEvent> {
    (0..count).map(|i| note(&format!("{label}-{i}"))).collect()
}

/// The label a note was built with.
pub fn label_of(event: &Event) -> String {
    match event {
        Event::NoteAdded { text, .. } => text.split(':').next().unwrap_or_default().to_owned(),
        other => format!("{other:?}"),
    }
}
