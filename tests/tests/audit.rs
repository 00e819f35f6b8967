//! The participants' audit routes against a real server: `/events` items
//! carry their hash, `/state?at=` replays to a revision, `/transcript`
//! downloads a transcript that verifies offline; strangers get 404.

use reqwest::StatusCode;
use serde_json::Value;
use souk_api::audit::transcript::verify_file;
use souk_domain::Role;
use souk_tests::{code, Pair, TestServer};

/// A raw GET: status, headers and body bytes.
async fn download(
    server: &TestServer,
    path: &str,
    token: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_replays_the_conversation_to_any_revision() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await; // revision 0
    let first = pair.send(&server, true, "hello").await; // 1
    pair.send(&server, false, "hi").await; // 2
    let (status, _) = server
        .put(
            &format!(
                "/api/vendor/chat/message/{}/read",
                first["id"].as_str().unwrap()
            ),
            &pair.vendor,
        )
        .await; // 3
    assert_eq!(status, StatusCode::OK);
    let c = &pair.conversation;

    // /events: each event with its hash, chained (all distinct, 64 hex).
    let (status, log) = server
        .get(&format!("/api/chat/{c}/events"), &pair.customer)
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = log["events"].as_array().unwrap();
    let read_at = events
        .iter()
        .position(|e| e["type"] == "MessageRead")
        .expect("the read is recorded") as u64;
    for e in events {
        let hash = e["hash"].as_str().unwrap();
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    // Just before the read, the message is unread; at the read, it is read.
    let k = read_at - 1;
    let (status, before) = server
        .get(&format!("/api/vendor/chat/{c}/state?at={k}"), &pair.vendor)
        .await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["at"], k);
    assert_eq!(before["lastRevision"], events.len() as u64 - 1);
    assert_eq!(before["event"]["revision"], k);
    assert_eq!(before["event"]["hash"], events[k as usize]["hash"]);
    assert_eq!(before["chainValid"], true);
    assert_eq!(before["messages"][0]["text"], "hello");
    assert_eq!(before["messages"][0]["readAt"], Value::Null);
    assert_eq!(before["sides"]["vendor"]["unread"], 1);
    let (_, after) = server
        .get(&format!("/api/chat/{c}/state?at={read_at}"), &pair.customer)
        .await;
    assert!(after["messages"][0]["readAt"].is_string(), "{after}");
    assert_eq!(after["sides"]["vendor"]["unread"], 0);
    let (_, latest) = server
        .get(&format!("/api/chat/{c}/state"), &pair.customer)
        .await;
    assert_eq!(latest["at"], latest["lastRevision"]);

    // Bad revisions are 400, strangers 404, the other side's token 403.
    for bad in ["x", "-1", &events.len().to_string(), "99999999999999999999"] {
        let (status, body) = server
            .get(&format!("/api/chat/{c}/state?at={bad}"), &pair.customer)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "at={bad}: {body}");
        assert_eq!(code(&body), "invalid_request");
    }
    let stranger = server.token("c-2", Role::Customer, None);
    for route in [
        "state",
        "state?at=0",
        "transcript",
        "transcript?format=html",
    ] {
        let (status, body) = server
            .get(&format!("/api/chat/{c}/{route}"), &stranger)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{route}: {body}");
    }
    let (status, _) = server
        .get(&format!("/api/chat/{c}/state"), &pair.vendor)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_downloads_a_transcript_that_verifies() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "<script>alert(1)</script>").await;
    pair.send(&server, false, "no scripts here").await;
    let c = &pair.conversation;

    let (status, headers, json) = download(
        &server,
        &format!("/api/chat/{c}/transcript"),
        &pair.customer,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"conversation-{c}-transcript.json\"").as_str()
    );
    let verified = verify_file(&json).expect("the transcript verifies");
    let t = verified.transcript;
    assert_eq!(t.conversation.id, *c);
    assert_eq!(t.generated_by.id, "c-1");
    assert_eq!(t.events.len(), 3);
    let (_, log) = server
        .get(&format!("/api/chat/{c}/events"), &pair.customer)
        .await;
    assert_eq!(
        log["events"][2]["hash"].as_str().unwrap(),
        t.final_hash.to_string()
    );

    let (status, headers, html) = download(
        &server,
        &format!("/api/vendor/chat/{c}/transcript?format=html"),
        &pair.vendor,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"conversation-{c}-transcript.html\"").as_str()
    );
    let page = String::from_utf8(html.clone()).unwrap();
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!page.contains("<script>alert"));
    let from_page = verify_file(&html).expect("the page verifies").transcript;
    assert_eq!(from_page.generated_by.id, "v-1");
    assert_eq!(from_page.final_hash, t.final_hash);

    let (status, body) = server
        .get(
            &format!("/api/chat/{c}/transcript?format=pdf"),
            &pair.customer,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
