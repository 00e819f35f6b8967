//! Vendor analytics on a hand-made history whose answers are worked out by
//! hand in the comments.

mod common;

use common::*;
use serde_json::json;
use souk_domain::{ConversationId, Role, Timestamp};

/// `byHour` as JSON: all 24 hours, zero but for `(hour, received, sent)`.
fn by_hour(nonzero: &[(u8, u64, u64)]) -> serde_json::Value {
    (0u8..24)
        .map(|hour| {
            let (received, sent) = nonzero
                .iter()
                .find(|h| h.0 == hour)
                .map_or((0, 0), |h| (h.1, h.2));
            json!({ "hour": hour, "messagesReceived": received, "messagesSent": sent })
        })
        .collect()
}

fn t(s: &str) -> i64 {
    Timestamp::parse(s).unwrap().millis()
}

/// Sets the time of the next command.
fn at(w: &mut World, s: &str) {
    w.now = t(s);
}

/// The history (vendor v-1 unless said otherwise), window 11-10 .. 11-13:
///
/// - A: started 11-09 23:00 (p-1), customer 11-09 23:30, vendor 11-10 01:00.
/// - B: started 11-10 10:00 (p-1 "Red bike (2026)"), customer 10:01, vendor
///   10:03 (first response 120 s), customer 10:05, vendor 10:06; the vendor
///   reads it all at 10:07.
/// - C: started 11-11 09:00 (p-2 "Helmet"), customer 09:00, vendor 09:10
///   (600 s).
/// - D: started 11-12 12:00 (p-2), customer 12:00, no answer.
/// - E: started 11-12 20:00 (no product), vendor 20:00 first, customer 20:30,
///   vendor 21:00 (1800 s from the first customer message).
/// - F: started 11-13 00:00 (p-3, at the window's end: outside), customer
///   then.
/// - H: started 11-11 15:00 (p-3 "Lamp"), no message.
/// - G: vendor v-2, customer message 11-11 12:00: never counted for v-1.
async fn history() -> (World, [ConversationId; 3]) {
    let mut w = World::new().await;
    let v = ("v-1", Some("Bolt"));

    at(&mut w, "2026-11-09T23:00:00Z");
    let a = w
        .start(("c-a", None), v, Some(product("p-1", "Red bike")))
        .await;
    at(&mut w, "2026-11-09T23:30:00Z");
    w.send(a, Role::Customer, "hello").await;
    at(&mut w, "2026-11-10T01:00:00Z");
    w.send(a, Role::Vendor, "hi").await;

    at(&mut w, "2026-11-10T10:00:00Z");
    let b = w
        .start(("c-b", None), v, Some(product("p-1", "Red bike (2026)")))
        .await;
    at(&mut w, "2026-11-10T10:01:00Z");
    w.send(b, Role::Customer, "is it available?").await;
    at(&mut w, "2026-11-10T10:03:00Z");
    w.send(b, Role::Vendor, "yes").await;
    at(&mut w, "2026-11-10T10:05:00Z");
    w.send(b, Role::Customer, "great").await;
    at(&mut w, "2026-11-10T10:06:00Z");
    w.send(b, Role::Vendor, "anything else?").await;
    at(&mut w, "2026-11-10T10:07:00Z");
    w.read_all(b, Role::Vendor).await;

    at(&mut w, "2026-11-11T09:00:00Z");
    let c = w
        .start(("c-c", None), v, Some(product("p-2", "Helmet")))
        .await;
    w.now = t("2026-11-11T09:00:00Z");
    w.send(c, Role::Customer, "size?").await;
    at(&mut w, "2026-11-11T09:10:00Z");
    w.send(c, Role::Vendor, "M").await;

    at(&mut w, "2026-11-12T12:00:00Z");
    let d = w
        .start(("c-d", None), v, Some(product("p-2", "Helmet")))
        .await;
    at(&mut w, "2026-11-12T12:00:00Z");
    w.send(d, Role::Customer, "price?").await;

    at(&mut w, "2026-11-12T20:00:00Z");
    let e = w.start(("c-e", None), v, None).await;
    at(&mut w, "2026-11-12T20:00:00Z");
    w.send(e, Role::Vendor, "welcome").await;
    at(&mut w, "2026-11-12T20:30:00Z");
    w.send(e, Role::Customer, "thanks").await;
    at(&mut w, "2026-11-12T21:00:00Z");
    w.send(e, Role::Vendor, "you're welcome").await;

    at(&mut w, "2026-11-13T00:00:00Z");
    let f = w
        .start(("c-f", None), v, Some(product("p-3", "Lamp")))
        .await;
    at(&mut w, "2026-11-13T00:00:00Z");
    w.send(f, Role::Customer, "too late").await;

    at(&mut w, "2026-11-11T15:00:00Z");
    w.start(("c-h", None), v, Some(product("p-3", "Lamp")))
        .await;

    at(&mut w, "2026-11-11T12:00:00Z");
    let g = w
        .start(("c-g", None), ("v-2", None), Some(product("p-2", "Helmet")))
        .await;
    w.send(g, Role::Customer, "other vendor").await;

    w.sync().await;
    (w, [a, b, c])
}

#[tokio::test]
async fn analytics_over_a_window() {
    let (w, _) = history().await;
    let from = Timestamp::parse("2026-11-10T00:00:00Z").unwrap();
    let to = Timestamp::parse("2026-11-13T00:00:00Z").unwrap();
    let figures = w
        .projections
        .analytics(&user("v-1"), from, to)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&figures).unwrap(),
        json!({
            // A, B, C, D, E have a message in the window; F's is at `to`.
            "conversations": 5,
            // B, C, D, E, H.
            "newConversations": 5,
            // B 2, C 1, D 1, E 1.
            "messagesReceived": 5,
            // A 1, B 2, C 1, E 2.
            "messagesSent": 6,
            // Unread now: A 1, C 1, D 1, E 1, F 1 (B was read).
            "unreadBacklog": 5,
            // Samples 120, 600, 1800: ranks ceil(1.5) = 2 and ceil(2.7) = 3.
            "firstResponseSeconds": { "p50": 600.0, "p90": 1800.0 },
            "byDay": [
                { "date": "2026-11-10", "messagesReceived": 2, "messagesSent": 3 },
                { "date": "2026-11-11", "messagesReceived": 1, "messagesSent": 1 },
                { "date": "2026-11-12", "messagesReceived": 2, "messagesSent": 2 },
            ],
            // UTC hours: A's 01:00 reply (its 23:30 question is before the
            // window); C 09:00, 09:10; B 10:01 to 10:06; D 12:00; E 20:00,
            // 20:30, 21:00. The hours add up to the totals above.
            "byHour": by_hour(&[
                (1, 0, 1),
                (9, 1, 1),
                (10, 2, 2),
                (12, 1, 0),
                (20, 1, 1),
                (21, 0, 1),
            ]),
            // p-2: C, D; p-1: B (A started before); p-3: H (F at `to`).
            "topProducts": [
                { "productId": "p-2", "name": "Helmet", "conversations": 2 },
                { "productId": "p-1", "name": "Red bike (2026)", "conversations": 1 },
                { "productId": "p-3", "name": "Lamp", "conversations": 1 },
            ],
        })
    );
}

#[tokio::test]
async fn analytics_of_narrow_and_empty_windows() {
    let (w, _) = history().await;
    let p = &w.projections;
    let ts = |s: &str| Timestamp::parse(s).unwrap();

    // Only B's 10:03 reply; its first customer message is before the window.
    let narrow = p
        .analytics(
            &user("v-1"),
            ts("2026-11-10T10:02:00Z"),
            ts("2026-11-10T10:04:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            narrow.conversations,
            narrow.new_conversations,
            narrow.messages_received,
            narrow.messages_sent
        ),
        (1, 0, 0, 1)
    );
    assert_eq!(
        (
            narrow.first_response_seconds.p50,
            narrow.first_response_seconds.p90
        ),
        (None, None)
    );
    assert_eq!(narrow.by_day.len(), 1);
    assert_eq!(narrow.by_day[0].date, "2026-11-10");
    assert_eq!(
        serde_json::to_value(&narrow.by_hour).unwrap(),
        by_hour(&[(10, 0, 1)])
    );
    assert!(narrow.top_products.is_empty());
    assert_eq!(
        serde_json::to_value(narrow.first_response_seconds).unwrap(),
        json!({ "p50": null, "p90": null })
    );

    // A window ending one millisecond into a day covers that day.
    let edge = p
        .analytics(
            &user("v-1"),
            ts("2026-11-12T23:00:00Z"),
            ts("2026-11-13T00:00:00.001Z"),
        )
        .await
        .unwrap();
    let days: Vec<_> = edge
        .by_day
        .iter()
        .map(|d| (d.date.as_str(), d.messages_received))
        .collect();
    assert_eq!(days, vec![("2026-11-12", 0), ("2026-11-13", 1)]);
    // F's message at midnight is in hour 0 (of the next day).
    assert_eq!(
        serde_json::to_value(&edge.by_hour).unwrap(),
        by_hour(&[(0, 1, 0)])
    );
    assert_eq!(edge.new_conversations, 1);

    // Empty and reversed windows: nothing but the backlog.
    for (from, to) in [
        ("2026-11-10T00:00:00Z", "2026-11-10T00:00:00Z"),
        ("2026-11-12T00:00:00Z", "2026-11-10T00:00:00Z"),
    ] {
        let empty = p.analytics(&user("v-1"), ts(from), ts(to)).await.unwrap();
        assert_eq!(
            (
                empty.conversations,
                empty.messages_sent,
                empty.unread_backlog
            ),
            (0, 0, 5)
        );
        assert!(empty.by_day.is_empty());
        // Still all 24 hours, all zero.
        assert_eq!(serde_json::to_value(&empty.by_hour).unwrap(), by_hour(&[]));
    }

    // Another vendor sees only its own.
    let other = p
        .analytics(
            &user("v-2"),
            ts("2026-11-01T00:00:00Z"),
            ts("2026-12-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            other.conversations,
            other.messages_received,
            other.unread_backlog
        ),
        (1, 1, 1)
    );
    assert_eq!(other.by_day.len(), 30);
    assert_eq!(other.top_products.len(), 1);
}

#[tokio::test]
async fn top_products_are_capped_and_ordered() {
    let mut w = World::new().await;
    // Product p-k starts k conversations (k = 1..=12), each a distinct
    // customer.
    for k in 1..=12 {
        for i in 0..k {
            w.start(
                (&format!("c-{k}-{i}"), None),
                ("v-1", None),
                Some(product(&format!("p-{k:02}"), &format!("Product {k}"))),
            )
            .await;
        }
    }
    // A product tied with p-03 at the cut: the smaller id stays in.
    for i in 0..3 {
        w.start(
            (&format!("c-x-{i}"), None),
            ("v-1", None),
            Some(product("p-03-b", "Tied")),
        )
        .await;
    }
    w.sync().await;
    let figures = w
        .projections
        .analytics(
            &user("v-1"),
            Timestamp::from_millis(T0),
            Timestamp::from_millis(w.now),
        )
        .await
        .unwrap();
    let top: Vec<(&str, u64)> = figures
        .top_products
        .iter()
        .map(|p| (p.product_id.as_str(), p.conversations))
        .collect();
    assert_eq!(
        top,
        vec![
            ("p-12", 12),
            ("p-11", 11),
            ("p-10", 10),
            ("p-09", 9),
            ("p-08", 8),
            ("p-07", 7),
            ("p-06", 6),
            ("p-05", 5),
            ("p-04", 4),
            ("p-03", 3),
        ]
    );
    assert_eq!(figures.new_conversations, (1..=12).sum::<u64>() + 3);
}

/// `byHour` sums one hour of the day over every day of the window, cuts at
/// the hour's first millisecond, counts only inside the window, and a
/// rebuilt file answers exactly as the live one.
#[tokio::test]
async fn busiest_hours_sum_over_the_days() {
    let mut w = World::new().await;
    let v = ("v-1", None);
    at(&mut w, "2026-11-09T19:00:00Z");
    let a = w.start(("c-a", None), v, None).await;
    // Before the window: not counted.
    at(&mut w, "2026-11-09T19:30:00Z");
    w.send(a, Role::Customer, "early").await;
    // Hour 19 on three days of the window.
    for day in ["10", "11", "12"] {
        at(&mut w, &format!("2026-11-{day}T19:15:00Z"));
        w.send(a, Role::Customer, "evening").await;
    }
    at(&mut w, "2026-11-11T19:59:59.999Z");
    w.send(a, Role::Vendor, "last millisecond of 19").await;
    at(&mut w, "2026-11-11T20:00:00Z");
    w.send(a, Role::Vendor, "first of 20").await;
    // Hour 23 and hour 0 around a midnight.
    at(&mut w, "2026-11-10T23:59:00Z");
    w.send(a, Role::Customer, "late").await;
    at(&mut w, "2026-11-11T00:00:00Z");
    w.send(a, Role::Vendor, "midnight").await;
    // At the window's end: not counted.
    at(&mut w, "2026-11-13T19:00:00Z");
    w.send(a, Role::Customer, "too late").await;
    let end = w.sync().await;

    let from = Timestamp::parse("2026-11-10T00:00:00Z").unwrap();
    let to = Timestamp::parse("2026-11-13T00:00:00Z").unwrap();
    let live = w
        .projections
        .analytics(&user("v-1"), from, to)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&live.by_hour).unwrap(),
        by_hour(&[(0, 0, 1), (19, 3, 1), (20, 0, 1), (23, 1, 0)])
    );
    let (received, sent) = live.by_hour.iter().fold((0, 0), |(r, s), h| {
        (r + h.messages_received, s + h.messages_sent)
    });
    assert_eq!(
        (received, sent),
        (live.messages_received, live.messages_sent)
    );
    assert_eq!((received, sent), (4, 3));

    w.stop().await;
    let rebuilt = rebuild_and_reopen(&w, end).await;
    assert_eq!(
        rebuilt.analytics(&user("v-1"), from, to).await.unwrap(),
        live
    );
}
