//! How long a durable append takes at a steady, low rate: the floor under
//! the latency of anything souk delivers, since an event is relayed only
//! after the log says it is durable.
//!
//! ```text
//! cargo run --release -p souk-store --example commit_latency -- \
//!     [--rate PER_SECOND] [--seconds N] [--dir PATH]
//! ```
//!
//! One event is appended at a time, on a fixed schedule (`--rate`, default
//! 250 per second, for `--seconds`, default 10), each to its own
//! conversation's stream as the chat does, through [`SqliteStore`] with its
//! defaults (group commit, `synchronous=FULL`, so one `fdatasync` per
//! commit). At such a rate almost every append is a group of one. It prints
//! the distribution of the time from calling `append` to its answer, and the
//! same for a bare `fdatasync` of a 4 KiB write to a file in the same
//! folder, taken in the same run, which is what the disk alone costs.

use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use souk_store::{EventStore, ExpectedRevision, NewEvent, SqliteConfig, SqliteStore};

fn usage() -> ! {
    eprintln!("usage: commit_latency [--rate PER_SECOND] [--seconds N] [--dir PATH]");
    std::process::exit(2)
}

/// A fixed schedule of `rate` steps per second, from now on.
struct Pace {
    next: Instant,
    period: Duration,
}

impl Pace {
    fn new(rate: u32) -> Self {
        Self {
            next: Instant::now(),
            period: Duration::from_secs(1) / rate,
        }
    }

    /// Waits for the next step's time.
    async fn next(&mut self) {
        tokio::time::sleep_until(self.next.into()).await;
        self.next += self.period;
    }
}

/// p50, p99, p99.9 and max of `samples`, in milliseconds.
fn summary(label: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e3
    };
    println!(
        "{label}: {} samples, p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        samples.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rate = 250u32;
    let mut seconds = 10u32;
    let mut dir = std::env::temp_dir();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        let positive = || {
            value
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--rate" => rate = positive(),
            "--seconds" => seconds = positive(),
            "--dir" => dir = PathBuf::from(value),
            _ => usage(),
        }
    }
    let work = tempfile::tempdir_in(&dir).expect("a temporary folder");
    let store =
        SqliteStore::open(&work.path().join("events.db"), SqliteConfig::default()).expect("open");

    let total = (rate * seconds) as usize;
    let mut appends = Vec::with_capacity(total);
    let mut pace = Pace::new(rate);
    for n in 0..total {
        pace.next().await;
        let data = serde_json::json!({
            "seq": 1,
            "text": format!("message {n}: is the red bike still available?"),
            "at": "2026-11-30T12:00:00.000Z",
        });
        let event = NewEvent {
            event_type: "MessageSent".to_owned(),
            version: 1,
            data: data.to_string(),
        };
        let started = Instant::now();
        store
            .append(
                &format!("conversation-{n}"),
                ExpectedRevision::NoStream,
                vec![event],
            )
            .await
            .expect("append");
        appends.push(started.elapsed());
    }
    drop(store);

    // The disk alone: a 4 KiB write and its fdatasync, at the same pace.
    let mut file = std::fs::File::create(work.path().join("probe")).expect("probe file");
    file.write_all(&[0u8; 4096 * 64]).expect("probe write");
    file.sync_all().expect("probe sync");
    let page = [7u8; 4096];
    let mut syncs = Vec::with_capacity(total);
    let mut pace = Pace::new(rate);
    for n in 0..total {
        pace.next().await;
        file.write_all_at(&page, (n % 64) as u64 * 4096)
            .expect("probe write");
        let started = Instant::now();
        file.sync_data().expect("fdatasync");
        syncs.push(started.elapsed());
    }

    println!(
        "{rate} appends per second for {seconds} s, in {}",
        dir.display()
    );
    summary("durable append (SqliteStore)", &mut appends);
    summary("fdatasync of one 4 KiB page", &mut syncs);
}
