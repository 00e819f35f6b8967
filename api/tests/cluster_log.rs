//! Nodes sharing one PostgreSQL log, in process: what one node records is in
//! every node's history and read models with the same figures, writes of two
//! nodes into one conversation interleave without a gap or a double, a node
//! that starts empty catches up, and `/healthz` and `/metrics` name the node.
//! Needs `SOUK_TEST_PG_URL`.

mod cluster_support;

use std::time::Duration;

use cluster_support::*;
use serde_json::json;
use souk_api::service::{self, OpenInput, SendInput};
use souk_domain::{ConversationId, Role};
use souk_projections::HistoryQuery;
use souk_store::postgres::testing::scratch_database;

const WAIT: Duration = Duration::from_secs(20);

async fn history_seqs(app: &souk_api::app::Spawned, id: ConversationId) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .state
            .projections
            .messages(
                id,
                HistoryQuery {
                    before: None,
                    after: Some(after),
                    limit: 100,
                },
            )
            .await
            .unwrap();
        let Some(last) = page.messages.last() else {
            return seqs;
        };
        after = last.seq;
        seqs.extend(page.messages.iter().map(|m| m.seq));
        if !page.has_more {
            return seqs;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_through_one_node_reaches_the_other_nodes_history_and_read_models() {
    let url = scratch_database().await;
    let (dir_a, dir_b, dir_c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let a = node(&url, dir_a.path(), "node-a");
    let b = node(&url, dir_b.path(), "node-b");
    let (c, v) = (
        principal("c-1", Role::Customer),
        principal("v-1", Role::Vendor),
    );

    let open = OpenInput::parse(Role::Customer, &json!({ "vendorId": "v-1" })).unwrap();
    let (view, created) = service::open_conversation(&a.state, &c, open)
        .await
        .unwrap();
    assert!(created);
    let id = view.id;
    let send = |text: &str| {
        SendInput::parse(&json!({ "conversationId": id.to_string(), "text": text })).unwrap()
    };

    // Through A: A's read models have it when A answers (read-your-writes).
    let (m1, _) = service::send_message(&a.state, &c, send("hello from a"))
        .await
        .unwrap();
    assert_eq!(m1.seq, 1);
    assert_eq!(history_seqs(&a, id).await, [1]);
    let a_unread = a
        .state
        .projections
        .unread(&v.id, Role::Vendor)
        .await
        .unwrap();
    assert_eq!(a_unread.total, 1);

    // B gets it from the shared log, with the same figures.
    let end = a.state.store.last_position().await.unwrap();
    assert!(b.state.projections.wait_for(end, WAIT).await, "B caught up");
    assert_eq!(history_seqs(&b, id).await, [1]);
    let b_unread = b
        .state
        .projections
        .unread(&v.id, Role::Vendor)
        .await
        .unwrap();
    assert_eq!(b_unread, a_unread);
    let on_b = b.state.projections.message(m1.id).await.unwrap().unwrap();
    assert_eq!(on_b.text.as_deref(), Some("hello from a"));

    // The vendor answers through B; B's actor has never seen the
    // conversation and loads it from the log.
    let (m2, _) = service::send_message(&b.state, &v, send("hi from b"))
        .await
        .unwrap();
    assert_eq!(m2.seq, 2);
    let end = b.state.store.last_position().await.unwrap();
    assert!(a.state.projections.wait_for(end, WAIT).await);
    assert_eq!(history_seqs(&a, id).await, [1, 2]);

    // Both nodes write to the conversation at once: their actors conflict,
    // reload and retry; every send succeeds, seq stays gap-free.
    let mut sends = Vec::new();
    for i in 0..40 {
        let (node, who) = if i % 2 == 0 {
            (a.state.clone(), c.clone())
        } else {
            (b.state.clone(), v.clone())
        };
        let input = send(&format!("rush {i}"));
        sends.push(tokio::spawn(async move {
            service::send_message(&node, &who, input).await
        }));
    }
    for s in sends {
        s.await.unwrap().expect("every concurrent send succeeds");
    }
    // The same clientMessageId through both nodes at once: one message.
    let once = || {
        SendInput::parse(&json!({
            "conversationId": id.to_string(), "text": "once", "clientMessageId": "dup-1"
        }))
        .unwrap()
    };
    let (x, y) = tokio::join!(
        service::send_message(&a.state, &c, once()),
        service::send_message(&b.state, &c, once())
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.0.id, y.0.id);
    assert!(x.1 ^ y.1, "exactly one of the two recorded it");

    let end = a.state.store.last_position().await.unwrap();
    let end = end.max(b.state.store.last_position().await.unwrap());
    for n in [&a, &b] {
        assert!(n.state.projections.wait_for(end, WAIT).await);
        assert_eq!(history_seqs(n, id).await, (1..=43).collect::<Vec<_>>());
    }
    let a_unread = a
        .state
        .projections
        .unread(&c.id, Role::Customer)
        .await
        .unwrap();
    let b_unread = b
        .state
        .projections
        .unread(&c.id, Role::Customer)
        .await
        .unwrap();
    assert_eq!(a_unread, b_unread);

    // A node that starts with an empty data directory catches up from the
    // shared log.
    let late = node(&url, dir_c.path(), "node-c");
    assert!(late.state.projections.wait_for(end, WAIT).await);
    assert_eq!(history_seqs(&late, id).await, (1..=43).collect::<Vec<_>>());

    // Each node names itself in /healthz and /metrics.
    let (status, body) = http_get(b.http_addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["node"], "node-b");
    assert_eq!(health["presence"], "ok");
    let (status, metrics) = http_get(late.http_addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("souk_node_info{node_id=\"node-c\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("\nsouk_log_available 1\n"), "{metrics}");
    assert!(
        metrics.contains("\nsouk_presence_available 1\n"),
        "{metrics}"
    );
    late.stop();
    b.stop();
    a.stop();
}

#[test]
fn cluster_mode_refuses_to_start_without_a_shared_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = node_settings(
        "postgres://nobody@127.0.0.1:1/none",
        dir.path(),
        "n",
        Duration::from_secs(15),
        Duration::from_secs(5),
    );
    settings.secret.jwt_secret = None;
    let err = match souk_api::app::spawn(settings) {
        Ok(_) => panic!("a cluster node without --jwt-secret must not start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("SOUK_JWT_SECRET"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_senders_over_three_nodes_into_one_conversation_all_succeed() {
    let url = scratch_database().await;
    let dirs = [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    ];
    let nodes: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| node(&url, d.path(), &format!("rush-{i}")))
        .collect();
    let (c, v) = (
        principal("c-1", Role::Customer),
        principal("v-1", Role::Vendor),
    );
    let open = OpenInput::parse(Role::Customer, &json!({ "vendorId": "v-1" })).unwrap();
    let (view, _) = service::open_conversation(&nodes[0].state, &c, open)
        .await
        .unwrap();
    let id = view.id;
    // Every node's actor holds the conversation before the rush, so their
    // first appends all expect the same revision.
    for n in &nodes {
        n.state.registry.state(id).await.unwrap();
    }
    let mut sends = Vec::new();
    for i in 0..60 {
        let state = nodes[i % 3].state.clone();
        let who = if i % 2 == 0 { c.clone() } else { v.clone() };
        let input =
            SendInput::parse(&json!({ "conversationId": id.to_string(), "text": format!("s{i}") }))
                .unwrap();
        sends.push(tokio::spawn(async move {
            service::send_message(&state, &who, input).await
        }));
    }
    let mut seqs = Vec::new();
    for s in sends {
        seqs.push(s.await.unwrap().expect("every sender succeeds").0.seq);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=60).collect::<Vec<_>>());
    let mut end = 0;
    for n in &nodes {
        end = end.max(n.state.store.last_position().await.unwrap());
    }
    for n in &nodes {
        assert!(n.state.projections.wait_for(end, WAIT).await);
        assert_eq!(history_seqs(n, id).await, (1..=60).collect::<Vec<_>>());
    }
}
