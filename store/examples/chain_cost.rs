//! What one link of the hash chain costs on this machine's CPU, for an
//! event shaped like the append benchmark's (a ~300-byte `MessageSent`
//! payload, a 49-byte stream name), by where it is paid (see
//! BENCHMARKS.md, "Cost of the hash chain"):
//! - `prepare`: [`souk_store::chain::PreparedLink::new`], the event's own
//!   part of a format-2 link, on the appender's thread;
//! - `finish`: [`souk_store::chain::PreparedLink::finish`], what the writer
//!   pays per event in format 2 (one SHA-256 block);
//! - `link_v1`: [`souk_store::chain::link_v1`], what the writer paid per
//!   event in format 1 (the whole hash, the time formatted each time).
//!
//! ```text
//! cargo run --release -p souk-store --example chain_cost [-- --events N]
//! ```

use std::hint::black_box;
use std::time::Instant;

use souk_domain::Timestamp;
use souk_store::chain::{link_v1, EventHash, PreparedLink};

fn main() {
    let mut events: u64 = 1_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--events", Some(n)) if n > 0 => events = n,
            _ => {
                eprintln!("usage: chain_cost [--events N]");
                std::process::exit(2);
            }
        }
    }
    let stream = "conversation-0190f5b4-6a7e-7cc0-9d3a-3c6f8e2a1b00";
    let data = concat!(
        r#"{"messageId":"0190f5a2-7c1e-7d3a-9b2c-000000000001","seq":1,"#,
        r#""sender":{"userId":"customer-1","role":"customer"},"senderName":"Customer 1","#,
        r#""kind":"text","text":"Hello, is the blue one still available? Message 1 of conversation 1.","#,
        r#""product":null,"clientMessageId":"c-1-1","at":"2025-01-01T12:00:00.000Z"}"#
    );
    let at = Timestamp::now();
    let per_link = |elapsed: std::time::Duration| elapsed.as_secs_f64() * 1e6 / events as f64;
    for round in 1..=3 {
        let started = Instant::now();
        let mut prepared = None;
        for _ in 0..events {
            prepared = Some(PreparedLink::new(
                black_box(stream),
                "MessageSent",
                1,
                black_box(data),
            ));
            black_box(&prepared);
        }
        let prepare = per_link(started.elapsed());
        let prepared = prepared.expect("at least one event");

        let mut prev = EventHash::GENESIS;
        let started = Instant::now();
        for revision in 0..events {
            prev = black_box(&prepared).finish(revision, &at, black_box(&prev));
        }
        let finish = per_link(started.elapsed());

        let mut prev_v1 = EventHash::GENESIS;
        let started = Instant::now();
        for revision in 0..events {
            let (prev_in, data) = (black_box(&prev_v1), black_box(data));
            prev_v1 = link_v1(prev_in, stream, revision, "MessageSent", 1, data, &at);
        }
        let v1 = per_link(started.elapsed());
        println!(
            "round {round}: {events} links of {} payload bytes, µs per link: \
             prepare {prepare:.3} (appender), finish {finish:.3} (writer), \
             link_v1 {v1:.3} (writer, format 1); last {prev} {prev_v1}",
            data.len()
        );
    }
}
