//! The consumer: one run over the log (see `supervise` for what runs it
//! again), taking whatever the subscription has ready as a batch, computing
//! its figures in memory (`live`), publishing its position and
//! notifications at once, and handing it to the write-behind, with
//! back-pressure when the read models fall behind.
use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use souk_store::{EventStore, Position, RecordedEvent, StoreError};
use tokio::sync::{mpsc, watch};

use crate::apply::{self, Decoded};
use crate::error::ProjectionError;
use crate::live::{self, LiveFigures};
use crate::rebuild::ReadModelWriter;
use crate::views::Notification;
use crate::write_behind::{write_behind, Behind};
use crate::Projections;

/// The most events applied in one transaction.
pub const BATCH_CAP: usize = 512;
/// The most events handed to the write-behind and not yet committed before
/// the consumer waits for the read models (back-pressure).
pub const MAX_BEHIND: Position = 4 * BATCH_CAP as Position;

/// Resolves once `shutdown` is set (never if its sender is gone).
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            futures::future::pending::<()>().await;
        }
    }
}

impl Projections {
    /// One run of the consumer over `writer` (see [`Projections::start`]):
    /// ends with `Ok` on shutdown or when the subscription ends, with `Err`
    /// when the read models or the log fail for good in this run, or when
    /// a query found the file damaged.
    pub(crate) async fn consume(
        &self,
        store: Arc<dyn EventStore>,
        writer: ReadModelWriter,
    ) -> Result<(), ProjectionError> {
        let mut handed = writer.position();
        let (to_writer, batches) = mpsc::unbounded_channel();
        let mut behind = Behind(Some(tokio::spawn(write_behind(
            self.inner.clone(),
            writer,
            batches,
        ))));
        let mut figures = LiveFigures::default();
        let mut shutdown = self.inner.shutdown.subscribe();
        let mut damaged = self.inner.readers.damaged.subscribe();
        let mut retry = self.inner.config.retry_first;
        let outcome = 'run: loop {
            let mut subscription = store.subscribe_all(handed);
            let failure = loop {
                let first = tokio::select! {
                    biased;
                    _ = stopped(&mut shutdown) => break 'run Ok(()),
                    ended = behind.ended() => return Err(ended),
                    _ = damaged.wait_for(|d| *d) => break 'run Err(ProjectionError::Corrupt(
                        "a query found the read-model file damaged".into(),
                    )),
                    item = subscription.next() => item,
                };
                let mut batch: Vec<RecordedEvent> = Vec::new();
                let mut failure = None;
                let mut ended = false;
                match first {
                    None => ended = true,
                    Some(Err(e)) => failure = Some(e),
                    Some(Ok(event)) => batch.push(event),
                }
                // Everything else that is ready now joins the batch.
                while failure.is_none() && !ended && batch.len() < BATCH_CAP {
                    match subscription.next().now_or_never() {
                        Some(Some(Ok(event))) => batch.push(event),
                        Some(Some(Err(e))) => failure = Some(e),
                        Some(None) => ended = true,
                        None => break,
                    }
                }
                if !batch.is_empty() {
                    let (decoded, undecodable) = apply::decode_all(&batch);
                    let published = self
                        .publish(decoded, &mut figures, &mut handed, &to_writer, &mut behind)
                        .await;
                    if let Err(e) = published {
                        if behind.0.is_none() {
                            return Err(e);
                        }
                        break 'run Err(e);
                    }
                    if let Some(e) = undecodable {
                        break 'run Err(e);
                    }
                    retry = self.inner.config.retry_first;
                }
                if ended {
                    break 'run Ok(());
                }
                if let Some(e) = failure {
                    break e;
                }
            };
            if matches!(failure, StoreError::Closed) {
                break 'run Err(failure.into());
            }
            tracing::warn!(error = %failure, ?retry, "log subscription failed; resubscribing");
            tokio::select! {
                biased;
                _ = stopped(&mut shutdown) => break 'run Ok(()),
                ended = behind.ended() => return Err(ended),
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(self.inner.config.retry_max);
        };
        // The write-behind commits what it was handed, then ends. The run's
        // own failure, if any, is what the supervisor must hear of.
        drop(to_writer);
        let finished = behind.finish().await;
        outcome.and(finished)
    }

    /// Computes the figures of a decoded batch, publishes its position and
    /// notifications, and hands it to the write-behind.
    async fn publish(
        &self,
        decoded: Vec<Decoded>,
        figures: &mut LiveFigures,
        handed: &mut Position,
        to_writer: &mpsc::UnboundedSender<Vec<Decoded>>,
        behind: &mut Behind,
    ) -> Result<(), ProjectionError> {
        // A subscription that repeats events already handed over (it should
        // not) counts nothing twice.
        let mut decoded = decoded;
        decoded.retain(|d| d.position > *handed);
        // Events notified by an earlier run that failed before the read
        // models committed them: committed now, not notified again. They
        // all come before any other of this run, so the figures (empty at
        // the start of a run) are loaded after the read models hold them.
        let notified = self.live_position();
        let split = decoded.partition_point(|d| d.position <= notified);
        if split > 0 {
            let rest = decoded.split_off(split);
            if handed.saturating_sub(self.position()) >= MAX_BEHIND {
                self.committed(*handed, behind).await?;
            }
            *handed = live::last_position(&decoded, *handed);
            to_writer.send(decoded).map_err(|_| {
                ProjectionError::Task("the read models' write-behind stopped".into())
            })?;
            decoded = rest;
        }
        if decoded.is_empty() {
            return Ok(());
        }
        if handed.saturating_sub(self.position()) >= MAX_BEHIND {
            // Back-pressure: the read models fall behind; memory must not
            // grow without bound while they catch up.
            self.committed(*handed, behind).await?;
        }
        let mut missing = figures.missing(&decoded);
        if !missing.is_empty() {
            // What is loaded must be the state before this batch: the read
            // models first commit everything handed to them.
            self.committed(*handed, behind).await?;
            if figures.is_full() {
                figures.clear();
                missing = figures.missing(&decoded);
            }
            let inner = self.inner.clone();
            let loaded =
                tokio::task::spawn_blocking(move || inner.readers.run(|c| live::load(c, &missing)))
                    .await??;
            figures.insert(loaded);
        }
        let notifications: Vec<Arc<Notification>> = decoded
            .iter()
            .filter_map(|d| figures.apply(d))
            .map(Arc::new)
            .collect();
        *handed = live::last_position(&decoded, *handed);
        to_writer
            .send(decoded)
            .map_err(|_| ProjectionError::Task("the read models' write-behind stopped".into()))?;
        {
            // Kept before they are sent: a receiver that finds it lagged
            // when it receives the next one finds every missed one here.
            let mut recent = self
                .inner
                .recent
                .lock()
                .expect("recent notifications lock poisoned");
            for n in &notifications {
                recent.push(n.clone());
            }
        }
        publish_max(&self.inner.live, *handed);
        for n in notifications {
            // No receiver is not an error: nobody is listening yet.
            let _ = self.inner.notifications.send(n);
        }
        self.pace().await;
        Ok(())
    }

    /// Waits until the read models committed `position`, asking for it at
    /// once; fails if the write-behind ended.
    async fn committed(
        &self,
        position: Position,
        behind: &mut Behind,
    ) -> Result<(), ProjectionError> {
        self.want(position);
        let mut committed = self.inner.position.subscribe();
        tokio::select! {
            _ = committed.wait_for(|p| *p >= position) => Ok(()),
            ended = behind.ended() => Err(ended),
        }
    }
}

/// Raises a position watch to `position` (never lowers it).
pub(crate) fn publish_max(watch: &watch::Sender<Position>, position: Position) {
    watch.send_if_modified(|p| {
        let moved = position > *p;
        *p = (*p).max(position);
        moved
    });
}
