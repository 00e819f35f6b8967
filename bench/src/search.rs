//! `souk-bench search`: what search costs a vendor with many messages, and
//! what concurrent searches cost everybody else's sends.
//!
//! 1. Starts souk on a fresh data directory and seeds one vendor with
//!    `--conversations` customers and `--messages` messages between them
//!    (texts with sizes, order numbers, prices, accents: what people search
//!    for), plus `--pairs` other customer/vendor pairs.
//! 2. Search latency: `--samples` sequential searches per term, as the
//!    vendor, over REST (`GET /api/vendor/chat/conversations?search=`), and
//!    how many conversations the first answer found.
//! 3. Sends under searches: the other pairs send at `--send-rate` (open
//!    loop, REST) for `--phase` seconds, alternately alone and with
//!    `--search-rate` concurrent searches per second (open loop, the terms
//!    in turn), `--rounds` times; the send latencies of each kind of phase
//!    are pooled and compared (p99 with searches / p99 without).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{stream, StreamExt};
use hyper::Method;
use serde::Serialize;

use crate::http::Rest;
use crate::procfs::Proc;
use crate::server::{self, Spec};
use crate::stats::{Percentiles, Summary};
use crate::tokens::{Minter, Role};

const SECRET: &str = "souk-bench-search-secret-0123456789";
const VENDOR: &str = "sv-1";
/// A word only the seeding's last message holds: once it is found, the
/// read models hold everything before it.
const MARKER: &str = "zqxjseeded";

#[derive(Debug, clap::Args)]
pub struct SearchArgs {
    /// The souk binary.
    #[arg(long, default_value = "target/release/souk")]
    souk_bin: PathBuf,
    /// Where the data directory and the server's log go.
    #[arg(long, default_value = "bench/target/search")]
    work_dir: PathBuf,
    /// The vendor's messages.
    #[arg(long, default_value_t = 30_000)]
    messages: usize,
    /// The vendor's conversations (the messages are spread evenly).
    #[arg(long, default_value_t = 300)]
    conversations: usize,
    /// Other customer/vendor pairs, whose sends are measured.
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    /// Sequential searches per term.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// The terms searched (comma-separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "the,bike,bik,54,#7,cm,L,cafe,customer 17,red 54,zqxjseeded,nothing"
    )]
    terms: Vec<String>,
    /// Sends per second of the other pairs.
    #[arg(long, default_value_t = 50.0)]
    send_rate: f64,
    /// Concurrent searches per second in the loaded phases.
    #[arg(long, default_value_t = 50.0)]
    search_rate: f64,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 10.0)]
    phase: f64,
    /// Pairs of phases (alone, with searches), interleaved. Ten, because
    /// on a disk whose `fdatasync` stalls now and then, which kind of phase
    /// a stall falls in decides a pooled p99 of a few rounds
    /// (BENCHMARKS.md, Search).
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Write the figures here (JSON) as well as printing them.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One term's latencies.
#[derive(Debug, Serialize)]
struct TermFigures {
    term: String,
    found: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// The server's CPU time per search (user and system, from /proc).
    cpu_us_per_search: f64,
}

/// One kind of phase's send latencies, pooled over the rounds.
#[derive(Debug, Serialize)]
struct SendFigures {
    sends: usize,
    failed: usize,
    p50_ms: f64,
    p99_ms: f64,
    searches: usize,
    search_p50_ms: f64,
    search_p99_ms: f64,
    /// The server's CPU over these phases, in cores (1.0 = one core busy).
    server_cores: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    binary: String,
    messages: usize,
    conversations: usize,
    seed_seconds: f64,
    terms: Vec<TermFigures>,
    all_terms_p50_ms: f64,
    all_terms_p99_ms: f64,
    sends_alone: SendFigures,
    sends_with_searches: SendFigures,
    send_p99_ratio: f64,
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e4).round() / 100.0
}

/// A message of the seeded history: what people write about bikes. Every
/// one holds "the" (a common word, the costliest kind of search).
fn seed_text(conversation: usize, i: usize) -> String {
    let n = conversation * 7 + i;
    match i % 8 {
        0 => format!("Is the bike still available? Order #{}", n % 90 + 1),
        1 => format!(
            "The frame is {} cm, for riders up to {} cm",
            48 + n % 12,
            160 + n % 40
        ),
        2 => format!(
            "Can we meet at the café at {}:{:02}?",
            9 + n % 10,
            (n * 5) % 60
        ),
        3 => "Thanks, I will think about the offer".to_owned(),
        4 => format!("The price is {} EUR with delivery", 200 + (n * 13) % 700),
        5 => format!(
            "Size {} would fit the rider better",
            ["S", "M", "L", "XL"][n % 4]
        ),
        6 => format!("Vendor reply #{}: the helmet comes in red and blue", n % 20),
        _ => "Sure, see you at the shop".to_owned(),
    }
}

struct Users {
    vendor: String,
    customers: Vec<(String, String)>,
    pairs: Vec<(String, String, String)>,
}

async fn open(rest: &Rest, token: &str, body: serde_json::Value) -> anyhow::Result<String> {
    let a = rest
        .call(
            Method::POST,
            "/api/chat/conversation",
            token,
            Some(body.to_string()),
        )
        .await?;
    anyhow::ensure!(
        a.status.is_success(),
        "opening a conversation answered {}",
        a.status
    );
    let v: serde_json::Value = serde_json::from_slice(&a.body)?;
    Ok(v["id"].as_str().context("no id")?.to_owned())
}

async fn send(rest: &Rest, role: Role, token: &str, conversation: &str, text: &str) -> bool {
    let path = match role {
        Role::Customer => "/api/chat/send",
        Role::Vendor => "/api/vendor/chat/send",
    };
    let body = serde_json::json!({ "conversationId": conversation, "text": text }).to_string();
    match rest.call(Method::POST, path, token, Some(body)).await {
        Ok(a) if a.status.as_u16() == 201 => true,
        Ok(a) => {
            eprintln!(
                "send answered {}: {}",
                a.status,
                String::from_utf8_lossy(&a.body)
            );
            false
        }
        Err(e) => {
            eprintln!("send failed: {e:#}");
            false
        }
    }
}

/// Opens the conversations and sends the vendor's history.
async fn seed(rest: &Rest, minter: &Minter, args: &SearchArgs) -> anyhow::Result<Users> {
    let vendor = minter.mint(VENDOR, Role::Vendor, "Bolt Bikes")?;
    let mut customers = Vec::new();
    for c in 0..args.conversations {
        let id = format!("sc-{c}");
        let token = minter.mint(&id, Role::Customer, &format!("Customer {c}"))?;
        let body = serde_json::json!({
            "vendorId": VENDOR,
            "vendorName": "Bolt Bikes",
            "product": { "id": format!("p-{}", c % 10), "name": format!("Red city bike {}", c % 10) },
        });
        let conversation = open(rest, &token, body).await?;
        customers.push((token, conversation));
    }
    let mut pairs = Vec::new();
    for p in 0..args.pairs {
        let (c, v) = (format!("oc-{p}"), format!("ov-{p}"));
        let token = minter.mint(&c, Role::Customer, &c)?;
        let conversation = open(rest, &token, serde_json::json!({ "vendorId": v })).await?;
        pairs.push((token, conversation, v));
    }
    let per = args.messages.div_ceil(args.conversations.max(1));
    let jobs: Vec<(usize, usize)> = (0..per)
        .flat_map(|i| (0..args.conversations).map(move |c| (c, i)))
        .take(args.messages.saturating_sub(1))
        .collect();
    let failed = stream::iter(jobs)
        .map(|(c, i)| {
            let (rest, vendor, (token, conversation)) = (rest, &vendor, &customers[c]);
            async move {
                let text = seed_text(c, i);
                if i % 2 == 0 {
                    send(rest, Role::Customer, token, conversation, &text).await
                } else {
                    send(rest, Role::Vendor, vendor, conversation, &text).await
                }
            }
        })
        .buffer_unordered(32)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    anyhow::ensure!(failed == 0, "{failed} seeding sends failed");
    anyhow::ensure!(
        send(
            rest,
            Role::Vendor,
            &vendor,
            &customers[0].1,
            &format!("last one {MARKER}")
        )
        .await,
        "the marker send failed"
    );
    Ok(Users {
        vendor,
        customers,
        pairs,
    })
}

fn search_path(term: &str) -> String {
    let q: String = term
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("/api/vendor/chat/conversations?search={q}&limit=20")
}

/// One search; its latency and how many conversations it found.
async fn search(rest: &Rest, token: &str, term: &str) -> anyhow::Result<(u64, usize)> {
    let started = Instant::now();
    let a = rest
        .call(Method::GET, &search_path(term), token, None)
        .await?;
    let took = started.elapsed().as_nanos() as u64;
    anyhow::ensure!(a.status.as_u16() == 200, "search answered {}", a.status);
    let v: serde_json::Value = serde_json::from_slice(&a.body)?;
    let found = v["conversations"].as_array().map_or(0, Vec::len);
    Ok((took, found))
}

/// Runs `op(i)` at `rate` per second for `duration`, open loop; returns the
/// latencies of those that succeeded and the count that failed.
async fn open_loop<F, Fut>(rate: f64, duration: Duration, op: F) -> (Vec<u64>, usize)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let count = (rate * duration.as_secs_f64()).round() as usize;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
        let fut = op(i);
        let results = results.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let ok = fut.await;
            let took = started.elapsed().as_nanos() as u64;
            let mut r = results.lock().expect("not poisoned");
            if ok {
                r.0.push(took);
            } else {
                r.1 += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let mut guard = results.lock().expect("not poisoned");
    std::mem::take(&mut *guard)
}

/// One phase's sends in a line of progress: a pooled p99 hides whether one
/// phase's stall or every phase made it.
fn phase_line(latencies: &[u64], failed: usize) -> String {
    let s = Percentiles::of(latencies.to_vec());
    let slow = latencies.iter().filter(|&&ns| ns > 20_000_000).count();
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {slow} over 20 ms, {failed} failed",
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    )
}

fn figures(sends: (Vec<u64>, usize), searches: Vec<u64>, server_cores: f64) -> SendFigures {
    let s: Summary = Percentiles::of(sends.0);
    let q: Summary = Percentiles::of(searches);
    SendFigures {
        sends: s.count,
        failed: sends.1,
        p50_ms: ms(s.p50),
        p99_ms: ms(s.p99),
        searches: q.count,
        search_p50_ms: ms(q.p50),
        search_p99_ms: ms(q.p99),
        server_cores: (server_cores * 1000.0).round() / 1000.0,
    }
}

pub async fn run(args: SearchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.souk_bin.exists(),
        "{} is missing: cargo build --release -p souk-api",
        args.souk_bin.display()
    );
    anyhow::ensure!(
        args.conversations > 0 && !args.terms.is_empty() && args.pairs > 0,
        "give at least one conversation, term and pair"
    );
    anyhow::ensure!(
        args.send_rate > 0.0 && args.search_rate > 0.0 && args.phase > 0.0,
        "rates and the phase must be positive"
    );
    std::fs::create_dir_all(&args.work_dir)?;
    let data = args.work_dir.join("data");
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let spec = Spec {
        program: args.souk_bin.clone(),
        args: vec![
            "serve".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--http-addr".into(),
            "127.0.0.1:0".into(),
            "--socket-addr".into(),
            "127.0.0.1:0".into(),
        ],
        env: vec![
            ("SOUK_JWT_SECRET".into(), SECRET.into()),
            ("SOUK_LOG".into(), "warn".into()),
            // One vendor seeds thousands of messages and searches 50 times
            // a second: far over the per-user default of 50 requests/s.
            ("SOUK_REST_RATE".into(), "1000000".into()),
        ],
        cwd: None,
        log: args.work_dir.join("souk.log"),
    };
    let running = server::start(&spec).await?;
    let result = measure(&args, &running.http_url, Proc::of(running.pid)).await;
    running.stop().await?;
    let report = result?;
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.out {
        std::fs::write(path, json.clone() + "\n")
            .with_context(|| format!("while writing {}", path.display()))?;
    }
    println!("{json}");
    Ok(())
}

/// The server's CPU time so far.
fn cpu(server: &Proc) -> Duration {
    server.sample().map(|s| s.cpu).unwrap_or_default()
}

async fn measure(args: &SearchArgs, base: &str, server: Proc) -> anyhow::Result<Report> {
    let rest = Rest::new(base);
    let minter = Minter::from_secret(SECRET);
    let seeding = Instant::now();
    let users = seed(&rest, &minter, args).await?;
    // The read models hold the history once the last message is found.
    let deadline = Instant::now() + Duration::from_secs(300);
    while search(&rest, &users.vendor, MARKER).await?.1 == 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the seeded history never became searchable"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seed_seconds = seeding.elapsed().as_secs_f64();
    eprintln!(
        "seeded {} messages in {} conversations in {seed_seconds:.1} s",
        args.messages,
        users.customers.len()
    );

    let mut terms = Vec::new();
    let mut all = Vec::new();
    for term in &args.terms {
        let (_, found) = search(&rest, &users.vendor, term).await?;
        let mut samples = Vec::with_capacity(args.samples);
        let cpu_before = cpu(&server);
        for _ in 0..args.samples {
            samples.push(search(&rest, &users.vendor, term).await?.0);
        }
        let cpu_us_per_search = (cpu(&server).saturating_sub(cpu_before).as_secs_f64() * 1e6
            / args.samples.max(1) as f64)
            .round();
        all.extend_from_slice(&samples);
        let s = Percentiles::of(samples);
        eprintln!(
            "search {term:?}: found {found}, p50 {:.2} ms, p99 {:.2} ms, {cpu_us_per_search} us CPU",
            ms(s.p50),
            ms(s.p99)
        );
        terms.push(TermFigures {
            term: term.clone(),
            found,
            p50_ms: ms(s.p50),
            p99_ms: ms(s.p99),
            max_ms: ms(s.max),
            cpu_us_per_search,
        });
    }
    let overall = Percentiles::of(all);

    let phase = Duration::from_secs_f64(args.phase);
    let pairs = Arc::new(users.pairs);
    let sender = |round: usize| {
        let (rest, pairs) = (rest.clone(), pairs.clone());
        move |i: usize| {
            let (rest, pairs) = (rest.clone(), pairs.clone());
            async move {
                let (token, conversation, _) = &pairs[i % pairs.len()];
                let text = format!("round {round} message {i}, is the 54 cm frame in stock?");
                send(&rest, Role::Customer, token, conversation, &text).await
            }
        }
    };
    let (mut alone, mut loaded) = ((Vec::new(), 0), (Vec::new(), 0));
    let mut search_latencies = Vec::new();
    let (mut cpu_alone, mut cpu_loaded) = (Duration::ZERO, Duration::ZERO);
    let (mut wall_alone, mut wall_loaded) = (Duration::ZERO, Duration::ZERO);
    for round in 0..args.rounds {
        let (started, cpu_before) = (Instant::now(), cpu(&server));
        let (ok, failed) = open_loop(args.send_rate, phase, sender(2 * round)).await;
        cpu_alone += cpu(&server).saturating_sub(cpu_before);
        wall_alone += started.elapsed();
        eprintln!("round {round}: sends alone: {}", phase_line(&ok, failed));
        alone.0.extend(ok);
        alone.1 += failed;

        let searches = {
            let (rest, token, terms) = (
                rest.clone(),
                users.vendor.clone(),
                Arc::new(args.terms.clone()),
            );
            open_loop(args.search_rate, phase, move |i| {
                let (rest, token, terms) = (rest.clone(), token.clone(), terms.clone());
                async move { search(&rest, &token, &terms[i % terms.len()]).await.is_ok() }
            })
        };
        let sends = open_loop(args.send_rate, phase, sender(2 * round + 1));
        let (started, cpu_before) = (Instant::now(), cpu(&server));
        let ((ok, failed), (searched, _)) = tokio::join!(sends, searches);
        cpu_loaded += cpu(&server).saturating_sub(cpu_before);
        wall_loaded += started.elapsed();
        eprintln!(
            "round {round}: sends with searches: {}; searches p99 {:.2} ms",
            phase_line(&ok, failed),
            ms(Percentiles::of(searched.clone()).p99)
        );
        loaded.0.extend(ok);
        loaded.1 += failed;
        search_latencies.extend(searched);
    }
    let cores = |cpu: Duration, wall: Duration| cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let sends_alone = figures(alone, Vec::new(), cores(cpu_alone, wall_alone));
    let sends_with_searches = figures(loaded, search_latencies, cores(cpu_loaded, wall_loaded));
    let send_p99_ratio = if sends_alone.p99_ms > 0.0 {
        (sends_with_searches.p99_ms / sends_alone.p99_ms * 100.0).round() / 100.0
    } else {
        0.0
    };
    Ok(Report {
        binary: args.souk_bin.display().to_string(),
        messages: args.messages,
        conversations: users.customers.len(),
        seed_seconds: (seed_seconds * 10.0).round() / 10.0,
        terms,
        all_terms_p50_ms: ms(overall.p50),
        all_terms_p99_ms: ms(overall.p99),
        sends_alone,
        sends_with_searches,
        send_p99_ratio,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_paths_encode_the_term() {
        assert_eq!(
            search_path("#7 cm"),
            "/api/vendor/chat/conversations?search=%237%20cm&limit=20"
        );
        assert_eq!(
            search_path("café"),
            "/api/vendor/chat/conversations?search=caf%C3%A9&limit=20"
        );
    }

    #[test]
    fn the_seeded_history_holds_what_people_search_for() {
        let texts: Vec<String> = (0..8).map(|i| seed_text(3, i)).collect();
        let all = texts.join(" ");
        for word in ["bike", "cm", "café", "#", "EUR", "Size", "Vendor reply"] {
            assert!(all.contains(word), "{word} in {all}");
        }
        assert!(texts.iter().all(|t| t.to_lowercase().contains("the")));
    }
}
