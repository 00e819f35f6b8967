//! A read receipt naming a message the read models have not applied yet
//! (they lag behind the log: a slow disk, a burst) is not answered "not
//! found": the message is in the log, so the request waits (bounded) for
//! the read models to reach the log's end and looks again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use souk_api::app::{open_store, spawn_with_store};
use souk_api::auth::Principal;
use souk_api::config::Settings;
use souk_api::service;
use souk_domain::{
    Actor, Command, MessageContent, MessageId, MessageText, Participant, Role, Timestamp, UserId,
};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{EventStore, Position, StoreError, Subscription};
use tokio::sync::watch;

/// Makes the embedded log's subscription deliver an event only once `hold`
/// reaches its position: the read models lag while it is low, and catch up
/// (nothing lost) when it is raised. While `armed`, asking for the log's
/// end raises it (that is how a request that waits for the read models
/// starts waiting: the test then lets them go on).
struct Delayed {
    hold: watch::Sender<Position>,
    armed: AtomicBool,
}

#[async_trait::async_trait]
impl Interceptor for Delayed {
    async fn last_position(&self, inner: &Arc<dyn EventStore>) -> Result<Position, StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            self.hold.send_replace(Position::MAX);
        }
        inner.last_position().await
    }

    fn subscribe_all(&self, inner: &Arc<dyn EventStore>, after: Position) -> Subscription {
        let hold = self.hold.clone();
        Box::pin(inner.subscribe_all(after).then(move |e| {
            let mut hold = hold.subscribe();
            async move {
                if let Ok(e) = &e {
                    let _ = hold.wait_for(|h| *h >= e.position).await;
                }
                e
            }
        }))
    }
}

fn participant(id: &str) -> Participant {
    Participant {
        id: UserId::parse(id).unwrap(),
        name: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_of_a_message_the_read_models_have_not_applied_waits_for_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Intercepted::new(
        Arc::new(open_store(dir.path()).unwrap()),
        Delayed {
            hold: watch::Sender::new(Position::MAX),
            armed: AtomicBool::new(false),
        },
    ));
    let app = spawn_with_store(
        Settings::for_tests(dir.path().to_path_buf()),
        store.clone() as Arc<dyn EventStore>,
    )
    .expect("the server starts");
    let (id, start) = Command::start_conversation(
        participant("c-slow"),
        participant("v-slow"),
        None,
        Role::Customer,
        Timestamp::now(),
    );
    app.state.registry.execute(id, start).await.unwrap();

    // From here on the read models hear of nothing new until released.
    let end = store.last_position().await.unwrap();
    store.hold.send_replace(end);
    let message = MessageId::new();
    app.state
        .registry
        .execute(
            id,
            Command::SendMessage {
                by: Actor {
                    id: UserId::parse("c-slow").unwrap(),
                    role: Role::Customer,
                    name: None,
                },
                message_id: message,
                content: MessageContent::Text(MessageText::parse("is it in stock?").unwrap()),
                client_message_id: None,
                at: Timestamp::now(),
            },
        )
        .await
        .unwrap();
    assert!(
        app.state
            .projections
            .message(message)
            .await
            .unwrap()
            .is_none(),
        "the read models have not applied it"
    );

    let vendor = Principal {
        id: UserId::parse("v-slow").unwrap(),
        role: Role::Vendor,
        name: None,
        expires_at: u64::MAX,
    };
    // The read models are let go on once the request asks where the log
    // ends (as a request that waits for them does first).
    store.armed.store(true, Ordering::SeqCst);
    let receipt = service::mark_read(&app.state, &vendor, None, message)
        .await
        .expect("found once the read models caught up");
    assert!(!store.armed.load(Ordering::SeqCst));
    assert_eq!(receipt.conversation_id, id);
    assert_eq!(receipt.unread_count, 0);

    // An id that is nowhere is still not found, at once.
    let stranger = Principal {
        id: UserId::parse("v-slow").unwrap(),
        role: Role::Vendor,
        name: None,
        expires_at: u64::MAX,
    };
    let unknown = service::mark_read(&app.state, &stranger, None, MessageId::new()).await;
    assert_eq!(
        unknown.unwrap_err().code,
        souk_api::error::ErrorCode::NotFound
    );
}
