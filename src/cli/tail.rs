//! `alert-ledger tail`: follows the log through `GET /v1/subscribe` and prints one
//! line per event, reconnecting with `Last-Event-ID` and backoff when the connection
//! drops, until ctrl-c or SIGTERM. With `--group`, it reads as a member of a durable
//! consumer group instead (`tail_group.rs`).
//!
//! Server-Sent Events are a small line protocol, parsed here by [`SseParser`] rather
//! than with another crate.

use anyhow::Context;
use futures_util::StreamExt;
use serde_json::Value;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between reconnects.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A connection that sends nothing (not even a heartbeat) this long is presumed dead.
/// The server's heartbeat defaults to 15 s.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest text of one payload field in a summary line.
const FIELD_WIDTH: usize = 60;

/// Arguments of `alert-ledger tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Base URL of the alert-ledger service.
    #[arg(
        long,
        env = "ALERT_LEDGER_SERVER",
        default_value = "http://127.0.0.1:8470"
    )]
    pub server: String,
    /// Bearer token with at least the reader role.
    #[arg(long, env = "ALERT_LEDGER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// First position to print, or `end` for only new events.
    #[arg(long, default_value = "end")]
    pub from: String,
    /// Read as a member of this consumer group (`POST /v1/consumers` creates one): the
    /// group's filter applies, the partitions are shared with its other members, and
    /// each page is acknowledged once printed, so a restart resumes at the group's
    /// checkpoint.
    #[arg(long, conflicts_with_all = ["from", "stream", "category", "types"])]
    pub group: Option<String>,
    /// The member name to read under with `--group` (default: `tail-<pid>`). Use a
    /// stable name per worker.
    #[arg(long, requires = "group")]
    pub member: Option<String>,
    /// Only this stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only streams of this category (`alert`, `sync`, `task`, `message`).
    #[arg(long)]
    pub category: Option<String>,
    /// Only these event types (repeat the flag or separate with commas).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Print each recorded event as one line of JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Follows the server until `shutdown` completes. Fails only on answers that a retry
/// cannot change (bad token, bad parameters) or when stdout goes away.
pub async fn run(args: TailArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")?;
    if let Some(group) = args.group.clone() {
        let member = args
            .member
            .clone()
            .unwrap_or_else(|| format!("tail-{}", std::process::id()));
        let mut reader = super::tail_group::GroupReader::new(args, client, group, member);
        return tokio::select! {
            outcome = reader.follow() => outcome,
            () = shutdown => Ok(()),
        };
    }
    let mut tail = Tail {
        args,
        client,
        last_position: None,
    };
    tokio::select! {
        outcome = tail.follow() => outcome,
        () = shutdown => Ok(()),
    }
}

/// Why a connection ended.
enum Ended {
    /// Reconnect after a pause.
    Retry(String),
    /// Stop with this error.
    Fatal(anyhow::Error),
    /// Stdout was closed: stop quietly.
    OutputClosed,
}

struct Tail {
    args: TailArgs,
    client: reqwest::Client,
    /// The position of the last event printed (or the one the subscription started
    /// after): sent as `Last-Event-ID` on reconnect.
    last_position: Option<u64>,
}

impl Tail {
    async fn follow(&mut self) -> anyhow::Result<()> {
        let mut backoff = MIN_BACKOFF;
        loop {
            let before = self.last_position;
            let reason = match self.connect_once().await {
                Ended::Retry(reason) => reason,
                Ended::Fatal(err) => return Err(err),
                Ended::OutputClosed => return Ok(()),
            };
            if self.last_position != before {
                backoff = MIN_BACKOFF;
            }
            let resume = self
                .last_position
                .map_or_else(|| "from the start".to_owned(), |p| format!("after {p}"));
            eprintln!("tail: {reason}; reconnecting in {backoff:?} (resuming {resume})");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: connect, then print events until it ends.
    async fn connect_once(&mut self) -> Ended {
        let response = match self.request().send().await {
            Ok(response) => response,
            Err(err) => return Ended::Retry(format!("cannot connect: {err}")),
        };
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let message = format!("server answered {status}: {}", problem_detail(&body));
            return match status.as_u16() {
                400..=499 if status.as_u16() != 408 && status.as_u16() != 429 => {
                    Ended::Fatal(anyhow::anyhow!(message))
                }
                _ => Ended::Retry(message),
            };
        }
        if self.last_position.is_none() {
            self.last_position = response
                .headers()
                .get(crate::http::POSITION_HEADER)
                .and_then(|v| v.to_str().ok()?.parse().ok());
        }
        self.read_events(response).await
    }

    fn request(&self) -> reqwest::RequestBuilder {
        let url = format!("{}/v1/subscribe", self.args.server.trim_end_matches('/'));
        let mut query: Vec<(&str, &str)> = vec![("from", &self.args.from)];
        if let Some(stream) = &self.args.stream {
            query.push(("stream", stream));
        }
        if let Some(category) = &self.args.category {
            query.push(("category", category));
        }
        for event_type in &self.args.types {
            query.push(("type", event_type));
        }
        let mut request = self
            .client
            .get(url)
            .query(&query)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(token) = &self.args.token {
            request = request.bearer_auth(token);
        }
        if let Some(last) = self.last_position {
            request = request.header("Last-Event-ID", last.to_string());
        }
        request
    }

    async fn read_events(&mut self, response: reqwest::Response) -> Ended {
        let mut body = response.bytes_stream();
        let mut parser = SseParser::default();
        loop {
            let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
                Err(_) => return Ended::Retry(format!("nothing received for {IDLE_TIMEOUT:?}")),
                Ok(None) => return Ended::Retry("the server closed the stream".to_owned()),
                Ok(Some(Err(err))) => return Ended::Retry(format!("connection lost: {err}")),
                Ok(Some(Ok(chunk))) => chunk,
            };
            for message in parser.push(&chunk) {
                if self.print(&message).is_err() {
                    return Ended::OutputClosed;
                }
                if let Some(position) = message.id.as_deref().and_then(|id| id.parse().ok()) {
                    self.last_position = Some(position);
                }
            }
        }
    }

    fn print(&self, message: &SseMessage) -> std::io::Result<()> {
        let line = if self.args.json {
            message.data.clone()
        } else {
            match serde_json::from_str::<Value>(&message.data) {
                Ok(event) => summary_line(&event),
                Err(_) => message.data.clone(),
            }
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()
    }
}

/// How `tail` prints one recorded event: its JSON as is (`--json`) or a summary line.
pub fn event_line(event: &Value, json: bool) -> String {
    if json {
        event.to_string()
    } else {
        summary_line(event)
    }
}

/// `<position> <recorded_at> <stream>@<version> <type> <field=value …>`.
pub fn summary_line(recorded: &Value) -> String {
    let event = &recorded["event"];
    let event_type = event["type"].as_str().unwrap_or("?");
    let mut line = format!(
        "{} {} {}@{} {}",
        recorded["position"],
        recorded["recorded_at"].as_str().unwrap_or("?"),
        recorded["stream"].as_str().unwrap_or("?"),
        recorded["stream_version"],
        event_type,
    );
    if let Some(fields) = event.as_object() {
        for (name, value) in fields.iter().filter(|(name, _)| *name != "type") {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            line.push_str(&format!(" {name}={}", shorten(&text)));
        }
    }
    line
}

/// `text` on one line, cut to [`FIELD_WIDTH`] characters.
fn shorten(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= FIELD_WIDTH {
        return flat;
    }
    let cut: String = flat.chars().take(FIELD_WIDTH - 1).collect();
    format!("{cut}…")
}

/// The `detail` of a problem document, or the body itself.
pub fn problem_detail(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|problem| problem["detail"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned())
}

/// One dispatched Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The `id:` field, if the event had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// An incremental parser of `text/event-stream` (the WHATWG event-stream format):
/// bytes in, complete events out. Comments (heartbeats) and events without data are
/// dropped, as `EventSource` does.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet terminated.
    pending: Vec<u8>,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds `bytes`; returns every event they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseMessage> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if let Some(message) = self.line(line) {
                out.push(message);
            }
        }
        out
    }

    fn line(&mut self, line: &str) -> Option<SseMessage> {
        if line.is_empty() {
            let data = self.data.take()?;
            return Some(SseMessage {
                id: self.id.clone(),
                event: self.event.take(),
                data,
            });
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => self.id = Some(value.to_owned()),
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_are_parsed_once_complete() {
        let mut parser = SseParser::default();
        assert!(parser
            .push(b": heartbeat\n\nid: 7\nevent: note_")
            .is_empty());
        let messages = parser.push(b"added\ndata: {\"a\":1}\r\ndata: x\n\n");
        assert_eq!(
            messages,
            [SseMessage {
                id: Some("7".into()),
                event: Some("note_added".into()),
                data: "{\"a\":1}\nx".into(),
            }]
        );
    }

    #[test]
    fn a_summary_line_names_position_stream_version_type_and_fields() {
        let event = serde_json::json!({
            "position": 3,
            "recorded_at": "2026-01-01T00:00:00Z",
            "stream": "alert-x",
            "stream_version": 1,
            "event": { "type": "note_added", "text": "a\nb", "n": 2 }
        });
        assert_eq!(
            summary_line(&event),
            "3 2026-01-01T00:00:00Z alert-x@1 note_added n=2 text=a b"
        );
    }
}
