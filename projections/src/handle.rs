//! [`Projections`], the handle to the read models: opening the file, the
//! state shared by the consumer, the write-behind, the notifications and the
//! queries ([`Inner`]), starting and stopping the consumer, and the
//! positions (committed and notified) with their waits.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use souk_store::{EventStore, Position};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::ProjectionError;
use crate::fault::{FaultSwitch, WriteFault};
use crate::file;
use crate::health::{Health, Status};
use crate::notifications::RECENT_BYTES;
use crate::read::ReadPool;
use crate::recent::Recent;
use crate::schema;
use crate::views::Notification;

/// The handle to the read models: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Projections {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) config: Config,
    pub(crate) readers: ReadPool,
    /// The last position committed to the read models, published after
    /// each commit.
    pub(crate) position: watch::Sender<Position>,
    /// The last position whose notification was published.
    pub(crate) live: watch::Sender<Position>,
    /// The highest position someone waits to read from the read models.
    pub(crate) wanted: AtomicU64,
    /// Wakes the write-behind task when `wanted` rose.
    pub(crate) flush: Notify,
    pub(crate) notifications: broadcast::Sender<Arc<Notification>>,
    /// The last [`Config::recent_notifications`] published (within
    /// [`RECENT_BYTES`]), for a receiver that
    /// lagged. A std mutex: held once per batch to push, and by a lagging
    /// receiver to copy.
    pub(crate) recent: Mutex<Recent>,
    /// Set once by [`Projections::shutdown`]; the consumer watches it.
    pub(crate) shutdown: watch::Sender<bool>,
    /// Whether a consumer runs: there is one writer per file.
    pub(crate) running: AtomicBool,
    /// What the consumer is doing ([`Projections::health`]).
    pub(crate) status: watch::Sender<Status>,
    /// The log the consumer follows, once started: live feeds read the
    /// events they missed from it (see [`crate::feed`]).
    pub(crate) log: OnceLock<Arc<dyn EventStore>>,
    /// Failures injected into the consumer's commits (tests).
    pub(crate) faults: Arc<FaultSwitch>,
}

impl Projections {
    /// Opens (creating if needed) the read models at `path`. A file that
    /// SQLite cannot open, or of another schema, is set aside (renamed with
    /// the time, see `file`) and a new one made; the consumer then rebuilds
    /// it from the log. (The thorough check of every page is the consumer's
    /// first step: it takes time, and the server listens meanwhile.)
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        Self::open_with(path, Config::default())
    }

    /// [`Projections::open`] with the consumer's pacing.
    pub fn open_with(path: &Path, config: Config) -> Result<Self, ProjectionError> {
        match file::check(path, false)? {
            file::Soundness::Missing | file::Soundness::Sound => {}
            file::Soundness::Damaged(why) => {
                let aside = file::set_aside(path, "damaged")?;
                tracing::error!(%why, aside = %aside.display(), "the read models are damaged; set aside, rebuilding them from the log");
            }
            file::Soundness::OtherSchema(found) => {
                let aside = file::set_aside(path, &format!("schema-{found}"))?;
                tracing::warn!(found, expected = schema::SCHEMA_VERSION, aside = %aside.display(), "the read models have another schema; set aside, rebuilding them from the log");
            }
        }
        let open = || -> Result<Position, ProjectionError> {
            let conn = schema::open_writer(path)?;
            schema::checkpoint(&conn)
        };
        let position = match open() {
            Err(e) if e.is_damage() => {
                let aside = file::set_aside(path, "damaged")?;
                tracing::error!(why = %e, aside = %aside.display(), "the read models are damaged; set aside, rebuilding them from the log");
                open()?
            }
            opened => opened?,
        };
        let (notifications, _) = broadcast::channel(config.notification_capacity.max(1));
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                config,
                readers: ReadPool {
                    path: path.to_owned(),
                    idle: Mutex::new(Vec::new()),
                    file: RwLock::new(()),
                    damaged: watch::Sender::new(false),
                },
                position: watch::Sender::new(position),
                live: watch::Sender::new(position),
                wanted: AtomicU64::new(0),
                flush: Notify::new(),
                notifications,
                recent: Mutex::new(Recent::new(
                    config.recent_notifications,
                    RECENT_BYTES,
                    position,
                )),
                shutdown: watch::Sender::new(false),
                running: AtomicBool::new(false),
                status: watch::Sender::new(Status::default()),
                log: OnceLock::new(),
                faults: Arc::default(),
            }),
        })
    }

    /// What the consumer is doing and how far the read models got.
    pub fn health(&self) -> Health {
        Health::of(&self.inner.status.borrow(), self.position())
    }

    /// Makes every commit of the consumer fail with `fault` until called
    /// again with `None` (tests of how it survives I/O errors; see
    /// [`WriteFault`]).
    pub fn inject_write_fault(&self, fault: Option<WriteFault>) {
        self.inner.faults.set(fault);
    }

    /// The file this handle reads and writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Spawns the consumer on the current tokio runtime: subscribe to the log
    /// after the checkpoint, publish the position and one notification per
    /// event as they arrive (figures computed in memory), and commit them to
    /// the read models behind (read models and checkpoint in one
    /// transaction).
    ///
    /// It heals itself (see `supervise`): a failure of the read models (a
    /// full disk, an I/O error, a panic) ends the current run, and after a
    /// growing pause a new run resumes from the checkpoint, without losing or
    /// notifying twice any event; a damaged file is set aside and rebuilt
    /// from the log. [`Projections::health`] tells what it does meanwhile.
    /// It ends with `Ok` when [`Projections::shutdown`] is called (after
    /// what was handed to the read models is committed) or the subscription
    /// ends, and with `Err` only where retrying cannot help: the store is
    /// closed or an event cannot be decoded (the events before it are
    /// committed). A second consumer on the same handle is refused with
    /// [`ProjectionError::AlreadyStarted`].
    pub fn start(&self, store: Arc<dyn EventStore>) -> JoinHandle<Result<(), ProjectionError>> {
        // The log the feeds rebuild missed notifications from.
        let _ = self.inner.log.set(Arc::clone(&store));
        let this = self.clone();
        tokio::spawn(async move {
            if this.inner.running.swap(true, Ordering::SeqCst) {
                return Err(ProjectionError::AlreadyStarted);
            }
            let result = this.supervise(store).await;
            this.inner.running.store(false, Ordering::SeqCst);
            if let Err(e) = &result {
                tracing::error!(error = %e, "projection consumer stopped");
            }
            result
        })
    }

    /// Asks the consumer to stop after the batch in hand. Final for this
    /// handle and its clones.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// The position of the last event committed to the read models (0
    /// before any).
    pub fn position(&self) -> Position {
        *self.inner.position.borrow()
    }

    /// The position of the last event whose notification was published (at
    /// or after [`Projections::position`]).
    pub fn live_position(&self) -> Position {
        *self.inner.live.borrow()
    }

    /// Waits until the read models include `position` (read-your-writes),
    /// asking the write-behind to commit at once; `false` after `timeout`.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> bool {
        let mut rx = self.inner.position.subscribe();
        if *rx.borrow_and_update() >= position {
            return true;
        }
        self.want(position);
        let reached = tokio::time::timeout(timeout, async {
            rx.wait_for(|p| *p >= position).await.is_ok()
        })
        .await;
        matches!(reached, Ok(true))
    }

    /// Waits until the notification of `position` was published (its
    /// figures computed; the read models may commit it later, and every
    /// query waits for that); `false` after `timeout`.
    pub async fn wait_live(&self, position: Position, timeout: Duration) -> bool {
        let mut rx = self.inner.live.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            rx.wait_for(|p| *p >= position).await.is_ok()
        })
        .await;
        matches!(reached, Ok(true))
    }

    /// Asks the write-behind to commit until `position` without waiting.
    pub(crate) fn want(&self, position: Position) {
        self.inner.wanted.fetch_max(position, Ordering::SeqCst);
        self.inner.flush.notify_one();
    }
}

/// The handle is shared by actix arbiters and the Socket.IO runtime.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Projections>();
};
