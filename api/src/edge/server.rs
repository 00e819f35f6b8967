//! The edge's runtime and HTTP server: a tokio multi-thread runtime in its
//! own OS thread, a hyper HTTP/1.1 accept loop (with upgrades, for
//! WebSockets) serving socketioxide behind the CORS layer, and the shutdown
//! that closes every socket before the runtime goes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tower::{ServiceBuilder, ServiceExt};

use super::cors::OriginPolicy;
use super::cut::Cuttable;
use super::relay;
use super::session::{self, Edge};
use super::EdgeConfig;
use crate::state::AppState;

/// Packets queued per socket before it counts as too slow (see
/// [`super::deliver`]). socketioxide's default (128) is small for a client
/// that receives a burst (a busy room, many conversations) over a slow link.
const QUEUE_PACKETS: usize = 1024;
/// The WebSocket read buffer per socket. tungstenite zero-fills it before
/// each read, so all of it is resident for every idle socket: 1 KiB holds a
/// chat event in one read (a larger frame grows it as needed) and saves
/// 3 KiB per socket against the default 4 KiB (BENCHMARKS.md, "Memory per
/// socket").
const WS_READ_BUFFER: usize = 1024;
/// How long shutdown waits for sockets to close and connections to end.
const DRAIN: Duration = Duration::from_secs(3);
/// Pause after a failed accept (out of file descriptors, say), so the loop
/// does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The request headers the Socket.IO layer reads after the CORS check:
/// engineioxide answers a WebSocket upgrade from `sec-websocket-key` and
/// tells polling bodies apart by `content-type`; the others are kept for
/// whoever inspects a socket's request (tracing, a future handler).
const KEPT_HEADERS: [HeaderName; 8] = [
    header::HOST,
    header::ORIGIN,
    header::CONNECTION,
    header::UPGRADE,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
];

/// Slims a request down to what the Socket.IO layer needs, copied out of
/// the connection's read buffer.
///
/// engineioxide keeps every socket's request parts for as long as the
/// socket lives (`socket.req_parts()`). hyper parses the URI and the header
/// values as slices of its 8 KiB per-connection buffer, so without the copy
/// every connected socket kept that buffer alive after the WebSocket
/// upgrade (BENCHMARKS.md, "Memory per socket"). And a browser sends a
/// dozen headers nobody reads after the handshake (user agent, languages,
/// its cookies: tokens are never cookies here), which would be kept per
/// socket too: only [`KEPT_HEADERS`] are. The CORS check, which reads
/// `origin`, runs before this. A few hundred bytes copied per handshake or
/// polling request.
fn detach<B>(mut req: hyper::Request<B>) -> hyper::Request<B> {
    if let Ok(uri) = req.uri().to_string().parse() {
        *req.uri_mut() = uri;
    }
    let count = KEPT_HEADERS
        .iter()
        .map(|name| req.headers().get_all(name).iter().count())
        .sum();
    let mut kept = HeaderMap::with_capacity(count);
    for name in KEPT_HEADERS {
        for value in req.headers().get_all(&name) {
            if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
                copy.set_sensitive(value.is_sensitive());
                kept.append(name.clone(), copy);
            }
        }
    }
    *req.headers_mut() = kept;
    req
}

/// Starts a runtime in a new thread and serves `listener` on it until
/// `shutdown`. Returns once the relay is subscribed and connections are
/// being accepted.
pub fn spawn(
    state: AppState,
    listener: std::net::TcpListener,
    config: EdgeConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let origins = OriginPolicy::from_config(&config.cors_origins)?;
    listener
        .set_nonblocking(true)
        .context("while configuring the Socket.IO listener")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("souk-edge-worker")
        .enable_all()
        .build()
        .context("while starting the Socket.IO runtime")?;
    let listener = {
        let _entered = runtime.enter();
        TcpListener::from_std(listener).context("while adopting the Socket.IO listener")?
    };
    let (ready, is_ready) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("souk-edge".into())
        .spawn(move || {
            runtime.block_on(serve(state, listener, config, origins, shutdown, ready));
            runtime.shutdown_timeout(DRAIN);
        })
        .context("while starting the Socket.IO thread")?;
    is_ready
        .recv()
        .context("the Socket.IO thread stopped while starting")?;
    Ok(thread)
}

async fn serve(
    state: AppState,
    listener: TcpListener,
    config: EdgeConfig,
    origins: OriginPolicy,
    mut shutdown: watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let (relay, inbox) = relay::channel();
    let (presence, presence_rx) = mpsc::unbounded_channel();
    let edge = Arc::new(Edge {
        state: state.clone(),
        relay,
        presence,
        events_per_second: config.events_per_second,
        burst: config.burst,
        sockets: session::SocketCounts::default(),
        max_sockets_per_user: config.max_sockets_per_user.max(1),
    });
    let max_payload = config.max_payload_bytes.max(1024);
    let (service, io) = SocketIo::builder()
        .with_state(edge)
        .max_payload(max_payload as u64)
        .ws_max_message_size(max_payload)
        .ws_max_frame_size(max_payload)
        .max_buffer_size(QUEUE_PACKETS)
        .ws_read_buffer_size(WS_READ_BUFFER)
        .build_svc();
    io.ns("/", session::connected.with(session::authenticate));
    let service = ServiceBuilder::new()
        .layer(origins.layer())
        .map_request(detach)
        .service(service);

    let mut background = JoinSet::new();
    background.spawn(inbox.start(state.clone(), io.clone(), shutdown.clone()));
    background.spawn(session::announce_presence(state, io.clone(), presence_rx));
    let _ = ready.send(());

    let mut connections = JoinSet::new();
    let (drain, drain_rx) = watch::channel(false);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    // Chat packets are small and should leave at once.
                    let _ = stream.set_nodelay(true);
                    // The switch rides in every request of the connection,
                    // so that an evicted socket's transport can be cut.
                    let (stream, switch) = Cuttable::new(stream);
                    let service = TowerToHyperService::new(service.clone().map_request(
                        move |mut req: hyper::Request<hyper::body::Incoming>| {
                            req.extensions_mut().insert(switch.clone());
                            req
                        },
                    ));
                    let mut drain = drain_rx.clone();
                    connections.spawn(async move {
                        let conn = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        tokio::pin!(conn);
                        let ended = tokio::select! {
                            ended = conn.as_mut() => ended,
                            _ = drain.changed() => {
                                // Finish the request in flight, then close
                                // (an idle keep-alive connection closes now).
                                conn.as_mut().graceful_shutdown();
                                conn.await
                            }
                        };
                        if let Err(e) = ended {
                            tracing::debug!(%peer, error = %e, "Socket.IO connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Socket.IO accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    tracing::info!(
        sockets = io.sockets().len(),
        "Socket.IO edge shutting down; closing sockets"
    );
    if tokio::time::timeout(DRAIN, io.close()).await.is_err() {
        tracing::warn!("some sockets did not close in time");
    }
    let _ = drain.send(true);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    background.abort_all();
    while background.join_next().await.is_some() {}
    tracing::info!("Socket.IO edge stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `inner` lies inside `outer`'s memory.
    fn within(inner: &[u8], outer: &[u8]) -> bool {
        let o = outer.as_ptr_range();
        let i = inner.as_ptr_range();
        o.start <= i.start && i.end <= o.end
    }

    #[test]
    fn a_request_keeps_nothing_of_the_connection_buffer() {
        // As hyper builds it: the URI and the header values are slices of
        // the buffer the request was read into.
        let buffer = hyper::body::Bytes::from(
            b"/socket.io/?EIO=4&transport=websocket|http://localhost:5173|dGhlIHNhbXBsZSBub25jZQ=="
                .to_vec(),
        );
        let uri = hyper::Uri::from_maybe_shared(buffer.slice(0..37)).unwrap();
        let origin = HeaderValue::from_maybe_shared(buffer.slice(38..59)).unwrap();
        let mut key = HeaderValue::from_maybe_shared(buffer.slice(60..84)).unwrap();
        key.set_sensitive(true);
        let req = hyper::Request::builder()
            .uri(uri)
            .header("origin", origin)
            .header("sec-websocket-key", key)
            .body(())
            .unwrap();
        assert!(within(req.headers()["origin"].as_bytes(), &buffer));
        assert!(within(req.uri().path().as_bytes(), &buffer));

        let req = detach(req);
        assert_eq!(req.uri(), "/socket.io/?EIO=4&transport=websocket");
        assert_eq!(req.uri().query(), Some("EIO=4&transport=websocket"));
        assert_eq!(req.headers()["origin"], "http://localhost:5173");
        assert_eq!(
            req.headers()["sec-websocket-key"],
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert!(req.headers()["sec-websocket-key"].is_sensitive());
        assert!(!within(req.headers()["origin"].as_bytes(), &buffer));
        assert!(!within(
            req.headers()["sec-websocket-key"].as_bytes(),
            &buffer
        ));
        assert!(!within(req.uri().path().as_bytes(), &buffer));
        assert!(!within(req.uri().query().unwrap().as_bytes(), &buffer));
    }

    #[test]
    fn a_request_keeps_only_the_headers_the_socket_layer_reads() {
        let req = hyper::Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket")
            .header("host", "127.0.0.1:8081")
            .header("connection", "Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-extensions", "permessage-deflate")
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
            .header("accept-language", "en-GB,en;q=0.9")
            .header("cookie", "session=abc")
            .header("cookie", "_ga=GA1.1.1")
            .body(())
            .unwrap();
        let req = detach(req);
        let mut names: Vec<&str> = req.headers().keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "connection",
                "host",
                "sec-websocket-key",
                "sec-websocket-version",
                "upgrade"
            ]
        );
        // Repeated headers of the kept kinds stay whole.
        let req = detach(
            hyper::Request::builder()
                .header("connection", "keep-alive")
                .header("connection", "Upgrade")
                .body(())
                .unwrap(),
        );
        assert_eq!(req.headers().get_all("connection").iter().count(), 2);
    }
}
