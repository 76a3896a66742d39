//! An app with bearer tokens and an integration keys file, fixtures, and views of
//! what a user sees (an alert, the log).

use crate::helpers::{inline_tokens, spawn_app_with, Api, TestApp, ADMIN_TOKEN, WRITER_TOKEN};
use serde_json::Value;
use tempfile::TempDir;

/// The PagerDuty routing key of service `pd-svc`.
pub const PD_KEY: &str = "pdroutingkey0123456789abcdef0123";
/// A second PagerDuty routing key, configured in its hashed form, of service `pd-other`.
pub const PD_HASHED_KEY: &str = "pdhashedkey-0123456789abcdef0123";
/// The GoAlert token of service `ga-svc`.
pub const GA_KEY: &str = "goalert-token-0123456789abcdef";
/// A well-formed key nobody configured.
pub const UNKNOWN_KEY: &str = "unknownkey0123456789abcdef012345";

/// Every secret a response or the log must never show.
pub const SECRETS: [&str; 3] = [PD_KEY, PD_HASHED_KEY, GA_KEY];

/// The integration keys file of [`spawn`].
pub fn keys_file() -> String {
    use sha2::{Digest, Sha256};
    let hash: String = Sha256::digest(PD_HASHED_KEY.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "# kind key service\npagerduty {PD_KEY} pd-svc\npagerduty sha256:{hash} pd-other\n\ngoalert {GA_KEY} ga-svc\n"
    )
}

/// A running app with tokens and integration keys; derefs to the [`TestApp`].
pub struct App {
    app: TestApp,
    _keys: TempDir,
}

impl std::ops::Deref for App {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// Starts an app with reader/writer/admin tokens and [`keys_file`].
pub async fn spawn() -> App {
    let keys = tempfile::tempdir().expect("a temporary directory");
    let path = keys.path().join("integration-keys");
    std::fs::write(&path, keys_file()).expect("the keys file is written");
    let app = spawn_app_with(|config| {
        config.tokens = Some(inline_tokens());
        config.integration_keys_file = Some(path);
    })
    .await;
    App { app, _keys: keys }
}

impl App {
    /// The API as an admin (for reads).
    pub fn admin(&self) -> Api {
        self.with_token(Some(ADMIN_TOKEN))
    }

    /// The API as the writer `ingest` (what Alertmanager is configured with).
    pub fn writer(&self) -> Api {
        self.with_token(Some(WRITER_TOKEN))
    }

    /// The API without a bearer token (PagerDuty and GoAlert senders).
    pub fn anonymous(&self) -> Api {
        self.with_token(None)
    }

    /// `GET /v1/alerts/{id}` as it stands after `position`.
    pub async fn alert(&self, id: &str, position: u64) -> Value {
        self.admin().get_alert(id, position).await.expect(200).body
    }

    /// The alerts of `service`, newest first, after `position`.
    pub async fn alerts_of(&self, service: &str, position: u64) -> Vec<Value> {
        let reply = self
            .admin()
            .list_alerts(&format!("service={service}&min_position={position}"))
            .await
            .expect(200);
        reply.body["items"].as_array().expect("items").clone()
    }

    /// The head position of the ledger.
    pub async fn head(&self) -> u64 {
        self.admin().head_position().await
    }

    /// Every event in `$all` as JSON.
    pub async fn log(&self) -> Vec<Value> {
        self.admin().all_events().await
    }
}

/// A fixture from `tests/fixtures/receivers/`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/receivers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A PagerDuty fixture with `routing_key` set.
pub fn pd_fixture(name: &str, routing_key: &str) -> Value {
    let mut event = fixture(name);
    event["routing_key"] = routing_key.into();
    event
}

/// Asserts nothing in `texts` shows an integration key.
#[track_caller]
pub fn assert_no_secret<'a>(texts: impl IntoIterator<Item = &'a str>) {
    for text in texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "a key leaked into: {text}");
        }
    }
}
