//! `souk-bench`: measures souk the way its users will judge it, against what
//! they would run instead (the seed's Express + Socket.IO stack, in
//! `bench/reference/`).
//!
//! - `souk-bench load ...` runs one load against a running server and prints
//!   its figures as JSON.
//! - `souk-bench compare ...` starts each server in turn on this machine,
//!   runs the same loads against both, and writes the tables and the plot
//!   into `BENCHMARKS.md` and `docs/bench/latency.svg`.
//!
//! # Layout
//! - [`sio`]: a minimal Socket.IO v4 client (WebSocket transport), and why.
//! - [`http`]: a pooled HTTP/1.1 JSON client for the REST side.
//! - [`tokens`]: HS256 tokens for the simulated users.
//! - [`load`]: one open-loop load run and its figures.
//! - [`stats`]: exact percentiles.
//! - [`procfs`]: a server's CPU time and RSS from `/proc`.
//! - [`server`]: starting and stopping a server under test.
//! - [`peers`]: the four servers compared (souk, the floor, the in-memory
//!   and the durable references) and how each is started.
//! - [`compare`]: the rate sweep and the idle-socket test.
//! - [`goals`]: issue 17's goals, evaluated on a comparison's runs.
//! - [`report`]: the Markdown tables.
//! - [`plot`]: the SVG plot.
//! - [`search`]: `souk-bench search`, search latency and its cost to sends.
#![forbid(unsafe_code)]

mod compare;
mod goals;
mod http;
mod load;
mod peers;
mod plot;
mod procfs;
mod report;
mod search;
mod server;
mod sio;
mod stats;
mod tokens;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::load::{LoadConfig, Via};
use crate::tokens::Minter;

#[derive(Debug, Parser)]
#[command(name = "souk-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one load against a running server and print its figures (JSON).
    Load(LoadArgs),
    /// Run souk and the reference one after the other with the same loads,
    /// and write BENCHMARKS.md and the plot.
    Compare(compare::CompareArgs),
    /// Search latency for a vendor with many messages, and other users'
    /// sends with and without concurrent searches (JSON).
    Search(search::SearchArgs),
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// REST base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server_url: String,
    /// Socket.IO URL (`http://` or `ws://`).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    socket_url: String,
    /// The vendors' sockets connect here instead (another node of a
    /// cluster): every message is then sent on one node and heard on the
    /// other. The customers' sockets and REST stay on the first node.
    #[arg(long)]
    vendor_socket_url: Option<String>,
    /// Customer/vendor pairs, each with a conversation and two sockets.
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Offered messages per second (open loop).
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before the measured ones.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// How messages are sent.
    #[arg(long, value_enum, default_value_t = Via::Socket)]
    via: Via,
    /// Extra sockets that only connect (memory per socket).
    #[arg(long, default_value_t = 0)]
    idle_sockets: usize,
    /// The idle sockets send the headers a browser sends (user agent,
    /// languages, a cookie...) with their upgrade request.
    #[arg(long)]
    browser_headers: bool,
    /// The server's pid: CPU time and RSS are read from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// A database server's pid (PostgreSQL's postmaster): the CPU of it
    /// and every process under it counts as the server's.
    #[arg(long)]
    database_pid: Option<u32>,
    /// The server's HS256 secret (tokens are minted here).
    #[arg(long, env = "SOUK_JWT_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// Or a command that prints a token, with {user}, {role}, {name}
    /// replaced, e.g. "target/release/souk token --data-dir D --user {user}
    /// --role {role}".
    #[arg(long, conflicts_with = "secret")]
    token_cmd: Option<String>,
    /// Seconds after the last send during which a message may still arrive.
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// Seconds between connecting the idle sockets and reading the RSS.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Prefix of the simulated users' ids.
    #[arg(long, default_value = "bench")]
    run_id: String,
    /// Sockets connecting at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// REST sends in flight at once.
    #[arg(long, default_value_t = 1000)]
    max_in_flight: usize,
    /// Write every measured message's due time and latencies here (CSV).
    #[arg(long)]
    latency_csv: Option<PathBuf>,
    /// Write the JSON here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

impl LoadArgs {
    fn config(&self) -> anyhow::Result<LoadConfig> {
        let minter = match (&self.secret, &self.token_cmd) {
            (Some(s), _) => Minter::from_secret(s),
            (None, Some(c)) => Minter::Command(c.clone()),
            (None, None) => anyhow::bail!("give --secret (or SOUK_JWT_SECRET) or --token-cmd"),
        };
        Ok(LoadConfig {
            server_url: self.server_url.clone(),
            socket_url: self.socket_url.clone(),
            vendor_socket_url: self.vendor_socket_url.clone(),
            pairs: self.pairs,
            rate: self.rate,
            duration: secs(self.duration, "--duration")?,
            warmup: secs(self.warmup, "--warmup")?,
            via: self.via,
            idle_sockets: self.idle_sockets,
            browser_headers: self.browser_headers,
            server_pid: self.server_pid,
            database_pid: self.database_pid,
            grace: secs(self.grace, "--grace")?,
            settle: secs(self.settle, "--settle")?,
            minter,
            run_id: self.run_id.clone(),
            connect_concurrency: self.connect_concurrency,
            max_in_flight: self.max_in_flight,
            latency_csv: self.latency_csv.clone(),
        })
    }
}

/// Bounded seconds: the generator always stops by itself.
fn secs(v: f64, name: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        v.is_finite() && (0.0..=3600.0).contains(&v),
        "{name} must be between 0 and 3600 seconds"
    );
    Ok(Duration::from_secs_f64(v))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("while starting the runtime")?;
    match cli.command {
        Command::Load(args) => {
            let report = runtime.block_on(load::run(args.config()?))?;
            let json = serde_json::to_string_pretty(&report)?;
            match &args.out {
                Some(path) => std::fs::write(path, json + "\n")
                    .with_context(|| format!("while writing {}", path.display()))?,
                None => println!("{json}"),
            }
            Ok(())
        }
        Command::Compare(args) => runtime.block_on(compare::run(args)),
        Command::Search(args) => runtime.block_on(search::run(args)),
    }
}
