//! Measures the registry over the embedded SQLite log in a temporary
//! directory:
//!
//! 1. 50 senders at once to one conversation, 20 rounds (1,000 messages);
//! 2. 1,000 conversations at once, 5 messages each (5,000 messages).
//!
//! For each: messages per second, and how many appends, commits (fsyncs) it
//! took. Run with `cargo run -p souk-actors --release --example throughput`.

use std::sync::Arc;
use std::time::Instant;

use souk_actors::{ConversationRegistry, RegistryConfig};
use souk_domain::{
    Actor, Command, ConversationId, MessageContent, MessageId, MessageText, Participant, Role,
    Timestamp, UserId,
};
use souk_store::{SqliteConfig, SqliteStore, WriterStats};

fn actor(id: &str, role: Role) -> Actor {
    Actor {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
    }
}

fn start(c: &Actor, v: &Actor) -> (ConversationId, Command) {
    Command::start_conversation(
        Participant {
            id: c.id.clone(),
            name: None,
        },
        Participant {
            id: v.id.clone(),
            name: None,
        },
        None,
        Role::Customer,
        Timestamp::now(),
    )
}

fn send(by: &Actor, text: &str) -> Command {
    Command::SendMessage {
        by: by.clone(),
        message_id: MessageId::new(),
        content: MessageContent::Text(MessageText::parse(text).unwrap()),
        client_message_id: None,
        at: Timestamp::now(),
    }
}

fn report(name: &str, messages: u64, started: Instant, before: WriterStats, after: WriterStats) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{name}: {messages} messages in {:.0} ms = {:.0} msg/s; {} appends, {} commits ({:.1} events/commit)",
        secs * 1000.0,
        messages as f64 / secs,
        after.appends - before.appends,
        after.commits - before.commits,
        (after.events - before.events) as f64 / (after.commits - before.commits).max(1) as f64,
    );
}

fn main() {
    actix_rt::System::new().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("events.db"), SqliteConfig::default()).unwrap(),
        );
        let registry = ConversationRegistry::start(store.clone(), RegistryConfig::default());

        // 1. One busy conversation.
        let (c, v) = (actor("c-0", Role::Customer), actor("v-0", Role::Vendor));
        let (id, command) = start(&c, &v);
        registry.execute(id, command).await.unwrap();
        let before = store.stats();
        let t0 = Instant::now();
        for round in 0..20 {
            let sends = (0..50).map(|i| {
                let by = if i % 2 == 0 { &c } else { &v };
                registry.execute(id, send(by, &format!("{round}/{i}")))
            });
            for reply in futures::future::join_all(sends).await {
                reply.unwrap();
            }
        }
        report(
            "50 senders x 20 rounds, one conversation",
            1000,
            t0,
            before,
            store.stats(),
        );

        // 2. Many conversations.
        let before = store.stats();
        let t0 = Instant::now();
        let conversations = (0..1000).map(|i| {
            let registry = registry.clone();
            async move {
                let c = actor(&format!("c-{i}"), Role::Customer);
                let v = actor(&format!("v-{}", i % 50), Role::Vendor);
                let (id, command) = start(&c, &v);
                registry.execute(id, command).await.unwrap();
                for k in 0..5 {
                    let by = if k % 2 == 0 { &c } else { &v };
                    registry.execute(id, send(by, "hello")).await.unwrap();
                }
            }
        });
        futures::future::join_all(conversations).await;
        report(
            "1,000 conversations x 5 messages",
            5000,
            t0,
            before,
            store.stats(),
        );
        println!("live actors: {}", registry.live_actors().await);
    });
}
