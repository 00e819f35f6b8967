//! The comparison: souk and its three peers ([`crate::peers`]: the floor,
//! the in-memory reference, the durable reference), one after the other on
//! this machine, under the same loads.
//!
//! - **Rate sweep.** For each offered rate in `--rates`, each server still
//!   standing gets a fresh process (and a fresh data directory or schema)
//!   and the same load; the servers are interleaved rate by rate, so slow
//!   drifts of the machine's background load hit them all alike. A rate a
//!   server does not sustain (p99 under the limit, nothing lost, no error)
//!   is run once more on a fresh process (`--tries`): on a disk whose
//!   `fdatasync` stalls for hundreds of milliseconds now and then, one
//!   stall decides the p99 of a durable server's run (BENCHMARKS.md,
//!   Search), and the sweep measures capacity, not the disk's weather; both
//!   tries are reported. A server stops climbing after the first rate it
//!   does not sustain in any try. Then the bracket between its last sustained and first failed
//!   rate is bisected (`--refine` times, geometric midpoints), and every
//!   refined rate is also run on every other server that still sustains
//!   it, so that latencies are compared at the same offered rates, each
//!   peer's saturation rate included.
//! - **Idle sockets.** Each server, fresh, gets a few pairs and
//!   `--idle-sockets` sockets that only connect; RSS before and after gives
//!   memory per socket.
//!
//! The figures go to a JSON file, and [`crate::report`] writes the Markdown
//! and the plot.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use crate::load::{self, LoadConfig, LoadReport, Via};
pub use crate::peers::Target;
use crate::peers::{self, Postgres, Programs};
use crate::report;
use crate::server;
use crate::tokens::Minter;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The souk binary (`cargo build --release -p souk-api`).
    #[arg(long, default_value = "target/release/souk")]
    pub souk_bin: PathBuf,
    /// The floor server (`cargo build --release --manifest-path
    /// bench/Cargo.toml`).
    #[arg(long, default_value = "bench/target/release/souk-floor")]
    pub floor_bin: PathBuf,
    /// The in-memory reference's folder (with node_modules installed).
    #[arg(long, default_value = "bench/reference")]
    pub reference_dir: PathBuf,
    /// The durable reference's folder (with node_modules installed).
    #[arg(long, default_value = "bench/reference-pg")]
    pub reference_pg_dir: PathBuf,
    /// Starts and stops the durable reference's PostgreSQL server.
    #[arg(long, default_value = "scripts/pg.sh")]
    pub pg_script: PathBuf,
    #[arg(long, default_value = "node")]
    pub node: PathBuf,
    /// Offered rates of the sweep, messages per second, ascending.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,1000,2000,4000,8000,16000"
    )]
    pub rates: Vec<f64>,
    /// Bisections of each server's saturation bracket.
    #[arg(long, default_value_t = 2)]
    pub refine: usize,
    /// Customer/vendor pairs of the sweep (two sockets each).
    #[arg(long, default_value_t = 1000)]
    pub pairs: usize,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 8.0)]
    pub duration: f64,
    /// Unmeasured seconds of load before them.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds after the last send during which a message may still arrive.
    #[arg(long, default_value_t = 5.0)]
    pub grace: f64,
    /// Sweeps to run: by socket (`send_message`), by REST, or both.
    #[arg(long, value_delimiter = ',', value_enum, default_value = "socket")]
    pub via: Vec<Via>,
    /// Sockets of the memory test (0: skip it).
    #[arg(long, default_value_t = 10_000)]
    pub idle_sockets: usize,
    /// A rate is sustained when p99 stays under this and nothing is lost.
    #[arg(long, default_value_t = 50.0)]
    pub p99_limit_ms: f64,
    /// Runs of a rate before a server counts as not sustaining it (every
    /// server alike; the report marks figures of a later try).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=5))]
    pub tries: u32,
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "souk,floor,reference,durable"
    )]
    pub servers: Vec<Target>,
    /// Data directories and server logs (on the same disk as the repo, so
    /// that souk's fsyncs are real).
    #[arg(long, default_value = "bench/target/runs")]
    pub work_dir: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    pub markdown: PathBuf,
    #[arg(long, default_value = "docs/bench/latency.svg")]
    pub svg: PathBuf,
    #[arg(long, default_value = "bench/target/results.json")]
    pub json: PathBuf,
    /// Re-render BENCHMARKS.md and the plot from `--json` without running.
    #[arg(long)]
    pub render_only: bool,
    /// The command line to print in the report (the script passes its own).
    #[arg(long)]
    pub command_line: Option<String>,
}

/// One run of the sweep.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub target: String,
    pub via: String,
    pub rate: f64,
    pub sustained: bool,
    pub report: LoadReport,
    /// The p99 (ms) of the earlier tries of this rate that did not sustain
    /// it; the report is the last try's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tries_p99_ms: Vec<f64>,
}

fn one_try() -> u32 {
    1
}

/// Everything a comparison measured.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    pub command_line: String,
    pub machine: Machine,
    pub started: String,
    pub minutes: f64,
    pub p99_limit_ms: f64,
    /// `--tries` (1 in results written before it existed).
    #[serde(default = "one_try")]
    pub tries: u32,
    pub pairs: usize,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    pub load_before: String,
    pub load_after: String,
    pub runs: Vec<Run>,
    pub idle: Vec<Run>,
}

#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cores: usize,
    pub model: String,
    pub ram_gib: f64,
    pub kernel: String,
    pub node: String,
    pub souk_commit: String,
}

impl Machine {
    fn probe(node: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let ram_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_ascii_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            model,
            ram_gib: (ram_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            node: output(node.as_os_str(), &["--version"]),
            souk_commit: souk_commit(),
        }
    }
}

/// The commit souk was built from, and whether its crates had uncommitted
/// changes (the binary is built from the working tree).
fn souk_commit() -> String {
    let commit = output("git".as_ref(), &["rev-parse", "--short", "HEAD"]);
    let dirty = output(
        "git".as_ref(),
        &[
            "status",
            "--porcelain",
            "--",
            "api",
            "domain",
            "store",
            "actors",
            "projections",
        ],
    );
    if dirty.is_empty() {
        commit
    } else {
        format!("{commit} plus uncommitted changes in its crates")
    }
}

fn output(program: &std::ffi::OsStr, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A run is sustained when every message arrived, nothing failed, and p99
/// stayed under the limit.
pub fn sustained(r: &LoadReport, p99_limit_ms: f64) -> bool {
    r.errors == 0
        && r.lost == 0
        && r.sockets_closed == 0
        && r.misrouted == 0
        && r.delivered == r.sent
        && r.latency_ms.p99 < p99_limit_ms
}

/// The geometric midpoint of a bracket, rounded to two significant digits
/// (rates in tables stay readable); `None` when the bracket is too narrow.
pub fn midpoint(good: f64, bad: f64) -> Option<f64> {
    let mid = (good * bad).sqrt();
    let magnitude = 10f64.powf(mid.log10().floor() - 1.0);
    let mid = (mid / magnitude).round() * magnitude;
    (mid > good * 1.05 && mid < bad / 1.05).then_some(mid)
}

struct Bench {
    args: CompareArgs,
    programs: Programs,
    secret: String,
    work_dir: PathBuf,
    counter: usize,
    /// The durable reference's database, while it runs.
    postgres: Option<Postgres>,
}

impl Bench {
    /// One rate on one server, up to `--tries` runs ([`retried`]), each on
    /// a fresh process; a run that could not be made (the server did not
    /// start, the load could not set up) counts as a failed one, with its
    /// reason among the errors, and the comparison goes on.
    async fn attempt(
        &mut self,
        target: Target,
        via: Via,
        rate: f64,
        pairs: usize,
        duration: f64,
    ) -> Run {
        let (limit, tries) = (self.args.p99_limit_ms, self.args.tries);
        retried(target, via, rate, limit, tries, async || {
            self.run(target, via, rate, pairs, 0, duration)
                .await
                .unwrap_or_else(|e| {
                    eprintln!("{:>9} at {rate}/s: {e:#}", target.label());
                    failed_run(via, rate, &e)
                })
        })
        .await
    }

    /// One fresh server, one load, stopped; its data directory removed.
    async fn run(
        &mut self,
        target: Target,
        via: Via,
        rate: f64,
        pairs: usize,
        idle_sockets: usize,
        duration: f64,
    ) -> anyhow::Result<LoadReport> {
        self.counter += 1;
        let name = format!("{}-{}", target.label(), self.counter);
        let spec = peers::spec(
            target,
            &self.programs,
            &name,
            &self.work_dir,
            &self.secret,
            self.postgres.as_ref(),
        )?;
        let database_pid = match target {
            Target::Durable => self.postgres.as_ref().map(|pg| pg.pid),
            _ => None,
        };
        let running = server::start(&spec)
            .await
            .with_context(|| format!("while starting {}", target.label()))?;
        let config = LoadConfig {
            server_url: running.http_url.clone(),
            socket_url: running.socket_url.clone(),
            vendor_socket_url: None,
            pairs,
            rate,
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::from_secs_f64(self.args.warmup),
            via,
            idle_sockets,
            browser_headers: false,
            server_pid: Some(running.pid),
            database_pid,
            grace: Duration::from_secs_f64(self.args.grace),
            settle: Duration::from_secs(3),
            minter: Minter::from_secret(&self.secret),
            run_id: "bench".into(),
            connect_concurrency: 64,
            max_in_flight: 1000,
            latency_csv: None,
        };
        let report = load::run(config).await;
        running.stop().await?;
        if let Some(data) = spec.args.iter().skip_while(|a| *a != "--data-dir").nth(1) {
            let _ = std::fs::remove_dir_all(data);
        }
        report.with_context(|| format!("while loading {} at {rate}/s", target.label()))
    }
}

/// Tries a rate (`once` makes one run and gives its report) until a run
/// sustains it or `tries` runs are made: the last run, with the p99 of the
/// failed tries before it.
async fn retried(
    target: Target,
    via: Via,
    rate: f64,
    limit: f64,
    tries: u32,
    mut once: impl AsyncFnMut() -> LoadReport,
) -> Run {
    let mut failed = Vec::new();
    loop {
        let report = once().await;
        let mut run = record(target, via, rate, &report, limit);
        if run.sustained || failed.len() + 1 >= tries as usize {
            run.failed_tries_p99_ms = failed;
            return run;
        }
        eprintln!(
            "{:>9} at {rate}/s: not sustained; once more on a fresh process",
            target.label()
        );
        failed.push(report.latency_ms.p99);
    }
}

/// The report of a run that could not be made.
pub fn failed_run(via: Via, rate: f64, e: &anyhow::Error) -> LoadReport {
    LoadReport {
        via: via_label(via).into(),
        offered_rate: rate,
        errors: 1,
        error_kinds: [(format!("run failed: {e:#}"), 1)].into_iter().collect(),
        ..LoadReport::default()
    }
}

fn record(target: Target, via: Via, rate: f64, report: &LoadReport, limit: f64) -> Run {
    let ok = sustained(report, limit);
    eprintln!(
        "{:>9} {:>6} {:>7.0}/s  p50 {:>7.2} p99 {:>8.2} p99.9 {:>8.2} max {:>8.2} ms  delivered {}/{}  errors {} lost {}  cpu {:>7.1} ms/1000  others {:.2} cores  {}",
        target.label(),
        report.via,
        rate,
        report.latency_ms.p50,
        report.latency_ms.p99,
        report.latency_ms.p999,
        report.latency_ms.max,
        report.delivered,
        report.sent,
        report.errors,
        report.lost,
        report
            .server
            .as_ref()
            .and_then(|s| s.cpu_ms_per_1000_delivered)
            .unwrap_or(f64::NAN),
        report.others_cores,
        if ok { "sustained" } else { "NOT sustained" }
    );
    let _ = via;
    Run {
        target: target.label().into(),
        via: report.via.clone(),
        rate,
        sustained: ok,
        report: report.clone(),
        failed_tries_p99_ms: Vec::new(),
    }
}

fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("while reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub async fn run(args: CompareArgs) -> anyhow::Result<()> {
    if args.render_only {
        let json = std::fs::read_to_string(&args.json)
            .with_context(|| format!("while reading {}", args.json.display()))?;
        let results: Results = serde_json::from_str(&json)?;
        return report::write(&results, &args.markdown, &args.svg);
    }
    anyhow::ensure!(!args.rates.is_empty(), "--rates is empty");
    anyhow::ensure!(
        args.rates.windows(2).all(|w| w[0] < w[1]),
        "--rates must ascend"
    );
    if args.servers.contains(&Target::Souk) {
        anyhow::ensure!(
            args.souk_bin.exists(),
            "{} is missing: cargo build --release -p souk-api",
            args.souk_bin.display()
        );
    }
    if args.servers.contains(&Target::Floor) {
        anyhow::ensure!(
            args.floor_bin.exists(),
            "{} is missing: cargo build --release --manifest-path bench/Cargo.toml",
            args.floor_bin.display()
        );
    }
    for (target, dir) in [
        (Target::Reference, &args.reference_dir),
        (Target::Durable, &args.reference_pg_dir),
    ] {
        if args.servers.contains(&target) {
            anyhow::ensure!(
                dir.join("node_modules").exists(),
                "{}/node_modules is missing: npm ci --prefix {}",
                dir.display(),
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(&args.work_dir)?;
    let started = Instant::now();
    let mut results = Results {
        command_line: args
            .command_line
            .clone()
            .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
        machine: Machine::probe(&args.node),
        started: output("date".as_ref(), &["-u", "+%Y-%m-%d %H:%M UTC"]),
        p99_limit_ms: args.p99_limit_ms,
        tries: args.tries,
        pairs: args.pairs,
        duration_secs: args.duration,
        warmup_secs: args.warmup,
        load_before: loadavg(),
        ..Results::default()
    };
    let postgres = if args.servers.contains(&Target::Durable) {
        let dir = args.work_dir.join("pg");
        eprintln!(
            "starting PostgreSQL for the durable reference in {}",
            dir.display()
        );
        Some(Postgres::start(&args.pg_script, &dir).await?)
    } else {
        None
    };
    let mut bench = Bench {
        programs: Programs {
            souk_bin: args.souk_bin.clone(),
            floor_bin: args.floor_bin.clone(),
            reference_dir: args.reference_dir.clone(),
            reference_pg_dir: args.reference_pg_dir.clone(),
            node: args.node.clone(),
        },
        secret: random_secret()?,
        work_dir: args.work_dir.clone(),
        counter: 0,
        postgres,
        args,
    };
    let outcome = sweep(&mut bench, &mut results).await;
    if let Some(pg) = bench.postgres.take() {
        if let Err(e) = pg.stop().await {
            eprintln!("warning: {e:#}");
        }
    }
    outcome?;

    results.minutes = started.elapsed().as_secs_f64() / 60.0;
    results.load_after = loadavg();
    let json = bench.args.json.clone();
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&json, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("while writing {}", json.display()))?;
    report::write(&results, &bench.args.markdown, &bench.args.svg)
}

/// The rate sweeps, then the idle-socket test, into `results`.
async fn sweep(bench: &mut Bench, results: &mut Results) -> anyhow::Result<()> {
    let limit = bench.args.p99_limit_ms;
    let targets = bench.args.servers.clone();
    let (pairs, duration) = (bench.args.pairs, bench.args.duration);

    for via in bench.args.via.clone() {
        // Rate by rate, every server, until each fails once.
        let mut standing = targets.clone();
        let mut first_failed: Vec<(Target, f64)> = Vec::new();
        for rate in bench.args.rates.clone() {
            for target in standing.clone() {
                let run = bench.attempt(target, via, rate, pairs, duration).await;
                if !run.sustained {
                    standing.retain(|t| *t != target);
                    first_failed.push((target, rate));
                }
                results.runs.push(run);
            }
            if standing.is_empty() {
                break;
            }
        }
        // Bisect each server's bracket; run the other servers there too
        // while they still sustain that rate.
        for (target, _) in first_failed {
            for _ in 0..bench.args.refine {
                let Some(bad) = lowest_failed(&results.runs, target, via) else {
                    break;
                };
                let good = best_sustained(&results.runs, target, via, bad);
                let Some(mid) = good.and_then(|g| midpoint(g, bad)) else {
                    break;
                };
                if ran(&results.runs, target, via, mid) {
                    break;
                }
                results
                    .runs
                    .push(bench.attempt(target, via, mid, pairs, duration).await);
                for other in targets.iter().copied().filter(|t| *t != target) {
                    if !ran(&results.runs, other, via, mid)
                        && !fails_at_or_below(&results.runs, other, via, mid)
                    {
                        results
                            .runs
                            .push(bench.attempt(other, via, mid, pairs, duration).await);
                    }
                }
            }
        }
    }

    if bench.args.idle_sockets > 0 {
        for target in targets.clone() {
            let report = bench
                .run(target, Via::Socket, 100.0, 10, bench.args.idle_sockets, 3.0)
                .await?;
            let per = report
                .server
                .as_ref()
                .and_then(|s| s.rss_per_idle_socket_kib)
                .unwrap_or(f64::NAN);
            eprintln!(
                "{:>9} idle: {} sockets, {:.1} KiB per socket",
                target.label(),
                report.idle_sockets,
                per
            );
            results.idle.push(Run {
                target: target.label().into(),
                via: report.via.clone(),
                rate: 100.0,
                sustained: sustained(&report, limit),
                report,
                failed_tries_p99_ms: Vec::new(),
            });
        }
    }

    Ok(())
}

fn of(runs: &[Run], target: Target, via: Via) -> impl Iterator<Item = &Run> {
    let via = via_label(via);
    runs.iter()
        .filter(move |r| r.target == target.label() && r.via == via)
}

fn ran(runs: &[Run], target: Target, via: Via, rate: f64) -> bool {
    of(runs, target, via).any(|r| r.rate == rate)
}

fn lowest_failed(runs: &[Run], target: Target, via: Via) -> Option<f64> {
    of(runs, target, via)
        .filter(|r| !r.sustained)
        .map(|r| r.rate)
        .reduce(f64::min)
}

/// The highest rate a server sustained below every rate it failed at (a
/// rate that passed above a failed one, on a noisy machine, does not count).
pub fn sustained_limit(runs: &[Run], target: Target, via: Via) -> Option<f64> {
    let below = lowest_failed(runs, target, via).unwrap_or(f64::INFINITY);
    best_sustained(runs, target, via, below)
}

fn best_sustained(runs: &[Run], target: Target, via: Via, below: f64) -> Option<f64> {
    let via = via_label(via);
    runs.iter()
        .filter(|r| r.target == target.label() && r.via == via && r.sustained && r.rate < below)
        .map(|r| r.rate)
        .fold(None, |m, r| Some(m.map_or(r, |m: f64| m.max(r))))
}

fn fails_at_or_below(runs: &[Run], target: Target, via: Via, rate: f64) -> bool {
    let via = via_label(via);
    runs.iter()
        .any(|r| r.target == target.label() && r.via == via && !r.sustained && r.rate <= rate)
}

pub fn via_label(via: Via) -> &'static str {
    match via {
        Via::Rest => "rest",
        Via::Socket => "socket",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midpoints_are_geometric_and_round() {
        assert_eq!(midpoint(2000.0, 4000.0), Some(2800.0));
        assert_eq!(midpoint(2800.0, 4000.0), Some(3300.0));
        assert_eq!(midpoint(250.0, 500.0), Some(350.0));
        assert_eq!(midpoint(3300.0, 3400.0), None);
    }

    fn run(target: &str, rate: f64, sustained: bool) -> Run {
        Run {
            target: target.into(),
            via: "socket".into(),
            rate,
            sustained,
            report: LoadReport::default(),
            failed_tries_p99_ms: Vec::new(),
        }
    }

    #[test]
    fn brackets_come_from_the_runs() {
        let runs = vec![
            run("souk", 1000.0, true),
            run("souk", 2000.0, true),
            run("souk", 4000.0, false),
            run("reference", 1000.0, true),
            run("reference", 2000.0, false),
        ];
        assert_eq!(
            best_sustained(&runs, Target::Souk, Via::Socket, 4000.0),
            Some(2000.0)
        );
        assert_eq!(
            best_sustained(&runs, Target::Souk, Via::Socket, 1500.0),
            Some(1000.0)
        );
        assert_eq!(best_sustained(&runs, Target::Souk, Via::Rest, 4000.0), None);
        assert!(fails_at_or_below(
            &runs,
            Target::Reference,
            Via::Socket,
            2800.0
        ));
        assert!(!fails_at_or_below(&runs, Target::Souk, Via::Socket, 2800.0));
        assert_eq!(
            lowest_failed(&runs, Target::Souk, Via::Socket),
            Some(4000.0)
        );
        assert!(ran(&runs, Target::Reference, Via::Socket, 2000.0));
        assert!(!ran(&runs, Target::Reference, Via::Rest, 2000.0));
    }

    #[test]
    fn a_pass_above_a_failure_does_not_raise_the_limit() {
        let runs = vec![
            run("souk", 1000.0, true),
            run("souk", 1400.0, false),
            run("souk", 1700.0, true),
            run("souk", 2000.0, false),
        ];
        assert_eq!(
            sustained_limit(&runs, Target::Souk, Via::Socket),
            Some(1000.0)
        );
        let clean = vec![run("souk", 1000.0, true), run("souk", 2000.0, true)];
        assert_eq!(
            sustained_limit(&clean, Target::Souk, Via::Socket),
            Some(2000.0)
        );
    }

    /// A run where every message arrived, with this p99.
    fn delivered(p99: f64) -> LoadReport {
        let mut r = LoadReport {
            via: "socket".into(),
            sent: 100,
            delivered: 100,
            ..LoadReport::default()
        };
        r.latency_ms.p99 = p99;
        r
    }

    /// [`retried`] (limit 50 ms) over these reports, one per try in order:
    /// the run, and the tries made. A try beyond the reports fails the test.
    async fn retried_over(reports: &[LoadReport], tries: u32) -> (Run, usize) {
        let mut made = 0;
        let run = retried(Target::Souk, Via::Socket, 1000.0, 50.0, tries, async || {
            let report = reports
                .get(made)
                .unwrap_or_else(|| panic!("a try beyond the {} expected", reports.len()))
                .clone();
            made += 1;
            report
        })
        .await;
        (run, made)
    }

    #[tokio::test]
    async fn a_sustained_first_try_is_the_only_one() {
        let (run, made) = retried_over(&[delivered(12.0), delivered(13.0)], 2).await;
        assert_eq!(made, 1);
        assert!(run.sustained);
        assert_eq!(run.report.latency_ms.p99, 12.0);
        assert!(run.failed_tries_p99_ms.is_empty());
        assert_eq!((run.target.as_str(), run.via.as_str()), ("souk", "socket"));
        assert_eq!(run.rate, 1000.0);
    }

    #[tokio::test]
    async fn a_failed_try_is_run_once_more_and_listed() {
        let (run, made) = retried_over(&[delivered(120.0), delivered(20.0)], 2).await;
        assert_eq!(made, 2);
        assert!(run.sustained);
        assert_eq!(run.report.latency_ms.p99, 20.0);
        assert_eq!(run.failed_tries_p99_ms, vec![120.0]);
    }

    #[tokio::test]
    async fn tries_bound_the_runs_of_a_rate_not_sustained() {
        let reports = [delivered(120.0), delivered(90.0), delivered(10.0)];
        let (run, made) = retried_over(&reports, 2).await;
        assert_eq!(made, 2);
        assert!(!run.sustained);
        assert_eq!(run.report.latency_ms.p99, 90.0);
        assert_eq!(run.failed_tries_p99_ms, vec![120.0]);

        let (run, made) = retried_over(&[delivered(120.0), delivered(10.0)], 1).await;
        assert_eq!(made, 1);
        assert!(!run.sustained);
        assert_eq!(run.report.latency_ms.p99, 120.0);
        assert!(run.failed_tries_p99_ms.is_empty());
    }

    #[tokio::test]
    async fn any_failure_is_tried_again_not_only_a_slow_p99() {
        let not_made = failed_run(Via::Socket, 1000.0, &anyhow::anyhow!("no listening line"));
        let mut lossy = delivered(30.0);
        lossy.lost = 1;
        lossy.delivered = 99;
        let (run, made) = retried_over(&[not_made, lossy, delivered(15.0)], 3).await;
        assert_eq!(made, 3);
        assert!(run.sustained);
        assert_eq!(run.failed_tries_p99_ms, vec![0.0, 30.0]);
    }

    #[test]
    fn a_run_that_could_not_be_made_is_not_sustained() {
        let r = failed_run(Via::Socket, 500.0, &anyhow::anyhow!("no listening line"));
        assert!(!sustained(&r, 50.0));
        assert_eq!(r.via, "socket");
        assert!(r
            .error_kinds
            .keys()
            .any(|k| k.contains("no listening line")));
    }

    #[test]
    fn sustained_needs_everything_delivered_in_time() {
        let mut r = LoadReport {
            sent: 10,
            delivered: 10,
            ..LoadReport::default()
        };
        r.latency_ms.p99 = 12.0;
        assert!(sustained(&r, 50.0));
        r.latency_ms.p99 = 50.0;
        assert!(!sustained(&r, 50.0));
        r.latency_ms.p99 = 1.0;
        r.lost = 1;
        assert!(!sustained(&r, 50.0));
        r.lost = 0;
        r.delivered = 9;
        assert!(!sustained(&r, 50.0));
    }
}
