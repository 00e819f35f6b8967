//! `souk_actor_state_bytes` on `/metrics`: the bytes the live conversation
//! actors' states hold, each as the state measures itself
//! (`CompactState::heap_bytes`) after its last command.

use reqwest::{Method, StatusCode};
use souk_domain::{CompactState, ConversationEvent, ConversationId};
use souk_store::{Direction, EventStore, ReadFrom};
use souk_tests::{Pair, TestServer};

/// The value of gauge `name` in the exposition `text`.
fn gauge(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .parse()
        .expect("a number")
}

async fn metrics(server: &TestServer) -> String {
    let (status, body) = server.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::OK);
    body.as_str().expect("text").to_owned()
}

/// What an actor holding `conversation` keeps, folded from the log.
async fn folded_bytes(store: &dyn EventStore, conversation: &str) -> usize {
    let id = ConversationId::parse(conversation).expect("a conversation id");
    let events: Vec<ConversationEvent> = store
        .read_stream(
            &id.stream_name(),
            ReadFrom::Start,
            Direction::Forwards,
            10_000,
        )
        .await
        .unwrap()
        .iter()
        .map(|e| e.decode().unwrap())
        .collect();
    CompactState::from_events(&events).heap_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actor_state_gauge_is_the_live_states_own_measure() {
    let server = TestServer::start();
    let text = metrics(&server).await;
    assert_eq!(gauge(&text, "souk_live_actors"), 0);
    assert_eq!(gauge(&text, "souk_actor_state_bytes"), 0);

    let a = Pair::open(&server, "c-1", "v-1").await;
    let b = Pair::open(&server, "c-2", "v-1").await;
    let mut last = None;
    for n in 0..12 {
        last = Some(a.send(&server, n % 3 != 0, &format!("a{n}")).await);
        b.send(&server, n % 2 == 0, &format!("b{n}")).await;
    }
    // A read (by message id) changes no size but goes through the actor.
    let read = format!(
        "/api/vendor/chat/message/{}/read",
        last.unwrap()["id"].as_str().unwrap()
    );
    let (status, body) = server.put(&read, &a.vendor).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let store = server.store();
    let expected =
        folded_bytes(&*store, &a.conversation).await + folded_bytes(&*store, &b.conversation).await;
    let text = metrics(&server).await;
    assert_eq!(gauge(&text, "souk_live_actors"), 2);
    assert_eq!(gauge(&text, "souk_actor_state_bytes"), expected as u64);
    // Two small conversations: a few kilobytes, not nothing.
    assert!(expected > 1_000 && expected < 64 * 1024, "{expected}");
}

/// An actor keeps its last 1,000 messages at hand: reads of older ones, of
/// unknown ids and of another conversation's messages answer as they always
/// did (docs/api.md, `PUT {side}/message/:messageId/read`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_messages_older_than_the_actor_s_window_answer_as_before() {
    let server = TestServer::start_with(|s| s.rest_rate_per_user = 1_000_000, |_| None);
    let pair = Pair::open(&server, "c-1", "v-1").await;
    let other = Pair::open(&server, "c-2", "v-1").await;
    let mut ids = Vec::new();
    for n in 1..=1_050 {
        // Odd seqs from the vendor.
        let m = pair.send(&server, n % 2 == 0, &format!("m{n}")).await;
        ids.push(m["id"].as_str().unwrap().to_owned());
    }
    let foreign = other.send(&server, false, "not yours").await;
    let read = |id: &str| format!("/api/chat/message/{id}/read");

    // The vendor's seq 3, 1,047 messages back: the customer's marker moves
    // there, 2 of the vendor's 525 messages read.
    let (status, body) = server.put(&read(&ids[2]), &pair.customer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["unreadCount"], 523, "{body}");
    assert_eq!(body["messageId"], ids[2].as_str());
    // The customer's own seq 6: up to the vendor's seq 5.
    let (status, body) = server.put(&read(&ids[5]), &pair.customer).await;
    assert_eq!(
        (status, &body["unreadCount"]),
        (StatusCode::OK, &522.into()),
        "{body}"
    );
    // An earlier one again: nothing moves.
    let (status, body) = server.put(&read(&ids[0]), &pair.customer).await;
    assert_eq!(
        (status, &body["unreadCount"]),
        (StatusCode::OK, &522.into()),
        "{body}"
    );

    // Unknown, and another conversation's: one 404, the same words.
    let unknown = "01900000-0000-7000-8000-000000000001";
    for id in [unknown, foreign["id"].as_str().unwrap()] {
        let (status, body) = server.put(&read(id), &pair.customer).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "not_found");
        assert_eq!(body["error"]["message"], format!("message {id} not found"));
    }
}
