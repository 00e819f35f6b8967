//! A support access (an operator read a conversation) is in the log for
//! the participants to see, and changes no read model: lists, unread
//! counts, history, search and analytics answer the same before and after
//! it; its notification carries the figures as they were; a rebuild and a
//! verify go through it.

mod common;

use common::*;
use serde_json::{json, Value};
use souk_domain::{ConversationEvent, ConversationId, Role, SupportView, Timestamp};
use souk_projections::{rebuild, verify, HistoryQuery, ListQuery, Projections};

/// Everything the read models answer about the world's people and
/// conversations.
async fn figures(p: &Projections, w: &World, ids: &[ConversationId]) -> Value {
    let mut out = Vec::new();
    for id in ids {
        let info = w.states[id].info.as_ref().unwrap();
        for (who, role) in [
            (&info.customer.id, Role::Customer),
            (&info.vendor.id, Role::Vendor),
        ] {
            let view = p.conversation(*id, who, role).await.unwrap();
            let list = p
                .conversations(who, role, ListQuery::default())
                .await
                .unwrap();
            let found = p
                .conversations(
                    who,
                    role,
                    ListQuery {
                        search: Some("bike".into()),
                        ..ListQuery::default()
                    },
                )
                .await
                .unwrap();
            let unread = p.unread(who, role).await.unwrap();
            out.push(json!([view, list, found, unread]));
        }
        let history = p.messages(*id, HistoryQuery::default()).await.unwrap();
        out.push(serde_json::to_value(history).unwrap());
        let analytics = p
            .analytics(
                &info.vendor.id,
                Timestamp::from_millis(T0 - 86_400_000),
                Timestamp::from_millis(T0 + 86_400_000),
            )
            .await
            .unwrap();
        out.push(serde_json::to_value(analytics).unwrap());
    }
    Value::Array(out)
}

#[tokio::test]
async fn a_support_access_changes_no_figure_and_is_notified_with_them_unchanged() {
    let mut w = World::new().await;
    let id = w
        .start(("c-1", Some("Carla")), ("v-1", Some("Vik")), None)
        .await;
    let other = w.start(("c-2", None), ("v-1", None), None).await;
    w.send(id, Role::Customer, "is the bike still for sale?")
        .await;
    w.send(id, Role::Vendor, "yes, the red bike").await;
    w.send(id, Role::Vendor, "want it?").await;
    w.read_all(id, Role::Customer).await;
    w.send(id, Role::Customer, "I'll think").await;
    w.send(other, Role::Customer, "another bike?").await;
    w.sync().await;
    let ids = [id, other];
    let before = figures(&w.projections, &w, &ids).await;
    let mut rx = w.projections.subscribe();

    let recorded = w
        .support_access(id, "o-sam", "ticket 4711", SupportView::Conversation)
        .await;
    assert_eq!(recorded.len(), 1);
    let recorded = w
        .support_access(other, "o-sam", "ticket 4711", SupportView::State)
        .await;
    assert_eq!(recorded.len(), 1);
    // A repeat within the window records nothing; another reason does.
    assert!(w
        .support_access(id, "o-sam", "ticket 4711", SupportView::Events)
        .await
        .is_empty());
    assert_eq!(
        w.support_access(id, "o-sam", "fraud report", SupportView::Events)
            .await
            .len(),
        1
    );
    let end = w.sync().await;
    assert_eq!(figures(&w.projections, &w, &ids).await, before);

    // One notification per access, with the figures unchanged (the
    // customer of `id` has read everything, its vendor has 2 unread).
    let mut notified = Vec::new();
    while let Ok(n) = rx.try_recv() {
        check_notification(&w.store, &n);
        notified.push(n);
    }
    assert_eq!(notified.len(), 3);
    for n in &notified {
        assert!(matches!(n.event, ConversationEvent::SupportAccessed(_)));
        assert!(n.message.is_none());
    }
    let last = notified.last().unwrap();
    assert_eq!(last.position, end);
    assert_eq!(last.conversation_id, id);
    assert_eq!(last.unread, [0, 2]);

    // The read models are consistent with the log, and a rebuild from it
    // (support accesses included) answers the same.
    let report = verify(&w.path(), w.dyn_store()).await.unwrap();
    assert!(report.is_consistent(), "{:#?}", report.differences);
    assert_eq!(report.position, end);
    w.stop().await;
    let rebuilt_path = w.dir.path().join("rebuilt.db");
    assert_eq!(rebuild(&rebuilt_path, w.dyn_store()).await.unwrap(), end);
    let rebuilt = Projections::open(&rebuilt_path).unwrap();
    let _consumer = rebuilt.start(w.dyn_store());
    assert!(rebuilt.wait_for(end, WAIT).await);
    assert_eq!(figures(&rebuilt, &w, &ids).await, before);
}

#[tokio::test]
async fn a_conversation_read_by_support_before_any_message_keeps_its_time() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    w.sync().await;
    let before = figures(&w.projections, &w, &[id]).await;
    w.support_access(id, "o-sam", "new account check", SupportView::Events)
        .await;
    w.sync().await;
    // `updatedAt` (the list order) is the time of the last message or of
    // creation: an operator's read does not move a conversation up.
    assert_eq!(figures(&w.projections, &w, &[id]).await, before);
}
