//! What the page shows against what a command printed, modulo placeholders.
//!
//! A placeholder stands for what differs from run to run, and nothing else:
//! - `<time>`: a timestamp (RFC 3339, or an HTTP date in a `date:` header);
//! - `<seconds>`: a duration in seconds (`0.01`);
//! - `<hash-…>`: a SHA-256 chain hash (64 hex digits);
//! - a name with `id` in it (`<event-id-4>`, `<correlation-id-4>`): a UUID.
//!
//! Hash and id placeholders are names: the same name stands for the same value
//! everywhere on the page. JSON is compared as JSON (the page may wrap it); any other
//! output line by line, exactly.

use serde_json::Value;
use std::collections::HashMap;

/// One kind of placeholder.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Time,
    Seconds,
    Hash,
    Uuid,
}

impl Kind {
    /// The kind a placeholder name stands for; `None`: not a placeholder.
    fn of(name: &str) -> Option<Kind> {
        match name {
            "time" => Some(Kind::Time),
            "seconds" => Some(Kind::Seconds),
            _ if name.starts_with("hash-") => Some(Kind::Hash),
            _ if name.contains("id") => Some(Kind::Uuid),
            _ => None,
        }
    }

    /// How many bytes at the start of `text` this kind matches.
    fn len(self, text: &str) -> Option<usize> {
        let run = |allowed: &dyn Fn(char) -> bool| text.find(|c| !allowed(c)).unwrap_or(text.len());
        match self {
            Kind::Hash => {
                let n = run(&|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
                (n == 64).then_some(64)
            }
            Kind::Uuid => {
                let candidate = text.get(..36)?;
                uuid::Uuid::try_parse(candidate)
                    .ok()
                    .filter(|u| u.hyphenated().to_string() == candidate)
                    .map(|_| 36)
            }
            Kind::Seconds => {
                let n = run(&|c| c.is_ascii_digit() || c == '.');
                (n > 0).then_some(n)
            }
            Kind::Time if text.starts_with(|c: char| c.is_ascii_digit()) => {
                let n = run(&|c| c.is_ascii_digit() || "-:.TZ+".contains(c));
                chrono::DateTime::parse_from_rfc3339(&text[..n])
                    .ok()
                    .map(|_| n)
            }
            Kind::Time => {
                let candidate = text.get(..29)?;
                chrono::DateTime::parse_from_rfc2822(candidate)
                    .ok()
                    .map(|_| 29)
            }
        }
    }
}

/// Placeholder values seen so far, by name.
#[derive(Debug, Default)]
pub struct Bindings(HashMap<String, String>);

impl Bindings {
    /// Checks what a command printed against the lines the page shows.
    pub fn output(&mut self, shown: &[String], printed: &str) -> Result<(), String> {
        if let Some(rest) = printed.strip_prefix("HTTP/") {
            let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
            let blank = shown
                .iter()
                .position(|l| l.is_empty())
                .ok_or("the page shows no blank line between headers and body")?;
            let head = format!("HTTP/{head}").replace("\r\n", "\n");
            self.text(&shown[..blank].join("\n"), &head)?;
            return self.body(&shown[blank + 1..], body);
        }
        self.body(shown, printed)
    }

    fn body(&mut self, shown: &[String], printed: &str) -> Result<(), String> {
        let page = shown.join("\n");
        match serde_json::from_str::<Value>(&page) {
            Ok(expected) => {
                let actual: Value = serde_json::from_str(printed).map_err(|e| {
                    format!("the page shows JSON, the command printed no JSON ({e})")
                })?;
                self.json("$", &expected, &actual)
            }
            Err(_) => self.text(&page, printed.trim_end_matches('\n')),
        }
    }

    fn json(&mut self, path: &str, expected: &Value, actual: &Value) -> Result<(), String> {
        match (expected, actual) {
            (Value::String(e), Value::String(a)) => {
                self.text(e, a).map_err(|why| format!("{path}: {why}"))
            }
            (Value::Object(e), Value::Object(a)) => {
                let missing: Vec<_> = e.keys().filter(|k| !a.contains_key(*k)).collect();
                let extra: Vec<_> = a.keys().filter(|k| !e.contains_key(*k)).collect();
                if !missing.is_empty() || !extra.is_empty() {
                    return Err(format!(
                        "{path}: fields on the page but not printed {missing:?}, printed but not on the page {extra:?}"
                    ));
                }
                e.iter()
                    .try_for_each(|(k, v)| self.json(&format!("{path}.{k}"), v, &a[k]))
            }
            (Value::Array(e), Value::Array(a)) if e.len() == a.len() => e
                .iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (e, a))| self.json(&format!("{path}[{i}]"), e, a)),
            _ if expected == actual => Ok(()),
            _ => Err(format!(
                "{path}: the page shows {expected}, printed {actual}"
            )),
        }
    }

    /// `actual` against `expected` text with placeholders in it.
    fn text(&mut self, expected: &str, actual: &str) -> Result<(), String> {
        let mismatch = || format!("the page shows {expected:?}, printed {actual:?}");
        let mut rest = actual;
        for token in tokens(expected) {
            match token {
                Token::Literal(literal) => {
                    rest = rest.strip_prefix(literal).ok_or_else(mismatch)?;
                }
                Token::Placeholder(name, kind) => {
                    let n = kind.len(rest).ok_or_else(mismatch)?;
                    let value = &rest[..n];
                    if matches!(kind, Kind::Hash | Kind::Uuid) {
                        let bound = self
                            .0
                            .entry(name.to_owned())
                            .or_insert_with(|| value.into());
                        if bound != value {
                            return Err(format!(
                                "<{name}> is {value} here but {bound} earlier on the page"
                            ));
                        }
                    }
                    rest = &rest[n..];
                }
            }
        }
        if rest.is_empty() {
            Ok(())
        } else {
            Err(mismatch())
        }
    }
}

enum Token<'a> {
    Literal(&'a str),
    Placeholder(&'a str, Kind),
}

/// `text` as literal runs and placeholders.
fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while let Some(open) = text[i..].find('<').map(|o| i + o) {
        let close = text[open..].find('>').map(|c| open + c);
        let name = close.map(|c| &text[open + 1..c]);
        let kind = name
            .filter(|n| {
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
            .and_then(Kind::of);
        match (kind, name, close) {
            (Some(kind), Some(name), Some(close)) => {
                if literal_start < open {
                    tokens.push(Token::Literal(&text[literal_start..open]));
                }
                tokens.push(Token::Placeholder(name, kind));
                literal_start = close + 1;
                i = close + 1;
            }
            _ => i = open + 1,
        }
    }
    if literal_start < text.len() {
        tokens.push(Token::Literal(&text[literal_start..]));
    }
    tokens
}

#[test]
fn placeholders_match_only_their_kind_and_a_name_keeps_its_value() {
    let mut b = Bindings::default();
    let id = "4066a1d4-698a-4102-9cad-c4d52152e454";
    let hash = "a".repeat(64);
    let shown = |s: &str| vec![s.to_owned()];
    b.output(
        &shown(r#"{"id":"<event-id-1>","at":"<time>","h":"<hash-1>","n":1}"#),
        &format!(r#"{{"n":1,"at":"2026-12-04T20:11:03.020413077Z","id":"{id}","h":"{hash}"}}"#),
    )
    .expect("matches");
    let other = "5066a1d4-698a-4102-9cad-c4d52152e454";
    assert!(
        b.output(&shown("<event-id-1>"), other).is_err(),
        "a name keeps its value"
    );
    assert!(b.output(&shown("<event-id-2>"), "not-a-uuid").is_err());
    assert!(b
        .output(&shown(r#"{"n":"<time>"}"#), r#"{"n":"5"}"#)
        .is_err());
    assert!(
        b.output(&shown(r#"{"n":1}"#), r#"{"n":1,"m":2}"#).is_err(),
        "extra fields fail"
    );
    b.output(&shown("ok in <seconds>s; <x>"), "ok in 0.41s; <x>")
        .expect("unknown names are text");
    b.output(
        &[
            "HTTP/1.1 201 Created".into(),
            "date: <time>".into(),
            String::new(),
            "{}".into(),
        ],
        "HTTP/1.1 201 Created\r\ndate: Fri, 04 Dec 2026 20:11:02 GMT\r\n\r\n{}",
    )
    .expect("headers, then the body");
}
