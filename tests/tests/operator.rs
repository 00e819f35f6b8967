//! Operators (docs/api.md, "Operators"): the support staff find a
//! conversation by participant and read it with a reason; every read is a
//! `SupportAccessed` event in the conversation's log, which its
//! participants see; a repeat within 15 minutes is one access; bad input,
//! other tokens and a failing log record nothing and show nothing; and an
//! operator's token writes nothing on the chat routes.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use souk_api::app::open_store;
use souk_domain::UserId;
use souk_store::EventStore;
use souk_tests::{code, faulty_store, Fault, FaultyStore, Pair, TestServer};

/// An operator's token.
fn operator_token(server: &TestServer, id: &str, name: Option<&str>) -> String {
    server
        .keys()
        .mint_operator(&UserId::parse(id).unwrap(), name, Duration::from_secs(3600))
        .unwrap()
}

/// `GET path` as `token`: the status, the `Souk-Support-Access` header and
/// the body (JSON, or the text as a JSON string).
async fn read(
    server: &TestServer,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Option<String>, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", server.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let access = res
        .headers()
        .get("souk-support-access")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, access, body)
}

/// The conversation's recorded events as a participant sees them.
async fn events(server: &TestServer, pair: &Pair) -> Vec<Value> {
    let (status, body) = server
        .get(
            &format!("/api/chat/{}/events?limit=1000", pair.conversation),
            &pair.customer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// The `SupportAccessed` payloads among them.
fn accesses(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "SupportAccessed")
        .map(|e| e["data"].clone())
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_and_reads_a_conversation_and_the_participants_see_it() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let other = Pair::open(&server, "c-2", "v-1").await;
    pair.send(&server, true, "is the bike still for sale?")
        .await;
    pair.send(&server, false, "yes").await;
    other.send(&server, true, "hello").await;
    let sam = operator_token(&server, "o-sam", Some("Sam Reyes, support"));
    let reason = "ticket 4711: refund dispute";

    // Found by participant, as customer (one) and as vendor (both).
    let (status, access, found) = read(
        &server,
        &format!(
            "/api/operator/conversations?participant=c-1&reason={}",
            encode(reason)
        ),
        Some(&sam),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(access, None, "the search records nothing");
    let ids: Vec<&str> = found["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pair.conversation.as_str()]);
    let first = &found["conversations"][0];
    assert_eq!(first["customer"]["id"], "c-1");
    assert_eq!(first["vendor"]["id"], "v-1");
    // The search records no access, so it shows no message.
    assert!(first.get("lastMessage").is_none(), "{first}");
    assert!(first.get("unreadCount").is_none(), "{first}");
    assert_eq!(found["hasMore"], false);
    let (_, _, by_vendor) = read(
        &server,
        &format!(
            "/api/operator/conversations?participant=v-1&reason={}",
            encode(reason)
        ),
        Some(&sam),
    )
    .await;
    let ids: Vec<&str> = by_vendor["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [other.conversation.as_str(), pair.conversation.as_str()]
    );
    assert!(accesses(&events(&server, &pair).await).is_empty());

    // Reading it records the access first, then answers.
    let (status, access, body) = read(
        &server,
        &format!(
            "/api/operator/conversations/{}?reason={}",
            pair.conversation,
            encode(reason)
        ),
        Some(&sam),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(access.as_deref(), Some("recorded"));
    assert_eq!(body["conversation"]["id"], pair.conversation.as_str());
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["is the bike still for sale?", "yes"]);
    assert_eq!(body["hasMore"], false);

    // Both participants see it in the log: who, why, which view, when.
    let seen = events(&server, &pair).await;
    let last = seen.last().unwrap();
    assert_eq!(last["type"], "SupportAccessed");
    assert_eq!(
        last["data"]["operator"],
        json!({ "id": "o-sam", "name": "Sam Reyes, support" })
    );
    assert_eq!(last["data"]["reason"], reason);
    assert_eq!(last["data"]["view"], "conversation");
    assert!(last["data"]["at"].is_string());
    let (_, vendor_view) = server
        .get(
            &format!("/api/vendor/chat/{}/events", pair.conversation),
            &pair.vendor,
        )
        .await;
    assert_eq!(accesses(vendor_view["events"].as_array().unwrap()).len(), 1);

    // It changed no figure of the participants.
    let (_, unread) = server.get("/api/chat/unread", &pair.customer).await;
    assert_eq!(unread["total"], 1);
    let (_, list) = server
        .get("/api/vendor/chat/conversations", &pair.vendor)
        .await;
    assert_eq!(list["conversations"][0]["id"], other.conversation.as_str());
    // The other conversation was not read: nothing recorded there.
    let (_, others) = server
        .get(
            &format!("/api/chat/{}/events", other.conversation),
            &other.customer,
        )
        .await;
    assert!(accesses(others["events"].as_array().unwrap()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_within_15_minutes_is_one_access_and_another_reason_is_another() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "hi").await;
    let sam = operator_token(&server, "o-sam", None);
    let path = |view: &str, reason: &str| {
        format!(
            "/api/operator/conversations/{}{view}?reason={}",
            pair.conversation,
            encode(reason)
        )
    };

    let (s, access, _) = read(&server, &path("", "ticket 1"), Some(&sam)).await;
    assert_eq!((s, access.as_deref()), (StatusCode::OK, Some("recorded")));
    let after_first = server.store().last_position().await.unwrap();
    // The same reason again, through every view: one access.
    for view in ["", "/events", "/state", "/transcript"] {
        let (s, access, body) = read(&server, &path(view, "ticket 1"), Some(&sam)).await;
        assert_eq!(s, StatusCode::OK, "{view}: {body}");
        assert_eq!(access.as_deref(), Some("repeat"), "{view}");
    }
    // Surrounding spaces do not make another reason.
    let (_, access, _) = read(&server, &path("", "  ticket 1 "), Some(&sam)).await;
    assert_eq!(access.as_deref(), Some("repeat"));
    assert_eq!(server.store().last_position().await.unwrap(), after_first);
    assert_eq!(accesses(&events(&server, &pair).await).len(), 1);

    // Another reason, or another operator, is another access.
    let (_, access, _) = read(&server, &path("/events", "ticket 2"), Some(&sam)).await;
    assert_eq!(access.as_deref(), Some("recorded"));
    let kim = operator_token(&server, "o-kim", Some("Kim"));
    let (_, access, _) = read(&server, &path("/state", "ticket 1"), Some(&kim)).await;
    assert_eq!(access.as_deref(), Some("recorded"));
    let recorded = accesses(&events(&server, &pair).await);
    let summary: Vec<(&str, &str, &str)> = recorded
        .iter()
        .map(|a| {
            (
                a["operator"]["id"].as_str().unwrap(),
                a["reason"].as_str().unwrap(),
                a["view"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("o-sam", "ticket 1", "conversation"),
            ("o-sam", "ticket 2", "events"),
            ("o-kim", "ticket 1", "state"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_view_is_recorded_with_its_name_and_shows_the_access_itself() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "hi").await;
    let sam = operator_token(&server, "o-sam", Some("Sam"));
    let base = format!("/api/operator/conversations/{}", pair.conversation);

    let (s, _, page) = read(
        &server,
        &format!("{base}/events?reason=events+view"),
        Some(&sam),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let listed = page["events"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "start, message, and this access: {page}");
    assert_eq!(listed[2]["data"]["view"], "events");
    assert_eq!(page["next"], Value::Null);
    let (_, _, paged) = read(
        &server,
        &format!("{base}/events?reason=events+view&from=1&limit=1"),
        Some(&sam),
    )
    .await;
    assert_eq!(paged["events"][0]["type"], "MessageSent");
    assert_eq!(paged["next"], 2);

    let (s, _, state) = read(
        &server,
        &format!("{base}/state?reason=state+view"),
        Some(&sam),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{state}");
    assert_eq!(state["at"], 3);
    assert_eq!(state["event"]["type"], "SupportAccessed");
    assert_eq!(state["event"]["data"]["view"], "state");
    assert_eq!(state["messages"][0]["text"], "hi");
    let (_, _, earlier) = read(
        &server,
        &format!("{base}/state?reason=state+view&at=1"),
        Some(&sam),
    )
    .await;
    assert_eq!(earlier["at"], 1);
    assert_eq!(earlier["event"]["type"], "MessageSent");

    let (s, _, transcript) = read(
        &server,
        &format!("{base}/transcript?reason=transcript+view"),
        Some(&sam),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{transcript}");
    let last = transcript["events"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["type"], "SupportAccessed");
    assert!(last["data"].as_str().unwrap().contains("\"transcript\""));
    assert_eq!(transcript["generatedBy"]["id"], "o-sam");
    assert_eq!(transcript["generatedBy"]["role"], "operator");
    let (s, _, html) = read(
        &server,
        &format!("{base}/transcript?reason=transcript+view&format=html"),
        Some(&sam),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.as_str().unwrap().contains("<html"));

    let views: Vec<String> = accesses(&events(&server, &pair).await)
        .iter()
        .map(|a| a["view"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(views, ["events", "state", "transcript"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_other_tokens_record_nothing() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "hi").await;
    let sam = operator_token(&server, "o-sam", None);
    let base = format!("/api/operator/conversations/{}", pair.conversation);
    let before = server.store().last_position().await.unwrap();

    // The reason: missing, too short, too long, several lines.
    let long = "x".repeat(501);
    for query in [
        String::new(),
        "?reason=".into(),
        "?reason=ab".into(),
        "?reason=%20%20ab%20%20".into(),
        format!("?reason={long}"),
        "?reason=line%0Abreak".into(),
    ] {
        for view in ["", "/events", "/state", "/transcript"] {
            let (s, access, body) =
                read(&server, &format!("{base}{view}{query}"), Some(&sam)).await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{view}{query}: {body}");
            assert_eq!(code(&body), "invalid_request");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("reason"),
                "{body}"
            );
            assert_eq!(access, None);
        }
    }
    let (s, _, body) = read(
        &server,
        "/api/operator/conversations?participant=c-1",
        Some(&sam),
    )
    .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (s, _, body) = read(
        &server,
        "/api/operator/conversations?reason=why",
        Some(&sam),
    )
    .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{body}"
    );
    // Other parameters are checked before anything is recorded.
    for bad in [
        format!("{base}/state?reason=why&at=99"),
        format!("{base}/state?reason=why&at=soon"),
        format!("{base}/transcript?reason=why&format=pdf"),
        format!("{base}/events?reason=why&limit=0"),
        format!("{base}?reason=why&limit=101"),
        "/api/operator/conversations/not-a-uuid?reason=why".into(),
    ] {
        let (s, _, body) = read(&server, &bad, Some(&sam)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // A conversation that does not exist: 404, and no stream is made.
    let unknown = uuid::Uuid::new_v4();
    let (s, _, body) = read(
        &server,
        &format!("/api/operator/conversations/{unknown}/events?reason=why"),
        Some(&sam),
    )
    .await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::NOT_FOUND, "not_found"),
        "{body}"
    );

    // Participants' tokens: 403; no token or a bad one: 401.
    for token in [&pair.customer, &pair.vendor] {
        for path in [
            format!("{base}?reason=why"),
            "/api/operator/conversations?participant=c-1&reason=why".into(),
        ] {
            let (s, _, body) = read(&server, &path, Some(token)).await;
            assert_eq!(
                (s, code(&body)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{path}: {body}"
            );
        }
    }
    let (s, _, body) = read(&server, &format!("{base}?reason=why"), None).await;
    assert_eq!((s, code(&body)), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let (s, _, _) = read(&server, &format!("{base}?reason=why"), Some("not.a.token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    assert_eq!(server.store().last_position().await.unwrap(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_token_writes_nothing_on_the_chat_routes() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let sent = pair.send(&server, true, "hi").await;
    let sam = operator_token(&server, "o-sam", None);
    let before = server.store().last_position().await.unwrap();
    let message = sent["id"].as_str().unwrap();
    let id = &pair.conversation;
    for scope in ["/api/chat", "/api/vendor/chat"] {
        let writes = [
            (
                Method::POST,
                format!("{scope}/send"),
                Some(json!({ "conversationId": id, "text": "as support" })),
            ),
            (
                Method::POST,
                format!("{scope}/conversation"),
                Some(json!({ "vendorId": "v-1", "customerId": "c-1" })),
            ),
            (Method::PUT, format!("{scope}/{id}/read"), None),
            (Method::PUT, format!("{scope}/message/{message}/read"), None),
            (Method::GET, format!("{scope}/{id}/messages"), None),
            (Method::GET, format!("{scope}/{id}/events"), None),
            (Method::GET, format!("{scope}/conversations"), None),
            (Method::GET, format!("{scope}/unread"), None),
        ];
        for (method, path, body) in writes {
            let (s, answer) = server
                .call(
                    method.clone(),
                    &path,
                    Some(&sam),
                    body.map(souk_tests::Body::Json),
                )
                .await;
            assert_eq!(
                (s, code(&answer)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{method} {path}: {answer}"
            );
            assert!(
                answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("/api/operator"),
                "{answer}"
            );
        }
    }
    let (s, answer) = server.get("/api/vendor/analytics", &sam).await;
    assert_eq!((s, code(&answer)), (StatusCode::FORBIDDEN, "forbidden"));
    assert_eq!(server.store().last_position().await.unwrap(), before);
    // The participants' view is as it was.
    let (_, unread) = server.get("/api/vendor/chat/unread", &pair.vendor).await;
    assert_eq!(unread["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_record_the_access_shows_nothing() {
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
    pair.send(&server, true, "a secret").await;
    let sam = operator_token(&server, "o-sam", None);
    let base = format!("/api/operator/conversations/{}", pair.conversation);

    faulty.set(Fault::Unavailable);
    for view in ["", "/events", "/state", "/transcript"] {
        let (s, access, body) = read(
            &server,
            &format!("{base}{view}?reason=ticket+9"),
            Some(&sam),
        )
        .await;
        assert_eq!(
            (s, code(&body)),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{view}: {body}"
        );
        assert_eq!(access, None);
        assert!(!body.to_string().contains("a secret"), "{body}");
    }
    faulty.set(Fault::Conflict);
    let (s, _, body) = read(&server, &format!("{base}?reason=ticket+9"), Some(&sam)).await;
    assert_eq!(
        (s, code(&body)),
        (StatusCode::CONFLICT, "conflict"),
        "{body}"
    );
    assert!(!body.to_string().contains("a secret"));

    faulty.set(Fault::None);
    assert!(accesses(&events(&server, &pair).await).is_empty());
    let (s, access, body) = read(&server, &format!("{base}?reason=ticket+9"), Some(&sam)).await;
    assert_eq!(
        (s, access.as_deref()),
        (StatusCode::OK, Some("recorded")),
        "{body}"
    );
    assert_eq!(body["messages"][0]["text"], "a secret");
}
