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

mod common;

use souk_store::postgres::testing::{scratch_database, server_url};
use souk_store::postgres::tokio_postgres;
use souk_store::{EventStore, PostgresConfig, PostgresStore};

use common::{append_load, load_average, median, per_round, LoadArgs, Run};

fn parse_args() -> LoadArgs {
    common::parse_args(
        LoadArgs {
            conversations: 10_000,
            events: 100_000,
            baseline_events: 5_000,
            concurrency: 1_000,
            rounds: 3,
        },
        "pg_append_bench [--conversations N] [--events N] [--baseline-events N] \
         [--concurrency N] [--rounds N]",
        |_, _| false,
    )
}

/// `events` appends from `--concurrency` tasks spread over `nodes` stores
/// on one fresh database.
async fn run(args: &LoadArgs, config: PostgresConfig, nodes: usize, events: usize) -> Run {
    let url = scratch_database().await;
    let mut stores = Vec::new();
    for _ in 0..nodes {
        stores.push(PostgresStore::connect(&url, config).await.expect("connect"));
    }
    let load = append_load(&stores, args, events).await;
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
    Run {
        events,
        commits,
        load,
    }
}

fn print_row(name: &str, round: usize, r: &Run) {
    println!("| {name} | {round} | {} |", r.cells());
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
        per_round(&ratios)
    );
    println!("load average after: {}", load_average());
}
