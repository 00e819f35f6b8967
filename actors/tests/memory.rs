//! What a conversation's actor holds does not grow with the conversation's
//! history, and reads of old or unknown messages still answer as the whole
//! history says (they are looked up in the log).

mod support;

use std::sync::Arc;

use souk_actors::{ActorError, ConversationRegistry, RegistryConfig};
use souk_domain::compact::RECENT_MESSAGES;
use souk_domain::{Command, ConversationEvent, ConversationState, DomainError, MessageId, Role};
use souk_store::{EventStore, MemoryStore};
use support::*;

fn local() -> RegistryConfig {
    RegistryConfig {
        shards: 0,
        ..RegistryConfig::default()
    }
}

fn read(by: &souk_domain::Actor, up_to: MessageId, at: i64) -> Command {
    Command::MarkRead {
        by: by.clone(),
        up_to,
        at: t(at),
    }
}

/// The unread count of `role` as the whole history has it.
async fn unread_in_log(store: &dyn EventStore, id: souk_domain::ConversationId, role: Role) -> u64 {
    ConversationState::from_events(&stream_events(store, id).await).unread(role)
}

#[actix_rt::test]
async fn an_actor_holds_as_much_after_20000_messages_as_after_1000() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let mut ids = Vec::new();
    let mut sizes = Vec::new();
    for n in 1..=20_000i64 {
        // Odd messages from the vendor, even ones from the customer; every
        // one with a client id, as the web app sends them.
        let by = if n % 2 == 0 { &c } else { &v };
        let key = format!("tab-{n}");
        let reply = registry
            .execute(id, send(by, "a message", Some(&key), t(n)))
            .await
            .unwrap();
        ids.push(reply.message.unwrap().message_id);
        if n % 50 == 0 {
            // The customer keeps up with the vendor's recent messages.
            registry
                .execute(id, read(&c, ids[n as usize - 2], n))
                .await
                .unwrap();
        }
        if n == 1_000 || n == 20_000 {
            sizes.push(registry.live_bytes().await);
        }
    }
    // What the shard counts (the souk_actor_state_bytes gauge) is the
    // state's own measure, and it did not move from 1,000 to 20,000.
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), 20_000);
    assert_eq!(sizes[1], state.heap_bytes());
    assert!(sizes[0] > 0 && sizes[1] <= sizes[0] + 64, "{sizes:?}");
    assert!(sizes[1] < 64 * 1024, "{sizes:?}");
    assert_eq!(
        state.first_recent_seq(),
        20_000 - RECENT_MESSAGES as u64 + 1,
        "the window holds the last messages only"
    );

    // The customer reads an old message of the vendor's (seq 3), far out of
    // the window: found in the log; the customer's marker is at 19,999
    // already and only moves forwards, so nothing is recorded.
    let old = registry
        .execute(id, read(&c, ids[2], 30_000))
        .await
        .unwrap();
    assert!(old.recorded.is_empty());
    assert_eq!(old.unread, 0);

    // The vendor never read anything: reading the customer's seq 4 moves
    // its marker there; unread as the whole log counts it.
    let vendor_read = registry
        .execute(id, read(&v, ids[3], 30_001))
        .await
        .unwrap();
    assert_eq!(vendor_read.recorded.len(), 1);
    match vendor_read.recorded[0].decode().unwrap() {
        ConversationEvent::MessageRead(r) => {
            assert_eq!((r.up_to_seq, r.up_to_message_id), (4, ids[3]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(vendor_read.unread, 9_998);
    assert_eq!(unread_in_log(&*store, id, Role::Vendor).await, 9_998);
    // Its own old message (seq 5): up to the customer's seq 4, already read.
    let own = registry
        .execute(id, read(&v, ids[4], 30_002))
        .await
        .unwrap();
    assert!(own.recorded.is_empty());
    assert_eq!(own.unread, 9_998);
    // Its own seq 7, with seq 6 of the customer before it: up to 6.
    let own = registry
        .execute(id, read(&v, ids[6], 30_003))
        .await
        .unwrap();
    assert_eq!(own.recorded.len(), 1);
    assert_eq!(own.unread, 9_997);
    assert_eq!(unread_in_log(&*store, id, Role::Vendor).await, 9_997);

    // An unknown id, and a message of another conversation: the same 404
    // as before (`MessageNotFound`), nothing recorded.
    let other = customer_of("c-2");
    let elsewhere = conversation_of(&other, &v);
    registry
        .execute(elsewhere, start_of(&other, &v, t(0)))
        .await
        .unwrap();
    let foreign = registry
        .execute(elsewhere, send(&v, "not yours", None, t(1)))
        .await
        .unwrap()
        .message
        .unwrap()
        .message_id;
    // An id made two hours from now: not looked for past the newest events.
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 2 * 60 * 60 * 1000;
    let future = MessageId::from_uuid(
        uuid::Builder::from_unix_timestamp_millis(later, &[1; 10]).into_uuid(),
    );
    for missing in [MessageId::new(), foreign, future] {
        let refused = registry.execute(id, read(&c, missing, 30_004)).await;
        assert!(
            matches!(
                refused,
                Err(ActorError::Domain(DomainError::MessageNotFound))
            ),
            "{refused:?}"
        );
    }

    // Nothing of what was looked up stays.
    assert_eq!(registry.state(id).await.unwrap().heap_bytes(), sizes[1]);

    // A fresh actor, folded from the log, holds the same and agrees.
    let fresh = ConversationRegistry::start(store.clone(), local());
    let loaded = fresh.state(id).await.unwrap();
    assert!(
        loaded.heap_bytes() <= sizes[1],
        "{} after a load",
        loaded.heap_bytes()
    );
    assert_eq!(loaded.unread(Role::Vendor), 9_997);
    assert_eq!(loaded.unread(Role::Customer), 0);
    assert_eq!(loaded.read_up_to, state_markers(&*store, id).await);
    let again = fresh.execute(id, read(&v, ids[8], 30_005)).await.unwrap();
    assert_eq!(again.unread, 9_996);
    assert_eq!(unread_in_log(&*store, id, Role::Vendor).await, 9_996);
}

async fn state_markers(store: &dyn EventStore, id: souk_domain::ConversationId) -> [u64; 2] {
    ConversationState::from_events(&stream_events(store, id).await).read_up_to
}

/// The gauge counts live actors only: when one passivates, its bytes go.
#[actix_rt::test]
async fn a_passivated_actor_s_bytes_leave_the_count() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(
        store,
        RegistryConfig {
            idle_timeout: std::time::Duration::from_secs(60),
            ..local()
        },
    );
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    registry
        .execute(id, send(&c, "hello", Some("k"), t(1)))
        .await
        .unwrap();
    settle().await;
    let held = registry.state(id).await.unwrap().heap_bytes();
    assert_eq!(registry.live_bytes().await, held);
    assert!(held > 0);
    advance(61_000).await;
    advance(61_000).await;
    assert_eq!(registry.live_actors().await, 0);
    assert_eq!(registry.live_bytes().await, 0);
}

/// Two nodes share one log: a read of an old message recorded by the other
/// node names a message this node's actor no longer knows. Catching up with
/// the stream, it folds the stream again rather than guess the unread count.
#[actix_rt::test]
async fn another_node_s_read_of_an_old_message_is_caught_up_exactly() {
    let store = Arc::new(MemoryStore::new());
    let shared = || RegistryConfig {
        shared_log: true,
        ..local()
    };
    let (a, b) = (
        ConversationRegistry::start(store.clone(), shared()),
        ConversationRegistry::start(store.clone(), shared()),
    );
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    a.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let mut ids = Vec::new();
    let total = RECENT_MESSAGES as i64 + 100;
    for n in 1..=total {
        let by = if n % 2 == 0 { &c } else { &v };
        let reply = a.execute(id, send(by, "m", None, t(n))).await.unwrap();
        ids.push(reply.message.unwrap().message_id);
    }
    // Node b loads the conversation and the vendor reads the customer's
    // seq 2 there, long out of node a's window.
    let on_b = b.execute(id, read(&v, ids[1], total + 1)).await.unwrap();
    assert_eq!(on_b.recorded.len(), 1);
    let expected = unread_in_log(&*store, id, Role::Vendor).await;
    assert_eq!(on_b.unread, expected);
    // Node a catches up before its next command (the vendor, on node a too)
    // and counts as the log does, in its answer and its state.
    let on_a = a
        .execute(
            id,
            Command::StartTyping {
                by: v.clone(),
                at: t(total + 2),
            },
        )
        .await
        .unwrap();
    assert_eq!(on_a.unread, expected);
    let state = a.state(id).await.unwrap();
    assert!(state.is_complete());
    assert_eq!(state.unread(Role::Vendor), expected);
    assert_eq!(state.read_up_to, state_markers(&*store, id).await);
    assert!(state.heap_bytes() < 64 * 1024);
}

/// An unknown id is looked for down to the stream's start, unless its time
/// (ids are v7) is an hour or more after the newest events were recorded:
/// then one page of the stream says it is not there.
#[actix_rt::test]
async fn an_id_made_after_the_stream_s_events_costs_one_page_of_reading() {
    let store = instrumented();
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    for n in 1..=2_000i64 {
        let by = if n % 2 == 0 { &c } else { &v };
        registry
            .execute(id, send(by, "m", None, t(n)))
            .await
            .unwrap();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let made_at = |millis: u64| {
        MessageId::from_uuid(
            uuid::Builder::from_unix_timestamp_millis(millis, &[3; 10]).into_uuid(),
        )
    };
    let mut reads_for = Vec::new();
    for unknown in [made_at(now), made_at(now + 2 * 60 * 60 * 1000)] {
        let before = store.reads();
        let refused = registry.execute(id, read(&c, unknown, 3_000)).await;
        assert!(
            matches!(
                refused,
                Err(ActorError::Domain(DomainError::MessageNotFound))
            ),
            "{refused:?}"
        );
        reads_for.push(store.reads() - before);
    }
    // 2,001 events in pages of 512: the whole stream is 4 pages.
    assert_eq!(reads_for, [4, 1]);
}
