//! Request extraction that names the field at fault: a JSON body extractor that
//! insists on `application/json` and reports the path of a bad field, and the
//! percent-decoding of query components (query strings themselves: [`super::query`]).

use super::error::ApiError;
use super::HttpState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::de::DeserializeOwned;

/// A JSON body, parsed with the failing field's path in the error.
pub struct ValidJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<HttpState> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &HttpState) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// Parses a request body as `T`, naming the field where parsing failed. The body must
/// be a JSON object: serde would otherwise fill a struct's fields by position from an
/// array (`["svc","key","summary","critical"]` would be a trigger). Every JSON body
/// of every route, native or receiver, goes through here.
///
/// A body that parses costs one plain parse; only one that fails is parsed again with
/// the path tracked (the parse is deterministic, so it fails at the same place), which
/// keeps the tracking's wrapping of every field off the path of valid requests.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    require_object(bytes)?;
    let bytes = super::json_rules::whole_numbers(bytes);
    if let Ok(parsed) = serde_json::from_slice::<T>(&bytes) {
        return Ok(parsed);
    }
    let mut deserializer = serde_json::Deserializer::from_slice(&bytes);
    let parsed: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let detail = err.into_inner().to_string();
        ApiError::MalformedBody {
            field: super::json_rules::field_at(&path, &detail),
            detail,
        }
    })?;
    deserializer.end().map_err(|err| ApiError::MalformedBody {
        field: None,
        detail: err.to_string(),
    })?;
    Ok(parsed)
}

/// Refuses a body whose JSON value is not an object, naming what it is. A body that
/// starts with `{` (after JSON whitespace), or is empty, is left to the parser; any
/// other body is not an object, so only that rare path parses it here to say what it is.
pub fn require_object(bytes: &[u8]) -> Result<(), ApiError> {
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if matches!(first, None | Some(b'{')) {
        return Ok(());
    }
    use serde_json::Value;
    let found = match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(_)) => return Ok(()),
        Ok(Value::Array(_)) => "an array".to_owned(),
        Ok(Value::String(_)) => "a string".to_owned(),
        Ok(Value::Number(_)) => "a number".to_owned(),
        Ok(Value::Bool(_)) => "a boolean".to_owned(),
        Ok(Value::Null) => "null".to_owned(),
        Err(err) => format!("invalid JSON ({err})"),
    };
    let detail = format!("the body must be a JSON object, not {found}");
    Err(ApiError::MalformedBody {
        field: None,
        detail,
    })
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Percent-decodes a query component (`+` is a space).
pub fn decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An optional JSON body: an empty body is `None`; a non-empty one must be JSON.
pub struct MaybeJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<HttpState> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &HttpState) -> Result<Self, ApiError> {
        let declared_json = is_json(req.headers().get(header::CONTENT_TYPE));
        let bytes = read_body(req, state).await?;
        if bytes.is_empty() {
            return Ok(MaybeJson(None));
        }
        if !declared_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(|parsed| MaybeJson(Some(parsed)))
    }
}

/// Reads the whole body, within the router's limit (`state.settings.body_limit`, which
/// `DefaultBodyLimit` enforces and the 413 names).
async fn read_body(req: Request, state: &HttpState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection| match rejection.status().as_u16() {
            413 => ApiError::PayloadTooLarge {
                limit: state.settings.body_limit,
            },
            _ if super::serve::is_body_timeout(&rejection) => ApiError::RequestTimeout,
            _ => ApiError::MalformedBody {
                field: None,
                detail: rejection.body_text(),
            },
        })
}
