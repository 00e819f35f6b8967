//! Search: what a term finds (short words, numbers, punctuation, prefixes,
//! accents, names, products, message text), who finds it, the order of the
//! answer, its `match`, and its pages.

mod common;

use common::*;
use souk_domain::{Command, ConversationId, MessageId, Role, Timestamp};
use souk_projections::{ConversationPage, ListQuery};

async fn page(
    w: &World,
    viewer: &str,
    role: Role,
    q: &str,
    limit: usize,
    cursor: Option<String>,
) -> ConversationPage {
    w.projections
        .conversations(
            &user(viewer),
            role,
            ListQuery {
                search: Some(q.into()),
                limit,
                cursor,
            },
        )
        .await
        .unwrap()
}

/// The conversations found, in the answer's order.
async fn found(w: &World, viewer: &str, role: Role, q: &str) -> Vec<ConversationId> {
    page(w, viewer, role, q, 100, None)
        .await
        .conversations
        .into_iter()
        .map(|c| c.id)
        .collect()
}

fn sorted(mut v: Vec<ConversationId>) -> Vec<ConversationId> {
    v.sort();
    v
}

#[tokio::test]
async fn names_products_and_text_are_found_by_the_start_of_their_words() {
    let mut w = World::new().await;
    let vendor = ("v-1", Some("Bolt Bikes"));
    let a = w
        .start(
            ("c-a", Some("Alice")),
            vendor,
            Some(product("p-1", "Red bike")),
        )
        .await;
    let b = w.start(("c-b", Some("Bob")), vendor, None).await;
    w.send(b, Role::Customer, "Ist Größe XL verfügbar?").await;
    let c = w.start(("c-c", Some("Carol")), vendor, None).await;
    w.send_product(
        c,
        Role::Vendor,
        product("p-9", "Blue Helmet"),
        Some("look at this"),
    )
    .await;
    let d = w.start(("c-d", Some("Ümit")), vendor, None).await;
    w.send(d, Role::Customer, "自転車はありますか").await;
    w.sync().await;

    let v = Role::Vendor;
    let s = |q: &'static str| {
        let w = &w;
        async move { sorted(found(w, "v-1", v, q).await) }
    };
    // The other participant's name, any case, any accent, from its start.
    assert_eq!(s("alice").await, vec![a]);
    assert_eq!(s("AL").await, vec![a]);
    assert_eq!(s("umit").await, vec![d]);
    assert_eq!(s("ÜMIT").await, vec![d]);
    // Not from the middle of a word.
    assert!(s("lice").await.is_empty());
    // The conversation's product; a product message's product and caption.
    assert_eq!(s("red bi").await, vec![a]);
    assert_eq!(s("helmet").await, vec![c]);
    assert_eq!(s("LOOK").await, vec![c]);
    // Message text, non-Latin too, with Unicode case folding.
    assert_eq!(s("GRÖßE").await, vec![b]);
    assert_eq!(s("verfugbar").await, vec![b]);
    assert_eq!(s("自転車").await, vec![d]);
    // Short terms reach message text.
    assert_eq!(s("xl").await, vec![b]);
    assert_eq!(s("X").await, vec![b]);
    // Every term must match: in the head or in one message.
    assert_eq!(s("alice red").await, vec![a]);
    assert!(s("alice helmet").await.is_empty());
    assert_eq!(s("carol blue").await, vec![c]);
    // Your own name is not a match; the other side's is.
    assert!(s("bolt").await.is_empty());
    assert_eq!(
        sorted(found(&w, "c-a", Role::Customer, "bolt").await),
        vec![a]
    );
    assert!(found(&w, "c-a", Role::Customer, "alice").await.is_empty());
    assert!(found(&w, "c-a", Role::Customer, "helmet").await.is_empty());
    // FTS5 syntax is just text; punctuation alone finds nothing.
    assert!(s("\"a* OR NEAR(b").await.is_empty());
    assert!(s("#").await.is_empty());
    // Blank is no filter.
    assert_eq!(s("   ").await, sorted(vec![a, b, c, d]));
}

#[tokio::test]
async fn numbers_short_words_punctuation_and_accents_in_messages() {
    let mut w = World::new().await;
    let vendor = ("v-1", Some("Bolt Bikes"));
    let a = w.start(("c-a", Some("Alice")), vendor, None).await;
    let frame = w.send(a, Role::Customer, "Is the frame 54 cm?").await;
    let b = w.start(("c-b", Some("Bob")), vendor, None).await;
    let reply = w.send(b, Role::Vendor, "Vendor reply #7").await;
    let c = w.start(("c-c", Some("Carol")), vendor, None).await;
    let cafe = w.send(c, Role::Customer, "Meet at the Café, size L").await;
    w.send(c, Role::Customer, "or at the bike shop").await;
    w.sync().await;

    let v = Role::Vendor;
    let s = |q: &'static str| {
        let w = &w;
        async move { found(w, "v-1", v, q).await }
    };
    assert_eq!(s("54").await, vec![a]);
    assert_eq!(s("5").await, vec![a]);
    assert_eq!(s("cm").await, vec![a]);
    assert_eq!(s("54 cm").await, vec![a]);
    assert_eq!(s("#7").await, vec![b]);
    assert_eq!(s("reply #7").await, vec![b]);
    assert_eq!(s("L").await, vec![c]);
    assert_eq!(s("cafe").await, vec![c]);
    assert_eq!(s("CAFÉ").await, vec![c]);
    assert_eq!(s("bik").await, vec![c]);
    assert!(s("54 reply").await.is_empty());
    assert!(s("8").await.is_empty());

    // The match is the message that holds the terms.
    let m = |p: ConversationPage| {
        p.conversations
            .into_iter()
            .map(|c| c.search_match.map(|m| (m.message_id, m.seq, m.text)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        m(page(&w, "v-1", v, "54", 20, None).await),
        vec![Some((frame, 1, "Is the frame 54 cm?".to_owned()))]
    );
    assert_eq!(
        m(page(&w, "v-1", v, "#7", 20, None).await),
        vec![Some((reply, 1, "Vendor reply #7".to_owned()))]
    );
    assert_eq!(
        m(page(&w, "v-1", v, "cafe", 20, None).await),
        vec![Some((cafe, 1, "Meet at the Café, size L".to_owned()))]
    );
    // On the wire as `match`.
    let json =
        serde_json::to_value(&page(&w, "v-1", v, "#7", 20, None).await.conversations[0]).unwrap();
    assert_eq!(json["match"]["messageId"], reply.to_string());
    assert_eq!(json["match"]["seq"], 1);
    assert_eq!(json["match"]["text"], "Vendor reply #7");
    // Outside a search, no `match`.
    let all = w
        .projections
        .conversations(&user("v-1"), v, ListQuery::default())
        .await
        .unwrap();
    assert!(all.conversations.iter().all(|c| c.search_match.is_none()));
    let json = serde_json::to_value(&all.conversations[0]).unwrap();
    assert!(json.get("match").is_none());
}

#[tokio::test]
async fn newest_match_first_and_the_newest_matching_message() {
    let mut w = World::new().await;
    let vendor = ("v-1", Some("Bolt Bikes"));
    let a = w.start(("c-a", Some("Alice")), vendor, None).await;
    let b = w.start(("c-b", Some("Bob")), vendor, None).await;
    let c = w.start(("c-c", Some("Carol")), vendor, None).await;
    // a says "bike" first, then b, then c; then a talks about other things,
    // so a has the newest activity but the oldest match.
    w.send(a, Role::Customer, "a bike?").await;
    w.send(b, Role::Customer, "my bike").await;
    let c_old = w.send(c, Role::Customer, "bikes here").await;
    let c_new = w.send(c, Role::Vendor, "the bike is ready").await;
    w.send(c, Role::Vendor, "anything else?").await;
    w.send(a, Role::Customer, "hello again").await;
    w.sync().await;

    let v = Role::Vendor;
    assert_eq!(found(&w, "v-1", v, "bike").await, vec![c, b, a]);
    let p = page(&w, "v-1", v, "bike", 20, None).await;
    let matched: Vec<Option<u64>> = p
        .conversations
        .iter()
        .map(|c| c.search_match.as_ref().map(|m| m.seq))
        .collect();
    assert_eq!(matched, vec![Some(2), Some(1), Some(1)]);
    let newest: MessageId = p.conversations[0].search_match.as_ref().unwrap().message_id;
    assert_eq!(newest, c_new);
    assert_ne!(newest, c_old);
    // The list without a search keeps newest activity first.
    let all: Vec<_> = w
        .projections
        .conversations(&user("v-1"), v, ListQuery::default())
        .await
        .unwrap()
        .conversations
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, vec![a, c, b]);

    // Pages follow the same order, without repeats or gaps.
    let first = page(&w, "v-1", v, "bike", 2, None).await;
    let ids: Vec<_> = first.conversations.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![c, b]);
    let second = page(&w, "v-1", v, "bike", 2, first.next_cursor.clone()).await;
    let ids: Vec<_> = second.conversations.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![a]);
    assert_eq!(second.next_cursor, None);

    // A head match (the name) ranks by last activity and has no match.
    let named = page(&w, "v-1", v, "alice", 20, None).await;
    assert_eq!(named.conversations.len(), 1);
    assert_eq!(named.conversations[0].id, a);
    assert_eq!(named.conversations[0].search_match, None);
    // Head and message together: "bob" in the name, "my" in a message.
    let mixed = page(&w, "v-1", v, "bob my", 20, None).await;
    assert_eq!(mixed.conversations.len(), 1);
    assert_eq!(mixed.conversations[0].id, b);
    assert_eq!(
        mixed.conversations[0].search_match.as_ref().map(|m| m.seq),
        Some(1)
    );
    assert!(found(&w, "v-1", v, "bob ready").await.is_empty());
}

#[tokio::test]
async fn another_customer_never_finds_a_conversation_that_is_not_theirs() {
    let mut w = World::new().await;
    let a = w
        .start(
            ("c-a", Some("Alice")),
            ("v-1", Some("Bolt Bikes")),
            Some(product("p-1", "Red bike")),
        )
        .await;
    w.send(a, Role::Customer, "Is 54 cm in stock? reply #7")
        .await;
    let other = w
        .start(("c-z", Some("Zoe")), ("v-2", Some("Other Shop")), None)
        .await;
    w.send(other, Role::Customer, "hello").await;
    w.sync().await;
    for q in ["54", "cm", "#7", "red", "bike", "alice", "bolt", "in"] {
        assert!(
            found(&w, "c-z", Role::Customer, q).await.is_empty(),
            "{q} found a stranger's conversation"
        );
        assert!(found(&w, "v-2", Role::Vendor, q).await.is_empty(), "{q}");
    }
    // The customer's own vendor finds it; the customer does too.
    assert_eq!(found(&w, "v-1", Role::Vendor, "54").await, vec![a]);
    assert_eq!(found(&w, "c-a", Role::Customer, "#7").await, vec![a]);
    assert_eq!(found(&w, "c-z", Role::Customer, "hel").await, vec![other]);
}

#[tokio::test]
async fn a_renamed_participant_is_found_by_the_new_name_only() {
    let mut w = World::new().await;
    let id = w.start(("c-1", None), ("v-1", Some("Bolt")), None).await;
    w.send_as(
        id,
        actor("c-1", Role::Customer, Some("Alice")),
        souk_domain::MessageContent::Text(souk_domain::MessageText::parse("hi").unwrap()),
    )
    .await;
    w.sync().await;
    assert_eq!(found(&w, "v-1", Role::Vendor, "ali").await, vec![id]);
    assert!(found(&w, "v-1", Role::Vendor, "c").await.is_empty());
}

#[tokio::test]
async fn head_matches_page_by_last_activity_past_many_matching_messages() {
    let mut w = World::new().await;
    let vendor = ("v-1", Some("Bolt Bikes"));
    let mut ids = Vec::new();
    for c in ["c-a", "c-b", "c-c"] {
        let id = w
            .start((c, Some(c)), vendor, Some(product("p-1", "Red bike")))
            .await;
        ids.push(id);
    }
    // Many messages that also say "bike", in every conversation, the
    // first conversation's last.
    for round in 0..20 {
        for id in ids.iter().rev() {
            w.send(*id, Role::Customer, &format!("bike question {round}"))
                .await;
        }
    }
    w.sync().await;
    let v = Role::Vendor;
    // Every head holds "bike": newest activity first, no `match`.
    let first = page(&w, "v-1", v, "bike", 2, None).await;
    let got: Vec<_> = first.conversations.iter().map(|c| c.id).collect();
    assert_eq!(got, vec![ids[0], ids[1]]);
    assert!(first.conversations.iter().all(|c| c.search_match.is_none()));
    let second = page(&w, "v-1", v, "bike", 2, first.next_cursor.clone()).await;
    let got: Vec<_> = second.conversations.iter().map(|c| c.id).collect();
    assert_eq!(got, vec![ids[2]]);
    assert_eq!(second.next_cursor, None);
    // A term only the messages hold: newest match first, with the match.
    let q = page(&w, "v-1", v, "question 19", 2, None).await;
    let got: Vec<_> = q.conversations.iter().map(|c| c.id).collect();
    assert_eq!(got, vec![ids[0], ids[1]]);
    assert_eq!(
        q.conversations[0].search_match.as_ref().map(|m| m.seq),
        Some(20)
    );
}

#[tokio::test]
async fn the_product_now_discussed_is_found_by_its_name_as_the_first_one_is() {
    let mut w = World::new().await;
    let id = w
        .start(
            ("c-a", Some("Alice")),
            ("v-1", Some("Bolt Bikes")),
            Some(product("p-1", "Red city bike")),
        )
        .await;
    let other = w.start(("c-b", Some("Bob")), ("v-1", None), None).await;
    w.send(other, Role::Customer, "hello").await;
    assert!(found(&w, "c-a", Role::Customer, "helmet").await.is_empty());
    for (pid, name) in [("p-2", "Commuter helmet"), ("p-3", "Kids trailer")] {
        let by = w.side(id, Role::Customer);
        let at = Timestamp::from_millis(w.now);
        w.exec(
            id,
            Command::ChangeCurrentProduct {
                by,
                product: product(pid, name),
                at,
            },
        )
        .await;
    }
    w.sync().await;
    for (who, role) in [("c-a", Role::Customer), ("v-1", Role::Vendor)] {
        // The one now discussed, and the one it started from.
        assert_eq!(found(&w, who, role, "trailer").await, vec![id], "{who}");
        assert_eq!(found(&w, who, role, "city").await, vec![id], "{who}");
        // One asked about in between is no longer the conversation's.
        assert!(found(&w, who, role, "helmet").await.is_empty(), "{who}");
    }
    assert!(found(&w, "c-b", Role::Customer, "trailer").await.is_empty());
}
