//! What a delivery says: the generic webhook JSON and the Slack incoming-webhook
//! shape. Both are built from copies of the views taken when the attempt starts, so
//! an attempt sends the alert as it stands then (`kind` says what happened; the
//! alert's `status` is where it is now). `docs/delivery.md` documents the fields.

use projections::views::{AlertView, MessageView};
use projections::{MessageKind, Severity};
use serde_json::{json, Value};

/// Everything one attempt needs to say, copied out of the views.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message.
    pub message: MessageView,
    /// The alert it is about.
    pub alert: AlertView,
    /// This attempt's number (1-based).
    pub attempt: u32,
    /// Where the service is reachable (`https://ledger.example`), for absolute
    /// links; `None` gives paths.
    pub public_url: Option<String>,
}

/// The longest summary put into a Slack block (Slack's limit is 3,000 characters).
const SLACK_SUMMARY_CHARS: usize = 2_000;

impl Outgoing {
    /// The generic webhook body (schema `alert-ledger.webhook.v1`).
    pub fn webhook_body(&self) -> Value {
        let (m, a) = (&self.message, &self.alert);
        json!({
            "schema": "alert-ledger.webhook.v1",
            "message_id": m.id,
            "kind": m.kind,
            "channel": m.channel,
            "attempt": self.attempt,
            "queued_at": m.queued_at,
            "alert": {
                "id": a.id,
                "service": a.service,
                "dedup_key": a.dedup_key,
                "summary": a.summary,
                "severity": a.severity,
                "status": a.status.as_str(),
                "escalation_step": a.escalation_step,
                "created_at": a.created_at,
                "details": a.details,
            },
            "cause": {
                "stream": m.cause.stream,
                "version": m.cause.version,
            },
            "links": self.links(),
        })
    }

    /// The Slack incoming-webhook body: `text` (the notification and fallback line)
    /// and `blocks`. User text is escaped for Slack's mrkdwn (`&`, `<`, `>`).
    pub fn slack_body(&self) -> Value {
        let (m, a) = (&self.message, &self.alert);
        let title = title(m.kind, a.escalation_step);
        let severity = a.severity.as_str().to_uppercase();
        let summary = escape(&truncate(&a.summary, SLACK_SUMMARY_CHARS));
        let service = escape(a.service.as_str());
        let text = format!(
            "{} {title} [{severity}] {service}: {summary}",
            icon(m.kind, a.severity)
        );
        let links = self.links();
        let alert_ref = match &self.public_url {
            Some(_) => format!("<{}|{}>", links["alert"].as_str().unwrap_or_default(), a.id),
            None => format!("`{}`", a.id),
        };
        json!({
            "text": text,
            "blocks": [
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": format!(
                            "{} *{title}* · *{severity}* · service *{service}*\n{summary}",
                            icon(m.kind, a.severity)
                        ),
                    },
                },
                {
                    "type": "context",
                    "elements": [{
                        "type": "mrkdwn",
                        "text": format!(
                            "status *{}* · dedup key `{}` · alert {alert_ref} · message `{}`",
                            a.status.as_str(),
                            escape(a.dedup_key.as_str()),
                            m.id
                        ),
                    }],
                },
            ],
        })
    }

    /// Where to read more: the alert, its history, the message and its delivery
    /// stream, and the cause's stream.
    fn links(&self) -> Value {
        let base = self
            .public_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/');
        let (m, a) = (&self.message, &self.alert);
        json!({
            "alert": format!("{base}/v1/alerts/{}", a.id),
            "history": format!("{base}/v1/alerts/{}/history", a.id),
            "message": format!("{base}/v1/messages/{}", m.id),
            "deliveries": format!("{base}/v1/streams/message-{}", m.id),
            "cause": format!(
                "{base}/v1/streams/{}?from={}&limit=1",
                m.cause.stream, m.cause.version
            ),
        })
    }
}

fn title(kind: MessageKind, step: u32) -> String {
    match kind {
        MessageKind::NewAlert => "New alert".to_owned(),
        MessageKind::Acknowledged => "Acknowledged".to_owned(),
        MessageKind::Escalated => format!("Escalated to step {step}"),
        MessageKind::Resolved => "Resolved".to_owned(),
    }
}

fn icon(kind: MessageKind, severity: Severity) -> &'static str {
    match (kind, severity) {
        (MessageKind::Resolved, _) => ":white_check_mark:",
        (MessageKind::Acknowledged, _) => ":eyes:",
        (_, Severity::Critical) => ":red_circle:",
        (_, Severity::Error) => ":large_orange_circle:",
        (_, Severity::Warning) => ":large_yellow_circle:",
        (_, Severity::Info) => ":large_blue_circle:",
    }
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_control_characters_are_escaped() {
        assert_eq!(escape("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("héllo", 5), "héllo");
    }
}
