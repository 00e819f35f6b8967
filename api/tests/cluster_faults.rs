//! A node that loses PostgreSQL (every connection cut by a proxy between
//! them, new ones refused): writes answer `503 unavailable`, `/healthz` is
//! 503 naming the log, `/metrics` shows the log unavailable, local presence
//! goes on; once the proxy lets connections through again the node resumes
//! by itself (writes, health, and the presence it gathered meanwhile reach
//! the other nodes). Needs `SOUK_TEST_PG_URL`.

mod cluster_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_support::*;
use serde_json::json;
use souk_api::app::spawn;
use souk_api::error::ErrorCode;
use souk_api::presence::Transition;
use souk_api::service::{self, OpenInput, SendInput};
use souk_domain::{Role, UserId};
use souk_store::postgres::testing::scratch_database;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(30);

/// A TCP proxy to PostgreSQL that can cut every connection and refuse new
/// ones, then let them through again.
struct Proxy {
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: String) -> (Self, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        (Self { up, links }, addr)
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `addr`; and the old host:port.
fn through(url: &str, addr: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let at = rest.find('@').map_or(0, |i| i + 1);
    let end = at + rest[at..].find(['/', '?']).unwrap_or(rest.len() - at);
    let upstream = rest[at..end].to_owned();
    (
        format!("{scheme}://{}{addr}{}", &rest[..at], &rest[end..]),
        upstream,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_loses_postgres_refuses_writes_says_so_and_resumes_by_itself() {
    let url = scratch_database().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (_, upstream) = through(&url, "x");
    let (proxy, proxy_addr) = Proxy::start(upstream).await;
    let (proxied, _) = through(&url, &proxy_addr);
    let lease = Duration::from_secs(3);
    let heartbeat = Duration::from_millis(250);
    let a = spawn(node_settings(
        &proxied,
        dir_a.path(),
        "fa",
        lease,
        heartbeat,
    ))
    .unwrap();
    let b = spawn(node_settings(&url, dir_b.path(), "fb", lease, heartbeat)).unwrap();

    let c = principal("c-1", Role::Customer);
    let open = OpenInput::parse(Role::Customer, &json!({ "vendorId": "v-1" })).unwrap();
    let (view, _) = service::open_conversation(&a.state, &c, open)
        .await
        .unwrap();
    let send = |text: &str| {
        SendInput::parse(&json!({ "conversationId": view.id.to_string(), "text": text })).unwrap()
    };
    service::send_message(&a.state, &c, send("before"))
        .await
        .unwrap();

    proxy.cut();
    let refused = service::send_message(&a.state, &c, send("during"))
        .await
        .expect_err("a write without PostgreSQL is refused");
    assert_eq!(refused.code, ErrorCode::Unavailable, "{refused:?}");

    let (status, body) = http_get(a.http_addr, "/healthz");
    assert_eq!(status, 503, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "unavailable");
    assert_eq!(health["log"], "unavailable");
    let failing = health["failing"].as_array().unwrap();
    assert!(failing.contains(&json!("log")), "{body}");
    let (_, metrics) = http_get(a.http_addr, "/metrics");
    assert!(metrics.contains("\nsouk_log_available 0\n"), "{metrics}");

    eventually("a's presence says it is out of step", WAIT, || {
        !a.state.presence.cluster().unwrap().is_available()
    })
    .await;
    let (_, metrics) = http_get(a.http_addr, "/metrics");
    assert!(
        metrics.contains("\nsouk_presence_available 0\n"),
        "{metrics}"
    );

    // Local presence goes on without the database.
    let u = UserId::parse("c-9").unwrap();
    assert_eq!(
        a.state.presence.connected(&u, Role::Customer),
        Transition::CameOnline
    );
    assert!(a.state.presence.status(&u, Role::Customer).0);
    assert!(!b.state.presence.status(&u, Role::Customer).0);

    proxy.restore();
    // Resumes by itself: the next writes succeed...
    let start = std::time::Instant::now();
    let after = loop {
        match service::send_message(&a.state, &c, send("after")).await {
            Ok((m, _)) => break m,
            Err(e) => {
                assert_eq!(e.code, ErrorCode::Unavailable, "{e:?}");
                assert!(start.elapsed() < WAIT, "still refused after {WAIT:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(after.seq, 2, "nothing was recorded of the refused write");
    // ...health comes back, and the other node learns of the user who came
    // online during the outage.
    eventually("a is healthy again", WAIT, || {
        http_get(a.http_addr, "/healthz").0 == 200
    })
    .await;
    eventually("b hears of a's user", WAIT, || {
        b.state.presence.status(&u, Role::Customer).0
    })
    .await;
    // a listens again: a user coming online through b reaches it.
    let w = UserId::parse("v-9").unwrap();
    b.state.presence.connected(&w, Role::Vendor);
    eventually("a hears of b's user", WAIT, || {
        a.state.presence.status(&w, Role::Vendor).0
    })
    .await;
    eventually("a's presence is in step again", WAIT, || {
        a.state.presence.cluster().unwrap().is_available()
    })
    .await;
    let end = a.state.store.last_position().await.unwrap();
    assert!(b.state.projections.wait_for(end, WAIT).await);
    let on_b = b.state.projections.message(after.id).await.unwrap();
    assert!(on_b.is_some());
    a.stop();
    b.stop();
}
