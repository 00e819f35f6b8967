//! Settings of `souk serve`, from flags or `SOUK_*` environment variables
//! (flags win), as docs/api.md ("Running it") lists them.
//!
//! # Cluster mode
//!
//! `--log-url` (`SOUK_LOG_URL`) puts the event log in PostgreSQL instead of
//! the data directory, and every node given the same URL shares it. Each
//! node still keeps its read models (and nothing else) in its own data
//! directory. Because a token minted by one node must be accepted by all,
//! cluster mode requires `--jwt-secret` (`SOUK_JWT_SECRET`): the secret a
//! single server generates into its data directory would differ per node.
//! Presence is kept in the same PostgreSQL database (see
//! [`crate::presence`]); `--presence-lease` and `--presence-heartbeat` tune
//! how soon a node that died takes its users offline.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the data directory lives and what the server listens on.
#[derive(Clone, Debug, Args)]
pub struct DataDirArg {
    /// The embedded log, the read models and the generated signing secret.
    #[arg(long, env = "SOUK_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
}

/// Where the event log is: PostgreSQL when a URL is given, else the embedded
/// log in the data directory.
#[derive(Clone, Debug, Default, Args)]
pub struct LogArg {
    /// The shared event log of a cluster, a PostgreSQL URL
    /// (`postgres://user:password@host:5432/db?sslmode=require`; sslmode
    /// disable, prefer or require). Unset: the embedded log in the data
    /// directory. Every node given the same URL shares the log; each keeps
    /// its own read models in its data directory.
    #[arg(long, env = "SOUK_LOG_URL", hide_env_values = true, global = true)]
    pub log_url: Option<String>,
}

impl LogArg {
    /// The URL without its password, for messages.
    pub fn display(&self) -> Option<String> {
        self.log_url.as_deref().map(redact_url)
    }
}

/// A PostgreSQL URL with its password replaced by `***` (for logs).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Whether `s` names a PostgreSQL database (a URL) rather than a data
/// directory.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// The signing secret, when one is given instead of the generated one.
#[derive(Clone, Debug, Args)]
pub struct SecretArg {
    /// HS256 secret for tokens (at least 16 characters); made once and kept
    /// in the data directory when not given. Required with `--log-url`: every
    /// node of a cluster must verify the same tokens.
    #[arg(long, env = "SOUK_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
}

/// Everything `souk serve` takes.
#[derive(Clone, Debug, Args)]
pub struct Settings {
    #[command(flatten)]
    pub data: DataDirArg,
    #[command(flatten)]
    pub secret: SecretArg,
    #[command(flatten)]
    pub tokens: crate::auth::TokenSettings,
    #[command(flatten)]
    pub log: LogArg,
    /// This node's name in a cluster (presence leases, `/metrics`, the
    /// `listening` line). Default: a new random one at each start.
    #[arg(long, env = "SOUK_NODE_ID")]
    pub node_id: Option<String>,
    /// Cluster mode: how long a node's users stay online after its last
    /// heartbeat (a node killed outright takes them offline this long after).
    /// 500ms, 15s, 1m.
    #[arg(long, env = "SOUK_PRESENCE_LEASE", default_value = "15s", value_parser = parse_duration)]
    pub presence_lease: Duration,
    /// Cluster mode: how often a node renews its lease and looks for nodes
    /// whose lease ran out. Must be shorter than the lease.
    #[arg(long, env = "SOUK_PRESENCE_HEARTBEAT", default_value = "5s", value_parser = parse_duration)]
    pub presence_heartbeat: Duration,
    /// REST and the web app.
    #[arg(long, env = "SOUK_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// Socket.IO.
    #[arg(long, env = "SOUK_SOCKET_ADDR", default_value = "127.0.0.1:8081")]
    pub socket_addr: String,
    /// More origins allowed to call REST and Socket.IO from a browser, comma
    /// separated, e.g. `https://shop.example,https://admin.shop.example`
    /// (`*` for any). They add to the default, the web app's own origin
    /// (same host as the socket server, any port), which always works.
    #[arg(long, env = "SOUK_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Seed demo users and products and let the sign-in page mint tokens.
    #[arg(long, env = "SOUK_DEMO")]
    pub demo: bool,
    /// The built web app to serve at `/`.
    #[arg(long, env = "SOUK_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// The Socket.IO address as browsers should reach it, when it differs from
    /// the page's host and `--socket-addr`'s port (behind a proxy).
    #[arg(long, env = "SOUK_PUBLIC_SOCKET_URL")]
    pub public_socket_url: Option<String>,
    /// Arbiters for conversation actors (default: one per core).
    #[arg(long, env = "SOUK_SHARDS")]
    pub shards: Option<usize>,
    /// Seconds before an idle conversation actor is stopped.
    #[arg(long, env = "SOUK_ACTOR_IDLE_SECS", default_value_t = 600)]
    pub actor_idle_secs: u64,
    /// Memory (MiB) that conversation actors' states may hold in all; past
    /// it the least recently used quiet ones are let go early (they come
    /// back from the log on next use).
    #[arg(long, env = "SOUK_ACTOR_MEMORY_MB", default_value_t = 256)]
    pub actor_memory_mb: usize,
    /// Requests per second each user may make, REST requests and socket
    /// events (but typing) together (bursts of twice as many); over it:
    /// `429 rate_limited`, or an error ack on a socket.
    #[arg(long, env = "SOUK_REST_RATE", default_value_t = 50)]
    pub rest_rate_per_user: u32,
    /// Sockets one user may hold open on this node at once; one more is
    /// refused (`connect_error` "too many connections").
    #[arg(long, env = "SOUK_MAX_SOCKETS_PER_USER", default_value_t = 20)]
    pub max_sockets_per_user: usize,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SOUK_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    /// Webhooks (`--webhook-url` and the rest; see [`crate::webhooks`]).
    #[command(flatten)]
    pub webhooks: crate::webhooks::WebhookSettings,
}

impl Settings {
    /// Settings for a server on free loopback ports over `data_dir` (tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            data: DataDirArg { data_dir },
            secret: SecretArg { jwt_secret: None },
            tokens: crate::auth::TokenSettings::default(),
            log: LogArg::default(),
            node_id: None,
            presence_lease: Duration::from_secs(15),
            presence_heartbeat: Duration::from_secs(5),
            http_addr: "127.0.0.1:0".into(),
            socket_addr: "127.0.0.1:0".into(),
            cors_origins: vec![],
            demo: false,
            web_dir: PathBuf::from("web/dist"),
            public_socket_url: None,
            shards: Some(2),
            actor_idle_secs: 600,
            actor_memory_mb: 256,
            rest_rate_per_user: 1000,
            max_sockets_per_user: 20,
            http_workers: Some(2),
            webhooks: crate::webhooks::WebhookSettings::default(),
        }
    }

    pub fn actor_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.actor_idle_secs.max(1))
    }

    /// Whether the log is a shared PostgreSQL one.
    pub fn is_cluster(&self) -> bool {
        self.log.log_url.is_some()
    }

    /// Checks what flags cannot check one by one: cluster mode needs a given
    /// secret, a heartbeat shorter than the lease, a usable node id.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.log.log_url {
            if !is_postgres_url(url) {
                return Err(ConfigError::LogUrl(redact_url(url)));
            }
            if self.secret.jwt_secret.is_none() {
                return Err(ConfigError::SecretRequired);
            }
        }
        if self.presence_heartbeat >= self.presence_lease {
            return Err(ConfigError::Heartbeat {
                heartbeat: self.presence_heartbeat,
                lease: self.presence_lease,
            });
        }
        if let Some(id) = &self.node_id {
            validate_node_id(id)?;
        }
        Ok(())
    }

    /// The node id given, or a new random one (`node-` and 8 hex digits).
    pub fn node_id(&self) -> String {
        self.node_id.clone().unwrap_or_else(|| {
            let n = uuid::Uuid::new_v4().as_u128() as u32;
            format!("node-{n:08x}")
        })
    }
}

/// Settings that do not fit together.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--log-url / SOUK_LOG_URL must be a postgres:// or postgresql:// URL, not {0:?}")]
    LogUrl(String),
    #[error(
        "--log-url / SOUK_LOG_URL needs --jwt-secret / SOUK_JWT_SECRET: every node of a cluster must verify the same tokens"
    )]
    SecretRequired,
    #[error(
        "--presence-heartbeat ({heartbeat:?}) must be shorter than --presence-lease ({lease:?})"
    )]
    Heartbeat {
        heartbeat: Duration,
        lease: Duration,
    },
    #[error(
        "--node-id / SOUK_NODE_ID must be 1 to 64 letters, digits, '-', '_' or '.', not {0:?}"
    )]
    NodeId(String),
}

fn validate_node_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::NodeId(id.to_owned()))
    }
}

/// A duration flag: a positive number with `ms`, `s`, `m` or `h` (a bare
/// number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?}: use 500ms, 15s, 2m or 1h"))?;
    let d = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "bad duration unit {other:?} in {s:?}: use ms, s, m or h"
            ))
        }
    };
    if d.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn parse(args: &[&str]) -> Result<Settings, clap::Error> {
        Cli::try_parse_from(std::iter::once("souk").chain(args.iter().copied())).map(|c| c.settings)
    }

    #[test]
    fn durations_take_ms_s_m_h_and_refuse_zero_and_junk() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "0s", "0ms", "s", "1.5s", "10d", "-1s", "fast"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn without_a_log_url_the_embedded_log_is_used_with_default_presence_timing() {
        let s = parse(&["--data-dir", "/tmp/x"]).unwrap();
        assert!(!s.is_cluster());
        assert_eq!(s.presence_lease, Duration::from_secs(15));
        assert_eq!(s.presence_heartbeat, Duration::from_secs(5));
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn a_log_url_selects_postgres_and_requires_a_secret() {
        let url = "postgres://souk:pw@db.example:5432/souk?sslmode=require";
        let s = parse(&["--log-url", url]).unwrap();
        assert!(s.is_cluster());
        assert_eq!(s.validate(), Err(ConfigError::SecretRequired));
        let msg = ConfigError::SecretRequired.to_string();
        assert!(msg.contains("SOUK_JWT_SECRET"), "{msg}");

        let s = parse(&[
            "--log-url",
            url,
            "--jwt-secret",
            "0123456789abcdef",
            "--presence-lease",
            "2s",
            "--presence-heartbeat",
            "500ms",
            "--node-id",
            "eu-1.a",
        ])
        .unwrap();
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.presence_lease, Duration::from_secs(2));
        assert_eq!(s.presence_heartbeat, Duration::from_millis(500));
        assert_eq!(s.node_id(), "eu-1.a");
    }

    #[test]
    fn bad_cluster_settings_are_refused_with_the_flag_named() {
        let secret = ["--jwt-secret", "0123456789abcdef"];
        let s = parse(&[&secret[..], &["--log-url", "mysql://x/y"]].concat()).unwrap();
        assert!(matches!(s.validate(), Err(ConfigError::LogUrl(_))));
        let s = parse(&["--presence-lease", "5s", "--presence-heartbeat", "5s"]).unwrap();
        assert!(matches!(s.validate(), Err(ConfigError::Heartbeat { .. })));
        let s = parse(&["--node-id", "a b"]).unwrap();
        assert_eq!(s.validate(), Err(ConfigError::NodeId("a b".into())));
        let err = parse(&["--presence-lease", "soon"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--presence-lease"), "{err}");
    }

    #[test]
    fn generated_node_ids_differ_and_are_valid() {
        let s = parse(&[]).unwrap();
        let (a, b) = (s.node_id(), s.node_id());
        assert_ne!(a, b);
        assert_eq!(validate_node_id(&a), Ok(()));
    }

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redact_url("postgres://souk:secret@db:5432/souk?sslmode=require"),
            "postgres://souk:***@db:5432/souk?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://souk@db/souk"),
            "postgres://souk@db/souk"
        );
        assert!(is_postgres_url("postgresql://h/d"));
        assert!(!is_postgres_url("./data"));
    }
}
