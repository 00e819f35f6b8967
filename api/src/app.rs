//! Startup you can test: [`Application::build`] opens the log and the read
//! models, starts the actors, the projections, the REST server and the
//! Socket.IO edge on their listeners (port 0 works) and returns the bound
//! addresses; [`Application::run_until_stopped`] serves until SIGINT/SIGTERM
//! (or [`StopHandle::stop`]) and then drains: REST requests in flight finish,
//! sockets are closed, the log's writer commits what it holds.
//!
//! [`spawn`] runs a whole application on its own thread with its own actix
//! System, for tests and tools.
//!
//! # The log: embedded or shared
//!
//! Without `--log-url` the log is the embedded one in the data directory.
//! With it, the log is PostgreSQL ([`souk_store::PostgresStore`]), shared by
//! every node given the same URL: each node still runs its own read models
//! (in its data directory, caught up from the shared log at start, then fed
//! by its subscription) and its own Socket.IO edge, so what any node writes
//! reaches every node's sockets through the log itself. Presence is then
//! cluster-wide too ([`crate::presence::cluster`]). A node that loses
//! PostgreSQL answers writes `503 unavailable`, keeps its sockets, says so in
//! `/healthz` and `/metrics`, and resumes by itself.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use anyhow::Context;
use serde_json::json;
use souk_actors::{ConversationRegistry, RegistryConfig};
use souk_projections::Projections;
use souk_store::{EventStore, PostgresConfig, PostgresStore, SqliteConfig, SqliteStore};

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::edge::{self, EdgeConfig, EdgeHandle};
use crate::limit::UserLimiter;
use crate::metrics::Metrics;
use crate::presence::cluster::{ClusterConfig, ClusterPresence};
use crate::presence::Presence;
use crate::state::AppState;
use crate::{demo, rest};

/// File names inside the data directory.
pub const EVENTS_DB: &str = "events.db";
pub const READ_MODELS_DB: &str = "readmodels.db";

/// Opens the embedded event log of a data directory.
pub fn open_store(data_dir: &std::path::Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("while creating {}", data_dir.display()))?;
    let path = data_dir.join(EVENTS_DB);
    SqliteStore::open(&path, SqliteConfig::default())
        .with_context(|| format!("while opening the event log {}", path.display()))
}

/// Opens the shared PostgreSQL log at `url`.
pub async fn open_postgres(url: &str) -> anyhow::Result<PostgresStore> {
    PostgresStore::connect(url, PostgresConfig::default())
        .await
        .with_context(|| {
            format!(
                "while opening the shared log {}",
                crate::config::redact_url(url)
            )
        })
}

/// Opens the log a command names: PostgreSQL when `log_url` is given, else
/// the embedded log of `data_dir`.
pub async fn open_log(
    data_dir: &std::path::Path,
    log_url: Option<&str>,
) -> anyhow::Result<Arc<dyn EventStore>> {
    Ok(match log_url {
        Some(url) => Arc::new(open_postgres(url).await?),
        None => Arc::new(open_store(data_dir)?),
    })
}

/// A built application, listening, not yet serving.
pub struct Application {
    node_id: String,
    http_addr: SocketAddr,
    socket_addr: SocketAddr,
    server: actix_web::dev::Server,
    edge: EdgeHandle,
    state: AppState,
    projector: tokio::task::JoinHandle<Result<(), souk_projections::ProjectionError>>,
    /// The webhook tasks, when `--webhook-url` is given.
    webhooks: Option<crate::webhooks::Webhooks>,
}

/// Stops a running application gracefully from anywhere.
#[derive(Clone)]
pub struct StopHandle(actix_web::dev::ServerHandle);

impl StopHandle {
    pub async fn stop(&self) {
        self.0.stop(true).await;
    }
}

impl Application {
    /// Must run inside an actix System (`#[actix_web::main]`, [`spawn`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        let store = open_log(&settings.data.data_dir, settings.log.log_url.as_deref()).await?;
        Self::build_with_store(settings, store).await
    }

    /// Builds over a given event log (tests wrap the real one to inject
    /// failures, or pass their own handle on a shared PostgreSQL log). With
    /// `--log-url` set in `settings`, presence is kept cluster-wide in that
    /// database; `store` should then be that database's log.
    pub async fn build_with_store(
        settings: Settings,
        store: Arc<dyn EventStore>,
    ) -> anyhow::Result<Self> {
        settings.validate()?;
        let node_id = settings.node_id();
        let data_dir = settings.data.data_dir.clone();
        let keys = TokenKeys::for_server(
            &data_dir,
            settings.secret.jwt_secret.as_deref(),
            settings.tokens.clone(),
        )
        .await?;

        let projections = Projections::open(&data_dir.join(READ_MODELS_DB))
            .context("while opening the read models")?;
        // The server listens at once: while the consumer checks, rebuilds
        // or catches up the read models, the routes that read them answer
        // 503 `unavailable` and /healthz tells how far it got.
        let projector = projections.start(store.clone());
        actix_web::rt::spawn(report_catching_up(projections.clone()));

        let registry = ConversationRegistry::start(
            store.clone(),
            RegistryConfig {
                shards: settings.shards.unwrap_or_else(num_cores),
                idle_timeout: settings.actor_idle_timeout(),
                memory_budget: settings.actor_memory_mb.saturating_mul(1 << 20),
                shared_log: settings.is_cluster(),
                ..RegistryConfig::default()
            },
        );
        let presence = Presence::default();
        if let Some(url) = &settings.log.log_url {
            let cluster = ClusterPresence::start(
                presence.clone(),
                ClusterConfig {
                    url: url.clone(),
                    node_id: node_id.clone(),
                    lease: settings.presence_lease,
                    heartbeat: settings.presence_heartbeat,
                },
            )
            .await?;
            tracing::info!(node = %cluster.node_id(), "joined the cluster's presence");
        }
        let state = AppState {
            store,
            registry,
            projections,
            keys,
            presence,
            metrics: Arc::new(Metrics {
                node_id: node_id.clone(),
                ..Metrics::default()
            }),
            user_limit: Arc::new(UserLimiter::new(settings.rest_rate_per_user)),
            typing_limit: Arc::new(UserLimiter::new(crate::limit::TYPING_PER_SECOND)),
        };

        let http_listener = TcpListener::bind(&settings.http_addr)
            .with_context(|| format!("while binding the HTTP address {}", settings.http_addr))?;
        let http_addr = http_listener.local_addr()?;
        let socket_listener = TcpListener::bind(&settings.socket_addr).with_context(|| {
            format!(
                "while binding the Socket.IO address {}",
                settings.socket_addr
            )
        })?;

        let edge = edge::start(
            state.clone(),
            socket_listener,
            EdgeConfig {
                cors_origins: settings.cors_origins.clone(),
                max_sockets_per_user: settings.max_sockets_per_user,
                ..EdgeConfig::default()
            },
        )?;
        let socket_addr = edge.local_addr();
        let webhooks =
            crate::webhooks::Webhooks::start(&settings.webhooks, &data_dir, &state).await?;

        if settings.demo {
            demo::seed(&state, &format!("http://{http_addr}"))
                .await
                .map_err(|e| anyhow::anyhow!("while seeding the demo: {e}"))?;
        }

        let server = http_server(&settings, &state, socket_addr, http_listener)?;
        Ok(Self {
            node_id,
            http_addr,
            socket_addr,
            server,
            edge,
            state,
            projector,
            webhooks,
        })
    }

    /// This node's name (`--node-id`, or the one made at start).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.socket_addr
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.server.handle())
    }

    /// Serves until stopped, then drains.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("while serving HTTP")?;
        tracing::info!("HTTP stopped; closing sockets");
        self.edge.shutdown();
        if let Some(cluster) = self.state.presence.cluster() {
            // This node's users go offline for the others now, not when
            // its lease runs out.
            cluster.leave().await;
        }
        if let Some(webhooks) = self.webhooks {
            webhooks.stop().await;
        }
        // Stops after the batch in hand; batches are atomic either way.
        self.state.projections.shutdown();
        match self.projector.await {
            Ok(Err(e)) => tracing::error!(error = %e, "the projections failed"),
            Err(e) if e.is_panic() => tracing::error!("the projections panicked"),
            _ => {}
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Logs how far the read models got, every few seconds while they are
/// being checked, rebuilt or caught up (once at the start of each).
async fn report_catching_up(projections: Projections) {
    const EVERY: Duration = Duration::from_secs(5);
    let mut reported = false;
    loop {
        let health = projections.health();
        match health.state {
            souk_projections::State::Checking
            | souk_projections::State::Rebuilding
            | souk_projections::State::CatchingUp => {
                tracing::info!(
                    state = health.state.as_str(),
                    position = health.position,
                    log_end = health.target,
                    "the read models are catching up with the log; their routes answer 503 until then"
                );
                reported = true;
            }
            souk_projections::State::Running if reported => {
                tracing::info!(
                    position = health.position,
                    "the read models caught up with the log"
                );
                reported = false;
            }
            souk_projections::State::Idle | souk_projections::State::Stopped if reported => break,
            _ => {}
        }
        actix_web::rt::time::sleep(EVERY).await;
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// `GET /api/config`: what the web app needs to know to connect.
#[utoipa::path(
    get,
    path = "/api/config",
    tag = "operations",
    operation_id = "web_config",
    summary = "The web app's settings",
    description = "What the bundled web app needs to connect (no token).",
    responses((status = 200, description = "The settings", body = crate::openapi::schemas::WebConfig)),
)]
pub(crate) async fn web_config(
    socket_addr: web::Data<SocketAddr>,
    public: web::Data<Option<String>>,
    demo_mode: web::Data<bool>,
) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "demo": **demo_mode,
        "socketUrl": public.as_ref().as_ref(),
        "socketPort": socket_addr.port(),
    }))
}

fn cors(origins: &[String]) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
        ])
        .max_age(3600);
    if origins.iter().any(|o| o == "*") {
        return base.allow_any_origin();
    }
    origins
        .iter()
        .fold(base, |cors, origin| cors.allowed_origin(origin))
}

/// What a path that is no file of the web app gets: the app's page routes
/// (`/chat`, `/vendor/...`, `/replay/...`, `/operator/...`) get the app
/// with 200, other page-like paths get it with 404 (a person sees the app,
/// which sends them home; a probe sees the truth), and what looks like an
/// asset (`.js`, `.css`, an image: a last segment with a dot) or asks with
/// another method than GET/HEAD gets the JSON 404.
async fn web_fallback(
    req: actix_web::HttpRequest,
    index: PathBuf,
) -> actix_web::Result<HttpResponse> {
    use actix_web::http::Method;
    let path = req.path();
    let last = path.rsplit('/').next().unwrap_or("");
    let page_like = !last.contains('.') && matches!(*req.method(), Method::GET | Method::HEAD);
    if !page_like {
        return Ok(rest::not_found(req).await);
    }
    let page_route = path == "/"
        || ["/chat", "/vendor/", "/replay/", "/operator/"]
            .iter()
            .any(|p| path == p.trim_end_matches('/') || path.starts_with(p));
    let mut response = actix_files::NamedFile::open_async(index)
        .await?
        .into_response(&req);
    if !page_route {
        *response.status_mut() = actix_web::http::StatusCode::NOT_FOUND;
    }
    Ok(response)
}

/// Counts requests and answers by status class for `/metrics`.
async fn count_requests(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        Metrics::inc(&m.http_requests);
        let status = res.status();
        if status.is_client_error() {
            Metrics::inc(&m.http_errors_4xx);
        } else if status.is_server_error() {
            Metrics::inc(&m.http_errors_5xx);
        }
    }
    Ok(res)
}

fn http_server(
    settings: &Settings,
    state: &AppState,
    socket_addr: SocketAddr,
    listener: TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let data = web::Data::new(state.clone());
    let socket_addr = web::Data::new(socket_addr);
    let public_socket = web::Data::new(settings.public_socket_url.clone());
    let demo_mode = web::Data::new(settings.demo);
    let web_dir: Option<PathBuf> = settings
        .web_dir
        .join("index.html")
        .is_file()
        .then(|| settings.web_dir.clone());
    if web_dir.is_none() {
        tracing::warn!(
            dir = %settings.web_dir.display(),
            "no built web app there (npm --prefix web run build); serving the API only"
        );
    }
    let origins = settings.cors_origins.clone();
    let demo = settings.demo;
    {
        let limiters = [state.user_limit.clone(), state.typing_limit.clone()];
        actix_web::rt::spawn(async move {
            let mut every = actix_web::rt::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                for limiter in &limiters {
                    limiter.sweep();
                }
            }
        });
    }
    let mut server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(data.clone())
            .app_data(socket_addr.clone())
            .app_data(public_socket.clone())
            .app_data(demo_mode.clone())
            .app_data(rest::query_config())
            .wrap(middleware::from_fn(count_requests))
            .wrap(cors(&origins))
            .configure(rest::configure)
            .service(rest::route(
                "/api/config",
                [(actix_web::http::Method::GET, web::get().to(web_config))],
            ));
        if demo {
            app = app.configure(demo::configure);
        }
        app = app.service(web::scope("/api").default_service(web::to(rest::not_found)));
        match &web_dir {
            Some(dir) => {
                let index = dir.join("index.html");
                app.service(
                    actix_files::Files::new("/", dir)
                        .index_file("index.html")
                        .default_handler(web::to(move |req: actix_web::HttpRequest| {
                            let index = index.clone();
                            async move { web_fallback(req, index).await }
                        })),
                )
            }
            None => app.default_service(web::to(rest::not_found)),
        }
    })
    .shutdown_timeout(10)
    .listen(listener)?;
    if let Some(workers) = settings.http_workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}

/// A whole application on its own thread (tests, tools).
pub struct Spawned {
    pub node_id: String,
    pub http_addr: SocketAddr,
    pub socket_addr: SocketAddr,
    pub state: AppState,
    stop: StopHandle,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl Spawned {
    /// Stops gracefully and waits for the thread to end.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(thread) = self.thread.take() {
            let stop = self.stop.clone();
            let _ = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(stop.stop());
            })
            .join();
            match thread.join() {
                Ok(Err(e)) => tracing::error!(error = %e, "the application failed"),
                Err(_) => tracing::error!("the application thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Builds and runs an application on a new thread; returns once it listens.
pub fn spawn(settings: Settings) -> anyhow::Result<Spawned> {
    spawn_inner(settings, None)
}

/// [`spawn`] over a given event log.
pub fn spawn_with_store(settings: Settings, store: Arc<dyn EventStore>) -> anyhow::Result<Spawned> {
    spawn_inner(settings, Some(store))
}

fn spawn_inner(settings: Settings, store: Option<Arc<dyn EventStore>>) -> anyhow::Result<Spawned> {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("souk-app".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let built = match store {
                    Some(store) => Application::build_with_store(settings, store).await,
                    None => Application::build(settings).await,
                };
                let app = match built {
                    Ok(app) => app,
                    Err(e) => {
                        let msg = format!("{e:#}");
                        let _ = tx.send(Err(anyhow::anyhow!(msg.clone())));
                        return Err(anyhow::anyhow!(msg));
                    }
                };
                let _ = tx.send(Ok((
                    app.node_id().to_owned(),
                    app.http_addr(),
                    app.socket_addr(),
                    app.state().clone(),
                    app.stop_handle(),
                )));
                app.run_until_stopped().await
            })
        })?;
    let (node_id, http_addr, socket_addr, state, stop) = rx
        .recv()
        .context("the application thread ended before it listened")??;
    Ok(Spawned {
        node_id,
        http_addr,
        socket_addr,
        state,
        stop,
        thread: Some(thread),
    })
}
