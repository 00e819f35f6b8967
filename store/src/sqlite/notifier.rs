//! The notifier thread: answers the callers of each committed group and
//! publishes its events to live subscriptions, in commit order, off the
//! writer's thread.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;

use souk_domain::Timestamp;
use tokio::sync::broadcast;

use super::fault::panic_message;
use super::writer::Placed;
use super::{unavailable, AppendRequest, AppendResult, RecordedEvent, StoreError};
use crate::subscription::Batch;

/// A committed group on its way to its callers.
pub(super) struct Committed {
    /// An imported page, published as is (`group` is then empty).
    pub(super) imported: Vec<RecordedEvent>,
    pub(super) group: Vec<AppendRequest>,
    pub(super) outcomes: Vec<Result<Placed, StoreError>>,
    pub(super) recorded_at: Timestamp,
}

/// Committed groups the notifier may lag behind by before the writer waits.
pub(super) const NOTIFY_QUEUE: usize = 64;

/// Starts the notifier thread (at open, and again should it ever be gone);
/// returns what feeds it.
pub(super) fn spawn_notifier(
    live: broadcast::Sender<Batch>,
) -> Result<(std::sync::mpsc::SyncSender<Committed>, JoinHandle<()>), StoreError> {
    let (notifier, committed) = std::sync::mpsc::sync_channel(NOTIFY_QUEUE);
    let thread = std::thread::Builder::new()
        .name("souk-store-notify".to_owned())
        .spawn(move || notify_while_fed(committed, live))
        .map_err(|e| unavailable("starting the notifier thread", e))?;
    Ok((notifier, thread))
}

/// The notifier thread: answers the callers of each committed group and
/// publishes its events, in commit order. This work (a task wake-up per
/// append, an owned `RecordedEvent` per event when anyone subscribes) is
/// taken off the writer's thread, which is the one that bounds throughput.
/// Ends when the writer drops its end of the channel, and not before: a
/// panic is caught and logged (the callers of that group not yet answered
/// are told [`StoreError::Unavailable`] as their answers are dropped, and
/// live subscribers, missing its batch, read it from the log).
pub(super) fn notify_while_fed(
    committed: std::sync::mpsc::Receiver<Committed>,
    live: broadcast::Sender<Batch>,
) {
    while let Ok(group) = committed.recv() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| answer_and_publish(group, &live))) {
            tracing::error!(
                "the event store notifier panicked ({}); it goes on",
                panic_message(&*panic)
            );
        }
    }
}

pub(super) fn answer_and_publish(committed: Committed, live: &broadcast::Sender<Batch>) {
    let Committed {
        imported,
        group,
        outcomes,
        recorded_at,
    } = committed;
    let publish = live.receiver_count() > 0;
    let mut recorded = imported;
    for (request, outcome) in group.into_iter().zip(outcomes) {
        let placed = match outcome {
            Ok(placed) => placed,
            Err(conflict) => {
                let _ = request.reply.send(Err(conflict));
                continue;
            }
        };
        let count = request.events.len() as u64;
        let answer = AppendResult {
            next_expected_revision: placed.first_revision + count - 1,
            first_position: placed.first_position,
            position: placed.first_position + count - 1,
            recorded_at,
            hashes: placed.hashes,
        };
        if publish {
            recorded.extend(
                request
                    .events
                    .into_iter()
                    .zip(&answer.hashes)
                    .enumerate()
                    .map(|(i, (e, hash))| RecordedEvent {
                        stream: request.stream.clone(),
                        revision: placed.first_revision + i as u64,
                        position: placed.first_position + i as u64,
                        event_type: e.event_type,
                        version: e.version,
                        data: e.data,
                        recorded_at,
                        hash: *hash,
                    }),
            );
        }
        let _ = request.reply.send(Ok(answer));
    }
    if !recorded.is_empty() {
        // No receiver left is not an error.
        let _ = live.send(recorded.into());
    }
}

/// Answers every caller of `group` with `error`.
pub(super) fn refuse(group: Vec<AppendRequest>, error: &StoreError) {
    for request in group {
        let _ = request.reply.send(Err(error.clone()));
    }
}
