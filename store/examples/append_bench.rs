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

mod common;

use std::path::PathBuf;

use souk_store::{SqliteConfig, SqliteStore};

use common::{append_load, load_average, median, per_round, LoadArgs, Run};

struct Args {
    load: LoadArgs,
    dir: PathBuf,
}

fn parse_args() -> Args {
    let mut dir = std::env::temp_dir();
    let load = common::parse_args(
        LoadArgs {
            conversations: 10_000,
            events: 200_000,
            baseline_events: 10_000,
            concurrency: 1_000,
            rounds: 3,
        },
        "append_bench [--conversations N] [--events N] [--baseline-events N] \
         [--concurrency N] [--rounds N] [--dir PATH]",
        |flag, value| match flag {
            "--dir" => {
                dir = PathBuf::from(value);
                true
            }
            _ => false,
        },
    );
    Args { load, dir }
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

struct CpuRun {
    run: Run,
    /// CPU seconds of the whole process and of each group of [`THREADS`]
    /// during the run.
    cpu: f64,
    threads_cpu: [f64; 4],
}

async fn run(args: &Args, config: SqliteConfig, events: usize) -> CpuRun {
    let dir = tempfile::tempdir_in(&args.dir).expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("events.db"), config).expect("open");
    let (cpu_before, threads_before) = cpu_seconds();
    let load = append_load(std::slice::from_ref(&store), &args.load, events).await;
    let (cpu_after, threads_after) = cpu_seconds();
    let stats = store.stats();
    assert_eq!(stats.events as usize, events, "every append committed");
    store.close().await;
    CpuRun {
        run: Run {
            events,
            commits: stats.commits,
            load,
        },
        cpu: cpu_after - cpu_before,
        threads_cpu: std::array::from_fn(|i| threads_after[i] - threads_before[i]),
    }
}

fn print_row(name: &str, round: usize, r: &CpuRun) {
    let events = r.run.events as f64;
    println!(
        "| {name} | {round} | {} | {:.1} | {} |",
        r.run.cells(),
        r.cpu * 1e6 / events,
        r.threads_cpu
            .iter()
            .map(|c| format!("{:.1}", c * 1e6 / events))
            .collect::<Vec<_>>()
            .join(" / "),
    );
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
        args.load.conversations,
        args.load.concurrency.min(args.load.conversations),
        args.dir.display(),
        args.load.rounds,
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
    for round in 1..=args.load.rounds {
        let g = runtime.block_on(run(&args, SqliteConfig::default(), args.load.events));
        print_row("group commit", round, &g);
        let s = runtime.block_on(run(
            &args,
            SqliteConfig {
                group_commit: false,
                ..SqliteConfig::default()
            },
            args.load.baseline_events,
        ));
        print_row("one transaction per append", round, &s);
        grouped.push(g.run.per_second());
        single.push(s.run.per_second());
    }
    let ratios: Vec<f64> = grouped.iter().zip(&single).map(|(g, s)| g / s).collect();
    let (g, s) = (median(grouped), median(single));
    println!();
    println!("median durable events/s: group commit {g:.0}, one transaction per append {s:.0}");
    println!(
        "ratio of the medians: {:.1}x (per round: {})",
        g / s,
        per_round(&ratios)
    );
    println!("load average after: {}", load_average());
}
