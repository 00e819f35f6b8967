//! The commands of the `souk` binary.
//!
//! `events`, `replay` and `projections` read the embedded log of
//! `--data-dir`, or the shared PostgreSQL log of `--log-url`
//! (`SOUK_LOG_URL`) when given; `log copy` moves a whole log from one to the
//! other (see [`copy_log`]); `webhooks status|retry` work on the data
//! directory's `webhooks.db` (see [`crate::webhooks::command`]); `audit
//! verify|verify-transcript` check the log's hash chain and dispute
//! transcripts (see [`crate::audit::command`]).

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use souk_domain::{ConversationId, Timestamp, UserId};
use souk_store::{EventStore, Position, RecordedEvent};

use crate::app::{open_log, open_postgres, open_store, Application, EVENTS_DB, READ_MODELS_DB};
use crate::audit::command::AuditAction;
use crate::audit::event::event_line;
use crate::audit::state::{fold, state_json, Replayed, Until};
use crate::auth::{self, parse_ttl, TokenKeys, TokenSettings};
use crate::config::{is_postgres_url, redact_url, DataDirArg, LogArg, SecretArg, Settings};

#[derive(Debug, Parser)]
#[command(name = "souk", version, about = "Event-sourced chat for marketplaces")]
pub struct Cli {
    #[command(subcommand)]
    pub command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Run the server (REST, Socket.IO, the web app).
    Serve(Box<Settings>),
    /// Print a token signed with the data directory's secret.
    Token {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        secret: SecretArg,
        /// The server's token rules (issuer, audience, maximum lifetime):
        /// the token is minted to pass them.
        #[command(flatten)]
        tokens: TokenSettings,
        #[arg(long)]
        user: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: Option<String>,
        /// How long it is valid: 90s, 15m, 24h, 7d.
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// Print recorded events, one JSON line each.
    Events {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        log: LogArg,
        /// Only this conversation's events.
        #[arg(long)]
        conversation: Option<String>,
        /// Start at this global position.
        #[arg(long, default_value_t = 1)]
        from: Position,
        /// Keep printing new events as they are recorded.
        #[arg(long)]
        follow: bool,
    },
    /// Print a conversation's state as it was at a point of the log.
    Replay {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        log: LogArg,
        /// The conversation id.
        id: String,
        /// A global position (events up to and including it) or an RFC 3339
        /// time (events recorded at or before it). Default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Rebuild or verify the read models (of `--data-dir`, from the log).
    Projections {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        log: LogArg,
        #[command(subcommand)]
        action: ProjectionsAction,
    },
    /// Move an event log between a data directory and PostgreSQL.
    Log {
        #[command(subcommand)]
        action: LogAction,
    },
    /// Audit: check the log's hash chain, or a dispute transcript.
    Audit {
        #[command(subcommand)]
        action: crate::audit::command::AuditAction,
    },
    /// The webhooks of `--data-dir`: status, and retrying dead letters.
    Webhooks {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        log: LogArg,
        #[command(subcommand)]
        action: crate::webhooks::command::WebhooksAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogAction {
    /// Copy a whole event log into an empty one, exactly (streams,
    /// revisions, positions, times, payload bytes): to move a deployment
    /// from the embedded log to a shared PostgreSQL one, or back. Stop the
    /// servers using the source first. Progress goes to stderr.
    Copy {
        /// The log to read: a data directory (its events.db) or a
        /// postgres:// URL.
        #[arg(long)]
        from: String,
        /// The log to fill: a data directory or a postgres:// URL. It must
        /// be empty (a data directory is created if missing).
        #[arg(long)]
        to: String,
        /// Events per imported batch (each batch is one transaction).
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProjectionsAction {
    /// Drop the read models and rebuild them from the log.
    Rebuild,
    /// Rebuild into a scratch copy and report every difference from the live
    /// ones (exit 1 when there is one).
    Verify,
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SOUK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        CliCommand::Serve(settings) => serve(*settings),
        CliCommand::Token {
            data,
            secret,
            tokens,
            user,
            role,
            name,
            ttl,
        } => {
            // Never make a secret here: the server would not know it.
            if secret.jwt_secret.is_none() && auth::secret::read_kept(&data.data_dir)?.is_none() {
                anyhow::bail!(
                    "no signing secret in {}: start souk serve once with this data directory (it makes one), or pass the server's --jwt-secret / SOUK_JWT_SECRET",
                    data.data_dir.display()
                );
            }
            let keys =
                TokenKeys::load(&data.data_dir, secret.jwt_secret.as_deref())?.with_rules(tokens);
            let user = UserId::parse(&user).map_err(|e| anyhow::anyhow!("--user: {}", e.reason))?;
            let seat = auth::Seat::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role: must be customer, vendor or operator"))?;
            let ttl = parse_ttl(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            println!("{}", keys.mint_as(&user, seat, name.as_deref(), ttl)?);
            Ok(ExitCode::SUCCESS)
        }
        CliCommand::Events {
            data,
            log,
            conversation,
            from,
            follow,
        } => block_on(events(data, log, conversation, from, follow)),
        CliCommand::Replay { data, log, id, at } => block_on(replay(data, log, id, at)),
        CliCommand::Projections { data, log, action } => block_on(projections(data, log, action)),
        CliCommand::Log {
            action: LogAction::Copy { from, to, batch },
        } => block_on(copy_log(&from, &to, batch)),
        CliCommand::Audit { action } => match action {
            AuditAction::Verify {
                data,
                log,
                conversation,
            } => block_on(crate::audit::command::verify(data, log, conversation)),
            AuditAction::VerifyTranscript { file } => {
                crate::audit::command::verify_transcript(&file)
            }
        },
        CliCommand::Webhooks { data, log, action } => block_on(async move {
            let log_end = open_log(&data.data_dir, log.log_url.as_deref())
                .await?
                .last_position()
                .await?;
            crate::webhooks::command::run(&data.data_dir, log_end, action)
        }),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    f: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
}

fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    actix_web::rt::System::new().block_on(async move {
        let demo = settings.demo;
        let log = settings.log.display();
        let app = Application::build(settings).await?;
        let (http, socket) = (app.http_addr(), app.socket_addr());
        // One machine-readable line for scripts and tests, then the human one.
        println!(
            "{}",
            json!({
                "event": "listening",
                "http": http.to_string(),
                "socket": socket.to_string(),
                "node": app.node_id(),
            })
        );
        let _ = std::io::stdout().flush();
        tracing::info!(
            "souk is listening: open http://{http}/ (REST and web app), Socket.IO at {socket}; node {}{}{}",
            app.node_id(),
            log.map(|l| format!(", shared log {l}")).unwrap_or_default(),
            if demo { " — demo mode" } else { "" }
        );
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

async fn events(
    data: DataDirArg,
    log: LogArg,
    conversation: Option<String>,
    from: Position,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_log(&data.data_dir, log.log_url.as_deref()).await?;
    let stream = conversation
        .map(|c| {
            ConversationId::parse(&c)
                .map(|id| id.stream_name())
                .map_err(|e| anyhow::anyhow!("--conversation: {}", e.reason))
        })
        .transpose()?;
    let mut next = from.max(1);
    let stdout = std::io::stdout();
    loop {
        let batch = store.read_all(next, 1000).await?;
        {
            let mut out = stdout.lock();
            for e in &batch {
                if stream.as_ref().is_none_or(|s| *s == e.stream) {
                    writeln!(out, "{}", event_line(e))?;
                }
            }
            out.flush()?;
        }
        if let Some(last) = batch.last() {
            next = last.position + 1;
            continue;
        }
        if !follow {
            return Ok(ExitCode::SUCCESS);
        }
        // Another process (the server) writes the log: poll it.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Where a replay stops.
enum ReplayPoint {
    Position(Position),
    Time(Timestamp),
}

fn parse_point(s: &str) -> anyhow::Result<ReplayPoint> {
    if let Ok(p) = s.trim().parse::<Position>() {
        return Ok(ReplayPoint::Position(p));
    }
    Timestamp::parse(s)
        .map(ReplayPoint::Time)
        .map_err(|_| anyhow::anyhow!("--at: give a global position or an RFC 3339 time"))
}

async fn replay(
    data: DataDirArg,
    log: LogArg,
    id: String,
    at: Option<String>,
) -> anyhow::Result<ExitCode> {
    let id = ConversationId::parse(&id).map_err(|e| anyhow::anyhow!("id: {}", e.reason))?;
    let point = at.as_deref().map(parse_point).transpose()?;
    let store = open_log(&data.data_dir, log.log_url.as_deref()).await?;
    let until = match point {
        None => Until::End,
        Some(ReplayPoint::Position(p)) => Until::Position(p),
        Some(ReplayPoint::Time(t)) => Until::Time(t),
    };
    let Replayed { state, last, .. } = fold(&*store, id, until).await?;
    if state.events_applied == 0 && at.is_none() {
        anyhow::bail!("conversation {id} has no events");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&state_json(id, &state, last.as_ref()))?
    );
    Ok(ExitCode::SUCCESS)
}

async fn projections(
    data: DataDirArg,
    log: LogArg,
    action: ProjectionsAction,
) -> anyhow::Result<ExitCode> {
    let store: Arc<dyn EventStore> = open_log(&data.data_dir, log.log_url.as_deref()).await?;
    let path = data.data_dir.join(READ_MODELS_DB);
    match action {
        ProjectionsAction::Rebuild => {
            let started = std::time::Instant::now();
            let mut shown = started;
            let position = souk_projections::rebuild_with_progress(&path, store, move |p| {
                // A line a second at most: the terminal is not the bottleneck.
                if shown.elapsed() >= std::time::Duration::from_secs(1) {
                    shown = std::time::Instant::now();
                    let seconds = started.elapsed().as_secs_f64();
                    eprintln!(
                        "rebuilding: {} of {} events ({:.0} %), {:.0} events/s",
                        p.position,
                        p.target,
                        100.0 * p.position as f64 / p.target.max(1) as f64,
                        p.position as f64 / seconds
                    );
                }
            })
            .await?;
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "rebuilt the read models from the log up to position {position} in {seconds:.1} s ({:.0} events/s)",
                position as f64 / seconds.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        ProjectionsAction::Verify => {
            let report = souk_projections::verify(&path, store).await?;
            for d in &report.differences {
                println!("{d}");
            }
            if report.omitted > 0 {
                println!("... and {} more differences", report.omitted);
            }
            if report.lag() > 0 {
                println!(
                    "the read models lag the log by {} events (position {}, log end {})",
                    report.lag(),
                    report.position,
                    report.log_end
                );
            }
            println!(
                "verified the read models at position {}: {} rows compared, {}",
                report.position,
                report.rows_compared,
                if report.is_consistent() {
                    "no difference".to_owned()
                } else {
                    format!(
                        "{} differences",
                        report.differences.len() as u64 + report.omitted
                    )
                }
            );
            Ok(if report.is_consistent() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// One end of `souk log copy`.
enum LogEnd {
    Embedded(souk_store::SqliteStore),
    Shared(souk_store::PostgresStore),
}

impl LogEnd {
    /// Opens `spec`, a postgres:// URL or a data directory. A source data
    /// directory must hold a log already (a typo must not read as an empty
    /// log).
    async fn open(spec: &str, source: bool) -> anyhow::Result<Self> {
        if is_postgres_url(spec) {
            return Ok(Self::Shared(open_postgres(spec).await?));
        }
        let dir = std::path::Path::new(spec);
        if source && !dir.join(EVENTS_DB).is_file() {
            anyhow::bail!("--from {spec}: no event log there ({EVENTS_DB} not found)");
        }
        Ok(Self::Embedded(open_store(dir)?))
    }

    fn log(&self) -> &dyn EventStore {
        match self {
            Self::Embedded(s) => s,
            Self::Shared(s) => s,
        }
    }

    async fn import(&self, events: &[RecordedEvent]) -> Result<(), souk_store::StoreError> {
        match self {
            Self::Embedded(s) => s.import(events).await,
            Self::Shared(s) => s.import(events).await,
        }
    }
}

/// `souk log copy`: every event of `from`, in position order, imported
/// into `to` exactly, `batch` events per transaction. Refuses a target that
/// holds any event; stops at the first failure (what was imported stays,
/// in whole batches, and a retry into the then non-empty target is refused:
/// start again from an empty one).
pub async fn copy_log(from: &str, to: &str, batch: usize) -> anyhow::Result<ExitCode> {
    let batch = batch.clamp(1, 10_000);
    let (from_name, to_name) = (shown(from), shown(to));
    let source = LogEnd::open(from, true)
        .await
        .with_context(|| format!("--from {from_name}"))?;
    let target = LogEnd::open(to, false)
        .await
        .with_context(|| format!("--to {to_name}"))?;
    let existing = target.log().last_position().await?;
    if existing > 0 {
        anyhow::bail!(
            "--to {to_name} already holds {existing} events; souk log copy only fills an empty log"
        );
    }
    let total = source.log().last_position().await?;
    eprintln!("copying {total} events from {from_name} to {to_name}");
    let started = std::time::Instant::now();
    let mut last_report = started;
    let mut copied: u64 = 0;
    let mut next: Position = 1;
    loop {
        let page = source.log().read_all(next, batch).await?;
        let Some(last) = page.last() else { break };
        next = last.position + 1;
        target.import(&page).await.with_context(|| {
            format!(
                "while importing positions {}..={}",
                page[0].position, last.position
            )
        })?;
        copied += page.len() as u64;
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = std::time::Instant::now();
            eprintln!(
                "  {copied} / {} events ({:.0} %)",
                total.max(copied),
                100.0 * copied as f64 / total.max(copied).max(1) as f64
            );
        }
    }
    let end = target.log().last_position().await?;
    anyhow::ensure!(
        end == next - 1,
        "the target ends at position {end}, the source at {}",
        next - 1
    );
    eprintln!(
        "copied {copied} events (positions 1..={end}) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// A log's name for messages (a URL without its password).
fn shown(spec: &str) -> String {
    if is_postgres_url(spec) {
        redact_url(spec)
    } else {
        spec.to_owned()
    }
}
