//! The PostgreSQL backend: the contract suite, and what only a shared log
//! has (several nodes, i.e. store handles, on one database; losing and
//! regaining PostgreSQL). Needs `SOUK_TEST_PG_URL` (see
//! `souk_store::postgres::testing`); each test uses a database of its own.

use souk_store::postgres::testing::scratch_database_blocking;
use souk_store::{PostgresConfig, PostgresStore};

fn store(config: PostgresConfig) -> PostgresStore {
    PostgresStore::connect_blocking(&scratch_database_blocking(), config).expect("connect")
}

/// The default configuration, as a node runs it.
mod contract {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig::default()));
}

/// Tiny groups and a tiny live buffer: many groups per test, and live
/// subscribers that fall behind all the time.
mod contract_small_groups {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig {
        max_batch_events: 3,
        live_buffer: 2,
        pool_size: 2,
        ..souk_store::PostgresConfig::default()
    }));
}

/// One transaction per append.
mod contract_no_group_commit {
    souk_store::contract_tests!(|| super::store(souk_store::PostgresConfig {
        group_commit: false,
        ..souk_store::PostgresConfig::default()
    }));
}

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use souk_store::postgres::testing::scratch_database;
use souk_store::{
    Direction, EventStore, ExpectedRevision, NewEvent, ReadFrom, RecordedEvent, SqliteConfig,
    SqliteStore, StoreError,
};
use support::{admin, event, take};

async fn node(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresConfig::default())
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_racing_on_one_stream_each_revision_has_one_winner() {
    let url = scratch_database().await;
    let (a, b) = (node(&url).await, node(&url).await);
    let stream = "conversation-race";
    a.append(stream, ExpectedRevision::NoStream, vec![event("start")])
        .await
        .unwrap();
    for r in 0..30u64 {
        let (x, y) = tokio::join!(
            a.append(stream, ExpectedRevision::Exact(r), vec![event("a")]),
            b.append(stream, ExpectedRevision::Exact(r), vec![event("b")]),
        );
        let (won, lost) = match (x, y) {
            (Ok(won), Err(lost)) | (Err(lost), Ok(won)) => (won, lost),
            other => panic!("round {r}: exactly one must win, got {other:?}"),
        };
        assert_eq!(won.next_expected_revision, r + 1);
        match lost {
            StoreError::WrongExpectedRevision {
                expected, actual, ..
            } => {
                assert_eq!(expected, ExpectedRevision::Exact(r));
                assert_eq!(actual, Some(r + 1));
            }
            other => panic!("round {r}: the loser must get the typed conflict, got {other:?}"),
        }
    }
    let read = a
        .read_stream(stream, ReadFrom::Start, Direction::Forwards, 100)
        .await
        .unwrap();
    let revisions: Vec<u64> = read.iter().map(|e| e.revision).collect();
    assert_eq!(revisions, (0..=30).collect::<Vec<_>>());
    let positions: Vec<u64> = read.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=31).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_a_third_node_sees_both_writers_in_order_without_gaps() {
    let url = scratch_database().await;
    let (a, b, c) = (node(&url).await, node(&url).await, node(&url).await);
    let mut sub = c.subscribe_all(0);
    let mut writers = Vec::new();
    for (name, store) in [("a", &a), ("b", &b)] {
        for task in 0..16 {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let stream = format!("conversation-{name}-{task}");
                let mut expected = ExpectedRevision::NoStream;
                let mut written = 0;
                for i in 0..20 {
                    // Some appends carry two events.
                    let events: Vec<_> =
                        (0..1 + i % 2).map(|j| event(&format!("{i}.{j}"))).collect();
                    written += events.len();
                    let done = store
                        .append(&stream, expected, events)
                        .await
                        .expect("append");
                    expected = ExpectedRevision::Exact(done.next_expected_revision);
                }
                written
            }));
        }
    }
    let mut total = 0;
    for w in writers {
        total += w.await.unwrap();
    }
    let seen = take(&mut sub, total).await;
    let positions: Vec<u64> = seen.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=total as u64).collect::<Vec<_>>());
    assert_eq!(seen, c.read_all(1, total + 10).await.unwrap());
    assert_eq!(c.last_position().await.unwrap(), total as u64);
    // Per stream, revisions 0, 1, 2, ... in position order.
    let mut next: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &seen {
        let r = next.entry(&e.stream).or_default();
        assert_eq!(e.revision, *r, "{e:?}");
        *r += 1;
    }
    // Nothing more arrives.
    let more = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
    assert!(more.is_err(), "an extra event: {more:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_append_in_a_group_fails_alone() {
    let url = scratch_database().await;
    let store = node(&url).await;
    store
        .append(
            "conversation-x",
            ExpectedRevision::NoStream,
            vec![event("x0")],
        )
        .await
        .unwrap();
    // Hold the log head, as another node's transaction would: the next
    // append waits for it, and everything sent meanwhile forms one group.
    let holder = admin(&url).await;
    holder
        .batch_execute("BEGIN; SELECT position FROM event_log_head FOR UPDATE")
        .await
        .unwrap();
    let before = store.stats();
    let blocked = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .append(
                    "conversation-first",
                    ExpectedRevision::NoStream,
                    vec![event("f")],
                )
                .await
        }
    });
    let watcher = admin(&url).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the writer waits for the head lock");

    let streams: Vec<String> = (0..20).map(|i| format!("conversation-{i}")).collect();
    let mut appends = Vec::new();
    appends.push(store.append(
        "conversation-x",
        ExpectedRevision::NoStream,
        vec![event("bad")],
    ));
    appends.push(store.append(
        "conversation-x",
        ExpectedRevision::Exact(0),
        vec![event("x1")],
    ));
    appends.push(store.append(
        "conversation-x",
        ExpectedRevision::Exact(0),
        vec![event("bad")],
    ));
    for stream in &streams {
        appends.push(store.append(
            stream,
            ExpectedRevision::NoStream,
            vec![event("ok"), event("ok")],
        ));
    }
    let mut all = futures::future::join_all(appends);
    // One poll sends every request to the writer, still blocked.
    assert!(futures::poll!(&mut all).is_pending());
    holder.batch_execute("ROLLBACK").await.unwrap();
    let results = all.await;
    blocked.await.unwrap().expect("the blocked append commits");

    assert_eq!(
        store.stats().commits - before.commits,
        2,
        "the blocked append, then one group for all the rest"
    );
    assert!(
        matches!(
            &results[0],
            Err(StoreError::WrongExpectedRevision {
                actual: Some(0),
                ..
            })
        ),
        "{:?}",
        results[0]
    );
    assert_eq!(results[1].as_ref().unwrap().next_expected_revision, 1);
    assert!(
        matches!(
            &results[2],
            Err(StoreError::WrongExpectedRevision {
                actual: Some(1),
                ..
            })
        ),
        "{:?}",
        results[2]
    );
    for r in &results[3..] {
        assert_eq!(r.as_ref().unwrap().next_expected_revision, 1);
    }
    let log = store.read_all(1, 100).await.unwrap();
    assert_eq!(log.len(), 1 + 1 + 1 + 40);
    assert!(log.iter().all(|e| !e.data.contains("bad")));
    let positions: Vec<u64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, (1..=43).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_once_create_the_schema_once() {
    let url = scratch_database().await;
    let nodes = futures::future::join_all((0..4).map(|_| node(&url))).await;
    let versions: Vec<i32> = admin(&url)
        .await
        .query("SELECT version FROM event_log_schema", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    nodes[0]
        .append(
            "conversation-s",
            ExpectedRevision::NoStream,
            vec![event("e")],
        )
        .await
        .unwrap();
    // A restarted node finds the schema and the log as they were.
    drop(nodes);
    let again = node(&url).await;
    assert_eq!(again.last_position().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_schema_is_refused() {
    let url = scratch_database().await;
    drop(node(&url).await);
    admin(&url)
        .await
        .batch_execute("INSERT INTO event_log_schema (version, name) VALUES (99, 'future')")
        .await
        .unwrap();
    match PostgresStore::connect(&url, PostgresConfig::default()).await {
        Err(StoreError::Unavailable(message)) => assert!(message.contains("99"), "{message}"),
        Err(other) => panic!("unexpected {other:?}"),
        Ok(_) => panic!("a newer schema must be refused"),
    }
}

/// A log with several streams, multi-event appends and odd payloads.
async fn sample_log(store: &impl EventStore) {
    let payloads = [
        r#"{"text":"مرحبا 👋 \"quoted\" \\ back\nslash","n":-1.5e3}"#,
        r#"{ "spaced" : [ 1 , 2 , { "deep" : null } ] }"#,
        "[]",
    ];
    for round in 0..5 {
        for (s, data) in payloads.iter().enumerate() {
            let stream = format!("conversation-{s}");
            let expected = if round == 0 {
                ExpectedRevision::NoStream
            } else {
                ExpectedRevision::Any
            };
            let events = (0..1 + (round + s) % 3)
                .map(|i| NewEvent {
                    event_type: format!("Type{i}"),
                    version: 4_000_000_000,
                    data: (*data).to_owned(),
                })
                .collect();
            store.append(&stream, expected, events).await.unwrap();
        }
        // Times that differ from one append to the next.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
}

async fn everything(store: &impl EventStore) -> Vec<RecordedEvent> {
    store.read_all(1, usize::MAX).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_round_trips_sqlite_to_postgres_to_sqlite_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("a.db"), SqliteConfig::default()).unwrap();
    sample_log(&source).await;
    let original = everything(&source).await;
    assert!(original.len() > 20);

    let pg = node(&scratch_database().await).await;
    let mut live = pg.subscribe_all(0);
    for page in original.chunks(7) {
        pg.import(page).await.expect("import a page");
    }
    assert_eq!(everything(&pg).await, original);
    assert_eq!(take(&mut live, original.len()).await, original);

    let back = SqliteStore::open(&dir.path().join("b.db"), SqliteConfig::default()).unwrap();
    let mut from = 1;
    loop {
        let page = pg.read_all(from, 10).await.unwrap();
        let Some(last) = page.last() else { break };
        from = last.position + 1;
        back.import(&page).await.expect("import a page back");
    }
    assert_eq!(everything(&back).await, original);

    // Both go on from there as logs of their own.
    for store in [&pg as &dyn EventStore, &back as &dyn EventStore] {
        let head = store
            .read_stream("conversation-0", ReadFrom::End, Direction::Backwards, 1)
            .await
            .unwrap()[0]
            .revision;
        let next = store
            .append(
                "conversation-0",
                ExpectedRevision::Exact(head),
                vec![event("after")],
            )
            .await
            .unwrap();
        assert_eq!(next.position, original.len() as u64 + 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_what_does_not_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let source = SqliteStore::open(&dir.path().join("a.db"), SqliteConfig::default()).unwrap();
    sample_log(&source).await;
    let original = everything(&source).await;
    let pg = node(&scratch_database().await).await;
    let sqlite = SqliteStore::open(&dir.path().join("b.db"), SqliteConfig::default()).unwrap();

    // Not starting at 1 (the target is empty), holes, bad revisions, a
    // non-empty target.
    let mut skipped_revision = original[..3].to_vec();
    skipped_revision[2].revision += 1;
    let mut holed = original[..3].to_vec();
    holed.remove(1);
    let mut not_json = original[..2].to_vec();
    not_json[1].data = "nope".to_owned();
    // The hash chain: a payload changed (still JSON), a hash forged.
    let mut tampered = original[..3].to_vec();
    tampered[2].data = "{\"changed\":true}".to_owned();
    let mut forged = original[..3].to_vec();
    forged[1].hash = souk_store::EventHash([7; 32]);
    let cases: Vec<(&str, Vec<RecordedEvent>)> = vec![
        ("not from the start", original[1..4].to_vec()),
        ("a hole", holed),
        ("a skipped revision", skipped_revision),
        ("not JSON", not_json),
        ("a changed payload", tampered),
        ("a forged hash", forged),
    ];
    for (what, page) in &cases {
        let on_pg = pg.import(page).await;
        assert!(
            matches!(on_pg, Err(StoreError::InvalidAppend(_))),
            "{what}: {on_pg:?}"
        );
        let on_sqlite = sqlite.import(page).await;
        assert!(
            matches!(on_sqlite, Err(StoreError::InvalidAppend(_))),
            "{what}: {on_sqlite:?}"
        );
    }
    assert_eq!(pg.last_position().await.unwrap(), 0);
    assert_eq!(sqlite.last_position().await.unwrap(), 0);

    pg.import(&original[..5]).await.unwrap();
    sqlite.import(&original[..5]).await.unwrap();
    for store in [&pg as &dyn EventStore, &sqlite as &dyn EventStore] {
        store
            .append(
                "conversation-new",
                ExpectedRevision::NoStream,
                vec![event("n")],
            )
            .await
            .unwrap();
    }
    let again_pg = pg.import(&original[..5]).await;
    assert!(
        matches!(again_pg, Err(StoreError::InvalidAppend(_))),
        "{again_pg:?}"
    );
    let again_sqlite = sqlite.import(&original[5..8]).await;
    assert!(
        matches!(again_sqlite, Err(StoreError::InvalidAppend(_))),
        "{again_sqlite:?}"
    );
    assert_eq!(pg.last_position().await.unwrap(), 6);
    assert_eq!(sqlite.last_position().await.unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_commits_what_was_sent_then_refuses_appends() {
    let url = scratch_database().await;
    let store = node(&url).await;
    let mut live = store.subscribe_all(0);
    let mut pending = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        pending.push(tokio::spawn(async move {
            store
                .append(
                    &format!("conversation-{i}"),
                    ExpectedRevision::NoStream,
                    vec![event("c")],
                )
                .await
        }));
    }
    tokio::task::yield_now().await;
    store.close().await;
    let mut committed = 0;
    for p in pending {
        match p.await.unwrap() {
            Ok(_) => committed += 1,
            Err(StoreError::Closed) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let after = store
        .append(
            "conversation-late",
            ExpectedRevision::Any,
            vec![event("late")],
        )
        .await;
    assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
    assert_eq!(store.read_all(1, 100).await.unwrap().len(), committed);
    // The subscription delivers everything committed, then says why it ends.
    let mut seen = 0;
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match live.next().await {
                Some(Ok(_)) => seen += 1,
                Some(Err(e)) => break e,
                None => panic!("the stream ended without saying why"),
            }
        }
    })
    .await
    .expect("the subscription ends");
    assert_eq!(seen, committed);
    assert!(matches!(end, StoreError::Closed), "{end:?}");
    drop(store);
    assert_eq!(
        node(&url).await.last_position().await.unwrap(),
        committed as u64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_in_the_url_is_obeyed() {
    let url = scratch_database().await;
    let plain =
        PostgresStore::connect(&format!("{url}?sslmode=disable"), PostgresConfig::default())
            .await
            .expect("sslmode=disable connects without TLS");
    plain
        .append(
            "conversation-t",
            ExpectedRevision::NoStream,
            vec![event("t")],
        )
        .await
        .unwrap();
    let tls_on: String = admin(&url)
        .await
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get(0);
    // Without TLS on the server, `require` cannot connect; with it, a test
    // server's certificate is not one the system or the Mozilla roots vouch
    // for, so it cannot either: TLS is never silently skipped or unverified.
    match PostgresStore::connect(&format!("{url}?sslmode=require"), PostgresConfig::default()).await
    {
        Err(StoreError::Unavailable(message)) => {
            assert!(!message.is_empty(), "ssl={tls_on}")
        }
        Err(other) => panic!("ssl={tls_on}: unexpected {other:?}"),
        Ok(_) => panic!("ssl={tls_on}: sslmode=require must not connect to this test server"),
    }
    let wrong = PostgresStore::connect(
        &format!("{url}?sslmode=sometimes"),
        PostgresConfig::default(),
    )
    .await;
    assert!(
        matches!(wrong, Err(StoreError::Unavailable(ref m)) if m.contains("URL")),
        "{:?}",
        wrong.err()
    );
}
