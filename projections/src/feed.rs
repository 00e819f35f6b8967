//! The live feed: the one stream of [`Notification`]s that whoever speaks
//! to clients (the socket edge) consumes, gap-free and without repeats,
//! from any position on.
//!
//! # What a [`Feed`] yields
//!
//! [`Projections::subscribe_after`]`(after)` yields the notification of
//! every conversation event recorded after `after`, once each, in log
//! order, for as long as the projections publish: first the ones already
//! published (taken from the notifications kept in memory when they are
//! all still there, exactly as published; rebuilt from the log otherwise),
//! then the live ones. A feed that falls behind the broadcast (it lagged:
//! the channel overwrote what it had not read) finds what it missed the
//! same way before yielding anything newer. A notification rebuilt from
//! the log carries the figures of now (unread counts, the message as the
//! history shows it), which are at least as recent as the event.
//!
//! Only when the missed events cannot be had at all (the log cannot be
//! read, a read model query fails) does the feed answer
//! [`FeedError::Gap`], naming the positions it had to skip, and go on after
//! them: its consumer can then tell its clients to resynchronise (the edge
//! disconnects every socket, and each rejoins with `sinceSeq`).
//!
//! # Cancellation
//!
//! [`Feed::next`] is cancel-safe (it may be a branch of `tokio::select!`):
//! its state changes only once a step has completed, so a dropped call
//! loses no notification; the next call does the interrupted work again.
//!
//! # Back-pressure
//!
//! The projections' consumer paces itself on its slowest receiver (see
//! `Projections::pace`), so a feed that keeps reading is rarely left
//! behind; when it is anyway, it recovers as above instead of stopping.

use std::collections::VecDeque;
use std::sync::Arc;

use souk_domain::{ConversationEvent, ConversationId, Role, UserId};
use souk_store::{Position, RecordedEvent, StoreError};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::error::ProjectionError;
use crate::views::Notification;
use crate::Projections;

/// Events read from the log per step when rebuilding missed notifications.
pub const REBUILD_BATCH: usize = 256;

/// Why a [`Feed`] could not yield the next notification.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The notifications of the events after `after` and before `before`
    /// could not be had; the feed goes on from `before`.
    #[error("the notifications after position {after} and before {before} are lost: {reason}")]
    Gap {
        after: Position,
        before: Position,
        reason: String,
    },
    /// The projections stopped publishing (they were shut down).
    #[error("the projections stopped publishing")]
    Closed,
}

/// Why rebuilding missed notifications failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FillError {
    #[error("the projections were never started on a log")]
    NotStarted,
    #[error("reading the log failed: {0}")]
    Store(#[from] StoreError),
    #[error("decoding the event at {position} failed: {error}")]
    Decode { position: Position, error: String },
    #[error("reading the figures of the event at {position} failed: {error}")]
    Figures {
        position: Position,
        error: ProjectionError,
    },
    #[error("the event at {position} names a conversation the read models do not have")]
    Unknown { position: Position },
}

/// See the module docs.
pub struct Feed {
    projections: Projections,
    live: broadcast::Receiver<Arc<Notification>>,
    /// Every notification at or before it was yielded or is in `ready`.
    found: Position,
    /// Found, not yet yielded, in log order.
    ready: VecDeque<Arc<Notification>>,
    /// A gap to fill before anything newer is yielded: the notifications
    /// after `found` up to this position were (or may have been) published
    /// without reaching `live`.
    fill_until: Option<Position>,
}

impl Projections {
    /// The feed of every notification after `after` (see the module docs).
    /// Missed notifications are rebuilt from the log given to
    /// [`Projections::start`] (before it was called, they are a gap).
    pub fn subscribe_after(&self, after: Position) -> Feed {
        // Subscribed first: every notification after the position read next
        // is sent after it was read (the position moves before the send), so
        // it reaches `live`; what is at or before it is found as a gap.
        let live = self.subscribe();
        let published = self.live_position();
        Feed {
            projections: self.clone(),
            live,
            found: after,
            ready: VecDeque::new(),
            fill_until: (published > after).then_some(published),
        }
    }
}

impl Feed {
    /// Every notification at or before it was yielded.
    pub fn position(&self) -> Position {
        match self.ready.front() {
            Some(n) => n.position - 1,
            None => self.found,
        }
    }

    /// The next notification; see the module docs. Cancel-safe.
    pub async fn next(&mut self) -> Result<Arc<Notification>, FeedError> {
        loop {
            if let Some(n) = self.ready.pop_front() {
                return Ok(n);
            }
            if let Some(until) = self.fill_until {
                self.fill(until).await?;
                continue;
            }
            match self.live.recv().await {
                Ok(n) if n.position <= self.found => {}
                Ok(n) => {
                    self.found = n.position;
                    return Ok(n);
                }
                Err(RecvError::Lagged(lost)) => {
                    // Everything the channel still holds was sent at or
                    // before the position read now, or after it.
                    let published = self.projections.live_position();
                    tracing::warn!(
                        lost,
                        after = self.found,
                        published,
                        "the live feed lagged behind the projections; finding the missed notifications"
                    );
                    self.fill_until = Some(published);
                }
                Err(RecvError::Closed) => return Err(FeedError::Closed),
            }
        }
    }

    /// One step of filling the gap after `found` up to `until`: all of it
    /// from the kept notifications, or one batch rebuilt from the log. Only
    /// changes the feed once its one `await` is done (cancel safety).
    async fn fill(&mut self, until: Position) -> Result<(), FeedError> {
        if self.found >= until {
            self.fill_until = None;
            return Ok(());
        }
        if let Some(kept) = self.projections.published_between(self.found, until + 1) {
            tracing::debug!(
                after = self.found,
                until,
                found = kept.len(),
                "missed notifications found among the kept ones"
            );
            self.ready.extend(kept);
            self.found = until;
            self.fill_until = None;
            return Ok(());
        }
        let from = self.found + 1;
        match missed_batch(&self.projections, from, until + 1).await {
            Ok(batch) => {
                tracing::info!(
                    from,
                    until,
                    rebuilt = batch.notifications.len(),
                    "missed notifications rebuilt from the log"
                );
                self.ready
                    .extend(batch.notifications.into_iter().map(Arc::new));
                self.found = batch.next.map_or(until, |next| next - 1);
                if self.found >= until {
                    self.fill_until = None;
                }
                Ok(())
            }
            Err(e) => {
                let after = self.found;
                self.found = until;
                self.fill_until = None;
                tracing::error!(after, until, "the live feed lost notifications: {e}");
                Err(FeedError::Gap {
                    after,
                    before: until + 1,
                    reason: e.to_string(),
                })
            }
        }
    }
}

/// One batch of missed notifications: rebuilt from the log for the events
/// at `from` and after, before `before`.
pub(crate) struct MissedBatch {
    pub(crate) notifications: Vec<Notification>,
    /// Where the next batch starts, or `None` when `before` (or the log's
    /// end) was reached.
    pub(crate) next: Option<Position>,
}

pub(crate) async fn missed_batch(
    projections: &Projections,
    from: Position,
    before: Position,
) -> Result<MissedBatch, FillError> {
    let store = projections.inner.log.get().ok_or(FillError::NotStarted)?;
    let batch = store.read_all(from, REBUILD_BATCH).await?;
    let full = batch.len() == REBUILD_BATCH;
    let mut notifications = Vec::with_capacity(batch.len());
    let mut next = None;
    for recorded in &batch {
        if recorded.position >= before {
            return Ok(MissedBatch {
                notifications,
                next: None,
            });
        }
        next = Some(recorded.position + 1);
        notifications.extend(notification_now(projections, recorded).await?);
    }
    Ok(MissedBatch {
        notifications,
        next: if full { next } else { None },
    })
}

/// The notification of a recorded event, with the figures of now. `None`
/// for events of streams that are not conversations, and for events
/// nothing is delivered for (a support access).
async fn notification_now(
    projections: &Projections,
    recorded: &RecordedEvent,
) -> Result<Option<Notification>, FillError> {
    let Some(conversation) = ConversationId::from_stream_name(&recorded.stream) else {
        return Ok(None);
    };
    let position = recorded.position;
    let figures = |error| FillError::Figures { position, error };
    let event = recorded.decode().map_err(|e| FillError::Decode {
        position,
        error: e.to_string(),
    })?;
    let (viewer, role): (UserId, Role) = match &event {
        ConversationEvent::ConversationStarted(s) => (s.customer.id.clone(), Role::Customer),
        ConversationEvent::MessageSent(m) => (m.sender.id.clone(), m.sender.role),
        ConversationEvent::MessageRead(r) => (r.reader_id.clone(), r.reader_role),
        ConversationEvent::TypingStarted(t) | ConversationEvent::TypingStopped(t) => {
            (t.user_id.clone(), t.role)
        }
        ConversationEvent::CurrentProductChanged(c) => (c.by.id.clone(), c.by.role),
        // Nothing is delivered for it.
        ConversationEvent::SupportAccessed(_) => return Ok(None),
    };
    let view = projections
        .conversation(conversation, &viewer, role)
        .await
        .map_err(figures)?
        .ok_or(FillError::Unknown { position })?;
    let ids = [view.customer.id.clone(), view.vendor.id.clone()];
    finish(projections, conversation, ids, event, position).await
}

async fn finish(
    projections: &Projections,
    conversation: ConversationId,
    ids: [UserId; 2],
    event: ConversationEvent,
    position: Position,
) -> Result<Option<Notification>, FillError> {
    let figures = |error| FillError::Figures { position, error };
    let mut unread = [0u64; 2];
    let mut total_unread = [0u64; 2];
    let message = match &event {
        ConversationEvent::MessageSent(m) => projections
            .message_by_seq(conversation, m.seq)
            .await
            .map_err(figures)?,
        _ => None,
    };
    if matches!(
        event,
        ConversationEvent::MessageSent(_) | ConversationEvent::MessageRead(_)
    ) {
        let key = conversation.to_string();
        for r in [Role::Customer, Role::Vendor] {
            let summary = projections
                .unread(&ids[r.index()], r)
                .await
                .map_err(figures)?;
            total_unread[r.index()] = summary.total;
            unread[r.index()] = summary.conversations.get(&key).copied().unwrap_or(0);
        }
    }
    let [customer_id, vendor_id] = ids;
    Ok(Some(Notification {
        position,
        conversation_id: conversation,
        customer_id,
        vendor_id,
        event,
        message,
        unread,
        total_unread,
    }))
}
