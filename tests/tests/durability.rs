//! The read models against the log: a rebuild equals the live models, and a
//! restart resumes them without loss or double counting.

use std::collections::HashMap;

use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;
use souk_tests::{Pair, TestServer};

/// Expected unread per (conversation, side) from what the test did.
#[derive(Default)]
struct Tally {
    unread_vendor: HashMap<String, u64>,
    unread_customer: HashMap<String, u64>,
}

async fn chatter(server: &TestServer, pairs: &[Pair], tally: &mut Tally, rounds: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..rounds {
        let pair = &pairs[rng.random_range(0..pairs.len())];
        match rng.random_range(0..10) {
            0 => {
                let (s, _) = server
                    .put(
                        &format!("/api/vendor/chat/{}/read", pair.conversation),
                        &pair.vendor,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK);
                tally.unread_vendor.insert(pair.conversation.clone(), 0);
            }
            1 => {
                let (s, _) = server
                    .put(
                        &format!("/api/chat/{}/read", pair.conversation),
                        &pair.customer,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK);
                tally.unread_customer.insert(pair.conversation.clone(), 0);
            }
            n => {
                let from_customer = n % 3 != 0;
                pair.send(server, from_customer, &format!("round {round} of {seed}"))
                    .await;
                let map = if from_customer {
                    &mut tally.unread_vendor
                } else {
                    &mut tally.unread_customer
                };
                *map.entry(pair.conversation.clone()).or_default() += 1;
            }
        }
    }
}

async fn check_unread(server: &TestServer, pairs: &[Pair], tally: &Tally) {
    for pair in pairs {
        let (_, v) = server.get("/api/vendor/chat/unread", &pair.vendor).await;
        let want = tally
            .unread_vendor
            .get(&pair.conversation)
            .copied()
            .unwrap_or(0);
        assert_eq!(
            v["conversations"][&pair.conversation].as_u64().unwrap_or(0),
            want,
            "vendor {}",
            pair.conversation
        );
        let (_, c) = server.get("/api/chat/unread", &pair.customer).await;
        let want = tally
            .unread_customer
            .get(&pair.conversation)
            .copied()
            .unwrap_or(0);
        assert_eq!(
            c["total"].as_u64().unwrap(),
            want,
            "customer {}",
            pair.customer_id
        );
    }
}

async fn open_pairs(server: &TestServer, n: usize) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for i in 0..n {
        // A few vendors, each with many customers.
        pairs.push(Pair::open(server, &format!("c-{i}"), &format!("v-{}", i % 4)).await);
    }
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuilt_read_models_equal_the_live_ones() {
    let server = TestServer::start();
    let pairs = open_pairs(&server, 40).await;
    let mut tally = Tally::default();
    // A few thousand messages, sent by several clients at once, with reads in between.
    let chunks = 4;
    let futures: Vec<_> = (0..chunks)
        .map(|k| {
            let server = &server;
            let pairs = &pairs[k * 10..(k + 1) * 10];
            async move {
                let mut t = Tally::default();
                chatter(server, pairs, &mut t, 600, k as u64).await;
                t
            }
        })
        .collect();
    for t in futures::future::join_all(futures).await {
        tally.unread_vendor.extend(t.unread_vendor);
        tally.unread_customer.extend(t.unread_customer);
    }
    check_unread(&server, &pairs, &tally).await;

    let store = server.store();
    let path = server.dir.path().join(souk_api::app::READ_MODELS_DB);
    let report = souk_projections::verify(&path, store)
        .await
        .expect("verify runs");
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.position >= 2000, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_the_read_models_exactly() {
    let mut server = TestServer::start();
    let pairs = open_pairs(&server, 8).await;
    let mut tally = Tally::default();
    chatter(&server, &pairs, &mut tally, 150, 1).await;
    check_unread(&server, &pairs, &tally).await;
    let sent_before: u64 = history_len(&server, &pairs).await;

    server.restart();
    check_unread(&server, &pairs, &tally).await;
    assert_eq!(
        history_len(&server, &pairs).await,
        sent_before,
        "nothing lost or doubled"
    );
    chatter(&server, &pairs, &mut tally, 150, 2).await;
    check_unread(&server, &pairs, &tally).await;

    let (s, b) = server
        .post(
            "/api/chat/send",
            &pairs[0].customer,
            json!({ "conversationId": pairs[0].conversation, "text": "after restart" }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let report = souk_projections::verify(
        &server.dir.path().join(souk_api::app::READ_MODELS_DB),
        server.store(),
    )
    .await
    .unwrap();
    assert!(report.is_consistent(), "{report:?}");
}

async fn history_len(server: &TestServer, pairs: &[Pair]) -> u64 {
    let mut n = 0;
    for pair in pairs {
        let mut before: Option<u64> = None;
        loop {
            let q = before
                .map(|b| format!("?limit=100&before={b}"))
                .unwrap_or("?limit=100".into());
            let (_, page) = server
                .get(
                    &format!("/api/chat/{}/messages{q}", pair.conversation),
                    &pair.customer,
                )
                .await;
            let msgs = page["messages"].as_array().unwrap();
            n += msgs.len() as u64;
            match msgs.first() {
                Some(m) if page["hasMore"] == true => before = m["seq"].as_u64(),
                _ => break,
            }
        }
    }
    n
}
