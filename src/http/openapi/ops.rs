//! Response schemas of the operational and admin answers: verification, projection
//! status and rebuilds, readiness (the digest and the proofs are derived from their
//! types, which `check-proof` also parses). Registered in [`super::schemas`].

use super::schemas::{hash, nullable, nullable_time, object, position, reference, time};
use serde_json::{json, Value};

fn head() -> Value {
    object(
        &["position", "hash"],
        json!({ "position": position(), "hash": hash() }),
    )
}

pub fn verify_outcome() -> Value {
    object(
        &["ok", "events_checked", "from_position", "verified_to"],
        json!({
            "ok": { "type": "boolean" },
            "events_checked": { "type": "integer", "minimum": 0 },
            "from_position": { "type": "integer", "minimum": 1 },
            "verified_to": head(),
            "failure": object(&["position", "reason"], json!({ "position": nullable("integer"), "reason": { "type": "string" } }))
        }),
    )
}

fn projection_name() -> Value {
    json!({ "enum": ["all", "alerts", "messages", "alarms", "tasks", "syncs"] })
}

pub fn projections_status() -> Value {
    let row = object(
        &["name", "rows"],
        json!({ "name": projection_name(), "rows": { "type": "integer", "minimum": 0 } }),
    );
    let mut view_file = view_health();
    view_file["required"]
        .as_array_mut()
        .expect("a required list")
        .push(json!("path"));
    view_file["properties"]["path"] = json!({ "type": "string" });
    object(
        &[
            "position",
            "head",
            "lag",
            "fold_errors",
            "following",
            "view_file",
            "projections",
            "rebuild",
            "consumers",
        ],
        json!({
            "position": position(),
            "head": position(),
            "lag": position(),
            "fold_errors": position(),
            "following": { "type": "boolean" },
            "view_file": view_file,
            "projections": { "type": "array", "items": row },
            "rebuild": { "oneOf": [{ "type": "null" }, reference("RebuildStatus")] },
            "consumers": { "type": "array", "items": object(&["name", "checkpoint", "lag"], json!({ "name": { "type": "string" }, "checkpoint": position(), "lag": position() })) }
        }),
    )
}

pub fn rebuild_status() -> Value {
    object(
        &[
            "projection",
            "state",
            "position",
            "target",
            "fold_errors",
            "events_per_sec",
            "started_at",
            "finished_at",
            "error",
        ],
        json!({
            "projection": projection_name(),
            "state": { "enum": ["running", "swapped", "failed"] },
            "position": position(),
            "target": position(),
            "fold_errors": position(),
            "events_per_sec": { "type": "number", "minimum": 0 },
            "started_at": time(),
            "finished_at": nullable_time(),
            "error": nullable("string")
        }),
    )
}

/// What the view file's checks found (`/readyz` `views`, the projection status).
fn view_health() -> Value {
    let check = json!({
        "type": "object",
        "required": ["state"],
        "properties": {
            "state": { "enum": ["not_run", "running", "passed", "failed"] },
            "at": time(),
            "detail": { "type": "string" }
        }
    });
    object(
        &[
            "opened_at_position",
            "set_aside",
            "deep_check",
            "last_damage",
            "read_errors",
        ],
        json!({
            "opened_at_position": position(),
            "set_aside": {
                "oneOf": [
                    { "type": "null" },
                    object(&["file", "reason"], json!({ "file": { "type": "string" }, "reason": { "type": "string" } }))
                ]
            },
            "deep_check": check,
            "last_damage": { "oneOf": [{ "type": "null" }, check] },
            "read_errors": position()
        }),
    )
}

pub fn readiness() -> Value {
    object(
        &[
            "status",
            "applied_position",
            "head_position",
            "lag",
            "fold_errors",
            "views",
        ],
        json!({
            "status": { "enum": ["ready", "not_ready"] },
            "reason": { "type": "string" },
            "applied_position": position(),
            "head_position": position(),
            "lag": position(),
            "fold_errors": position(),
            "views": view_health()
        }),
    )
}
