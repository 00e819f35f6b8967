//! Emitting to sockets without ever waiting for one.
//!
//! socketioxide queues each socket's outgoing packets in a bounded channel
//! (`max_buffer_size` packets) and an emit fails at once when it is full. A
//! socket whose queue is full is not reading fast enough: rather than wait
//! for it (which would stall every other socket behind the relay) or drop an
//! event silently (which would leave its client with a gap it cannot see),
//! the socket is **evicted**: marked so that nothing more is emitted to it,
//! and disconnected. Its client reconnects and rejoins with `sinceSeq`, which
//! replays what it missed. The disconnect packet itself needs room in the
//! full queue, which a client that stopped reading never makes: so a
//! WebSocket's connection is cut ([`super::cut`]), and a long-polling
//! socket (whose queue is no TCP buffer) is left to engine.io's heartbeat.

use std::sync::Arc;
use std::time::Duration;

use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError, SocketIo};

use super::cut::CutSwitch;
use super::fanout::Delivery;

/// Marks an evicted socket (in its extensions).
#[derive(Clone, Copy, Debug)]
pub struct Evicted;

/// How often, and how long, the disconnect of an evicted polling socket is
/// retried.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);
const DISCONNECT_ATTEMPTS: u32 = 300;

/// How long a WebSocket that was sent its disconnect packet has before its
/// connection is cut anyway.
pub const CUT_GRACE: Duration = Duration::from_millis(500);

/// What became of one emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The socket is closed or was evicted before.
    Skipped,
    /// Its queue was full: it is evicted now.
    Evicted,
}

pub fn is_evicted(socket: &SocketRef) -> bool {
    socket.extensions.get::<Evicted>().is_some()
}

/// Emits `event` to one socket; evicts it if its queue is full.
pub fn emit<T: serde::Serialize + ?Sized>(socket: &SocketRef, event: &str, payload: &T) -> Outcome {
    if is_evicted(socket) {
        return Outcome::Skipped;
    }
    match socket.emit(event, payload) {
        Ok(()) => Outcome::Sent,
        Err(SendError::Socket(SocketError::InternalChannelFull)) => {
            evict(socket, event);
            Outcome::Evicted
        }
        Err(SendError::Socket(SocketError::Closed)) => Outcome::Skipped,
        Err(e) => {
            tracing::error!(socket = %socket.id, event, error = %e, "cannot emit");
            Outcome::Skipped
        }
    }
}

/// Marks `socket` evicted and ends it: a disconnect packet if its queue has
/// room, and, for a WebSocket, its connection cut (at once when the packet
/// cannot be queued, after [`CUT_GRACE`] otherwise), so that a client that
/// stopped reading does not keep its buffers on the server.
pub fn evict(socket: &SocketRef, event: &str) {
    if socket.extensions.insert(Evicted).is_some() {
        return;
    }
    tracing::warn!(
        socket = %socket.id,
        event,
        "a socket's outgoing queue is full: the client is too slow; disconnecting it (it will rejoin with sinceSeq)"
    );
    end(socket.clone());
}

/// Ends a socket from the server's side: see [`evict`]. Also used when a
/// socket's token expires.
pub fn end(socket: SocketRef) {
    let switch = connection_switch(&socket);
    tokio::spawn(async move {
        let queued = socket.clone().disconnect().is_ok();
        match switch {
            Some(switch) => {
                if queued {
                    // Let a client that still reads have the reason.
                    tokio::time::sleep(CUT_GRACE).await;
                }
                switch.cut();
            }
            // Long-polling: no connection of ours to cut; retry the packet,
            // and engine.io's heartbeat closes a client that stopped polling.
            None if !queued => {
                for _ in 0..DISCONNECT_ATTEMPTS {
                    tokio::time::sleep(DISCONNECT_RETRY).await;
                    match socket.clone().disconnect() {
                        Err(SocketError::InternalChannelFull) => {}
                        Ok(()) | Err(_) => return,
                    }
                }
                tracing::warn!(socket = %socket.id, "a polling socket still cannot be told to disconnect; leaving it to the heartbeat");
            }
            None => {}
        }
    });
}

/// The switch of the connection that carries a WebSocket socket.
fn connection_switch(socket: &SocketRef) -> Option<Arc<CutSwitch>> {
    if socket.transport_type() != socketioxide::TransportType::Websocket {
        return None;
    }
    socket
        .req_parts()
        .extensions
        .get::<Arc<CutSwitch>>()
        .cloned()
}

/// The sockets a delivery is for: in a room of `to`, in none of `except`,
/// each once.
pub fn recipients(io: &SocketIo, d: &Delivery) -> Vec<SocketRef> {
    io.to(d.to.clone()).except(d.except.clone()).sockets()
}
