//! One load run against one server: `pairs` customer/vendor pairs, each with
//! its conversation (opened over REST) joined by both sockets; messages sent
//! at a fixed offered rate, alternating direction within each pair, over REST
//! or over the sender's socket; for every message, the time from its send to
//! the other side's `receive_message`.
//!
//! # How time is measured
//!
//! The load is open-loop: message `i` is due at `start + i / rate`, whatever
//! the server does. A dedicated OS thread sends each message when it is due
//! (an OS thread sleeps with microsecond precision; tokio's timer has a
//! millisecond grain), and latency is counted **from the due time**, not from
//! when the send actually left: a server that makes the generator wait (full
//! TCP buffers, all REST connections busy) is charged for the wait, as a user
//! would be (no coordinated omission). How late the sender thread itself ran
//! is reported as `dispatchLagMs`, so a generator that could not keep up is
//! visible.
//!
//! The other side's arrival is stamped the moment its socket task reads the
//! frame, before any parsing beyond the frame type. The message is found by
//! its `clientMessageId` (`b<index>`), which also says which pair and which
//! direction it belongs to, so a message delivered to the wrong pair or
//! delivered twice is counted, not mistaken for a delivery.
//!
//! # What counts as what
//!
//! - **delivered**: the other side got `receive_message`.
//! - **errors**: the send was refused (ack `ok:false`, HTTP status other than
//!   200/201, a transport error), or it was neither acknowledged nor delivered
//!   within the grace period.
//! - **lost**: the send was acknowledged but the other side never got the
//!   message within the grace period after the last send.
//!
//! # Across nodes
//!
//! With `vendor_socket_url`, the vendors' sockets connect to another node of
//! a cluster than the customers' ones: each message (over the sockets, in
//! both directions) is then sent on one node and heard on the other, through
//! the shared log. The same run without it, against one node, is the
//! baseline at the same offered rate.
//!
//! The first `warmup` seconds of the schedule are sent but not measured
//! (Node's JIT and souk's caches both get to warm up); CPU time is counted
//! from the end of the warmup to the last delivery (or the grace deadline).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use hyper::Method;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

use crate::http::Rest;
use crate::procfs::{Proc, Sample};
use crate::sio::{self, Connection, Inbound};
use crate::stats::{Percentiles, Summary};
use crate::tokens::{Minter, Role};

/// How messages are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `POST /api/chat/send` (or the vendor route).
    Rest,
    /// `send_message` on the sender's socket, with an ack.
    Socket,
}

/// Settings of one run.
#[derive(Clone)]
pub struct LoadConfig {
    /// `http://127.0.0.1:PORT` (REST).
    pub server_url: String,
    /// `ws://127.0.0.1:PORT` or `http://...` (Socket.IO).
    pub socket_url: String,
    /// Where the vendors' sockets connect instead of `socket_url`: another
    /// node of a cluster, so that every message is sent on one node and
    /// heard on another (customers send on `socket_url`, vendors on this).
    pub vendor_socket_url: Option<String>,
    pub pairs: usize,
    /// Offered messages per second.
    pub rate: f64,
    /// Measured part of the schedule.
    pub duration: Duration,
    /// Unmeasured part of the schedule, before the measured one.
    pub warmup: Duration,
    pub via: Via,
    /// Extra sockets that connect and do nothing (memory per socket).
    pub idle_sockets: usize,
    /// Whether the idle sockets send a browser's headers
    /// ([`sio::BROWSER_HEADERS`]) with their upgrade request.
    pub browser_headers: bool,
    /// The server's pid, for CPU and RSS from `/proc`.
    pub server_pid: Option<u32>,
    /// A database server that works for the server (PostgreSQL's
    /// postmaster): the CPU of it and every process under it counts as the
    /// server's too.
    pub database_pid: Option<u32>,
    /// How long after the last send a message may still arrive.
    pub grace: Duration,
    /// Time given to the server after connecting idle sockets before its
    /// RSS is read.
    pub settle: Duration,
    pub minter: Minter,
    /// Prefix of every user id (lets several runs share one server).
    pub run_id: String,
    /// Sockets connecting at once (and conversations opening at once).
    pub connect_concurrency: usize,
    /// REST sends in flight at once; more wait (and their wait counts).
    pub max_in_flight: usize,
    /// Write every measured message's due time and latency here (CSV).
    pub latency_csv: Option<std::path::PathBuf>,
}

/// Latency figures in milliseconds.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LatencyMs {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl From<Summary> for LatencyMs {
    fn from(s: Summary) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        Self {
            p50: ms(s.p50),
            p99: ms(s.p99),
            p999: ms(s.p999),
            max: ms(s.max),
            mean: s.mean / 1e6,
        }
    }
}

/// What the server used, from `/proc`.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerUse {
    /// CPU (user + system, every thread) over the measured window.
    pub cpu_ms: f64,
    pub cpu_ms_per_1000_delivered: Option<f64>,
    /// The database's share of `cpu_ms`, when there is one.
    pub database_cpu_ms: Option<f64>,
    /// RSS before anything connected.
    pub rss_start_kib: u64,
    /// RSS once the pairs' sockets joined their rooms.
    pub rss_pairs_kib: u64,
    /// RSS once the idle sockets connected (and `settle` passed).
    pub rss_idle_kib: u64,
    /// RSS after the load.
    pub rss_end_kib: u64,
    /// (RSS with the pairs' sockets - RSS at start) / their number.
    pub rss_per_pair_socket_kib: Option<f64>,
    /// (RSS with the idle sockets - RSS before them) / their number.
    pub rss_per_idle_socket_kib: Option<f64>,
}

/// The outcome of one run (the JSON that `souk-bench load` prints).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadReport {
    pub via: String,
    pub pairs: usize,
    /// Whether the vendors' sockets were on another node (`--vendor-socket-url`).
    pub cross_node: bool,
    pub sockets: usize,
    pub idle_sockets: usize,
    pub offered_rate: f64,
    pub duration_secs: f64,
    pub warmup_secs: f64,
    /// Measured messages sent.
    pub sent: u64,
    pub acknowledged: u64,
    pub delivered: u64,
    pub errors: u64,
    pub lost: u64,
    /// Delivered, but the sender never had its ack.
    pub delivered_without_ack: u64,
    pub duplicates: u64,
    pub misrouted: u64,
    /// `new_chat_message` notifications received by recipients.
    pub notifications: u64,
    /// Sockets that closed during the run.
    pub sockets_closed: u64,
    pub error_kinds: BTreeMap<String, u64>,
    /// Delivered messages per second, over the measured window.
    pub delivered_per_sec: f64,
    /// Due time to the other side's `receive_message`.
    pub latency_ms: LatencyMs,
    /// Due time to the sender's ack (or REST answer).
    pub ack_latency_ms: LatencyMs,
    /// How late the sender thread sent messages.
    pub dispatch_lag_ms: LatencyMs,
    pub server: Option<ServerUse>,
    /// The generator's own CPU over the same window.
    pub generator_cpu_ms: f64,
    /// The measured window: end of warmup to last delivery (or deadline).
    pub window_secs: f64,
    /// Cores kept busy by everything else on the machine (other engineers'
    /// builds, the kernel) during the window: how noisy the run was.
    pub others_cores: f64,
    pub setup_secs: f64,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Which pair and direction message `i` has.
#[derive(Clone, Copy, Debug)]
struct Plan {
    pairs: usize,
}

impl Plan {
    fn pair(self, i: usize) -> usize {
        i % self.pairs
    }

    /// Messages alternate direction within a pair: the customer sends first.
    fn sender(self, i: usize) -> Role {
        if (i / self.pairs).is_multiple_of(2) {
            Role::Customer
        } else {
            Role::Vendor
        }
    }
}

/// Everything the socket tasks and the sender record, by message index.
struct Tracker {
    plan: Plan,
    /// Messages `first_measured..` are measured.
    first_measured: usize,
    start: OnceLock<Instant>,
    /// Nanoseconds since `start`, plus one (0: not yet).
    received: Vec<AtomicU64>,
    acked: Vec<AtomicU64>,
    failed: Vec<AtomicBool>,
    /// Measured messages received or failed.
    resolved: AtomicUsize,
    duplicates: AtomicU64,
    misrouted: AtomicU64,
    notifications: AtomicU64,
    sockets_closed: AtomicU64,
    closing: AtomicBool,
    error_kinds: Mutex<BTreeMap<String, u64>>,
}

impl Tracker {
    fn new(plan: Plan, count: usize, first_measured: usize) -> Self {
        let zeros = || (0..count).map(|_| AtomicU64::new(0)).collect();
        Self {
            plan,
            first_measured,
            start: OnceLock::new(),
            received: zeros(),
            acked: zeros(),
            failed: (0..count).map(|_| AtomicBool::new(false)).collect(),
            resolved: AtomicUsize::new(0),
            duplicates: AtomicU64::new(0),
            misrouted: AtomicU64::new(0),
            notifications: AtomicU64::new(0),
            sockets_closed: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            error_kinds: Mutex::new(BTreeMap::new()),
        }
    }

    fn since_start(&self, at: Instant) -> Option<u64> {
        let start = *self.start.get()?;
        Some(at.saturating_duration_since(start).as_nanos() as u64 + 1)
    }

    fn index(&self, client_message_id: &str) -> Option<usize> {
        let i: usize = client_message_id.strip_prefix('b')?.parse().ok()?;
        (i < self.received.len()).then_some(i)
    }

    /// A `receive_message` read by the socket of `role` in `pair`.
    fn on_receive(&self, pair: usize, role: Role, array: &str, at: Instant) {
        let Some(i) = sio::string_field(array, "clientMessageId").and_then(|c| self.index(c))
        else {
            return;
        };
        if self.plan.pair(i) != pair {
            self.misrouted.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.plan.sender(i) == role {
            // The room includes the sender: its own echo.
            return;
        }
        let Some(t) = self.since_start(at) else {
            return;
        };
        if self.received[i]
            .compare_exchange(0, t, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
        } else if i >= self.first_measured && !self.failed[i].load(Ordering::Acquire) {
            self.resolved.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn on_ack(&self, i: usize, ok: bool, kind: &str, at: Instant) {
        if i >= self.received.len() {
            return;
        }
        if ok {
            if let Some(t) = self.since_start(at) {
                let _ = self.acked[i].compare_exchange(0, t, Ordering::AcqRel, Ordering::Relaxed);
            }
        } else {
            self.fail(i, kind);
        }
    }

    fn fail(&self, i: usize, kind: &str) {
        if i >= self.first_measured {
            *self
                .error_kinds
                .lock()
                .expect("never poisoned")
                .entry(kind.to_owned())
                .or_default() += 1;
        }
        if !self.failed[i].swap(true, Ordering::AcqRel)
            && i >= self.first_measured
            && self.received[i].load(Ordering::Acquire) == 0
        {
            self.resolved.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn on_closed(&self) {
        if !self.closing.load(Ordering::Relaxed) {
            self.sockets_closed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The handler of one pair socket.
fn pair_handler(tracker: Arc<Tracker>, pair: usize, role: Role) -> impl FnMut(Inbound<'_>) + Send {
    move |inbound| match inbound {
        Inbound::Event { name, array, at } => match name {
            "receive_message" => tracker.on_receive(pair, role, array, at),
            "new_chat_message" => {
                tracker.notifications.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        },
        Inbound::Ack { id, array, at } => {
            let ok = array.contains("\"ok\":true");
            let kind = if ok {
                String::new()
            } else {
                format!(
                    "ack {}",
                    sio::string_field(array, "code").unwrap_or("malformed")
                )
            };
            tracker.on_ack(id as usize, ok, &kind, at);
        }
        Inbound::Closed => tracker.on_closed(),
    }
}

fn loopback_only(url: &str) -> anyhow::Result<()> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .with_context(|| format!("{url}: not a URL"))?;
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if host != "127.0.0.1" && host != "localhost" {
        bail!("{url}: the benchmark only sends traffic to 127.0.0.1");
    }
    Ok(())
}

fn ws_url(url: &str) -> String {
    if let Some(r) = url.strip_prefix("http://") {
        format!("ws://{r}")
    } else {
        url.to_owned()
    }
}

struct Pair {
    conversation: String,
    tokens: [String; 2],
}

fn side(role: Role) -> usize {
    match role {
        Role::Customer => 0,
        Role::Vendor => 1,
    }
}

fn chat_prefix(role: Role) -> &'static str {
    match role {
        Role::Customer => "/api/chat",
        Role::Vendor => "/api/vendor/chat",
    }
}

fn sample(proc: &Option<Proc>) -> Sample {
    proc.as_ref().and_then(Proc::sample).unwrap_or_default()
}

/// The readings at one end of the measured window.
struct Window {
    at: Instant,
    server: Sample,
    database: Option<Duration>,
    generator: Sample,
    machine: Duration,
}

impl Window {
    fn now(server: &Option<Proc>, database: Option<u32>) -> Self {
        Self {
            at: Instant::now(),
            server: sample(server),
            database: database.and_then(crate::procfs::tree_cpu),
            generator: Proc::current().sample().unwrap_or_default(),
            machine: crate::procfs::machine_busy().unwrap_or_default(),
        }
    }
}

/// Runs the load and reports.
pub async fn run(config: LoadConfig) -> anyhow::Result<LoadReport> {
    loopback_only(&config.server_url)?;
    loopback_only(&config.socket_url)?;
    if let Some(url) = &config.vendor_socket_url {
        loopback_only(url)?;
        // Over REST both sides would send through the first node.
        anyhow::ensure!(
            config.via == Via::Socket,
            "--vendor-socket-url measures socket sends only (--via socket)"
        );
    }
    anyhow::ensure!(config.pairs > 0, "--pairs must be at least 1");
    anyhow::ensure!(config.rate > 0.0, "--rate must be positive");
    let setup_started = Instant::now();
    let socket_url = ws_url(&config.socket_url);
    let vendor_socket_url = config.vendor_socket_url.as_deref().map(ws_url);
    let proc = config.server_pid.map(Proc::of);
    if let Some(p) = &proc {
        anyhow::ensure!(
            p.sample().is_some(),
            "cannot read /proc for the server's pid"
        );
    }
    let database = config.database_pid;
    if let Some(pid) = database {
        anyhow::ensure!(
            crate::procfs::tree_cpu(pid).is_some(),
            "cannot read /proc for the database's pid {pid}"
        );
    }
    let rss_start = sample(&proc).rss_kib;
    let rest = Rest::new(&config.server_url);

    // Conversations, opened by each pair's customer.
    let pairs = open_pairs(&config, &rest).await?;

    let warmup_count = (config.warmup.as_secs_f64() * config.rate).round() as usize;
    let measured_count = ((config.duration.as_secs_f64() * config.rate).round() as usize).max(1);
    let count = warmup_count + measured_count;
    let plan = Plan {
        pairs: config.pairs,
    };
    let tracker = Arc::new(Tracker::new(plan, count, warmup_count));

    // Both sockets of every pair, then both join the pair's room.
    let urls = [
        socket_url.as_str(),
        vendor_socket_url.as_deref().unwrap_or(&socket_url),
    ];
    let sockets = connect_pairs(&config, urls, &pairs, &tracker).await?;
    join_rooms(&config, &pairs, &sockets).await?;
    let rss_pairs = sample(&proc).rss_kib;

    // Idle sockets: connected, in no room, doing nothing.
    let idle = connect_idle(&config, &socket_url).await?;
    if config.idle_sockets > 0 {
        tokio::time::sleep(config.settle).await;
    }
    let rss_idle = sample(&proc).rss_kib;
    let setup_secs = setup_started.elapsed().as_secs_f64();

    // The schedule.
    let start = Instant::now() + Duration::from_millis(20);
    let _ = tracker.start.set(start);
    let due = |i: usize| Duration::from_secs_f64(i as f64 / config.rate);
    let measure_from = due(warmup_count);
    let schedule_end = due(count);

    let window_start: Arc<Mutex<Option<Window>>> = Arc::default();
    {
        let window_start = window_start.clone();
        let proc = proc.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until((start + measure_from).into()).await;
            *window_start.lock().expect("never poisoned") = Some(Window::now(&proc, database));
        });
    }

    let sender = spawn_sender(&config, &pairs, &sockets, &tracker, &rest, count, start)?;

    // Wait until every measured message is delivered or failed, or the
    // grace period after the last send ends.
    let deadline = start + schedule_end + config.grace;
    let mut ticker = tokio::time::interval(Duration::from_millis(5));
    loop {
        ticker.tick().await;
        let done = tracker.resolved.load(Ordering::Acquire) >= measured_count;
        if (done && Instant::now() >= start + schedule_end) || Instant::now() >= deadline {
            break;
        }
    }
    let end = Window::now(&proc, database);
    let lags = tokio::task::spawn_blocking(move || sender.join())
        .await
        .context("the sender thread")?
        .map_err(|_| anyhow::anyhow!("the sender thread panicked"))?;

    tracker.closing.store(true, Ordering::Relaxed);
    if let Some(path) = &config.latency_csv {
        write_latencies(path, &tracker, config.rate, measured_count)?;
    }
    let begin = window_start
        .lock()
        .expect("never poisoned")
        .take()
        .unwrap_or_else(|| Window::now(&proc, database));

    let mut report = summarize(&tracker, &config, measured_count, start, lags);
    report.sockets = sockets.len();
    report.cross_node = config.vendor_socket_url.is_some();
    report.idle_sockets = idle.len();
    report.setup_secs = setup_secs;
    let generator_cpu = end.generator.cpu.saturating_sub(begin.generator.cpu);
    let database_cpu = match (begin.database, end.database) {
        (Some(b), Some(e)) => Some(e.saturating_sub(b)),
        _ => None,
    };
    let server_cpu =
        end.server.cpu.saturating_sub(begin.server.cpu) + database_cpu.unwrap_or_default();
    let window = end.at.saturating_duration_since(begin.at);
    report.generator_cpu_ms = generator_cpu.as_secs_f64() * 1e3;
    report.window_secs = window.as_secs_f64();
    report.others_cores = end
        .machine
        .saturating_sub(begin.machine)
        .saturating_sub(generator_cpu)
        .saturating_sub(server_cpu)
        .as_secs_f64()
        / window.as_secs_f64().max(1e-3);
    if proc.is_some() {
        let cpu_ms = server_cpu.as_secs_f64() * 1e3;
        let per_socket = |after: u64, before: u64, n: usize| {
            (n > 0).then(|| (after as f64 - before as f64) / n as f64)
        };
        report.server = Some(ServerUse {
            cpu_ms,
            cpu_ms_per_1000_delivered: (report.delivered > 0)
                .then(|| cpu_ms * 1000.0 / report.delivered as f64),
            database_cpu_ms: database_cpu.map(|d| d.as_secs_f64() * 1e3),
            rss_start_kib: rss_start,
            rss_pairs_kib: rss_pairs,
            rss_idle_kib: rss_idle,
            rss_end_kib: end.server.rss_kib,
            rss_per_pair_socket_kib: per_socket(rss_pairs, rss_start, sockets.len()),
            rss_per_idle_socket_kib: per_socket(rss_idle, rss_pairs, idle.len()),
        });
    }

    for c in sockets.iter().chain(idle.iter()) {
        c.close();
    }
    Ok(report)
}

async fn open_pairs(config: &LoadConfig, rest: &Rest) -> anyhow::Result<Vec<Pair>> {
    let opened = stream::iter(0..config.pairs)
        .map(|p| {
            let rest = rest.clone();
            let minter = config.minter.clone();
            let run = config.run_id.clone();
            async move {
                let customer = format!("{run}-c{p}");
                let vendor = format!("{run}-v{p}");
                let tokens = [
                    minter.mint(&customer, Role::Customer, &customer)?,
                    minter.mint(&vendor, Role::Vendor, &vendor)?,
                ];
                let body = serde_json::json!({ "vendorId": vendor, "vendorName": vendor });
                let answer = rest
                    .call(
                        Method::POST,
                        "/api/chat/conversation",
                        &tokens[0],
                        Some(body.to_string()),
                    )
                    .await?;
                anyhow::ensure!(
                    answer.status.is_success(),
                    "opening a conversation answered {}: {}",
                    answer.status,
                    String::from_utf8_lossy(&answer.body)
                );
                let v: serde_json::Value =
                    serde_json::from_slice(&answer.body).context("the conversation is not JSON")?;
                let conversation = v["id"]
                    .as_str()
                    .context("the conversation has no id")?
                    .to_owned();
                Ok::<_, anyhow::Error>(Pair {
                    conversation,
                    tokens,
                })
            }
        })
        .buffered(config.connect_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    opened.into_iter().collect()
}

fn auth(token: &str) -> String {
    serde_json::json!({ "token": token }).to_string()
}

/// Sockets in order: pair 0 customer, pair 0 vendor, pair 1 customer, ...;
/// customers connect to `urls[0]`, vendors to `urls[1]`.
async fn connect_pairs(
    config: &LoadConfig,
    urls: [&str; 2],
    pairs: &[Pair],
    tracker: &Arc<Tracker>,
) -> anyhow::Result<Vec<Connection>> {
    let connected = stream::iter(pairs.iter().enumerate().flat_map(|(p, pair)| {
        [Role::Customer, Role::Vendor].map(|role| (p, role, pair.tokens[side(role)].clone()))
    }))
    .map(|(p, role, token)| {
        let handler = pair_handler(tracker.clone(), p, role);
        let url = urls[side(role)];
        async move {
            sio::connect(url, &auth(&token), &[], CONNECT_TIMEOUT, handler)
                .await
                .map(|(c, _task)| c)
                .with_context(|| format!("while connecting the {} of pair {p}", role.as_str()))
        }
    })
    .buffered(config.connect_concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    connected.into_iter().collect()
}

async fn join_rooms(
    config: &LoadConfig,
    pairs: &[Pair],
    sockets: &[Connection],
) -> anyhow::Result<()> {
    let joined = stream::iter(sockets.iter().enumerate())
        .map(|(k, socket)| {
            let payload = serde_json::json!({ "conversationId": pairs[k / 2].conversation });
            async move {
                let reply = socket
                    .request("join_chat_room", &payload.to_string(), REQUEST_TIMEOUT)
                    .await
                    .context("while joining a room")?;
                anyhow::ensure!(
                    reply.contains("\"ok\":true"),
                    "join_chat_room refused: {reply}"
                );
                Ok(())
            }
        })
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect::<Vec<anyhow::Result<()>>>()
        .await;
    joined.into_iter().collect()
}

async fn connect_idle(config: &LoadConfig, url: &str) -> anyhow::Result<Vec<Connection>> {
    let connected = stream::iter(0..config.idle_sockets)
        .map(|k| {
            let user = format!("{}-i{k}", config.run_id);
            let minter = config.minter.clone();
            async move {
                let token = minter.mint(&user, Role::Customer, &user)?;
                let headers = if config.browser_headers {
                    sio::BROWSER_HEADERS
                } else {
                    &[]
                };
                sio::connect(url, &auth(&token), headers, CONNECT_TIMEOUT, |_| {})
                    .await
                    .map(|(c, _task)| c)
                    .with_context(|| format!("while connecting idle socket {k}"))
            }
        })
        .buffer_unordered(config.connect_concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    connected.into_iter().collect()
}

/// Starts the sender thread; it returns how late each send left, in ns.
fn spawn_sender(
    config: &LoadConfig,
    pairs: &[Pair],
    sockets: &[Connection],
    tracker: &Arc<Tracker>,
    rest: &Rest,
    count: usize,
    start: Instant,
) -> anyhow::Result<std::thread::JoinHandle<Vec<u64>>> {
    let rate = config.rate;
    let plan = tracker.plan;
    let conversations: Vec<String> = pairs.iter().map(|p| p.conversation.clone()).collect();
    let body = move |i: usize| {
        format!(
            "{{\"conversationId\":\"{}\",\"text\":\"Is it still available? Asking for the {i}th time\",\"clientMessageId\":\"b{i}\"}}",
            conversations[plan.pair(i)]
        )
    };
    // REST: the thread hands indices to a task that runs the requests.
    let rest_tx = (config.via == Via::Rest).then(|| {
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, String)>();
        let tokens: Vec<[String; 2]> = pairs.iter().map(|p| p.tokens.clone()).collect();
        let tracker = tracker.clone();
        let rest = rest.clone();
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        tokio::spawn(async move {
            while let Some((i, body)) = rx.recv().await {
                let role = plan.sender(i);
                let token = tokens[plan.pair(i)][side(role)].clone();
                let (tracker, rest, permits) = (tracker.clone(), rest.clone(), permits.clone());
                tokio::spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else {
                        return;
                    };
                    let path = format!("{}/send", chat_prefix(role));
                    match rest.call(Method::POST, &path, &token, Some(body)).await {
                        Ok(a) if a.status.as_u16() == 201 || a.status.as_u16() == 200 => {
                            tracker.on_ack(i, true, "", Instant::now())
                        }
                        Ok(a) => tracker.on_ack(
                            i,
                            false,
                            &format!("http {}", a.status.as_u16()),
                            Instant::now(),
                        ),
                        Err(_) => tracker.fail(i, "http transport"),
                    }
                });
            }
        });
        tx
    });
    let sockets = sockets.to_vec();
    let tracker = tracker.clone();
    std::thread::Builder::new()
        .name("bench-sender".into())
        .spawn(move || {
            let mut lags = Vec::with_capacity(count);
            for i in 0..count {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                lags.push(Instant::now().saturating_duration_since(due).as_nanos() as u64);
                let body = body(i);
                let sent = match &rest_tx {
                    Some(tx) => tx.send((i, body)).is_ok(),
                    None => {
                        let k = plan.pair(i) * 2 + side(plan.sender(i));
                        sockets[k].emit("send_message", Some(i as u64), &body)
                    }
                };
                if !sent {
                    tracker.fail(i, "socket closed");
                }
            }
            lags
        })
        .context("while starting the sender thread")
}

/// One line per measured message: when it was due (ms after the start), its
/// latency to delivery and to its ack (ms, empty when it never came).
fn write_latencies(
    path: &std::path::Path,
    tracker: &Tracker,
    rate: f64,
    measured: usize,
) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut out = String::from("due_ms,latency_ms,ack_ms\n");
    let first = tracker.first_measured;
    for i in first..first + measured {
        let due = i as f64 * 1e3 / rate;
        let since = |v: u64| {
            if v == 0 {
                String::new()
            } else {
                format!("{:.3}", ((v - 1) as f64 / 1e6 - due).max(0.0))
            }
        };
        let _ = writeln!(
            out,
            "{due:.3},{},{}",
            since(tracker.received[i].load(Ordering::Acquire)),
            since(tracker.acked[i].load(Ordering::Acquire))
        );
    }
    std::fs::write(path, out).with_context(|| format!("while writing {}", path.display()))
}

fn summarize(
    tracker: &Tracker,
    config: &LoadConfig,
    measured: usize,
    start: Instant,
    lags: Vec<u64>,
) -> LoadReport {
    let _ = start;
    let due_ns = |i: usize| (i as f64 * 1e9 / config.rate) as u64;
    let first = tracker.first_measured;
    let mut latencies = Vec::with_capacity(measured);
    let mut ack_latencies = Vec::with_capacity(measured);
    let (mut acknowledged, mut errors, mut lost, mut without_ack) = (0u64, 0u64, 0u64, 0u64);
    let mut last_delivery = 0u64;
    for i in first..first + measured {
        let received = tracker.received[i].load(Ordering::Acquire);
        let acked = tracker.acked[i].load(Ordering::Acquire);
        let failed = tracker.failed[i].load(Ordering::Acquire);
        if acked > 0 {
            acknowledged += 1;
            ack_latencies.push((acked - 1).saturating_sub(due_ns(i)));
        }
        if received > 0 {
            latencies.push((received - 1).saturating_sub(due_ns(i)));
            last_delivery = last_delivery.max(received - 1);
            if acked == 0 {
                without_ack += 1;
            }
        } else if acked > 0 && !failed {
            lost += 1;
        } else {
            errors += 1;
        }
    }
    let mut kinds = tracker.error_kinds.lock().expect("never poisoned").clone();
    let unanswered = errors.saturating_sub(kinds.values().sum());
    if unanswered > 0 {
        *kinds.entry("no answer".into()).or_default() += unanswered;
    }
    let delivered = latencies.len() as u64;
    let window = last_delivery.saturating_sub(due_ns(first)) as f64 / 1e9;
    LoadReport {
        via: match config.via {
            Via::Rest => "rest".into(),
            Via::Socket => "socket".into(),
        },
        pairs: config.pairs,
        offered_rate: config.rate,
        duration_secs: config.duration.as_secs_f64(),
        warmup_secs: config.warmup.as_secs_f64(),
        sent: measured as u64,
        acknowledged,
        delivered,
        errors,
        lost,
        delivered_without_ack: without_ack,
        duplicates: tracker.duplicates.load(Ordering::Relaxed),
        misrouted: tracker.misrouted.load(Ordering::Relaxed),
        notifications: tracker.notifications.load(Ordering::Relaxed),
        sockets_closed: tracker.sockets_closed.load(Ordering::Relaxed),
        error_kinds: kinds,
        delivered_per_sec: if window > 0.0 {
            delivered as f64 / window.max(config.duration.as_secs_f64())
        } else {
            0.0
        },
        latency_ms: Percentiles::of(latencies).into(),
        ack_latency_ms: Percentiles::of(ack_latencies).into(),
        dispatch_lag_ms: Percentiles::of(lags[first.min(lags.len())..].to_vec()).into(),
        ..LoadReport::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_alternate_direction_within_each_pair() {
        let plan = Plan { pairs: 3 };
        let seen: Vec<(usize, Role)> = (0..7).map(|i| (plan.pair(i), plan.sender(i))).collect();
        assert_eq!(
            seen,
            vec![
                (0, Role::Customer),
                (1, Role::Customer),
                (2, Role::Customer),
                (0, Role::Vendor),
                (1, Role::Vendor),
                (2, Role::Vendor),
                (0, Role::Customer),
            ]
        );
    }

    fn tracker() -> Tracker {
        let t = Tracker::new(Plan { pairs: 2 }, 6, 2);
        t.start.set(Instant::now()).unwrap();
        t
    }

    fn message(i: usize) -> String {
        format!(r#"["receive_message",{{"id":"x","clientMessageId":"b{i}","text":"t"}}]"#)
    }

    #[test]
    fn the_other_side_delivers_echoes_and_strangers_do_not() {
        let t = tracker();
        let now = Instant::now();
        // Message 2: pair 0, second round, so vendor to customer.
        t.on_receive(0, Role::Vendor, &message(2), now);
        assert_eq!(
            t.received[2].load(Ordering::Relaxed),
            0,
            "the sender's echo"
        );
        t.on_receive(1, Role::Customer, &message(2), now);
        assert_eq!(t.misrouted.load(Ordering::Relaxed), 1);
        t.on_receive(0, Role::Customer, &message(2), now);
        assert!(t.received[2].load(Ordering::Relaxed) > 0);
        assert_eq!(t.resolved.load(Ordering::Relaxed), 1);
        t.on_receive(0, Role::Customer, &message(2), now);
        assert_eq!(t.duplicates.load(Ordering::Relaxed), 1);
        assert_eq!(t.resolved.load(Ordering::Relaxed), 1);
        // Warmup messages are not counted as resolved; unknown ids ignored.
        t.on_receive(1, Role::Vendor, &message(1), now);
        assert!(t.received[1].load(Ordering::Relaxed) > 0);
        t.on_receive(0, Role::Vendor, &message(99), now);
        t.on_receive(
            0,
            Role::Vendor,
            r#"["receive_message",{"clientMessageId":"zz"}]"#,
            now,
        );
        assert_eq!(t.resolved.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn errors_lost_and_delivered_are_told_apart() {
        let t = tracker();
        let now = Instant::now();
        // 2: acked and delivered; 3: acked, never delivered (lost);
        // 4: refused; 5: nothing at all (no answer).
        t.on_ack(2, true, "", now);
        t.on_receive(0, Role::Customer, &message(2), now);
        t.on_ack(3, true, "", now);
        t.on_ack(4, false, "ack rate_limited", now);
        assert_eq!(t.resolved.load(Ordering::Relaxed), 2);
        let config = LoadConfig {
            server_url: String::new(),
            socket_url: String::new(),
            vendor_socket_url: None,
            pairs: 2,
            rate: 1000.0,
            duration: Duration::from_millis(4),
            warmup: Duration::from_millis(2),
            via: Via::Socket,
            idle_sockets: 0,
            browser_headers: false,
            server_pid: None,
            database_pid: None,
            grace: Duration::ZERO,
            settle: Duration::ZERO,
            minter: Minter::from_secret("x"),
            run_id: "r".into(),
            connect_concurrency: 1,
            max_in_flight: 1,
            latency_csv: None,
        };
        let r = summarize(&t, &config, 4, Instant::now(), vec![0; 6]);
        assert_eq!((r.sent, r.acknowledged, r.delivered), (4, 2, 1));
        assert_eq!((r.lost, r.errors), (1, 2));
        assert_eq!(r.error_kinds.get("ack rate_limited"), Some(&1));
        assert_eq!(r.error_kinds.get("no answer"), Some(&1));
    }

    #[test]
    fn only_loopback_targets() {
        assert!(loopback_only("http://127.0.0.1:8080").is_ok());
        assert!(loopback_only("ws://localhost:9/socket.io").is_ok());
        assert!(loopback_only("http://10.0.0.1:8080").is_err());
        assert!(loopback_only("http://example.com").is_err());
        assert!(loopback_only("nonsense").is_err());
        assert_eq!(ws_url("http://127.0.0.1:1"), "ws://127.0.0.1:1");
    }
}
