//! The product of each inquiry (issue #16): opening an existing
//! conversation from another product records that product as the one
//! discussed (`CurrentProductChanged`), which the conversation answers as
//! `currentProduct`, while `product` stays the one it was started from.

use reqwest::StatusCode;
use serde_json::{json, Value};
use souk_domain::Role;
use souk_tests::TestServer;

fn bike() -> Value {
    json!({ "id": "p-1", "name": "Red city bike", "priceMinor": 49999, "currency": "EUR",
        "imageUrl": "https://img.example/p-1.jpg", "url": "https://shop.example/p-1" })
}

fn helmet() -> Value {
    json!({ "id": "p-2", "name": "Commuter helmet", "priceMinor": 5900, "currency": "EUR",
        "imageUrl": "https://img.example/p-2.jpg", "url": "https://shop.example/p-2" })
}

/// The conversation's recorded events.
async fn events(server: &TestServer, token: &str, id: &str) -> Vec<Value> {
    let (status, body) = server
        .get(&format!("/api/chat/{id}/events?limit=1000"), token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["type"].as_str().unwrap()).collect()
}

/// The caller's list entry of conversation `id`.
async fn listed(server: &TestServer, path: &str, token: &str, id: &str) -> Value {
    let (status, body) = server.get(path, token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not listed: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_product_becomes_the_one_discussed() {
    let server = TestServer::start();
    let customer = server.token("c-42", Role::Customer, Some("Alice"));
    let vendor = server.token("v-7", Role::Vendor, Some("Bolt Bikes"));
    let open = |product: Value| json!({ "vendorId": "v-7", "vendorName": "Bolt Bikes", "product": product });

    let (status, first) = server
        .post("/api/chat/conversation", &customer, open(bike()))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["product"], bike());
    assert_eq!(first["currentProduct"], bike(), "started from the bike");
    let (status, _) = server
        .post(
            "/api/chat/send",
            &customer,
            json!({ "conversationId": id, "text": "Which frame size for 1.80 m?" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let updated_at =
        listed(&server, "/api/chat/conversations", &customer, &id).await["updatedAt"].clone();

    // The same product again: nothing is recorded.
    let before = events(&server, &customer, &id).await.len();
    let (status, again) = server
        .post("/api/chat/conversation", &customer, open(bike()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["currentProduct"], bike());
    assert_eq!(events(&server, &customer, &id).await.len(), before);

    // Another product of the same vendor: recorded, and now discussed.
    let (status, second) = server
        .post("/api/chat/conversation", &customer, open(helmet()))
        .await;
    assert_eq!(status, StatusCode::OK, "an existing conversation: {second}");
    assert_eq!(second["id"], id.as_str());
    assert_eq!(second["product"], bike(), "the start's product stays");
    assert_eq!(second["currentProduct"], helmet());
    assert_eq!(second["updatedAt"], updated_at, "not a message");
    let log = events(&server, &customer, &id).await;
    assert_eq!(
        types(&log),
        [
            "ConversationStarted",
            "MessageSent",
            "CurrentProductChanged"
        ]
    );
    let changed = &log[2]["data"];
    assert_eq!(changed["product"], helmet());
    assert_eq!(changed["by"], json!({ "id": "c-42", "role": "customer" }));
    assert_eq!(changed["byName"], "Alice");
    assert_eq!(log[2]["version"], 1);

    // Both sides' list entries and the vendor's own open show it.
    let mine = listed(&server, "/api/chat/conversations", &customer, &id).await;
    assert_eq!(mine["currentProduct"], helmet());
    assert_eq!(mine["product"], bike());
    let theirs = listed(&server, "/api/vendor/chat/conversations", &vendor, &id).await;
    assert_eq!(theirs["currentProduct"], helmet());
    assert_eq!(theirs["product"], bike());
    assert_eq!(theirs["unreadCount"], 1, "only the message is unread");
    let (status, by_vendor) = server
        .post(
            "/api/vendor/chat/conversation",
            &vendor,
            json!({ "customerId": "c-42" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        by_vendor["currentProduct"],
        helmet(),
        "no product: no change"
    );

    // The helmet again (a card whose price moved is the same product):
    // nothing new.
    let mut cheaper = helmet();
    cheaper["priceMinor"] = json!(4900);
    let (status, same) = server
        .post("/api/chat/conversation", &customer, open(cheaper))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["currentProduct"], helmet(), "the card recorded stays");
    assert_eq!(events(&server, &customer, &id).await.len(), log.len());

    // Back to the bike: recorded again.
    let (_, back) = server
        .post("/api/chat/conversation", &customer, open(bike()))
        .await;
    assert_eq!(back["currentProduct"], bike());
    assert_eq!(
        types(&events(&server, &customer, &id).await).last(),
        Some(&"CurrentProductChanged")
    );

    // The state route folds it too.
    let (status, state) = server
        .get(&format!("/api/chat/{id}/state"), &customer)
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["product"], bike());
    assert_eq!(state["currentProduct"], bike());
    let (_, at_change) = server
        .get(&format!("/api/chat/{id}/state?at=2"), &customer)
        .await;
    assert_eq!(at_change["currentProduct"], helmet());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_started_without_a_product_takes_the_first_one_asked_about() {
    let server = TestServer::start();
    let vendor = server.token("v-7", Role::Vendor, None);
    let customer = server.token("c-42", Role::Customer, None);
    let (status, first) = server
        .post(
            "/api/vendor/chat/conversation",
            &vendor,
            json!({ "customerId": "c-42" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["product"], Value::Null);
    assert_eq!(first["currentProduct"], Value::Null);

    let (status, second) = server
        .post(
            "/api/chat/conversation",
            &customer,
            json!({ "vendorId": "v-7", "product": helmet() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["product"], Value::Null, "it was started from none");
    assert_eq!(second["currentProduct"], helmet());
    let log = events(&server, &customer, &id).await;
    assert_eq!(
        types(&log),
        ["ConversationStarted", "CurrentProductChanged"]
    );
    assert!(
        log[1]["data"].get("byName").is_none(),
        "no name in the token: none recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_product_changes_nothing() {
    let server = TestServer::start();
    let customer = server.token("c-42", Role::Customer, None);
    let (_, first) = server
        .post(
            "/api/chat/conversation",
            &customer,
            json!({ "vendorId": "v-7", "product": bike() }),
        )
        .await;
    let id = first["id"].as_str().unwrap().to_owned();
    let before = events(&server, &customer, &id).await.len();
    let mut bad = helmet();
    bad["currency"] = json!("euro");
    let (status, body) = server
        .post(
            "/api/chat/conversation",
            &customer,
            json!({ "vendorId": "v-7", "product": bad }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("product.currency"),
        "{body}"
    );
    assert_eq!(events(&server, &customer, &id).await.len(), before);
    let (_, again) = server
        .post(
            "/api/chat/conversation",
            &customer,
            json!({ "vendorId": "v-7" }),
        )
        .await;
    assert_eq!(again["currentProduct"], bike());
}
