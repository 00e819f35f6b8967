//! The Socket.IO edge: the sockets of browsers and apps, and the relay that
//! tells them what the log recorded.
//!
//! socketioxide needs a tokio multi-thread runtime and a hyper server of its
//! own, while REST runs on actix's arbiters; so the edge runs on **its own
//! runtime in its own OS thread**, serving its own listener (WebSocket and
//! HTTP long-polling, namespace `/`, path `/socket.io`). It shares only
//! cloneable `Send` handles with the rest of the server ([`AppState`]).
//!
//! Inbound, a client event is rate-limited, parsed into a typed request and
//! run through the very operations REST uses ([`crate::service`]): a message
//! sent over a socket and one sent over REST take the same path to the log.
//! Outbound, nothing is emitted from a request handler: the [`relay`] turns
//! each recorded event, once the projections applied it, into server events
//! for the rooms concerned (see [`fanout`]), so a client never hears of a
//! message that a crash could lose, and its figures agree with REST.
//!
//! # Layout
//! - [`server`]: the runtime, the hyper accept loop, CORS, shutdown.
//! - [`session`]: the handshake (token), personal room, client events,
//!   presence announcements.
//! - [`request`]: client event names, payload parsing, ack shapes.
//! - [`relay`]: the ordered relay of the live feed (one gap-free stream
//!   from the projections), sequenced with joins.
//! - [`catch_up`]: a join's replay of the messages missed after `sinceSeq`,
//!   bounded.
//! - [`book`]: the relay's bookkeeping of catch-ups (held events,
//!   watermarks), pure.
//! - [`fanout`]: notification to (event, rooms, payload), pure.
//! - [`deliver`]: non-blocking emits; slow sockets are evicted.
//! - [`cut`]: connections that can be ended from outside (an evicted
//!   socket's transport is cut, not left to the peer).
//! - [`rate`]: the per-socket token bucket.
//! - [`rooms`]: room names.
//! - [`cors`]: which browser origins may connect.

pub mod book;
pub mod catch_up;
pub mod cors;
pub mod cut;
pub mod deliver;
pub mod fanout;
pub mod rate;
pub mod relay;
pub mod request;
pub mod rooms;
pub mod server;
pub mod session;

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context;
use tokio::sync::watch;

use crate::state::AppState;

/// Settings of the edge.
#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Browser origins allowed (CORS). Empty: any origin on the same host as
    /// the request's `Host` (the web app, served from the REST port of the
    /// same host); `*`: any. See [`cors`].
    pub cors_origins: Vec<String>,
    /// The largest packet a client may send (WebSocket message or polling
    /// body); a bigger one closes the connection.
    pub max_payload_bytes: usize,
    /// Client events per second per socket, on average...
    pub events_per_second: u32,
    /// ...with bursts of up to this many.
    pub burst: u32,
    /// Sockets one user may hold at once on this edge.
    pub max_sockets_per_user: usize,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            cors_origins: Vec::new(),
            max_payload_bytes: 64 * 1024,
            events_per_second: 20,
            burst: 50,
            max_sockets_per_user: 20,
        }
    }
}

/// The running edge. Dropping it shuts it down too.
pub struct EdgeHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl EdgeHandle {
    /// The address the edge serves.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Closes every socket (clients get a disconnect), stops the server and
    /// its runtime thread, and joins it.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("the Socket.IO edge thread panicked");
            }
        }
    }
}

impl Drop for EdgeHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the edge on `listener` (already bound; port 0 works) and returns
/// once the relay is subscribed and the server accepts connections.
pub fn start(
    state: AppState,
    listener: std::net::TcpListener,
    config: EdgeConfig,
) -> anyhow::Result<EdgeHandle> {
    let local_addr = listener
        .local_addr()
        .context("while reading the Socket.IO listener's address")?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let thread = server::spawn(state, listener, config, shutdown_rx)?;
    tracing::info!(addr = %local_addr, "Socket.IO edge listening");
    Ok(EdgeHandle {
        local_addr,
        shutdown,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    /// What sockets hear comes from one place, the projections' live feed:
    /// no file of the edge reads the event log or holds a handle to it
    /// (inbound requests reach the log through `crate::service` only).
    #[test]
    fn the_edge_never_touches_the_event_store() {
        let files = [
            ("book.rs", include_str!("book.rs")),
            ("catch_up.rs", include_str!("catch_up.rs")),
            ("cors.rs", include_str!("cors.rs")),
            ("cut.rs", include_str!("cut.rs")),
            ("deliver.rs", include_str!("deliver.rs")),
            ("fanout.rs", include_str!("fanout.rs")),
            ("mod.rs", include_str!("mod.rs")),
            ("rate.rs", include_str!("rate.rs")),
            ("relay.rs", include_str!("relay.rs")),
            ("request.rs", include_str!("request.rs")),
            ("rooms.rs", include_str!("rooms.rs")),
            ("server.rs", include_str!("server.rs")),
            ("session.rs", include_str!("session.rs")),
        ];
        // Spelt in pieces, so that this file does not name them itself.
        let forbidden = [
            concat!("souk", "_store"),
            concat!("Event", "Store"),
            concat!(".sto", "re."),
            concat!("state", ".store"),
        ];
        for (name, text) in files {
            for word in forbidden {
                assert!(!text.contains(word), "edge/{name} uses {word}");
            }
        }
        // Every file of the edge is listed above.
        let listed: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/edge");
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(found, listed);
    }
}
