//! Who may join a conversation is decided by the log, not only by this
//! node's read models: in a cluster a conversation opened through another
//! node a moment ago may not have reached them yet. A log whose live events
//! stop reaching the read models past a point stands for that lag here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::StreamExt;
use souk_api::app::{open_store, spawn_with_store};
use souk_api::auth::Principal;
use souk_api::config::Settings;
use souk_api::error::ErrorCode;
use souk_domain::{Command, Participant, Role, Timestamp, UserId};
use souk_store::testing::{Intercepted, Interceptor};
use souk_store::{EventStore, Position, StoreError, Subscription};

/// Makes the embedded log's subscription withhold every event past `hold`.
struct Lagging {
    hold: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl Interceptor for Lagging {
    /// This node has not heard of the withheld events either.
    async fn last_position(&self, inner: &Arc<dyn EventStore>) -> Result<Position, StoreError> {
        let end = inner.last_position().await?;
        Ok(end.min(self.hold.load(Ordering::SeqCst)))
    }

    fn subscribe_all(&self, inner: &Arc<dyn EventStore>, after: Position) -> Subscription {
        let hold = self.hold.clone();
        Box::pin(inner.subscribe_all(after).filter(move |e| {
            let keep = match e {
                Ok(e) => e.position <= hold.load(Ordering::SeqCst),
                Err(_) => true,
            };
            std::future::ready(keep)
        }))
    }
}

fn principal(id: &str, role: Role) -> Principal {
    Principal {
        id: UserId::parse(id).unwrap(),
        role,
        name: None,
        expires_at: u64::MAX,
    }
}

fn participant(id: &str) -> Participant {
    Participant {
        id: UserId::parse(id).unwrap(),
        name: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_the_read_models_have_not_seen_yet_can_be_joined() {
    let dir = tempfile::tempdir().unwrap();
    let hold = Arc::new(AtomicU64::new(u64::MAX));
    let store: Arc<dyn EventStore> = Arc::new(Intercepted::new(
        Arc::new(open_store(dir.path()).unwrap()),
        Lagging { hold: hold.clone() },
    ));
    let app = spawn_with_store(Settings::for_tests(dir.path().to_path_buf()), store.clone())
        .expect("the server starts");
    // From now on the read models hear of nothing new.
    hold.store(0, Ordering::SeqCst);
    let (id, start) = Command::start_conversation(
        participant("c-late"),
        participant("v-late"),
        None,
        Role::Customer,
        Timestamp::now(),
    );
    app.state.registry.execute(id, start).await.unwrap();
    assert!(
        app.state
            .projections
            .conversation(id, &UserId::parse("c-late").unwrap(), Role::Customer)
            .await
            .unwrap()
            .is_none(),
        "the read models have not seen it"
    );
    let state = app.state.clone();
    let check = |who: &'static str, role| {
        let state = state.clone();
        async move { souk_api::service::check_participant(&state, &principal(who, role), id).await }
    };
    check("c-late", Role::Customer)
        .await
        .expect("the customer may join");
    check("v-late", Role::Vendor)
        .await
        .expect("the vendor may join");
    // Strangers still get not_found, and nothing is started for them.
    for (who, role) in [("c-other", Role::Customer), ("c-late", Role::Vendor)] {
        let refused = check(who, role).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::NotFound, "{who} as {role}");
    }
    let unknown = souk_domain::ConversationId::for_pair(
        &UserId::parse("c-x").unwrap(),
        &UserId::parse("v-x").unwrap(),
    );
    let refused = souk_api::service::check_participant(
        &app.state,
        &principal("c-x", Role::Customer),
        unknown,
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code, ErrorCode::NotFound);
    app.stop();
}
