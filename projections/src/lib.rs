//! The read side of souk: every read model behind the REST routes
//! (conversation lists, history, unread counts, search, vendor analytics),
//! maintained from the event log in a SQLite database of its own
//! (`<data-dir>/readmodels.db`, WAL), and the notifications that the
//! Socket.IO edge relays.
//!
//! # Design
//!
//! One consumer task ([`Projections::start`]) subscribes to the whole log
//! after its checkpoint. Whatever the subscription has ready (up to
//! [`BATCH_CAP`] events) is applied in **one** SQLite transaction that also
//! moves the checkpoint; after the commit the consumer publishes the new
//! position (a `watch`, for read-your-writes: [`Projections::wait_for`]) and
//! one [`Notification`] per event (a `broadcast`), carrying the unread figures
//! as of that event.
//!
//! Applying is a pure function of the events: no clock, no randomness, no
//! batch-dependent state. So [`rebuild`] (replaying the log into empty
//! tables) gives exactly the rows that were maintained live, and [`verify`]
//! proves it by rebuilding into a scratch file and comparing every row.
//!
//! Queries run on blocking threads over a small pool of read connections;
//! WAL lets them read a consistent snapshot while the consumer writes.
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
//! (`PRAGMA user_version`): a file of another version is emptied on open and
//! the consumer rebuilds it from the log.
//!
//! Unread for a side is the number of messages from the other side with a
//! `seq` above that side's read marker; it is kept per conversation (a read
//! recounts it from `messages`) and the inbox total moves by exactly the
//! same deltas in the same transaction, so neither can drift.
//!
//! # Layout
//!
//! - this file: [`Projections`], the handle (consumer, position,
//!   notifications, queries).
//! - [`views`], the wire objects and query parameters.
//! - `schema`: the tables, connections, the checkpoint.
//! - `apply`: events to rows, one transaction per batch.
//! - `query`: the list, conversation, history, message and unread queries.
//! - [`search`]: what search matches and how (FTS5 trigram).
//! - [`analytics`]: vendor analytics and their definitions.
//! - `rebuild`: the writer shared by the consumer, [`rebuild`] and
//!   [`verify`].
//! - [`error`], with [`ProjectionError`].
#![forbid(unsafe_code)]

pub mod analytics;
mod apply;
pub mod error;
mod query;
mod rebuild;
mod schema;
pub mod search;
pub mod views;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use rusqlite::Connection;
use souk_domain::{ConversationId, MessageId, Role, Timestamp, UserId};
use souk_store::{EventStore, Position, RecordedEvent, StoreError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use error::ProjectionError;
pub use rebuild::{rebuild, verify, Difference, VerifyReport};
pub use views::{
    ConversationPage, ConversationView, DayFigures, HistoryQuery, ListQuery, MessagePage,
    MessageView, Notification, ParticipantView, Percentiles, TopProduct, UnreadSummary,
    VendorAnalytics,
};

use crate::rebuild::Writer;

/// The file name of the read models in the data directory.
pub const FILE_NAME: &str = "readmodels.db";
/// The most events applied in one transaction.
pub const BATCH_CAP: usize = 512;
/// How many notifications a slow receiver may fall behind by before it gets
/// `RecvError::Lagged` (and should resynchronise from the queries).
pub const NOTIFICATION_CAPACITY: usize = 4096;
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;
/// Waits before resubscribing after a failed subscription.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// The handle to the read models: cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct Projections {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    readers: ReadPool,
    /// The last applied position, published after each commit.
    position: watch::Sender<Position>,
    notifications: broadcast::Sender<Arc<Notification>>,
    /// Set once by [`Projections::shutdown`]; the consumer watches it.
    shutdown: watch::Sender<bool>,
    /// Whether a consumer runs: there is one writer per file.
    running: AtomicBool,
}

/// Idle read connections. A std mutex: it is held only to push or pop.
struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn run<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, ProjectionError>,
    ) -> Result<R, ProjectionError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let result = f(&mut conn);
        // A connection that saw a database error is not trusted again.
        if !matches!(result, Err(ProjectionError::Database(_))) {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE_READERS {
                idle.push(conn);
            }
        }
        result
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
    /// Opens (creating if needed) the read models at `path`. A file of an
    /// older schema is emptied, and the consumer then rebuilds it from the
    /// log.
    pub fn open(path: &Path) -> Result<Self, ProjectionError> {
        let conn = schema::open_writer(path)?;
        let position = schema::checkpoint(&conn)?;
        drop(conn);
        let (notifications, _) = broadcast::channel(NOTIFICATION_CAPACITY);
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                readers: ReadPool {
                    path: path.to_owned(),
                    idle: Mutex::new(Vec::new()),
                },
                position: watch::Sender::new(position),
                notifications,
                shutdown: watch::Sender::new(false),
                running: AtomicBool::new(false),
            }),
        })
    }

    /// The file this handle reads and writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Spawns the consumer on the current tokio runtime: subscribe to the log
    /// after the checkpoint, apply what is ready in one transaction (read
    /// models and checkpoint together), then publish the position and one
    /// notification per event. Runs until the subscription ends
    /// (`Ok`), [`Projections::shutdown`] is called (`Ok`, after the batch in
    /// hand is committed), the store is closed or an event cannot be decoded
    /// (`Err`). A subscription that fails otherwise is retried from the
    /// checkpoint with a growing pause. A second consumer on the same handle
    /// is refused with [`ProjectionError::AlreadyStarted`].
    pub fn start(&self, store: Arc<dyn EventStore>) -> JoinHandle<Result<(), ProjectionError>> {
        let this = self.clone();
        tokio::spawn(async move {
            if this.inner.running.swap(true, Ordering::SeqCst) {
                return Err(ProjectionError::AlreadyStarted);
            }
            let result = this.consume(store).await;
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

    /// The position of the last applied event (0 before any).
    pub fn position(&self) -> Position {
        *self.inner.position.borrow()
    }

    /// Waits until the read models include `position` (read-your-writes);
    /// `false` after `timeout`.
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> bool {
        let mut rx = self.inner.position.subscribe();
        let reached = tokio::time::timeout(timeout, async {
            rx.wait_for(|p| *p >= position).await.is_ok()
        })
        .await;
        matches!(reached, Ok(true))
    }

    /// Notifications of every applied event, from now on, in log order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.inner.notifications.subscribe()
    }

    async fn consume(&self, store: Arc<dyn EventStore>) -> Result<(), ProjectionError> {
        let mut writer = Writer::open(self.inner.path.clone(), false, true).await?;
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut retry = RETRY_FIRST;
        loop {
            let mut subscription = store.subscribe_all(writer.position());
            let failure = loop {
                let first = tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => return Ok(()),
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
                    self.apply(&mut writer, &batch).await?;
                    retry = RETRY_FIRST;
                }
                if ended {
                    return Ok(());
                }
                if let Some(e) = failure {
                    break e;
                }
            };
            if matches!(failure, StoreError::Closed) {
                return Err(failure.into());
            }
            tracing::warn!(error = %failure, ?retry, "log subscription failed; resubscribing");
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => return Ok(()),
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// Applies a batch and publishes its effects.
    async fn apply(
        &self,
        writer: &mut Writer,
        batch: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        let applied = writer.apply(batch).await?;
        self.inner.position.send_if_modified(|p| {
            let moved = applied.position > *p;
            *p = (*p).max(applied.position);
            moved
        });
        for n in applied.notifications {
            // No receiver is not an error: nobody is listening yet.
            let _ = self.inner.notifications.send(Arc::new(n));
        }
        match applied.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, ProjectionError> + Send + 'static,
    ) -> Result<R, ProjectionError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.readers.run(f)).await?
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

/// The handle is shared by actix arbiters and the Socket.IO runtime.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Projections>();
};
