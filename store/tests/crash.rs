//! Acknowledged appends survive `kill -9`, and nothing half-written is ever
//! read back.
//!
//! This test binary has two roles (it runs without the libtest harness, see
//! `Cargo.toml`). As the parent it re-executes itself with
//! `SOUK_STORE_CRASH_CHILD=<dir>`: the child appends to a [`SqliteStore`] in
//! `<dir>` from many concurrent tasks, as fast as it can, single and
//! multi-event appends with exact expected revisions, and prints one line per
//! acknowledged append. The parent kills it with SIGKILL after a random
//! number of acknowledgements, reads the lines the child got out before
//! dying, reopens the store and checks it against them. Several rounds, each
//! with its own random kill point; `SOUK_STORE_CRASH_SEED=<n>` replays a run.
//!
//! SIGKILL leaves the operating system's page cache intact, so this checks
//! the protocol (acknowledge only after commit, all-or-nothing groups,
//! recovery of the WAL on reopen), not the disk's honesty about fsync.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use souk_store::{
    AppendResult, EventStore, ExpectedRevision, NewEvent, RecordedEvent, SqliteConfig, SqliteStore,
};

const CHILD_ENV: &str = "SOUK_STORE_CRASH_CHILD";
const SEED_ENV: &str = "SOUK_STORE_CRASH_SEED";
const ROUNDS: usize = 4;
/// Concurrent appenders in the child.
const TASKS: usize = 48;

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(dir) => child(Path::new(&dir)),
        Err(_) => parent(),
    }
}

/// What one event's payload says about its append.
#[derive(Debug, PartialEq, Eq, Clone, Copy, serde::Deserialize)]
struct Tag {
    /// Appending task.
    t: usize,
    /// The task's append number.
    i: usize,
    /// Index in the append's batch.
    k: usize,
    /// Size of the batch.
    n: usize,
}

fn child(dir: &Path) {
    // Never outlive a parent that failed before killing us.
    std::thread::spawn(|| {
        std::thread::sleep(Duration::from_secs(60));
        std::process::exit(3);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&dir.join("events.db"), SqliteConfig::default())
            .expect("open the store");
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(append_forever(store, t)));
        }
        for task in tasks {
            task.await.expect("appender");
        }
    });
}

/// Appends batches of 1 to 4 events, round robin over three streams of its
/// own (exact revisions) and one stream shared by every task (`Any`).
async fn append_forever(store: SqliteStore, t: usize) {
    let own: Vec<String> = (0..3).map(|s| format!("task-{t}-{s}")).collect();
    let shared = format!("shared-{}", t % 4);
    let mut heads: Vec<Option<u64>> = vec![None; own.len()];
    for i in 0.. {
        let n = 1 + (t + i) % 4;
        let events: Vec<NewEvent> = (0..n)
            .map(|k| NewEvent {
                event_type: "CrashTested".to_owned(),
                version: 1,
                data: serde_json::json!({ "t": t, "i": i, "k": k, "n": n }).to_string(),
            })
            .collect();
        let (stream, result): (&str, AppendResult) = if i % 5 == 4 {
            let written = store
                .append(&shared, ExpectedRevision::Any, events)
                .await
                .expect("append to the shared stream");
            (&shared, written)
        } else {
            let s = i % own.len();
            let expected = heads[s].map_or(ExpectedRevision::NoStream, ExpectedRevision::Exact);
            let written = store
                .append(&own[s], expected, events)
                .await
                .expect("append to an own stream");
            heads[s] = Some(written.next_expected_revision);
            (&own[s], written)
        };
        let first_revision = result.next_expected_revision + 1 - n as u64;
        let line = format!(
            "ACK {stream} {first_revision} {} {} {} {t} {i} {n}\n",
            result.next_expected_revision, result.first_position, result.position
        );
        let mut out = std::io::stdout().lock();
        out.write_all(line.as_bytes()).expect("stdout");
        out.flush().expect("stdout");
    }
}

/// One acknowledged append, as the child reported it.
#[derive(Debug)]
struct Ack {
    stream: String,
    first_revision: u64,
    last_revision: u64,
    first_position: u64,
    last_position: u64,
    t: usize,
    i: usize,
    n: usize,
}

fn parse_ack(line: &str) -> Ack {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 9, "malformed line from the child: {line:?}");
    assert_eq!(f[0], "ACK", "malformed line from the child: {line:?}");
    let num = |i: usize| f[i].parse::<u64>().expect("number");
    Ack {
        stream: f[1].to_owned(),
        first_revision: num(2),
        last_revision: num(3),
        first_position: num(4),
        last_position: num(5),
        t: num(6) as usize,
        i: num(7) as usize,
        n: num(8) as usize,
    }
}

fn parent() {
    let started = Instant::now();
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash test: seed {seed} (replay with {SEED_ENV}={seed})");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let exe = std::env::current_exe().expect("own executable");
    for round in 0..ROUNDS {
        let kill_after = rng.random_range(300..3000);
        let dir = tempfile::tempdir().expect("temp dir");
        let acks = run_child_and_kill(&exe, dir.path(), kill_after);
        assert!(
            acks.len() >= kill_after,
            "fewer acknowledgements than awaited"
        );
        let found = verify(dir.path(), &acks);
        println!(
            "round {round}: killed after {kill_after} acknowledgements ({} read in all), \
             {found} events in the reopened log, all checks passed",
            acks.len()
        );
    }
    println!("crash test passed in {:.1?}", started.elapsed());
}

fn run_child_and_kill(exe: &Path, dir: &Path, kill_after: usize) -> Vec<Ack> {
    let mut child = Command::new(exe)
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acks = Vec::new();
    while acks.len() < kill_after {
        match lines.next() {
            Some(line) => acks.push(parse_ack(&line.expect("read a line"))),
            None => {
                let status = child.wait();
                panic!(
                    "the child stopped by itself after {} acks: {status:?}",
                    acks.len()
                );
            }
        }
    }
    // `kill` is SIGKILL on Unix.
    child.kill().expect("kill the child");
    // Lines already in the pipe are acknowledged appends too. A line cut by
    // the kill would be the last one; the child writes each in one call, and
    // a pipe write under PIPE_BUF bytes is atomic, so there is none.
    for line in lines {
        acks.push(parse_ack(&line.expect("read a line")));
    }
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed: {status:?}");
    acks
}

/// Checks the reopened log against the acknowledgements; returns how many
/// events it holds.
fn verify(dir: &Path, acks: &[Ack]) -> usize {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = SqliteStore::open(&dir.join("events.db"), SqliteConfig::default())
            .expect("reopen after the crash");
        let mut log: Vec<RecordedEvent> = Vec::new();
        loop {
            let page = store
                .read_all(log.len() as u64 + 1, 10_000)
                .await
                .expect("read all");
            if page.is_empty() {
                break;
            }
            log.extend(page);
        }

        // Positions 1, 2, 3, ... without holes.
        for (i, event) in log.iter().enumerate() {
            assert_eq!(event.position, i as u64 + 1, "a hole in the positions");
        }
        // Revisions 0, 1, 2, ... in each stream.
        let mut next_revision: HashMap<&str, u64> = HashMap::new();
        for event in &log {
            let next = next_revision.entry(&event.stream).or_insert(0);
            assert_eq!(event.revision, *next, "a gap in {}", event.stream);
            *next += 1;
        }
        // Every append whole or absent: each event is its batch's k-th, the
        // batch's n events follow each other in one stream.
        let tags: Vec<Tag> = log
            .iter()
            .map(|e| serde_json::from_str(&e.data).expect("payload"))
            .collect();
        let mut at = 0;
        while at < log.len() {
            let first = tags[at];
            assert_eq!(first.k, 0, "a batch starting in the middle at {}", at + 1);
            assert!(
                at + first.n <= log.len(),
                "a batch cut short at the end of the log"
            );
            for k in 0..first.n {
                let tag = tags[at + k];
                assert_eq!(
                    (tag.t, tag.i, tag.k, tag.n),
                    (first.t, first.i, k, first.n),
                    "a batch not whole at position {}",
                    at + k + 1
                );
                assert_eq!(log[at + k].stream, log[at].stream);
            }
            at += first.n;
        }
        // Every acknowledged append is there, where it was acknowledged.
        for ack in acks {
            let first = ack.first_position as usize - 1;
            let last = ack.last_position as usize - 1;
            assert!(last < log.len(), "acknowledged append lost: {ack:?}");
            assert_eq!(last - first + 1, ack.n, "{ack:?}");
            for (k, at) in (first..=last).enumerate() {
                let event = &log[at];
                assert_eq!(event.stream, ack.stream, "{ack:?}");
                assert_eq!(event.revision, ack.first_revision + k as u64, "{ack:?}");
                assert_eq!(
                    tags[at],
                    Tag {
                        t: ack.t,
                        i: ack.i,
                        k,
                        n: ack.n
                    },
                    "{ack:?}"
                );
            }
            assert_eq!(log[last].revision, ack.last_revision, "{ack:?}");
        }
        // And the log takes appends again, after the last position.
        let written = store
            .append(
                "after-crash",
                ExpectedRevision::NoStream,
                vec![NewEvent {
                    event_type: "CrashTested".to_owned(),
                    version: 1,
                    data: "{}".to_owned(),
                }],
            )
            .await
            .expect("append after reopening");
        assert_eq!(written.position, log.len() as u64 + 1);
        store.close().await;
        log.len()
    })
}
