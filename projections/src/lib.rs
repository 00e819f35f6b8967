//! The read side of souk: every read model behind the REST routes
//! (conversation lists, history, unread counts, search, vendor analytics),
//! maintained from the event log in a SQLite database of its own
//! (`<data-dir>/readmodels.db`, WAL), and the notifications that the
//! Socket.IO edge relays.
//!
//! # Design
//!
//! One consumer task ([`Projections::start`]) subscribes to the whole log
//! after the read models' checkpoint. For whatever the subscription has
//! ready (up to [`BATCH_CAP`] events) it computes each event's figures in
//! memory (`live`: unread counts per conversation and per inbox, the
//! message), publishes the position it reached (a `watch`) and one
//! [`Notification`] per event (a `broadcast`) at once, and hands the batch to
//! the **write-behind** task. That task applies what it was handed in
//! **one** SQLite transaction that also moves the checkpoint, at the latest
//! [`WRITE_BEHIND`] after the first event arrived, sooner when
//! [`BATCH_CAP`] events wait or when someone waits to read them; after each
//! commit it publishes the committed position (a second `watch`, for
//! read-your-writes: [`Projections::wait_for`]). When the read models fall
//! [`MAX_BEHIND`] events behind, the consumer waits for them (back-pressure:
//! memory stays bounded when SQLite is slower than the log).
//!
//! So the relay hears of an event without waiting for any SQLite commit (or
//! its WAL checkpoint), and the read models commit in large groups under
//! load. Reads stay consistent with what was published: every query first
//! waits (asking for an immediate commit) until the read models hold every
//! event already notified, so a client that heard of a message finds it in
//! its history.
//!
//! Applying is a pure function of the events: no clock, no randomness, no
//! batch-dependent state. So [`rebuild`] (replaying the log into empty
//! tables) gives exactly the rows that were maintained live, and [`verify`]
//! proves it by rebuilding into a scratch file and comparing every row.
//!
//! Queries run on blocking threads over a small pool of read connections;
//! WAL lets them read a consistent snapshot while the write-behind writes.
//!
//! # Why the checkpoint shares the transaction
//!
//! If the read models and the checkpoint were committed separately, a crash
//! between the two would either re-apply events (counting a message twice in
//! an unread total) or skip them (losing it). In one transaction they move
//! together: after any crash the file holds the effect of exactly the events
//! up to its checkpoint, and the consumer resumes from there. As a second
//! guard, a batch skips events at or before the stored checkpoint.
//!
//! # Tables
//!
//! - `checkpoint (id = 1, position)`: the last applied log position.
//! - `conversations`: one row per conversation: both participants' ids,
//!   latest names and last activity, the product card (JSON, plus its id and
//!   name), `created_at`, `updated_at` (last message or creation), `last_seq`,
//!   each side's read marker (`*_read_seq`) and unread count (`*_unread`),
//!   and the first customer message / first vendor response after it (for
//!   analytics). Indexed by `(customer_id, updated_at, id)` and
//!   `(vendor_id, updated_at, id)` for the lists.
//! - `messages`: one row per message, keyed `(conversation_id, seq)`, unique
//!   `id`, with the conversation's vendor (indexed with `sent_at` for
//!   analytics) and `read_at`, the time the recipient's marker first covered
//!   it.
//! - `inboxes (user_id, role, unread)`: each user's unread total per side: a
//!   user id acting as customer and as vendor has two separate inboxes.
//! - `search_docs` and the FTS5 index `search_index`: see [`search`].
//!
//! Typing events change no table (they are relayed with the current figures
//! and move the checkpoint). The file carries a schema version
//! (`PRAGMA user_version`).
//!
//! # Disposable and self-healing
//!
//! The read models follow from the log, so nothing in them is precious: a
//! file that is missing, of another schema version, or damaged (SQLite's
//! `quick_check` at the first run, or "malformed"/"not a database" at any
//! write or query) is set aside (renamed with the time, never deleted) and
//! rebuilt from the log, in bulk when it is far behind. The consumer
//! survives every failure that retrying can cure (a full disk, an I/O
//! error, the log away, a panic): it runs again after a growing pause and
//! resumes from its checkpoint (see `supervise`). Meanwhile
//! [`Projections::health`] says what it does, and queries wait briefly and
//! then refuse ([`ProjectionError::CatchingUp`], [`ProjectionError::Behind`])
//! rather than answer from read models that miss what the log holds.
//!
//! Unread for a side is the number of messages from the other side with a
//! `seq` above that side's read marker; it is kept per conversation (a read
//! recounts it from `messages`) and the inbox total moves by exactly the
//! same deltas in the same transaction, so neither can drift.
//!
//! # Layout
//!
//! - this file: [`Projections`], the handle (consumer, write-behind,
//!   positions, notifications, queries).
//! - `live`: the figures of notifications, in memory.
//! - [`views`], the wire objects and query parameters.
//! - `schema`: the tables, connections, the checkpoint.
//! - `apply`: events to rows, one transaction per batch.
//! - `query`: the list, conversation, history, message and unread queries.
//! - [`search`]: what search matches and how (FTS5 trigram).
//! - [`analytics`]: vendor analytics and their definitions.
//! - `rebuild`: the writer shared by the consumer, the bulk build of
//!   [`rebuild`] and [`verify`].
//! - `supervise`: the consumer's keeper (runs, retries, rebuilds).
//! - [`health`]: what the consumer does, for `/healthz` and `/metrics`.
//! - `file`: the file as a whole (integrity, set aside, put in place).
//! - `fault`: failures injected into the consumer's commits, for tests.
//! - [`error`], with [`ProjectionError`].
#![forbid(unsafe_code)]

pub mod analytics;
mod apply;
pub mod error;
mod fault;
mod file;
pub mod health;
mod live;
mod query;
mod rebuild;
mod recent;
mod schema;
pub mod search;
mod supervise;
pub mod views;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rusqlite::Connection;
use souk_domain::{ConversationId, MessageId, Role, Timestamp, UserId};
use souk_store::{EventStore, Position, RecordedEvent, StoreError};
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tokio::task::JoinHandle;

pub use error::ProjectionError;
pub use fault::WriteFault;
pub use health::{Health, State};
pub use rebuild::{rebuild, rebuild_with_progress, verify, Difference, Progress, VerifyReport};
pub use views::{
    ConversationPage, ConversationView, DayFigures, HistoryQuery, HourFigures, ListQuery,
    MessagePage, MessageView, Notification, ParticipantView, Percentiles, TopProduct,
    UnreadSummary, VendorAnalytics,
};

use crate::apply::Decoded;
use crate::fault::FaultSwitch;
use crate::health::Status;
use crate::live::LiveFigures;
use crate::rebuild::Writer;
use crate::recent::Recent;

/// The file name of the read models in the data directory.
pub const FILE_NAME: &str = "readmodels.db";
/// The most events applied in one transaction.
pub const BATCH_CAP: usize = 512;
/// The longest an event waits in memory before the read models commit it
/// (unless someone reads: then at once).
pub const WRITE_BEHIND: Duration = Duration::from_millis(50);
/// The most events handed to the write-behind and not yet committed before
/// the consumer waits for the read models (back-pressure).
pub const MAX_BEHIND: Position = 4 * BATCH_CAP as Position;
/// The longest a query waits for the read models to commit what was
/// already notified before it reads anyway.
const READ_SETTLE: Duration = Duration::from_secs(5);
/// How many notifications a slow receiver may fall behind by before it gets
/// `RecvError::Lagged` (and should resynchronise from the queries).
pub const NOTIFICATION_CAPACITY: usize = 4096;
/// Notifications kept after they were published, for a receiver that
/// lagged (see [`Projections::published_between`]).
pub const RECENT_NOTIFICATIONS: usize = 4 * NOTIFICATION_CAPACITY;
/// And at most about this many bytes of them: 16,384 messages of the longest
/// text allowed would hold about 130 MiB.
pub const RECENT_BYTES: usize = 16 << 20;
/// Notifications the slowest receiver may have unread before the consumer
/// waits for it (see `Projections::pace`).
const PACE_ABOVE: usize = NOTIFICATION_CAPACITY / 2;
/// How long the consumer waits for a slow receiver per batch.
const PACE_PATIENCE: Duration = Duration::from_secs(2);
/// How often it looks while waiting.
const PACE_POLL: Duration = Duration::from_millis(1);
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;
/// Waits before resubscribing after a failed subscription, and before
/// running the consumer again after it failed (doubling up to the most).
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a query waits for the read models to finish catching up before
/// it is refused ([`ProjectionError::CatchingUp`]): long enough for the few
/// events a restart finds, short enough that a client hears at once that a
/// long catch-up is under way.
const CATCH_UP_PATIENCE: Duration = Duration::from_millis(500);
/// From how many events behind an empty file (missing, damaged, of another
/// schema, new) is built in bulk instead of through the live path.
const BULK_ABOVE: Position = 10_000;

/// How the consumer paces its retries and when it rebuilds in bulk; the
/// defaults suit a server, tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The first pause after a failure; doubled after each failure in a row.
    pub retry_first: Duration,
    /// The longest pause.
    pub retry_max: Duration,
    /// Read models that are empty and this many events or more behind the
    /// log are built in bulk into a new file (no notification is published
    /// for those events: they are history, nobody waits on them), fewer
    /// through the live path (notified).
    pub bulk_above: Position,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retry_first: RETRY_FIRST,
            retry_max: RETRY_MAX,
            bulk_above: BULK_ABOVE,
        }
    }
}

/// The handle to the read models: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Projections {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    config: Config,
    readers: ReadPool,
    /// The last position committed to the read models, published after
    /// each commit.
    position: watch::Sender<Position>,
    /// The last position whose notification was published.
    live: watch::Sender<Position>,
    /// The highest position someone waits to read from the read models.
    wanted: AtomicU64,
    /// Wakes the write-behind task when `wanted` rose.
    flush: Notify,
    notifications: broadcast::Sender<Arc<Notification>>,
    /// The last [`RECENT_NOTIFICATIONS`] published (within
    /// [`RECENT_BYTES`]), for a receiver that
    /// lagged. A std mutex: held once per batch to push, and by a lagging
    /// receiver to copy.
    recent: Mutex<Recent>,
    /// Set once by [`Projections::shutdown`]; the consumer watches it.
    shutdown: watch::Sender<bool>,
    /// Whether a consumer runs: there is one writer per file.
    running: AtomicBool,
    /// What the consumer is doing ([`Projections::health`]).
    status: watch::Sender<Status>,
    /// Failures injected into the consumer's commits (tests).
    faults: Arc<FaultSwitch>,
}

/// Idle read connections. A std mutex: it is held only to push or pop.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Held shared by every query while it uses a connection, and
    /// exclusively while the file is set aside or replaced: a connection
    /// to a file renamed away would read the old one, and the last one to
    /// close would remove the WAL of the new one by name.
    file: RwLock<()>,
    /// Set by a query that found the file damaged; the consumer then sets
    /// it aside and rebuilds it (see `supervise`).
    damaged: watch::Sender<bool>,
}

impl ReadPool {
    fn run<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, ProjectionError>,
    ) -> Result<R, ProjectionError> {
        let _file = self.file.read().unwrap_or_else(|e| e.into_inner());
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let result = match idle {
            Some(conn) => Ok(conn),
            None => schema::open_reader(&self.path),
        }
        .and_then(|mut conn| {
            let result = f(&mut conn);
            // A connection that saw a database error is not trusted again.
            if !matches!(result, Err(ProjectionError::Database(_))) {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < MAX_IDLE_READERS {
                    idle.push(conn);
                }
            }
            result
        });
        if let Err(e) = &result {
            if e.is_damage() {
                tracing::error!(error = %e, "a query found the read models damaged");
                self.damaged.send_replace(true);
            }
        }
        result
    }

    /// Keeps every query away from the file (waiting for those running)
    /// and closes the idle connections, until the guard is dropped.
    fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        let guard = self.file.write().unwrap_or_else(|e| e.into_inner());
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        guard
    }
}

/// Resolves once `shutdown` is set (never if its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            futures::future::pending::<()>().await;
        }
    }
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
        let (notifications, _) = broadcast::channel(NOTIFICATION_CAPACITY);
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
                recent: Mutex::new(Recent::new(RECENT_NOTIFICATIONS, RECENT_BYTES, position)),
                shutdown: watch::Sender::new(false),
                running: AtomicBool::new(false),
                status: watch::Sender::new(Status::default()),
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

    /// Notifications of every event, from now on, in log order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.inner.notifications.subscribe()
    }

    /// The notifications published for the events after `after` and before
    /// `before`, exactly as they were published, in log order; `None` when
    /// some of them are no longer kept (only the last
    /// [`RECENT_NOTIFICATIONS`] are, within [`RECENT_BYTES`]). For a
    /// receiver of [`Self::subscribe`] that lagged: far cheaper than
    /// rebuilding the missed notifications from the log and the queries,
    /// and with the figures as they were.
    pub fn published_between(
        &self,
        after: Position,
        before: Position,
    ) -> Option<Vec<Arc<Notification>>> {
        self.inner
            .recent
            .lock()
            .expect("recent notifications lock poisoned")
            .between(after, before)
    }

    /// Asks the write-behind to commit until `position` without waiting.
    fn want(&self, position: Position) {
        self.inner.wanted.fetch_max(position, Ordering::SeqCst);
        self.inner.flush.notify_one();
    }

    /// One run of the consumer over `writer` (see [`Projections::start`]):
    /// ends with `Ok` on shutdown or when the subscription ends, with `Err`
    /// when the read models or the log fail for good in this run, or when
    /// a query found the file damaged.
    async fn consume(
        &self,
        store: Arc<dyn EventStore>,
        writer: Writer,
    ) -> Result<(), ProjectionError> {
        let mut handed = writer.position();
        let (to_writer, batches) = mpsc::unbounded_channel();
        let mut behind = Behind(Some(tokio::spawn(write_behind(
            self.inner.clone(),
            writer,
            batches,
        ))));
        let mut figures = LiveFigures::default();
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut damaged = self.inner.readers.damaged.subscribe();
        let mut retry = self.inner.config.retry_first;
        let outcome = 'run: loop {
            let mut subscription = store.subscribe_all(handed);
            let failure = loop {
                let first = tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => break 'run Ok(()),
                    ended = behind.ended() => return Err(ended),
                    _ = damaged.wait_for(|d| *d) => break 'run Err(ProjectionError::Corrupt(
                        "a query found the read-model file damaged".into(),
                    )),
                    item = subscription.next() => item,
                };
                let mut batch: Vec<RecordedEvent> = Vec::new();
                let mut failure = None;
                let mut ended = false;
                match first {
                    None => ended = true,
                    Some(Err(e)) => failure = Some(e),
                    Some(Ok(event)) => batch.push(event),
                }
                // Everything else that is ready now joins the batch.
                while failure.is_none() && !ended && batch.len() < BATCH_CAP {
                    match subscription.next().now_or_never() {
                        Some(Some(Ok(event))) => batch.push(event),
                        Some(Some(Err(e))) => failure = Some(e),
                        Some(None) => ended = true,
                        None => break,
                    }
                }
                if !batch.is_empty() {
                    let (decoded, undecodable) = apply::decode_all(&batch);
                    let published = self
                        .publish(decoded, &mut figures, &mut handed, &to_writer, &mut behind)
                        .await;
                    if let Err(e) = published {
                        if behind.0.is_none() {
                            return Err(e);
                        }
                        break 'run Err(e);
                    }
                    if let Some(e) = undecodable {
                        break 'run Err(e);
                    }
                    retry = self.inner.config.retry_first;
                }
                if ended {
                    break 'run Ok(());
                }
                if let Some(e) = failure {
                    break e;
                }
            };
            if matches!(failure, StoreError::Closed) {
                break 'run Err(failure.into());
            }
            tracing::warn!(error = %failure, ?retry, "log subscription failed; resubscribing");
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break 'run Ok(()),
                ended = behind.ended() => return Err(ended),
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(self.inner.config.retry_max);
        };
        // The write-behind commits what it was handed, then ends. The run's
        // own failure, if any, is what the supervisor must hear of.
        drop(to_writer);
        let finished = behind.finish().await;
        outcome.and(finished)
    }

    /// Computes the figures of a decoded batch, publishes its position and
    /// notifications, and hands it to the write-behind.
    async fn publish(
        &self,
        decoded: Vec<Decoded>,
        figures: &mut LiveFigures,
        handed: &mut Position,
        to_writer: &mpsc::UnboundedSender<Vec<Decoded>>,
        behind: &mut Behind,
    ) -> Result<(), ProjectionError> {
        // A subscription that repeats events already handed over (it should
        // not) counts nothing twice.
        let mut decoded = decoded;
        decoded.retain(|d| d.position > *handed);
        // Events notified by an earlier run that failed before the read
        // models committed them: committed now, not notified again. They
        // all come before any other of this run, so the figures (empty at
        // the start of a run) are loaded after the read models hold them.
        let notified = self.live_position();
        let split = decoded.partition_point(|d| d.position <= notified);
        if split > 0 {
            let rest = decoded.split_off(split);
            if handed.saturating_sub(self.position()) >= MAX_BEHIND {
                self.committed(*handed, behind).await?;
            }
            *handed = live::last_position(&decoded, *handed);
            to_writer.send(decoded).map_err(|_| {
                ProjectionError::Task("the read models' write-behind stopped".into())
            })?;
            decoded = rest;
        }
        if decoded.is_empty() {
            return Ok(());
        }
        if handed.saturating_sub(self.position()) >= MAX_BEHIND {
            // Back-pressure: the read models fall behind; memory must not
            // grow without bound while they catch up.
            self.committed(*handed, behind).await?;
        }
        let mut missing = figures.missing(&decoded);
        if !missing.is_empty() {
            // What is loaded must be the state before this batch: the read
            // models first commit everything handed to them.
            self.committed(*handed, behind).await?;
            if figures.is_full() {
                figures.clear();
                missing = figures.missing(&decoded);
            }
            let inner = self.inner.clone();
            let loaded =
                tokio::task::spawn_blocking(move || inner.readers.run(|c| live::load(c, &missing)))
                    .await??;
            figures.insert(loaded);
        }
        let notifications: Vec<Arc<Notification>> = decoded
            .iter()
            .filter_map(|d| figures.apply(d))
            .map(Arc::new)
            .collect();
        *handed = live::last_position(&decoded, *handed);
        to_writer
            .send(decoded)
            .map_err(|_| ProjectionError::Task("the read models' write-behind stopped".into()))?;
        {
            // Kept before they are sent: a receiver that finds it lagged
            // when it receives the next one finds every missed one here.
            let mut recent = self
                .inner
                .recent
                .lock()
                .expect("recent notifications lock poisoned");
            for n in &notifications {
                recent.push(n.clone());
            }
        }
        publish_max(&self.inner.live, *handed);
        for n in notifications {
            // No receiver is not an error: nobody is listening yet.
            let _ = self.inner.notifications.send(n);
        }
        self.pace().await;
        Ok(())
    }

    /// Back-pressure from the receivers of notifications (the relay): when
    /// the slowest one has more than [`PACE_ABOVE`] to read, wait (up to
    /// [`PACE_PATIENCE`]) until it is below again. Without it, a burst
    /// beyond what the relay can emit overflows the channel, and the relay
    /// must then recover the missed events from the log, which is far
    /// slower than keeping up. A receiver that reads nothing for that long
    /// is left behind (it gets `Lagged`).
    async fn pace(&self) {
        let notifications = &self.inner.notifications;
        if notifications.len() <= PACE_ABOVE {
            return;
        }
        let deadline = tokio::time::Instant::now() + PACE_PATIENCE;
        while notifications.len() > PACE_ABOVE && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(PACE_POLL).await;
        }
    }

    /// Waits until the read models committed `position`, asking for it at
    /// once; fails if the write-behind ended.
    async fn committed(
        &self,
        position: Position,
        behind: &mut Behind,
    ) -> Result<(), ProjectionError> {
        self.want(position);
        let mut committed = self.inner.position.subscribe();
        tokio::select! {
            _ = committed.wait_for(|p| *p >= position) => Ok(()),
            ended = behind.ended() => Err(ended),
        }
    }

    /// Runs `f` on a read connection once the read models hold every event
    /// already notified (so what a client heard of, it can read).
    async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, ProjectionError> + Send + 'static,
    ) -> Result<R, ProjectionError> {
        self.caught_up().await?;
        let live = self.live_position();
        let health = self.health();
        if self.position() < live && !matches!(health.state, State::Running | State::Idle) {
            // What was notified is not in the read models, and the consumer
            // is between two attempts (or starting the next): waiting would
            // only make the refusal late.
            return Err(ProjectionError::Behind {
                failure: health.error.unwrap_or_default(),
            });
        }
        if self.position() < live
            && self.inner.running.load(Ordering::SeqCst)
            && !self.wait_for(live, READ_SETTLE).await
        {
            tracing::warn!(
                position = self.position(),
                live,
                "the read models lag behind the notifications; reading anyway"
            );
        }
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.run(f)).await?
    }

    /// Waits (up to [`CATCH_UP_PATIENCE`]) while the consumer checks,
    /// rebuilds or catches up the read models; refuses after that.
    async fn caught_up(&self) -> Result<(), ProjectionError> {
        if !self.health().state.is_catching_up() {
            return Ok(());
        }
        let mut status = self.inner.status.subscribe();
        let mut position = self.inner.position.subscribe();
        let waited = tokio::time::timeout(CATCH_UP_PATIENCE, async {
            while self.health().state.is_catching_up() {
                tokio::select! {
                    _ = status.changed() => {}
                    _ = position.changed() => {}
                }
            }
        })
        .await;
        match waited {
            Ok(()) => Ok(()),
            Err(_) => {
                let health = self.health();
                Err(ProjectionError::CatchingUp {
                    position: health.position,
                    target: health.target,
                })
            }
        }
    }

    /// The conversation as `viewer` sees it on `role`'s side; `None` when it
    /// does not exist or `viewer` is not its participant on that side.
    pub async fn conversation(
        &self,
        id: ConversationId,
        viewer: &UserId,
        role: Role,
    ) -> Result<Option<ConversationView>, ProjectionError> {
        let viewer = viewer.clone();
        self.query(move |c| query::conversation(c, id, &viewer, role))
            .await
    }

    /// A page of `viewer`'s conversations on `role`'s side, newest activity
    /// first (`updated_at` descending, then id descending), filtered by
    /// `query.search` (see [`search`]), after `query.cursor`.
    pub async fn conversations(
        &self,
        viewer: &UserId,
        role: Role,
        query: ListQuery,
    ) -> Result<ConversationPage, ProjectionError> {
        let viewer = viewer.clone();
        self.query(move |c| query::conversations(c, &viewer, role, &query))
            .await
    }

    /// A page of a conversation's history; see [`HistoryQuery`]. Does not
    /// check who asks: the caller checks with [`Projections::conversation`].
    pub async fn messages(
        &self,
        id: ConversationId,
        query: HistoryQuery,
    ) -> Result<MessagePage, ProjectionError> {
        self.query(move |c| query::messages(c, id, &query)).await
    }

    /// A message by its id.
    pub async fn message(&self, id: MessageId) -> Result<Option<MessageView>, ProjectionError> {
        self.query(move |c| query::message(c, id)).await
    }

    /// A message by its place in its conversation.
    pub async fn message_by_seq(
        &self,
        id: ConversationId,
        seq: u64,
    ) -> Result<Option<MessageView>, ProjectionError> {
        self.query(move |c| query::message_by_seq(c, id, seq)).await
    }

    /// `viewer`'s unread total on `role`'s side and its conversations with
    /// unread messages.
    pub async fn unread(
        &self,
        viewer: &UserId,
        role: Role,
    ) -> Result<UnreadSummary, ProjectionError> {
        let viewer = viewer.clone();
        self.query(move |c| query::unread(c, &viewer, role)).await
    }

    /// A vendor's figures for `[from, to)`; see [`analytics`] for the
    /// definitions.
    pub async fn analytics(
        &self,
        vendor: &UserId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<VendorAnalytics, ProjectionError> {
        let vendor = vendor.clone();
        self.query(move |c| analytics::analytics(c, &vendor, from, to))
            .await
    }

    /// Everyone who shares a conversation with `user` acting as `role`
    /// (for presence), sorted.
    pub async fn counterparts(
        &self,
        user: &UserId,
        role: Role,
    ) -> Result<Vec<UserId>, ProjectionError> {
        let user = user.clone();
        self.query(move |c| query::counterparts(c, &user, role))
            .await
    }
}

/// Raises a position watch to `position` (never lowers it).
fn publish_max(watch: &watch::Sender<Position>, position: Position) {
    watch.send_if_modified(|p| {
        let moved = position > *p;
        *p = (*p).max(position);
        moved
    });
}

/// The write-behind task, until it ended.
struct Behind(Option<JoinHandle<Result<(), ProjectionError>>>);

impl Behind {
    /// Resolves when the task ended while the consumer still runs: always
    /// an error (it ends on its own only when the read models fail).
    async fn ended(&mut self) -> ProjectionError {
        let Some(handle) = self.0.as_mut() else {
            return futures::future::pending().await;
        };
        let ended = handle.await;
        self.0 = None;
        match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => ProjectionError::Task("the read models' write-behind stopped".into()),
            Err(e) => e.into(),
        }
    }

    /// Waits for the task to commit what it holds and end.
    async fn finish(mut self) -> Result<(), ProjectionError> {
        match self.0.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

/// Commits what the consumer hands over: at the latest [`WRITE_BEHIND`]
/// after the first pending event, at once when [`BATCH_CAP`] events wait,
/// when a reader waits for them ([`Inner::wanted`]) or when the consumer is
/// gone (then it ends).
async fn write_behind(
    inner: Arc<Inner>,
    mut writer: Writer,
    mut batches: mpsc::UnboundedReceiver<Vec<Decoded>>,
) -> Result<(), ProjectionError> {
    let mut pending: Vec<Decoded> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    let mut open = true;
    loop {
        while open {
            match batches.try_recv() {
                Ok(batch) => hold(&mut pending, &mut due, batch),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        let wanted = inner.wanted.load(Ordering::SeqCst) > writer.position();
        let overdue = due.is_some_and(|d| tokio::time::Instant::now() >= d);
        if !pending.is_empty() && (!open || wanted || overdue || pending.len() >= BATCH_CAP) {
            let position = writer.apply_decoded(std::mem::take(&mut pending)).await?;
            due = None;
            publish_max(&inner.position, position);
            continue;
        }
        if !open {
            return Ok(());
        }
        tokio::select! {
            biased;
            batch = batches.recv() => match batch {
                Some(batch) => hold(&mut pending, &mut due, batch),
                None => open = false,
            },
            _ = inner.flush.notified() => {}
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
        }
    }
}

/// Adds a handed batch to the pending events.
fn hold(pending: &mut Vec<Decoded>, due: &mut Option<tokio::time::Instant>, batch: Vec<Decoded>) {
    if pending.is_empty() {
        *due = Some(tokio::time::Instant::now() + WRITE_BEHIND);
    }
    pending.extend(batch);
}

/// The handle is shared by actix arbiters and the Socket.IO runtime.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Projections>();
};
