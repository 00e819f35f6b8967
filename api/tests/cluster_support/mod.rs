//! What the in-process cluster tests share: nodes over one scratch
//! PostgreSQL database (on the server named by `SOUK_TEST_PG_URL`), each
//! with its own data directory, principals, bounded waits, and a bare HTTP
//! GET.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use souk_api::app::{spawn, Spawned};
use souk_api::auth::Principal;
use souk_api::config::Settings;
use souk_domain::{Role, UserId};

/// The secret every node of a test cluster shares.
pub const SECRET: &str = "cluster-test-secret-0123456789";

/// Settings of a cluster node over `url` in `dir`.
pub fn node_settings(
    url: &str,
    dir: &Path,
    node_id: &str,
    lease: Duration,
    heartbeat: Duration,
) -> Settings {
    let mut s = Settings::for_tests(dir.to_path_buf());
    s.log.log_url = Some(url.to_owned());
    s.secret.jwt_secret = Some(SECRET.to_owned());
    s.node_id = Some(node_id.to_owned());
    s.presence_lease = lease;
    s.presence_heartbeat = heartbeat;
    s
}

/// A node with the default (long) presence lease.
pub fn node(url: &str, dir: &Path, node_id: &str) -> Spawned {
    spawn(node_settings(
        url,
        dir,
        node_id,
        Duration::from_secs(15),
        Duration::from_secs(5),
    ))
    .expect("the node starts")
}

pub fn principal(id: &str, role: Role) -> Principal {
    Principal {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
        expires_at: u64::MAX,
    }
}

/// Waits until `check` holds, polling every 10 ms, for at most `limit`;
/// answers how long it took, or panics naming `what`.
pub async fn eventually(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what}: still not true after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `GET path` on `addr`: the status and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, dechunk(&body))
}

/// The body of a chunked answer, or the body as is.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, after)) = rest.split_once("\r\n") else {
            return body.to_owned();
        };
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            return body.to_owned();
        };
        if n == 0 {
            return out;
        }
        if after.len() < n {
            return body.to_owned();
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
}
