//! [`MemoryStore`]: the whole log in a `Vec` behind a mutex, for tests of the
//! crates above the store. It keeps the same contract as the durable
//! backends (it passes the [`contract`](crate::contract) suite) but nothing
//! survives the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::future::BoxFuture;
use souk_domain::Timestamp;
use tokio::sync::broadcast;

use crate::chain::{self, EventHash};
use crate::subscription::{catch_up_then_live, Batch, PageSource};
use crate::{
    check_expected, validate_append, AppendResult, Direction, EventStore, ExpectedRevision,
    NewEvent, Position, ReadFrom, RecordedEvent, StoreError, Subscription,
};

/// Batches a live subscriber may fall behind by before it reads from the log
/// again.
const LIVE_CAPACITY: usize = 1024;

/// An in-memory [`EventStore`]. Cheap to clone: clones share one log.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// The log. A std mutex: every critical section is short and never
    /// awaits.
    log: Mutex<Log>,
    /// Each append's events, sent while the log lock is held so that the
    /// channel order is the position order.
    live: broadcast::Sender<Batch>,
    /// Test switch: appends fail with `Unavailable` while set.
    fail_appends: AtomicBool,
}

#[derive(Default)]
struct Log {
    /// Event at position `p` is `events[p - 1]`.
    events: Vec<RecordedEvent>,
    /// For each stream, the index in `events` of each revision.
    streams: HashMap<String, Vec<usize>>,
}

impl MemoryStore {
    /// An empty log.
    pub fn new() -> Self {
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                log: Mutex::new(Log::default()),
                live,
                fail_appends: AtomicBool::new(false),
            }),
        }
    }

    /// While `fail` is set, every append fails with
    /// [`StoreError::Unavailable`] and writes nothing (reads still work): for
    /// testing how callers handle a failing disk.
    pub fn set_fail_appends(&self, fail: bool) {
        self.inner.fail_appends.store(fail, Ordering::SeqCst);
    }

    /// Every event of the log, in position order (a test convenience).
    pub fn all_events(&self) -> Vec<RecordedEvent> {
        self.inner.lock().events.clone()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Log> {
        // A panic while holding the lock cannot leave the log half-updated
        // (appends push only after every check), so a poisoned lock is safe
        // to keep using.
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read_all(&self, from: Position, limit: usize) -> Vec<RecordedEvent> {
        let log = self.lock();
        let start = usize::try_from(from.max(1) - 1).unwrap_or(usize::MAX);
        log.events.iter().skip(start).take(limit).cloned().collect()
    }
}

impl PageSource for Arc<Inner> {
    fn read_page(
        &self,
        from: Position,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<RecordedEvent>, StoreError>> {
        let page = self.read_all(from, limit);
        Box::pin(async move { Ok(page) })
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        validate_append(stream, &events)?;
        if self.inner.fail_appends.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "appends are switched off (MemoryStore::set_fail_appends)".to_owned(),
            ));
        }
        let mut log = self.inner.lock();
        let log = &mut *log;
        let indexes = log.streams.get(stream);
        let actual = indexes
            .and_then(|ix| ix.len().checked_sub(1))
            .map(|r| r as u64);
        check_expected(stream, expected, actual)?;

        let recorded_at = Timestamp::now();
        let first_revision = actual.map_or(0, |r| r + 1);
        let first_position = log.events.len() as Position + 1;
        let count = events.len() as u64;
        let mut prev = indexes
            .and_then(|ix| ix.last())
            .map_or(EventHash::GENESIS, |&i| log.events[i].hash);
        let recorded: Vec<RecordedEvent> = events
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let revision = first_revision + i as u64;
                prev = chain::link(
                    &prev,
                    stream,
                    revision,
                    &e.event_type,
                    e.version,
                    &e.data,
                    &recorded_at,
                );
                RecordedEvent {
                    stream: stream.to_owned(),
                    revision,
                    position: first_position + i as u64,
                    event_type: e.event_type,
                    version: e.version,
                    data: e.data,
                    recorded_at,
                    hash: prev,
                }
            })
            .collect();
        let hashes = recorded.iter().map(|e| e.hash).collect();
        let indexes = log.streams.entry(stream.to_owned()).or_default();
        indexes.extend((0..recorded.len()).map(|i| log.events.len() + i));
        log.events.extend(recorded.iter().cloned());
        if self.inner.live.receiver_count() > 0 {
            // Nobody listening is not an error.
            let _ = self.inner.live.send(recorded.into());
        }
        Ok(AppendResult {
            next_expected_revision: first_revision + count - 1,
            first_position,
            position: first_position + count - 1,
            recorded_at,
            hashes,
        })
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let log = self.inner.lock();
        let Some(indexes) = log.streams.get(stream) else {
            return Ok(Vec::new());
        };
        let Some(last) = indexes.len().checked_sub(1) else {
            return Ok(Vec::new());
        };
        let from = match from {
            ReadFrom::Start => 0,
            ReadFrom::End => last,
            ReadFrom::Revision(r) => usize::try_from(r).unwrap_or(usize::MAX),
        };
        let picked: Vec<usize> = match direction {
            Direction::Forwards => indexes.iter().skip(from).take(limit).copied().collect(),
            Direction::Backwards => indexes[..=from.min(last)]
                .iter()
                .rev()
                .take(limit)
                .copied()
                .collect(),
        };
        let events: Vec<RecordedEvent> =
            picked.into_iter().map(|i| log.events[i].clone()).collect();
        drop(log);
        chain::log_if_broken(&events);
        Ok(events)
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        Ok(self.inner.read_all(from, limit))
    }

    async fn last_position(&self) -> Result<Position, StoreError> {
        Ok(self.inner.lock().events.len() as Position)
    }

    fn subscribe_all(&self, after: Position) -> Subscription {
        let live = self.inner.live.subscribe();
        catch_up_then_live(Arc::clone(&self.inner), live, after)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;

    fn event(n: u32) -> NewEvent {
        NewEvent {
            event_type: "Tested".to_owned(),
            version: 1,
            data: format!("{{\"n\":{n}}}"),
        }
    }

    #[tokio::test]
    async fn appends_read_back_in_order() {
        let store = MemoryStore::new();
        let a = store
            .append("s-a", ExpectedRevision::NoStream, vec![event(0), event(1)])
            .await
            .unwrap();
        assert_eq!(
            (a.first_position, a.position, a.next_expected_revision),
            (1, 2, 1)
        );
        let b = store
            .append("s-b", ExpectedRevision::Any, vec![event(2)])
            .await
            .unwrap();
        assert_eq!((b.first_position, b.next_expected_revision), (3, 0));
        let all = store.read_all(0, 10).await.unwrap();
        let positions: Vec<_> = all
            .iter()
            .map(|e| (e.stream.as_str(), e.revision, e.position))
            .collect();
        assert_eq!(positions, [("s-a", 0, 1), ("s-a", 1, 2), ("s-b", 0, 3)]);
        assert_eq!(store.all_events(), all);
    }

    #[tokio::test]
    async fn failing_appends_write_nothing() {
        let store = MemoryStore::new();
        store.set_fail_appends(true);
        let err = store
            .append("s", ExpectedRevision::Any, vec![event(0)])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert_eq!(store.last_position().await.unwrap(), 0);
        store.set_fail_appends(false);
        store
            .append("s", ExpectedRevision::NoStream, vec![event(0)])
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn subscription_sees_old_then_new_events() {
        let store = MemoryStore::new();
        store
            .append("s", ExpectedRevision::NoStream, vec![event(0)])
            .await
            .unwrap();
        let mut sub = store.subscribe_all(0);
        assert_eq!(sub.next().await.unwrap().unwrap().position, 1);
        store
            .append("s", ExpectedRevision::Exact(0), vec![event(1)])
            .await
            .unwrap();
        assert_eq!(sub.next().await.unwrap().unwrap().position, 2);
    }
}
