//! Reading: the pool of read connections, and the handle's queries, each
//! run once the read models hold what was already notified (or refused while
//! they catch up or fall behind). The SQL of each query is in `query`.
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rusqlite::Connection;
use souk_domain::{ConversationId, MessageId, Role, Timestamp, UserId};
use tokio::sync::watch;

use crate::error::ProjectionError;
use crate::health::State;
use crate::views::{
    ConversationPage, ConversationView, HistoryQuery, ListQuery, MessagePage, MessageView,
    UnreadSummary, VendorAnalytics,
};
use crate::{analytics, query, schema, Projections};

/// The longest a query waits for the read models to commit what was
/// already notified before it reads anyway.
const READ_SETTLE: Duration = Duration::from_secs(5);
/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 8;
/// How long a query waits for the read models to finish catching up before
/// it is refused ([`ProjectionError::CatchingUp`]): long enough for the few
/// events a restart finds, short enough that a client hears at once that a
/// long catch-up is under way.
const CATCH_UP_PATIENCE: Duration = Duration::from_millis(500);

/// Idle read connections. A std mutex: it is held only to push or pop.
pub(crate) struct ReadPool {
    pub(crate) path: PathBuf,
    pub(crate) idle: Mutex<Vec<Connection>>,
    /// Held shared by every query while it uses a connection, and
    /// exclusively while the file is set aside or replaced: a connection
    /// to a file renamed away would read the old one, and the last one to
    /// close would remove the WAL of the new one by name.
    pub(crate) file: RwLock<()>,
    /// Set by a query that found the file damaged; the consumer then sets
    /// it aside and rebuilds it (see `supervise`).
    pub(crate) damaged: watch::Sender<bool>,
}

impl ReadPool {
    pub(crate) fn run<R>(
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
    pub(crate) fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        let guard = self.file.write().unwrap_or_else(|e| e.into_inner());
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).clear();
        guard
    }
}

impl Projections {
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
    /// `query.search` (see [`search`](crate::search)), after `query.cursor`.
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
