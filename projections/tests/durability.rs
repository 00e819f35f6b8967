//! Rebuild, verify, restart and a misbehaving log: the read models stay an
//! exact function of the events.

mod common;

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use futures::{stream, Stream, StreamExt};
use souk_domain::{ConversationId, Role, Timestamp};
use souk_projections::{rebuild, verify, ListQuery, ProjectionError, Projections};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{
    EventStore, ExpectedRevision, MemoryStore, NewEvent, Position, StoreError, Subscription,
};

/// Everything the queries answer for every participant, as JSON, for
/// comparing two read-model files.
async fn snapshot(p: &Projections, w: &World) -> serde_json::Value {
    let mut out = Vec::new();
    let mut ids: Vec<&ConversationId> = w.states.keys().collect();
    ids.sort();
    let mut people = std::collections::BTreeSet::new();
    for id in ids {
        let info = w.states[id].info.as_ref().unwrap();
        people.insert((info.customer.id.clone(), Role::Customer));
        people.insert((info.vendor.id.clone(), Role::Vendor));
        let history = p
            .messages(
                *id,
                souk_projections::HistoryQuery {
                    before: None,
                    after: None,
                    limit: 100,
                },
            )
            .await
            .unwrap();
        out.push(serde_json::to_value(history).unwrap());
    }
    for (who, role) in people {
        let page = p
            .conversations(
                &who,
                role,
                ListQuery {
                    search: None,
                    limit: 100,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        out.push(serde_json::to_value(page).unwrap());
        let found = p
            .conversations(
                &who,
                role,
                ListQuery {
                    search: Some("bike".into()),
                    limit: 100,
                    cursor: None,
                },
            )
            .await
            .unwrap();
        out.push(serde_json::to_value(found).unwrap());
        out.push(serde_json::to_value(p.unread(&who, role).await.unwrap()).unwrap());
        if role == Role::Vendor {
            let a = p
                .analytics(
                    &who,
                    Timestamp::from_millis(T0),
                    Timestamp::from_millis(w.now),
                )
                .await
                .unwrap();
            out.push(serde_json::to_value(a).unwrap());
        }
    }
    serde_json::Value::Array(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_gives_the_same_rows_after_thousands_of_random_events() {
    let mut w = World::new().await;
    random_history(&mut w, &mut Rng::new(7), 4000).await;
    let end = w.sync().await;
    assert!(end >= 3000, "only {end} events");
    assert_unread_matches_the_log(&w).await;

    let report = verify(&w.path(), w.dyn_store()).await.unwrap();
    assert!(
        report.is_consistent(),
        "{:#?}",
        &report.differences[..report.differences.len().min(5)]
    );
    assert_eq!(report.position, end);
    assert!(report.rows_compared > 4000, "{}", report.rows_compared);

    let before = snapshot(&w.projections, &w).await;
    w.stop().await;
    let reopened = rebuild_and_reopen(&w, end).await;
    assert_eq!(snapshot(&reopened, &w).await, before);
}

#[tokio::test]
async fn verify_lists_every_difference() {
    let mut w = World::new().await;
    let id = w.start(("c-1", Some("Alice")), ("v-1", None), None).await;
    w.send(id, Role::Customer, "hello").await;
    w.send(id, Role::Customer, "again").await;
    w.sync().await;
    assert!(verify(&w.path(), w.dyn_store())
        .await
        .unwrap()
        .is_consistent());

    let db = rusqlite::Connection::open(w.path()).unwrap();
    db.execute_batch(&format!(
        "UPDATE conversations SET vendor_unread = vendor_unread + 1 WHERE id = '{id}';
         DELETE FROM messages WHERE conversation_id = '{id}' AND seq = 1;
         INSERT INTO inboxes (user_id, role, unread) VALUES ('ghost', 'vendor', 3);"
    ))
    .unwrap();
    let report = verify(&w.path(), w.dyn_store()).await.unwrap();
    assert!(!report.is_consistent());
    let found: Vec<(&str, String, bool, bool)> = report
        .differences
        .iter()
        .map(|d| {
            (
                d.table.as_str(),
                d.key.clone(),
                d.live.is_some(),
                d.rebuilt.is_some(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("conversations", id.to_string(), true, true),
            ("messages", format!("{id}/{:020}", 1), false, true),
            ("inboxes", "ghost/vendor".to_owned(), true, false),
        ]
    );
    let conv = &report.differences[0];
    assert_ne!(conv.live, conv.rebuilt);
    assert!(conv.to_string().starts_with("conversations "));
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint() {
    let mut w = World::new().await;
    let mut rng = Rng::new(11);
    random_history(&mut w, &mut rng, 300).await;
    let first = w.sync().await;
    w.stop().await;

    // Events recorded while the read models are down.
    random_history(&mut w, &mut rng, 300).await;
    let end = w.store.last_position().await.unwrap();
    assert!(end > first);

    w.projections = Projections::open(&w.path()).unwrap();
    assert_eq!(w.projections.position(), first);
    w.consumer = Some(w.projections.start(w.store.clone()));
    w.sync().await;
    assert_eq!(w.projections.position(), end);
    // Nothing counted twice, nothing lost.
    assert_unread_matches_the_log(&w).await;
    assert!(verify(&w.path(), w.dyn_store())
        .await
        .unwrap()
        .is_consistent());
}

/// A log that misbehaves on purpose around a `MemoryStore`.
struct Flaky {
    mode: Mode,
    subscriptions: AtomicUsize,
}

#[derive(Clone, Copy)]
enum Mode {
    /// The first subscription delivers this many events, then fails.
    FailAfter(usize),
    /// Every subscription starts from the beginning of the log, whatever
    /// the position asked for.
    ReplayEverything,
}

impl Interceptor for Flaky {
    fn subscribe_all(&self, inner: &Arc<dyn EventStore>, after: Position) -> Subscription {
        let n = self.subscriptions.fetch_add(1, Ordering::SeqCst);
        match self.mode {
            Mode::FailAfter(k) if n == 0 => {
                let failure: Pin<Box<dyn Stream<Item = _> + Send>> =
                    Box::pin(stream::once(async {
                        Err(StoreError::Unavailable("connection reset".into()))
                    }));
                Box::pin(inner.subscribe_all(after).take(k).chain(failure))
            }
            Mode::FailAfter(_) => inner.subscribe_all(after),
            Mode::ReplayEverything => inner.subscribe_all(0),
        }
    }
}

async fn with_flaky_store(mode: Mode) -> (World, Arc<Intercepted<Flaky>>) {
    let mut w = World::idle();
    random_history(&mut w, &mut Rng::new(3), 200).await;
    let flaky = Arc::new(Intercepted::new(
        Arc::new((*w.store).clone()),
        Flaky {
            mode,
            subscriptions: AtomicUsize::new(0),
        },
    ));
    (w, flaky)
}

#[tokio::test]
async fn a_failed_subscription_resumes_without_loss_or_repeat() {
    let (mut w, flaky) = with_flaky_store(Mode::FailAfter(40)).await;
    let mut rx = w.projections.subscribe();
    w.consumer = Some(w.projections.start(flaky.clone()));
    let end = w.sync().await;
    assert!(flaky.subscriptions.load(Ordering::SeqCst) >= 2);
    assert_unread_matches_the_log(&w).await;
    let mut positions = Vec::new();
    while let Ok(n) = rx.try_recv() {
        check_notification(&w.store, &n);
        positions.push(n.position);
    }
    assert_eq!(positions, (1..=end).collect::<Vec<_>>());
}

#[tokio::test]
async fn events_at_or_before_the_checkpoint_are_never_applied_twice() {
    let (mut w, flaky) = with_flaky_store(Mode::ReplayEverything).await;
    // Half the log is applied first, then the consumer restarts on a log
    // that delivers everything again from the start.
    let half = w.store.last_position().await.unwrap() / 2;
    assert_eq!(rebuild_up_to(&w, half).await, half);
    w.projections = Projections::open(&w.path()).unwrap();
    assert_eq!(w.projections.position(), half);
    let mut rx = w.projections.subscribe();
    w.consumer = Some(w.projections.start(flaky));
    let end = w.sync().await;
    assert_unread_matches_the_log(&w).await;
    assert!(verify(&w.path(), w.dyn_store())
        .await
        .unwrap()
        .is_consistent());
    let first_notified = rx.try_recv().unwrap().position;
    assert_eq!(first_notified, half + 1);
    assert!(end > half);
}

/// Rebuilds the world's file from the log cut at `position`.
async fn rebuild_up_to(w: &World, position: Position) -> Position {
    let cut = MemoryStore::new();
    for e in w
        .store
        .all_events()
        .into_iter()
        .take_while(|e| e.position <= position)
    {
        let expected = match e.revision {
            0 => ExpectedRevision::NoStream,
            r => ExpectedRevision::Exact(r - 1),
        };
        let new = NewEvent {
            event_type: e.event_type,
            version: e.version,
            data: e.data,
        };
        cut.append(&e.stream, expected, vec![new]).await.unwrap();
    }
    rebuild(&w.path(), Arc::new(cut)).await.unwrap()
}

#[tokio::test]
async fn an_undecodable_event_stops_the_consumer_where_it_is() {
    let mut w = World::idle();
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    w.send(id, Role::Customer, "before").await;
    w.store
        .append(
            &id.stream_name(),
            ExpectedRevision::Any,
            vec![NewEvent {
                event_type: "MessageEdited".into(),
                version: 1,
                data: "{}".into(),
            }],
        )
        .await
        .unwrap();
    let handle = w.projections.start(w.store.clone());
    let result = handle.await.unwrap();
    assert!(
        matches!(result, Err(ProjectionError::Decode { position: 3, .. })),
        "{result:?}"
    );
    // The events before it are applied and committed.
    assert_eq!(w.projections.position(), 2);
    let view = w
        .projections
        .conversation(id, &user("v-1"), Role::Vendor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.unread_count, 1);
    assert_eq!(Projections::open(&w.path()).unwrap().position(), 2);
}

#[tokio::test]
async fn one_consumer_per_handle_and_shutdown_stops_it() {
    let mut w = World::new().await;
    let second = w.projections.start(w.store.clone()).await.unwrap();
    assert!(matches!(second, Err(ProjectionError::AlreadyStarted)));
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    w.send(id, Role::Vendor, "hi").await;
    w.sync().await;
    w.stop().await;
    // After shutdown nothing more is applied.
    w.send(id, Role::Vendor, "unseen").await;
    let end = w.store.last_position().await.unwrap();
    assert!(
        !w.projections
            .wait_for(end, std::time::Duration::from_millis(50))
            .await
    );
}

#[tokio::test]
async fn a_file_of_another_schema_is_rebuilt_from_the_log() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    w.send(id, Role::Customer, "hello").await;
    let end = w.sync().await;
    w.stop().await;
    rusqlite::Connection::open(w.path())
        .unwrap()
        .pragma_update(None, "user_version", 999)
        .unwrap();
    w.projections = Projections::open(&w.path()).unwrap();
    assert_eq!(w.projections.position(), 0);
    assert!(w
        .projections
        .conversation(id, &user("v-1"), Role::Vendor)
        .await
        .unwrap()
        .is_none());
    w.consumer = Some(w.projections.start(w.store.clone()));
    assert_eq!(w.sync().await, end);
    assert_unread_matches_the_log(&w).await;
}

#[tokio::test]
async fn notifications_never_run_far_ahead_of_the_read_models() {
    // A backlog much longer than the write-behind may hold: the consumer
    // publishes in memory far faster than SQLite commits, so without
    // back-pressure the published position would run thousands ahead.
    // Few conversations (a new one makes the consumer wait for the read
    // models anyway, to load its figures), many messages.
    let mut w = World::idle();
    let ids = [
        w.start(("c-1", None), ("v-1", None), None).await,
        w.start(("c-2", None), ("v-1", None), None).await,
    ];
    for i in 0..8000 {
        let role = if i % 3 == 0 {
            Role::Vendor
        } else {
            Role::Customer
        };
        w.send(ids[i % 2], role, "a message of some length to index")
            .await;
    }
    let end = w.store.last_position().await.unwrap();
    assert!(end > 3 * souk_projections::MAX_BEHIND);
    let mut rx = w.projections.subscribe();
    w.consumer = Some(w.projections.start(w.store.clone()));
    let slack = souk_projections::MAX_BEHIND + souk_projections::BATCH_CAP as Position;
    let mut widest = 0;
    loop {
        let n = match rx.recv().await {
            Ok(n) => n,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(e) => panic!("{e}"),
        };
        let gap = n.position.saturating_sub(w.projections.position());
        widest = widest.max(gap);
        assert!(
            gap <= slack,
            "notified {} with the read models at {}",
            n.position,
            w.projections.position()
        );
        if n.position == end {
            break;
        }
    }
    // The write-behind did run behind (the bound was exercised).
    assert!(
        widest > souk_projections::BATCH_CAP as Position,
        "widest gap {widest}"
    );
    w.sync().await;
    assert_unread_matches_the_log(&w).await;
}

#[tokio::test]
async fn a_slow_receiver_is_waited_for_rather_than_left_behind() {
    // The relay reads notifications one at a time and emits each to
    // sockets; a backlog published faster than it reads must not overflow
    // the channel (it would then recover from the log, slowly).
    let mut w = World::idle();
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    for i in 0..(2 * souk_projections::NOTIFICATION_CAPACITY) {
        let role = if i % 4 == 0 {
            Role::Vendor
        } else {
            Role::Customer
        };
        w.send(id, role, "hello").await;
    }
    let end = w.store.last_position().await.unwrap();
    let mut rx = w.projections.subscribe();
    w.consumer = Some(w.projections.start(w.store.clone()));
    let mut next = 1;
    loop {
        let n = rx.recv().await.expect("never lagged");
        assert_eq!(n.position, next);
        next += 1;
        if n.position % 8 == 0 {
            // A slow reader (slower than the read models commit).
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        if n.position == end {
            break;
        }
    }
}
