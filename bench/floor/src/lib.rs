//! The floor of souk's benchmark: the socket layer souk is built on
//! (socketioxide on hyper and tokio, jemalloc in the binary, the versions
//! of souk's Cargo.lock) relaying the chat events the benchmark drives, in
//! memory, with token checks and nothing else. Nothing is durable, no
//! history is kept, no projection runs: whatever souk spends per message
//! beyond what this server spends is the price of what souk adds.
//!
//! The socket layer is configured as souk's edge configures it
//! (`api/src/edge/server.rs`): 64 KiB payloads, 1,024 queued packets per
//! socket, a 1 KiB WebSocket read buffer, `TCP_NODELAY`. REST and Socket.IO
//! share one port.
//!
//! - [`auth`]: HS256 tokens.
//! - [`chat`]: conversations, unread counts, messages serialized once.
//! - [`socket`]: the handshake, `join_chat_room`, `send_message`.
//! - [`rest`]: `POST {side}/conversation` and `POST {side}/send`.
#![forbid(unsafe_code)]

pub mod auth;
pub mod chat;
pub mod rest;
pub mod socket;

use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::auth::Keys;
use crate::chat::{chat_room, personal_room, Chat, Sent};
use crate::socket::Notification;

/// Largest event or request body.
const MAX_PAYLOAD: usize = 64 * 1024;
/// Packets queued per socket (as souk's edge).
const QUEUE_PACKETS: usize = 1024;
/// WebSocket read buffer per socket (as souk's edge).
const WS_READ_BUFFER: usize = 1024;

/// What every handler shares.
pub struct Floor {
    pub keys: Keys,
    pub chat: Chat,
    io: OnceLock<SocketIo>,
}

impl Floor {
    pub fn new(secret: &str) -> Self {
        Self {
            keys: Keys::new(secret),
            chat: Chat::default(),
            io: OnceLock::new(),
        }
    }

    /// Emits a sent message: `receive_message` to its room (the sender's
    /// sockets included), `new_chat_message` to the recipient's personal
    /// room. The message was serialized once; each emit writes one packet
    /// for all its sockets.
    pub async fn relay(&self, sent: &Sent) {
        let Some(io) = self.io.get() else { return };
        let _ = io
            .within(chat_room(sent.conversation_id))
            .emit("receive_message", &sent.message)
            .await;
        let (role, id) = &sent.recipient;
        let _ = io
            .within(personal_room(*role, id))
            .emit(
                "new_chat_message",
                &Notification {
                    conversation_id: sent.conversation_id,
                    message: &sent.message,
                    unread_count: sent.unread_count,
                    total_unread: sent.total_unread,
                },
            )
            .await;
    }
}

/// Serves REST and Socket.IO on `listener` until `shutdown` resolves, then
/// closes every socket.
pub async fn serve(
    listener: TcpListener,
    secret: &str,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let floor = Arc::new(Floor::new(secret));
    let rest = {
        let floor = floor.clone();
        tower::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let floor = floor.clone();
            async move { Ok::<_, Infallible>(rest::handle(floor, req).await) }
        })
    };
    let (service, io) = SocketIo::builder()
        .with_state(floor.clone())
        .max_payload(MAX_PAYLOAD as u64)
        .ws_max_message_size(MAX_PAYLOAD)
        .ws_max_frame_size(MAX_PAYLOAD)
        .max_buffer_size(QUEUE_PACKETS)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .build_with_inner_svc(rest);
    io.ns("/", socket::connected.with(socket::authenticate));
    let _ = floor.io.set(io.clone());

    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, say: try again shortly.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let service = TowerToHyperService::new(service.clone());
                connections.spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), io.close()).await;
    connections.abort_all();
    Ok(())
}
