//! Durable appends per second through [`PostgresStore`]: with group commit
//! and with one transaction per append, in the same run, and with group
//! commit from two nodes sharing the log (what the log-head lock costs).
//!
//! ```text
//! SOUK_TEST_PG_URL=postgres://... cargo run --release -p souk-store --example pg_append_bench -- \
//!     [--conversations N] [--events N] [--baseline-events N] [--concurrency N] [--rounds N]
//! ```
//!
//! Each run gets a fresh database on the server named by `SOUK_TEST_PG_URL`
//! (see `souk_store::postgres::testing`; `scripts/pg.sh start DIR` starts
//! one). Each conversation is one stream appended to one event at a time
//! with an exact expected revision, as a conversation actor does;
//! `--concurrency` tasks share the conversations round robin, so at most
//! that many appends wait at once. The modes alternate for `--rounds`
//! rounds and the medians are compared, since a shared machine's load moves
//! them all. `synchronous_commit` is whatever the server says (printed;
//! the default, `on`, makes every commit durable).

use std::sync::Arc;
use std::time::{Duration, Instant};

use souk_store::postgres::testing::{scratch_database, server_url};
use souk_store::postgres::tokio_postgres;
use souk_store::{EventStore, ExpectedRevision, NewEvent, PostgresConfig, PostgresStore};

struct Args {
    conversations: usize,
    events: usize,
    baseline_events: usize,
    concurrency: usize,
    rounds: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: pg_append_bench [--conversations N] [--events N] [--baseline-events N] \
         [--concurrency N] [--rounds N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        conversations: 10_000,
        events: 100_000,
        baseline_events: 5_000,
        concurrency: 1_000,
        rounds: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let number = value
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .unwrap_or_else(|| usage());
        match flag.as_str() {
            "--conversations" => args.conversations = number,
            "--events" => args.events = number,
            "--baseline-events" => args.baseline_events = number,
            "--concurrency" => args.concurrency = number,
            "--rounds" => args.rounds = number,
            _ => usage(),
        }
    }
    args
}

/// A payload shaped like a `MessageSent` event (about 330 bytes).
fn message(conversation: usize, seq: u64) -> NewEvent {
    NewEvent {
        event_type: "MessageSent".to_owned(),
        version: 1,
        data: format!(
            concat!(
                r#"{{"messageId":"0190f5a2-7c1e-7d3a-9b2c-{:012x}","seq":{},"#,
                r#""sender":{{"userId":"customer-{}","role":"customer"}},"senderName":"Customer {}","#,
                r#""kind":"text","text":"Hello, is the blue one still available? Message {} of conversation {}.","#,
                r#""product":null,"clientMessageId":"c-{}-{}","at":"2025-01-01T12:00:00.000Z"}}"#
            ),
            seq, seq, conversation, conversation, seq, conversation, conversation, seq
        ),
    }
}

struct Run {
    events: usize,
    elapsed: Duration,
    commits: u64,
    p50: Duration,
    p99: Duration,
}

impl Run {
    fn per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
}

/// `events` appends from `--concurrency` tasks spread over `nodes` stores
/// on one fresh database.
async fn run(args: &Args, config: PostgresConfig, nodes: usize, events: usize) -> Run {
    let url = scratch_database().await;
    let mut stores = Vec::new();
    for _ in 0..nodes {
        stores.push(PostgresStore::connect(&url, config).await.expect("connect"));
    }
    let concurrency = args.concurrency.min(args.conversations);
    let names: Arc<Vec<String>> = Arc::new(
        (0..args.conversations)
            .map(|c| format!("conversation-{c:08}"))
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let store = stores[task % nodes].clone();
        let names = Arc::clone(&names);
        let share = events / concurrency + usize::from(task < events % concurrency);
        tasks.push(tokio::spawn(async move {
            let mine: Vec<usize> = (task..names.len()).step_by(concurrency).collect();
            let mut heads: Vec<Option<u64>> = vec![None; mine.len()];
            let mut latencies = Vec::with_capacity(share);
            for n in 0..share {
                let slot = n % mine.len();
                let conversation = mine[slot];
                let expected =
                    heads[slot].map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
                let seq = heads[slot].map_or(1, |r| r + 2);
                let sent = Instant::now();
                let written = store
                    .append(
                        &names[conversation],
                        expected,
                        vec![message(conversation, seq)],
                    )
                    .await
                    .expect("append");
                latencies.push(sent.elapsed());
                heads[slot] = Some(written.next_expected_revision);
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(events);
    for task in tasks {
        latencies.extend(task.await.expect("appender"));
    }
    let elapsed = started.elapsed();
    let mut commits = 0;
    let mut committed = 0;
    for store in &stores {
        let stats = store.stats();
        commits += stats.commits;
        committed += stats.events;
        store.close().await;
    }
    assert_eq!(committed as usize, events, "every append committed");
    assert_eq!(
        stores[0].last_position().await.expect("last position") as usize,
        events
    );
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Run {
        events,
        elapsed,
        commits,
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn print_row(name: &str, round: usize, r: &Run) {
    println!(
        "| {name} | {round} | {} | {:.2} | {:.0} | {} | {:.1} | {:.2} ms | {:.2} ms |",
        r.events,
        r.elapsed.as_secs_f64(),
        r.per_second(),
        r.commits,
        r.events as f64 / r.commits as f64,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

async fn server_settings() -> String {
    let (client, connection) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to SOUK_TEST_PG_URL");
    tokio::spawn(connection);
    let mut out = Vec::new();
    for setting in [
        "server_version",
        "synchronous_commit",
        "fsync",
        "wal_sync_method",
    ] {
        let row = client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .expect("SHOW");
        out.push(format!("{setting}={}", row.get::<_, String>(0)));
    }
    out.join(", ")
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "pg_append_bench: {} conversations, {} concurrent appenders, one event per append \
         (exact expected revision), PostgreSQL on this machine ({}), {} rounds, \
         load average before: {}",
        args.conversations,
        args.concurrency.min(args.conversations),
        runtime.block_on(server_settings()),
        args.rounds,
        load_average(),
    );
    println!();
    println!(
        "| mode | round | events | seconds | durable events/s | commits | events/commit \
         | p50 latency | p99 latency |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let single_config = PostgresConfig {
        group_commit: false,
        ..PostgresConfig::default()
    };
    let mut grouped = Vec::new();
    let mut two_nodes = Vec::new();
    let mut single = Vec::new();
    for round in 1..=args.rounds {
        let g = runtime.block_on(run(&args, PostgresConfig::default(), 1, args.events));
        print_row("group commit, one node", round, &g);
        let s = runtime.block_on(run(&args, single_config, 1, args.baseline_events));
        print_row("one transaction per append, one node", round, &s);
        let t = runtime.block_on(run(&args, PostgresConfig::default(), 2, args.events));
        print_row("group commit, two nodes", round, &t);
        grouped.push(g.per_second());
        single.push(s.per_second());
        two_nodes.push(t.per_second());
    }
    let ratios: Vec<f64> = grouped.iter().zip(&single).map(|(g, s)| g / s).collect();
    let (g, s, t) = (median(grouped), median(single), median(two_nodes));
    println!();
    println!(
        "median durable events/s: group commit {g:.0}, one transaction per append {s:.0}, \
         group commit from two nodes {t:.0}"
    );
    println!(
        "ratio of the medians (group / one per append): {:.1}x (per round: {})",
        g / s,
        ratios
            .iter()
            .map(|r| format!("{r:.1}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("load average after: {}", load_average());
}
