//! What one link of the hash chain costs on this machine's CPU: the time of
//! [`souk_store::chain::link_at`] (the time formatted once, as the writers
//! do for a group) and of [`souk_store::chain::link`] (formatting it each
//! time) for an event shaped like the append benchmark's (a ~300-byte
//! `MessageSent` payload, a 49-byte stream name): the hashing the writer
//! adds to every append (see BENCHMARKS.md, "Cost of the hash chain").
//!
//! ```text
//! cargo run --release -p souk-store --example chain_cost [-- --events N]
//! ```

use std::hint::black_box;
use std::time::Instant;

use souk_domain::Timestamp;
use souk_store::chain::{link, link_at, EventHash, TimeText};

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
    let time = TimeText::new(&at);
    for round in 1..=3 {
        for formatting in [false, true] {
            let mut prev = EventHash::GENESIS;
            let started = Instant::now();
            for revision in 0..events {
                let (prev_in, data) = (black_box(&prev), black_box(data));
                prev = if formatting {
                    link(prev_in, stream, revision, "MessageSent", 1, data, &at)
                } else {
                    link_at(prev_in, stream, revision, "MessageSent", 1, data, &time)
                };
            }
            let elapsed = started.elapsed();
            println!(
                "round {round}, {}: {events} links in {elapsed:.2?}: {:.3} µs per link \
                 ({} payload bytes), last {prev}",
                if formatting {
                    "link (formats the time)"
                } else {
                    "link_at"
                },
                elapsed.as_secs_f64() * 1e6 / events as f64,
                data.len()
            );
        }
    }
}
