//! Query strings parsed into typed structs that also document themselves: each route's
//! query is a `#[derive(Deserialize, IntoParams)]` struct, so the names, types, limits
//! and descriptions the OpenAPI document gives are the ones this parser reads.
//!
//! - A name the struct does not declare is a 422 naming `query.<name>` and listing the
//!   names it takes (serde's field names, which `IntoParams` documents with the same
//!   renames).
//! - A value of the wrong type is a 422 naming `query.<name>`; a missing required one
//!   says `is required`.
//! - A name given twice keeps its last value, except for sequence fields (`Vec<_>`),
//!   which keep every value in order.
//!
//! [`parse`] reads one struct; [`parse_with`] reads a route's own struct together with
//! a shared one (such as [`ViewAt`]) from the same query string.

pub mod schema;
mod value;
mod view_at;

pub use view_at::ViewAt;

use super::error::ApiError;
use super::extract::decode;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use value::{field_names, FieldError, Fields};

/// The query parameters of `T`, as the OpenAPI document lists them: each field's doc
/// comment, its lines joined, is its description.
pub fn documented<T: IntoParams>() -> Vec<Parameter> {
    let mut params = T::into_params(|| Some(ParameterIn::Query));
    for param in &mut params {
        if let Some(text) = &mut param.description {
            *text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        }
    }
    params
}

/// A route that takes no query parameters.
#[derive(Debug, Default, serde::Deserialize)]
pub struct NoQuery {}

/// Parses a raw query string into `T`.
pub fn parse<T: DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let (own, _): (T, NoQuery) = parse_with(raw)?;
    Ok(own)
}

/// Parses a raw query string into a route's own parameters `T` and shared ones `U`.
pub fn parse_with<T, U>(raw: Option<&str>) -> Result<(T, U), ApiError>
where
    T: DeserializeOwned,
    U: DeserializeOwned,
{
    let own = field_names::<T>();
    let shared = field_names::<U>();
    let mut values = split(raw, own, shared)?;
    let shared_values = shared
        .iter()
        .filter_map(|name| values.remove_entry(*name))
        .collect();
    Ok((fill(values)?, fill(shared_values)?))
}

/// A page size: `limit` if given (between 1 and `max`), else
/// [`DEFAULT_PAGE`](crate::app::limits::DEFAULT_PAGE).
pub fn limit(limit: Option<usize>, max: usize) -> Result<usize, ApiError> {
    match limit.unwrap_or(crate::app::limits::DEFAULT_PAGE) {
        0 => Err(out_of_range(max)),
        limit if limit > max => Err(out_of_range(max)),
        limit => Ok(limit),
    }
}

fn out_of_range(max: usize) -> ApiError {
    ApiError::field("query.limit", format!("must be between 1 and {max}"))
}

/// Every value by name, refusing names neither struct declares.
fn split(
    raw: Option<&str>,
    own: &[&str],
    shared: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key);
        if !own.contains(&key.as_str()) && !shared.contains(&key.as_str()) {
            let allowed: Vec<&str> = own.iter().chain(shared).copied().collect();
            return Err(ApiError::field(
                format!("query.{key}"),
                format!("unknown parameter; allowed: {}", allowed.join(", ")),
            ));
        }
        values.entry(key).or_default().push(decode(value));
    }
    Ok(values)
}

fn fill<T: DeserializeOwned>(values: BTreeMap<String, Vec<String>>) -> Result<T, ApiError> {
    T::deserialize(Fields::new(values)).map_err(|FieldError { field, message }| match field {
        Some(name) => ApiError::field(format!("query.{name}"), message),
        None => ApiError::field("query", message),
    })
}

#[cfg(test)]
mod tests;
