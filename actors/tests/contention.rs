//! Several registries over one log, as several nodes sharing one PostgreSQL
//! log would be: each hosts an actor for the same conversation, the expected
//! revision makes the losers reload and retry, and every sender succeeds with
//! `seq` 1, 2, 3 ... and no message recorded twice.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use souk_actors::{ConversationRegistry, RegistryConfig};
use souk_store::MemoryStore;
use support::*;

/// Each registry on its own arbiters (threads), as separate nodes would be.
fn node(store: &Arc<Instrumented>) -> ConversationRegistry {
    ConversationRegistry::start(
        store.clone(),
        RegistryConfig {
            shards: 2,
            ..RegistryConfig::default()
        },
    )
}

#[actix_rt::test]
async fn sixty_senders_over_three_nodes_into_one_conversation_all_succeed() {
    const SENDERS: usize = 60;
    let store = instrumented();
    let nodes = [node(&store), node(&store), node(&store)];
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    nodes[0].execute(id, start_of(&c, &v, t(0))).await.unwrap();
    // Every node has the conversation loaded before the rush, so that each
    // one's first append expects the same revision and all but one conflict.
    for n in &nodes {
        n.state(id).await.unwrap();
    }

    // A database round trip, so that the nodes' appends overlap.
    store.set_append_delay(Duration::from_millis(2));
    let before = store.appends();
    let mut sends = Vec::new();
    for i in 0..SENDERS {
        let registry = nodes[i % nodes.len()].clone();
        let by = if i % 2 == 0 { c.clone() } else { v.clone() };
        sends.push(tokio::spawn(async move {
            registry
                .execute(id, send(&by, &format!("m{i}"), None, t(1 + i as i64)))
                .await
        }));
    }
    let mut seqs = Vec::new();
    for s in sends {
        let reply = s.await.unwrap().expect("every sender succeeds");
        seqs.push(reply.message.unwrap().seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=SENDERS as u64).collect::<Vec<_>>());
    assert!(
        store.appends() - before > 1,
        "the nodes did contend (appends: {})",
        store.appends() - before
    );

    let recorded = stream_messages(store.inner().as_ref(), id).await;
    let in_log: Vec<u64> = recorded.iter().map(|m| m.seq).collect();
    assert_eq!(in_log, (1..=SENDERS as u64).collect::<Vec<_>>());
    let texts: HashSet<String> = recorded
        .iter()
        .map(|m| m.text.as_ref().unwrap().as_str().to_owned())
        .collect();
    assert_eq!(texts.len(), SENDERS, "each message recorded exactly once");
    // A node whose state is behind the log catches up at its next write.
    for (k, n) in nodes.iter().enumerate() {
        let next = n
            .execute(id, send(&c, "after", None, t(1_000 + k as i64)))
            .await
            .unwrap();
        assert_eq!(next.message.unwrap().seq, (SENDERS + k + 1) as u64);
    }
}

#[actix_rt::test]
async fn one_client_message_id_sent_through_two_nodes_at_once_records_one_message() {
    let store = instrumented();
    let (a, b) = (node(&store), node(&store));
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    a.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    b.state(id).await.unwrap();
    store.set_append_delay(Duration::from_millis(1));

    for round in 0..20 {
        let cid = format!("retry-{round}");
        let (via_a, via_b) = tokio::join!(
            a.execute(id, send(&c, "once", Some(&cid), t(10 + round))),
            b.execute(id, send(&c, "once", Some(&cid), t(10 + round)))
        );
        let (via_a, via_b) = (via_a.unwrap(), via_b.unwrap());
        // One recorded it; the other names the same message by its seq.
        let seq_of =
            |r: &souk_actors::CommandReply| r.message.as_ref().map(|m| m.seq).or(r.duplicate_of);
        assert_eq!(seq_of(&via_a), seq_of(&via_b), "round {round}: one message");
        assert_eq!(seq_of(&via_a), Some(round as u64 + 1));
        assert_eq!(
            [via_a.created, via_b.created]
                .iter()
                .filter(|c| **c)
                .count(),
            1,
            "round {round}: exactly one of the two recorded it"
        );
    }
    assert_eq!(stream_messages(store.inner().as_ref(), id).await.len(), 20);
}

#[actix_rt::test]
async fn a_memory_store_shared_by_two_registries_serves_reads_of_either() {
    // The plain in-memory log (no instrumentation) behaves the same.
    let store = Arc::new(MemoryStore::new());
    let cfg = || RegistryConfig {
        shards: 1,
        ..RegistryConfig::default()
    };
    let (a, b) = (
        ConversationRegistry::start(store.clone(), cfg()),
        ConversationRegistry::start(store.clone(), cfg()),
    );
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);
    a.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    b.state(id).await.unwrap();
    a.execute(id, send(&c, "via a", None, t(1))).await.unwrap();
    let via_b = b.execute(id, send(&v, "via b", None, t(2))).await.unwrap();
    assert_eq!(via_b.message.unwrap().seq, 2);
    assert_eq!(via_b.unread, 1, "b reloaded and sees a's message");
}

/// With `shared_log`, an actor reads what its stream gained before deciding:
/// a customer on one node and a vendor on another taking turns never
/// conflict (without it, every turn conflicts once and reloads the stream).
#[actix_rt::test]
async fn nodes_that_read_before_deciding_take_turns_without_conflicts() {
    const TURNS: usize = 20;
    for shared_log in [true, false] {
        let store = instrumented();
        let config = || RegistryConfig {
            shards: 1,
            shared_log,
            ..RegistryConfig::default()
        };
        let (a, b) = (
            ConversationRegistry::start(store.clone(), config()),
            ConversationRegistry::start(store.clone(), config()),
        );
        let (c, v) = (customer(), vendor());
        let id = conversation_of(&c, &v);
        a.execute(id, start_of(&c, &v, t(0))).await.unwrap();
        b.state(id).await.unwrap();
        let before = store.appends();
        for i in 0..TURNS {
            let (node, by) = if i % 2 == 0 { (&a, &c) } else { (&b, &v) };
            let reply = node
                .execute(id, send(by, &format!("turn {i}"), None, t(1 + i as i64)))
                .await
                .unwrap();
            assert_eq!(reply.message.unwrap().seq, i as u64 + 1);
        }
        let appends = store.appends() - before;
        if shared_log {
            assert_eq!(appends, TURNS, "one append a turn, no conflict");
        } else {
            assert!(
                appends > TURNS,
                "a stale actor conflicts: {appends} appends"
            );
        }
    }
}
