//! The relay: the one task that turns the live feed into server events, in
//! log order, and the only place where catch-ups are sequenced against live
//! events.
//!
//! It consumes one [`Feed`] (`projections.subscribe_after`: one
//! [`Notification`] per recorded event, gap-free and without repeats, with
//! the unread figures the REST routes return right after it: queries wait
//! for the read models to commit what was published) and, in the same loop,
//! the joins and leaves of sockets and the ends of catch-ups. Request
//! handlers never emit log events themselves: what a socket hears about
//! messages and reads is what the log recorded, once it was durable. The
//! relay reads neither the log nor figures of its own: a lag behind the
//! projections is the feed's to recover (see [`souk_projections::feed`]).
//!
//! # Joins with `sinceSeq`
//!
//! See [`super::book`] and [`super::catch_up`]: the socket joins the room
//! at once, a catch-up task replays the missed messages from the read
//! models, live events of that conversation for that socket are held
//! meanwhile, then released; a watermark keeps replayed messages from being
//! emitted twice. The join is acknowledged after the replay was emitted.
//!
//! # A gap
//!
//! Only when the feed reports notifications it could not find at all
//! ([`FeedError::Gap`]) is every socket disconnected, so that every client
//! reconnects and resyncs with `sinceSeq` rather than live with a gap it
//! cannot see.

use std::sync::Arc;

use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;
use souk_domain::{ConversationEvent, ConversationId};
use souk_projections::{Feed, FeedError, Notification};
use tokio::sync::{mpsc, oneshot, watch};

use super::book::{Book, Verdict};
use super::catch_up::{catch_up, CatchUp, Joined};
use super::deliver::{self, is_evicted};
use super::fanout::{self, Delivery};
use super::rooms;
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::state::AppState;

/// Catch-ups that read and emit at once; more joins wait their turn, so that
/// replaying is shared fairly with live delivery.
const CONCURRENT_CATCH_UPS: usize = 4;

type JoinReply = oneshot::Sender<Result<Joined, ApiError>>;

/// A change to a socket's rooms, for the relay.
enum Membership {
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

/// Talks to the relay task. Cheap to clone.
#[derive(Clone)]
pub struct RelayHandle {
    commands: mpsc::UnboundedSender<Membership>,
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
            .send(Membership::Join {
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
            .send(Membership::Leave {
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
        let _ = self.commands.send(Membership::Gone { socket });
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
    book: Book<Sid, Waiter, HeldEvent>,
    caught_up: mpsc::UnboundedSender<CaughtUp>,
    /// Turns to replay ([`CONCURRENT_CATCH_UPS`] at once).
    catch_up_turns: Arc<tokio::sync::Semaphore>,
}

/// The receiving end of a [`RelayHandle`], until the relay is spawned.
pub struct RelayInbox {
    commands: mpsc::UnboundedReceiver<Membership>,
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
        // From the notifications published from now on: no socket can have
        // joined a room before the relay started.
        let feed = state
            .projections
            .subscribe_after(state.projections.live_position());
        let (caught_up, caught_up_rx) = mpsc::unbounded_channel();
        let relay = Relay {
            state,
            io,
            book: Book::default(),
            caught_up,
            catch_up_turns: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_CATCH_UPS)),
        };
        relay.run(feed, self.commands, caught_up_rx, shutdown)
    }
}

impl Relay {
    async fn run(
        mut self,
        mut feed: Feed,
        mut memberships: mpsc::UnboundedReceiver<Membership>,
        mut caught_up: mpsc::UnboundedReceiver<CaughtUp>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tracing::info!(position = feed.position(), "relay started");
        let mut open = true;
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                // Cancel-safe: a notification is never lost to another branch.
                n = feed.next(), if open => match n {
                    Ok(n) => self.relay(&n),
                    Err(gap @ FeedError::Gap { .. }) => self.give_up(&gap.to_string()),
                    Err(FeedError::Closed) => {
                        tracing::error!("the projections stopped publishing: no more events are relayed to sockets");
                        open = false;
                    }
                },
                Some(change) = memberships.recv() => self.on_membership(change),
                Some(done) = caught_up.recv() => self.on_caught_up(done),
            }
        }
        tracing::info!(position = feed.position(), "relay stopped");
    }

    /// Relays one notification.
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
    }

    fn deliver(&mut self, d: &Delivery) {
        for socket in deliver::recipients(&self.io, d) {
            match self.book.route(
                socket.id,
                d.conversation,
                d.seq,
                (d.event, d.payload.clone()),
            ) {
                Verdict::Emit((event, payload)) => {
                    deliver::emit(&socket, event, &*payload);
                }
                Verdict::Held | Verdict::Duplicate => {}
            }
        }
    }

    fn on_membership(&mut self, change: Membership) {
        match change {
            Membership::Join {
                socket,
                conversation,
                since_seq,
                reply,
            } => self.join(socket, conversation, since_seq, reply),
            Membership::Leave {
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
            Membership::Gone { socket } => {
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

    /// The feed lost notifications: no socket can be trusted to have every
    /// event, so all are disconnected and resync when they reconnect.
    fn give_up(&mut self, why: &str) {
        let sockets = self.io.sockets();
        tracing::error!(
            why,
            sockets = sockets.len(),
            "the live feed lost notifications; disconnecting every socket so that clients resync"
        );
        for socket in &sockets {
            deliver::evict(socket, "resync");
        }
    }
}
