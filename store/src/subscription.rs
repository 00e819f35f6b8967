//! The catch-up-then-live stream behind
//! [`EventStore::subscribe_all`](crate::EventStore::subscribe_all), shared by the backends that publish
//! their committed events on a tokio `broadcast` channel.
//!
//! The recipe that makes it gap-free and repeat-free:
//! 1. subscribe to the live channel *before* reading anything, so that every
//!    event committed after the first read is also on the channel;
//! 2. read the log in pages from `last + 1` until a page comes back short;
//! 3. then take batches from the channel, dropping what was already yielded
//!    (`position <= last`); if the channel reports `Lagged` (this subscriber
//!    fell behind and lost batches), or a batch does not start right after
//!    `last`, go back to step 2 instead of guessing.
//!
//! The stream is pulled, not pushed: nothing runs while the consumer is not
//! polling (that is the backpressure; the channel buffer is bounded and
//! falling behind only means reading from the log again), and dropping the
//! stream drops everything it holds. No task is spawned, so it works the same
//! on a multi-thread runtime and on actix's current-thread arbiters.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::broadcast;

use crate::{Position, RecordedEvent, StoreError, Subscription};

/// One committed group of events, positions ascending and contiguous.
pub(crate) type Batch = Arc<[RecordedEvent]>;

/// Events per catch-up read.
pub(crate) const PAGE: usize = 512;

/// Reads the log by position for a subscription.
pub(crate) trait PageSource: Send + Sync + 'static {
    /// Up to `limit` events with position `>= from`, in position order.
    fn read_page(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<RecordedEvent>, StoreError>>;
}

enum Mode {
    /// Reading the log in pages.
    CatchUp,
    /// Taking batches from the channel.
    Live,
    /// Finished (error or closed store, already reported).
    Done,
}

struct State<P> {
    source: P,
    live: broadcast::Receiver<Batch>,
    /// Position of the last event yielded (or `after`).
    last: Position,
    /// Events read or received but not yet yielded, positions ascending.
    buffer: VecDeque<RecordedEvent>,
    mode: Mode,
    /// The live channel closed (the store shut down): finish the catch-up,
    /// then report [`StoreError::Closed`] and end.
    closed: bool,
}

/// Every event with position `> after`: the log first, then `live`.
/// `live` must have been subscribed before this call reads anything (it is
/// taken by value, so the caller subscribes first).
pub(crate) fn catch_up_then_live<P: PageSource>(
    source: P,
    live: broadcast::Receiver<Batch>,
    after: Position,
) -> Subscription {
    let state = State {
        source,
        live,
        last: after,
        buffer: VecDeque::new(),
        mode: Mode::CatchUp,
        closed: false,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let item = state.next().await?;
        Some((item, state))
    }))
}

impl<P: PageSource> State<P> {
    async fn next(&mut self) -> Option<Result<RecordedEvent, StoreError>> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.last = event.position;
                return Some(Ok(event));
            }
            match self.mode {
                Mode::Done => return None,
                Mode::CatchUp => {
                    let page = match self.source.read_page(self.last + 1, PAGE).await {
                        Ok(page) => page,
                        Err(e) => {
                            self.mode = Mode::Done;
                            return Some(Err(e));
                        }
                    };
                    let short = page.len() < PAGE;
                    let empty = page.is_empty();
                    self.buffer.extend(page);
                    if short && self.closed {
                        // Nothing will be committed any more: drain the log,
                        // then say why the stream ends.
                        if empty {
                            self.mode = Mode::Done;
                            return Some(Err(StoreError::Closed));
                        }
                    } else if short {
                        // Caught up with what was committed when the page was
                        // read; anything later is on the channel.
                        self.mode = Mode::Live;
                    }
                }
                Mode::Live => match self.live.recv().await {
                    Ok(batch) => {
                        let fresh = batch.iter().skip_while(|e| e.position <= self.last);
                        for (expected, event) in (self.last + 1..).zip(fresh) {
                            if event.position != expected {
                                // Something between `last` and this batch was
                                // not seen here: read it from the log.
                                self.buffer.clear();
                                self.mode = Mode::CatchUp;
                                break;
                            }
                            self.buffer.push_back(event.clone());
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.mode = Mode::CatchUp;
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.closed = true;
                        self.mode = Mode::CatchUp;
                    }
                },
            }
        }
    }
}
