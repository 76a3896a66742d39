//! The dispatcher's settings: [`DispatchConfig`] for code and tests, [`DispatchArgs`]
//! for `alert-ledger serve` (flattened into its arguments).

use super::backoff::Backoff;
use super::sign::SigningSecret;
use clap::Args;
use std::time::Duration;

/// How the dispatcher sends.
#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// `false`: this instance never sends (reads and writes still work; another
    /// instance on the same store can send).
    pub enabled: bool,
    /// This instance's name in `message_claimed` events. A random UUID per start by
    /// default; a fixed one lets a restarted instance take its own claims back at
    /// once instead of waiting for their leases to lapse.
    pub instance_id: String,
    /// Key of `X-Ledger-Signature`; `None` sends unsigned requests.
    pub signing_secret: Option<SigningSecret>,
    /// Attempts per message before it is abandoned.
    pub max_attempts: u32,
    /// Deadline of one attempt, connecting and reading the answer included.
    pub attempt_timeout: Duration,
    /// Delay between attempts.
    pub backoff: Backoff,
    /// How long a claim holds. Longer than `attempt_timeout`, so a live sender
    /// records its outcome before anyone else may take the message over.
    pub lease: Duration,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// The service's public base URL, for absolute links in bodies.
    pub public_url: Option<String>,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            enabled: true,
            instance_id: uuid::Uuid::new_v4().to_string(),
            signing_secret: None,
            max_attempts: 8,
            attempt_timeout: Duration::from_secs(10),
            backoff: Backoff {
                base: Duration::from_secs(5),
                max: Duration::from_secs(600),
            },
            lease: Duration::from_secs(60),
            concurrency: 16,
            public_url: None,
        }
    }
}

impl DispatchConfig {
    /// Checks the settings fit together; the error says which does not.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.instance_id;
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err("the instance id must be 1 to 128 printable characters".into());
        }
        if self.max_attempts == 0 {
            return Err("the dispatcher needs at least one attempt per message".into());
        }
        if self.attempt_timeout.is_zero() || self.concurrency == 0 {
            return Err("the attempt timeout and the concurrency must be positive".into());
        }
        if self.lease <= self.attempt_timeout + Duration::from_secs(1) {
            return Err(format!(
                "the dispatch lease ({} ms) must exceed the attempt timeout ({} ms) by more than a second",
                self.lease.as_millis(),
                self.attempt_timeout.as_millis()
            ));
        }
        if self.backoff.base.is_zero() || self.backoff.max < self.backoff.base {
            return Err("the backoff base must be positive and at most the backoff maximum".into());
        }
        match &self.public_url {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(
                format!("the public URL `{url}` must start with http:// or https://"),
            ),
            _ => Ok(()),
        }
    }
}

/// Dispatcher flags of `alert-ledger serve`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Do not deliver outgoing messages from this instance.
    #[arg(long, env = "ALERT_LEDGER_NO_DISPATCH")]
    no_dispatch: bool,
    /// This instance's name in delivery claims (default: a random UUID per start).
    #[arg(long, env = "ALERT_LEDGER_INSTANCE_ID")]
    instance_id: Option<String>,
    /// Secret for the HMAC-SHA256 `X-Ledger-Signature` of outgoing webhooks. Prefer
    /// the environment variable: a flag shows in the process list.
    #[arg(long, env = "ALERT_LEDGER_WEBHOOK_SIGNING_SECRET", hide_env_values = true, value_parser = parse_secret)]
    webhook_signing_secret: Option<SigningSecret>,
    /// Attempts per message before it is abandoned.
    #[arg(long, env = "ALERT_LEDGER_DISPATCH_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    dispatch_max_attempts: u32,
    /// Deadline of one delivery attempt, in milliseconds.
    #[arg(long, env = "ALERT_LEDGER_DISPATCH_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    dispatch_timeout_ms: u64,
    /// Delay after the first failed attempt, in milliseconds (doubles per attempt, jittered).
    #[arg(long, env = "ALERT_LEDGER_DISPATCH_BACKOFF_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    dispatch_backoff_ms: u64,
    /// Longest delay between attempts, in milliseconds.
    #[arg(
        long,
        env = "ALERT_LEDGER_DISPATCH_BACKOFF_MAX_MS",
        default_value_t = 600_000
    )]
    dispatch_backoff_max_ms: u64,
    /// How long a delivery claim holds, in milliseconds (must exceed the timeout).
    #[arg(long, env = "ALERT_LEDGER_DISPATCH_LEASE_MS", default_value_t = 60_000)]
    dispatch_lease_ms: u64,
    /// Deliveries in flight at once.
    #[arg(long, env = "ALERT_LEDGER_DISPATCH_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    dispatch_concurrency: u64,
    /// The service's public base URL, for absolute links in message bodies.
    #[arg(long, env = "ALERT_LEDGER_PUBLIC_URL")]
    public_url: Option<String>,
}

impl DispatchArgs {
    /// The configuration these flags describe (checked by `Dispatcher::new`).
    pub fn into_config(self) -> DispatchConfig {
        let defaults = DispatchConfig::default();
        DispatchConfig {
            enabled: !self.no_dispatch,
            instance_id: self.instance_id.unwrap_or(defaults.instance_id),
            signing_secret: self.webhook_signing_secret,
            max_attempts: self.dispatch_max_attempts,
            attempt_timeout: Duration::from_millis(self.dispatch_timeout_ms),
            backoff: Backoff {
                base: Duration::from_millis(self.dispatch_backoff_ms),
                max: Duration::from_millis(self.dispatch_backoff_max_ms),
            },
            lease: Duration::from_millis(self.dispatch_lease_ms),
            concurrency: self.dispatch_concurrency as usize,
            public_url: self.public_url,
        }
    }
}

fn parse_secret(raw: &str) -> Result<SigningSecret, String> {
    SigningSecret::new(raw).ok_or_else(|| "the signing secret must not be empty".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(DispatchConfig::default().validate(), Ok(()));
    }

    #[test]
    fn a_lease_no_longer_than_the_timeout_is_refused() {
        let config = DispatchConfig {
            lease: Duration::from_secs(10),
            ..DispatchConfig::default()
        };
        assert!(config.validate().unwrap_err().contains("lease"));
    }

    #[test]
    fn the_secret_is_not_in_the_debug_output_of_the_config() {
        let config = DispatchConfig {
            signing_secret: SigningSecret::new("do-not-print-me"),
            ..DispatchConfig::default()
        };
        assert!(!format!("{config:?}").contains("do-not-print-me"));
    }
}
