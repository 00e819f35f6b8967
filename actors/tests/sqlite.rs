//! The registry over the embedded SQLite log in a temporary directory: real
//! durability, real group commits, actors on several arbiters.

mod support;

use std::sync::Arc;

use souk_actors::{ActorError, ConversationRegistry, RegistryConfig};
use souk_domain::{Command, Role};
use souk_store::{SqliteConfig, SqliteStore, StoreError};
use support::*;

fn config(shards: usize) -> RegistryConfig {
    RegistryConfig {
        shards,
        ..RegistryConfig::default()
    }
}

#[actix_rt::test]
async fn concurrent_senders_on_sqlite_then_a_reopened_log_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Arc::new(SqliteStore::open(&path, SqliteConfig::default()).unwrap());
    let registry = ConversationRegistry::start(store.clone(), config(2));
    let (c, v) = (customer(), vendor());
    let id = conversation_of(&c, &v);

    let started = registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
    assert!(started.created);
    assert_eq!(started.position, 1);

    let sends = (0..50).map(|i| {
        let by = if i % 2 == 0 { &c } else { &v };
        registry.execute(id, send(by, &format!("m{i}"), Some(&format!("k{i}")), t(i)))
    });
    let mut seqs = Vec::new();
    for reply in futures::future::join_all(sends).await {
        let reply = reply.unwrap();
        assert!(reply.created);
        let m = reply.message.unwrap();
        // The reply's recorded event is the message, at the reply's position.
        assert_eq!(reply.recorded.last().unwrap().position, reply.position);
        assert_eq!(
            reply.recorded.last().unwrap().decode().unwrap(),
            souk_domain::ConversationEvent::MessageSent(m.clone())
        );
        seqs.push(m.seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());
    let stats = store.stats();
    assert!(
        stats.commits < 10,
        "50 sends took {} commits",
        stats.commits
    );

    let read = registry
        .execute(
            id,
            Command::MarkAllRead {
                by: c.clone(),
                at: t(100),
            },
        )
        .await
        .unwrap();
    assert_eq!((read.unread, read.last_read_at), (0, Some(t(100))));
    let typing = registry
        .execute(
            id,
            Command::StartTyping {
                by: v.clone(),
                at: t(101),
            },
        )
        .await
        .unwrap();
    assert_eq!(typing.recorded.len(), 1);

    // The log is closed: commands are answered with the store's error.
    store.close().await;
    let err = registry
        .execute(id, send(&c, "late", None, t(200)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ActorError::Store(StoreError::Closed)),
        "{err:?}"
    );
    drop(registry);

    // Another process's view: reopen the file, fresh actors fold it.
    let reopened = Arc::new(SqliteStore::open(&path, SqliteConfig::default()).unwrap());
    let logged: Vec<u64> = stream_messages(reopened.as_ref(), id)
        .await
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(logged, (1..=50).collect::<Vec<u64>>());
    let registry = ConversationRegistry::start(reopened.clone(), config(0));
    let state = registry.state(id).await.unwrap();
    assert_eq!(state.last_seq(), 50);
    assert_eq!(state.typing, [false, true]);
    assert_eq!(state.unread(Role::Customer), 0);
    assert_eq!(state.unread(Role::Vendor), 25);
    let next = registry
        .execute(id, send(&v, "back", None, t(300)))
        .await
        .unwrap();
    assert_eq!(next.message.unwrap().seq, 51);
    // 1 start + 50 messages + 1 read + 1 typing start, then the typing stop
    // and this message.
    assert_eq!(next.position, 55);
    let retry = registry
        .execute(id, send(&c, "m0", Some("k0"), t(301)))
        .await
        .unwrap();
    assert_eq!((retry.created, retry.duplicate_of), (false, Some(1)));
}

#[actix_rt::test]
async fn many_conversations_on_sqlite_across_arbiters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("events.db"), SqliteConfig::default()).unwrap(),
    );
    let registry = ConversationRegistry::start(store.clone(), config(2));
    let tasks = (0..200).map(|i| {
        let registry = registry.clone();
        async move {
            let c = customer_of(&format!("c-{i}"));
            let v = vendor_of(&format!("v-{}", i % 7));
            let id = conversation_of(&c, &v);
            registry.execute(id, start_of(&c, &v, t(0))).await.unwrap();
            let sends = (0..4).map(|k| {
                registry.execute(id, send(if k % 2 == 0 { &c } else { &v }, "x", None, t(k)))
            });
            let replies: Vec<_> = futures::future::join_all(sends)
                .await
                .into_iter()
                .map(|r| r.unwrap().message.unwrap())
                .collect();
            (id, replies)
        }
    });
    for (id, replies) in futures::future::join_all(tasks).await {
        let logged = stream_messages(store.as_ref(), id).await;
        assert_eq!(
            logged.iter().map(|m| m.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        for m in replies {
            assert!(logged.contains(&m));
        }
    }
    assert_eq!(registry.live_actors().await, 200);
}
