//! Counters for `/metrics`, in the Prometheus text format.
//!
//! A handful of atomics rendered by hand: the exposition format is a few lines
//! of text, and a metrics framework would add more code than it saves here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Metrics {
    /// This node's name, a label of `souk_node_info`.
    pub node_id: String,
    pub http_requests: AtomicU64,
    pub http_errors_4xx: AtomicU64,
    pub http_errors_5xx: AtomicU64,
    pub commands: AtomicU64,
    pub messages_sent: AtomicU64,
    pub sockets_connected: AtomicU64,
    /// Handshakes refused because the user held too many sockets.
    pub sockets_refused: AtomicU64,
    /// Typing changes acknowledged but not recorded (too many per second).
    pub typing_coalesced: AtomicU64,
    pub socket_events: AtomicU64,
    pub socket_rate_limited: AtomicU64,
    pub relayed_events: AtomicU64,
    /// Writes answered before the projections published them (the
    /// read-your-writes wait timed out): a sign of overload.
    pub late_answers: AtomicU64,
    /// Spaces out the warning about late answers.
    pub late_answers_log: LogThrottle,
    /// The webhooks' figures (rendered only when webhooks run).
    pub webhooks: WebhookStats,
}

/// What the webhook tasks report (see [`crate::webhooks`]).
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// Whether webhooks run on this node.
    pub enabled: std::sync::atomic::AtomicBool,
    /// Deliveries answered with a 2xx.
    pub delivered: AtomicU64,
    /// Tries that failed (non-2xx, refused, timed out).
    pub failed_tries: AtomicU64,
    /// Deliveries that became dead letters.
    pub dead_lettered: AtomicU64,
    /// Unread reminders fired.
    pub reminders: AtomicU64,
    /// Deliveries in the outbox now.
    pub pending: AtomicU64,
    /// Dead letters now.
    pub dead_letters: AtomicU64,
    /// The last log position turned into deliveries.
    pub checkpoint: AtomicU64,
}

/// Lets a repeated warning through at most once per period, with the count
/// of those held back since the last one: under overload a warning per
/// request would flood the log (tens of thousands of lines a minute) and
/// cost the very CPU that is short.
#[derive(Debug)]
pub struct LogThrottle {
    period: Duration,
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    last: Option<Instant>,
    held: u64,
}

impl LogThrottle {
    pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);

    pub fn new(period: Duration) -> Self {
        Self {
            period,
            state: Mutex::new(ThrottleState::default()),
        }
    }

    /// One occurrence at `now`. `Some(held)` when it should be logged, with
    /// how many occurrences were held back since the last one logged.
    pub fn hit(&self, now: Instant) -> Option<u64> {
        let mut st = self.state.lock().expect("log throttle lock poisoned");
        match st.last {
            Some(last) if now.saturating_duration_since(last) < self.period => {
                st.held += 1;
                None
            }
            _ => {
                st.last = Some(now);
                Some(std::mem::take(&mut st.held))
            }
        }
    }
}

impl Default for LogThrottle {
    fn default() -> Self {
        Self::new(Self::DEFAULT_PERIOD)
    }
}

/// Gauges read at scrape time.
pub struct Gauges {
    /// Whether the log answered this scrape and takes appends (0 when
    /// PostgreSQL is away, or while the embedded log's writer cannot write
    /// and retries).
    pub log_available: bool,
    /// Cluster mode: whether presence is in step with PostgreSQL.
    pub presence_available: Option<bool>,
    pub log_position: u64,
    pub projection_position: u64,
    pub live_actors: usize,
    /// What live actors' states hold, as they last reported.
    pub actor_bytes: usize,
    pub online_users: usize,
    /// The read models' consumer: its state, position and failures.
    pub projection_health: Option<souk_projections::Health>,
}

impl Metrics {
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, gauges: &Gauges) -> String {
        let gauges_health = gauges.projection_health.as_ref();
        let log_position = gauges.log_available.then_some(gauges.log_position);
        let mut out = String::with_capacity(2048);
        let counters: [(&str, &str, &AtomicU64); 12] = [
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
                "souk_typing_coalesced_total",
                "typing changes acknowledged but not recorded (more than 2 per second per user)",
                &self.typing_coalesced,
            ),
            (
                "souk_socket_refused_total",
                "Socket.IO handshakes refused: the user holds too many sockets",
                &self.sockets_refused,
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
            (
                "souk_late_answers_total",
                "writes answered before the read models published them (overload)",
                &self.late_answers,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP souk_node_info this node's name (--node-id)\n# TYPE souk_node_info gauge\nsouk_node_info{{node_id=\"{}\"}} 1",
            label_value(&self.node_id)
        );
        let _ = writeln!(
            out,
            "# HELP souk_log_available whether the event log answers and takes appends (0: writes are refused with 503)\n# TYPE souk_log_available gauge\nsouk_log_available {}",
            u8::from(gauges.log_available)
        );
        if let Some(up) = gauges.presence_available {
            let _ = writeln!(
                out,
                "# HELP souk_presence_available whether cluster presence is in step with PostgreSQL\n# TYPE souk_presence_available gauge\nsouk_presence_available {}",
                u8::from(up)
            );
        }
        let gauges: [(&str, &str, u64); 5] = [
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
                "souk_actor_state_bytes",
                "bytes the live actors' states hold (bounded by --actor-memory-mb)",
                gauges.actor_bytes as u64,
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
        if let Some(health) = gauges_health {
            render_projection_health(&mut out, health, log_position);
        }
        if self.webhooks.enabled.load(Ordering::Relaxed) {
            render_webhooks(&mut out, &self.webhooks, log_position);
        }
        out
    }
}

/// The read models' consumer: one `souk_projection_state` series per state
/// (1 for the current one), `souk_projection_lag` (events of the log not in
/// the read models; only when the log answered) and
/// `souk_projection_failures` (failures in a row, 0 once it made progress).
fn render_projection_health(
    out: &mut String,
    health: &souk_projections::Health,
    log_position: Option<u64>,
) {
    let _ = writeln!(
        out,
        "# HELP souk_projection_state the read models' consumer state (1 for the current one)\n# TYPE souk_projection_state gauge"
    );
    for state in souk_projections::State::ALL {
        let _ = writeln!(
            out,
            "souk_projection_state{{state=\"{}\"}} {}",
            state.as_str(),
            u8::from(state == health.state)
        );
    }
    if let Some(end) = log_position {
        let _ = writeln!(
            out,
            "# HELP souk_projection_lag events of the log the read models have not applied\n# TYPE souk_projection_lag gauge\nsouk_projection_lag {}",
            end.saturating_sub(health.position)
        );
    }
    let _ = writeln!(
        out,
        "# HELP souk_projection_failures failures of the read models' consumer in a row\n# TYPE souk_projection_failures gauge\nsouk_projection_failures {}",
        health.failures
    );
}

/// The webhooks: counters of deliveries, failed tries, dead letters and
/// reminders; gauges of the outbox, the dead letters and the consumer's lag
/// behind the log (only when the log answered).
fn render_webhooks(out: &mut String, stats: &WebhookStats, log_position: Option<u64>) {
    let counters: [(&str, &str, &AtomicU64); 4] = [
        (
            "souk_webhook_deliveries_total",
            "webhook deliveries answered with a 2xx",
            &stats.delivered,
        ),
        (
            "souk_webhook_failed_tries_total",
            "webhook tries that failed (status, refused, timed out)",
            &stats.failed_tries,
        ),
        (
            "souk_webhook_dead_lettered_total",
            "webhook deliveries that failed their last try",
            &stats.dead_lettered,
        ),
        (
            "souk_webhook_reminders_total",
            "unread reminders fired",
            &stats.reminders,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            value.load(Ordering::Relaxed)
        );
    }
    let checkpoint = stats.checkpoint.load(Ordering::Relaxed);
    let mut gauges = vec![
        (
            "souk_webhook_pending",
            "webhook deliveries waiting in the outbox",
            stats.pending.load(Ordering::Relaxed),
        ),
        (
            "souk_webhook_dead_letters",
            "webhook deliveries in the dead letters (souk webhooks retry)",
            stats.dead_letters.load(Ordering::Relaxed),
        ),
        (
            "souk_webhook_position",
            "the last log position the webhooks consumed",
            checkpoint,
        ),
    ];
    if let Some(end) = log_position {
        gauges.push((
            "souk_webhook_lag",
            "events of the log the webhooks have not consumed",
            end.saturating_sub(checkpoint),
        ));
    }
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
}

/// A label value with `\\`, `"` and newlines escaped, as the text format
/// wants.
fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_warning_passes_once_per_period_with_the_count_held_back() {
        let throttle = LogThrottle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(throttle.hit(at(0)), Some(0), "the first one is logged");
        for ms in [1, 500, 9_999] {
            assert_eq!(throttle.hit(at(ms)), None, "held back at {ms} ms");
        }
        assert_eq!(
            throttle.hit(at(10_000)),
            Some(3),
            "the next period tells how many were held"
        );
        assert_eq!(throttle.hit(at(10_001)), None);
        assert_eq!(throttle.hit(at(60_000)), Some(1));
        assert_eq!(throttle.hit(at(60_000)), None);
    }

    #[test]
    fn late_answers_are_counted_in_the_exposition() {
        let m = Metrics::default();
        Metrics::inc(&m.late_answers);
        Metrics::inc(&m.late_answers);
        let text = m.render(&Gauges {
            log_available: true,
            presence_available: None,
            log_position: 0,
            projection_position: 0,
            live_actors: 0,
            actor_bytes: 0,
            online_users: 0,
            projection_health: None,
        });
        assert!(
            text.contains("# TYPE souk_late_answers_total counter\nsouk_late_answers_total 2\n"),
            "{text}"
        );
    }

    #[test]
    fn the_node_and_the_log_availability_are_exposed() {
        let m = Metrics {
            node_id: "eu-1".into(),
            ..Metrics::default()
        };
        let text = m.render(&Gauges {
            log_available: false,
            presence_available: Some(false),
            log_position: 7,
            projection_position: 7,
            live_actors: 0,
            actor_bytes: 0,
            online_users: 0,
            projection_health: None,
        });
        assert!(
            text.contains("souk_node_info{node_id=\"eu-1\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("\nsouk_log_available 0\n"), "{text}");
        assert!(text.contains("\nsouk_presence_available 0\n"), "{text}");
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
