//! One socket's life: the handshake (token check), its personal room, its
//! client events (rate-limited, parsed, then the same service operations as
//! REST), presence, and its end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;
use souk_domain::{Role, Timestamp, UserId};
use tokio::sync::mpsc;

use super::deliver;
use super::fanout::{self, events, PresencePayload};
use super::rate::SocketLimiter;
use super::relay::RelayHandle;
use super::request::{ack_err, ack_ok, ack_sent, Ack, ClientEvent, Request};
use super::rooms;
use crate::auth::{now_secs, AuthError, Principal, OPERATORS_NEVER_WRITE};
use crate::error::{ApiError, ErrorCode};
use crate::metrics::Metrics;
use crate::presence::Transition;
use crate::service;
use crate::state::AppState;

/// What every handler of the edge shares (socketioxide state).
pub struct Edge {
    pub state: AppState,
    pub relay: RelayHandle,
    /// Users whose presence changed, for the presence task.
    pub presence: mpsc::UnboundedSender<(UserId, Role)>,
    pub events_per_second: u32,
    pub burst: u32,
    /// Open sockets per user on this edge, against [`Edge::max_sockets_per_user`].
    pub sockets: SocketCounts,
    pub max_sockets_per_user: usize,
}

/// Open sockets per user (id and side). A short mutex, never held across an
/// await.
#[derive(Default)]
pub struct SocketCounts(Mutex<HashMap<(UserId, Role), usize>>);

impl SocketCounts {
    /// Counts one more socket of `user` unless they hold `max` already.
    fn try_add(&self, user: &UserId, role: Role, max: usize) -> bool {
        let mut map = self.0.lock().expect("socket counts lock poisoned");
        let n = map.entry((user.clone(), role)).or_default();
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn remove(&self, user: &UserId, role: Role) {
        let mut map = self.0.lock().expect("socket counts lock poisoned");
        let key = (user.clone(), role);
        if let Some(n) = map.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&key);
            }
        }
    }
}

/// A socket's own state, in its extensions.
pub struct Session {
    pub principal: Principal,
    limiter: SocketLimiter,
    /// Whether this socket counts in [`crate::presence`]. The handshake
    /// counts it and the disconnect handler releases it, and they may race
    /// (a socket may close during its handshake): this lock makes the socket
    /// count once, and be released once, and never be counted after it was
    /// released.
    presence: Mutex<SocketPresence>,
    /// The timer that ends the socket when its token expires; stopped when
    /// the socket ends first.
    expiry: Mutex<Option<tokio::task::AbortHandle>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SocketPresence {
    Pending,
    Counted,
    Released,
}

/// The refusal of a handshake. The client's `connect_error` carries its
/// text as `err.message`.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// No token, or one that is not valid.
    Unauthorized,
    /// The user holds [`Edge::max_sockets_per_user`] sockets already.
    TooManySockets,
    /// An operator's token: operators never take part in chats.
    Operator,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unauthorized => f.write_str("unauthorized"),
            Self::TooManySockets => f.write_str("too many connections"),
            Self::Operator => write!(f, "forbidden: {OPERATORS_NEVER_WRITE}"),
        }
    }
}

/// The connect middleware: verifies `auth.token`, then readies the socket.
///
/// It runs before the client is told it is connected (nothing is emitted to
/// a refused socket but the `connect_error`), and it is awaited, unlike the
/// connect handler (which socketioxide spawns): so the personal room and the
/// event handlers are in place before the client can send its first event or
/// be sent anything. A client that emits `join_chat_room` on `connect` is
/// never ignored.
pub async fn authenticate(
    socket: SocketRef,
    State(edge): State<Arc<Edge>>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    let token = auth
        .as_ref()
        .ok()
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str);
    let Some(token) = token else {
        tracing::debug!(socket = %socket.id, "handshake without a token");
        return Err(Refused::Unauthorized);
    };
    let principal = match edge.state.keys.verify(token).await {
        Ok(principal) => principal,
        Err(AuthError::Forbidden(_)) => {
            tracing::debug!(socket = %socket.id, "handshake refused: an operator's token");
            return Err(Refused::Operator);
        }
        Err(e) => {
            tracing::debug!(socket = %socket.id, error = %e, "handshake refused");
            return Err(Refused::Unauthorized);
        }
    };
    if !edge
        .sockets
        .try_add(&principal.id, principal.role, edge.max_sockets_per_user)
    {
        tracing::info!(socket = %socket.id, user = %principal.id, max = edge.max_sockets_per_user, "handshake refused: too many sockets");
        Metrics::inc(&edge.state.metrics.sockets_refused);
        return Err(Refused::TooManySockets);
    }
    socket.join(rooms::personal(principal.role, &principal.id));
    let expires_in = principal.expires_at.saturating_sub(now_secs());
    let session = Arc::new(Session {
        principal,
        limiter: SocketLimiter::new(edge.events_per_second, edge.burst),
        presence: Mutex::new(SocketPresence::Pending),
        expiry: Mutex::new(None),
    });
    socket.extensions.insert(session.clone());
    // The socket ends when its token does; the client connects again with
    // a fresh one.
    let expiring = socket.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(expires_in)).await;
        tracing::debug!(socket = %expiring.id, "the socket's token expired; disconnecting it");
        deliver::end(expiring);
    });
    *session.expiry.lock().expect("expiry lock poisoned") = Some(timer.abort_handle());
    for event in ClientEvent::ALL {
        socket.on(
            event.name(),
            move |socket: SocketRef,
                  State(edge): State<Arc<Edge>>,
                  Extension(session): Extension<Arc<Session>>,
                  TryData(payload): TryData<Value>,
                  ack: AckSender| async move {
                let reply = edge.handle(event, &session, &socket, payload.ok()).await;
                // Nothing to do when the client asked for no ack or is gone.
                let _ = ack.send(&reply);
            },
        );
    }
    socket.on_disconnect(
        |socket: SocketRef,
         State(edge): State<Arc<Edge>>,
         Extension(session): Extension<Arc<Session>>,
         reason: DisconnectReason| async move {
            tracing::debug!(socket = %socket.id, ?reason, "socket disconnected");
            edge.release(&socket, &session);
        },
    );
    // The user counts as online before the client hears it is connected,
    // and in a cluster that count is in PostgreSQL by then (see
    // `Presence::written`).
    let ticket = {
        let p = &session.principal;
        let mut presence = session
            .presence
            .lock()
            .expect("socket presence lock poisoned");
        if *presence == SocketPresence::Pending {
            *presence = SocketPresence::Counted;
            let (transition, ticket) = edge.state.presence.connected_with_ticket(&p.id, p.role);
            if transition == Transition::CameOnline {
                let _ = edge.presence.send((p.id.clone(), p.role));
            }
            ticket
        } else {
            None
        }
    };
    edge.state
        .presence
        .written(ticket, PRESENCE_WRITE_WAIT)
        .await;
    Ok(())
}

/// How long a handshake waits for its user's presence to be written to
/// PostgreSQL (cluster mode) before it goes on anyway.
const PRESENCE_WRITE_WAIT: Duration = Duration::from_secs(1);

/// The connect handler: the socket is connected; its user is online.
pub async fn connected(
    socket: SocketRef,
    State(edge): State<Arc<Edge>>,
    Extension(session): Extension<Arc<Session>>,
) {
    Metrics::inc(&edge.state.metrics.sockets_connected);
    let p = &session.principal;
    tracing::debug!(socket = %socket.id, user = %p.id, role = %p.role, "socket connected");
}

impl Edge {
    /// A socket ended: forget its joins, and its user went offline if it was
    /// their last.
    fn release(&self, socket: &SocketRef, session: &Session) {
        self.relay.gone(socket.clone());
        let p = &session.principal;
        if let Some(timer) = session.expiry.lock().expect("expiry lock poisoned").take() {
            timer.abort();
        }
        let mut presence = session
            .presence
            .lock()
            .expect("socket presence lock poisoned");
        let counted = *presence == SocketPresence::Counted;
        if *presence != SocketPresence::Released {
            self.sockets.remove(&p.id, p.role);
        }
        *presence = SocketPresence::Released;
        if counted {
            if let Transition::WentOffline(_) =
                self.state
                    .presence
                    .disconnected(&p.id, p.role, Timestamp::now())
            {
                let _ = self.presence.send((p.id.clone(), p.role));
            }
        }
    }

    /// Handles one client event and returns its ack.
    async fn handle(
        &self,
        event: ClientEvent,
        session: &Session,
        socket: &SocketRef,
        payload: Option<Value>,
    ) -> Ack {
        Metrics::inc(&self.state.metrics.socket_events);
        let p = &session.principal;
        if now_secs() >= p.expires_at {
            deliver::end(socket.clone());
            return ack_err(&ApiError::new(
                ErrorCode::Unauthorized,
                "the token has expired: connect again with a fresh one",
            ));
        }
        if !session.limiter.allow() {
            Metrics::inc(&self.state.metrics.socket_rate_limited);
            return ack_err(&ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} events per second on this socket; slow down",
                    self.events_per_second
                ),
            ));
        }
        if !event.is_typing() && !self.state.user_limit.allow(&p.id, p.role) {
            Metrics::inc(&self.state.metrics.socket_rate_limited);
            return ack_err(&ApiError::new(
                ErrorCode::RateLimited,
                "too many requests from this user (all sockets and REST together); slow down",
            ));
        }
        let result = match Request::parse(event, payload.as_ref()) {
            Ok(request) => self.execute(request, session, socket).await,
            Err(e) => Err(e),
        };
        result.unwrap_or_else(|e| {
            tracing::debug!(socket = %socket.id, event = event.name(), error = %e, "client event refused");
            ack_err(&e)
        })
    }

    async fn execute(
        &self,
        request: Request,
        session: &Session,
        socket: &SocketRef,
    ) -> Result<Ack, ApiError> {
        let p = &session.principal;
        let state = &self.state;
        match request {
            Request::Join {
                conversation,
                since_seq,
            } => {
                // Participants only; another's or an unknown conversation is
                // `not_found`, and nothing is joined.
                service::check_participant(state, p, conversation).await?;
                let joined = self
                    .relay
                    .join(socket.clone(), conversation, since_seq)
                    .await?;
                // `hasMore` only when the replay stopped at its bound, so
                // that the usual ack stays as it always was.
                let ack = if joined.has_more {
                    json!({
                        "conversationId": conversation,
                        "replayed": joined.replayed,
                        "hasMore": true,
                    })
                } else {
                    json!({
                        "conversationId": conversation,
                        "replayed": joined.replayed,
                    })
                };
                Ok(ack_ok(&ack))
            }
            Request::Leave { conversation } => {
                self.relay.leave(socket.clone(), conversation).await?;
                Ok(ack_ok(&json!({ "conversationId": conversation })))
            }
            Request::Typing {
                conversation,
                start,
            } => {
                if !state.typing_limit.allow(&p.id, p.role) {
                    // Coalesced: a participant still gets `user_stopped_typing`
                    // from the 5 s auto-stop at worst.
                    service::check_participant(state, p, conversation).await?;
                    Metrics::inc(&state.metrics.typing_coalesced);
                    return Ok(ack_ok(&()));
                }
                service::typing(state, p, conversation, start).await?;
                Ok(ack_ok(&()))
            }
            Request::Send(input) => {
                let (message, created) = service::send_message(state, p, input).await?;
                Ok(ack_sent(&message, !created))
            }
            Request::MarkRead {
                conversation,
                message,
            } => {
                let receipt = match message {
                    Some(m) => service::mark_read(state, p, Some(conversation), m).await?,
                    None => service::mark_all_read(state, p, conversation).await?,
                };
                Ok(ack_ok(&receipt))
            }
        }
    }
}

/// Announces presence changes, one user at a time in the order they came:
/// those of this node's sockets (`changes`), and, in cluster mode, those the
/// other nodes made (registered with [`crate::presence::Presence::set_announcer`]:
/// a user's first socket anywhere, their last one closing anywhere, a dead
/// node's users going offline).
///
/// It announces the user's presence as it is when the announcement is made,
/// not the transition that queued it: two transitions of one user (a last
/// tab closing while a new one opens) may be queued out of order by the
/// threads that saw them, and reading the current (cluster-wide) state makes
/// the last announcement always the true one.
pub async fn announce_presence(
    state: AppState,
    io: SocketIo,
    mut changes: mpsc::UnboundedReceiver<(UserId, Role)>,
) {
    let (remote_tx, mut remote) = mpsc::unbounded_channel();
    state.presence.set_announcer(remote_tx);
    loop {
        let (user, role) = tokio::select! {
            local = changes.recv() => match local {
                Some(change) => change,
                // The edge is shutting down.
                None => return,
            },
            Some(change) = remote.recv() => change,
        };
        let counterparts = match state.projections.counterparts(&user, role).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(user = %user, error = %e, "cannot find whom to tell about a presence change");
                continue;
            }
        };
        if counterparts.is_empty() {
            continue;
        }
        let (online, last_seen_at) = state.presence.status(&user, role);
        let (event, payload) = if online {
            (
                events::USER_ONLINE,
                PresencePayload {
                    user_id: user,
                    last_seen_at: None,
                },
            )
        } else {
            (
                events::USER_OFFLINE,
                PresencePayload {
                    user_id: user,
                    last_seen_at: Some(last_seen_at.unwrap_or_else(Timestamp::now)),
                },
            )
        };
        let payload = match serde_json::to_value(&payload) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a presence payload");
                continue;
            }
        };
        for socket in io.to(fanout::presence_rooms(role, &counterparts)).sockets() {
            deliver::emit(&socket, event, &payload);
        }
    }
}
