//! Every REST route of docs/api.md, for both sides, with its failures, against a
//! real server on port 0.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use souk_api::auth::Claims;
use souk_domain::Role;
use souk_tests::{code, Body, Pair, TestServer};

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn event_count(server: &TestServer) -> u64 {
    server.store().last_position().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_on_every_route() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let routes: Vec<(Method, String)> = vec![
        (Method::POST, "/api/chat/conversation".into()),
        (Method::GET, "/api/chat/conversations".into()),
        (
            Method::GET,
            format!("/api/chat/{}/messages", pair.conversation),
        ),
        (Method::POST, "/api/chat/send".into()),
        (
            Method::PUT,
            format!("/api/chat/message/{}/read", uuid::Uuid::now_v7()),
        ),
        (Method::PUT, format!("/api/chat/{}/read", pair.conversation)),
        (Method::GET, "/api/chat/unread".into()),
        (
            Method::GET,
            format!("/api/chat/{}/events", pair.conversation),
        ),
        (Method::GET, "/api/vendor/chat/conversations".into()),
        (Method::GET, "/api/vendor/analytics".into()),
    ];
    let forged = souk_api::auth::TokenKeys::new(b"not-the-server-secret")
        .mint(
            &souk_domain::UserId::parse("c-1").unwrap(),
            Role::Customer,
            None,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let expired = server.signed(&Claims {
        sub: "c-1".into(),
        role: "customer".into(),
        name: None,
        exp: now_secs() - 5,
    });
    let before = event_count(&server).await;
    for (method, path) in &routes {
        for token in [
            None,
            Some("garbage"),
            Some(forged.as_str()),
            Some(expired.as_str()),
        ] {
            let (status, body) = server
                .call(method.clone(), path, token, Some(Body::Json(json!({}))))
                .await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}: {body}"
            );
            assert_eq!(code(&body), "unauthorized");
            assert!(body["error"]["message"].is_string());
        }
    }
    // A token of the other side gets 403.
    for (method, path) in &routes {
        let token = if path.starts_with("/api/vendor") {
            &pair.customer
        } else {
            &pair.vendor
        };
        let (status, body) = server
            .call(
                method.clone(),
                path,
                Some(token),
                Some(Body::Json(json!({}))),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(code(&body), "forbidden");
    }
    assert_eq!(
        event_count(&server).await,
        before,
        "refused requests record nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_conversation_per_pair_from_either_side() {
    let server = TestServer::start();
    let customer = server.token("c-42", Role::Customer, Some("Alice"));
    let vendor = server.token("v-7", Role::Vendor, Some("Bolt Bikes"));
    let product = json!({ "id": "p-1", "name": "Red bike", "priceMinor": 49999, "currency": "EUR",
        "imageUrl": "https://img.example/p-1.jpg", "url": "https://shop.example/p-1" });
    let (status, first) = server
        .post("/api/chat/conversation", &customer, json!({ "vendorId": "v-7", "vendorName": "Bolt Bikes", "product": product, "extra": "ignored" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(first["customer"]["id"], "c-42");
    assert_eq!(first["customer"]["name"], "Alice");
    assert_eq!(first["vendor"]["id"], "v-7");
    assert_eq!(first["vendor"]["name"], "Bolt Bikes");
    assert_eq!(first["vendor"]["online"], false);
    assert_eq!(first["product"], product);
    assert_eq!(first["lastMessage"], Value::Null);
    assert_eq!(first["unreadCount"], 0);
    assert_eq!(first["createdAt"], first["updatedAt"]);
    assert!(first["createdAt"].as_str().unwrap().ends_with('Z'));

    let (status, again) = server
        .post(
            "/api/chat/conversation",
            &customer,
            json!({ "vendorId": "v-7" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["product"], product, "the first product stays");

    let (status, from_vendor) = server
        .post(
            "/api/vendor/chat/conversation",
            &vendor,
            json!({ "customerId": "c-42" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(from_vendor["id"], first["id"]);

    // Both sides open a new pair at the same instant: one conversation.
    let c2 = server.token("c-43", Role::Customer, None);
    let v2 = server.token("v-8", Role::Vendor, None);
    let (a, b) = tokio::join!(
        server.post("/api/chat/conversation", &c2, json!({ "vendorId": "v-8" })),
        server.post(
            "/api/vendor/chat/conversation",
            &v2,
            json!({ "customerId": "c-43" })
        ),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
    assert_eq!(a.1["id"], b.1["id"]);
    assert_eq!(
        a.1["vendor"]["name"], "v-8",
        "no name recorded: the id stands in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error_and_records_nothing() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let before = event_count(&server).await;
    let conv = pair.conversation.clone();
    let cases: Vec<(&str, Body, StatusCode, &str)> = vec![
        (
            "/api/chat/conversation",
            Body::Raw("{not json".into()),
            StatusCode::BAD_REQUEST,
            "malformed",
        ),
        (
            "/api/chat/conversation",
            Body::Raw("[1,2]".into()),
            StatusCode::BAD_REQUEST,
            "object",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({})),
            StatusCode::BAD_REQUEST,
            "vendorId",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": 7 })),
            StatusCode::BAD_REQUEST,
            "vendorId",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v 1" })),
            StatusCode::BAD_REQUEST,
            "vendorId",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v-2", "vendorName": 1 })),
            StatusCode::BAD_REQUEST,
            "vendorName",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v-2", "product": "p" })),
            StatusCode::BAD_REQUEST,
            "product",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v-2", "product": { "id": "p" } })),
            StatusCode::BAD_REQUEST,
            "product.name",
        ),
        (
            "/api/chat/conversation",
            Body::Json(
                json!({ "vendorId": "v-2", "product": { "id": "p", "name": "n", "priceMinor": "12" } }),
            ),
            StatusCode::BAD_REQUEST,
            "product.priceMinor",
        ),
        (
            "/api/chat/send",
            Body::Raw("".into()),
            StatusCode::BAD_REQUEST,
            "body",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "text": "hi" })),
            StatusCode::BAD_REQUEST,
            "conversationId",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": "not-a-uuid", "text": "hi" })),
            StatusCode::BAD_REQUEST,
            "conversationId",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": 12 })),
            StatusCode::BAD_REQUEST,
            "text",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "   " })),
            StatusCode::BAD_REQUEST,
            "text",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "x".repeat(4001) })),
            StatusCode::BAD_REQUEST,
            "text",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv })),
            StatusCode::BAD_REQUEST,
            "text",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "nul\u{0}inside" })),
            StatusCode::BAD_REQUEST,
            "control characters",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "esc \u{1b}[31mred" })),
            StatusCode::BAD_REQUEST,
            "control characters",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "invoice\u{202e}fdp.exe" })),
            StatusCode::BAD_REQUEST,
            "bidirectional",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "\u{200b}\u{200c}\u{feff}" })),
            StatusCode::BAD_REQUEST,
            "visible",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v-2", "vendorName": "Bolt\u{7}Bikes" })),
            StatusCode::BAD_REQUEST,
            "vendorName",
        ),
        (
            "/api/chat/conversation",
            Body::Json(json!({ "vendorId": "v-2", "vendorName": "\u{3164}" })),
            StatusCode::BAD_REQUEST,
            "vendorName",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "hi", "clientMessageId": 5 })),
            StatusCode::BAD_REQUEST,
            "clientMessageId",
        ),
        (
            "/api/chat/send",
            Body::Json(
                json!({ "conversationId": conv, "text": "hi", "clientMessageId": "x".repeat(65) }),
            ),
            StatusCode::BAD_REQUEST,
            "clientMessageId",
        ),
        (
            "/api/chat/send",
            Body::Json(
                json!({ "conversationId": conv, "product": { "id": "p", "name": "n", "url": "ftp://x" } }),
            ),
            StatusCode::BAD_REQUEST,
            "product.url",
        ),
        (
            "/api/chat/send",
            Body::Json(json!({ "conversationId": conv, "text": "y".repeat(70 * 1024) })),
            StatusCode::PAYLOAD_TOO_LARGE,
            "KiB",
        ),
    ];
    for (path, body, want, mention) in cases {
        let (status, answer) = server
            .call(Method::POST, path, Some(&pair.customer), Some(body))
            .await;
        assert_eq!(status, want, "{path}: {answer}");
        let expected_code = if want == StatusCode::PAYLOAD_TOO_LARGE {
            "payload_too_large"
        } else {
            "invalid_request"
        };
        assert_eq!(code(&answer), expected_code, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mention),
            "{message:?} should mention {mention}"
        );
    }
    for (path, want) in [
        ("/api/chat/not-a-uuid/messages", StatusCode::BAD_REQUEST),
        ("/api/chat/not-a-uuid/events", StatusCode::BAD_REQUEST),
        (
            &*format!("/api/chat/{conv}/messages?limit=0"),
            StatusCode::BAD_REQUEST,
        ),
        (
            &*format!("/api/chat/{conv}/messages?limit=101"),
            StatusCode::BAD_REQUEST,
        ),
        (
            &*format!("/api/chat/{conv}/messages?before=abc"),
            StatusCode::BAD_REQUEST,
        ),
        (
            &*format!("/api/chat/{conv}/events?limit=x"),
            StatusCode::BAD_REQUEST,
        ),
        ("/api/chat/conversations?limit=-1", StatusCode::BAD_REQUEST),
        (
            "/api/chat/conversations?cursor=bogus",
            StatusCode::BAD_REQUEST,
        ),
        ("/api/chat/nothing/here/at/all", StatusCode::NOT_FOUND),
    ] {
        let (status, answer) = server.get(path, &pair.customer).await;
        assert_eq!(status, want, "{path}: {answer}");
        assert!(answer["error"]["code"].is_string(), "{path}: {answer}");
    }
    for path in ["/api/chat/message/zzz/read", "/api/chat/zzz/read"] {
        let (status, answer) = server.put(path, &pair.customer).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    }
    assert_eq!(
        event_count(&server).await,
        before,
        "bad input records nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_never_see_or_touch_a_conversation() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let message = pair.send(&server, true, "hello").await;
    let stranger_c = server.token("c-2", Role::Customer, None);
    let stranger_v = server.token("v-2", Role::Vendor, None);
    let conv = &pair.conversation;
    let unknown = uuid::Uuid::new_v4().to_string();
    let before = event_count(&server).await;
    for (token, prefix) in [
        (&stranger_c, "/api/chat"),
        (&stranger_v, "/api/vendor/chat"),
    ] {
        for c in [conv.as_str(), unknown.as_str()] {
            let (s, b) = server.get(&format!("{prefix}/{c}/messages"), token).await;
            assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{b}");
            let (s, _) = server.get(&format!("{prefix}/{c}/events"), token).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            let (s, _) = server.put(&format!("{prefix}/{c}/read"), token).await;
            assert_eq!(s, StatusCode::NOT_FOUND);
            let (s, b) = server
                .post(
                    &format!("{prefix}/send"),
                    token,
                    json!({ "conversationId": c, "text": "let me in" }),
                )
                .await;
            assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{b}");
        }
        // Someone else's message and an unknown id read the same: existence
        // is not leaked.
        let theirs = message["id"].as_str().unwrap();
        let (s, b) = server
            .put(&format!("{prefix}/message/{theirs}/read"), token)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(
            b["error"]["message"],
            format!("message {theirs} not found"),
            "{b}"
        );
        let unknown = uuid::Uuid::now_v7();
        let (s, b) = server
            .put(&format!("{prefix}/message/{unknown}/read"), token)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        assert_eq!(
            b["error"]["message"],
            format!("message {unknown} not found")
        );
        let (s, b) = server.get(&format!("{prefix}/conversations"), token).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b["conversations"], json!([]));
    }
    let (s, _) = server
        .put(
            &format!("/api/chat/message/{}/read", uuid::Uuid::now_v7()),
            &pair.customer,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(event_count(&server).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_is_idempotent_with_a_client_message_id() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let body = json!({ "conversationId": pair.conversation, "text": "  Is it still available?  ", "clientMessageId": "tab1-0005" });
    let (status, first) = server
        .post("/api/chat/send", &pair.customer, body.clone())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let m = &first["message"];
    assert_eq!(m["conversationId"], json!(pair.conversation));
    assert_eq!(m["seq"], 1);
    assert_eq!(m["sender"], json!({ "id": "c-1", "role": "customer" }));
    assert_eq!(m["kind"], "text");
    assert_eq!(m["text"], "Is it still available?");
    assert_eq!(m["product"], Value::Null);
    assert_eq!(m["clientMessageId"], "tab1-0005");
    assert_eq!(m["readAt"], Value::Null);
    let id = uuid::Uuid::parse_str(m["id"].as_str().unwrap()).unwrap();
    assert_eq!(id.get_version_num(), 7);
    let sent_at = m["sentAt"].as_str().unwrap();
    assert_eq!(sent_at.len(), "2026-11-26T10:15:30.123Z".len(), "{sent_at}");

    let before = event_count(&server).await;
    let (status, again) = server
        .post("/api/chat/send", &pair.customer, body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["message"], *m);
    assert_eq!(
        event_count(&server).await,
        before,
        "a retry records nothing"
    );

    // The same clientMessageId from the other side is its own message.
    let (status, other) = server
        .post("/api/vendor/chat/send", &pair.vendor, body)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(other["message"]["seq"], 2);

    // A product message, with and without caption.
    let (status, p) = server
        .post(
            "/api/vendor/chat/send",
            &pair.vendor,
            json!({ "conversationId": pair.conversation,
            "product": { "id": "p-2", "name": "Blue bike", "priceMinor": 1, "currency": "EUR" } }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["message"]["kind"], "product");
    assert_eq!(p["message"]["text"], Value::Null);
    assert_eq!(p["message"]["product"]["name"], "Blue bike");
    let (_, p) = server
        .post(
            "/api/vendor/chat/send",
            &pair.vendor,
            json!({ "conversationId": pair.conversation,
            "text": "this one?", "product": { "id": "p-2", "name": "Blue bike" } }),
        )
        .await;
    assert_eq!(p["message"]["text"], "this one?");
    assert_eq!(p["message"]["seq"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_both_ways() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    for i in 1..=45 {
        pair.send(&server, i % 3 != 0, &format!("message {i}"))
            .await;
    }
    let path = |q: &str| format!("/api/chat/{}/messages{q}", pair.conversation);
    let seqs = |b: &Value| -> Vec<u64> {
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect()
    };
    let (s, newest) = server.get(&path(""), &pair.customer).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(seqs(&newest), (16..=45).collect::<Vec<_>>());
    assert_eq!(newest["hasMore"], true);
    let (_, older) = server.get(&path("?before=16"), &pair.customer).await;
    assert_eq!(seqs(&older), (1..=15).collect::<Vec<_>>());
    assert_eq!(older["hasMore"], false);
    let (_, page) = server
        .get(&path("?before=16&limit=5"), &pair.customer)
        .await;
    assert_eq!(seqs(&page), (11..=15).collect::<Vec<_>>());
    assert_eq!(page["hasMore"], true);
    let (_, newer) = server.get(&path("?after=40"), &pair.vendor).await;
    // The vendor token is for the vendor routes only.
    assert_eq!(newer["error"]["code"], "forbidden");
    let (_, newer) = server
        .get(
            &format!("/api/vendor/chat/{}/messages?after=40", pair.conversation),
            &pair.vendor,
        )
        .await;
    assert_eq!(seqs(&newer), (41..=45).collect::<Vec<_>>());
    assert_eq!(newer["hasMore"], false);
    let (_, newer) = server
        .get(&path("?after=10&limit=10"), &pair.customer)
        .await;
    assert_eq!(seqs(&newer), (11..=20).collect::<Vec<_>>());
    assert_eq!(newer["hasMore"], true);
    let (_, none) = server.get(&path("?after=45"), &pair.customer).await;
    assert_eq!(seqs(&none), Vec::<u64>::new());
    assert_eq!(none["hasMore"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_move_markers_and_unread_counts() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let other = Pair::open(&server, "c-2", "v-1").await;
    let m1 = pair.send(&server, true, "one").await;
    let m2 = pair.send(&server, true, "two").await;
    let m3 = pair.send(&server, true, "three").await;
    other.send(&server, true, "elsewhere").await;
    let vendor = &pair.vendor;

    let (s, unread) = server.get("/api/vendor/chat/unread", vendor).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(unread["total"], 4);
    assert_eq!(unread["conversations"][&pair.conversation], 3);
    assert_eq!(unread["conversations"][&other.conversation], 1);
    let (_, list) = server.get("/api/vendor/chat/conversations", vendor).await;
    assert_eq!(list["totalUnread"], 4);

    let (s, receipt) = server
        .put(
            &format!(
                "/api/vendor/chat/message/{}/read",
                m2["id"].as_str().unwrap()
            ),
            vendor,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["conversationId"], json!(pair.conversation));
    assert_eq!(receipt["messageId"], m2["id"]);
    assert_eq!(receipt["unreadCount"], 1);
    let read_at = receipt["readAt"].as_str().unwrap().to_owned();

    // The sender sees readAt on the messages that were read.
    let (_, history) = server
        .get(
            &format!("/api/chat/{}/messages", pair.conversation),
            &pair.customer,
        )
        .await;
    let msgs = history["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["readAt"], json!(read_at));
    assert_eq!(msgs[1]["readAt"], json!(read_at));
    assert_eq!(msgs[2]["readAt"], Value::Null);

    // Reading an earlier message again does not move the marker back.
    let (s, again) = server
        .put(
            &format!(
                "/api/vendor/chat/message/{}/read",
                m1["id"].as_str().unwrap()
            ),
            vendor,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["unreadCount"], 1);

    let (s, all) = server
        .put(
            &format!("/api/vendor/chat/{}/read", pair.conversation),
            vendor,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(all["conversationId"], json!(pair.conversation));
    assert_eq!(all["unreadCount"], 0);
    assert!(all["readAt"].is_string());
    let (_, unread) = server.get("/api/vendor/chat/unread", vendor).await;
    assert_eq!(unread["total"], 1);
    assert_eq!(
        unread["conversations"],
        json!({ other.conversation.clone(): 1 }),
        "only n > 0"
    );
    let _ = m3;

    // The customer's own messages never count for them.
    let (_, mine) = server.get("/api/chat/unread", &pair.customer).await;
    assert_eq!(mine, json!({ "total": 0, "conversations": {} }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_lists_sort_search_and_page() {
    let server = TestServer::start();
    let vendor_id = "v-shop";
    let mut pairs = Vec::new();
    for i in 0..5 {
        let customer = server.token(
            &format!("c-{i}"),
            Role::Customer,
            Some(&format!("Buyer{i} Zed")),
        );
        let (s, b) = server
            .post(
                "/api/chat/conversation",
                &customer,
                json!({ "vendorId": vendor_id,
                "product": { "id": format!("p-{i}"), "name": format!("Gadget number {i}") } }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        pairs.push((customer, b["id"].as_str().unwrap().to_owned()));
    }
    for (i, (token, conv)) in pairs.iter().enumerate() {
        let text = if i == 2 {
            "Wie viel kostet das Fahrrad?"
        } else {
            "hello there"
        };
        server
            .post(
                "/api/chat/send",
                token,
                json!({ "conversationId": conv, "text": text }),
            )
            .await;
    }
    let vendor = server.token(vendor_id, Role::Vendor, None);
    let (s, list) = server.get("/api/vendor/chat/conversations", &vendor).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = pairs.iter().rev().map(|(_, c)| c.as_str()).collect();
    assert_eq!(ids, expected, "newest activity first");
    let first = &list["conversations"][0];
    assert_eq!(first["unreadCount"], 1);
    assert_eq!(first["lastMessage"]["text"], "hello there");
    assert_eq!(list["totalUnread"], 5);
    assert_eq!(list["nextCursor"], Value::Null);

    // Paging with the cursor covers every conversation once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let (s, page) = server
            .get(&format!("/api/vendor/chat/conversations{q}"), &vendor)
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        for c in page["conversations"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);

    let search = |q: &'static str| {
        let vendor = vendor.clone();
        let server = &server;
        async move {
            let (s, b) = server
                .get(
                    &format!("/api/vendor/chat/conversations?search={q}"),
                    &vendor,
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{b}");
            b["conversations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("fahrrad").await,
        vec![pairs[2].1.clone()],
        "message text"
    );
    assert_eq!(
        search("Buyer3").await,
        vec![pairs[3].1.clone()],
        "the other side's name"
    );
    assert_eq!(
        search("number%204").await,
        vec![pairs[4].1.clone()],
        "the product's name"
    );
    assert_eq!(search("nothing-like-this").await, Vec::<String>::new());

    // A search answer names the matching message as `match`; a match on the
    // names or the product alone has none, and the plain list never has one.
    let (s, b) = server
        .get("/api/vendor/chat/conversations?search=FAHR", &vendor)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let m = &b["conversations"][0]["match"];
    assert_eq!(m["text"], "Wie viel kostet das Fahrrad?");
    assert_eq!(m["seq"], 1);
    assert!(
        m["messageId"].as_str().is_some_and(|id| id.len() == 36),
        "{m}"
    );
    let (_, b) = server
        .get("/api/vendor/chat/conversations?search=buyer3", &vendor)
        .await;
    assert!(b["conversations"][0].get("match").is_none(), "{b}");
    assert!(list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("match").is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_shows_raw_events_in_order() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "one").await;
    pair.send(&server, false, "two").await;
    server
        .put(
            &format!("/api/chat/{}/read", pair.conversation),
            &pair.customer,
        )
        .await;
    let (s, log) = server
        .get(
            &format!("/api/chat/{}/events", pair.conversation),
            &pair.customer,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let events = log["events"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ConversationStarted",
            "MessageSent",
            "MessageSent",
            "MessageRead"
        ]
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["revision"], i as u64);
        assert!(e["position"].as_u64().unwrap() >= 1);
        assert!(e["recordedAt"].is_string());
        assert!(e["data"].is_object());
    }
    assert_eq!(events[1]["data"]["text"], "one");
    assert_eq!(log["next"], Value::Null);
    let (_, page) = server
        .get(
            &format!(
                "/api/vendor/chat/{}/events?from=1&limit=2",
                pair.conversation
            ),
            &pair.vendor,
        )
        .await;
    let revs: Vec<u64> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revs, [1, 2]);
    assert_eq!(page["next"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_analytics_come_from_the_log() {
    let server = TestServer::start();
    let vendor = server.token("v-1", Role::Vendor, Some("Shop"));
    for i in 0..3 {
        let pair = Pair::open(&server, &format!("c-{i}"), "v-1").await;
        pair.send(&server, true, "question").await;
        if i < 2 {
            pair.send(&server, false, "answer").await;
        }
    }
    let (s, a) = server.get("/api/vendor/analytics", &vendor).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["conversations"], 3);
    assert_eq!(a["newConversations"], 3);
    assert_eq!(a["messagesReceived"], 3);
    assert_eq!(a["messagesSent"], 2);
    assert_eq!(a["unreadBacklog"], 3);
    assert!(a["firstResponseSeconds"]["p50"].is_number(), "{a}");
    assert!(a["firstResponseSeconds"]["p90"].is_number(), "{a}");
    let days = a["byDay"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let total_received: u64 = days
        .iter()
        .map(|d| d["messagesReceived"].as_u64().unwrap())
        .sum();
    assert_eq!(total_received, 3);
    assert!(days.iter().any(|d| d["date"] == json!(today)) || days.last().is_some());
    // All 24 UTC hours, in order, adding up to the same totals.
    let hours = a["byHour"].as_array().unwrap();
    assert_eq!(
        hours
            .iter()
            .map(|h| h["hour"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (0..24).collect::<Vec<u64>>()
    );
    let by_hour = |field: &str| -> u64 { hours.iter().map(|h| h[field].as_u64().unwrap()).sum() };
    assert_eq!(by_hour("messagesReceived"), 3);
    assert_eq!(by_hour("messagesSent"), a["messagesSent"].as_u64().unwrap());
    assert!(a["topProducts"].is_array());

    let (s, empty) = server
        .get(
            "/api/vendor/analytics?from=2020-01-01&to=2020-01-08",
            &vendor,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(empty["messagesReceived"], 0);
    assert_eq!(empty["byDay"].as_array().unwrap().len(), 7);
    assert_eq!(empty["byHour"].as_array().unwrap().len(), 24);
    for bad in [
        "?from=yesterday",
        "?from=2020-01-08&to=2020-01-01",
        "?from=2000-01-01&to=2020-01-01",
    ] {
        let (s, b) = server
            .get(&format!("/api/vendor/analytics{bad}"), &vendor)
            .await;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad}: {b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let server = TestServer::start();
    let (s, b) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "ok", "{b}");
    assert!(
        b["node"].as_str().is_some_and(|n| n.starts_with("node-")),
        "the node's id: {b}"
    );
    let pair = Pair::open(&server, "c-1", "v-1").await;
    pair.send(&server, true, "hi").await;
    let (s, text) = server.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let text = text.as_str().unwrap();
    assert!(
        text.contains("# TYPE souk_messages_sent_total counter"),
        "{text}"
    );
    assert!(text.contains("souk_messages_sent_total 1"), "{text}");
    assert!(text.contains("souk_log_position 2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_wrong_methods_get_the_error_shape() {
    let server = TestServer::start();
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let conv = &pair.conversation;
    for (method, path) in [
        (Method::GET, "/api/chat/nope".to_owned()),
        (Method::GET, format!("/api/chat/{conv}/nope")),
        (Method::GET, "/api/vendor/chat/a/b/c/d".to_owned()),
        (Method::GET, "/api/vendor/nope".to_owned()),
        (Method::GET, "/api/nope".to_owned()),
        (Method::POST, "/api/chat/nope".to_owned()),
    ] {
        let (s, b) = server
            .call(method.clone(), &path, Some(&pair.customer), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {b}");
        assert_eq!(code(&b), "not_found", "{method} {path}: {b}");
    }
    for (method, path, allow) in [
        (Method::GET, "/api/chat/send".to_owned(), "POST"),
        (Method::DELETE, format!("/api/chat/{conv}/messages"), "GET"),
        (
            Method::POST,
            "/api/vendor/chat/conversations".to_owned(),
            "GET",
        ),
        (Method::GET, format!("/api/chat/{conv}/read"), "PUT"),
        (Method::POST, "/api/vendor/analytics".to_owned(), "GET"),
        (Method::POST, "/healthz".to_owned(), "GET, HEAD"),
        (Method::POST, "/api/config".to_owned(), "GET"),
    ] {
        let res = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", server.base))
            .bearer_auth(&pair.customer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let b: serde_json::Value = res.json().await.unwrap();
        assert_eq!(code(&b), "method_not_allowed", "{b}");
    }
    // Nothing of it reached the log.
    assert_eq!(event_count(&server).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_probes_answer_head_with_the_true_status() {
    let server = TestServer::start();
    let client = reqwest::Client::new();
    for path in ["/healthz", "/metrics"] {
        let res = client
            .head(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.text().await.unwrap(), "", "{path}");
    }
    for path in ["/healthz/x", "/metricsx"] {
        let res = client
            .head(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_is_served_for_its_pages_only() {
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        "<!doctype html><title>souk</title>",
    )
    .unwrap();
    std::fs::create_dir(web.path().join("assets")).unwrap();
    std::fs::write(web.path().join("assets/app.js"), "console.log(1)").unwrap();
    let web_dir = web.path().to_path_buf();
    let server = TestServer::start_with(move |s| s.web_dir = web_dir, |_| None);
    let client = reqwest::Client::new();
    let get = |path: &'static str| {
        let client = client.clone();
        let url = format!("{}{path}", server.base);
        async move {
            let res = client.get(url).send().await.unwrap();
            let status = res.status();
            (status, res.text().await.unwrap())
        }
    };
    for page in ["/", "/chat", "/vendor/chat", "/vendor/analytics"] {
        let (s, body) = get(page).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert!(body.contains("<title>souk</title>"), "{page}: {body}");
    }
    let (s, body) = get("/assets/app.js").await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "console.log(1)"));
    for asset in ["/nonexistent.js", "/assets/missing.css", "/logo.png"] {
        let (s, body) = get(asset).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{asset}");
        assert!(body.contains("not_found"), "{asset}: {body}");
    }
    // A page that is not one of the app's: the app (it sends people home),
    // with the true status for probes.
    let (s, body) = get("/healthz/x").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(body.contains("<title>souk</title>"), "{body}");
}
