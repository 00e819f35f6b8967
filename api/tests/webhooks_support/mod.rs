//! A webhook receiver for the tests: a small HTTP/1.1 server on a loopback
//! port that records every request it reads and answers as told: `200`,
//! another status, slowly, or not at all (its port closed: [`Receiver::down`]
//! closes the listener and every open connection, [`Receiver::up`] listens
//! on the same port again).

// Each test binary uses part of it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the receiver answers one request.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub status: u16,
    /// Waits this long before answering.
    pub delay: Duration,
}

impl Answer {
    pub const OK: Answer = Answer {
        status: 200,
        delay: Duration::ZERO,
    };

    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
        }
    }

    pub fn slow(delay: Duration) -> Self {
        Self { status: 200, delay }
    }
}

/// One request as read.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub attempt: String,
    pub body: String,
    pub json: Value,
    /// The status it was answered with.
    pub answered: u16,
}

#[derive(Default)]
struct Script {
    /// Answers for the next requests, in turn.
    next: VecDeque<Answer>,
    /// Then this one.
    otherwise: Option<Answer>,
    received: Vec<Received>,
}

pub struct Receiver {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listening on a free port, answering 200.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let server = Some(tokio::spawn(serve(listener, script.clone())));
        Self {
            addr,
            script,
            server,
        }
    }

    /// A receiver whose port is closed (it was free a moment ago).
    pub async fn start_down() -> Self {
        let mut r = Self::start().await;
        r.down().await;
        r
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    /// Closes the port and every connection.
    pub async fn down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        self.down().await;
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.server = Some(tokio::spawn(serve(listener, self.script.clone())));
    }

    /// Answers every request after the scripted ones with `answer`.
    pub fn answer(&self, answer: Answer) {
        self.script.lock().unwrap().otherwise = Some(answer);
    }

    /// Answers the next requests with these, in turn.
    pub fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().unwrap().next.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().unwrap().received.clone()
    }

    /// The requests answered with 200.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.answered == 200)
            .collect()
    }

    /// Waits until `done` holds of the received requests, at most `within`.
    pub async fn wait(&self, within: Duration, what: &str, done: impl Fn(&[Received]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.received()) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {within:?} for {what}; received: {:#?}",
                    self.received()
                        .iter()
                        .map(|r| (&r.id, r.answered, &r.attempt))
                        .collect::<Vec<_>>()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

async fn serve(listener: TcpListener, script: Arc<Mutex<Script>>) {
    // Dropped with this task: aborting the server closes every connection.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        connections.spawn(connection(stream, script.clone()));
        while connections.try_join_next().is_some() {}
    }
}

/// Serves the requests of one keep-alive connection.
async fn connection(stream: TcpStream, script: Arc<Mutex<Script>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            match read.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            headers.push(line);
        }
        let header = |name: &str| {
            headers
                .iter()
                .skip(1)
                .filter_map(|h| h.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let length: usize = header("content-length").parse().unwrap_or(0);
        let mut body = vec![0; length];
        if read.read_exact(&mut body).await.is_err() {
            return;
        }
        let body = String::from_utf8(body).unwrap();
        let answer = {
            let mut s = script.lock().unwrap();
            let answer = s.next.pop_front().or(s.otherwise).unwrap_or(Answer::OK);
            s.received.push(Received {
                id: header("souk-webhook-id"),
                timestamp: header("souk-webhook-timestamp"),
                signature: header("souk-webhook-signature"),
                attempt: header("souk-webhook-attempt"),
                json: serde_json::from_str(&body).unwrap_or(Value::Null),
                body,
                answered: answer.status,
            });
            answer
        };
        tokio::time::sleep(answer.delay).await;
        let reply = format!("HTTP/1.1 {} X\r\ncontent-length: 0\r\n\r\n", answer.status);
        if write.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Checks a request's signature as a receiver would, with its own HMAC:
/// `v1=hex(hmac_sha256(secret, "{timestamp}.{body}"))`, and the timestamp
/// within five minutes of now.
pub fn check_signature(secret: &str, r: &Received) {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", r.timestamp, r.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        r.signature,
        format!("v1={expected}"),
        "signature of {}",
        r.id
    );
    let ts: i64 = r.timestamp.parse().expect("a Unix time in seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 300, "timestamp {ts} is recent");
}

pub fn position(id: &str) -> u64 {
    id.split_once('-').unwrap().0.parse().unwrap()
}

/// What every test asks of what the receiver got: each request signed, its
/// header id the body's, one body per id; every expected id accepted; per
/// conversation, accepted in log order (a repeat of the previous one
/// aside).
pub fn check_deliveries(secret: &str, received: &[Received], expected: &[(String, String)]) {
    let mut bodies: BTreeMap<&str, &str> = BTreeMap::new();
    for r in received {
        check_signature(secret, r);
        assert_eq!(r.json["id"], r.id.as_str(), "the header id is the body's");
        let kind = r.id.split_once('-').unwrap().1;
        assert_eq!(r.json["type"], kind);
        let first = bodies.entry(&r.id).or_insert(&r.body);
        assert_eq!(*first, r.body, "one id, one body: {}", r.id);
    }
    let accepted: Vec<&Received> = received.iter().filter(|r| r.answered == 200).collect();
    let got: BTreeSet<&str> = accepted.iter().map(|r| r.id.as_str()).collect();
    let want: BTreeSet<&str> = expected.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, want, "every event delivered, nothing else");
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for r in accepted {
        let conversation = r.json["conversationId"].as_str().unwrap().to_owned();
        let p = position(&r.id);
        let previous = last.insert(conversation.clone(), p).unwrap_or(0);
        assert!(
            p >= previous,
            "in order in {conversation}: {p} after {previous}"
        );
    }
}
