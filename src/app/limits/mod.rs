//! Every limit a request field is checked against, in one place. The checks in this
//! module's siblings read these constants, and the OpenAPI document's field schemas
//! ([`schema`], named by the request types' derives) are built from the same constants,
//! so the document cannot promise one limit while the server checks another. Limits of
//! ids (names, hosts, dedup keys) are the ids' own `MAX_LEN` in `projections::ids`.

pub mod schema;

/// Most characters in a trigger's `summary`.
pub const SUMMARY_CHARS: usize = 1024;
/// Most entries in a trigger's `details`.
pub const DETAILS: usize = 64;
/// Most characters in a `details` key (at least one).
pub const DETAIL_KEY_CHARS: usize = 128;
/// Most characters in a `details` value.
pub const DETAIL_VALUE_CHARS: usize = 4096;
/// Most channels a trigger, a service route or a policy step may name.
pub const CHANNELS: usize = 16;
/// Most escalation steps a trigger may give.
pub const ESCALATION_STEPS: usize = 16;
/// Most characters in a note.
pub const NOTE_CHARS: usize = 10_000;
/// Most characters in the name of a resource, channel or policy.
pub const DISPLAY_NAME_CHARS: usize = 256;
/// Most characters in a channel's URL.
pub const URL_CHARS: usize = 2048;
/// Most steps in an escalation policy (at least one).
pub const POLICY_STEPS: usize = 16;
/// Most repeats of a policy after its last step.
pub const POLICY_REPEATS: u32 = 16;
/// Longest delay of a policy step, in seconds.
pub const STEP_DELAY_SECS: u32 = 86_400;
/// Most characters in a task's script (at least one).
pub const SCRIPT_CHARS: usize = 65_536;
/// Most arguments of a task.
pub const ARGS: usize = 64;
/// Most characters in one argument.
pub const ARG_CHARS: usize = 4096;
/// Most hosts of a task (at least one).
pub const HOSTS: usize = 256;
/// Longest a task may run on a host, in seconds (at least 1).
pub const TASK_TIMEOUT_SECS: u32 = 86_400;
/// Most characters in a host's output tail.
pub const OUTPUT_TAIL_CHARS: usize = 16_384;
/// Most characters in a cancellation's reason.
pub const REASON_CHARS: usize = 1024;
/// Most partitions a consumer group may have.
pub const PARTITIONS: u16 = 256;
/// Longest member timeout of a consumer group, in seconds.
pub const MEMBER_TIMEOUT_SECS: u32 = 3600;
/// Most entries in a page of a view (`limit`).
pub const PAGE: usize = 1000;
/// Most events in a page of the log or of a stream (`limit`).
pub const EVENTS_PAGE: usize = 10_000;
/// Entries in a page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;
/// Most characters in a full-text search (`q`).
pub const SEARCH_CHARS: usize = 256;
/// Longest a consumer-group member's read waits for a first event (`wait`), in seconds.
pub const MEMBER_WAIT_SECS: u64 = 60;
/// How long a member's read waits when `wait` is not given, in seconds.
pub const DEFAULT_MEMBER_WAIT_SECS: u64 = 10;
