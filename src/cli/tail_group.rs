//! `alert-ledger tail --group NAME`: reads as a member of a durable consumer group.
//!
//! It asks for long-poll pages (`GET /v1/consumers/{name}/events`), prints each
//! page's events, then acknowledges the page (`POST /v1/consumers/{name}/ack`) before
//! asking for the next. Killed between printing and acknowledging, the page is handed
//! again (to this member when it comes back, or to another after the group's member
//! timeout): delivery is at least once. Connection failures and 5xx answers are
//! retried with backoff; a 4xx (no such group, bad token) stops it.

use super::tail::{event_line, problem_detail, TailArgs, MAX_BACKOFF, MIN_BACKOFF};
use crate::dispatch::sender::describe;
use anyhow::Context;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

/// Events per page.
const PAGE: usize = 500;
/// Seconds the server holds a page open waiting for an event.
const WAIT_SECS: u64 = 10;

/// A member's reading loop.
pub struct GroupReader {
    args: TailArgs,
    client: reqwest::Client,
    group: String,
    member: String,
}

/// Why one round ended without a page.
enum Failed {
    Retry(String),
    Fatal(anyhow::Error),
    /// The server answered with this error status.
    Status(u16, String),
}

impl Failed {
    /// An error status a retry cannot change stops the reader; the rest are retried.
    fn sorted(self) -> Failed {
        match self {
            Failed::Status(408 | 429, message) => Failed::Retry(message),
            Failed::Status(400..=499, message) => Failed::Fatal(anyhow::anyhow!(message)),
            Failed::Status(_, message) => Failed::Retry(message),
            other => other,
        }
    }
}

impl GroupReader {
    /// A reader for `member` of `group`.
    pub fn new(args: TailArgs, client: reqwest::Client, group: String, member: String) -> Self {
        GroupReader {
            args,
            client,
            group,
            member,
        }
    }

    /// Reads, prints and acknowledges pages until stdout closes or a request fails in
    /// a way a retry cannot change.
    pub async fn follow(&mut self) -> anyhow::Result<()> {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.round().await.map_err(Failed::sorted) {
                Ok(true) => backoff = MIN_BACKOFF,
                Ok(false) => return Ok(()),
                Err(Failed::Fatal(err)) => return Err(err),
                Err(Failed::Retry(reason) | Failed::Status(_, reason)) => {
                    eprintln!(
                        "tail: {reason}; retrying in {backoff:?} (the group resumes at its checkpoint)"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One page: read, print, acknowledge. `Ok(false)`: stdout went away.
    async fn round(&mut self) -> Result<bool, Failed> {
        let url = format!("{}/v1/consumers/{}/events", self.base(), self.group);
        let limit = PAGE.to_string();
        let wait = WAIT_SECS.to_string();
        let query = [
            ("member", self.member.as_str()),
            ("limit", &limit),
            ("wait", &wait),
        ];
        let request = self
            .client
            .get(url)
            .query(&query)
            .timeout(Duration::from_secs(WAIT_SECS + 30));
        let page = self.send(request).await.map_err(Failed::sorted)?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if !self.print(&events) {
            return Ok(false);
        }
        let read_to = page["read_to"].as_u64().unwrap_or(0);
        // Every page is acknowledged, even one that repeats positions acknowledged
        // before: a read starts at the checkpoint of each partition, so after a restart
        // or a move of partitions a page can lie below an earlier one. An
        // acknowledgement that moves nothing writes nothing.
        if read_to > 0 {
            let url = format!("{}/v1/consumers/{}/ack", self.base(), self.group);
            let body = json!({"member": self.member, "position": read_to});
            let request = self
                .client
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(30));
            match self.send(request).await {
                Ok(_) => {}
                // The server restarted, or this member timed out: it no longer knows
                // what this member was handed, so the page is handed again.
                Err(Failed::Status(422, message)) => {
                    return Err(Failed::Retry(format!(
                        "acknowledgement refused ({message})"
                    )))
                }
                Err(other) => return Err(other),
            }
        }
        Ok(true)
    }

    fn base(&self) -> &str {
        self.args.server.trim_end_matches('/')
    }

    /// Sends with the token and reads a JSON answer, sorting failures.
    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Value, Failed> {
        if let Some(token) = &self.args.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|err| Failed::Retry(format!("cannot reach the server: {}", describe(&err))))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|err| Failed::Retry(format!("connection lost: {}", describe(&err))))?;
        if !status.is_success() {
            let message = format!("server answered {status}: {}", problem_detail(&body));
            return Err(Failed::Status(status.as_u16(), message));
        }
        serde_json::from_str(&body)
            .context("the server's answer is not JSON")
            .map_err(Failed::Fatal)
    }

    /// Prints the events; `false` when stdout is closed.
    fn print(&self, events: &[Value]) -> bool {
        let mut stdout = std::io::stdout().lock();
        for event in events {
            if writeln!(stdout, "{}", event_line(event, self.args.json)).is_err() {
                return false;
            }
        }
        stdout.flush().is_ok()
    }
}
