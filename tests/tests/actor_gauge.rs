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
