//! Request body schemas, derived from the types the handlers parse (`utoipa::ToSchema`):
//! their fields, which are required, which take `null` (an `Option` on the server),
//! unknown fields refused (`#[serde(deny_unknown_fields)]` → `additionalProperties:
//! false`), and each checked field's limits from [`crate::app::limits::schema`], built
//! from the constants the checks read. Nothing here restates a field.

use serde_json::{json, Value};
use utoipa::PartialSchema;

/// The schema of the body type `T`, inline.
pub fn of<T: PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_else(|err| panic!("a body schema: {err}"))
}

/// `POST /v1/tasks/{id}/hosts/{host}/start`: an optional object whose fields the server
/// ignores (it parses a JSON map).
pub fn start() -> Value {
    json!({ "type": "object" })
}
