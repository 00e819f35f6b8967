//! The embedded log's writer failing, end to end: while it cannot write
//! (an injected full disk, see `SqliteStore::inject_fault`), sends answer
//! `503 unavailable` at once, `/healthz` answers 503 naming `log`, and
//! `/metrics` says `souk_log_available 0`; once the cause is gone everything
//! comes back by itself, with nothing recorded of the refused sends. A
//! panic in the writer fails one send, not the server.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use souk_api::app::open_store;
use souk_store::{SqliteStore, WriteFault};
use souk_tests::{code, Pair, TestServer};

/// A refused send answers within this (the old failure took 2 s a send).
const FAST: Duration = Duration::from_millis(500);

/// The longest the test waits for the server to change state.
const WAIT: Duration = Duration::from_secs(10);

async fn send(server: &TestServer, pair: &Pair, text: &str) -> (StatusCode, Value) {
    server
        .post(
            "/api/chat/send",
            &pair.customer,
            json!({ "conversationId": pair.conversation, "text": text }),
        )
        .await
}

async fn healthz(server: &TestServer) -> (StatusCode, Value) {
    server.call(Method::GET, "/healthz", None, None).await
}

async fn log_available(server: &TestServer) -> String {
    let (_, body) = server.call(Method::GET, "/metrics", None, None).await;
    let text = body.as_str().expect("the metrics text").to_owned();
    text.lines()
        .find(|l| l.starts_with("souk_log_available "))
        .expect("souk_log_available")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_cannot_write_is_reported_and_refuses_fast_until_it_can() {
    let mut log: Option<SqliteStore> = None;
    let server = TestServer::start_with(
        |_| {},
        |dir| {
            let store = open_store(dir).unwrap();
            log = Some(store.clone());
            Some(std::sync::Arc::new(store))
        },
    );
    let log = log.expect("the store was opened");
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "before").await;
    assert_eq!(healthz(&server).await.0, StatusCode::OK);
    assert_eq!(log_available(&server).await, "souk_log_available 1");

    log.inject_fault(Some(WriteFault::DiskFull));
    for i in 0..5 {
        let start = Instant::now();
        let (s, body) = send(&server, &pair, &format!("during {i}")).await;
        let took = start.elapsed();
        assert_eq!(
            (s, code(&body)),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{body}"
        );
        assert!(took < FAST, "refused after {took:?}");
    }
    let (s, body) = healthz(&server).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failing"], json!(["log"]), "{body}");
    assert_eq!(body["log"], "unavailable", "{body}");
    assert_eq!(log_available(&server).await, "souk_log_available 0");

    log.inject_fault(None);
    let start = Instant::now();
    while healthz(&server).await.0 != StatusCode::OK {
        assert!(start.elapsed() < WAIT, "healthz never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(log_available(&server).await, "souk_log_available 1");
    let after = pair.send(&server, true, "after").await;
    assert_eq!(after["seq"], 2, "nothing of the refused sends was recorded");

    // A panic in the writer: its send is refused, the next one goes
    // through (the log is not closed for good).
    log.inject_fault(Some(WriteFault::Panic));
    let (s, body) = send(&server, &pair, "panicking").await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{body}"
    );
    let next = pair.send(&server, true, "next").await;
    assert_eq!(next["seq"], 3);
    assert_eq!(healthz(&server).await.0, StatusCode::OK);
}
