//! The relay: the one task that turns the log's notifications into server
//! events, in log order, and the only place where catch-ups are sequenced
//! against live events.
//!
//! It consumes `projections.subscribe()` (one [`Notification`] per recorded
//! event, published as soon as the projections computed its figures, with
//! the unread figures the REST routes return right after it: queries wait
//! for the read models to commit what was published) and, in the same loop, the
//! join and leave requests of sockets and the ends of catch-ups. Request
//! handlers never emit log events themselves: what a socket hears about
//! messages and reads is what the log recorded, once it was durable.
//!
//! # Joins with `sinceSeq`
//!
//! See [`super::book`]: the socket joins the room at once, a catch-up task
//! replays the missed messages from the read models (waiting for room in
//! the socket's queue, so a long replay neither overflows it nor blocks the
//! relay), live events of that conversation for that socket are held
//! meanwhile, then released; a watermark keeps replayed messages from being
//! emitted twice. The join is acknowledged after the replay was emitted.
//!
//! # Lag
//!
//! The notification channel is a bounded broadcast. The relay never waits on
//! a socket (see [`super::deliver`]), so it should not fall behind; if it
//! does anyway (`Lagged(n)`: n notifications were overwritten before it read
//! them), that is logged as an error and the relay **recovers**: before
//! relaying the next notification it relays the missed ones, in order. The
//! projections keep the last [`souk_projections::RECENT_NOTIFICATIONS`]
//! they published, so these are usually taken from there, exactly as they
//! were published. Past that, it reads the events it missed from the event
//! store and relays each as if it had been notified, with the figures
//! (unread counts, the message) read from the read models now, which are at
//! least as recent as the event. If even that fails, every
//! socket is disconnected, so that every client reconnects and resyncs with
//! `sinceSeq` rather than live with a gap it cannot see.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};
use souk_domain::{ConversationEvent, ConversationId, Role, UserId};
use souk_projections::views::MAX_LIMIT;
use souk_projections::Projections;
use souk_projections::{HistoryQuery, Notification};
use souk_store::{EventStore, Position, RecordedEvent, StoreError};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::book::{Book, Route};
use super::deliver::{self, is_evicted};
use super::fanout::{self, events, Delivery};
use super::rooms;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::state::AppState;

/// How long a catch-up waits for room in a socket's queue before it gives up
/// on that socket (and evicts it).
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(10);
/// How often a catch-up retries an emit into a full queue.
const CATCH_UP_RETRY: Duration = Duration::from_millis(5);
/// Events read from the store per batch when recovering from lag.
const RECOVERY_BATCH: usize = 256;

/// What a finished join reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Joined {
    /// Messages replayed (emitted as `receive_message` before the ack).
    pub replayed: u64,
    /// More than [`MAX_REPLAY`] messages were missed: those after the last
    /// replayed one are for the client to page with REST
    /// (`GET .../messages?after=<last replayed seq>`); live events follow
    /// them.
    pub has_more: bool,
}

/// The most messages one join replays. A client far behind (or one joining
/// with `sinceSeq: 0` a conversation of 20,000 messages) gets the first
/// [`MAX_REPLAY`] after its `sinceSeq` and `hasMore`, and pages the rest
/// with REST at its own pace, instead of the edge pushing it everything at
/// once at the expense of every other socket.
pub const MAX_REPLAY: u64 = 500;

/// Catch-ups that read and emit at once; more joins wait their turn, so that
/// replaying is shared fairly with live delivery.
const CONCURRENT_CATCH_UPS: usize = 4;

type JoinReply = oneshot::Sender<Result<Joined, ApiError>>;

enum Command {
    Join {
        socket: SocketRef,
        conversation: ConversationId,
        since_seq: Option<u64>,
        reply: JoinReply,
    },
    Leave {
        socket: SocketRef,
        conversation: ConversationId,
        reply: oneshot::Sender<()>,
    },
    Gone {
        socket: SocketRef,
    },
}

/// A catch-up task's result.
struct CaughtUp {
    sid: Sid,
    conversation: ConversationId,
    generation: u64,
    result: Result<CatchUp, ApiError>,
}

struct CatchUp {
    replayed: u64,
    watermark: u64,
    has_more: bool,
}

/// Talks to the relay task. Cheap to clone.
#[derive(Clone)]
pub struct RelayHandle {
    commands: mpsc::UnboundedSender<Command>,
}

fn relay_stopped() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the server is shutting down")
}

impl RelayHandle {
    /// Joins `socket` to the conversation's room, first replaying the
    /// messages after `since_seq`. The caller checked that the socket's user
    /// takes part in the conversation.
    pub async fn join(
        &self,
        socket: SocketRef,
        conversation: ConversationId,
        since_seq: Option<u64>,
    ) -> Result<Joined, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Join {
                socket,
                conversation,
                since_seq,
                reply,
            })
            .map_err(|_| relay_stopped())?;
        answer.await.map_err(|_| relay_stopped())?
    }

    pub async fn leave(
        &self,
        socket: SocketRef,
        conversation: ConversationId,
    ) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Leave {
                socket,
                conversation,
                reply,
            })
            .map_err(|_| relay_stopped())?;
        answer.await.map_err(|_| relay_stopped())
    }

    /// The socket disconnected.
    pub fn gone(&self, socket: SocketRef) {
        // After shutdown there is nothing left to forget.
        let _ = self.commands.send(Command::Gone { socket });
    }
}

/// The socket and the ack of a join in progress.
struct Waiter {
    socket: SocketRef,
    reply: JoinReply,
}

/// An event held for a socket catching up.
type HeldEvent = (&'static str, fanout::Payload);

struct Relay {
    state: AppState,
    io: SocketIo,
    /// R: every notification at or before it was relayed.
    position: Position,
    /// Notifications lost to lag and not yet recovered.
    lagged: u64,
    book: Book<Sid, Waiter, HeldEvent>,
    caught_up: mpsc::UnboundedSender<CaughtUp>,
    /// Turns to replay ([`CONCURRENT_CATCH_UPS`] at once).
    catch_up_turns: Arc<tokio::sync::Semaphore>,
}

/// The receiving end of a [`RelayHandle`], until the relay is spawned.
pub struct RelayInbox {
    commands: mpsc::UnboundedReceiver<Command>,
}

/// A handle and its inbox: the handle can be given to the socket handlers
/// before the relay (which needs the `SocketIo` they are part of) exists.
pub fn channel() -> (RelayHandle, RelayInbox) {
    let (commands, rx) = mpsc::unbounded_channel();
    (RelayHandle { commands }, RelayInbox { commands: rx })
}

impl RelayInbox {
    /// Subscribes to the projections now (so nothing published after this
    /// call is missed) and returns the relay's loop, to be spawned.
    pub fn start(
        self,
        state: AppState,
        io: SocketIo,
        shutdown: watch::Receiver<bool>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let notifications = state.projections.subscribe();
        // Read after subscribing: a notification at or before this position
        // may also be in the channel; it is then skipped as already relayed,
        // which is right since no socket can have joined before the relay
        // started.
        let position = state.projections.live_position();
        let (caught_up, caught_up_rx) = mpsc::unbounded_channel();
        let relay = Relay {
            state,
            io,
            position,
            lagged: 0,
            book: Book::default(),
            caught_up,
            catch_up_turns: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CATCH_UPS)),
        };
        relay.run(notifications, self.commands, caught_up_rx, shutdown)
    }
}

impl Relay {
    async fn run(
        mut self,
        mut notifications: broadcast::Receiver<Arc<Notification>>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut caught_up: mpsc::UnboundedReceiver<CaughtUp>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tracing::info!(position = self.position, "relay started");
        let mut open = true;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                n = notifications.recv(), if open => match n {
                    Ok(n) => self.on_notification(&n).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::error!(
                            missed,
                            after = self.position,
                            "the relay lagged behind the projections' notifications; recovering the missed events from the log"
                        );
                        self.lagged += missed;
                    }
                    Err(RecvError::Closed) => {
                        tracing::error!("the projections stopped publishing: no more events are relayed to sockets");
                        open = false;
                    }
                },
                Some(command) = commands.recv() => self.on_command(command),
                Some(done) = caught_up.recv() => self.on_caught_up(done),
            }
        }
        tracing::info!(position = self.position, "relay stopped");
    }

    async fn on_notification(&mut self, n: &Notification) {
        if n.position <= self.position {
            tracing::debug!(position = n.position, "notification already relayed");
            return;
        }
        if self.lagged > 0 {
            self.recover(n.position).await;
        }
        self.relay(n);
    }

    /// Relays one notification and moves R to it.
    fn relay(&mut self, n: &Notification) {
        let deliveries = fanout::deliveries(n);
        if !deliveries.is_empty() {
            Metrics::inc(&self.state.metrics.relayed_events);
        }
        for d in &deliveries {
            self.deliver(d);
        }
        if let ConversationEvent::MessageSent(m) = &n.event {
            self.book.passed(n.conversation_id, m.seq);
        }
        self.position = n.position;
    }

    fn deliver(&mut self, d: &Delivery) {
        for socket in deliver::recipients(&self.io, d) {
            match self.book.route(
                socket.id,
                d.conversation,
                d.seq,
                (d.event, d.payload.clone()),
            ) {
                Route::Emit((event, payload)) => {
                    deliver::emit(&socket, event, &*payload);
                }
                Route::Held | Route::Duplicate => {}
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Join {
                socket,
                conversation,
                since_seq,
                reply,
            } => self.join(socket, conversation, since_seq, reply),
            Command::Leave {
                socket,
                conversation,
                reply,
            } => {
                socket.leave(rooms::conversation(conversation));
                if let Some(w) = self.book.leave(socket.id, conversation) {
                    let _ = w.reply.send(Err(ApiError::new(
                        ErrorCode::Conflict,
                        "the room was left before the join finished",
                    )));
                }
                let _ = reply.send(());
            }
            Command::Gone { socket } => {
                // A join processed after socketioxide removed the socket from
                // its rooms would leave it in one for good: leave them all
                // again, now that nothing more is joined for it.
                socket.leave_all();
                self.book.forget(socket.id);
            }
        }
    }

    fn join(
        &mut self,
        socket: SocketRef,
        conversation: ConversationId,
        since_seq: Option<u64>,
        reply: JoinReply,
    ) {
        if !socket.connected() || is_evicted(&socket) {
            let _ = reply.send(Err(ApiError::new(
                ErrorCode::Unavailable,
                "the socket is closing",
            )));
            return;
        }
        let Some(since) = since_seq else {
            // Live only: from the next notification on.
            socket.join(rooms::conversation(conversation));
            let _ = reply.send(Ok(Joined {
                replayed: 0,
                has_more: false,
            }));
            return;
        };
        let waiter = Waiter {
            socket: socket.clone(),
            reply,
        };
        let generation = match self.book.begin(socket.id, conversation, waiter) {
            Ok(g) => g,
            Err(waiter) => {
                let _ = waiter.reply.send(Err(ApiError::new(
                    ErrorCode::Conflict,
                    "a join of this conversation is already in progress on this socket",
                )));
                return;
            }
        };
        socket.join(rooms::conversation(conversation));
        let state = self.state.clone();
        let done = self.caught_up.clone();
        let turns = self.catch_up_turns.clone();
        tokio::spawn(async move {
            let sid = socket.id;
            let result = match turns.acquire().await {
                Ok(_turn) => catch_up(&state, &socket, conversation, since).await,
                Err(_) => Err(relay_stopped()),
            };
            let _ = done.send(CaughtUp {
                sid,
                conversation,
                generation,
                result,
            });
        });
    }

    fn on_caught_up(&mut self, done: CaughtUp) {
        let CaughtUp {
            sid,
            conversation,
            generation,
            result,
        } = done;
        match result {
            Ok(c) => {
                let Some(f) = self.book.finish(sid, conversation, generation, c.watermark) else {
                    return;
                };
                for (event, payload) in &f.release {
                    deliver::emit(&f.waiter.socket, event, &**payload);
                }
                let _ = f.waiter.reply.send(Ok(Joined {
                    replayed: c.replayed,
                    has_more: c.has_more,
                }));
            }
            Err(e) => {
                let Some(w) = self.book.fail(sid, conversation, generation) else {
                    return;
                };
                w.socket.leave(rooms::conversation(conversation));
                let _ = w.reply.send(Err(e));
            }
        }
    }

    /// Relays the events missed to lag, from the log, up to (excluding)
    /// `before`.
    async fn recover(&mut self, before: Position) {
        let missed = std::mem::take(&mut self.lagged);
        if let Some(kept) = self
            .state
            .projections
            .published_between(self.position, before)
        {
            // The usual case: the projections still hold every missed
            // notification, exactly as published.
            for n in &kept {
                self.relay(n);
            }
            self.position = self.position.max(before - 1);
            tracing::warn!(
                missed,
                recovered = kept.len(),
                position = self.position,
                "relay recovered from lag (from the projections' recent notifications)"
            );
            return;
        }
        let mut recovered = 0u64;
        let mut from = Some(self.position + 1);
        while let Some(at) = from {
            match missed_batch(&self.state.store, &self.state.projections, at, before).await {
                Ok(batch) => {
                    for n in &batch.notifications {
                        self.relay(n);
                    }
                    recovered += batch.notifications.len() as u64;
                    from = batch.next;
                }
                Err(e) => {
                    self.give_up(&e.to_string());
                    break;
                }
            }
        }
        self.position = self.position.max(before - 1);
        tracing::warn!(
            missed,
            recovered,
            position = self.position,
            "relay recovered from lag (rebuilt from the log)"
        );
    }

    /// Recovery failed: no socket can be trusted to have every event, so all
    /// are disconnected and resync when they reconnect.
    fn give_up(&mut self, why: &str) {
        let sockets = self.io.sockets();
        tracing::error!(
            why,
            sockets = sockets.len(),
            "the relay cannot recover the events it missed; disconnecting every socket so that clients resync"
        );
        for socket in &sockets {
            deliver::evict(socket, "resync");
        }
    }
}

/// Replays the messages after `since` to one socket, waiting for room in its
/// queue. Returns how many, and the watermark (see [`super::book`]).
async fn catch_up(
    state: &AppState,
    socket: &SocketRef,
    conversation: ConversationId,
    since: u64,
) -> Result<CatchUp, ApiError> {
    // The newest seq before replaying: every message up to it is replayed
    // below (or is one the client says it has).
    let newest = state
        .projections
        .messages(
            conversation,
            HistoryQuery {
                before: None,
                after: None,
                limit: 1,
            },
        )
        .await?
        .messages
        .last()
        .map_or(0, |m| m.seq);
    let mut after = since;
    let mut replayed = 0;
    let mut has_more = false;
    loop {
        let left = MAX_REPLAY - replayed;
        let page = state
            .projections
            .messages(
                conversation,
                HistoryQuery {
                    before: None,
                    after: Some(after),
                    limit: MAX_LIMIT.min(left as usize),
                },
            )
            .await?;
        for m in &page.messages {
            let payload = serde_json::to_value(m)
                .map_err(|e| ApiError::internal("while serializing a message", &e))?;
            emit_patiently(socket, events::RECEIVE_MESSAGE, &payload).await?;
            after = m.seq;
            replayed += 1;
        }
        if !page.has_more || page.messages.is_empty() {
            break;
        }
        if replayed >= MAX_REPLAY {
            has_more = true;
            break;
        }
    }
    // Held live events up to `newest` are dropped either way: replayed, or
    // (with `has_more`) left for the client's REST pages. And never below
    // `since`: the client has those already, though this node's read models
    // may not yet (it heard of them through another node of a cluster), so
    // they would otherwise reach it again as live events.
    Ok(CatchUp {
        replayed,
        watermark: newest.max(since).max(after),
        has_more,
    })
}

/// Emits to one socket, waiting (a bounded time) for room in its queue.
async fn emit_patiently(socket: &SocketRef, event: &str, payload: &Value) -> Result<(), ApiError> {
    let gone = || {
        ApiError::new(
            ErrorCode::Unavailable,
            "the socket closed during the catch-up",
        )
    };
    let deadline = tokio::time::Instant::now() + CATCH_UP_PATIENCE;
    loop {
        if is_evicted(socket) {
            return Err(gone());
        }
        match socket.emit(event, payload) {
            Ok(()) => return Ok(()),
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                if tokio::time::Instant::now() >= deadline {
                    deliver::evict(socket, event);
                    return Err(gone());
                }
                tokio::time::sleep(CATCH_UP_RETRY).await;
            }
            Err(SendError::Socket(SocketError::Closed)) => return Err(gone()),
            Err(e) => return Err(ApiError::internal("while emitting a catch-up", &e)),
        }
    }
}

/// One batch of what the relay missed: notifications rebuilt from the log for
/// the events at `from` and after, before `before`.
struct MissedBatch {
    notifications: Vec<Notification>,
    /// Where the next batch starts, or `None` when `before` was reached.
    next: Option<Position>,
}

/// Why a lag could not be recovered.
#[derive(Debug, thiserror::Error)]
enum RecoveryError {
    #[error("reading the log failed: {0}")]
    Store(#[from] StoreError),
    #[error("rebuilding the event at {position} failed: {error}")]
    Rebuild { position: Position, error: ApiError },
}

async fn missed_batch(
    store: &Arc<dyn EventStore>,
    projections: &Projections,
    from: Position,
    before: Position,
) -> Result<MissedBatch, RecoveryError> {
    let batch = store.read_all(from, RECOVERY_BATCH).await?;
    let full = batch.len() == RECOVERY_BATCH;
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
        let rebuilt =
            rebuild(projections, recorded)
                .await
                .map_err(|error| RecoveryError::Rebuild {
                    position: recorded.position,
                    error,
                })?;
        notifications.extend(rebuilt);
    }
    Ok(MissedBatch {
        notifications,
        next: if full { next } else { None },
    })
}

/// A notification for a recorded event, with today's figures (lag recovery).
/// `None` for events of streams that are not conversations, and for events
/// nothing is relayed for (a support access).
async fn rebuild(
    projections: &Projections,
    recorded: &RecordedEvent,
) -> Result<Option<Notification>, ApiError> {
    let Some(conversation) = ConversationId::from_stream_name(&recorded.stream) else {
        return Ok(None);
    };
    let event = recorded
        .decode()
        .map_err(|e| ApiError::internal("while decoding a recorded event", &e))?;
    let (viewer, role): (UserId, Role) = match &event {
        ConversationEvent::ConversationStarted(s) => (s.customer.id.clone(), Role::Customer),
        ConversationEvent::MessageSent(m) => (m.sender.id.clone(), m.sender.role),
        ConversationEvent::MessageRead(r) => (r.reader_id.clone(), r.reader_role),
        ConversationEvent::TypingStarted(t) | ConversationEvent::TypingStopped(t) => {
            (t.user_id.clone(), t.role)
        }
        ConversationEvent::SupportAccessed(_) | ConversationEvent::CurrentProductChanged(_) => {
            return Ok(None)
        }
    };
    let view = projections
        .conversation(conversation, &viewer, role)
        .await?
        .ok_or_else(|| ApiError::conversation_not_found(conversation))?;
    let ids = [view.customer.id.clone(), view.vendor.id.clone()];
    let mut unread = [0u64; 2];
    let mut total_unread = [0u64; 2];
    let message = match &event {
        ConversationEvent::MessageSent(m) => {
            projections.message_by_seq(conversation, m.seq).await?
        }
        _ => None,
    };
    if matches!(
        event,
        ConversationEvent::MessageSent(_) | ConversationEvent::MessageRead(_)
    ) {
        let key = conversation.to_string();
        for r in [Role::Customer, Role::Vendor] {
            let summary = projections.unread(&ids[r.index()], r).await?;
            total_unread[r.index()] = summary.total;
            unread[r.index()] = summary.conversations.get(&key).copied().unwrap_or(0);
        }
    }
    let [customer_id, vendor_id] = ids;
    Ok(Some(Notification {
        position: recorded.position,
        conversation_id: conversation,
        customer_id,
        vendor_id,
        event,
        message,
        unread,
        total_unread,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_domain::{
        ConversationStarted, MessageId, MessageKind, MessageRead, MessageSent, MessageText,
        Participant, Sender, Timestamp, Typing,
    };
    use souk_store::{ExpectedRevision, MemoryStore, NewEvent};

    fn uid(s: &str) -> UserId {
        UserId::parse(s).unwrap()
    }

    fn sent(by: &UserId, seq: u64, id: MessageId, at: Timestamp) -> ConversationEvent {
        ConversationEvent::MessageSent(MessageSent {
            message_id: id,
            seq,
            sender: Sender {
                id: by.clone(),
                role: Role::Customer,
            },
            sender_name: None,
            kind: MessageKind::Text,
            text: Some(MessageText::parse(&format!("message {seq}")).unwrap()),
            product: None,
            client_message_id: None,
            at,
        })
    }

    /// A conversation with messages, typing and a read, applied live.
    #[tokio::test]
    async fn missed_events_come_as_published_or_rebuilt_from_the_log_with_the_figures_of_now() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let projections = Projections::open(&dir.path().join("readmodels.db")).unwrap();
        let mut live = projections.subscribe();
        let consumer = projections.start(store.clone());

        let (c, v) = (uid("c-1"), uid("v-1"));
        let id = ConversationId::for_pair(&c, &v);
        let at = Timestamp::from_millis(1_795_000_000_000);
        let (m1, m2) = (MessageId::new(), MessageId::new());
        let events = [
            ConversationEvent::ConversationStarted(ConversationStarted {
                conversation_id: id,
                customer: Participant {
                    id: c.clone(),
                    name: None,
                },
                vendor: Participant {
                    id: v.clone(),
                    name: None,
                },
                product: None,
                started_by: Role::Customer,
                at,
            }),
            sent(&c, 1, m1, at.plus_millis(1)),
            sent(&c, 2, m2, at.plus_millis(2)),
            ConversationEvent::TypingStarted(Typing {
                user_id: v.clone(),
                role: Role::Vendor,
                reason: None,
                at: at.plus_millis(3),
            }),
            ConversationEvent::MessageRead(MessageRead {
                reader_id: v.clone(),
                reader_role: Role::Vendor,
                reader_name: None,
                up_to_seq: 1,
                up_to_message_id: m1,
                all: false,
                at: at.plus_millis(4),
            }),
        ];
        store
            .append(
                &id.stream_name(),
                ExpectedRevision::NoStream,
                events.iter().map(NewEvent::from_domain).collect(),
            )
            .await
            .unwrap();
        let mut lives = Vec::new();
        for _ in 0..events.len() {
            lives.push(live.recv().await.unwrap());
        }
        let end = lives.last().unwrap().position;

        // While the projections keep them, the missed notifications come
        // back exactly as published: the message before it was read, the
        // figures of then (the rebuild below gives those of now).
        let kept = projections.published_between(0, end + 1).expect("all kept");
        assert_eq!(kept, lives);
        assert_eq!(kept[2].unread, [0, 2]);
        let some = projections
            .published_between(lives[1].position, lives[3].position)
            .unwrap();
        assert_eq!(some, lives[2..3]);

        let all = missed_batch(&store, &projections, 1, end + 1)
            .await
            .unwrap();
        assert!(all.next.is_none());
        assert_eq!(all.notifications.len(), events.len());
        for (rebuilt, live) in all.notifications.iter().zip(&lives) {
            assert_eq!(rebuilt.position, live.position);
            assert_eq!(rebuilt.event, live.event);
            assert_eq!(rebuilt.conversation_id, id);
            assert_eq!((&rebuilt.customer_id, &rebuilt.vendor_id), (&c, &v));
        }
        // Nothing happened after the last event: it is rebuilt exactly.
        assert_eq!(
            all.notifications.last().unwrap(),
            lives.last().unwrap().as_ref()
        );
        // An earlier one carries the figures and the message as they are now:
        // the vendor has since read the first message.
        let first = &all.notifications[1];
        assert_eq!(lives[1].unread, [0, 1]);
        assert_eq!(first.unread, [0, 1]);
        assert_eq!(lives[2].unread, [0, 2]);
        assert_eq!(all.notifications[2].unread, [0, 1]);
        assert!(lives[1].message.as_ref().unwrap().read_at.is_none());
        assert!(first.message.as_ref().unwrap().read_at.is_some());

        // Bounds: from is included, before is not.
        let some = missed_batch(&store, &projections, lives[1].position, lives[3].position)
            .await
            .unwrap();
        let positions: Vec<_> = some.notifications.iter().map(|n| n.position).collect();
        assert_eq!(positions, [lives[1].position, lives[2].position]);
        assert!(some.next.is_none());
        // Past the end of the log: nothing.
        let none = missed_batch(&store, &projections, end + 1, end + 10)
            .await
            .unwrap();
        assert!(none.notifications.is_empty() && none.next.is_none());

        projections.shutdown();
        consumer.await.unwrap().unwrap();
    }

    /// A support access between messages: nothing is relayed for it, and
    /// a recovery from the log goes through it to the events after it.
    #[tokio::test]
    async fn a_support_access_is_skipped_and_the_events_around_it_are_recovered() {
        use souk_domain::{Operator, SupportAccessed, SupportReason, SupportView};
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let projections = Projections::open(&dir.path().join("readmodels.db")).unwrap();
        let consumer = projections.start(store.clone());
        let (c, v) = (uid("c-3"), uid("v-3"));
        let id = ConversationId::for_pair(&c, &v);
        let at = Timestamp::from_millis(1_795_000_000_000);
        let events = [
            ConversationEvent::ConversationStarted(ConversationStarted {
                conversation_id: id,
                customer: Participant {
                    id: c.clone(),
                    name: None,
                },
                vendor: Participant {
                    id: v.clone(),
                    name: None,
                },
                product: None,
                started_by: Role::Customer,
                at,
            }),
            sent(&c, 1, MessageId::new(), at.plus_millis(1)),
            ConversationEvent::SupportAccessed(SupportAccessed {
                operator: Operator {
                    id: uid("o-sam"),
                    name: None,
                },
                reason: SupportReason::parse("ticket 4711").unwrap(),
                view: SupportView::Conversation,
                at: at.plus_millis(2),
            }),
            sent(&c, 2, MessageId::new(), at.plus_millis(3)),
        ];
        let appended = store
            .append(
                &id.stream_name(),
                ExpectedRevision::NoStream,
                events.iter().map(NewEvent::from_domain).collect(),
            )
            .await
            .unwrap();
        assert!(
            projections
                .wait_for(appended.position, Duration::from_secs(10))
                .await
        );
        // Live: the access is published (in log order) but delivers nothing.
        let kept = projections
            .published_between(0, appended.position + 1)
            .unwrap();
        assert_eq!(kept.len(), 4);
        assert!(fanout::deliveries(&kept[2]).is_empty());
        assert_eq!(fanout::deliveries(&kept[3]).len(), 2);
        // Recovered from the log: the messages on both sides of it.
        let all = missed_batch(&store, &projections, 1, appended.position + 1)
            .await
            .unwrap();
        let kinds: Vec<_> = all
            .notifications
            .iter()
            .map(|n| n.event.event_type())
            .collect();
        assert_eq!(kinds, ["ConversationStarted", "MessageSent", "MessageSent"]);
        assert_eq!(all.notifications[2].unread, [0, 2]);
        projections.shutdown();
        consumer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn long_gaps_are_read_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
        let projections = Projections::open(&dir.path().join("readmodels.db")).unwrap();
        let consumer = projections.start(store.clone());
        let (c, v) = (uid("c-2"), uid("v-2"));
        let id = ConversationId::for_pair(&c, &v);
        let at = Timestamp::from_millis(1_795_000_000_000);
        let mut events = vec![ConversationEvent::ConversationStarted(
            ConversationStarted {
                conversation_id: id,
                customer: Participant {
                    id: c.clone(),
                    name: None,
                },
                vendor: Participant { id: v, name: None },
                product: None,
                started_by: Role::Customer,
                at,
            },
        )];
        let count = RECOVERY_BATCH as u64 + 10;
        events.extend((1..=count).map(|seq| sent(&c, seq, MessageId::new(), at)));
        let appended = store
            .append(
                &id.stream_name(),
                ExpectedRevision::NoStream,
                events.iter().map(NewEvent::from_domain).collect(),
            )
            .await
            .unwrap();
        assert!(
            projections
                .wait_for(appended.position, Duration::from_secs(10))
                .await
        );
        let mut from = Some(appended.first_position);
        let mut seqs = Vec::new();
        let mut batches = 0;
        while let Some(at) = from {
            let b = missed_batch(&store, &projections, at, appended.position + 1)
                .await
                .unwrap();
            for n in &b.notifications {
                if let ConversationEvent::MessageSent(m) = &n.event {
                    seqs.push(m.seq);
                    assert_eq!(n.message.as_ref().unwrap().seq, m.seq);
                }
            }
            from = b.next;
            batches += 1;
        }
        assert_eq!(batches, 2);
        assert_eq!(seqs, (1..=count).collect::<Vec<_>>());
        projections.shutdown();
        consumer.await.unwrap().unwrap();
    }
}
