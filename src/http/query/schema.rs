//! The JSON Schema of each query parameter whose check says more than its Rust type,
//! built from the same constants the checks read (`app::limits`, the ids' `MAX_LEN`).
//!
//! Each is a type that only stands for its schema: a query struct names it in
//! `#[param(value_type = Option<schema::Page>, inline)]` (no `Option` for a required
//! parameter). utoipa's `schema_with` would do the same but drops the field's doc
//! comment (the parameter's description), `required` and `style`.

use crate::app::limits::schema::{self as body, category_json, fragment, stream_json};
use crate::app::limits::{
    DEFAULT_MEMBER_WAIT_SECS, DEFAULT_PAGE, EVENTS_PAGE, MEMBER_WAIT_SECS, PAGE, SEARCH_CHARS,
};
use projections::ids::HostName;
use projections::views::{AlertStatus, DeliveryState};
use serde_json::json;
use utoipa::openapi::{RefOr, Schema};

/// Declares a type whose OpenAPI schema is `$schema`.
macro_rules! schema_type {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn page_limit(max: usize) -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": 1, "maximum": max, "default": DEFAULT_PAGE }))
}

fn names(names: Vec<&str>) -> RefOr<Schema> {
    fragment(json!({ "type": "string", "enum": names }))
}

schema_type! {
    /// A page size of a view: 1 to [`PAGE`], [`DEFAULT_PAGE`] when not given.
    Page => page_limit(PAGE)
}

schema_type! {
    /// A page size of the log or a stream: 1 to [`EVENTS_PAGE`].
    EventsPage => page_limit(EVENTS_PAGE)
}

schema_type! {
    /// A log position or stream version: any whole number.
    Position => body::position::<0>()
}

schema_type! {
    /// A position or tree size that counts from 1.
    TreeSize => body::position::<1>()
}

schema_type! {
    /// A log position or an RFC 3339 time.
    AsOf => fragment(json!({
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            { "type": "string", "format": "date-time" }
        ]
    }))
}

schema_type! {
    /// An RFC 3339 time.
    Time => fragment(json!({ "type": "string", "format": "date-time" }))
}

schema_type! {
    /// Full-text search words: empty, or without a letter or digit, is no filter.
    Search => fragment(json!({ "type": "string", "maxLength": SEARCH_CHARS }))
}

schema_type! {
    /// A UUID.
    Uuid => fragment(json!({ "type": "string", "format": "uuid" }))
}

schema_type! {
    /// A host name.
    Host => fragment(json!({
        "type": "string",
        "pattern": body::name_pattern(HostName::MAX_LEN)
    }))
}

schema_type! {
    /// A service, resource, sync or member name.
    Name => body::name()
}

schema_type! {
    /// A severity's name.
    Severity => body::severity()
}

schema_type! {
    /// An alert's status.
    Status => names(AlertStatus::ALL.iter().map(|s| s.as_str()).collect())
}

schema_type! {
    /// An outgoing message's delivery state.
    Delivery => names(DeliveryState::ALL.iter().map(|s| s.as_str()).collect())
}

schema_type! {
    /// A stream's reading direction.
    Direction => fragment(json!({
        "type": "string",
        "enum": ["forward", "backward"],
        "default": "forward"
    }))
}

schema_type! {
    /// Where a subscription starts: a position, or `end`.
    SubscribeFrom => fragment(json!({
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": u64::MAX },
            { "type": "string", "enum": ["end"] }
        ],
        "default": "end"
    }))
}

schema_type! {
    /// A stream filter: one exact stream name.
    Stream => fragment(stream_json())
}

schema_type! {
    /// A category filter: the part of a stream name before its first `-`.
    Category => fragment(category_json())
}

schema_type! {
    /// Event types this build knows.
    EventTypes => body::event_types()
}

schema_type! {
    /// Seconds a consumer-group member's read holds the page open for a first event.
    MemberWait => fragment(json!({
        "type": "integer",
        "minimum": 0,
        "maximum": MEMBER_WAIT_SECS,
        "default": DEFAULT_MEMBER_WAIT_SECS
    }))
}
