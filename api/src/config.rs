//! Settings of `souk serve`, from flags or `SOUK_*` environment variables
//! (flags win), as API.md ("Running it") lists them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Where the data directory lives and what the server listens on.
#[derive(Clone, Debug, Args)]
pub struct DataDirArg {
    /// The embedded log, the read models and the generated signing secret.
    #[arg(long, env = "SOUK_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

/// The signing secret, when one is given instead of the generated one.
#[derive(Clone, Debug, Args)]
pub struct SecretArg {
    /// HS256 secret for tokens; made once and kept in the data directory when
    /// not given.
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
    /// REST and the web app.
    #[arg(long, env = "SOUK_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// Socket.IO.
    #[arg(long, env = "SOUK_SOCKET_ADDR", default_value = "127.0.0.1:8081")]
    pub socket_addr: String,
    /// Origins allowed to call REST and Socket.IO from a browser, comma
    /// separated (`*` for any). Default: the web app's own origin.
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
    /// REST requests per second each user may make (bursts of twice as
    /// many); over it: `429 rate_limited`.
    #[arg(long, env = "SOUK_REST_RATE", default_value_t = 50)]
    pub rest_rate_per_user: u32,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "SOUK_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
}

impl Settings {
    /// Settings for a server on free loopback ports over `data_dir` (tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            data: DataDirArg { data_dir },
            secret: SecretArg { jwt_secret: None },
            http_addr: "127.0.0.1:0".into(),
            socket_addr: "127.0.0.1:0".into(),
            cors_origins: vec![],
            demo: false,
            web_dir: PathBuf::from("web/dist"),
            public_socket_url: None,
            shards: Some(2),
            actor_idle_secs: 600,
            rest_rate_per_user: 1000,
            http_workers: Some(2),
        }
    }

    pub fn actor_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.actor_idle_secs.max(1))
    }
}
