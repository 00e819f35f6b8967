//! [`Config`]: how the consumer paces its retries, when it rebuilds in
//! bulk, and how many notifications it buffers.
use std::time::Duration;

use souk_store::Position;

/// Waits before resubscribing after a failed subscription, and before
/// running the consumer again after it failed (doubling up to the most).
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// From how many events behind an empty file (missing, damaged, of another
/// schema, new) is built in bulk instead of through the live path.
const BULK_ABOVE: Position = 10_000;

/// How the consumer paces its retries and when it rebuilds in bulk; the
/// defaults suit a server, tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The first pause after a failure; doubled after each failure in a row.
    pub retry_first: Duration,
    /// The longest pause.
    pub retry_max: Duration,
    /// Read models that are empty and this many events or more behind the
    /// log are built in bulk into a new file (no notification is published
    /// for those events: they are history, nobody waits on them), fewer
    /// through the live path (notified).
    pub bulk_above: Position,
    /// Notifications a receiver may fall behind by before it lags
    /// ([`NOTIFICATION_CAPACITY`](crate::NOTIFICATION_CAPACITY)).
    pub notification_capacity: usize,
    /// Notifications kept after they were published, for a receiver that
    /// lagged ([`RECENT_NOTIFICATIONS`](crate::RECENT_NOTIFICATIONS)).
    pub recent_notifications: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            retry_first: RETRY_FIRST,
            retry_max: RETRY_MAX,
            bulk_above: BULK_ABOVE,
            notification_capacity: crate::NOTIFICATION_CAPACITY,
            recent_notifications: crate::RECENT_NOTIFICATIONS,
        }
    }
}
