//! The live feed (`Projections::subscribe_after`), without sockets: every
//! notification once, in log order, from any position; what was missed
//! found among the kept notifications or rebuilt from the log; a feed that
//! lagged behind the broadcast recovers; a log that cannot be read is
//! reported as a gap and the feed goes on.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use souk_domain::{ConversationEvent, Role, SupportView};
use souk_projections::{Config, Feed, FeedError, Notification, Projections};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{EventStore, MemoryStore, Position, RecordedEvent, StoreError};

/// A world whose projections use `config`, on `store`.
fn world_with(config: Config, store: Arc<dyn EventStore>) -> World {
    let mut w = World::idle();
    w.projections = Projections::open_with(&w.path(), config).unwrap();
    w.consumer = Some(w.projections.start(store));
    w
}

/// The next `count` notifications of `feed`.
async fn take(feed: &mut Feed, count: usize) -> Vec<Arc<Notification>> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let n = tokio::time::timeout(WAIT, feed.next())
            .await
            .expect("the feed yields within the wait")
            .unwrap();
        out.push(n);
    }
    out
}

/// The positions a feed must yield after `after`: every conversation event
/// but support accesses (nothing is delivered for those; a kept one may be
/// yielded, as published, `with_accesses`).
fn expected(store: &MemoryStore, after: Position, with_accesses: bool) -> Vec<Position> {
    store
        .all_events()
        .iter()
        .filter(|e| e.position > after)
        .filter(|e| with_accesses || e.event_type != ConversationEvent::SUPPORT_ACCESSED)
        .map(|e| e.position)
        .collect()
}

fn positions(ns: &[Arc<Notification>]) -> Vec<Position> {
    ns.iter().map(|n| n.position).collect()
}

#[tokio::test]
async fn a_feed_from_the_start_yields_every_kept_notification_once_then_live_ones() {
    let mut w = World::new().await;
    random_history(&mut w, &mut Rng::new(11), 150).await;
    let end = w.sync().await;
    let live = w.projections.subscribe();
    let mut feed = w.projections.subscribe_after(0);

    let all = expected(&w.store, 0, true);
    let got = take(&mut feed, all.len()).await;
    assert_eq!(positions(&got), all);
    // Kept ones come exactly as published: the figures of then.
    for n in &got {
        check_notification(&w.store, n);
    }
    assert_eq!(feed.position(), end);

    // Then the live ones, once each, though the broadcast also carried
    // those published while the feed was catching up.
    drop(live);
    let id = *w.states.keys().next().unwrap();
    w.send(id, Role::Customer, "after the catch-up").await;
    w.send(id, Role::Vendor, "and another").await;
    // (A send may also record that its sender stopped typing.)
    let after = expected(&w.store, end, true);
    assert!(after.len() >= 2);
    let more = take(&mut feed, after.len()).await;
    assert_eq!(positions(&more), after);
    for n in &more {
        check_notification(&w.store, n);
    }
    let extra = tokio::time::timeout(std::time::Duration::from_millis(100), feed.next()).await;
    assert!(extra.is_err(), "a repeat: {extra:?}");
    w.stop().await;
}

#[tokio::test]
async fn notifications_no_longer_kept_are_rebuilt_from_the_log_in_batches() {
    let store = Arc::new(MemoryStore::new());
    let config = Config {
        recent_notifications: 1,
        ..Config::default()
    };
    let mut w = world_with(config, store.clone());
    w.store = store;
    let id = w.start(("c-1", Some("Ada")), ("v-1", None), None).await;
    let first = w.send(id, Role::Customer, "first").await;
    w.support_access(id, "o-sam", "ticket 4711", SupportView::Conversation)
        .await;
    // More than one batch of the log.
    for i in 0..souk_projections::feed::REBUILD_BATCH + 20 {
        w.send(id, Role::Customer, &format!("message {i}")).await;
    }
    w.read(id, Role::Vendor, first).await;
    let end = w.sync().await;

    let mut feed = w.projections.subscribe_after(0);
    let all = expected(&w.store, 0, false);
    let got = take(&mut feed, all.len()).await;
    assert_eq!(positions(&got), all, "every event but the access, in order");
    let log = w.store.all_events();
    for n in &got {
        let recorded = &log[n.position as usize - 1];
        assert_eq!(n.event, recorded.decode().unwrap());
        assert_eq!(n.conversation_id, id);
    }
    // Rebuilt with the figures of now: the vendor has since read the first
    // message, so its notification shows it read and one unread fewer.
    let sent_first = &got[1];
    assert!(sent_first.message.as_ref().unwrap().read_at.is_some());
    let last = got.last().unwrap();
    assert_eq!(last.position, end);
    check_notification(&w.store, last);
    w.stop().await;
}

#[tokio::test]
async fn a_feed_that_lagged_behind_the_broadcast_recovers_without_gap_or_repeat() {
    // Found among the kept notifications, then rebuilt from the log.
    for (capacity, recent) in [(4, souk_projections::RECENT_NOTIFICATIONS), (4, 8)] {
        let dir_store = Arc::new(MemoryStore::new());
        let config = Config {
            notification_capacity: capacity,
            recent_notifications: recent,
            ..Config::default()
        };
        let mut w = world_with(config, dir_store.clone());
        w.store = dir_store;
        let mut feed = w.projections.subscribe_after(0);
        // The feed reads nothing while far more than the channel holds is
        // published: it lags.
        random_history(&mut w, &mut Rng::new(7), 120).await;
        let end = w.sync().await;
        let all = expected(&w.store, 0, recent > 8);
        assert!(all.len() > 40, "{} events", all.len());
        let got = take(&mut feed, all.len()).await;
        assert_eq!(positions(&got), all, "capacity {capacity}, kept {recent}");
        assert_eq!(feed.position(), end);
        let id = *w.states.keys().next().unwrap();
        w.send(id, Role::Vendor, "live again").await;
        let after = expected(&w.store, end, true);
        assert_eq!(positions(&take(&mut feed, after.len()).await), after);
        w.stop().await;
    }
}

#[tokio::test]
async fn a_log_that_cannot_be_read_is_a_gap_and_the_feed_goes_on() {
    let log = MemoryStore::new();
    let store = Arc::new(Intercepted::new(
        Arc::new(log.clone()),
        Unreadable {
            failing: AtomicBool::new(true),
        },
    ));
    let config = Config {
        recent_notifications: 1,
        ..Config::default()
    };
    let mut w = World::idle();
    w.projections = Projections::open_with(&w.path(), config).unwrap();
    w.consumer = Some(w.projections.start(store.clone()));
    // The world appends through its own store: share it.
    w.store = Arc::new(log);
    let id = w.start(("c-2", None), ("v-2", None), None).await;
    for i in 0..5 {
        w.send(id, Role::Customer, &format!("m{i}")).await;
    }
    let end = w.sync().await;

    let mut feed = w.projections.subscribe_after(0);
    match feed.next().await {
        Err(FeedError::Gap { after, before, .. }) => {
            assert_eq!((after, before), (0, end + 1));
        }
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(feed.position(), end);
    store.failing.store(false, Ordering::SeqCst);
    w.send(id, Role::Vendor, "after the gap").await;
    assert_eq!(positions(&take(&mut feed, 1).await), [end + 1]);
    w.stop().await;
}

/// A log whose `read_all` fails while `failing` (subscriptions work).
struct Unreadable {
    failing: AtomicBool,
}

#[async_trait]
impl Interceptor for Unreadable {
    async fn read_all(
        &self,
        inner: &Arc<dyn EventStore>,
        from: Position,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("disk I/O error".into()));
        }
        inner.read_all(from, limit).await
    }
}
