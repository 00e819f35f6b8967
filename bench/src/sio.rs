//! A minimal Socket.IO v4 client over engine.io v4's WebSocket transport.
//!
//! # Why not a client crate
//!
//! `rust_socketio` (the maintained Socket.IO client crate) starts with HTTP
//! long-polling and upgrades, keeps a reconnection machine and a callback
//! registry per client, and dispatches every event through boxed futures on
//! spawned tasks. That is right for an application and wrong for a load
//! generator that shares two cores with the server it measures and holds
//! 10,000+ sockets: every microsecond the generator spends is taken from the
//! server, and the time of arrival must be read the moment a frame is read,
//! not after a hop through a callback task. The wire protocol for what the
//! benchmark needs is small:
//!
//! | frame | meaning |
//! | --- | --- |
//! | `0{"sid":..,"pingInterval":..}` | engine.io open (server → client) |
//! | `2` / `3` | engine.io ping (server) / pong (client) |
//! | `40{"token":"..."}` | Socket.IO connect to `/` with `auth` (client) |
//! | `40{"sid":".."}` / `44{"message":".."}` | connected / `connect_error` |
//! | `42["event",payload]`, `42<id>["event",payload]` | event, with an ack id |
//! | `43<id>[reply]` | the ack of event `<id>` |
//!
//! So this module speaks exactly that, WebSocket transport only (as
//! `io(url, { transports: ["websocket"] })` does), with one task per socket
//! that reads frames, answers pings, and writes queued frames in batches.
//! Binary packets and namespaces other than `/` are not needed and are
//! reported as [`Packet::Other`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a connection or a request failed.
#[derive(Debug, thiserror::Error)]
pub enum SioError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("connect refused by the server: {0}")]
    Refused(String),
    #[error("the connection closed")]
    Closed,
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("unexpected frame during the handshake: {0}")]
    Protocol(String),
}

/// One engine.io text frame, decoded as far as the benchmark needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Engine.io open, with its JSON handshake.
    Open(&'a str),
    Close,
    Ping,
    Pong,
    Noop,
    /// Socket.IO connected to `/` (the JSON with the socket id).
    Connect(&'a str),
    /// Socket.IO connect refused (the JSON error).
    ConnectError(&'a str),
    Disconnect,
    /// An event: its name, its ack id if any, and the whole JSON array
    /// (`["name",payload,...]`).
    Event {
        name: &'a str,
        ack: Option<u64>,
        array: &'a str,
    },
    /// The ack of an event we emitted: its id and the JSON array of replies.
    Ack {
        id: u64,
        array: &'a str,
    },
    /// Anything else (binary events, other namespaces, upgrades).
    Other(&'a str),
}

/// Decodes one text frame.
pub fn parse(frame: &str) -> Packet<'_> {
    let mut chars = frame.char_indices();
    let Some((_, eio)) = chars.next() else {
        return Packet::Other(frame);
    };
    let rest = &frame[1..];
    match eio {
        '0' => Packet::Open(rest),
        '1' => Packet::Close,
        '2' => Packet::Ping,
        '3' => Packet::Pong,
        '6' => Packet::Noop,
        '4' => parse_socketio(rest),
        _ => Packet::Other(frame),
    }
}

fn parse_socketio(msg: &str) -> Packet<'_> {
    let Some(kind) = msg.chars().next() else {
        return Packet::Other(msg);
    };
    let rest = &msg[1..];
    // A namespace other than `/` starts with `/`; this client uses only `/`.
    if rest.starts_with('/') {
        return Packet::Other(msg);
    }
    match kind {
        '0' => Packet::Connect(rest),
        '1' => Packet::Disconnect,
        '4' => Packet::ConnectError(rest),
        '2' | '3' => {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let id = if digits > 0 {
                match rest[..digits].parse::<u64>() {
                    Ok(id) => Some(id),
                    Err(_) => return Packet::Other(msg),
                }
            } else {
                None
            };
            let array = &rest[digits..];
            if !array.starts_with('[') {
                return Packet::Other(msg);
            }
            if kind == '3' {
                match id {
                    Some(id) => Packet::Ack { id, array },
                    None => Packet::Other(msg),
                }
            } else {
                match event_name(array) {
                    Some(name) => Packet::Event {
                        name,
                        ack: id,
                        array,
                    },
                    None => Packet::Other(msg),
                }
            }
        }
        _ => Packet::Other(msg),
    }
}

/// The name of an event array `["name",...]` (event names here never hold
/// escapes, so the name ends at the next quote).
fn event_name(array: &str) -> Option<&str> {
    let inner = array.strip_prefix("[\"")?;
    let end = inner.find('"')?;
    let name = &inner[..end];
    (!name.contains('\\')).then_some(name)
}

/// The frame of an event with a JSON payload (`payload` is JSON text).
pub fn event_frame(event: &str, ack: Option<u64>, payload: &str) -> String {
    let mut frame = String::with_capacity(8 + event.len() + payload.len() + 20);
    frame.push_str("42");
    if let Some(id) = ack {
        frame.push_str(&id.to_string());
    }
    frame.push_str("[\"");
    frame.push_str(event);
    frame.push_str("\",");
    frame.push_str(payload);
    frame.push(']');
    frame
}

/// The value of a string field `"name":"value"` in compact JSON, without
/// parsing the document (both servers write compact JSON; values looked up
/// this way are ids without escapes).
pub fn string_field<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(at) = json[from..].find(name) {
        let start = from + at;
        let before = start.checked_sub(1).map(|i| json.as_bytes()[i]);
        let after = &json[start + name.len()..];
        if before == Some(b'"') {
            if let Some(value) = after.strip_prefix("\":\"") {
                let end = value.find('"')?;
                return Some(&value[..end]);
            }
        }
        from = start + name.len();
    }
    None
}

/// What a socket's handler is told about.
#[derive(Debug)]
pub enum Inbound<'a> {
    /// A server event, read at `at`.
    Event {
        name: &'a str,
        array: &'a str,
        at: Instant,
    },
    /// The ack of an event emitted with [`Connection::emit`] and an id.
    Ack {
        id: u64,
        array: &'a str,
        at: Instant,
    },
    /// The connection ended (once, last).
    Closed,
}

/// Ack ids from here up are [`Connection::request`]s, awaited by the caller;
/// lower ones go to the handler.
const REQUEST_IDS: u64 = 1 << 48;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<String>>>>;

/// A connected socket: a cheap handle that queues frames for its task.
#[derive(Clone)]
pub struct Connection {
    tx: mpsc::UnboundedSender<String>,
    pending: Pending,
    next_request: Arc<std::sync::atomic::AtomicU64>,
}

impl Connection {
    /// Queues an event (`payload` is JSON text). False when the socket is
    /// gone. Callable from any thread.
    pub fn emit(&self, event: &str, ack: Option<u64>, payload: &str) -> bool {
        debug_assert!(ack.is_none_or(|id| id < REQUEST_IDS));
        self.tx.send(event_frame(event, ack, payload)).is_ok()
    }

    /// Emits an event with an ack and waits for the ack's JSON array.
    pub async fn request(
        &self,
        event: &str,
        payload: &str,
        timeout: Duration,
    ) -> Result<String, SioError> {
        let id = REQUEST_IDS
            + self
                .next_request
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("the pending map is never poisoned")
            .insert(id, tx);
        if self.tx.send(event_frame(event, Some(id), payload)).is_err() {
            return Err(SioError::Closed);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(SioError::Closed),
            Err(_) => {
                self.pending
                    .lock()
                    .expect("the pending map is never poisoned")
                    .remove(&id);
                Err(SioError::Timeout(timeout))
            }
        }
    }

    /// Asks the task to close the WebSocket (queued after earlier frames).
    pub fn close(&self) {
        let _ = self.tx.send(String::new());
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The headers Chromium sends with a WebSocket upgrade from a page, beside
/// those every WebSocket client sends, with a modest first-party cookie (a
/// session id and an analytics id): what a browser's socket costs a server
/// that keeps its request, unlike this generator's bare requests.
pub const BROWSER_HEADERS: &[(&str, &str)] = &[
    ("pragma", "no-cache"),
    ("cache-control", "no-cache"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    ),
    ("origin", "http://127.0.0.1"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-GB,en-US;q=0.9,en;q=0.8,fr;q=0.7"),
    (
        "sec-websocket-extensions",
        "permessage-deflate; client_max_window_bits",
    ),
    (
        "cookie",
        "session=7f3c9a1e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e; \
         _ga=GA1.1.1234567890.1795000000; _ga_X1Y2Z3=GS1.1.1795000000.4.1.1795000123.0.0.0; \
         consent=analytics%3Dyes%26marketing%3Dno; locale=en-GB; currency=EUR",
    ),
];

/// Connects to `url` (`ws://host:port`) sending `headers` with the upgrade
/// request, handshakes with `auth` (JSON text, e.g. `{"token":"..."}`), and
/// spawns the socket's task, which calls `handler` for every event and
/// unrequested ack, and [`Inbound::Closed`] at the end.
pub async fn connect<H>(
    url: &str,
    auth: &str,
    headers: &[(&'static str, &'static str)],
    timeout: Duration,
    handler: H,
) -> Result<(Connection, JoinHandle<()>), SioError>
where
    H: FnMut(Inbound<'_>) + Send + 'static,
{
    let endpoint = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        url.trim_end_matches('/')
    );
    let ws = tokio::time::timeout(timeout, handshake(&endpoint, auth, headers))
        .await
        .map_err(|_| SioError::Timeout(timeout))??;
    let (tx, rx) = mpsc::unbounded_channel();
    let pending: Pending = Arc::default();
    let task = tokio::spawn(run(ws, rx, pending.clone(), handler));
    Ok((
        Connection {
            tx,
            pending,
            next_request: Arc::default(),
        },
        task,
    ))
}

async fn handshake(
    endpoint: &str,
    auth: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<Ws, SioError> {
    let mut request = endpoint.into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    // Chat frames are small and must leave at once.
    if let MaybeTlsStream::Plain(s) = ws.get_ref() {
        let _ = s.set_nodelay(true);
    }
    let mut opened = false;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        let Message::Text(text) = msg else {
            continue;
        };
        match parse(text.as_str()) {
            Packet::Open(_) if !opened => {
                opened = true;
                ws.send(Message::text(format!("40{auth}"))).await?;
            }
            Packet::Ping => ws.send(Message::text("3")).await?,
            Packet::Connect(_) if opened => return Ok(ws),
            Packet::ConnectError(e) => return Err(SioError::Refused(e.to_owned())),
            _ => return Err(SioError::Protocol(text.as_str().to_owned())),
        }
    }
    Err(SioError::Closed)
}

async fn run<H>(
    mut ws: Ws,
    mut rx: mpsc::UnboundedReceiver<String>,
    pending: Pending,
    mut handler: H,
) where
    H: FnMut(Inbound<'_>) + Send + 'static,
{
    'conn: loop {
        tokio::select! {
            biased;
            msg = ws.next() => {
                let Some(Ok(msg)) = msg else { break 'conn };
                let Message::Text(text) = msg else {
                    if msg.is_close() { break 'conn }
                    continue;
                };
                let at = Instant::now();
                match parse(text.as_str()) {
                    // A ping is answered in the guard; a failed answer ends
                    // the socket, a sent one falls through to `_`.
                    Packet::Ping if ws.send(Message::text("3")).await.is_err() => break 'conn,
                    Packet::Event { name, array, .. } => handler(Inbound::Event { name, array, at }),
                    Packet::Ack { id, array } if id >= REQUEST_IDS => {
                        let waiter = pending.lock().expect("the pending map is never poisoned").remove(&id);
                        if let Some(w) = waiter {
                            let _ = w.send(array.to_owned());
                        }
                    }
                    Packet::Ack { id, array } => handler(Inbound::Ack { id, array, at }),
                    Packet::Close | Packet::Disconnect => break 'conn,
                    _ => {}
                }
            }
            out = rx.recv() => {
                let Some(frame) = out else { break 'conn };
                if frame.is_empty() {
                    let _ = ws.close(None).await;
                    break 'conn;
                }
                // Write everything already queued, then flush once.
                if ws.feed(Message::text(frame)).await.is_err() { break 'conn }
                while let Ok(frame) = rx.try_recv() {
                    if frame.is_empty() {
                        let _ = ws.close(None).await;
                        break 'conn;
                    }
                    if ws.feed(Message::text(frame)).await.is_err() { break 'conn }
                }
                if ws.flush().await.is_err() { break 'conn }
            }
        }
    }
    pending
        .lock()
        .expect("the pending map is never poisoned")
        .clear();
    handler(Inbound::Closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_io_frames() {
        assert_eq!(parse("0{\"sid\":\"x\"}"), Packet::Open("{\"sid\":\"x\"}"));
        assert_eq!(parse("2"), Packet::Ping);
        assert_eq!(parse("3"), Packet::Pong);
        assert_eq!(parse("1"), Packet::Close);
        assert_eq!(parse("6"), Packet::Noop);
        assert_eq!(parse(""), Packet::Other(""));
        assert_eq!(parse("5"), Packet::Other("5"));
    }

    #[test]
    fn socket_io_packets() {
        assert_eq!(
            parse("40{\"sid\":\"a\"}"),
            Packet::Connect("{\"sid\":\"a\"}")
        );
        assert_eq!(
            parse("44{\"message\":\"unauthorized\"}"),
            Packet::ConnectError("{\"message\":\"unauthorized\"}")
        );
        assert_eq!(parse("41"), Packet::Disconnect);
        assert_eq!(
            parse("42[\"receive_message\",{\"seq\":1}]"),
            Packet::Event {
                name: "receive_message",
                ack: None,
                array: "[\"receive_message\",{\"seq\":1}]"
            }
        );
        assert_eq!(
            parse("4217[\"ping_me\"]"),
            Packet::Event {
                name: "ping_me",
                ack: Some(17),
                array: "[\"ping_me\"]"
            }
        );
        assert_eq!(
            parse("43281474976710656[{\"ok\":true}]"),
            Packet::Ack {
                id: 281474976710656,
                array: "[{\"ok\":true}]"
            }
        );
        // Other namespaces, binary events, acks without ids, bad arrays.
        assert!(matches!(parse("42/admin,[\"x\"]"), Packet::Other(_)));
        assert!(matches!(parse("451-[\"x\",{}]"), Packet::Other(_)));
        assert!(matches!(parse("43[{}]"), Packet::Other(_)));
        assert!(matches!(parse("42{}"), Packet::Other(_)));
        assert!(matches!(parse("42[1,2]"), Packet::Other(_)));
        assert!(matches!(
            parse("4299999999999999999999[\"x\"]"),
            Packet::Other(_)
        ));
    }

    #[test]
    fn frames_round_trip() {
        let f = event_frame("send_message", Some(5), "{\"text\":\"hi\"}");
        assert_eq!(f, "425[\"send_message\",{\"text\":\"hi\"}]");
        assert_eq!(
            parse(&f),
            Packet::Event {
                name: "send_message",
                ack: Some(5),
                array: "[\"send_message\",{\"text\":\"hi\"}]"
            }
        );
        assert_eq!(event_frame("x", None, "{}"), "42[\"x\",{}]");
    }

    #[test]
    fn string_fields_of_compact_json() {
        let m = r#"["receive_message",{"id":"1","text":"clientMessageId","clientMessageId":"b42","sender":{"id":"c","role":"customer"}}]"#;
        assert_eq!(string_field(m, "clientMessageId"), Some("b42"));
        assert_eq!(string_field(m, "role"), Some("customer"));
        assert_eq!(string_field(m, "id"), Some("1"));
        assert_eq!(string_field(m, "missing"), None);
        assert_eq!(
            string_field(r#"{"clientMessageId":null}"#, "clientMessageId"),
            None
        );
        assert_eq!(
            string_field(r#"{"xid":"no","id":"yes"}"#, "id"),
            Some("yes")
        );
    }
}
