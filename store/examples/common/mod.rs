//! What the append benchmarks share (`append_bench` for SQLite,
//! `pg_append_bench` for PostgreSQL): their flags, the load (one event per
//! append with an exact expected revision, as a conversation actor does)
//! and the statistics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use souk_store::{EventStore, ExpectedRevision, NewEvent};

/// The flags both benchmarks take.
pub struct LoadArgs {
    pub conversations: usize,
    pub events: usize,
    pub baseline_events: usize,
    pub concurrency: usize,
    pub rounds: usize,
}

/// Prints `usage` and exits with status 2.
pub fn usage(usage: &str) -> ! {
    eprintln!("usage: {usage}");
    std::process::exit(2)
}

/// Reads `--conversations`, `--events`, `--baseline-events`,
/// `--concurrency` and `--rounds` (whole numbers above 0) over `defaults`;
/// any other flag goes to `extra` with its value, which says whether it
/// took it. A flag without a value, a bad number or an unknown flag prints
/// `usage` and exits.
pub fn parse_args(
    mut args: LoadArgs,
    usage_text: &str,
    mut extra: impl FnMut(&str, &str) -> bool,
) -> LoadArgs {
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage(usage_text));
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage(usage_text))
        };
        match flag.as_str() {
            "--conversations" => args.conversations = number(),
            "--events" => args.events = number(),
            "--baseline-events" => args.baseline_events = number(),
            "--concurrency" => args.concurrency = number(),
            "--rounds" => args.rounds = number(),
            other => {
                if !extra(other, &value) {
                    usage(usage_text)
                }
            }
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

/// How a load went: its wall time and the appends' latencies.
pub struct Load {
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

/// `events` appends of one event each to `args.conversations` streams, from
/// `args.concurrency` tasks (at most one a conversation) that share the
/// conversations round robin; task `i` appends through `stores[i %
/// stores.len()]`. Panics if an append fails.
pub async fn append_load<S>(stores: &[S], args: &LoadArgs, events: usize) -> Load
where
    S: EventStore + Clone,
{
    let concurrency = args.concurrency.min(args.conversations);
    let names: Arc<Vec<String>> = Arc::new(
        (0..args.conversations)
            .map(|c| format!("conversation-{c:08}"))
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let store = stores[task % stores.len()].clone();
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
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Load {
        elapsed,
        p50: at(0.5),
        p99: at(0.99),
    }
}

/// A run's outcome: `events` appends in `commits` commits, and their load.
pub struct Run {
    pub events: usize,
    pub commits: u64,
    pub load: Load,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.events as f64 / self.load.elapsed.as_secs_f64()
    }

    /// The cells both tables start a row with: events, seconds, events/s,
    /// commits, events/commit, p50 and p99 latency.
    pub fn cells(&self) -> String {
        format!(
            "{} | {:.2} | {:.0} | {} | {:.1} | {:.2} ms | {:.2} ms",
            self.events,
            self.load.elapsed.as_secs_f64(),
            self.per_second(),
            self.commits,
            self.events as f64 / self.commits as f64,
            self.load.p50.as_secs_f64() * 1e3,
            self.load.p99.as_secs_f64() * 1e3,
        )
    }
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// `1.0x, 2.5x, ...`: each round's ratio.
pub fn per_round(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|r| format!("{r:.1}x"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
