//! Counters for `/metrics`, in the Prometheus text format.
//!
//! A handful of atomics rendered by hand: the exposition format is a few lines
//! of text, and a metrics framework would add more code than it saves here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_errors_4xx: AtomicU64,
    pub http_errors_5xx: AtomicU64,
    pub commands: AtomicU64,
    pub messages_sent: AtomicU64,
    pub sockets_connected: AtomicU64,
    pub socket_events: AtomicU64,
    pub socket_rate_limited: AtomicU64,
    pub relayed_events: AtomicU64,
}

/// Gauges read at scrape time.
pub struct Gauges {
    pub log_position: u64,
    pub projection_position: u64,
    pub live_actors: usize,
    pub online_users: usize,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, &AtomicU64); 9] = [
            (
                "souk_http_requests_total",
                "HTTP requests answered",
                &self.http_requests,
            ),
            (
                "souk_http_client_errors_total",
                "HTTP answers with a 4xx status",
                &self.http_errors_4xx,
            ),
            (
                "souk_http_server_errors_total",
                "HTTP answers with a 5xx status",
                &self.http_errors_5xx,
            ),
            (
                "souk_commands_total",
                "commands handled by conversation actors",
                &self.commands,
            ),
            (
                "souk_messages_sent_total",
                "new messages recorded",
                &self.messages_sent,
            ),
            (
                "souk_socket_connections_total",
                "Socket.IO connections accepted",
                &self.sockets_connected,
            ),
            (
                "souk_socket_events_total",
                "Socket.IO client events handled",
                &self.socket_events,
            ),
            (
                "souk_socket_rate_limited_total",
                "Socket.IO events refused by the rate limit",
                &self.socket_rate_limited,
            ),
            (
                "souk_relayed_events_total",
                "log events relayed to sockets",
                &self.relayed_events,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges: [(&str, &str, u64); 4] = [
            (
                "souk_log_position",
                "global position of the last durable event",
                gauges.log_position,
            ),
            (
                "souk_projection_position",
                "global position the read models have applied",
                gauges.projection_position,
            ),
            (
                "souk_live_actors",
                "conversation actors in memory",
                gauges.live_actors as u64,
            ),
            (
                "souk_online_users",
                "users with at least one socket",
                gauges.online_users as u64,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
