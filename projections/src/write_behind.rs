//! The write-behind: the task that commits what the consumer hands over,
//! in large transactions, and publishes the committed position.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::apply::Decoded;
use crate::consumer::{publish_max, BATCH_CAP};
use crate::error::ProjectionError;
use crate::handle::Inner;
use crate::rebuild::ReadModelWriter;

/// The longest an event waits in memory before the read models commit it
/// (unless someone reads: then at once).
pub const WRITE_BEHIND: Duration = Duration::from_millis(50);

/// The write-behind task, until it ended.
pub(crate) struct Behind(pub(crate) Option<JoinHandle<Result<(), ProjectionError>>>);

impl Behind {
    /// Resolves when the task ended while the consumer still runs: always
    /// an error (it ends on its own only when the read models fail).
    pub(crate) async fn ended(&mut self) -> ProjectionError {
        let Some(handle) = self.0.as_mut() else {
            return futures::future::pending().await;
        };
        let ended = handle.await;
        self.0 = None;
        match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => ProjectionError::Task("the read models' write-behind stopped".into()),
            Err(e) => e.into(),
        }
    }

    /// Waits for the task to commit what it holds and end.
    pub(crate) async fn finish(mut self) -> Result<(), ProjectionError> {
        match self.0.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

/// Commits what the consumer hands over: at the latest [`WRITE_BEHIND`]
/// after the first pending event, at once when [`BATCH_CAP`] events wait,
/// when a reader waits for them ([`Inner::wanted`]) or when the consumer is
/// gone (then it ends).
pub(crate) async fn write_behind(
    inner: Arc<Inner>,
    mut writer: ReadModelWriter,
    mut batches: mpsc::UnboundedReceiver<Vec<Decoded>>,
) -> Result<(), ProjectionError> {
    let mut pending: Vec<Decoded> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    let mut open = true;
    loop {
        while open {
            match batches.try_recv() {
                Ok(batch) => hold(&mut pending, &mut due, batch),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        let wanted = inner.wanted.load(Ordering::SeqCst) > writer.position();
        let overdue = due.is_some_and(|d| tokio::time::Instant::now() >= d);
        if !pending.is_empty() && (!open || wanted || overdue || pending.len() >= BATCH_CAP) {
            let position = writer.apply_decoded(std::mem::take(&mut pending)).await?;
            due = None;
            publish_max(&inner.position, position);
            continue;
        }
        if !open {
            return Ok(());
        }
        tokio::select! {
            biased;
            batch = batches.recv() => match batch {
                Some(batch) => hold(&mut pending, &mut due, batch),
                None => open = false,
            },
            _ = inner.flush.notified() => {}
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {}
        }
    }
}

/// Adds a handed batch to the pending events.
fn hold(pending: &mut Vec<Decoded>, due: &mut Option<tokio::time::Instant>, batch: Vec<Decoded>) {
    if pending.is_empty() {
        *due = Some(tokio::time::Instant::now() + WRITE_BEHIND);
    }
    pending.extend(batch);
}
