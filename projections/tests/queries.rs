//! Every query shape against a live consumer over a `MemoryStore`.

mod common;

use common::*;
use serde_json::json;
use souk_domain::{ConversationEvent, MessageContent, MessageText, Role, Timestamp};
use souk_projections::{HistoryQuery, ListQuery, MessagePage, ProjectionError};

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

#[tokio::test]
async fn a_conversation_is_seen_by_its_two_participants_only() {
    let mut w = World::new().await;
    let id = w
        .start(
            ("c-1", Some("Alice")),
            ("v-1", Some("Bolt Bikes")),
            Some(product("p-1", "Red bike")),
        )
        .await;
    w.sync().await;
    let p = &w.projections;

    let view = p
        .conversation(id, &user("c-1"), Role::Customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.customer.name, "Alice");
    assert_eq!(view.vendor.name, "Bolt Bikes");
    assert_eq!(view.product.as_ref().unwrap().name, "Red bike");
    assert_eq!(view.last_message, None);
    assert_eq!(view.unread_count, 0);
    assert_eq!(view.created_at, at(T0));
    assert_eq!(view.updated_at, at(T0));
    // The customer opened it; the vendor has not acted yet.
    assert_eq!(view.customer.last_active_at, Some(at(T0)));
    assert_eq!(view.vendor.last_active_at, None);

    assert!(p
        .conversation(id, &user("v-1"), Role::Vendor)
        .await
        .unwrap()
        .is_some());
    for (who, role) in [
        ("v-1", Role::Customer),
        ("c-1", Role::Vendor),
        ("c-2", Role::Customer),
    ] {
        assert!(
            p.conversation(id, &user(who), role)
                .await
                .unwrap()
                .is_none(),
            "{who} as {role}"
        );
    }
}

#[tokio::test]
async fn views_serialize_as_the_wire_objects() {
    let mut w = World::new().await;
    let id = w
        .start(
            ("c-1", Some("Alice")),
            ("v-1", None),
            Some(product("p-1", "Red bike")),
        )
        .await;
    let m = w.send(id, Role::Customer, "Is it still available?").await;
    w.sync().await;
    let view = w
        .projections
        .conversation(id, &user("v-1"), Role::Vendor)
        .await
        .unwrap()
        .unwrap();
    let sent = "2026-11-18T11:06:41.000Z";
    assert_eq!(
        serde_json::to_value(&view).unwrap(),
        json!({
            "id": id.to_string(),
            "customer": { "id": "c-1", "name": "Alice", "online": false },
            // No name was ever recorded: the id stands in.
            "vendor": { "id": "v-1", "name": "v-1", "online": false },
            "product": { "id": "p-1", "name": "Red bike", "priceMinor": 49999,
                         "currency": "EUR", "imageUrl": null, "url": null },
            // Not asked about another product: the one it started from.
            "currentProduct": { "id": "p-1", "name": "Red bike", "priceMinor": 49999,
                         "currency": "EUR", "imageUrl": null, "url": null },
            "lastMessage": {
                "id": m.to_string(),
                "conversationId": id.to_string(),
                "seq": 1,
                "sender": { "id": "c-1", "role": "customer" },
                "kind": "text",
                "text": "Is it still available?",
                "product": null,
                "clientMessageId": null,
                "sentAt": sent,
                "readAt": null
            },
            "unreadCount": 1,
            "createdAt": "2026-11-18T11:06:40.000Z",
            "updatedAt": sent
        })
    );
}

#[tokio::test]
async fn the_latest_recorded_name_wins() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", Some("Bolt")), None).await;
    let alice = actor("c-1", Role::Customer, Some("Alice"));
    w.send_as(
        id,
        alice,
        MessageContent::Text(MessageText::parse("hi").unwrap()),
    )
    .await;
    let renamed = actor("v-1", Role::Vendor, Some("Bolt Bikes GmbH"));
    let at_read = w.now;
    w.exec(
        id,
        souk_domain::Command::MarkAllRead {
            by: renamed,
            at: Timestamp::from_millis(at_read),
        },
    )
    .await;
    w.sync().await;
    let view = w
        .projections
        .conversation(id, &user("c-1"), Role::Customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.customer.name, "Alice");
    assert_eq!(view.vendor.name, "Bolt Bikes GmbH");
    assert_eq!(view.vendor.last_active_at, Some(at(at_read)));
    // The new names are searchable, the old one no longer.
    let find = |q: &str| ListQuery {
        search: Some(q.into()),
        ..ListQuery::default()
    };
    let p = &w.projections;
    let hits = p
        .conversations(&user("c-1"), Role::Customer, find("gmbh"))
        .await
        .unwrap();
    assert_eq!(hits.conversations.len(), 1);
    let hits = p
        .conversations(&user("v-1"), Role::Vendor, find("alice"))
        .await
        .unwrap();
    assert_eq!(hits.conversations.len(), 1);
    let hits = p
        .conversations(&user("v-1"), Role::Vendor, find("c-1"))
        .await
        .unwrap();
    assert_eq!(hits.conversations.len(), 0);
}

#[tokio::test]
async fn lists_page_newest_first_with_a_cursor() {
    let mut w = World::new().await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            w.start((&format!("c-{i}"), None), ("v-1", None), None)
                .await,
        );
    }
    // Two conversations with the same activity time: the id breaks the tie.
    w.now += 10_000;
    let tie = w.now;
    w.send(ids[2], Role::Customer, "first").await;
    w.now = tie;
    w.send(ids[5], Role::Customer, "second").await;
    w.send(ids[0], Role::Vendor, "latest").await;
    w.sync().await;

    let mut expected = vec![ids[0]];
    let mut tied = vec![ids[2], ids[5]];
    tied.sort_by(|a, b| b.cmp(a));
    expected.extend(tied);
    for i in [6, 4, 3, 1] {
        expected.push(ids[i]);
    }

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = w
            .projections
            .conversations(
                &user("v-1"),
                Role::Vendor,
                ListQuery {
                    search: None,
                    limit: 3,
                    cursor,
                },
            )
            .await
            .unwrap();
        pages += 1;
        assert!(page.conversations.len() <= 3);
        assert_eq!(page.total_unread, 2);
        seen.extend(page.conversations.iter().map(|c| c.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    // Each customer sees only their own.
    let mine = w
        .projections
        .conversations(&user("c-2"), Role::Customer, ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        mine.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
    assert_eq!(mine.next_cursor, None);
    assert_eq!(mine.total_unread, 0);
}

#[tokio::test]
async fn a_cursor_that_is_not_ours_is_refused() {
    let w = World::new().await;
    for bad in ["nope", "zz", "3a3a", "0"] {
        let r = w
            .projections
            .conversations(
                &user("v-1"),
                Role::Vendor,
                ListQuery {
                    cursor: Some(bad.into()),
                    ..ListQuery::default()
                },
            )
            .await;
        assert!(
            matches!(r, Err(ProjectionError::InvalidCursor)),
            "{bad}: {r:?}"
        );
    }
    // An empty cursor is the first page.
    let r = w
        .projections
        .conversations(
            &user("v-1"),
            Role::Vendor,
            ListQuery {
                cursor: Some(String::new()),
                ..ListQuery::default()
            },
        )
        .await;
    assert!(r.is_ok());
}

fn seqs(page: &MessagePage) -> Vec<u64> {
    page.messages.iter().map(|m| m.seq).collect()
}

#[tokio::test]
async fn history_pages_both_ways() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    let mut ids = Vec::new();
    for i in 1..=10 {
        let role = if i % 2 == 0 {
            Role::Vendor
        } else {
            Role::Customer
        };
        ids.push(w.send(id, role, &format!("message {i}")).await);
    }
    w.sync().await;
    let page = |before: Option<u64>, after: Option<u64>, limit: usize| {
        let p = w.projections.clone();
        async move {
            let page = p
                .messages(
                    id,
                    HistoryQuery {
                        before,
                        after,
                        limit,
                    },
                )
                .await
                .unwrap();
            (seqs(&page), page.has_more)
        }
    };
    assert_eq!(page(None, None, 3).await, (vec![8, 9, 10], true));
    assert_eq!(page(None, None, 10).await, ((1..=10).collect(), false));
    assert_eq!(page(None, None, 500).await, ((1..=10).collect(), false));
    assert_eq!(page(Some(8), None, 3).await, (vec![5, 6, 7], true));
    assert_eq!(page(Some(4), None, 3).await, (vec![1, 2, 3], false));
    assert_eq!(page(Some(3), None, 5).await, (vec![1, 2], false));
    assert_eq!(page(Some(1), None, 5).await, (vec![], false));
    assert_eq!(page(None, Some(7), 3).await, (vec![8, 9, 10], false));
    assert_eq!(page(None, Some(2), 3).await, (vec![3, 4, 5], true));
    assert_eq!(page(None, Some(10), 3).await, (vec![], false));
    assert_eq!(page(Some(9), Some(2), 3).await, (vec![3, 4, 5], true));
    assert_eq!(page(Some(6), Some(2), 3).await, (vec![3, 4, 5], false));
    assert_eq!(page(Some(3), Some(2), 3).await, (vec![], false));
    assert_eq!(page(None, None, 0).await, (vec![10], true));

    let full = w
        .projections
        .messages(id, HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!(full.messages[3].text.as_deref(), Some("message 4"));
    assert_eq!(full.messages[3].sender.role, Role::Vendor);
    assert_eq!(full.messages[3].id, ids[3]);

    let by_id = w.projections.message(ids[3]).await.unwrap().unwrap();
    assert_eq!(by_id, full.messages[3]);
    let by_seq = w.projections.message_by_seq(id, 4).await.unwrap().unwrap();
    assert_eq!(by_seq, by_id);
    assert!(w
        .projections
        .message_by_seq(id, 11)
        .await
        .unwrap()
        .is_none());
    assert!(w
        .projections
        .message(souk_domain::MessageId::new())
        .await
        .unwrap()
        .is_none());
    let other = souk_domain::ConversationId::for_pair(&user("x"), &user("y"));
    let empty = w
        .projections
        .messages(other, HistoryQuery::default())
        .await
        .unwrap();
    assert_eq!((seqs(&empty), empty.has_more), (vec![], false));
}

#[tokio::test]
async fn read_at_is_when_the_recipients_marker_first_covered_it() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    let m1 = w.send(id, Role::Customer, "one").await;
    let m2 = w.send(id, Role::Customer, "two").await;
    let m3 = w.send(id, Role::Customer, "three").await;
    let v4 = w.send(id, Role::Vendor, "four").await;
    let first_read = w.now;
    w.read(id, Role::Vendor, m2).await;
    let customer_read = w.now;
    w.read_all(id, Role::Customer).await;
    let all_read = w.now;
    w.read_all(id, Role::Vendor).await;
    w.sync().await;

    let read_at = |m| {
        let p = w.projections.clone();
        async move { p.message(m).await.unwrap().unwrap().read_at }
    };
    assert_eq!(read_at(m1).await, Some(at(first_read)));
    assert_eq!(read_at(m2).await, Some(at(first_read)));
    assert_eq!(read_at(m3).await, Some(at(all_read)));
    assert_eq!(read_at(v4).await, Some(at(customer_read)));
    // The last message in the list carries its read time too.
    let view = w
        .projections
        .conversation(id, &user("c-1"), Role::Customer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.last_message.unwrap().read_at, Some(at(customer_read)));
}

#[tokio::test]
async fn unread_counts_per_conversation_and_inbox() {
    let mut w = World::new().await;
    let a = w.start(("c-1", None), ("v-1", None), None).await;
    let b = w.start(("c-2", None), ("v-1", None), None).await;
    // "u" is a customer of v-1 and a vendor to c-1: two separate inboxes.
    let u_customer = w.start(("u", None), ("v-1", None), None).await;
    let u_vendor = w.start(("c-1", None), ("u", None), None).await;

    w.send(a, Role::Customer, "a1").await;
    let a2 = w.send(a, Role::Customer, "a2").await;
    w.send(a, Role::Customer, "a3").await;
    w.send(b, Role::Customer, "b1").await;
    w.send(a, Role::Vendor, "reply").await;
    w.send(u_customer, Role::Vendor, "to u as customer").await;
    w.send(u_vendor, Role::Customer, "to u as vendor 1").await;
    w.send(u_vendor, Role::Customer, "to u as vendor 2").await;
    w.read(a, Role::Vendor, a2).await;
    w.sync().await;
    let p = &w.projections;

    let v1 = p.unread(&user("v-1"), Role::Vendor).await.unwrap();
    assert_eq!(v1.total, 2);
    assert_eq!(
        v1.conversations,
        [(a.to_string(), 1), (b.to_string(), 1)]
            .into_iter()
            .collect()
    );
    let c1 = p.unread(&user("c-1"), Role::Customer).await.unwrap();
    assert_eq!(c1.total, 1);
    assert_eq!(c1.conversations, [(a.to_string(), 1)].into_iter().collect());
    assert_eq!(p.unread(&user("u"), Role::Customer).await.unwrap().total, 1);
    assert_eq!(p.unread(&user("u"), Role::Vendor).await.unwrap().total, 2);
    assert_eq!(
        p.unread(&user("c-2"), Role::Customer).await.unwrap().total,
        0
    );
    let nobody = p.unread(&user("nobody"), Role::Customer).await.unwrap();
    assert_eq!((nobody.total, nobody.conversations.len()), (0, 0));
    let view = p
        .conversation(a, &user("v-1"), Role::Vendor)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.unread_count, 1);

    // Reading everything empties the inbox; it never goes below zero.
    w.read_all(a, Role::Vendor).await;
    w.read_all(b, Role::Vendor).await;
    w.read_all(b, Role::Vendor).await;
    w.sync().await;
    let v1 = w
        .projections
        .unread(&user("v-1"), Role::Vendor)
        .await
        .unwrap();
    assert_eq!((v1.total, v1.conversations.len()), (0, 0));

    // Counterparts, per side.
    let p = &w.projections;
    assert_eq!(
        p.counterparts(&user("v-1"), Role::Vendor).await.unwrap(),
        vec![user("c-1"), user("c-2"), user("u")]
    );
    assert_eq!(
        p.counterparts(&user("u"), Role::Customer).await.unwrap(),
        vec![user("v-1")]
    );
    assert_eq!(
        p.counterparts(&user("u"), Role::Vendor).await.unwrap(),
        vec![user("c-1")]
    );
    assert!(p
        .counterparts(&user("nobody"), Role::Vendor)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn notifications_carry_the_figures_the_queries_answer() {
    let mut w = World::new().await;
    let mut rx = w.projections.subscribe();
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    let other = w.start(("c-2", None), ("v-1", None), None).await;
    w.send(other, Role::Customer, "elsewhere").await;
    let mut expected_kinds = vec!["ConversationStarted", "ConversationStarted", "MessageSent"];
    let mut received = Vec::new();
    let mut script: Vec<(Role, &str)> = Vec::new();
    for (role, what) in [
        (Role::Customer, "send"),
        (Role::Customer, "typing"),
        (Role::Customer, "send"),
        (Role::Vendor, "read"),
        (Role::Vendor, "send"),
        (Role::Customer, "send"),
    ] {
        script.push((role, what));
    }
    for (role, what) in script {
        match what {
            "send" => {
                if w.states[&id].typing[role.index()] {
                    expected_kinds.push("TypingStopped");
                }
                w.send(id, role, "hello").await;
                expected_kinds.push("MessageSent");
            }
            "typing" => {
                w.typing(id, role, true).await;
                expected_kinds.push("TypingStarted");
            }
            _ => {
                w.read_all(id, role).await;
                expected_kinds.push("MessageRead");
            }
        }
        // After each step, the last notification agrees with the queries.
        let end = w.sync().await;
        let mut last = None;
        while let Ok(n) = rx.try_recv() {
            check_notification(&w.store, &n);
            received.push(n.clone());
            last = Some(n);
        }
        let n = last.expect("a notification per event");
        assert_eq!(n.position, end);
        let p = &w.projections;
        let customer = p
            .conversation(id, &user("c-1"), Role::Customer)
            .await
            .unwrap()
            .unwrap();
        let vendor = p
            .conversation(id, &user("v-1"), Role::Vendor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n.unread, [customer.unread_count, vendor.unread_count]);
        assert_eq!(
            n.total_unread,
            [
                p.unread(&user("c-1"), Role::Customer).await.unwrap().total,
                p.unread(&user("v-1"), Role::Vendor).await.unwrap().total,
            ]
        );
        if let ConversationEvent::MessageSent(e) = &n.event {
            let m = n.message.as_ref().unwrap();
            assert_eq!(m.seq, e.seq);
            assert_eq!(Some(m), p.message_by_seq(id, e.seq).await.unwrap().as_ref());
        } else {
            assert!(n.message.is_none());
        }
    }
    // One notification per event, in log order, typing included.
    let positions: Vec<u64> = received.iter().map(|n| n.position).collect();
    assert_eq!(positions, (1..=w.sync().await).collect::<Vec<_>>());
    let kinds: Vec<&str> = received.iter().map(|n| n.event.event_type()).collect();
    assert_eq!(kinds, expected_kinds);
}

#[tokio::test]
async fn what_a_notification_announced_can_be_read_at_once() {
    let mut w = World::new().await;
    let mut rx = w.projections.subscribe();
    let id = w.start(("c-1", None), ("v-1", None), None).await;
    for i in 0..20 {
        w.send(id, Role::Customer, &format!("message {i}")).await;
        // No sync: the notification comes before the read models commit
        // (they write behind), and a query still finds what it announced.
        let n = loop {
            let n = rx.recv().await.unwrap();
            if matches!(n.event, ConversationEvent::MessageSent(_)) {
                break n;
            }
        };
        let seq = n.message.as_ref().unwrap().seq;
        let found = w.projections.message_by_seq(id, seq).await.unwrap();
        assert_eq!(found.as_ref(), n.message.as_ref());
        let vendor = w
            .projections
            .conversation(id, &user("v-1"), Role::Vendor)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(vendor.unread_count, n.unread[Role::Vendor.index()]);
        assert!(w.projections.position() >= n.position);
    }
}
