//! Durable appends per second through [`SqliteStore`]'s writer, with group
//! commit and with one transaction per append, in the same run.
//!
//! ```text
//! cargo run --release -p souk-store --example append_bench -- \
//!     [--conversations N] [--events N] [--baseline-events N] [--concurrency N]
//!     [--rounds N] [--dir PATH]
//! ```
//!
//! Each conversation is one stream appended to one event at a time with an
//! exact expected revision, as a conversation actor does. `--concurrency`
//! tasks share the conversations round robin, so at most that many appends
//! wait at once. `--events` events are appended with group commit,
//! `--baseline-events` (fewer by default: it is slow) with one transaction
//! per append. Each mode starts from an empty database in a fresh directory
//! under `--dir` (default: the system temp dir), on a 2-worker tokio runtime.
//! The two modes alternate for `--rounds` rounds (default 3) and the medians
//! are compared, since a shared machine's load moves both.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use souk_store::{EventStore, ExpectedRevision, NewEvent, SqliteConfig, SqliteStore};

struct Args {
    conversations: usize,
    events: usize,
    baseline_events: usize,
    concurrency: usize,
    rounds: usize,
    dir: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: append_bench [--conversations N] [--events N] [--baseline-events N] \
         [--concurrency N] [--rounds N] [--dir PATH]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        conversations: 10_000,
        events: 200_000,
        baseline_events: 10_000,
        concurrency: 1_000,
        rounds: 3,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        let number = || value.parse::<usize>().ok().filter(|n| *n > 0);
        match flag.as_str() {
            "--conversations" => args.conversations = number().unwrap_or_else(|| usage()),
            "--events" => args.events = number().unwrap_or_else(|| usage()),
            "--baseline-events" => args.baseline_events = number().unwrap_or_else(|| usage()),
            "--concurrency" => args.concurrency = number().unwrap_or_else(|| usage()),
            "--rounds" => args.rounds = number().unwrap_or_else(|| usage()),
            "--dir" => args.dir = PathBuf::from(&value),
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

/// Threads whose CPU time is reported, by the first 15 bytes of their name
/// (all Linux keeps).
const THREADS: [(&str, &str); 4] = [
    ("writer", "souk-store-writ"),
    ("checkpointer", "souk-store-chec"),
    ("notifier", "souk-store-noti"),
    ("tokio workers", "tokio-rt-worker"),
];

/// CPU seconds (user + system) used so far by the whole process and by each
/// group of [`THREADS`], from `/proc` (Linux only; zeros elsewhere).
fn cpu_seconds() -> (f64, [f64; 4]) {
    // Fields after the command name: state is field 3, utime 14, stime 15,
    // in clock ticks of 1/100 s (USER_HZ, fixed at 100 on Linux).
    fn ticks(stat: &str) -> Option<f64> {
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let user: f64 = fields.get(11)?.parse().ok()?;
        let system: f64 = fields.get(12)?.parse().ok()?;
        Some((user + system) / 100.0)
    }
    let process = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .unwrap_or(0.0);
    let mut threads = [0.0; 4];
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            for (i, (_, name)) in THREADS.iter().enumerate() {
                if stat.contains(&format!("({name}")) {
                    threads[i] += ticks(&stat).unwrap_or(0.0);
                }
            }
        }
    }
    (process, threads)
}

struct Run {
    events: usize,
    /// CPU seconds of the whole process and of each group of [`THREADS`]
    /// during the run.
    cpu: f64,
    threads_cpu: [f64; 4],
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

async fn run(args: &Args, config: SqliteConfig, events: usize) -> Run {
    let dir = tempfile::tempdir_in(&args.dir).expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("events.db"), config).expect("open");
    let concurrency = args.concurrency.min(args.conversations);
    let names: Arc<Vec<String>> = Arc::new(
        (0..args.conversations)
            .map(|c| format!("conversation-{c:08}"))
            .collect(),
    );
    let (cpu_before, threads_before) = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let store = store.clone();
        let names = Arc::clone(&names);
        // This task's share of the events and of the conversations.
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
    let (cpu_after, threads_after) = cpu_seconds();
    let stats = store.stats();
    assert_eq!(stats.events as usize, events, "every append committed");
    store.close().await;
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Run {
        events,
        cpu: cpu_after - cpu_before,
        threads_cpu: std::array::from_fn(|i| threads_after[i] - threads_before[i]),
        elapsed,
        commits: stats.commits,
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn print_row(name: &str, round: usize, r: &Run) {
    println!(
        "| {name} | {round} | {} | {:.2} | {:.0} | {} | {:.1} | {:.2} ms | {:.2} ms | {:.1} | {} |",
        r.events,
        r.elapsed.as_secs_f64(),
        r.per_second(),
        r.commits,
        r.events as f64 / r.commits as f64,
        r.p50.as_secs_f64() * 1e3,
        r.p99.as_secs_f64() * 1e3,
        r.cpu * 1e6 / r.events as f64,
        r.threads_cpu
            .iter()
            .map(|c| format!("{:.1}", c * 1e6 / r.events as f64))
            .collect::<Vec<_>>()
            .join(" / "),
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

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "append_bench: {} conversations, {} concurrent appenders, one event per append \
         (exact expected revision), SQLite WAL synchronous=FULL, dir {}, {} rounds, \
         load average before: {}",
        args.conversations,
        args.concurrency.min(args.conversations),
        args.dir.display(),
        args.rounds,
        load_average(),
    );
    println!();
    println!(
        "| mode | round | events | seconds | durable events/s | commits (fsyncs) | events/commit \
         | p50 latency | p99 latency | CPU µs/event: process | of which {} |",
        THREADS.map(|(name, _)| name).join(" / ")
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    // The two modes alternate, so that both see the same conditions on a
    // machine shared with other work.
    let mut grouped = Vec::new();
    let mut single = Vec::new();
    for round in 1..=args.rounds {
        let g = runtime.block_on(run(&args, SqliteConfig::default(), args.events));
        print_row("group commit", round, &g);
        let s = runtime.block_on(run(
            &args,
            SqliteConfig {
                group_commit: false,
                ..SqliteConfig::default()
            },
            args.baseline_events,
        ));
        print_row("one transaction per append", round, &s);
        grouped.push(g.per_second());
        single.push(s.per_second());
    }
    let ratios: Vec<f64> = grouped.iter().zip(&single).map(|(g, s)| g / s).collect();
    let (g, s) = (median(grouped), median(single));
    println!();
    println!("median durable events/s: group commit {g:.0}, one transaction per append {s:.0}");
    println!(
        "ratio of the medians: {:.1}x (per round: {})",
        g / s,
        ratios
            .iter()
            .map(|r| format!("{r:.1}x"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("load average after: {}", load_average());
}
