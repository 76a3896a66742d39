//! One HTTP attempt: sign, send with a deadline, and sort the answer into delivered,
//! worth retrying, or permanent.
//!
//! | answer | verdict |
//! | --- | --- |
//! | 2xx | delivered; the receipt is the status line and the start of the body |
//! | 408, 425, 429, 5xx, other non-4xx | retry (429/503 honour a `Retry-After` in seconds) |
//! | 410 Gone | permanent: the receiver says the endpoint is gone |
//! | other 4xx | permanent: the same request would be refused again |
//! | 3xx | permanent: redirects are not followed (a POST turned GET would be lost) |
//! | timeout, refused or reset connection, broken body | retry |
//! | a URL that cannot be requested | permanent |
//!
//! Errors are described without the URL (`reqwest::Error::without_url`): a Slack
//! incoming-webhook URL is itself a secret, and errors end up in events.

use super::sign::SigningSecret;
use projections::ids::MessageId;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// Carries the message id, so a receiver can drop a duplicate delivery.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The message id again, under the ledger's own name.
pub const MESSAGE_ID: &str = "X-Ledger-Message-Id";
/// The attempt number (1-based).
pub const ATTEMPT: &str = "X-Ledger-Attempt";
/// Unix seconds when the request was signed.
pub const TIMESTAMP: &str = "X-Ledger-Timestamp";
/// `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
pub const SIGNATURE: &str = "X-Ledger-Signature";

/// How much of a response body a receipt or an error quotes.
const EXCERPT_BYTES: usize = 256;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The receiver accepted the message.
    Delivered {
        /// Status line, request id and the start of the body.
        receipt: String,
    },
    /// Worth trying again later.
    Retry {
        /// What went wrong.
        error: String,
        /// The receiver's `Retry-After`, if it gave one.
        retry_after: Option<Duration>,
    },
    /// Trying again would not help.
    Permanent {
        /// What went wrong.
        error: String,
    },
}

/// Sends signed requests with a per-attempt deadline.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    secret: Option<SigningSecret>,
    timeout: Duration,
}

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The channel's URL.
    pub url: &'a str,
    /// The message (the idempotency key).
    pub message_id: MessageId,
    /// The attempt number.
    pub attempt: u32,
    /// The JSON body, exactly as signed.
    pub body: &'a [u8],
}

impl Sender {
    /// A sender whose attempts each end after `timeout` (connecting included).
    pub fn new(timeout: Duration, secret: Option<SigningSecret>) -> Result<Sender, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("alert-ledger/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Sender {
            client,
            secret,
            timeout,
        })
    }

    /// Sends `request` once; returns the verdict and how long it took.
    pub async fn send(&self, request: Request<'_>) -> (Verdict, Duration) {
        let started = Instant::now();
        let verdict = match self.build(request).send().await {
            Ok(response) => judge(response).await,
            Err(err) => self.judge_error(err),
        };
        (verdict, started.elapsed())
    }

    fn build(&self, request: Request<'_>) -> reqwest::RequestBuilder {
        let id = request.message_id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let mut builder = self
            .client
            .post(request.url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(IDEMPOTENCY_KEY, &id)
            .header(MESSAGE_ID, &id)
            .header(ATTEMPT, request.attempt.to_string())
            .header(TIMESTAMP, timestamp.to_string());
        if let Some(secret) = &self.secret {
            builder = builder.header(SIGNATURE, secret.signature(timestamp, request.body));
        }
        builder.body(request.body.to_vec())
    }

    fn judge_error(&self, err: reqwest::Error) -> Verdict {
        let err = err.without_url();
        if err.is_builder() {
            return Verdict::Permanent {
                error: format!("the channel URL cannot be requested: {}", describe(&err)),
            };
        }
        let error = if err.is_timeout() {
            format!("timed out after {} ms", self.timeout.as_millis())
        } else if err.is_connect() {
            format!("connection failed: {}", describe(&err))
        } else {
            describe(&err)
        };
        Verdict::Retry {
            error,
            retry_after: None,
        }
    }
}

async fn judge(mut response: reqwest::Response) -> Verdict {
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let request_id = request_id(response.headers());
    let excerpt = excerpt(&mut response).await;
    let mut line = format!("HTTP {}", status_line(status));
    if let Some(id) = request_id {
        line += &format!("; request id {id}");
    }
    if !excerpt.is_empty() {
        line += &format!("; body: {excerpt}");
    }
    match status.as_u16() {
        200..=299 => Verdict::Delivered { receipt: line },
        410 => Verdict::Permanent {
            error: format!("{line} (the receiver says the endpoint is gone)"),
        },
        408 | 425 | 429 => Verdict::Retry {
            error: line,
            retry_after,
        },
        300..=399 => Verdict::Permanent {
            error: format!(
                "{line} (redirects are not followed: point the channel at the final URL)"
            ),
        },
        400..=499 => Verdict::Permanent {
            error: format!("{line} (a client error: the same request would be refused again)"),
        },
        _ => Verdict::Retry {
            error: line,
            retry_after,
        },
    }
}

fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored: backoff applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "x-slack-req-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .map(|id| clean(id, 128))
}

/// The start of the body, on one line. Reading stops after `EXCERPT_BYTES`; a body
/// that breaks off is quoted as far as it came.
async fn excerpt(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(EXCERPT_BYTES);
    clean(&String::from_utf8_lossy(&bytes), EXCERPT_BYTES)
}

/// Collapses whitespace and control characters and cuts to `max` characters.
fn clean(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    words.join(" ").chars().take(max).collect()
}

/// An error and its causes, `outer: inner: innermost`, repeats dropped.
pub fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(current) = next {
        let text = current.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn excerpts_are_one_line() {
        assert_eq!(clean("  a\n\tb\r\n c ", 10), "a b c");
        assert_eq!(clean("abcdef", 3), "abc");
    }
}
