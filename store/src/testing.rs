//! A log for tests that misbehaves on purpose: [`Intercepted`] runs every
//! call of another [`EventStore`] through an [`Interceptor`], whose methods
//! forward to that store unless a test overrides them.
//!
//! Tests of what sits on the log (actors, read models, the server) need a
//! log that is slow, fails, counts its calls, waits for a gate or holds
//! events back. Each such test overrides only the calls it changes; the
//! rest reach the inner store untouched, so no test writes out the whole
//! trait to change one call.
//!
//! ```
//! # use std::sync::atomic::{AtomicUsize, Ordering};
//! # use std::sync::Arc;
//! # use souk_store::testing::{Intercepted, Interceptor};
//! # use souk_store::{EventStore, MemoryStore, Position, RecordedEvent, StoreError};
//! /// Counts the reads of the whole log.
//! #[derive(Default)]
//! struct CountReads(AtomicUsize);
//!
//! #[async_trait::async_trait]
//! impl Interceptor for CountReads {
//!     async fn read_all(
//!         &self,
//!         inner: &Arc<dyn EventStore>,
//!         from: Position,
//!         limit: usize,
//!     ) -> Result<Vec<RecordedEvent>, StoreError> {
//!         self.0.fetch_add(1, Ordering::SeqCst);
//!         inner.read_all(from, limit).await
//!     }
//! }
//!
//! # tokio_test(async {
//! let store = Intercepted::new(Arc::new(MemoryStore::new()), CountReads::default());
//! store.read_all(1, 10).await.unwrap();
//! assert_eq!(store.0.load(Ordering::SeqCst), 1);
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;

use crate::{
    AppendResult, ChainUpgrade, Direction, EventStore, ExpectedRevision, NewEvent, Position,
    ReadFrom, RecordedEvent, StoreError, Subscription,
};

/// What an [`Intercepted`] store does on each call. Every method is that
/// call of [`EventStore`], given the inner store; the default forwards it
/// unchanged. Override one to delay it, fail it, count it or change what it
/// answers.
#[async_trait]
pub trait Interceptor: Send + Sync + 'static {
    /// [`EventStore::append`].
    async fn append(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        inner.append(stream, expected, events).await
    }

    /// [`EventStore::read_stream`].
    async fn read_stream(
        &self,
        inner: &Arc<dyn EventStore>,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        inner.read_stream(stream, from, direction, limit).await
    }

    /// [`EventStore::read_all`].
    async fn read_all(
        &self,
        inner: &Arc<dyn EventStore>,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        inner.read_all(from, limit).await
    }

    /// [`EventStore::last_position`].
    async fn last_position(&self, inner: &Arc<dyn EventStore>) -> Result<Position, StoreError> {
        inner.last_position().await
    }

    /// [`EventStore::subscribe_all`]. The inner store comes as an `Arc` so
    /// that a subscription can keep it (to subscribe later, say).
    fn subscribe_all(&self, inner: &Arc<dyn EventStore>, after: Position) -> Subscription {
        inner.subscribe_all(after)
    }
}

/// An [`EventStore`] that runs every call of `inner` through an
/// [`Interceptor`]. [`write_failure`](EventStore::write_failure) and
/// [`chain_upgrade`](EventStore::chain_upgrade) go to `inner` as they are.
///
/// Derefs to the interceptor, so a test reaches its switches and counters
/// through the store it handed out.
pub struct Intercepted<I> {
    inner: Arc<dyn EventStore>,
    interceptor: I,
}

impl<I: Interceptor> Intercepted<I> {
    pub fn new(inner: Arc<dyn EventStore>, interceptor: I) -> Self {
        Self { inner, interceptor }
    }

    /// The store the calls reach, to look at the log without going through
    /// the interceptor.
    pub fn inner(&self) -> &Arc<dyn EventStore> {
        &self.inner
    }
}

impl<I> Deref for Intercepted<I> {
    type Target = I;

    fn deref(&self) -> &I {
        &self.interceptor
    }
}

#[async_trait]
impl<I: Interceptor> EventStore for Intercepted<I> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        events: Vec<NewEvent>,
    ) -> Result<AppendResult, StoreError> {
        self.interceptor
            .append(&self.inner, stream, expected, events)
            .await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from: ReadFrom,
        direction: Direction,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.interceptor
            .read_stream(&self.inner, stream, from, direction, limit)
            .await
    }

    async fn read_all(
        &self,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.interceptor.read_all(&self.inner, from, limit).await
    }

    async fn last_position(&self) -> Result<Position, StoreError> {
        self.interceptor.last_position(&self.inner).await
    }

    fn subscribe_all(&self, after: Position) -> Subscription {
        self.interceptor.subscribe_all(&self.inner, after)
    }

    fn write_failure(&self) -> Option<String> {
        self.inner.write_failure()
    }

    async fn chain_upgrade(&self) -> Result<Option<ChainUpgrade>, StoreError> {
        self.inner.chain_upgrade().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use futures::StreamExt;

    use super::*;
    use crate::MemoryStore;

    /// Counts appends and refuses them while `refuse` is set; every other
    /// call is left to the defaults.
    #[derive(Default)]
    struct Refusing {
        appends: AtomicUsize,
        refuse: AtomicBool,
    }

    #[async_trait]
    impl Interceptor for Refusing {
        async fn append(
            &self,
            inner: &Arc<dyn EventStore>,
            stream: &str,
            expected: ExpectedRevision,
            events: Vec<NewEvent>,
        ) -> Result<AppendResult, StoreError> {
            self.appends.fetch_add(1, Ordering::SeqCst);
            if self.refuse.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("refused".into()));
            }
            inner.append(stream, expected, events).await
        }
    }

    fn event() -> Vec<NewEvent> {
        vec![NewEvent {
            event_type: "Noted".into(),
            version: 1,
            data: "{}".into(),
        }]
    }

    #[tokio::test]
    async fn the_overridden_call_is_intercepted_and_the_others_reach_the_inner_store() {
        let store = Intercepted::new(Arc::new(MemoryStore::new()), Refusing::default());
        store
            .append("s", ExpectedRevision::NoStream, event())
            .await
            .unwrap();
        store.refuse.store(true, Ordering::SeqCst);
        let refused = store.append("s", ExpectedRevision::Exact(0), event()).await;
        assert!(
            matches!(refused, Err(StoreError::Unavailable(_))),
            "{refused:?}"
        );
        assert_eq!(store.appends.load(Ordering::SeqCst), 2);

        // Only the first append reached the log, and every other call
        // answers as the inner store does.
        assert_eq!(store.last_position().await.unwrap(), 1);
        assert_eq!(store.inner().last_position().await.unwrap(), 1);
        let stream = store
            .read_stream("s", ReadFrom::Start, Direction::Forwards, 10)
            .await
            .unwrap();
        assert_eq!(stream.len(), 1);
        assert_eq!(store.read_all(1, 10).await.unwrap(), stream);
        let first = store.subscribe_all(0).next().await.unwrap().unwrap();
        assert_eq!(first, stream[0]);
        assert_eq!(store.write_failure(), None);
        assert_eq!(store.chain_upgrade().await.unwrap(), None);
    }
}
