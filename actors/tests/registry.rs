//! The registry and its conversation actors against the in-memory log:
//! replies, idempotency, ordering under concurrency, conflicts and failures.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use souk_actors::{ActorError, ConversationRegistry, RegistryConfig};
use souk_domain::{Command, ConversationEvent, DomainError, MessageId, Role, TypingStopReason};
use souk_store::{EventStore, ExpectedRevision, MemoryStore, NewEvent, StoreError};
use support::*;

fn local() -> RegistryConfig {
    RegistryConfig {
        shards: 0,
        ..RegistryConfig::default()
    }
}

fn sharded(shards: usize) -> RegistryConfig {
    RegistryConfig {
        shards,
        ..RegistryConfig::default()
    }
}

#[actix_rt::test]
async fn start_send_read_and_type_through_the_registry() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    let mut recorded = Vec::new();

    let started = registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    assert!(started.created);
    assert_eq!(started.position, 1);
    assert_eq!(started.recorded.len(), 1);
    assert_eq!(started.recorded[0].event_type, "ConversationStarted");
    assert_eq!(started.recorded[0].stream, id.stream_name());
    assert_eq!(started.info.as_ref().unwrap().customer.id, c.id);
    assert_eq!((started.unread, started.message.is_none()), (0, true));
    recorded.extend(started.recorded);

    let again = registry.execute(id, start_of(&c, &v, t(5))).await.unwrap();
    assert!(!again.created && again.recorded.is_empty());
    assert_eq!(again.position, 1);
    assert_eq!(again.info.unwrap().created_at, t(0));

    let hi = registry
        .execute(id, send(&c, "hi", Some("a"), t(10)))
        .await
        .unwrap();
    let m1 = hi.message.clone().unwrap();
    assert!(hi.created);
    assert_eq!((m1.seq, m1.text.as_ref().unwrap().as_str()), (1, "hi"));
    assert_eq!((hi.position, hi.unread), (2, 0));
    assert_eq!(hi.info.as_ref().unwrap().updated_at, t(10));
    recorded.extend(hi.recorded);

    let hello = registry
        .execute(id, send(&v, "hello", None, t(20)))
        .await
        .unwrap();
    assert_eq!(hello.message.as_ref().unwrap().seq, 2);
    assert_eq!(hello.position, 3);
    // The vendor has not read the customer's "hi".
    assert_eq!(hello.unread, 1);
    assert_eq!(hello.last_read_at, None);
    recorded.extend(hello.recorded);

    let read = Command::MarkRead {
        by: c.clone(),
        up_to: hello.message.as_ref().unwrap().message_id,
        at: t(30),
    };
    let r = registry.execute(id, read.clone()).await.unwrap();
    assert_eq!(r.recorded.len(), 1);
    assert_eq!(r.recorded[0].event_type, "MessageRead");
    assert_eq!((r.position, r.unread, r.last_read_at), (4, 0, Some(t(30))));
    assert!(!r.created && r.message.is_none());
    recorded.extend(r.recorded);

    let r = registry.execute(id, read).await.unwrap();
    assert!(r.recorded.is_empty());
    assert_eq!((r.position, r.last_read_at), (4, Some(t(30))));

    let typing = Command::StartTyping {
        by: v.clone(),
        at: t(40),
    };
    let on = registry.execute(id, typing.clone()).await.unwrap();
    assert_eq!(on.recorded.len(), 1);
    assert_eq!(on.recorded[0].event_type, "TypingStarted");
    recorded.extend(on.recorded);
    let still = registry.execute(id, typing).await.unwrap();
    assert!(still.recorded.is_empty());
    assert_eq!(still.position, 5);

    // Sending stops the sender's typing, in the same append.
    let sent = registry
        .execute(id, send(&v, "price?", None, t(50)))
        .await
        .unwrap();
    let types: Vec<_> = sent
        .recorded
        .iter()
        .map(|e| e.event_type.as_str())
        .collect();
    assert_eq!(types, ["TypingStopped", "MessageSent"]);
    assert_eq!(sent.position, 7);
    assert_eq!(sent.recorded[1].position, 7);
    assert_eq!(sent.message.as_ref().unwrap().seq, 3);
    recorded.extend(sent.recorded);

    // What the replies said was recorded is exactly the log.
    assert_eq!(store.all_events(), recorded);
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), 3);
    assert_eq!(state.typing, [false, false]);
    assert_eq!(state.unread(Role::Customer), 1);
    assert_eq!(registry.live_actors().await, 1);
}

#[actix_rt::test]
async fn a_repeated_client_message_id_returns_the_earlier_message() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    let first = registry
        .execute(id, send(&c, "hi", Some("tab1-1"), t(1)))
        .await
        .unwrap();
    let retry = registry
        .execute(id, send(&c, "hi (retried)", Some("tab1-1"), t(2)))
        .await
        .unwrap();
    assert!(first.created);
    assert!(!retry.created);
    assert!(retry.recorded.is_empty());
    assert_eq!(
        retry.message, None,
        "the actor keeps no text: the caller reads it"
    );
    assert_eq!(
        retry.duplicate_of,
        Some(first.message.as_ref().unwrap().seq)
    );
    assert_eq!(retry.position, first.position);
    assert_eq!(stream_messages(store.as_ref(), id).await.len(), 1);

    // The id is the sender's own: the other side may use the same one.
    let other = registry
        .execute(id, send(&v, "yo", Some("tab1-1"), t(3)))
        .await
        .unwrap();
    assert!(other.created);
    assert_eq!(other.message.unwrap().seq, 2);
}

/// 50 senders at once: seq 1..50, no gap, no repeat, in far fewer appends
/// than messages.
#[actix_rt::test]
async fn fifty_concurrent_senders_to_one_conversation() {
    let store = instrumented();
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let appends_before = store.appends();

    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let registry = registry.clone();
            let by = if i % 2 == 0 { c.clone() } else { v.clone() };
            actix_rt::spawn(async move {
                registry
                    .execute(
                        id,
                        send(&by, &format!("m{i}"), Some(&format!("k{i}")), t(i)),
                    )
                    .await
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for task in tasks {
        let reply = task.await.unwrap().unwrap();
        assert!(reply.created);
        seqs.push(reply.message.unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());

    let logged: Vec<u64> = stream_messages(store.inner().as_ref(), id)
        .await
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(logged, (1..=50).collect::<Vec<u64>>());
    let appends = store.appends() - appends_before;
    assert!(appends <= 3, "50 sends took {appends} appends");
}

/// The same over real arbiters: callers on one thread, the actor on another.
#[actix_rt::test]
async fn fifty_concurrent_senders_across_threads() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), sharded(2));
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let replies = futures::future::join_all(
        (0..50).map(|i| registry.execute(id, send(&c, &format!("m{i}"), None, t(i)))),
    )
    .await;
    let mut seqs: Vec<u64> = replies
        .into_iter()
        .map(|r| r.unwrap().message.unwrap().seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());
    let logged: Vec<u64> = stream_messages(store.as_ref(), id)
        .await
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(logged, (1..=50).collect::<Vec<u64>>());
}

#[actix_rt::test]
async fn a_thousand_conversations_at_once_stay_consistent() {
    const CONVERSATIONS: usize = 1000;
    const MESSAGES: u64 = 3;
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), sharded(3));

    let tasks = (0..CONVERSATIONS).map(|i| {
        let registry = registry.clone();
        async move {
            let c = customer_of(&format!("c-{i}"));
            let v = vendor_of(&format!("v-{}", i % 17));
            let id = conversation_of(&c, &v);
            registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
            let sends = (0..MESSAGES).map(|k| {
                let by = if k % 2 == 0 { &c } else { &v };
                registry.execute(
                    id,
                    send(by, &format!("{i}/{k}"), Some(&format!("k{k}")), t(k as i64)),
                )
            });
            let replies = futures::future::join_all(sends).await;
            let messages: Vec<_> = replies
                .into_iter()
                .map(|r| r.unwrap().message.unwrap())
                .collect();
            (id, messages)
        }
    });
    let results = futures::future::join_all(tasks).await;

    let mut ids = HashSet::new();
    for (id, replied) in results {
        assert!(ids.insert(id));
        let logged = stream_messages(store.as_ref(), id).await;
        let seqs: Vec<u64> = logged.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=MESSAGES).collect::<Vec<_>>(), "{id}");
        for m in &replied {
            assert!(
                logged.contains(m),
                "{id}: replied message {} not in the log",
                m.seq
            );
        }
    }
    assert_eq!(registry.live_actors().await, CONVERSATIONS);
    assert_eq!(
        store.all_events().len(),
        CONVERSATIONS * (1 + MESSAGES as usize)
    );
}

/// Another writer (another node) appends behind the actor's back: the actor's
/// next append conflicts, it reloads, decides again and succeeds.
#[actix_rt::test]
async fn a_conflict_reloads_and_retries_once() {
    let store = instrumented();
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let first = registry
        .execute(id, send(&c, "one", None, t(1)))
        .await
        .unwrap();
    assert_eq!(first.message.unwrap().seq, 1);

    // The other node's message: seq 2, at stream revision 2.
    let theirs = ConversationEvent::MessageSent(souk_domain::MessageSent {
        message_id: MessageId::new(),
        seq: 2,
        sender: souk_domain::Sender {
            id: v.id.clone(),
            role: Role::Vendor,
        },
        sender_name: None,
        kind: souk_domain::MessageKind::Text,
        text: Some(souk_domain::MessageText::parse("from node B").unwrap()),
        product: None,
        client_message_id: None,
        at: t(2),
    });
    store
        .inner()
        .append(
            &id.stream_name(),
            ExpectedRevision::Exact(1),
            vec![NewEvent::from_domain(&theirs)],
        )
        .await
        .unwrap();

    let before = store.appends();
    let mine = registry
        .execute(id, send(&c, "three", None, t(3)))
        .await
        .unwrap();
    assert_eq!(store.appends() - before, 2, "one conflict, one retry");
    assert_eq!(mine.message.as_ref().unwrap().seq, 3);
    assert_eq!(mine.recorded[0].revision, 3);
    // The reply's figures come from the reloaded state: the customer has
    // one unread message, the one from node B.
    assert_eq!(mine.unread, 1);
    let seqs: Vec<u64> = stream_messages(store.inner().as_ref(), id)
        .await
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(registry.state(id).await.unwrap().last_seq(), 3);
}

#[actix_rt::test]
async fn a_stream_that_keeps_conflicting_answers_conflict() {
    let store = instrumented();
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    store.set_conflict_always(true);
    let before = store.appends();
    let err = registry
        .execute(id, send(&c, "hi", None, t(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ActorError::Conflict(StoreError::WrongExpectedRevision { .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        store.appends() - before,
        10,
        "tried once, retried nine times, then gave up"
    );

    // The state did not keep the refused message.
    store.set_conflict_always(false);
    let ok = registry
        .execute(id, send(&c, "hi again", None, t(2)))
        .await
        .unwrap();
    assert_eq!(ok.message.unwrap().seq, 1);
}

/// A failing log: the callers get `Store`, and the next command is decided on
/// the state the log has, not on the one that was refused.
#[actix_rt::test]
async fn a_failed_append_answers_store_and_the_state_follows_the_log() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    store.set_fail_appends(true);
    let err = registry
        .execute(id, send(&c, "lost", Some("x"), t(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Store(StoreError::Unavailable(_))),
        "{err:?}"
    );

    store.set_fail_appends(false);
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), 0);
    // Same client id: not taken for a retry of the lost message.
    let ok = registry
        .execute(id, send(&c, "kept", Some("x"), t(2)))
        .await
        .unwrap();
    assert!(ok.created);
    let m = ok.message.unwrap();
    assert_eq!((m.seq, m.text.unwrap().as_str()), (1, "kept"));
    assert_eq!(ok.position, 2);
}

#[actix_rt::test]
async fn outsiders_and_unknown_conversations_are_refused() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);

    let err = registry
        .execute(id, send(&c, "hi", None, t(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::ConversationNotFound)),
        "{err:?}"
    );
    let state = registry.state(id).await.unwrap();
    assert!(state.info.is_none());

    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let log_len = store.all_events().len();

    let outsider = customer_of("c-2");
    let err = registry
        .execute(id, send(&outsider, "hi", None, t(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::NotAParticipant)),
        "{err:?}"
    );
    // The customer's id acting as vendor is not the vendor.
    let mut posing = c.clone();
    posing.role = Role::Vendor;
    let err = registry
        .execute(
            id,
            Command::StartTyping {
                by: posing,
                at: t(1),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::NotAParticipant)),
        "{err:?}"
    );

    let err = registry
        .execute(
            id,
            Command::MarkRead {
                by: c.clone(),
                up_to: MessageId::new(),
                at: t(2),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::MessageNotFound)),
        "{err:?}"
    );

    // A start naming this id with other participants.
    let mut other = start_of(&outsider, &v, t(3));
    if let Command::StartConversation {
        conversation_id, ..
    } = &mut other
    {
        *conversation_id = id;
    }
    let err = registry.execute(id, other).await.unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::ParticipantsMismatch)),
        "{err:?}"
    );
    // A start routed to another conversation than the one it names.
    let elsewhere = conversation_of(&outsider, &v);
    let err = registry
        .execute(elsewhere, start_of(&c, &v, t(3)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Domain(DomainError::ParticipantsMismatch)),
        "{err:?}"
    );

    assert_eq!(store.all_events().len(), log_len, "refusals record nothing");
}

/// Typing stops by itself `typing_timeout` after the last start.
#[actix_rt::test]
async fn typing_expires_and_a_new_start_rearms_the_timer() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    registry
        .execute(
            id,
            Command::StartTyping {
                by: c.clone(),
                at: t(1_000),
            },
        )
        .await
        .unwrap();
    advance(4_900).await;
    assert_eq!(registry.state(id).await.unwrap().typing, [true, false]);
    assert_eq!(last_typing_stop(store.as_ref(), id).await, None);

    advance(200).await;
    assert_eq!(registry.state(id).await.unwrap().typing, [false, false]);
    let stop = last_typing_stop(store.as_ref(), id).await.unwrap();
    assert_eq!(stop.reason, Some(TypingStopReason::Expired));
    assert_eq!((stop.role, stop.at), (Role::Customer, t(6_000)));

    // Start again (at 5.1 s on the clock), then once more 3 s later while
    // still typing: that records nothing but moves the expiry.
    registry
        .execute(
            id,
            Command::StartTyping {
                by: v.clone(),
                at: t(10_000),
            },
        )
        .await
        .unwrap();
    advance(3_000).await;
    let again = registry
        .execute(
            id,
            Command::StartTyping {
                by: v.clone(),
                at: t(13_000),
            },
        )
        .await
        .unwrap();
    assert!(again.recorded.is_empty());
    advance(3_000).await; // 6 s after the first start, 3 s after the second
    assert_eq!(registry.state(id).await.unwrap().typing, [false, true]);
    advance(2_100).await;
    assert_eq!(registry.state(id).await.unwrap().typing, [false, false]);
    let stop = last_typing_stop(store.as_ref(), id).await.unwrap();
    assert_eq!((stop.role, stop.at), (Role::Vendor, t(18_000)));
    assert_eq!(typing_stops(store.as_ref(), id).await, 2);
}

#[actix_rt::test]
async fn an_explicit_stop_or_a_sent_message_cancels_the_timer() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    let start = |at| Command::StartTyping {
        by: c.clone(),
        at: t(at),
    };

    // Start at 0 s, stop at 1 s, start at 4 s: a timer left from the first
    // start would stop the second typing at 5 s.
    registry.execute(id, start(0)).await.unwrap();
    advance(1_000).await;
    let stop = Command::StopTyping {
        by: c.clone(),
        reason: TypingStopReason::Stopped,
        at: t(1_000),
    };
    assert_eq!(registry.execute(id, stop).await.unwrap().recorded.len(), 1);
    advance(3_000).await;
    registry.execute(id, start(4_000)).await.unwrap();
    advance(1_500).await;
    assert_eq!(registry.state(id).await.unwrap().typing, [true, false]);

    // A message stops typing; its timer must not fire afterwards.
    let sent = registry
        .execute(id, send(&c, "hi", None, t(6_000)))
        .await
        .unwrap();
    assert_eq!(sent.recorded.len(), 2);
    advance(10_000).await;
    let reasons: Vec<_> = stream_events(store.as_ref(), id)
        .await
        .into_iter()
        .filter_map(|e| match e {
            ConversationEvent::TypingStopped(t) => t.reason,
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [TypingStopReason::Stopped, TypingStopReason::MessageSent]
    );
}

#[actix_rt::test]
async fn idle_actors_stop_and_come_back_from_the_log() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let config = RegistryConfig {
        shards: 0,
        idle_timeout: Duration::from_secs(60),
        typing_timeout: Duration::from_secs(5),
        ..RegistryConfig::default()
    };
    let registry = ConversationRegistry::start(store.clone(), config);
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    registry
        .execute(id, send(&c, "one", Some("a"), t(1)))
        .await
        .unwrap();
    registry
        .execute(id, send(&v, "two", None, t(2)))
        .await
        .unwrap();
    assert_eq!(registry.live_actors().await, 1);

    advance(30_000).await;
    // Activity halfway restarts the count.
    registry
        .execute(
            id,
            Command::MarkAllRead {
                by: c.clone(),
                at: t(3),
            },
        )
        .await
        .unwrap();
    advance(59_000).await;
    assert_eq!(registry.live_actors().await, 1);
    advance(2_000).await;
    assert_eq!(registry.live_actors().await, 0);

    // A fresh actor folds the stream again: seq, read marker, idempotency.
    let three = registry
        .execute(id, send(&c, "three", None, t(4)))
        .await
        .unwrap();
    assert_eq!(three.message.unwrap().seq, 3);
    assert_eq!(three.last_read_at, Some(t(3)));
    let retry = registry
        .execute(id, send(&c, "one", Some("a"), t(5)))
        .await
        .unwrap();
    assert!(!retry.created);
    assert_eq!(retry.duplicate_of, Some(1));
    assert_eq!(registry.live_actors().await, 1);
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), 3);
    assert_eq!(state.unread(Role::Vendor), 2);
}

#[actix_rt::test]
async fn a_pending_typing_timer_keeps_the_actor_alive_until_it_fires() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let config = RegistryConfig {
        shards: 0,
        idle_timeout: Duration::from_secs(1),
        typing_timeout: Duration::from_secs(5),
        ..RegistryConfig::default()
    };
    let registry = ConversationRegistry::start(store.clone(), config);
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    registry
        .execute(
            id,
            Command::StartTyping {
                by: v.clone(),
                at: t(0),
            },
        )
        .await
        .unwrap();
    for _ in 0..4 {
        advance(1_000).await;
        assert_eq!(registry.live_actors().await, 1);
    }
    advance(1_100).await;
    let stop = last_typing_stop(store.as_ref(), id).await.unwrap();
    assert_eq!(stop.reason, Some(TypingStopReason::Expired));
    for _ in 0..3 {
        advance(1_000).await;
    }
    assert_eq!(registry.live_actors().await, 0);
}

async fn typing_stops_of(
    store: &dyn EventStore,
    id: souk_domain::ConversationId,
) -> Vec<souk_domain::Typing> {
    stream_events(store, id)
        .await
        .into_iter()
        .filter_map(|e| match e {
            ConversationEvent::TypingStopped(t) => Some(t),
            _ => None,
        })
        .collect()
}

async fn last_typing_stop(
    store: &dyn EventStore,
    id: souk_domain::ConversationId,
) -> Option<souk_domain::Typing> {
    typing_stops_of(store, id).await.pop()
}

async fn typing_stops(store: &dyn EventStore, id: souk_domain::ConversationId) -> usize {
    typing_stops_of(store, id).await.len()
}

/// A cancelled typing timer no longer holds the actor: once typing stops
/// (explicitly or by a message), the actor passivates on the idle timeout, not
/// after the typing timeout.
#[actix_rt::test]
async fn a_cancelled_typing_timer_no_longer_holds_the_actor() {
    tokio::time::pause();
    let store = Arc::new(MemoryStore::new());
    let config = RegistryConfig {
        shards: 0,
        idle_timeout: Duration::from_secs(1),
        typing_timeout: Duration::from_secs(5),
        ..RegistryConfig::default()
    };
    let registry = ConversationRegistry::start(store.clone(), config);
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    registry
        .execute(
            id,
            Command::StartTyping {
                by: c.clone(),
                at: t(0),
            },
        )
        .await
        .unwrap();
    advance(500).await;
    let stop = Command::StopTyping {
        by: c.clone(),
        reason: TypingStopReason::Stopped,
        at: t(500),
    };
    registry.execute(id, stop).await.unwrap();
    advance(1_000).await;
    advance(1_000).await;
    assert_eq!(
        registry.live_actors().await,
        0,
        "stopped typing still holds the actor"
    );

    registry
        .execute(
            id,
            Command::StartTyping {
                by: c.clone(),
                at: t(2_500),
            },
        )
        .await
        .unwrap();
    advance(500).await;
    registry
        .execute(id, send(&c, "hi", None, t(3_000)))
        .await
        .unwrap();
    advance(1_000).await;
    advance(1_000).await;
    assert_eq!(
        registry.live_actors().await,
        0,
        "a sent message left the timer armed"
    );
    assert_eq!(
        typing_stops_of(store.as_ref(), id)
            .await
            .iter()
            .map(|t| t.reason)
            .collect::<Vec<_>>(),
        [
            Some(TypingStopReason::Stopped),
            Some(TypingStopReason::MessageSent)
        ]
    );
}

/// A long stream is loaded in pages by a fresh actor (another registry over
/// the same log, as after a restart).
#[actix_rt::test]
async fn a_long_stream_is_loaded_whole() {
    const MESSAGES: u64 = 1_300;
    let store = Arc::new(MemoryStore::new());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    {
        let registry = ConversationRegistry::start(store.clone(), local());
        registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
        let sends = (0..MESSAGES).map(|i| {
            let by = if i % 3 == 0 { &v } else { &c };
            registry.execute(id, send(by, "x", Some(&format!("k{i}")), t(i as i64)))
        });
        for reply in futures::future::join_all(sends).await {
            reply.unwrap();
        }
    }
    let registry = ConversationRegistry::start(store.clone(), local());
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), MESSAGES);
    assert_eq!(state.events_applied, MESSAGES + 1);
    let next = registry
        .execute(id, send(&c, "next", None, t(9_999)))
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, MESSAGES + 1);
    assert_eq!(next.position, MESSAGES + 2);
    // The last client id is recognised after the reload...
    let retry = registry
        .execute(id, send(&v, "x", Some("k1299"), t(10_000)))
        .await
        .unwrap();
    assert_eq!((retry.created, retry.duplicate_of), (false, Some(MESSAGES)));
    // ...the first, 1,300 client ids ago, is past the idempotency window.
    assert!(MESSAGES as usize > souk_domain::IDEMPOTENCY_WINDOW);
    let late = registry
        .execute(id, send(&v, "x", Some("k0"), t(10_001)))
        .await
        .unwrap();
    assert!(late.created);
}

/// The socket edge runs on its own multi-thread tokio runtime: the registry
/// handle is sent there and used from its worker threads.
#[actix_rt::test]
async fn the_registry_serves_callers_on_a_tokio_multi_thread_runtime() {
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), sharded(2));
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();

    let edge = registry.clone();
    let (c2, v2) = (c.clone(), v.clone());
    let seqs = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let tasks: Vec<_> = (0..20)
                .map(|i| {
                    let edge = edge.clone();
                    let by = if i % 2 == 0 { c2.clone() } else { v2.clone() };
                    tokio::spawn(async move {
                        edge.execute(id, send(&by, "from the edge", None, t(i)))
                            .await
                            .unwrap()
                            .message
                            .unwrap()
                            .seq
                    })
                })
                .collect();
            let mut seqs = Vec::new();
            for task in tasks {
                seqs.push(task.await.unwrap());
            }
            seqs
        })
    })
    .await
    .unwrap();
    let mut seqs = seqs;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=20).collect::<Vec<u64>>());
    assert_eq!(registry.state(id).await.unwrap().last_seq(), 20);
}

/// A stream that cannot be read: every waiting caller gets `Store`, nothing is
/// decided, and the next command loads again.
#[actix_rt::test]
async fn a_failed_load_answers_store_and_is_tried_again() {
    let store = instrumented();
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    {
        let registry = ConversationRegistry::start(store.clone(), local());
        registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
        registry
            .execute(id, send(&c, "one", None, t(1)))
            .await
            .unwrap();
    }
    // A fresh registry, so the conversation must be loaded.
    let registry = ConversationRegistry::start(store.clone(), local());
    store.set_fail_reads(true);
    let appends = store.appends();
    let (a, b, s) = futures::join!(
        registry.execute(id, send(&c, "two", None, t(2))),
        registry.execute(id, send(&v, "three", None, t(3))),
        registry.state(id),
    );
    for err in [a.unwrap_err(), b.unwrap_err(), s.unwrap_err()] {
        assert!(
            matches!(err, ActorError::Store(StoreError::Unavailable(_))),
            "{err:?}"
        );
    }
    assert_eq!(
        store.appends(),
        appends,
        "nothing decided without the state"
    );

    store.set_fail_reads(false);
    let two = registry
        .execute(id, send(&c, "two", None, t(4)))
        .await
        .unwrap();
    assert_eq!(two.message.unwrap().seq, 2);
}

/// Past the memory budget, the least recently used quiet actors are let go
/// before their idle timeout; their conversations come back from the log.
#[actix_rt::test]
async fn memory_pressure_passivates_the_least_recently_used() {
    const CONVERSATIONS: usize = 40;
    const MESSAGES: usize = 300;
    // One actor of 300 messages weighs about 9 KB: the budget holds ~4.
    const BUDGET: usize = 40 * 1024;
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(
        store.clone(),
        RegistryConfig {
            memory_budget: BUDGET,
            ..local()
        },
    );
    let v = vendor();
    let mut ids = Vec::new();
    for n in 0..CONVERSATIONS {
        let c = customer_of(&format!("c-{n}"));
        let id = conversation_of(&c, &v);
        registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
        let sends =
            (0..MESSAGES).map(|i| registry.execute(id, send(&c, "x", None, t(i as i64 + 1))));
        for reply in futures::future::join_all(sends).await {
            reply.unwrap();
        }
        ids.push((id, c));
        settle().await;
        let (live, bytes) = (registry.live_actors().await, registry.live_bytes().await);
        assert!(
            bytes <= BUDGET + 16 * 1024,
            "after {n} conversations: {live} actors hold {bytes} bytes"
        );
    }
    let live = registry.live_actors().await;
    assert!(live < 10, "{live} actors live of {CONVERSATIONS}");
    // The first conversation was let go long ago: it comes back whole.
    let (first, c) = &ids[0];
    let next = registry
        .execute(*first, send(c, "again", None, t(10_000)))
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, MESSAGES as u64 + 1);
}

/// An operator's read through the conversation's actor: recorded once,
/// its repeat within 15 minutes answered without a record, a conversation
/// that does not exist refused, and a log that cannot record answered as a
/// failure (the caller shows nothing then).
#[actix_rt::test]
async fn support_accesses_are_recorded_through_the_actor() {
    use souk_domain::{Operator, SupportReason, SupportView};
    let store = Arc::new(MemoryStore::new());
    let registry = ConversationRegistry::start(store.clone(), local());
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    let access = |reason: &str, at| Command::RecordSupportAccess {
        operator: Operator {
            id: user("o-sam"),
            name: None,
        },
        reason: SupportReason::parse(reason).unwrap(),
        view: SupportView::Events,
        at,
    };

    let missing = registry
        .execute(id, access("ticket 1", t(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            missing,
            ActorError::Domain(DomainError::ConversationNotFound)
        ),
        "{missing:?}"
    );
    assert_eq!(store.last_position().await.unwrap(), 0);

    registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    registry
        .execute(id, send(&c, "hi", None, t(1)))
        .await
        .unwrap();
    let first = registry
        .execute(id, access("ticket 1", t(2)))
        .await
        .unwrap();
    assert_eq!(first.recorded.len(), 1);
    assert_eq!(first.recorded[0].event_type, "SupportAccessed");
    assert_eq!((first.position, first.created, first.unread), (3, false, 0));
    assert_eq!(first.info.as_ref().unwrap().customer.id, c.id);

    let repeat = registry
        .execute(id, access("ticket 1", t(60_000)))
        .await
        .unwrap();
    assert!(repeat.recorded.is_empty());
    assert_eq!(repeat.position, 3);

    store.set_fail_appends(true);
    let failed = registry
        .execute(id, access("ticket 2", t(61_000)))
        .await
        .unwrap_err();
    assert!(matches!(failed, ActorError::Store(_)), "{failed:?}");
    store.set_fail_appends(false);

    // The participants' figures are untouched: the vendor still has the
    // customer's message unread, and the next message is seq 2.
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.unread(Role::Vendor), 1);
    let next = registry
        .execute(id, send(&v, "hello", None, t(62_000)))
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, 2);
}
