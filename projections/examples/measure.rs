//! Measures the read side on a synthetic log: how fast the log is applied
//! (rebuild), how fast live batches are, and how long the queries take.
//!
//! ```text
//! cargo run --release -p souk-projections --example measure -- [messages] [db path] [log dir]
//! ```
//!
//! With a `log dir`, the synthetic log is also written there as an embedded
//! log (`events.db`), for timing `souk projections rebuild --data-dir`.
//!
//! The log: 1,000 customers and 20 vendors, 5,000 conversations, `messages`
//! messages (default 100,000) spread over them, a read every fifth message.

use std::sync::Arc;
use std::time::{Duration, Instant};

use souk_domain::{
    ConversationEvent, ConversationId, ConversationStarted, MessageId, MessageKind, MessageRead,
    MessageSent, MessageText, Participant, Role, Sender, Timestamp, UserId,
};
use souk_projections::{rebuild, HistoryQuery, ListQuery, Projections};
use souk_store::{EventStore, ExpectedRevision, MemoryStore, NewEvent};

const CONVERSATIONS: usize = 5_000;
const T0: i64 = 1_795_000_000_000;

fn user(s: String) -> UserId {
    UserId::parse(&s).expect("a valid id")
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().join("readmodels.db"));
    let _ = std::fs::remove_file(&path);

    let store = Arc::new(MemoryStore::new());
    let mut ids = Vec::with_capacity(CONVERSATIONS);
    for i in 0..CONVERSATIONS {
        let customer = user(format!("c-{}", i % 1000));
        let vendor = user(format!("v-{}", i % 20 + (i / 1000) * 20));
        let id = ConversationId::for_pair(&customer, &vendor);
        let e = ConversationEvent::ConversationStarted(ConversationStarted {
            conversation_id: id,
            customer: Participant {
                id: customer.clone(),
                name: None,
            },
            vendor: Participant {
                id: vendor.clone(),
                name: None,
            },
            product: None,
            started_by: Role::Customer,
            at: Timestamp::from_millis(T0 + i as i64),
        });
        store
            .append(
                &id.stream_name(),
                ExpectedRevision::NoStream,
                vec![NewEvent::from_domain(&e)],
            )
            .await
            .expect("append");
        ids.push((id, customer, vendor, 0u64));
    }
    for n in 0..messages {
        let k = (n * 7919) % CONVERSATIONS;
        let (id, customer, vendor, seq) = &mut ids[k];
        *seq += 1;
        let (sender, role) = if n % 3 == 0 {
            (vendor.clone(), Role::Vendor)
        } else {
            (customer.clone(), Role::Customer)
        };
        let at = Timestamp::from_millis(T0 + 10_000 + n as i64 * 1000);
        let mut events = vec![ConversationEvent::MessageSent(MessageSent {
            message_id: MessageId::new(),
            seq: *seq,
            sender: Sender { id: sender, role },
            sender_name: None,
            kind: MessageKind::Text,
            text: Some(
                MessageText::parse(&format!("message number {n} about a red bike")).unwrap(),
            ),
            product: None,
            client_message_id: None,
            at,
        })];
        if n % 5 == 0 {
            events.push(ConversationEvent::MessageRead(MessageRead {
                reader_id: vendor.clone(),
                reader_role: Role::Vendor,
                reader_name: None,
                up_to_seq: *seq,
                up_to_message_id: MessageId::new(),
                all: true,
                at,
            }));
        }
        store
            .append(
                &id.stream_name(),
                ExpectedRevision::Any,
                events.iter().map(NewEvent::from_domain).collect(),
            )
            .await
            .expect("append");
    }
    let end = store.last_position().await.expect("position");
    if let Some(dir) = args.next() {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("the log folder");
        let log = souk_store::SqliteStore::open(
            &dir.join("events.db"),
            souk_store::SqliteConfig::default(),
        )
        .expect("the embedded log");
        for page in store.all_events().chunks(10_000) {
            log.import(page).await.expect("import");
        }
        println!("wrote the log ({end} events) into {}", dir.display());
    }

    let started = Instant::now();
    let cpu = cpu_seconds();
    rebuild(&path, store.clone()).await.expect("rebuild");
    let took = started.elapsed();
    let cpu = cpu_seconds() - cpu;
    println!(
        "rebuild: {end} events in {:.2?} ({:.0} events/s; {:.2} s of CPU, {:.0} events per CPU second)",
        took,
        end as f64 / took.as_secs_f64(),
        cpu,
        end as f64 / cpu
    );

    let p = Projections::open(&path).expect("open");
    let vendor = user("v-0".into());
    let customer = user("c-0".into());
    let time = |label: &str, runs: u32, d: Duration| {
        println!("{label}: {:.2?} per query (mean of {runs})", d / runs);
    };
    macro_rules! measure {
        ($label:expr, $q:expr) => {{
            let runs = 50;
            $q.await.expect("query");
            let started = Instant::now();
            for _ in 0..runs {
                $q.await.expect("query");
            }
            time($label, runs, started.elapsed());
        }};
    }
    measure!(
        "list (vendor, 30)",
        p.conversations(&vendor, Role::Vendor, ListQuery::default())
    );
    measure!(
        "search 'bike' (vendor, matches every conversation)",
        p.conversations(
            &vendor,
            Role::Vendor,
            ListQuery {
                search: Some("bike".into()),
                ..ListQuery::default()
            }
        )
    );
    measure!(
        "search 'number 4242' (vendor)",
        p.conversations(
            &vendor,
            Role::Vendor,
            ListQuery {
                search: Some("number 4242".into()),
                ..ListQuery::default()
            }
        )
    );
    measure!("unread (customer)", p.unread(&customer, Role::Customer));
    measure!(
        "history (newest 30)",
        p.messages(ids[0].0, HistoryQuery::default())
    );
    measure!(
        "analytics (vendor, 30 days)",
        p.analytics(
            &vendor,
            Timestamp::from_millis(T0),
            Timestamp::from_millis(T0 + 30 * 86_400_000)
        )
    );

    // Live: the consumer applying new events as they are appended.
    let live_store = Arc::new(MemoryStore::new());
    let live_path = dir.path().join("live.db");
    let live = Projections::open(&live_path).expect("open");
    let consumer = live.start(live_store.clone());
    let started = Instant::now();
    for (id, customer, _, _) in ids.iter().take(2000) {
        let e = ConversationEvent::ConversationStarted(ConversationStarted {
            conversation_id: *id,
            customer: Participant {
                id: customer.clone(),
                name: None,
            },
            vendor: Participant {
                id: user("v-live".into()),
                name: None,
            },
            product: None,
            started_by: Role::Customer,
            at: Timestamp::from_millis(T0),
        });
        append_one(&live_store, id, &e).await;
    }
    let live_end = applied(&live, &live_store).await;
    println!(
        "live: {live_end} single-event appends applied in {:.2?}",
        started.elapsed()
    );

    // Live messages as a loaded server hands them over: groups of
    // LIVE_GROUP messages into the 2,000 conversations above, each group
    // committed (`wait_for`) before the next. Timed with the process's
    // CPU time, which is what the write-behind costs the server.
    const LIVE_GROUP: usize = 150;
    let live_messages = messages.min(30_000);
    let mut seqs = vec![0u64; 2000];
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    for group in 0..live_messages.div_ceil(LIVE_GROUP) {
        for n in group * LIVE_GROUP..((group + 1) * LIVE_GROUP).min(live_messages) {
            let k = (n * 7919) % 2000;
            let (id, customer, _, _) = &ids[k];
            seqs[k] += 1;
            let e = ConversationEvent::MessageSent(MessageSent {
                message_id: MessageId::new(),
                seq: seqs[k],
                sender: Sender {
                    id: customer.clone(),
                    role: Role::Customer,
                },
                sender_name: None,
                kind: MessageKind::Text,
                text: Some(
                    MessageText::parse(&format!("live message {n} about a red bike")).unwrap(),
                ),
                product: None,
                client_message_id: None,
                at: Timestamp::from_millis(T0 + 10_000 + n as i64),
            });
            append_one(&live_store, id, &e).await;
        }
        applied(&live, &live_store).await;
    }
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "live messages: {live_messages} in groups of {LIVE_GROUP} applied in {:.2?}, {:.1} µs of CPU per message",
        started.elapsed(),
        cpu * 1e6 / live_messages as f64
    );
    live.shutdown();
    consumer.await.expect("join").expect("consumer");
}

/// Appends one event to the conversation's stream.
async fn append_one(store: &MemoryStore, id: &ConversationId, e: &ConversationEvent) {
    store
        .append(
            &id.stream_name(),
            ExpectedRevision::Any,
            vec![NewEvent::from_domain(e)],
        )
        .await
        .expect("append");
}

/// Waits until the read models committed the whole log; returns its end.
async fn applied(p: &Projections, store: &MemoryStore) -> u64 {
    let end = store.last_position().await.expect("position");
    assert!(p.wait_for(end, Duration::from_secs(60)).await);
    end
}

/// This process's CPU time (user and system, every thread), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // USER_HZ, in which /proc reports CPU time, is 100 on Linux.
    ticks / 100.0
}
