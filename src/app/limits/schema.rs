//! The JSON Schema of each request field whose check says more than its Rust type: the
//! request types name these functions in `#[schema(schema_with = ...)]`, and each builds
//! its limits from the constants the check reads (the parent module, the ids'
//! `MAX_LEN`), so the OpenAPI document derived from the types cannot drift from the
//! checks. A field that is an `Option` on the server takes `null` (serde reads it as
//! absent).

use super::*;
use projections::ids::{DedupKey, HostName, ServiceName};
use projections::Severity;
use serde_json::{json, Value};
use utoipa::openapi::{RefOr, Schema};

/// A schema written as JSON. Only forms utoipa's `Schema` represents exactly are used
/// here (every schema carries its `type`); debug builds check that nothing was dropped,
/// and `every_fragment_is_kept_exactly` builds them all.
pub fn fragment(value: Value) -> RefOr<Schema> {
    let schema: RefOr<Schema> =
        serde_json::from_value(value.clone()).unwrap_or_else(|err| panic!("not a schema: {err}"));
    debug_assert_eq!(serde_json::to_value(&schema).ok(), Some(value));
    schema
}

pub(crate) fn name_pattern(max: usize) -> String {
    format!("^[A-Za-z0-9._:-]{{1,{max}}}$")
}

fn name_json() -> Value {
    json!({ "type": "string", "pattern": name_pattern(ServiceName::MAX_LEN) })
}

fn nullable(mut schema: Value) -> Value {
    let kind = schema["type"].clone();
    schema["type"] = json!([kind, "null"]);
    schema
}

/// Non-blank text of at most `MAX` characters.
fn text_json(max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "pattern": "\\S" })
}

/// A service, resource, channel, policy, rule or group name: letters, digits, `. _ : -`.
pub fn name() -> RefOr<Schema> {
    fragment(name_json())
}

/// A name, or `null`.
pub fn optional_name() -> RefOr<Schema> {
    fragment(nullable(name_json()))
}

/// Non-blank text of at most `MAX` characters.
pub fn text<const MAX: usize>() -> RefOr<Schema> {
    fragment(text_json(MAX))
}

/// A severity's name.
pub fn severity() -> RefOr<Schema> {
    let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    fragment(json!({ "type": "string", "enum": names }))
}

/// A trigger's dedup key: at least one visible character, no control characters.
pub fn dedup_key() -> RefOr<Schema> {
    fragment(json!({
        "type": ["string", "null"],
        "maxLength": DedupKey::MAX_LEN,
        "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$"
    }))
}

/// A trigger's details: string values under short keys.
pub fn details() -> RefOr<Schema> {
    fragment(json!({
        "type": "object",
        "maxProperties": DETAILS,
        "propertyNames": { "type": "string", "minLength": 1, "maxLength": DETAIL_KEY_CHARS },
        "additionalProperties": { "type": "string", "maxLength": DETAIL_VALUE_CHARS }
    }))
}

/// Channels of a trigger, route or policy step: each at most once (a repeat is a 422
/// naming it).
pub fn channels() -> RefOr<Schema> {
    fragment(
        json!({ "type": "array", "maxItems": CHANNELS, "uniqueItems": true, "items": name_json() }),
    )
}

/// A trigger's escalation delays, one per step.
pub fn escalation_secs() -> RefOr<Schema> {
    fragment(json!({
        "type": "array",
        "maxItems": ESCALATION_STEPS,
        "items": { "type": "integer", "minimum": 0, "maximum": u32::MAX }
    }))
}

/// Hosts of a task or task rule: each at most once (a repeat is a 422 naming it).
pub fn hosts() -> RefOr<Schema> {
    fragment(json!({
        "type": "array",
        "minItems": 1,
        "maxItems": HOSTS,
        "uniqueItems": true,
        "items": { "type": "string", "pattern": name_pattern(HostName::MAX_LEN) }
    }))
}

/// A task's arguments.
pub fn args() -> RefOr<Schema> {
    fragment(json!({
        "type": "array",
        "maxItems": ARGS,
        "items": { "type": "string", "maxLength": ARG_CHARS }
    }))
}

/// Seconds a task may run on a host.
pub fn task_timeout_secs() -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": 1, "maximum": TASK_TIMEOUT_SECS }))
}

/// A UUID, or `null`.
pub fn optional_uuid() -> RefOr<Schema> {
    fragment(json!({ "type": ["string", "null"], "format": "uuid" }))
}

/// A process exit code.
pub fn exit_code() -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX }))
}

/// A host's output tail.
pub fn output_tail() -> RefOr<Schema> {
    fragment(json!({ "type": "string", "maxLength": OUTPUT_TAIL_CHARS }))
}

/// A channel's kind.
pub fn channel_kind() -> RefOr<Schema> {
    fragment(json!({ "type": "string", "enum": ["webhook", "slack"] }))
}

/// A channel's URL.
pub fn url() -> RefOr<Schema> {
    fragment(json!({ "type": "string", "maxLength": URL_CHARS, "pattern": "^https?://[!-~]*$" }))
}

/// A policy step's delay.
pub fn step_delay_secs() -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": 0, "maximum": STEP_DELAY_SECS }))
}

/// A policy's steps, each a `T`.
pub fn policy_steps<T: utoipa::PartialSchema>() -> RefOr<Schema> {
    let step = serde_json::to_value(T::schema()).unwrap_or_default();
    fragment(json!({ "type": "array", "minItems": 1, "maxItems": POLICY_STEPS, "items": step }))
}

/// Repeats of a policy after its last step.
pub fn policy_repeats() -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": 0, "maximum": POLICY_REPEATS }))
}

/// A log position: any whole number from `MIN`.
pub fn position<const MIN: u64>() -> RefOr<Schema> {
    fragment(json!({ "type": "integer", "minimum": MIN, "maximum": u64::MAX }))
}

/// A filter's `stream`: one exact stream name.
pub(crate) fn stream_json() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": crate::app::filter::MAX_NAME,
        "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F]*$"
    })
}

/// A filter's `category`: the part of a stream name before its first `-`.
pub(crate) fn category_json() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": crate::app::filter::MAX_NAME,
        "pattern": "^[^\\x00-\\x1F\\x7F-\\x9F-]*$"
    })
}

/// A filter's `stream`, or `null` (not a consumer group's own stream: a 422 naming it).
pub fn optional_stream() -> RefOr<Schema> {
    fragment(nullable(stream_json()))
}

/// A filter's `category`, or `null`.
pub fn optional_category() -> RefOr<Schema> {
    fragment(nullable(category_json()))
}

/// Event types this build knows.
pub fn event_types() -> RefOr<Schema> {
    let types: Vec<&str> = projections::Event::TYPES.iter().map(|(t, _)| *t).collect();
    fragment(json!({ "type": "array", "items": { "type": "string", "enum": types } }))
}

/// Where a consumer group starts.
pub fn group_start() -> RefOr<Schema> {
    fragment(json!({
        "anyOf": [
            { "type": "string", "enum": ["end", "start"] },
            { "type": "integer", "minimum": 1, "maximum": u64::MAX },
            { "type": "null" }
        ],
        "default": "end"
    }))
}

/// A consumer group's partitions.
pub fn partitions() -> RefOr<Schema> {
    fragment(json!({
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": PARTITIONS,
        "default": crate::app::consumers::DEFAULT_PARTITIONS
    }))
}

/// A consumer group's member timeout.
pub fn member_timeout_secs() -> RefOr<Schema> {
    fragment(json!({
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MEMBER_TIMEOUT_SECS,
        "default": crate::app::consumers::DEFAULT_MEMBER_TIMEOUT_SECS
    }))
}

/// A log position or tree size, or `null`.
pub fn optional_position() -> RefOr<Schema> {
    fragment(json!({ "type": ["integer", "null"], "minimum": 0, "maximum": u64::MAX }))
}

/// Who resolved an alert.
pub fn resolved_by() -> RefOr<Schema> {
    fragment(
        json!({ "type": ["string", "null"], "enum": ["person", "source", null], "default": "person" }),
    )
}

/// Any JSON value (a field the server reads as `serde_json::Value` and ignores).
pub fn any_json() -> RefOr<Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType};
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .build(),
    ))
}

/// A chain or tree hash: 64 hexadecimal characters.
pub fn hash() -> RefOr<Schema> {
    fragment(json!({ "type": "string", "pattern": "^[0-9a-fA-F]{64}$" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fragment_is_kept_exactly() {
        // `fragment` compares each schema with the JSON it was written as.
        let built = [
            name(),
            optional_name(),
            text::<10>(),
            severity(),
            dedup_key(),
            details(),
            channels(),
            escalation_secs(),
            hosts(),
            args(),
            task_timeout_secs(),
            optional_uuid(),
            exit_code(),
            output_tail(),
            channel_kind(),
            url(),
            step_delay_secs(),
            policy_repeats(),
            position::<1>(),
            hash(),
        ];
        for schema in built {
            let value = serde_json::to_value(&schema).unwrap();
            assert!(value.get("type").is_some(), "{value}");
        }
        assert_eq!(serde_json::to_value(any_json()).unwrap(), json!({}));
    }
}
