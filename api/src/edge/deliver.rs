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
//! full queue, so it is retried for a while; engine.io's heartbeat closes a
//! transport that stays stuck anyway (its ping cannot be queued either).

use std::time::Duration;

use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError, SocketIo};

use super::fanout::Delivery;

/// Marks an evicted socket (in its extensions).
#[derive(Clone, Copy, Debug)]
pub struct Evicted;

/// How often, and how long, the disconnect of an evicted socket is retried.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);
const DISCONNECT_ATTEMPTS: u32 = 300;

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

/// Marks `socket` evicted and disconnects it (now, or as soon as its queue
/// has room for the disconnect packet).
pub fn evict(socket: &SocketRef, event: &str) {
    if socket.extensions.insert(Evicted).is_some() {
        return;
    }
    tracing::warn!(
        socket = %socket.id,
        event,
        "a socket's outgoing queue is full: the client is too slow; disconnecting it (it will rejoin with sinceSeq)"
    );
    let socket = socket.clone();
    tokio::spawn(async move {
        for _ in 0..DISCONNECT_ATTEMPTS {
            match socket.clone().disconnect() {
                Err(SocketError::InternalChannelFull) => tokio::time::sleep(DISCONNECT_RETRY).await,
                Ok(()) | Err(_) => return,
            }
        }
        tracing::warn!(socket = %socket.id, "an evicted socket still cannot be told to disconnect; leaving it to the heartbeat");
    });
}

/// The sockets a delivery is for: in a room of `to`, in none of `except`,
/// each once.
pub fn recipients(io: &SocketIo, d: &Delivery) -> Vec<SocketRef> {
    io.to(d.to.clone()).except(d.except.clone()).sockets()
}
