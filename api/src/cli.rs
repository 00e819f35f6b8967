//! The commands of the `souk` binary.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use souk_domain::{ConversationId, ConversationState, Role, Timestamp, UserId};
use souk_store::{Direction, EventStore, Position, ReadFrom, RecordedEvent};

use crate::app::{open_store, Application, READ_MODELS_DB};
use crate::auth::{parse_ttl, TokenKeys};
use crate::config::{DataDirArg, SecretArg, Settings};

#[derive(Debug, Parser)]
#[command(name = "souk", version, about = "Event-sourced chat for marketplaces")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (REST, Socket.IO, the web app).
    Serve(Settings),
    /// Print a token signed with the data directory's secret.
    Token {
        #[command(flatten)]
        data: DataDirArg,
        #[command(flatten)]
        secret: SecretArg,
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
        /// The conversation id.
        id: String,
        /// A global position (events up to and including it) or an RFC 3339
        /// time (events recorded at or before it). Default: now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Rebuild or verify the read models.
    Projections {
        #[command(flatten)]
        data: DataDirArg,
        #[command(subcommand)]
        action: ProjectionsAction,
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
        Command::Serve(settings) => serve(settings),
        Command::Token {
            data,
            secret,
            user,
            role,
            name,
            ttl,
        } => {
            let keys = TokenKeys::load(&data.data_dir, secret.jwt_secret.as_deref())?;
            let user = UserId::parse(&user).map_err(|e| anyhow::anyhow!("--user: {}", e.reason))?;
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!("--role: {}", e.reason))?;
            let ttl = parse_ttl(&ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
            println!("{}", keys.mint(&user, role, name.as_deref(), ttl)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Events {
            data,
            conversation,
            from,
            follow,
        } => block_on(events(data, conversation, from, follow)),
        Command::Replay { data, id, at } => block_on(replay(data, id, at)),
        Command::Projections { data, action } => block_on(projections(data, action)),
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
        let app = Application::build(settings).await?;
        let (http, socket) = (app.http_addr(), app.socket_addr());
        // One machine-readable line for scripts and tests, then the human one.
        println!(
            "{}",
            json!({ "event": "listening", "http": http.to_string(), "socket": socket.to_string() })
        );
        let _ = std::io::stdout().flush();
        tracing::info!(
            "souk is listening: open http://{http}/ (REST and web app), Socket.IO at {socket}{}",
            if demo { " — demo mode" } else { "" }
        );
        app.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// One event as a line of `souk events`.
pub fn event_json(e: &RecordedEvent) -> Value {
    json!({
        "position": e.position,
        "stream": e.stream,
        "revision": e.revision,
        "type": e.event_type,
        "version": e.version,
        "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
        "recordedAt": e.recorded_at,
    })
}

async fn events(
    data: DataDirArg,
    conversation: Option<String>,
    from: Position,
    follow: bool,
) -> anyhow::Result<ExitCode> {
    let store = open_store(&data.data_dir)?;
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
                    writeln!(out, "{}", event_json(e))?;
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

/// The state of a conversation as JSON, for `souk replay`.
pub fn state_json(
    id: ConversationId,
    state: &ConversationState,
    last: Option<&RecordedEvent>,
) -> Value {
    let side = |role: Role| {
        json!({
            "readUpToSeq": state.read_up_to[role.index()],
            "unread": state.unread(role),
            "typing": state.typing[role.index()],
            "lastReadAt": state.last_read_at(role),
        })
    };
    let messages: Vec<Value> = state
        .messages
        .iter()
        .map(|m| {
            json!({
                "seq": m.seq,
                "id": m.message_id,
                "sender": m.sender,
                "kind": m.kind,
                "text": m.text,
                "product": m.product,
                "clientMessageId": m.client_message_id,
                "sentAt": m.at,
                "readAt": state.read_at(m.seq),
            })
        })
        .collect();
    json!({
        "conversationId": id,
        "started": state.info.is_some(),
        "customer": state.info.as_ref().map(|i| &i.customer),
        "vendor": state.info.as_ref().map(|i| &i.vendor),
        "product": state.info.as_ref().and_then(|i| i.product.as_ref()),
        "createdAt": state.info.as_ref().map(|i| i.created_at),
        "updatedAt": state.info.as_ref().map(|i| i.updated_at),
        "eventsApplied": state.events_applied,
        "lastPosition": last.map(|e| e.position),
        "lastRecordedAt": last.map(|e| e.recorded_at),
        "sides": { "customer": side(Role::Customer), "vendor": side(Role::Vendor) },
        "messages": messages,
    })
}

async fn replay(data: DataDirArg, id: String, at: Option<String>) -> anyhow::Result<ExitCode> {
    let id = ConversationId::parse(&id).map_err(|e| anyhow::anyhow!("id: {}", e.reason))?;
    let point = at.as_deref().map(parse_point).transpose()?;
    let store = open_store(&data.data_dir)?;
    let mut state = ConversationState::default();
    let mut last: Option<RecordedEvent> = None;
    let mut revision = 0;
    'pages: loop {
        let page = store
            .read_stream(
                &id.stream_name(),
                ReadFrom::Revision(revision),
                Direction::Forwards,
                1000,
            )
            .await?;
        let Some(tail) = page.last() else { break };
        revision = tail.revision + 1;
        for e in page {
            let included = match &point {
                None => true,
                Some(ReplayPoint::Position(p)) => e.position <= *p,
                Some(ReplayPoint::Time(t)) => e.recorded_at <= *t,
            };
            if !included {
                break 'pages;
            }
            let event = e
                .decode()
                .with_context(|| format!("while decoding event at position {}", e.position))?;
            state = souk_domain::evolve(state, &event);
            last = Some(e);
        }
    }
    if state.events_applied == 0 && at.is_none() {
        anyhow::bail!("conversation {id} has no events");
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&state_json(id, &state, last.as_ref()))?
    );
    Ok(ExitCode::SUCCESS)
}

async fn projections(data: DataDirArg, action: ProjectionsAction) -> anyhow::Result<ExitCode> {
    let store: Arc<dyn EventStore> = Arc::new(open_store(&data.data_dir)?);
    let path = data.data_dir.join(READ_MODELS_DB);
    match action {
        ProjectionsAction::Rebuild => {
            let position = souk_projections::rebuild(&path, store).await?;
            eprintln!("rebuilt the read models from the log up to position {position}");
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
