//! Black-box tests of `GET /v1/subscribe` and `alert-ledger tail` (issue #5): a real
//! `Application` on a real socket, read by a plain HTTP client with its own
//! event-stream parser.
//!
//! # Layout
//! - `support`: `spawn`, direct appends, an SSE reader that also reports comments.
//! - `delivery`: catch-up then live, resume, filters, `from=end`, heartbeats, metrics,
//!   shutdown.
//! - `slow_consumer`: a stalled subscriber does not grow the server's memory.
//! - `ring`: the shared ring of encoded frames, crossed both ways at random speeds.
//! - `bad_input`: bad parameters and missing tokens.
//! - `consumers`: durable consumer groups (members, acks, restart, refusals).
//! - `tail`: the `alert-ledger tail` binary end to end.

mod bad_input;
mod consumers;
mod delivery;
mod ring;
mod slow_consumer;
mod support;
mod tail;
