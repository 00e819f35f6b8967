//! The failure answers of docs/api.md that need a failing world: `429` from the
//! per-user rate limit, `503` when the log is gone, `409` when another writer
//! keeps moving a conversation on; none of them records anything, and the
//! server recovers when the failure ends.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::json;
use souk_api::app::open_store;
use souk_store::EventStore;
use souk_tests::{code, faulty_store, Fault, FaultyStore, Pair, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_over_the_rate_limit_gets_429_and_records_nothing() {
    let server = TestServer::start_with(|s| s.rest_rate_per_user = 5, |_| None);
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let before = server.store().last_position().await.unwrap();
    let sends = (0..30).map(|i| {
        server.post(
            "/api/chat/send",
            &pair.customer,
            json!({ "conversationId": pair.conversation, "text": format!("burst {i}") }),
        )
    });
    let answers = futures::future::join_all(sends).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count() as u64;
    let limited: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        created >= 1 && !limited.is_empty(),
        "{created} created, {} limited",
        limited.len()
    );
    assert_eq!(created as usize + limited.len(), 30);
    for (_, body) in &limited {
        assert_eq!(code(body), "rate_limited", "{body}");
    }
    assert_eq!(
        server.store().last_position().await.unwrap(),
        before + created,
        "only the accepted sends are recorded"
    );
    // Another user is not affected.
    let (s, _) = server.get("/api/vendor/chat/unread", &pair.vendor).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_log_answers_503_and_409_and_the_server_recovers() {
    let faulty: std::sync::Mutex<Option<Arc<FaultyStore>>> = std::sync::Mutex::new(None);
    let server = TestServer::start_with(
        |_| {},
        |dir| {
            let real: Arc<dyn EventStore> = Arc::new(open_store(dir).unwrap());
            let store = faulty_store(real);
            *faulty.lock().unwrap() = Some(store.clone());
            Some(store as Arc<dyn EventStore>)
        },
    );
    let faulty = faulty.lock().unwrap().clone().unwrap();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "before").await;
    let send = json!({ "conversationId": pair.conversation, "text": "during" });

    faulty.set(Fault::Unavailable);
    let (s, body) = server
        .post("/api/chat/send", &pair.customer, send.clone())
        .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{body}"
    );
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("injected"),
        "no internals leak: {body}"
    );
    let (s, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable")),
        "{body}"
    );
    assert_eq!(body["log"], "unavailable", "names the failing part: {body}");

    faulty.set(Fault::Conflict);
    let (s, body) = server
        .post("/api/chat/send", &pair.customer, send.clone())
        .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "{body}"
    );
    let (s, body) = server
        .put(
            &format!("/api/vendor/chat/{}/read", pair.conversation),
            &pair.vendor,
        )
        .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "{body}"
    );

    faulty.set(Fault::None);
    let after = pair.send(&server, true, "after").await;
    assert_eq!(after["seq"], 2, "nothing was recorded while the log failed");
    let (s, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, unread) = server.get("/api/vendor/chat/unread", &pair.vendor).await;
    assert_eq!(unread["total"], 2);
}
