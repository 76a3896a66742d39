//! The rules of an event filter ([`EventFilter`](projections::EventFilter)), shared by
//! `/v1/subscribe` and consumer groups: a stream or category is 1 to 256 bytes without
//! control characters, a category has no `-` (it is the part of a stream name before
//! the first one), and every event type is one this build knows. Each check names the
//! field it was given.

use super::AppError;
use projections::Event;

/// Longest accepted `stream` or `category` value, in bytes.
pub const MAX_NAME: usize = 256;

/// A `stream` or `category` value, if given.
pub fn name(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(AppError::field(
            field,
            format!("must be 1 to {MAX_NAME} characters without control characters"),
        ));
    }
    Ok(Some(value.to_owned()))
}

/// A `category` value, if given.
pub fn category(field: &str, value: Option<&str>) -> Result<Option<String>, AppError> {
    let category = name(field, value)?;
    if category.as_deref().is_some_and(|c| c.contains('-')) {
        return Err(AppError::field(
            field,
            "a category is the part of a stream name before its first `-`, so it has none",
        ));
    }
    Ok(category)
}

/// Adds the event type `name` to `types` (once), if this build knows it.
pub fn add_type(field: &str, types: &mut Vec<String>, name: &str) -> Result<(), AppError> {
    if !Event::TYPES.iter().any(|(known, _)| *known == name) {
        let known: Vec<&str> = Event::TYPES.iter().map(|(t, _)| *t).collect();
        return Err(AppError::field(
            field,
            format!("unknown event type `{name}`; known: {}", known.join(", ")),
        ));
    }
    if !types.iter().any(|t| t == name) {
        types.push(name.to_owned());
    }
    Ok(())
}
