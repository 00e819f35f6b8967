//! What the webhooks are told: the endpoints, the signing secret, the kinds
//! to deliver, the reminder delay and the retry policy (flags and `SOUK_*`
//! variables of `souk serve`), and the registry of event kinds.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use crate::config::parse_duration;

/// The kinds of webhook deliveries, by their wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A `ConversationStarted` event.
    ConversationStarted,
    /// A `MessageSent` event.
    MessageCreated,
    /// A `MessageRead` event.
    MessageRead,
    /// A recipient still has unread messages some time after they arrived
    /// and no socket open (see [`super::reminder`]).
    UnreadReminder,
}

impl Kind {
    pub const ALL: [Kind; 4] = [
        Kind::MessageCreated,
        Kind::MessageRead,
        Kind::ConversationStarted,
        Kind::UnreadReminder,
    ];

    /// The name in `type`, in the delivery id and in `--webhook-events`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConversationStarted => "conversation.started",
            Kind::MessageCreated => "message.created",
            Kind::MessageRead => "message.read",
            Kind::UnreadReminder => "message.unread_reminder",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown webhook event {s:?}: use {}",
                    Kind::ALL.map(Kind::as_str).join(", ")
                )
            })
    }
}

/// The webhook settings of `souk serve`. Webhooks are off unless at least
/// one `--webhook-url` is given.
#[derive(Clone, Debug, Args)]
pub struct WebhookSettings {
    /// Endpoints that receive every webhook, comma separated (or the flag
    /// repeated): `https://shop.example/souk-hooks`. Unset: no webhooks.
    /// In a cluster, give it to one node only (see docs/api.md, Webhooks).
    #[arg(long = "webhook-url", env = "SOUK_WEBHOOK_URL", value_delimiter = ',')]
    pub urls: Vec<String>,
    /// The HMAC-SHA256 key of the `Souk-Webhook-Signature` header, at least
    /// 16 characters. Required with `--webhook-url`.
    #[arg(
        long = "webhook-secret",
        env = "SOUK_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    pub secret: Option<String>,
    /// The kinds to deliver, comma separated: message.created,
    /// message.read, conversation.started, message.unread_reminder.
    /// Default: all of them.
    #[arg(
        long = "webhook-events",
        env = "SOUK_WEBHOOK_EVENTS",
        value_delimiter = ','
    )]
    pub events: Vec<Kind>,
    /// How long a message stays unread, its recipient offline, before
    /// `message.unread_reminder` (`30s`, `10m`, `1h`).
    #[arg(long = "webhook-reminder-after", env = "SOUK_WEBHOOK_REMINDER_AFTER", default_value = "10m", value_parser = parse_duration)]
    pub reminder_after: Duration,
    /// Tries of one delivery before it becomes a dead letter.
    #[arg(
        long = "webhook-max-tries",
        env = "SOUK_WEBHOOK_MAX_TRIES",
        default_value_t = 8
    )]
    pub max_tries: u32,
    /// How long one try may take (connect, send, answer).
    #[arg(long = "webhook-timeout", env = "SOUK_WEBHOOK_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// The pause after the first failed try; it doubles after each further
    /// one (with jitter), up to `--webhook-backoff-max`.
    #[arg(long = "webhook-backoff", env = "SOUK_WEBHOOK_BACKOFF", default_value = "5s", value_parser = parse_duration)]
    pub backoff: Duration,
    /// The longest pause between two tries.
    #[arg(long = "webhook-backoff-max", env = "SOUK_WEBHOOK_BACKOFF_MAX", default_value = "10m", value_parser = parse_duration)]
    pub backoff_max: Duration,
}

impl Default for WebhookSettings {
    /// Off, with the defaults of the flags.
    fn default() -> Self {
        Self {
            urls: Vec::new(),
            secret: None,
            events: Vec::new(),
            reminder_after: Duration::from_secs(600),
            max_tries: 8,
            timeout: Duration::from_secs(5),
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
        }
    }
}

/// Webhook settings that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookConfigError {
    #[error("--webhook-url / SOUK_WEBHOOK_URL needs --webhook-secret / SOUK_WEBHOOK_SECRET (at least 16 characters): every delivery is signed")]
    SecretRequired,
    #[error("--webhook-secret / SOUK_WEBHOOK_SECRET must be at least 16 characters")]
    SecretTooShort,
    #[error("--webhook-url / SOUK_WEBHOOK_URL must be http:// or https:// URLs, not {0:?}")]
    Url(String),
    #[error("--webhook-max-tries / SOUK_WEBHOOK_MAX_TRIES must be at least 1")]
    MaxTries,
}

impl WebhookSettings {
    /// Whether webhooks run (at least one endpoint).
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }

    /// The kinds to deliver: those given, or all.
    pub fn kinds(&self) -> Vec<Kind> {
        if self.events.is_empty() {
            Kind::ALL.to_vec()
        } else {
            let mut kinds = self.events.clone();
            kinds.sort();
            kinds.dedup();
            kinds
        }
    }

    /// Whether `kind` is delivered.
    pub fn delivers(&self, kind: Kind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }

    /// Checks the endpoints and the secret when webhooks are on.
    pub fn validate(&self) -> Result<(), WebhookConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        for url in &self.urls {
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && reqwest::Url::parse(url).is_ok();
            if !ok {
                return Err(WebhookConfigError::Url(url.clone()));
            }
        }
        match &self.secret {
            None => return Err(WebhookConfigError::SecretRequired),
            Some(s) if s.chars().count() < 16 => return Err(WebhookConfigError::SecretTooShort),
            Some(_) => {}
        }
        if self.max_tries == 0 {
            return Err(WebhookConfigError::MaxTries);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        webhooks: WebhookSettings,
    }

    fn parse(args: &[&str]) -> Result<WebhookSettings, clap::Error> {
        Cli::try_parse_from(std::iter::once("souk").chain(args.iter().copied())).map(|c| c.webhooks)
    }

    #[test]
    fn off_by_default_and_all_kinds_when_none_named() {
        let s = parse(&[]).unwrap();
        assert!(!s.enabled());
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.kinds().len(), 4);
        assert_eq!(s.reminder_after, Duration::from_secs(600));
        assert_eq!(s.max_tries, 8);
    }

    #[test]
    fn several_urls_and_kinds_parse_and_a_secret_is_required() {
        let s = parse(&[
            "--webhook-url",
            "http://a.example/h,https://b.example/h",
            "--webhook-events",
            "message.unread_reminder, message.created",
        ])
        .unwrap();
        assert_eq!(s.urls.len(), 2);
        assert_eq!(s.kinds(), vec![Kind::MessageCreated, Kind::UnreadReminder]);
        assert!(!s.delivers(Kind::MessageRead));
        assert_eq!(s.validate(), Err(WebhookConfigError::SecretRequired));
        let s = parse(&["--webhook-url", "http://a/h", "--webhook-secret", "short"]).unwrap();
        assert_eq!(s.validate(), Err(WebhookConfigError::SecretTooShort));
        let s = parse(&[
            "--webhook-url",
            "ftp://a/h",
            "--webhook-secret",
            "0123456789abcdef",
        ])
        .unwrap();
        assert!(matches!(s.validate(), Err(WebhookConfigError::Url(_))));
        let s = parse(&[
            "--webhook-url",
            "http://a/h",
            "--webhook-secret",
            "0123456789abcdef",
        ])
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_known_ones_named() {
        let err = parse(&["--webhook-events", "message.deleted"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("message.unread_reminder"), "{err}");
    }
}
