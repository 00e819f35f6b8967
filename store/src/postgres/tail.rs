//! The node's tail of the shared log: one task that follows the log's end
//! and publishes every committed event, in position order and without
//! gaps, on the `broadcast` channel behind the node's live subscriptions.
//!
//! It is woken by:
//! - the node's own writer, with each committed group (published as is
//!   when it starts right after what was published last: no read);
//! - `LISTEN souk_event_log`, on a connection of its own
//!   ([`listen_forever`]): every group committed by any node notifies its
//!   last position, delivered by PostgreSQL at commit;
//! - a periodic poll ([`PostgresConfig::poll_interval`](super::PostgresConfig)),
//!   the safety net for a notification lost with a connection.
//!
//! Whatever woke it, it reads the log from the position after the last one
//! it published, page by page, and publishes what it read; since positions
//! are gap-free and committed in order, "everything after `n`" is always a
//! contiguous run. So a lost `LISTEN` connection or a failed read only
//! delays events, never loses or repeats one: after reconnecting it reads
//! from its own position again. While nobody subscribes it only follows
//! the head's position, without reading events.
//!
//! Subscriptions ([`catch_up_then_live`](crate::subscription)) keep their
//! own position on top of this and read the log themselves whenever a
//! batch does not follow what they yielded, so even a tail that skipped
//! ahead could not make them miss an event.
//!
//! Errors are logged and retried (the poll, a backoff for reconnecting);
//! a panic in one step is logged and the tail goes on.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{broadcast, mpsc};
use tokio::time::MissedTickBehavior;
use tokio_postgres::{AsyncMessage, Config};

use super::connect::connect_one;
use super::{Reader, RuntimeGuard};
use crate::subscription::{Batch, PAGE};
use crate::Position;

/// The notification channel.
pub(crate) const CHANNEL: &str = "souk_event_log";

/// A group the node's writer committed.
pub(crate) struct Committed {
    /// Position of its last event.
    pub(crate) last: Position,
    /// Its events, when someone subscribed at the time of the commit.
    pub(crate) events: Option<Batch>,
}

/// Why the `LISTEN` side woke the tail.
pub(crate) enum Wake {
    /// A group ending at this position committed somewhere.
    Notified(Position),
    /// (Re)connected: anything may have committed while not listening.
    Listening,
}

pub(crate) struct Tail {
    pub(crate) live: broadcast::Sender<Batch>,
    /// Position of the last event published (or known to be passed while
    /// nobody subscribed).
    pub(crate) position: Position,
    pub(crate) reader: Reader,
    pub(crate) commits: mpsc::Receiver<Committed>,
    pub(crate) wakes: mpsc::Receiver<Wake>,
    pub(crate) poll_interval: Duration,
    /// The last catch-up failed (so the next failure is not logged again).
    pub(crate) failing: bool,
    /// Keeps the store's runtime up until the tail has published the
    /// writer's last groups.
    pub(crate) _runtime: Arc<RuntimeGuard>,
}

enum Step {
    Committed(Committed),
    CatchUp,
    /// The writer stopped: publish what is left, then end (which ends the
    /// live subscriptions once they have read the rest from the log).
    Stop,
}

impl Tail {
    pub(crate) async fn run(mut self) {
        let mut poll = tokio::time::interval(self.poll_interval);
        poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut listening = true;
        loop {
            let step = tokio::select! {
                committed = self.commits.recv() => match committed {
                    Some(committed) => Step::Committed(committed),
                    None => Step::Stop,
                },
                wake = self.wakes.recv(), if listening => match wake {
                    Some(Wake::Notified(last)) if last <= self.position => continue,
                    Some(_) => Step::CatchUp,
                    None => {
                        // Cannot happen while the tail lives; the poll goes on.
                        listening = false;
                        continue;
                    }
                },
                _ = poll.tick() => Step::CatchUp,
            };
            let stop = matches!(step, Step::Stop);
            let done = AssertUnwindSafe(self.step(step)).catch_unwind().await;
            if done.is_err() {
                tracing::error!("the event log tail failed unexpectedly; it goes on");
            }
            if stop {
                return;
            }
        }
    }

    async fn step(&mut self, step: Step) {
        match step {
            Step::Committed(Committed { last, events }) => {
                if last <= self.position {
                    return;
                }
                if self.live.receiver_count() == 0 {
                    self.position = last;
                    return;
                }
                match events {
                    Some(batch) if batch.first().map(|e| e.position) == Some(self.position + 1) => {
                        self.position = last;
                        let _ = self.live.send(batch);
                    }
                    _ => self.catch_up().await,
                }
            }
            Step::CatchUp | Step::Stop => self.catch_up().await,
        }
    }

    /// Publishes everything committed after `position`.
    async fn catch_up(&mut self) {
        loop {
            let result = if self.live.receiver_count() == 0 {
                self.reader.head().await.map(|head| {
                    self.position = self.position.max(head);
                    None
                })
            } else {
                self.reader
                    .read_all(self.position + 1, PAGE)
                    .await
                    .map(Some)
            };
            let page = match result {
                Ok(page) => {
                    if self.failing {
                        tracing::info!("the event log tail reads again");
                        self.failing = false;
                    }
                    page
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!("the event log tail cannot read ({e}); retrying");
                        self.failing = true;
                    }
                    return;
                }
            };
            let Some(page) = page else { return };
            let Some(last) = page.last().map(|e| e.position) else {
                return;
            };
            let full = page.len() == PAGE;
            self.position = last;
            let _ = self.live.send(page.into());
            if !full {
                return;
            }
        }
    }
}

/// Keeps a connection that listens on [`CHANNEL`] and tells the tail of
/// each notification; reconnects (with backoff) whenever it is lost, and
/// then says [`Wake::Listening`] so that the tail reads what it missed.
/// Ends when the tail does.
pub(crate) async fn listen_forever(
    config: Config,
    connect_timeout: Duration,
    wakes: mpsc::Sender<Wake>,
) {
    let mut backoff = Backoff::default();
    loop {
        let listened =
            AssertUnwindSafe(listen_once(&config, connect_timeout, &wakes, &mut backoff))
                .catch_unwind()
                .await;
        match listened {
            Ok(Ok(())) => tracing::warn!("the event log LISTEN connection was lost; reconnecting"),
            Ok(Err(e)) => tracing::warn!("the event log cannot LISTEN ({e}); retrying"),
            Err(_) => tracing::error!("the event log listener failed unexpectedly; it goes on"),
        }
        if wakes.is_closed() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next()) => {}
            _ = wakes.closed() => return,
        }
    }
}

/// One connection's life: `Ok` when it ended (or the tail did).
async fn listen_once(
    config: &Config,
    connect_timeout: Duration,
    wakes: &mpsc::Sender<Wake>,
    backoff: &mut Backoff,
) -> Result<(), crate::StoreError> {
    let (notified, mut notifications) = mpsc::unbounded_channel();
    let (client, _driver) = connect_one(config, connect_timeout, move |message| {
        if let AsyncMessage::Notification(n) = message {
            // A payload that does not parse still means "something committed".
            let _ = notified.send(n.payload().parse::<Position>().unwrap_or(Position::MAX));
        }
    })
    .await?;
    let listen = format!("LISTEN {CHANNEL}");
    tokio::time::timeout(connect_timeout, client.batch_execute(&listen))
        .await
        .map_err(|_| crate::StoreError::Unavailable("LISTEN: no answer".to_owned()))?
        .map_err(|e| super::connect::unavailable("LISTEN", &e))?;
    backoff.reset();
    // A full queue already holds a wake-up, which reads everything too.
    let _ = wakes.try_send(Wake::Listening);
    loop {
        tokio::select! {
            position = notifications.recv() => match position {
                Some(position) => {
                    let _ = wakes.try_send(Wake::Notified(position));
                }
                // The connection's driver ended: the connection is gone.
                None => return Ok(()),
            },
            _ = wakes.closed() => return Ok(()),
        }
    }
}

/// Exponential backoff from 50 ms to 5 s.
struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { next: Self::FIRST }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(50);
    const MAX: Duration = Duration::from_secs(5);

    fn next(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        now
    }

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}
