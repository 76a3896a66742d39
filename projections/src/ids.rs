//! Newtypes for identifiers and keys, each with a `parse` constructor that says
//! which rule a bad value broke. Views and events only ever hold parsed values.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Why a value could not become an identifier or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The value was empty or only white space.
    #[error("must not be empty")]
    Empty,
    /// The value was longer than the limit.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit in characters.
        max: usize,
    },
    /// The value held a control character.
    #[error("must not contain control characters")]
    ControlCharacter,
    /// The value held a character outside the allowed set.
    #[error("may only contain letters, digits and . _ : -")]
    BadCharacter,
}

fn check_text(raw: &str, max: usize) -> Result<(), IdError> {
    if raw.trim().is_empty() {
        return Err(IdError::Empty);
    }
    if raw.chars().count() > max {
        return Err(IdError::TooLong { max });
    }
    if raw.chars().any(char::is_control) {
        return Err(IdError::ControlCharacter);
    }
    Ok(())
}

fn check_name(raw: &str, max: usize) -> Result<(), IdError> {
    check_text(raw, max)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if raw.chars().all(allowed) {
        Ok(())
    } else {
        Err(IdError::BadCharacter)
    }
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Parses the hyphenated UUID form.
            pub fn parse(raw: &str) -> Result<Self, uuid::Error> {
                Uuid::parse_str(raw).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $check:ident, $max:expr) => {
        $(#[$doc])*
        // Deserializing goes through `parse` too, so a stored or imported event cannot
        // smuggle in a value the API would have refused.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(raw: String) -> Result<Self, IdError> {
                $check(&raw, $max)?;
                Ok(Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_LEN: usize = $max;

            /// Accepts a value that follows the rules for this key.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                $check(raw, $max)?;
                Ok(Self(raw.to_owned()))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

uuid_id!(
    /// One alert: one triggered → resolved life inside a dedup series.
    AlertId
);
uuid_id!(
    /// All alerts that ever shared one (service, dedup key); names the alert stream.
    SeriesId
);
uuid_id!(
    /// One outgoing message: one (cause event, channel) pair.
    MessageId
);
uuid_id!(
    /// One self-healing task run.
    TaskId
);
uuid_id!(
    /// One escalation timer.
    TimerId
);

text_id!(
    /// The service an alert belongs to (e.g. `payments-api`).
    ServiceName, check_name, 128
);
text_id!(
    /// The caller's deduplication key: one open alert per (service, key).
    DedupKey, check_text, 255
);
text_id!(
    /// A registered resource ("sync") that owns alarms.
    SyncId, check_name, 128
);
text_id!(
    /// A notification destination (a configured channel).
    ChannelId, check_name, 128
);
text_id!(
    /// A host that runs self-healing work.
    HostName, check_name, 253
);
text_id!(
    /// An escalation policy.
    PolicyId, check_name, 128
);
text_id!(
    /// A rule that creates self-healing tasks from alerts.
    RuleId, check_name, 128
);
text_id!(
    /// A durable consumer group: a named reader of the log whose checkpoint is kept
    /// in the ledger.
    ConsumerName, check_name, 128
);
text_id!(
    /// One member of a consumer group, named by the client that reads for it.
    MemberId, check_name, 128
);

/// Namespace for the deterministic ids derived below (a fixed random UUID).
const NAMESPACE: Uuid = Uuid::from_u128(0x6c1e_27a0_5d0b_4e8f_9a51_0c3d_82f4_7b19);

impl SeriesId {
    /// The series of a (service, dedup key): the same pair always names the same stream,
    /// so concurrent triggers on one instance or many meet on one stream version.
    pub fn of(service: &ServiceName, key: &DedupKey) -> Self {
        let name = format!("{}\u{0}{}", service.as_str(), key.as_str());
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }
}

impl AlertId {
    /// The id of the `generation`-th alert (0-based) of a series: deterministic, so a
    /// retried trigger decision names the same alert.
    pub fn of(series: SeriesId, generation: u64) -> Self {
        let mut name = series.0.as_bytes().to_vec();
        name.extend_from_slice(&generation.to_be_bytes());
        Self(Uuid::new_v5(&NAMESPACE, &name))
    }
}

impl MessageId {
    /// The message for one (cause event, channel): deterministic, so a message can be
    /// looked up from its cause and is never queued twice for the same pair.
    pub fn of(cause: &crate::EventRef, channel: &ChannelId) -> Self {
        let name = format!(
            "{}@{}\u{0}{}",
            cause.stream,
            cause.version,
            channel.as_str()
        );
        Self(Uuid::new_v5(&NAMESPACE, name.as_bytes()))
    }
}

impl TimerId {
    /// The timer for one escalation step of one alert.
    pub fn of(alert: AlertId, step: u32) -> Self {
        let mut name = alert.0.as_bytes().to_vec();
        name.extend_from_slice(&step.to_be_bytes());
        Self(Uuid::new_v5(&NAMESPACE, &name))
    }
}
