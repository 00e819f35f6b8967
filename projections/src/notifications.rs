//! The notifications' receiving end: subscribing, what a receiver that
//! lagged finds again ([`Projections::published_between`]), and the
//! consumer's back-pressure from the slowest receiver. Their figures are
//! computed in `live`; the consumer publishes them.
use std::sync::Arc;
use std::time::Duration;

use souk_store::Position;
use tokio::sync::broadcast;

use crate::views::Notification;
use crate::Projections;

/// How many notifications a slow receiver may fall behind by before it gets
/// `RecvError::Lagged` (and should resynchronise from the queries).
pub const NOTIFICATION_CAPACITY: usize = 4096;
/// Notifications kept after they were published, for a receiver that
/// lagged (see [`Projections::published_between`]).
pub const RECENT_NOTIFICATIONS: usize = 4 * NOTIFICATION_CAPACITY;
/// And at most about this many bytes of them: 16,384 messages of the longest
/// text allowed would hold about 130 MiB.
pub const RECENT_BYTES: usize = 16 << 20;
/// Notifications the slowest receiver may have unread before the consumer
/// waits for it (see `Projections::pace`).
const PACE_ABOVE: usize = NOTIFICATION_CAPACITY / 2;
/// How long the consumer waits for a slow receiver per batch.
const PACE_PATIENCE: Duration = Duration::from_secs(2);
/// How often it looks while waiting.
const PACE_POLL: Duration = Duration::from_millis(1);

impl Projections {
    /// Notifications of every event, from now on, in log order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Notification>> {
        self.inner.notifications.subscribe()
    }

    /// The notifications published for the events after `after` and before
    /// `before`, exactly as they were published, in log order; `None` when
    /// some of them are no longer kept (only the last
    /// [`RECENT_NOTIFICATIONS`] are, within [`RECENT_BYTES`]). For a
    /// receiver of [`Self::subscribe`] that lagged: far cheaper than
    /// rebuilding the missed notifications from the log and the queries,
    /// and with the figures as they were.
    pub(crate) fn published_between(
        &self,
        after: Position,
        before: Position,
    ) -> Option<Vec<Arc<Notification>>> {
        self.inner
            .recent
            .lock()
            .expect("recent notifications lock poisoned")
            .between(after, before)
    }

    /// Back-pressure from the receivers of notifications (the relay): when
    /// the slowest one has more than [`PACE_ABOVE`] to read, wait (up to
    /// [`PACE_PATIENCE`]) until it is below again. Without it, a burst
    /// beyond what the relay can emit overflows the channel, and the relay
    /// must then recover the missed events from the log, which is far
    /// slower than keeping up. A receiver that reads nothing for that long
    /// is left behind (it gets `Lagged`).
    pub(crate) async fn pace(&self) {
        let notifications = &self.inner.notifications;
        if notifications.len() <= PACE_ABOVE {
            return;
        }
        let deadline = tokio::time::Instant::now() + PACE_PATIENCE;
        while notifications.len() > PACE_ABOVE && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(PACE_POLL).await;
        }
    }
}
