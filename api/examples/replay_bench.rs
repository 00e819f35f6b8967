//! Replay to a point: how long the state route's work takes on a long
//! conversation, on the embedded (SQLite) log.
//!
//! Writes one conversation of `--events` events (default 20,000: typing,
//! messages of about 80 characters, reads, alternating sides) into a
//! temporary data directory, then asks `souk_api::audit::state::state_at`
//! for the state at several revisions (early, quarter, middle, end),
//! `--runs` times each, and serializes the answer as the route does.
//! Prints p50/p90/p99/max of the wall time per point, in milliseconds, and
//! the process's CPU time per answer (user + system, from
//! `/proc/self/stat`, averaged over the runs): on a shared machine the wall
//! time includes waiting for a core, the CPU time does not. The allocator
//! is jemalloc, as in the `souk` binary.
//!
//! ```sh
//! cargo run --release -p souk-api --example replay_bench -- --events 20000 --runs 200
//! ```
//!
//! With `--data-dir DIR` it only writes the conversation into `DIR` (a new
//! data directory) and prints its id and last revision, for measuring the
//! state route over HTTP against `souk serve --data-dir DIR` (customer
//! `c-bench`, vendor `v-bench`; BENCHMARKS.md, "Replay to a point"). With
//! `--url BASE --token TOKEN --conversation ID --last REVISION` it measures
//! that route (`GET BASE/api/chat/ID/state?at=...`, one kept-alive
//! connection, the whole body read) at the same points instead; give the
//! server a `--rest-rate-per-user` above the rate of these requests.

use std::time::{Duration, Instant};

use souk_api::audit::state::state_at;
use souk_domain::{
    Actor, Command, ConversationId, ConversationState, MessageContent, MessageId, MessageText,
    Participant, Role, Timestamp, UserId,
};
use souk_store::{EventStore, ExpectedRevision, NewEvent, SqliteStore};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The process's CPU time so far (user + system), from `/proc/self/stat`
/// (Linux; `None` elsewhere).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which is in parentheses).
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux souk runs on.
    Some(Duration::from_millis(ticks * 10))
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// Writes a conversation of at least `n` events; answers its id and its
/// last revision.
async fn write_conversation(store: &SqliteStore, n: u64) -> (ConversationId, u64) {
    let actor = |id: &str, role| Actor {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
    };
    let (customer, vendor) = (
        actor("c-bench", Role::Customer),
        actor("v-bench", Role::Vendor),
    );
    let mut ms = 1_790_000_000_000;
    let (id, start) = Command::start_conversation(
        Participant {
            id: customer.id.clone(),
            name: None,
        },
        Participant {
            id: vendor.id.clone(),
            name: None,
        },
        None,
        Role::Customer,
        Timestamp::from_millis(ms),
    );
    let mut state = ConversationState::default();
    let mut pending: Vec<NewEvent> = Vec::new();
    let mut written = 0u64;
    let apply = |command: Command, state: &mut ConversationState, pending: &mut Vec<NewEvent>| {
        for e in souk_domain::decide(&*state, &command).unwrap() {
            pending.push(NewEvent::from_domain(&e));
            *state = souk_domain::evolve(std::mem::take(state), &e);
        }
    };
    apply(start, &mut state, &mut pending);
    let mut i = 0u64;
    while state.events_applied < n {
        let (by, other) = if i.is_multiple_of(2) {
            (&customer, &vendor)
        } else {
            (&vendor, &customer)
        };
        ms += 1500;
        let at = Timestamp::from_millis(ms);
        apply(
            Command::StartTyping { by: by.clone(), at },
            &mut state,
            &mut pending,
        );
        let text =
            format!("message {i}: is the blue one still in stock, and can you ship it by Friday?");
        apply(
            Command::SendMessage {
                by: by.clone(),
                message_id: MessageId::new(),
                content: MessageContent::Text(MessageText::parse(&text).unwrap()),
                client_message_id: None,
                at: at.plus_millis(700),
            },
            &mut state,
            &mut pending,
        );
        apply(
            Command::MarkAllRead {
                by: other.clone(),
                at: at.plus_millis(1200),
            },
            &mut state,
            &mut pending,
        );
        if pending.len() >= 1000 || state.events_applied >= n {
            written += pending.len() as u64;
            store
                .append(
                    &id.stream_name(),
                    ExpectedRevision::Any,
                    std::mem::take(&mut pending),
                )
                .await
                .unwrap();
        }
        i += 1;
    }
    (id, written - 1)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize - 1;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The points measured in a conversation whose last revision is `last`.
fn points(last: u64) -> [(&'static str, u64); 4] {
    [
        ("early", 10),
        ("quarter", last / 4),
        ("middle", last / 2),
        ("end", last),
    ]
}

fn print_header(what: &str, events: u64, runs: usize) {
    println!(
        "replay to a point: one conversation of {events} events, {runs} runs per point, {what}"
    );
    println!(
        "| point | revision | answer | p50 ms | p90 ms | p99 ms | max ms | CPU ms per answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
}

fn print_row(name: &str, at: u64, bytes: usize, samples: &mut [Duration], cpu: &str) {
    samples.sort();
    println!(
        "| {name} | {at} | {:.0} KiB | {:.1} | {:.1} | {:.1} | {:.1} | {cpu} |",
        bytes as f64 / 1024.0,
        percentile(samples, 50.0),
        percentile(samples, 90.0),
        percentile(samples, 99.0),
        percentile(samples, 100.0)
    );
}

/// The state route of a running server, `runs` times at each point.
async fn over_http(base: &str, token: &str, id: &str, last: u64, runs: usize) {
    let client = reqwest::Client::new();
    let get = |at: u64| {
        client
            .get(format!("{base}/api/chat/{id}/state?at={at}"))
            .bearer_auth(token)
            .send()
    };
    for (_, at) in points(last) {
        let response = get(at).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.unwrap();
    }
    print_header("GET .../state?at= over HTTP (client time)", last + 1, runs);
    for (name, at) in points(last) {
        let mut samples = Vec::with_capacity(runs);
        let mut bytes = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let response = get(at).await.unwrap();
            // A 429 would measure nothing: run the server with a high
            // --rest-rate-per-user.
            assert!(response.status().is_success(), "{}", response.status());
            let body = response.bytes().await.unwrap();
            samples.push(t.elapsed());
            bytes = body.len();
        }
        print_row(name, at, bytes, &mut samples, "n/a");
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events = arg("--events", 20_000);
    let runs = arg("--runs", 200) as usize;
    let args: Vec<String> = std::env::args().collect();
    let named = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(dir) = named("--data-dir") {
        let dir = std::path::Path::new(&dir);
        assert!(
            !dir.join(souk_api::app::EVENTS_DB).exists(),
            "{} holds a log already",
            dir.display()
        );
        let store = souk_api::app::open_store(dir).unwrap();
        let (id, last) = write_conversation(&store, events).await;
        store.close().await;
        println!(
            "{}",
            serde_json::json!({ "conversation": id, "lastRevision": last })
        );
        return;
    }
    if let Some(base) = named("--url") {
        let token = named("--token").expect("--token");
        let id = named("--conversation").expect("--conversation");
        let last = arg("--last", 0);
        over_http(&base, &token, &id, last, runs).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = souk_api::app::open_store(dir.path()).unwrap();
    let started = Instant::now();
    let (id, last) = write_conversation(&store, events).await;
    eprintln!(
        "wrote {} events in {:.1} s",
        last + 1,
        started.elapsed().as_secs_f64()
    );
    let points = points(last);
    // One warm-up pass (page cache, statement cache).
    for (_, at) in points {
        state_at(&store, id, Some(at)).await.unwrap();
    }
    print_header("state_at + JSON serialization", last + 1, runs);
    for (name, at) in points {
        let mut samples = Vec::with_capacity(runs);
        let mut bytes = 0;
        let cpu_before = cpu_time();
        for _ in 0..runs {
            let t = Instant::now();
            let body = serde_json::to_vec(&state_at(&store, id, Some(at)).await.unwrap().to_json())
                .unwrap();
            samples.push(t.elapsed());
            bytes = body.len();
        }
        let cpu = match (cpu_before, cpu_time()) {
            (Some(a), Some(b)) => format!("{:.1}", (b - a).as_secs_f64() * 1000.0 / runs as f64),
            _ => "n/a".to_owned(),
        };
        print_row(name, at, bytes, &mut samples, &cpu);
    }
    store.close().await;
}
